// Alerts from anomalies, delivered at least once to the configured receivers.
//
// Lifecycle: an anomaly that opens fires an alert, its resolution resolves it; alerts are
// identified by their label fingerprint, so the same alert is never sent as two. Each
// change is spooled (SQLite, see store.h) once per receiver that wants its severity,
// grouped by service, before anything is sent: a receiver that is down, or a daemon that
// is killed, loses nothing. Alertmanager API receivers also get the firing alerts again
// every resend_interval, with endsAt a few intervals ahead, as Prometheus does: if
// homeostat dies, Alertmanager resolves them by itself.
//
// Delivery: POST with Content-Type application/json, Idempotency-Key (the same for every
// attempt of one delivery), X-Hub-Signature-256 when the receiver has a secret. A 2xx is
// delivered; 429, 5xx and connection errors are retried with exponential backoff and
// jitter; any other answer is given up at once (logged, kept as failed).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/http_client.h"
#include "agent/store.h"
#include "engine/detect/live_monitor.h"
#include "exporters/alerts.h"

namespace homeostat::agent {

struct ReceiverConfig {
    std::string name;
    // alertmanager (POST <url>/api/v2/alerts), alertmanager_webhook (webhook format 4),
    // webhook (homeostat's JSON, docs/alerts.md), slack (incoming webhook text).
    std::string type;
    std::string url;
    std::string secret; // HMAC-SHA256 key; empty: no signature
    std::chrono::milliseconds timeout{std::chrono::seconds(10)};
    engine::detect::Severity min_severity = engine::detect::Severity::warning;
};

struct RetryPolicy {
    double base_seconds = 1;   // first retry after about this long
    double max_seconds = 300;  // backoff ceiling
    double max_age_seconds = 86400; // a delivery still failing after this is given up
};

struct AlertingConfig {
    std::string instance; // the host's name in every alert's labels
    std::vector<ReceiverConfig> receivers;
    double resend_interval_seconds = 60;
    RetryPolicy retry;
    std::size_t max_in_flight = 8;
};

enum class DeliveryOutcome { delivered, retry, give_up };
// What an answer means: 2xx delivered; 0 (no answer), 408, 429 and 5xx retried; the
// rest given up (a 4xx will not get better by asking again).
DeliveryOutcome classify(int status);
// What the spool and the log keep of an answer: status and the start of the body, or the
// client's error.
std::string describe_answer(const HttpClientResponse& res);
// Backoff before attempt `attempts` + 1: base * 2^attempts capped at max, times a factor
// in [0.5, 1) from `jitter01` in [0, 1) so that senders do not retry in lockstep.
double backoff_seconds(const RetryPolicy& p, std::int64_t attempts, double jitter01);
// scheme://host:port/… : what logs and the API may show of a receiver's URL.
std::string redacted_url(const std::string& url);
// The valid receiver types.
bool known_receiver_type(const std::string& type);

class Alerting {
public:
    Alerting(AlertingConfig config, Store& store, HttpClient& client, std::string generator_url);

    // Anomalies that opened or resolved: alerts fire or resolve, deliveries are spooled.
    void on_changes(const std::vector<engine::detect::Anomaly>& changes, double now);
    // New receivers and settings (SIGHUP): firing alerts and the spool stay; deliveries
    // waiting for a receiver that is gone are given up when they come due.
    void reconfigure(AlertingConfig config) { config_ = std::move(config); }
    // Healing acted (or would have, in dry-run) on the anomaly of `type` on `service`: its
    // firing alert gets the "action" annotation, and the receivers get the update.
    void on_action(const std::string& service, const std::string& type, const std::string& text, double now);
    // Spools due resends and starts due deliveries (at most max_in_flight at once).
    void pump(double now);

    // {"alerts": [...firing, then recently resolved], "pending_deliveries": N, ...}.
    nlohmann::json to_json() const;
    std::size_t in_flight() const { return in_flight_.size(); }

private:
    const ReceiverConfig* receiver(const std::string& name) const;
    void spool_changes(const std::vector<exporters::Alert>& changed, double now);
    void spool(const ReceiverConfig& r, const std::vector<exporters::Alert>& alerts, double now,
               const std::string& why);
    std::string render(const ReceiverConfig& r, const nlohmann::json& stored, double now) const;
    void deliver(const SpoolItem& item, double now);
    void finished(const SpoolItem& item, const HttpClientResponse& res);

    AlertingConfig config_;
    Store& store_;
    HttpClient& client_;
    std::string generator_url_;
    std::map<std::string, exporters::Alert> firing_; // by fingerprint
    std::deque<exporters::Alert> resolved_;          // most recent first
    std::set<std::int64_t> in_flight_;
    double last_resend_ = 0;
    std::uint64_t sequence_ = 0;
    std::mt19937_64 rng_{std::random_device{}()};
    std::string last_store_error_;
};

} // namespace homeostat::agent
