// Daemon configuration: built-in defaults, then the YAML file (if any), then flags.
// docs/configuration.md documents every key.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/alerting.h"
#include "agent/healing_config.h"
#include "agent/result.h"
#include "agent/self_limits.h"
#include "engine/detect/live_monitor.h"

namespace homeostat::agent {

struct Config {
    std::string listen = "127.0.0.1:9464";
    // A file holding the API token. With one, every endpoint but /healthz wants
    // "Authorization: Bearer <token>"; listening beyond loopback requires one.
    std::string api_token_file;
    std::string log_level = "info";
    // The CLI's root-only unix socket serving the same API (directory 0700, socket 0600);
    // empty: none.
    std::string api_socket = "/run/homeostat/api.sock";
    // After attaching, drop every capability the running daemon does not use
    // (agent/privileges.h, docs/hardening.md "Least privilege"); false only for debugging.
    bool drop_capabilities = true;

    // capture
    std::string cgroup2_root;           // empty: found from /proc/self/mountinfo
    std::size_t ringbuf_bytes = 8u << 20;
    std::chrono::milliseconds drain_interval{100};

    // aggregation
    std::chrono::nanoseconds window = std::chrono::seconds(10);
    std::size_t windows_kept = 6;
    std::size_t max_routes_per_service = 200;

    // where state that outlives the process goes (detector baselines)
    std::string state_dir = "/var/lib/homeostat";
    // Per-window history (GET /api/v1/history) and finished deliveries are kept this long.
    double history_retention_seconds = 24 * 3600;

    // detection (docs/detection.md)
    bool detection_enabled = true;
    engine::detect::LiveConfig detection;
    std::chrono::milliseconds detection_save_interval{std::chrono::seconds(60)};

    // OTLP/HTTP (JSON) metrics push to an OpenTelemetry Collector; empty: off
    std::string otlp_endpoint; // e.g. http://127.0.0.1:4318 (POST <endpoint>/v1/metrics)
    std::chrono::milliseconds otlp_interval{std::chrono::seconds(60)};

    // alerting (docs/alerts.md); no receivers: anomalies are only logged and served
    AlertingConfig alerting;

    // the daemon's own cgroup limits (agent/self_limits.h, docs/hardening.md)
    SelfLimitsConfig self_limits;

    // healing (docs/healing.md): by default on, in dry-run, allowed to write nothing
    HealingConfig healing;
    nlohmann::json healing_section; // as written in the file (null: none), to tell a change on SIGHUP
};

// Parses "250ms", "10s", "5m", "1h".
Result<std::chrono::nanoseconds> parse_duration(const std::string& text);

// Loads a YAML file over the defaults. Every error is reported, one per line of the
// message, as FILE:LINE:COLUMN: what is wrong and what is expected.
Result<Config> load_config(const std::string& path, Config base = {});
// The same for YAML text already read; `path` only names it in the errors.
Result<Config> load_config_text(const std::string& text, const std::string& path, Config base = {});

// Whether `listen` ("127.0.0.1:9464", "[::1]:9464") is a loopback address.
bool is_loopback_listen(const std::string& listen);
// Reads the API token from `path`: one line, at least 16 characters, and the file must
// not be readable by group or others. Errors say which.
Result<std::string> read_api_token(const std::string& path);

// A value no parser can judge (a range, a power of two, a combination of keys).
struct ConfigIssue {
    std::string key;     // dotted, as in the file: "detection.error_min_ratio"
    std::string message; // says what is expected
};
// Every such problem of `c`.
std::vector<ConfigIssue> check(const Config& c);
// The first of check(c), for values set by flags after the file.
Result<void> validate(const Config& c);

} // namespace homeostat::agent
