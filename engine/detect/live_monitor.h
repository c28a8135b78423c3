// Live anomaly detection over the aggregator's windows: one call per closed window turns
// per-endpoint figures into per-series scores and into anomalies that open and resolve.
//
// Series and what watches them:
//  - latency_p95 of every endpoint (server and client role): the default Ensemble on the
//    window's p95, one point per window with at least min_requests exchanges;
//    anomaly type latency_spike. Upward only.
//  - error_ratio of every endpoint: a Poisson ratio test of 5xx against requests (needs a
//    minimum volume and a minimum error count); anomaly type error_surge.
//  - request_rate of every service (server role, summed over endpoints; 0 when idle):
//    the default Ensemble on the window's count; anomaly type traffic_shift, both ways.
//  - new_endpoint: an endpoint never seen before on a service that has been watched for
//    the whole warm-up; it stays open for new_endpoint_hold windows.
//  - per service, from process and cgroup accounting (ServiceWindow): cpu_saturation (CPU
//    at >= 90 % of the quota, or of the host's cores, for 3 windows), memory_growth (a
//    linear trend over the last 30 windows that reaches the memory limit within an hour;
//    the evidence says when), oom_kill (the kernel killed one of its processes; open for
//    oom_hold windows) and restart_loop (>= 3 restarts within 30 windows).
//
// Statistics alone alert on differences nobody cares about (a p95 going from 5.0 to
// 5.3 ms with a tiny variance is "significant"), so a score only counts when the effect
// is also large enough to matter: see the *_min_* fields. Hysteresis (open after k high
// scores, resolve after m low ones) then keeps anomalies from flapping.
//
// Pure C++: time is passed in (window index on the aggregator's monotonic axis, plus the
// wall-clock time of the window's end for reports). Memory is bounded by max_series; a
// series idle for idle_windows is forgotten. The whole state saves to JSON and loads
// back, so a restarted daemon keeps its baselines and open anomalies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/detect/ensemble.h"
#include "engine/detect/hysteresis.h"
#include "engine/detect/poisson_rate.h"
#include "engine/snapshot.h"

