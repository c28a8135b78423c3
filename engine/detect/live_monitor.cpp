#include "engine/detect/live_monitor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "engine/detect/cusum.h"
#include "engine/detect/drift.h"
#include "engine/detect/ew_zscore.h"
#include "engine/detect/exhaustion.h"
#include "engine/detect/exp_smoothing.h"
#include "engine/detect/holt.h"
#include "engine/detect/robust_mad.h"
#include "engine/detect/scale.h"
#include <stdexcept>
#include <tuple>

namespace homeostat::engine::detect {
namespace {

constexpr int kFormat = 1;
constexpr const char* kOverflowRoute = "{overflow}";


std::string endpoint_key(const std::string& service, Role role, const std::string& endpoint) {
    std::string k = service;
    k += '\x1f';
    k += role == Role::server ? 's' : 'c';
    k += '\x1f';
    k += endpoint;
    return k;
}

const char* role_name(Role r) { return r == Role::server ? "server" : "client"; }
Role role_from(const std::string& s) {
    if (s == "server") return Role::server;
    if (s == "client") return Role::client;
    throw std::invalid_argument("live monitor: bad role '" + s + "'");
}

nlohmann::json evidence_json(const Evidence& e) {
    return {{"expected", e.expected},   {"observed", e.observed}, {"lower", e.lower},
            {"upper", e.upper},         {"detectors", e.detectors}, {"window_seconds", e.window_seconds},
            {"requests", e.requests},   {"errors", e.errors},     {"p99", e.p99},
            {"limit", e.limit},         {"seconds_to_exhaustion", e.seconds_to_exhaustion}};
}

Evidence evidence_from(const nlohmann::json& j) {
    Evidence e;
    e.expected = j.at("expected").get<double>();
    e.observed = j.at("observed").get<double>();
    e.lower = j.at("lower").get<double>();
    e.upper = j.at("upper").get<double>();
    e.detectors = j.at("detectors").get<std::vector<std::string>>();
    e.window_seconds = j.at("window_seconds").get<double>();
    e.requests = j.at("requests").get<std::uint64_t>();
    e.errors = j.at("errors").get<std::uint64_t>();
    e.p99 = j.at("p99").get<double>();
    e.limit = j.at("limit").get<double>();
    e.seconds_to_exhaustion = j.at("seconds_to_exhaustion").get<double>();
    return e;
}

Anomaly anomaly_from(const nlohmann::json& j) {
    Anomaly a;
    a.id = j.at("id").get<std::uint64_t>();
    a.type = j.at("type").get<std::string>();
    a.service = j.at("service").get<std::string>();
    a.endpoint = j.at("endpoint").get<std::string>();
    a.signal = j.at("signal").get<std::string>();
    a.role = role_from(j.at("role").get<std::string>());
    const auto sev = j.at("severity").get<std::string>();
    if (sev == "warning") a.severity = Severity::warning;
    else if (sev == "critical") a.severity = Severity::critical;
    else throw std::invalid_argument("live monitor: bad severity '" + sev + "'");
    a.open = j.at("state").get<std::string>() == "open";
    a.opened_at = j.at("opened_at").get<double>();
    a.resolved_at = j.at("resolved_at").get<double>();
    a.started_at = j.at("started_at").get<double>();
    a.score = j.at("score").get<double>();
    a.peak = j.at("peak").get<double>();
    a.evidence = evidence_from(j.at("evidence"));
    a.at_open = evidence_from(j.at("at_open"));
    return a;
}

// One watched series: its hysteresis, latest gated score and evidence, and the id of its
// open anomaly (0 when none).
struct Signal {
    explicit Signal(const HysteresisConfig& c) : h(c) {}
    Hysteresis h;
    double score = 0;
    bool warm = false;
    Evidence evidence;
    Evidence run_start; // evidence of the first high score of the current run: the baseline
                        // before the anomaly, not one already pulled towards it
    std::uint64_t anomaly = 0;
    // A slow mean of the series for the effect-size gate: the forecasters' expectations
    // chase a shift within a window or two (that is their job), which would make the
    // second window of a 4x jump look like "only" 2x.
    EwStats baseline;
    static constexpr double kBaselineAlpha = 0.05;

    // The gate's reference for x, then x is learned.
    double reference(double x) {
        const double ref = baseline.n ? baseline.mean : x;
        baseline.add(x, kBaselineAlpha);
        return ref;
    }

