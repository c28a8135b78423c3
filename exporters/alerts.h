// Alerts as receivers want them: the payload formats (Alertmanager's API v2, the
// Alertmanager webhook format version 4, a generic JSON document, Slack text) and the
// HMAC-SHA256 request signature. Pure formatting: delivery, retries and the spool live in
// the agent (issue 5).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/detect/live_monitor.h"

namespace homeostat::exporters {

struct Alert {
    // alertname, service, endpoint, type, signal, severity (and instance: the host).
    std::map<std::string, std::string> labels;
    // summary, description, evidence (a JSON document as text), action.
    std::map<std::string, std::string> annotations;
    double starts_at = 0; // unix seconds
    double ends_at = 0;   // unix seconds; 0 while firing
    bool firing() const { return ends_at == 0; }
    // Stable identity: the same labels give the same fingerprint, whatever their order
    // and whichever process computes it (16 hex digits of SHA-256 over the sorted labels).
    std::string fingerprint() const;
};

// Lossless JSON of an alert, for the spool: {"labels", "annotations", "starts_at", "ends_at"}.
nlohmann::json alert_to_json(const Alert& a);
// Throws nlohmann::json::exception on a malformed document.
Alert alert_from_json(const nlohmann::json& j);

// The alert of an anomaly (open: firing; resolved: ends at its resolution). `instance`
// names the host.
Alert alert_from_anomaly(const engine::detect::Anomaly& a, const std::string& instance);

// RFC 3339 UTC with milliseconds, e.g. 2026-11-23T23:17:38.149Z.
std::string rfc3339(double unix_seconds);

// POST /api/v2/alerts body. Firing alerts carry endsAt = `firing_ends_at` (Alertmanager
// resolves them by itself if they are not sent again by then: a dead sender's alerts do
// not stay firing forever); resolved ones their own end.
nlohmann::json alertmanager_v2_body(const std::vector<Alert>& alerts, double firing_ends_at,
                                    const std::string& generator_url);

// Alertmanager's webhook payload, version "4", for one group of alerts.
nlohmann::json webhook_v4_body(const std::vector<Alert>& alerts, const std::string& receiver,
                               const std::map<std::string, std::string>& group_labels,
                               const std::string& external_url);

// homeostat's own JSON (docs/alerts.md): {"version": 1, "alerts": [...]} with the evidence
// as an object, not text.
nlohmann::json generic_body(const std::vector<Alert>& alerts);

// Slack incoming-webhook body: {"text": "..."}, one line per alert.
nlohmann::json slack_body(const std::vector<Alert>& alerts);

// Lower-case hex HMAC-SHA256 of `body` with `secret`, and the GitHub-style header value
// "sha256=<hex>" for X-Hub-Signature-256.
std::string hmac_sha256_hex(std::string_view secret, std::string_view body);
std::string signature_header(std::string_view secret, std::string_view body);

} // namespace homeostat::exporters