namespace homeostat::engine::detect {

// The anomaly types this monitor raises.
inline const std::vector<std::string>& live_anomaly_types() {
    static const std::vector<std::string> types = {"latency_spike", "error_surge",   "traffic_shift",
                                                   "new_endpoint",  "cpu_saturation", "memory_growth",
                                                   "oom_kill",      "restart_loop"};
    return types;
}

struct LiveConfig {
    std::uint64_t warmup = 30;       // windows a series learns before it can alert (>= 3)
    std::uint64_t min_requests = 10; // fewer exchanges in a window: no latency point
    double latency_min_ratio = 1.5;  // latency_spike: p95 >= expected * ratio ...
    double latency_min_delta_seconds = 0.005; // ... and >= expected + delta
    double error_min_ratio = 0.05;            // error_surge: >= 5 % of the window's requests ...
    std::uint64_t error_min_requests = 20;    // ... out of at least this many ...
    std::uint64_t error_min_errors = 5;       // ... and at least this many 5xx
    double traffic_min_ratio = 2.0;           // traffic_shift: x2 or /2 ...
    std::uint64_t traffic_min_requests = 20;  // ... with this many requests on one side
    std::uint64_t new_endpoint_hold = 6;      // windows a new_endpoint anomaly stays open
    double cpu_saturation_ratio = 0.9;        // cpu_saturation: CPU >= 90 % of quota (or cores) ...
    std::uint32_t cpu_saturation_windows = 3; // ... for this many windows in a row
    std::uint32_t memory_trend_windows = 30;  // memory_growth: the trend over this many windows ...
    double memory_horizon_seconds = 3600;     // ... predicts the limit within this time
    // memory_growth: the trend starts over when the service restarted (or was OOM-killed) in
    // the window, or its memory fell below this fraction of the previous window's: the
    // old points describe a process that is gone (a stale prediction otherwise lingers).
    double memory_reset_fraction = 0.5;
    std::uint64_t oom_hold = 6;               // windows an oom_kill anomaly stays open
    std::uint32_t restart_loop_restarts = 3;  // restart_loop: this many restarts ...
    std::uint32_t restart_loop_windows = 30;  // ... within this many windows
    std::size_t max_series = 5000;            // endpoints + services watched
    std::uint64_t idle_windows = 8640;        // forget a series idle this long (24 h of 10 s)
    std::size_t history = 200;                // resolved anomalies kept for the API
    HysteresisConfig hysteresis;
};

struct Evidence {
    double expected = 0; // baseline for this window
    double observed = 0;
    double lower = 0, upper = 0; // prediction interval of the lead detector
    std::vector<std::string> detectors; // which fired on the latest point
    double window_seconds = 0;
    std::uint64_t requests = 0; // in the latest window
    std::uint64_t errors = 0;
    double p99 = 0; // seconds, latency signals
    double limit = 0;                      // resource signals: the quota or limit (0: none)
    double seconds_to_exhaustion = -1;     // memory_growth: predicted time to the limit (-1: none)
};

struct Anomaly {
    std::uint64_t id = 0;
    std::string type;     // latency_spike, error_surge, traffic_shift, new_endpoint
    std::string service;
    std::string endpoint; // "GET /users/{id}", "GET http://10.0.0.5:8080/x" (client), "*"
    std::string signal;   // latency_p95, error_ratio, request_rate, endpoint, cpu, memory,
                          // oom_kills, restarts
    Role role = Role::server;
    Severity severity = Severity::warning;
    bool open = true;
    double opened_at = 0;   // unix seconds: end of the window the anomaly opened in
    double resolved_at = 0; // unix seconds, 0 while open
    double started_at = 0;  // unix seconds: start of the first window of the opening run
    double score = 0;       // latest
    double peak = 0;
    Evidence evidence;      // latest window while open; the opening one once resolved
    Evidence at_open;
};

nlohmann::json to_json(const Anomaly& a);

// How an endpoint is named in anomalies and history: "GET /users/{id}" (server role),
// "GET http://10.0.0.5:8080/users/{id}" (a client's call to an upstream).
std::string endpoint_label(const EndpointWindow& e);

// A signal's value in the unit a reader expects: "201.3 ms", "12.5 %", "1.95 cores",
// "512.0 MiB", or a plain count.
std::string format_value(const std::string& signal, double v);

// One gauge sample: homeostat_anomaly_score{service,endpoint,signal}.
struct SeriesScore {
    std::string service;
    std::string endpoint;
    std::string signal;
    double score = 0; // gated, [0,1]; 0 while warming up
    bool warm = false;
};

struct WindowInput {
    std::int64_t window = 0;      // index on the aggregator's axis
    double window_seconds = 0;    // its length
    double end_unix = 0;          // wall-clock time of its end
    const std::vector<EndpointWindow>* endpoints = nullptr; // aggregator.window_stats(window)
    const std::vector<ServiceWindow>* services = nullptr;   // process/cgroup figures, if any
};

class LiveMonitor {
public:
    // Throws std::invalid_argument on a config that cannot work.
    explicit LiveMonitor(LiveConfig config = {});
    ~LiveMonitor();
    LiveMonitor(LiveMonitor&&) noexcept;
    LiveMonitor& operator=(LiveMonitor&&) noexcept;

    // Feeds one closed window. Windows must come in increasing order; one that is not
    // newer than the last is ignored. Returns the anomalies that opened or resolved on it
    // (copies, for the log and for alerting).
    std::vector<Anomaly> observe(const WindowInput& in);

    // Open anomalies first (newest first), then resolved ones (most recently resolved first).
    std::vector<Anomaly> anomalies() const;
    std::vector<SeriesScore> scores() const; // sorted by (service, endpoint, signal)
    std::size_t series_count() const;
    std::uint64_t series_overflowed() const { return overflowed_; } // not watched: cap reached
    std::int64_t last_window() const { return last_window_; }
    const LiveConfig& config() const;
    // New thresholds while running (SIGHUP). Baselines, hysteresis state and anomalies stay;
    // the gates (*_min_*, holds, resource rules) apply from the next window, a changed
    // warm-up or hysteresis to series that start after. Throws like the constructor.
    void reconfigure(const LiveConfig& config);

    // The window axis restarted (the monotonic clock does at boot): `window` becomes the
    // last window seen, and every remembered window index moves with it. Baselines stay.
    void restart_clock(std::int64_t window);

    // Everything (baselines, hysteresis, anomalies). load() replaces the state and keeps
    // this monitor's config for new series; it throws std::invalid_argument or
    // nlohmann::json::exception on a malformed or incompatible document.
    nlohmann::json save() const;
    void load(const nlohmann::json& j);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::int64_t last_window_ = INT64_MIN;
    std::uint64_t overflowed_ = 0;
};

} // namespace homeostat::engine::detect