    nlohmann::json save() const {
        return {{"h", h.save_state()}, {"score", score}, {"warm", warm}, {"anomaly", anomaly},
                {"evidence", evidence_json(evidence)}, {"run_start", evidence_json(run_start)},
                {"baseline", baseline.save()}};
    }
    void load(const nlohmann::json& j) {
        h.load_state(j.at("h"));
        run_start = evidence_from(j.at("run_start"));
        baseline.load(j.at("baseline"));
        score = j.at("score").get<double>();
        warm = j.at("warm").get<bool>();
        anomaly = j.at("anomaly").get<std::uint64_t>();
        evidence = evidence_from(j.at("evidence"));
    }
};

// The default ensemble's detectors, each learning for the configured warm-up (their own
// defaults differ, 10 to 30 points): "warmup" means the same thing for every series.
std::unique_ptr<Ensemble> live_ensemble(const EnsembleConfig& c) {
    const std::uint64_t w = std::max<std::uint64_t>(c.warmup, 3);
    ExpSmoothingConfig ses;
    ses.warmup = w;
    HoltConfig holt;
    holt.warmup = w;
    EwZScoreConfig ewz;
    ewz.warmup = w;
    RobustMadConfig mad;
    mad.warmup = std::min<std::size_t>(w, mad.window);
    CusumConfig cusum;
    cusum.warmup = w;
    DriftConfig drift;
    drift.warmup = w;
    ScaleConfig scale;
    scale.warmup = w;
    std::vector<std::unique_ptr<Detector>> d;
    d.push_back(std::make_unique<ExpSmoothing>(ses));
    d.push_back(std::make_unique<Holt>(holt));
    d.push_back(std::make_unique<EwZScore>(ewz));
    d.push_back(std::make_unique<RobustMad>(mad));
    d.push_back(std::make_unique<Cusum>(cusum));
    d.push_back(std::make_unique<Drift>(drift));
    d.push_back(std::make_unique<Scale>(scale));
    return std::make_unique<Ensemble>(std::move(d), c);
}

Evidence evidence_of(const EnsembleResult& r, const Ensemble& e) {
    Evidence ev;
    ev.expected = r.score.expected;
    ev.observed = r.score.observed;
    ev.lower = r.score.lower;
    ev.upper = r.score.upper;
    for (auto n : e.fired_names(r.fired))
        ev.detectors.emplace_back(n);
    return ev;
}

} // namespace

std::string endpoint_label(const EndpointWindow& e) {
    if (e.role == Role::server) return e.method + " " + e.route;
    const bool v6 = e.peer_address.find(':') != std::string::npos;
    const std::string host = v6 ? "[" + e.peer_address + "]" : e.peer_address;
    return e.method + " http://" + host + ":" + std::to_string(e.peer_port) + e.route;
}

std::string format_value(const std::string& signal, double v) {
    char buf[64];
    if (signal == "latency_p95") std::snprintf(buf, sizeof buf, "%.2f ms", v * 1e3);
    else if (signal == "error_ratio") std::snprintf(buf, sizeof buf, "%.1f %%", v * 1e2);
    else if (signal == "cpu") std::snprintf(buf, sizeof buf, "%.2f cores", v);
    else if (signal == "memory") std::snprintf(buf, sizeof buf, "%.1f MiB", v / (1024.0 * 1024.0));
    else std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}

nlohmann::json to_json(const Anomaly& a) {
    return {{"id", a.id},
            {"type", a.type},
            {"service", a.service},
            {"endpoint", a.endpoint},
            {"signal", a.signal},
            {"role", role_name(a.role)},
            {"severity", severity_name(a.severity)},
            {"state", a.open ? "open" : "resolved"},
            {"opened_at", a.opened_at},
            {"resolved_at", a.resolved_at},
            {"started_at", a.started_at},
            {"score", a.score},
            {"peak", a.peak},
            {"evidence", evidence_json(a.evidence)},
            {"at_open", evidence_json(a.at_open)}};
}

struct LiveMonitor::Impl {
    struct EndpointState {
        EndpointState(const LiveConfig& c, PoissonRateConfig pc)
            : latency(live_ensemble(ensemble_config(c))), errors(pc), lat(c.hysteresis),
              err(c.hysteresis) {}
        std::string service, endpoint;
        Role role = Role::server;
        std::unique_ptr<Ensemble> latency;
        PoissonRate errors;
        Signal lat, err;
        std::int64_t last_seen = 0;
        std::uint64_t new_anomaly = 0; // id of the open new_endpoint anomaly, 0 if none
        std::int64_t new_until = 0;    // ... which resolves in this window
    };
    struct ServiceState {
        explicit ServiceState(const LiveConfig& c)
            : traffic(live_ensemble(ensemble_config(c))), rate(c.hysteresis), cpu(cpu_hysteresis(c)),
              memory(c.hysteresis) {}
        std::unique_ptr<Ensemble> traffic;
        Signal rate;
        bool serves = false; // has had server-role traffic: request_rate is watched
        std::int64_t first_seen = 0, last_seen = 0;
        // Resources (ServiceWindow).
        Signal cpu, memory;
        std::deque<std::pair<std::int64_t, double>> memory_points; // (window, bytes), last N
        std::uint64_t oom_anomaly = 0;
        std::int64_t oom_until = 0;
        std::deque<std::pair<std::int64_t, std::uint64_t>> restarts; // windows with restarts
        std::uint64_t restart_anomaly = 0;
    };

