#include "agent/reload.h"

#include <tuple>

namespace homeostat::agent {
namespace {

// Every field of the detection thresholds, for one comparison.
auto tie_live(const engine::detect::LiveConfig& d) {
    return std::tie(d.warmup, d.min_requests, d.latency_min_ratio, d.latency_min_delta_seconds, d.error_min_ratio,
                    d.error_min_requests, d.error_min_errors, d.traffic_min_ratio, d.traffic_min_requests,
                    d.new_endpoint_hold, d.cpu_saturation_ratio, d.cpu_saturation_windows, d.memory_trend_windows,
                    d.memory_horizon_seconds, d.oom_hold, d.restart_loop_restarts, d.restart_loop_windows,
                    d.max_series, d.idle_windows, d.history);
}

bool same_receivers(const AlertingConfig& a, const AlertingConfig& b) {
    if (a.receivers.size() != b.receivers.size()) return false;
    for (std::size_t i = 0; i < a.receivers.size(); ++i) {
        const auto &x = a.receivers[i], &y = b.receivers[i];
        if (std::tie(x.name, x.type, x.url, x.secret, x.timeout, x.min_severity) !=
            std::tie(y.name, y.type, y.url, y.secret, y.timeout, y.min_severity))
            return false;
    }
    return true;
}

} // namespace

ReloadPlan plan_reload(const Config& running, Config loaded) {
    ReloadPlan p;
    // Only a restart changes these: keep what runs, say what the file wanted.
    auto keep = [&](const char* key, auto& field, const auto& now) {
        if (!(field == now)) p.needs_restart.push_back(key);
        field = now;
    };
    keep("listen", loaded.listen, running.listen);
    keep("api_token_file", loaded.api_token_file, running.api_token_file);
    keep("api_socket", loaded.api_socket, running.api_socket);
    keep("drop_capabilities", loaded.drop_capabilities, running.drop_capabilities);
    keep("state_dir", loaded.state_dir, running.state_dir);
    // An empty cgroup2_root means "found at start": the running one is that.
    if (!loaded.cgroup2_root.empty() && loaded.cgroup2_root != running.cgroup2_root)
        p.needs_restart.push_back("capture.cgroup2_root");
    loaded.cgroup2_root = running.cgroup2_root;
    keep("capture.ringbuf_bytes", loaded.ringbuf_bytes, running.ringbuf_bytes);
    keep("capture.drain_interval", loaded.drain_interval, running.drain_interval);
    keep("aggregation.window", loaded.window, running.window);
    keep("aggregation.windows_kept", loaded.windows_kept, running.windows_kept);
    keep("aggregation.max_routes_per_service", loaded.max_routes_per_service, running.max_routes_per_service);
    keep("self_limits", loaded.self_limits, running.self_limits);
    keep("detection.enabled", loaded.detection_enabled, running.detection_enabled);
    // Healing holds budgets, cooldowns and actions waiting for verification tied to its
    // rules and allow-lists: a new policy starts with a restart.
    if (loaded.healing_section != running.healing_section) p.needs_restart.push_back("healing");
    loaded.healing = running.healing;
    loaded.healing_section = running.healing_section;
    // The host name filled in at start when the file leaves it empty.
    if (loaded.alerting.instance.empty()) loaded.alerting.instance = running.alerting.instance;

    if (loaded.log_level != running.log_level) p.applied.push_back("log_level");
    if (tie_live(loaded.detection) != tie_live(running.detection)) p.applied.push_back("detection");
    if (loaded.detection_save_interval != running.detection_save_interval)
        p.applied.push_back("detection.save_interval");
    if (loaded.history_retention_seconds != running.history_retention_seconds)
        p.applied.push_back("history_retention");
    if (!same_receivers(loaded.alerting, running.alerting) ||
        loaded.alerting.instance != running.alerting.instance ||
        loaded.alerting.resend_interval_seconds != running.alerting.resend_interval_seconds ||
        loaded.alerting.retry.base_seconds != running.alerting.retry.base_seconds ||
        loaded.alerting.retry.max_seconds != running.alerting.retry.max_seconds ||
        loaded.alerting.retry.max_age_seconds != running.alerting.retry.max_age_seconds)
        p.applied.push_back("alerting");
    if (loaded.otlp_endpoint != running.otlp_endpoint || loaded.otlp_interval != running.otlp_interval)
        p.applied.push_back("otlp");
    p.next = std::move(loaded);
    return p;
}

} // namespace homeostat::agent
