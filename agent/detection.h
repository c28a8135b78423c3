// Live detection in the daemon: feeds each closed aggregation window to the LiveMonitor,
// logs anomalies as they open and resolve, and keeps the detector state in a file so a
// restarted daemon keeps its baselines (and its open anomalies).
//
// Windows live on the kernel's monotonic clock (the events' timestamps). Window w is
// observed once the clock is past its end plus a grace period, so late-drained events
// still count in it. The window the daemon started in is partial and is not observed
// (its counts would teach the baselines a traffic dip that never happened).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/store.h"
#include "engine/aggregator.h"
#include "engine/detect/live_monitor.h"

namespace homeostat::agent {

// A service's cumulative resource figures at one moment (from process and cgroup
// accounting); Detection turns successive ones into per-window ServiceWindows.
struct ServiceTotals {
    std::string service;
    double cpu_seconds = 0;       // monotonic
    double cpu_limit_cores = 0;   // quota in cores, else the host's CPUs
    double memory_bytes = 0;      // now
    double memory_limit_bytes = 0; // 0: no limit
    std::uint64_t oom_kills = 0;  // monotonic
    std::uint64_t restarts = 0;   // monotonic
};

struct DetectionOptions {
    engine::detect::LiveConfig live;
    std::chrono::nanoseconds grace{std::chrono::milliseconds(300)};
    Store* store = nullptr;           // where the state persists; null: nowhere
    bool log_changes = true;          // anomalies opening/resolving go to the log
};

class Detection {
public:
    // `start` is the monotonic time the daemon started observing.
    Detection(DetectionOptions options, const engine::Aggregator& aggregator, std::chrono::nanoseconds start);

    static constexpr const char* kStateDocument = "detector_state";

    // Loads the saved state (the store's "detector_state" document) if there is one. None
    // is normal (first start); a malformed one is logged and set aside (as
    // "detector_state.bad"), never fatal.
    void load_state();
    // Saves the state (one row, replaced in one transaction). Returns false (and logs,
    // once per kind of error) when it cannot: a full disk, a read-only file.
    bool save_state(double unix_now);

    // Observes every window that closed by `now` (monotonic) and has not been observed;
    // `unix_now` dates the anomalies. Returns what opened or resolved. Cheap when there
    // is nothing to do.
    // `totals`, when given, are the services' resource figures now: the change since the
    // previous tick is attributed to the newest window observed (CPU as an average over
    // the time between the two ticks).
    std::vector<engine::detect::Anomaly> tick(std::chrono::nanoseconds now, double unix_now,
                                              const std::vector<ServiceTotals>* totals = nullptr);
    // When tick() next has work: the end of the current window plus the grace period.
    std::chrono::nanoseconds next_due(std::chrono::nanoseconds now) const;

    // What tick() observed of one window, for whoever keeps it (history, the timeline).
    struct ObservedWindow {
        const std::vector<engine::EndpointWindow>& endpoints;
        // The services' resource figures, for the newest window of a tick given totals
        // (the change since the previous tick is attributed to it); null otherwise.
        const std::vector<engine::ServiceWindow>* services = nullptr;
        double start_unix = 0;
        double seconds = 0;
    };
    // Each sink is called, in the order added, with every window tick() observes.
    using WindowSink = std::function<void(const ObservedWindow&)>;
    void add_window_sink(WindowSink sink) { window_sinks_.push_back(std::move(sink)); }

    const engine::detect::LiveMonitor& monitor() const { return monitor_; }
    void reconfigure(const engine::detect::LiveConfig& live) {
        monitor_.reconfigure(live);
        options_.live = live;
    }
    // {"anomalies": [...], "open": N, "series": N, "warmup_windows": N, ...} for the API.
    nlohmann::json to_json() const;

private:
    DetectionOptions options_;
    const engine::Aggregator& aggregator_;
    engine::detect::LiveMonitor monitor_;
    std::vector<engine::ServiceWindow> resource_windows(const std::vector<ServiceTotals>& totals,
                                                       std::chrono::nanoseconds now);

    std::vector<WindowSink> window_sinks_;
    std::int64_t next_window_; // the next window to observe
    std::string last_save_error_;
    std::unordered_map<std::string, ServiceTotals> previous_totals_;
    std::chrono::nanoseconds previous_totals_at_{0};
};

} // namespace homeostat::agent