    static HysteresisConfig cpu_hysteresis(const LiveConfig& c) {
        HysteresisConfig h = c.hysteresis;
        h.open_points = std::max<std::uint32_t>(c.cpu_saturation_windows, 1);
        return h;
    }

    static EnsembleConfig ensemble_config(const LiveConfig& c) {
        EnsembleConfig e;
        e.warmup = c.warmup;
        e.open_threshold = c.hysteresis.open_threshold;
        e.close_threshold = c.hysteresis.close_threshold;
        e.open_points = c.hysteresis.open_points;
        e.close_points = c.hysteresis.close_points;
        e.critical_threshold = c.hysteresis.critical_threshold;
        return e;
    }
    PoissonRateConfig poisson_config() const {
        PoissonRateConfig p;
        p.min_volume = static_cast<double>(config.error_min_requests);
        p.min_events = static_cast<double>(config.error_min_errors);
        p.warmup = std::max<std::uint64_t>(config.warmup, 1);
        return p;
    }

    explicit Impl(const LiveConfig& c) : config(c) {}

    LiveConfig config;
    std::map<std::string, EndpointState> endpoints; // ordered: save() is deterministic
    std::map<std::string, ServiceState> services;
    std::map<std::uint64_t, Anomaly> open;       // by id
    std::deque<Anomaly> resolved;                // most recent first
    std::uint64_t next_id = 1;

    // Context of the window being observed.
    const WindowInput* in = nullptr;
    std::vector<Anomaly>* changes = nullptr;

    double unix_of_window_start(std::int64_t w) const {
        return in->end_unix - static_cast<double>(in->window - w + 1) * in->window_seconds;
    }

    void open_anomaly(Signal& sig, const char* type, const std::string& service, const std::string& endpoint,
                      const char* signal, Role role) {
        Anomaly a;
        a.id = next_id++;
        a.type = type;
        a.service = service;
        a.endpoint = endpoint;
        a.signal = signal;
        a.role = role;
        a.severity = sig.h.severity();
        a.opened_at = in->end_unix;
        a.started_at = unix_of_window_start(sig.h.since_ns());
        a.score = sig.score;
        a.peak = sig.h.peak();
        a.evidence = sig.evidence;
        a.at_open = sig.run_start;
        sig.anomaly = a.id;
        changes->push_back(a);
        open.emplace(a.id, std::move(a));
    }

    void resolve_anomaly(std::uint64_t id) {
        auto it = open.find(id);
        if (it == open.end()) return;
        Anomaly a = std::move(it->second);
        open.erase(it);
        a.open = false;
        a.resolved_at = in->end_unix;
        changes->push_back(a);
        resolved.push_front(std::move(a));
        while (resolved.size() > config.history) resolved.pop_back();
    }

    // Feeds one gated score to a signal's hysteresis and keeps its anomaly up to date.
    void step(Signal& sig, double score, const char* type, const std::string& service,
              const std::string& endpoint, const char* signal, Role role) {
        const double threshold = sig.h.config().open_threshold;
        if (!sig.h.open() && score >= threshold && sig.score < threshold) sig.run_start = sig.evidence;
        sig.score = score;
        const auto st = sig.h.step(score, in->window);
        if (st.opened) open_anomaly(sig, type, service, endpoint, signal, role);
        if (auto it = open.find(sig.anomaly); sig.anomaly && it != open.end()) {
            Anomaly& a = it->second;
            a.score = score;
            a.peak = sig.h.peak();
            a.severity = sig.h.severity();
            a.evidence = sig.evidence;
        }
        if (st.resolved) {
            resolve_anomaly(sig.anomaly);
            sig.anomaly = 0;
        }
    }

    void observe_latency(EndpointState& s, const EndpointWindow& e) {
        if (e.count < config.min_requests) return; // too few exchanges for a p95
        const EnsembleResult& r = s.latency->step({in->window, e.p95});
        const double ref = s.lat.reference(e.p95);
        s.lat.warm = r.score.warm;
        s.lat.evidence = evidence_of(r, *s.latency);
        s.lat.evidence.window_seconds = in->window_seconds;
        s.lat.evidence.requests = e.count;
        s.lat.evidence.errors = e.errors;
        s.lat.evidence.p99 = e.p99;
        if (!r.score.warm) return;
        const double expected = std::max(std::min(r.score.expected, ref), 0.0);
        const bool matters = e.p95 >= expected * config.latency_min_ratio &&
                             e.p95 - expected >= config.latency_min_delta_seconds;
        step(s.lat, matters ? r.score.score : 0.0, "latency_spike", s.service, s.endpoint, "latency_p95", s.role);
    }

    void observe_errors(EndpointState& s, const EndpointWindow& e) {
        const double baseline = s.errors.expected_ratio(); // before this window is learned
        const Score r = s.errors.update_ratio({in->window, static_cast<double>(e.errors)},
                                              static_cast<double>(e.count));
        const double ratio = e.count ? static_cast<double>(e.errors) / static_cast<double>(e.count) : 0;
        s.err.warm = r.warm;
        s.err.evidence = {};
        s.err.evidence.expected = baseline;
        s.err.evidence.observed = ratio;
        s.err.evidence.lower = 0;
        s.err.evidence.upper = e.count ? r.upper / static_cast<double>(e.count) : 0;
        if (r.score > 0) s.err.evidence.detectors = {std::string(PoissonRate::kName)};
        s.err.evidence.window_seconds = in->window_seconds;
        s.err.evidence.requests = e.count;
        s.err.evidence.errors = e.errors;
        if (!r.warm) return;
        const bool matters = ratio >= config.error_min_ratio;
        step(s.err, matters ? r.score : 0.0, "error_surge", s.service, s.endpoint, "error_ratio", s.role);
    }

    void observe_traffic(const std::string& name, ServiceState& s, std::uint64_t count) {
        const auto x = static_cast<double>(count);
        const EnsembleResult& r = s.traffic->step({in->window, x});
        const double ref = s.rate.reference(x);
        s.rate.warm = r.score.warm;
        s.rate.evidence = evidence_of(r, *s.traffic);
        s.rate.evidence.window_seconds = in->window_seconds;
        s.rate.evidence.requests = count;
        if (!r.score.warm) return;
        const double expected = std::max(ref, 0.0);
        const double ratio = config.traffic_min_ratio;
        const bool matters = std::max(x, expected) >= static_cast<double>(config.traffic_min_requests) &&
                             (x >= expected * ratio || x * ratio <= expected);
        step(s.rate, matters ? r.score.score : 0.0, "traffic_shift", name, "*", "request_rate", Role::server);
    }

    // An anomaly that is a fact, not a statistic (an OOM kill, a restart loop): opened
    // at once, with the evidence given. Returns its id.
    std::uint64_t open_event(const char* type, const std::string& service, const std::string& endpoint,
                             const char* signal, Role role, Severity sev, const Evidence& ev) {
        Signal sig(config.hysteresis);
        sig.score = 1;
        sig.evidence = ev;
        sig.run_start = ev;
        open_anomaly(sig, type, service, endpoint, signal, role);
        Anomaly& a = open.at(sig.anomaly);
        a.severity = sev;
        a.peak = 1;
        a.started_at = unix_of_window_start(in->window);
        changes->back() = a;
        return sig.anomaly;
    }

    void observe_cpu(const std::string& name, ServiceState& s, const ServiceWindow& r) {
        if (!std::isfinite(r.cpu_cores) || !(r.cpu_limit_cores > 0)) return;
        const double ratio = r.cpu_cores / r.cpu_limit_cores;
        s.cpu.warm = true;
        s.cpu.evidence = {};
        s.cpu.evidence.observed = r.cpu_cores;
        s.cpu.evidence.expected = r.cpu_limit_cores * config.cpu_saturation_ratio;
        s.cpu.evidence.upper = s.cpu.evidence.expected;
        s.cpu.evidence.limit = r.cpu_limit_cores;
        s.cpu.evidence.window_seconds = in->window_seconds;
        // Saturated: 0.9 (warning), or 1 (critical) at >= 98 % of the limit; below the
        // threshold the score stays under the close threshold.
        const double score = ratio >= config.cpu_saturation_ratio ? (ratio >= 0.98 ? 1.0 : 0.9)
                                                                  : std::min(ratio, 1.0) * 0.4;
        step(s.cpu, score, "cpu_saturation", name, "*", "cpu", Role::server);
    }

    void observe_memory(const std::string& name, ServiceState& s, const ServiceWindow& r) {
        if (!std::isfinite(r.memory_bytes)) return;
        const bool restarted = r.restarts > 0 || r.oom_kills > 0;
        const bool fell = !s.memory_points.empty() &&
                          r.memory_bytes < s.memory_points.back().second * config.memory_reset_fraction;
        if (restarted || fell) {
            s.memory_points.clear();
            resolve_anomaly(s.memory.anomaly); // its trend is gone with the process
            s.memory = Signal(config.hysteresis);
        }
        s.memory_points.emplace_back(in->window, r.memory_bytes);
        while (s.memory_points.size() > config.memory_trend_windows) s.memory_points.pop_front();
        s.memory.evidence = {};
        s.memory.evidence.observed = r.memory_bytes;
        s.memory.evidence.window_seconds = in->window_seconds;
        const bool limited = std::isfinite(r.memory_limit_bytes) && r.memory_limit_bytes > 0;
        s.memory.evidence.limit = limited ? r.memory_limit_bytes : 0;
        s.memory.evidence.expected = s.memory.evidence.limit;
        if (s.memory_points.size() < std::max<std::size_t>(config.memory_trend_windows / 2, 3) || !limited) {
            s.memory.warm = false;
            return;
        }
        s.memory.warm = true;
        // The robust trend of the last points (Theil-Sen, growth confirmed by Mann-Kendall):
        // rebuilt from the kept points, at most memory_trend_windows of them, per window.
        ExhaustionConfig ec;
        ec.window = std::max<std::size_t>(config.memory_trend_windows, 3);
        ec.min_points = std::max<std::size_t>(config.memory_trend_windows / 2, 3);
        ExhaustionTrend trend(ec);
        for (const auto& [w, bytes] : s.memory_points)
            trend.add(static_cast<std::int64_t>(static_cast<double>(w) * in->window_seconds * 1e9), bytes);
        double score = 0;
        if (auto p = trend.predict(r.memory_limit_bytes); p && p->slope > 0) {
            s.memory.evidence.seconds_to_exhaustion = p->seconds_to_limit;
            s.memory.evidence.upper = p->slope; // bytes/s, for the reader
            const double tte = p->seconds_to_limit;
            if (tte <= config.memory_horizon_seconds) score = tte <= config.memory_horizon_seconds / 6 ? 1.0 : 0.9;
        }
        step(s.memory, score, "memory_growth", name, "*", "memory", Role::server);
    }

    void observe_ooms(const std::string& name, ServiceState& s, const ServiceWindow& r) {
        if (r.oom_kills == 0) return;
        s.oom_until = in->window + static_cast<std::int64_t>(config.oom_hold);
        if (auto it = open.find(s.oom_anomaly); s.oom_anomaly && it != open.end()) {
            it->second.evidence.observed += static_cast<double>(r.oom_kills); // more kills, same episode
            return;
        }
        Evidence ev;
        ev.observed = static_cast<double>(r.oom_kills);
        ev.limit = std::isfinite(r.memory_limit_bytes) ? r.memory_limit_bytes : 0;
        ev.window_seconds = in->window_seconds;
        s.oom_anomaly = open_event("oom_kill", name, "*", "oom_kills", Role::server, Severity::critical, ev);
    }

    void observe_restarts(const std::string& name, ServiceState& s, const ServiceWindow& r) {
        if (r.restarts) s.restarts.emplace_back(in->window, r.restarts);
        const std::int64_t span = config.restart_loop_windows;
        while (!s.restarts.empty() && s.restarts.front().first <= in->window - span) s.restarts.pop_front();
        std::uint64_t total = 0;
        for (const auto& [w, n] : s.restarts) total += n;
        if (s.restart_anomaly) {
            if (auto it = open.find(s.restart_anomaly); it != open.end()) it->second.evidence.observed = total;
            if (total == 0) { // a whole span without a restart
                resolve_anomaly(s.restart_anomaly);
                s.restart_anomaly = 0;
            }
            return;
        }
        if (total < config.restart_loop_restarts) return;
        Evidence ev;
        ev.observed = static_cast<double>(total);
        ev.limit = config.restart_loop_restarts;
        ev.window_seconds = in->window_seconds * static_cast<double>(span);
        s.restart_anomaly = open_event("restart_loop", name, "*", "restarts", Role::server, Severity::critical, ev);
    }

    void new_endpoint(EndpointState& s, const EndpointWindow& e) {
        Evidence ev;
        ev.observed = static_cast<double>(e.count);
        ev.window_seconds = in->window_seconds;
        ev.requests = e.count;
        ev.errors = e.errors;
        ev.p99 = e.p99;
        // Worth a look, never an emergency by itself.
        s.new_anomaly = open_event("new_endpoint", s.service, s.endpoint, "endpoint", s.role, Severity::warning, ev);
        s.new_until = in->window + static_cast<std::int64_t>(config.new_endpoint_hold);
    }
};

namespace {

void check_live_config(const LiveConfig& config) {
    Hysteresis check(config.hysteresis); // validates the thresholds
    if (config.max_series == 0 || config.history == 0 || config.idle_windows == 0)
        throw std::invalid_argument("live monitor: max_series, history and idle_windows must be >= 1");
    if (!(config.latency_min_ratio >= 1) || !(config.traffic_min_ratio >= 1) ||
        !(config.error_min_ratio >= 0 && config.error_min_ratio <= 1) ||
        !(config.latency_min_delta_seconds >= 0))
        throw std::invalid_argument("live monitor: latency/traffic ratios must be >= 1, "
                                    "error_min_ratio in [0,1], latency delta >= 0");
}

} // namespace

LiveMonitor::LiveMonitor(LiveConfig config) {
    check_live_config(config);
    impl_ = std::make_unique<Impl>(config);
}

void LiveMonitor::reconfigure(const LiveConfig& config) {
    check_live_config(config);
    impl_->config = config;
}

LiveMonitor::~LiveMonitor() = default;
LiveMonitor::LiveMonitor(LiveMonitor&&) noexcept = default;
LiveMonitor& LiveMonitor::operator=(LiveMonitor&&) noexcept = default;

const LiveConfig& LiveMonitor::config() const {
    return impl_->config;
}

std::vector<Anomaly> LiveMonitor::observe(const WindowInput& in) {
    std::vector<Anomaly> changes;
    if (in.window <= last_window_ || !in.endpoints) return changes;
    last_window_ = in.window;
    Impl& m = *impl_;
    const LiveConfig& config_ = m.config;
    m.in = &in;
    m.changes = &changes;
    const std::int64_t w = in.window;

    std::map<std::string, std::uint64_t> served; // service → server-role requests this window
    for (const EndpointWindow& e : *in.endpoints) {
        auto [sit, new_service] = m.services.try_emplace(e.service, m.config);
        Impl::ServiceState& svc = sit->second;
        if (new_service) svc.first_seen = w;
        svc.last_seen = w;
        if (e.role == Role::server) {
            svc.serves = true;
            served[e.service] += e.count;
        }

        const std::string label = endpoint_label(e);
        const std::string key = endpoint_key(e.service, e.role, label);
        auto it = m.endpoints.find(key);
        if (it == m.endpoints.end()) {
            if (m.endpoints.size() + m.services.size() >= config_.max_series) {
                ++overflowed_;
                continue;
            }
            it = m.endpoints.try_emplace(key, config_, m.poisson_config()).first;
            Impl::EndpointState& s = it->second;
            s.service = e.service;
            s.endpoint = label;
            s.role = e.role;
            const bool service_warm = w - svc.first_seen >= static_cast<std::int64_t>(config_.warmup);
            if (service_warm && e.route != kOverflowRoute) m.new_endpoint(s, e);
        }
        Impl::EndpointState& s = it->second;
        s.last_seen = w;
        m.observe_latency(s, e);
        m.observe_errors(s, e);
    }

    for (auto it = m.endpoints.begin(); it != m.endpoints.end();) {
        Impl::EndpointState& s = it->second;
        if (s.last_seen != w) {
            // No traffic is no evidence of a problem: open anomalies wind down.
            if (s.lat.h.open()) m.step(s.lat, 0, "latency_spike", s.service, s.endpoint, "latency_p95", s.role);
            if (s.err.h.open()) m.step(s.err, 0, "error_surge", s.service, s.endpoint, "error_ratio", s.role);
        }
        if (s.new_anomaly && w >= s.new_until) {
            m.resolve_anomaly(s.new_anomaly);
            s.new_anomaly = 0;
        }
        const bool idle = w - s.last_seen >= static_cast<std::int64_t>(config_.idle_windows);
        if (idle && !s.lat.anomaly && !s.err.anomaly && !s.new_anomaly) it = m.endpoints.erase(it);
        else ++it;
    }

    if (in.services) {
        for (const ServiceWindow& r : *in.services) {
            auto [sit, fresh] = m.services.try_emplace(r.service, m.config);
            Impl::ServiceState& s = sit->second;
            if (fresh) s.first_seen = w;
            s.last_seen = w;
            m.observe_cpu(r.service, s, r);
            m.observe_memory(r.service, s, r);
            m.observe_ooms(r.service, s, r);
            m.observe_restarts(r.service, s, r);
        }
    }

    for (auto it = m.services.begin(); it != m.services.end();) {
        Impl::ServiceState& s = it->second;
        if (s.oom_anomaly && w >= s.oom_until) {
            m.resolve_anomaly(s.oom_anomaly);
            s.oom_anomaly = 0;
        }
        if (s.serves) {
            auto c = served.find(it->first);
            m.observe_traffic(it->first, s, c == served.end() ? 0 : c->second);
        }
        const bool idle = w - s.last_seen >= static_cast<std::int64_t>(config_.idle_windows);
        if (idle && !s.rate.anomaly && !s.cpu.anomaly && !s.memory.anomaly && !s.oom_anomaly && !s.restart_anomaly)
            it = m.services.erase(it);
        else ++it;
    }
    m.in = nullptr;
    m.changes = nullptr;
    return changes;
}

void LiveMonitor::restart_clock(std::int64_t window) {
    if (last_window_ == INT64_MIN) {
        last_window_ = window;
        return;
    }
    const std::int64_t shift = window - last_window_;
    for (auto& [key, s] : impl_->endpoints) {
        s.last_seen += shift;
        s.new_until += shift;
    }
    for (auto& [name, s] : impl_->services) {
        s.first_seen += shift;
        s.last_seen += shift;
        s.oom_until += shift;
        for (auto& p : s.memory_points) p.first += shift;
        for (auto& p : s.restarts) p.first += shift;
    }
    last_window_ = window;
}

std::vector<Anomaly> LiveMonitor::anomalies() const {
    std::vector<Anomaly> out;
    out.reserve(impl_->open.size() + impl_->resolved.size());
    for (auto it = impl_->open.rbegin(); it != impl_->open.rend(); ++it)
        out.push_back(it->second);
    out.insert(out.end(), impl_->resolved.begin(), impl_->resolved.end());
    return out;
}

std::vector<SeriesScore> LiveMonitor::scores() const {
    std::vector<SeriesScore> out;
    for (const auto& [key, s] : impl_->endpoints) {
        if (s.lat.warm) out.push_back({s.service, s.endpoint, "latency_p95", s.lat.score, true});
        if (s.err.warm) out.push_back({s.service, s.endpoint, "error_ratio", s.err.score, true});
    }
    for (const auto& [name, s] : impl_->services) {
        if (s.serves && s.rate.warm) out.push_back({name, "*", "request_rate", s.rate.score, true});
        if (s.cpu.warm) out.push_back({name, "*", "cpu", s.cpu.score, true});
        if (s.memory.warm) out.push_back({name, "*", "memory", s.memory.score, true});
    }
    std::sort(out.begin(), out.end(), [](const SeriesScore& a, const SeriesScore& b) {
        return std::tie(a.service, a.endpoint, a.signal) < std::tie(b.service, b.endpoint, b.signal);
    });
    return out;
}

std::size_t LiveMonitor::series_count() const {
    return impl_->endpoints.size() + impl_->services.size();
}

nlohmann::json LiveMonitor::save() const {
    nlohmann::json eps = nlohmann::json::array(), svcs = nlohmann::json::array(), list = nlohmann::json::array();
    for (const auto& [key, s] : impl_->endpoints)
        eps.push_back({{"service", s.service}, {"endpoint", s.endpoint}, {"role", role_name(s.role)},
                       {"latency", s.latency->save()}, {"errors", s.errors.save()},
                       {"lat", s.lat.save()}, {"err", s.err.save()}, {"last_seen", s.last_seen},
                       {"new_until", s.new_until}, {"new_anomaly", s.new_anomaly}});
    for (const auto& [name, s] : impl_->services)
        svcs.push_back({{"service", name}, {"traffic", s.traffic->save()}, {"rate", s.rate.save()},
                        {"serves", s.serves}, {"first_seen", s.first_seen}, {"last_seen", s.last_seen},
                        {"cpu", s.cpu.save()}, {"memory", s.memory.save()}, {"memory_points", s.memory_points},
                        {"oom_anomaly", s.oom_anomaly}, {"oom_until", s.oom_until}, {"restarts", s.restarts},
                        {"restart_anomaly", s.restart_anomaly}});
    for (const auto& a : anomalies())
        list.push_back(to_json(a));
    return {{"format", kFormat},     {"last_window", last_window_}, {"next_id", impl_->next_id},
            {"overflowed", overflowed_}, {"endpoints", std::move(eps)}, {"services", std::move(svcs)},
            {"anomalies", std::move(list)}};
}

void LiveMonitor::load(const nlohmann::json& j) {
    if (j.at("format").get<int>() != kFormat)
        throw std::invalid_argument("live monitor: state format " + j.at("format").dump() + ", expected " +
                                    std::to_string(kFormat));
    auto m = std::make_unique<Impl>(impl_->config);
    for (const auto& e : j.at("endpoints")) {
        Impl::EndpointState s(m->config, m->poisson_config());
        s.service = e.at("service").get<std::string>();
        s.endpoint = e.at("endpoint").get<std::string>();
        s.role = role_from(e.at("role").get<std::string>());
        s.latency->load(e.at("latency"));
        s.errors.load(e.at("errors"));
        s.lat.load(e.at("lat"));
        s.err.load(e.at("err"));
        s.last_seen = e.at("last_seen").get<std::int64_t>();
        s.new_until = e.at("new_until").get<std::int64_t>();
        s.new_anomaly = e.at("new_anomaly").get<std::uint64_t>();
        const std::string key = endpoint_key(s.service, s.role, s.endpoint);
        m->endpoints.emplace(key, std::move(s));
    }
    for (const auto& e : j.at("services")) {
        Impl::ServiceState s(m->config);
        s.traffic->load(e.at("traffic"));
        s.rate.load(e.at("rate"));
        s.serves = e.at("serves").get<bool>();
        s.first_seen = e.at("first_seen").get<std::int64_t>();
        s.last_seen = e.at("last_seen").get<std::int64_t>();
        s.cpu.load(e.at("cpu"));
        s.memory.load(e.at("memory"));
        s.memory_points = e.at("memory_points").get<std::deque<std::pair<std::int64_t, double>>>();
        s.oom_anomaly = e.at("oom_anomaly").get<std::uint64_t>();
        s.oom_until = e.at("oom_until").get<std::int64_t>();
        s.restarts = e.at("restarts").get<std::deque<std::pair<std::int64_t, std::uint64_t>>>();
        s.restart_anomaly = e.at("restart_anomaly").get<std::uint64_t>();
        m->services.emplace(e.at("service").get<std::string>(), std::move(s));
    }
    for (const auto& e : j.at("anomalies")) {
        Anomaly a = anomaly_from(e);
        if (a.open) m->open.emplace(a.id, std::move(a));
        else if (m->resolved.size() < m->config.history) m->resolved.push_back(std::move(a));
    }
    m->next_id = j.at("next_id").get<std::uint64_t>();
    const auto last = j.at("last_window").get<std::int64_t>();
    const auto overflowed = j.at("overflowed").get<std::uint64_t>();
    impl_ = std::move(m); // only now: a bad document leaves the monitor as it was
    last_window_ = last;
    overflowed_ = overflowed;
}

} // namespace homeostat::engine::detect

