#include "agent/timeline.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "agent/api_query.h"

namespace homeostat::agent {
namespace {

constexpr double kLevels[3] = {0.50, 0.95, 0.99};

// An endpoint's latency CDF, linear between (0,0), (p50,.5), (p95,.95), (p99,.99) and a
// tail reaching 1 one (p99 - p95) step past p99. Knots are made non-decreasing first
// (quantile sketches can round p95 below p50 by a hair).
struct EndpointCdf {
    double x[5];
    static constexpr double f[5] = {0, 0.50, 0.95, 0.99, 1};
    explicit EndpointCdf(const engine::EndpointWindow& e) {
        x[0] = 0;
        x[1] = std::max(e.p50, 0.0);
        x[2] = std::max(e.p95, x[1]);
        x[3] = std::max(e.p99, x[2]);
        x[4] = x[3] + std::max({x[3] - x[2], x[3] * 0.01, 1e-9});
    }
    double operator()(double v) const {
        if (v < x[0]) return 0;
        for (int i = 1; i < 5; ++i)
            if (v < x[i]) return f[i - 1] + (f[i] - f[i - 1]) * (v - x[i - 1]) / (x[i] - x[i - 1]);
        return 1;
    }
    double quantile(int level) const { return x[level + 1]; }
};

nlohmann::json number_or_null(double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

} // namespace

std::array<double, 3> mixture_percentiles(const std::vector<const engine::EndpointWindow*>& endpoints) {
    std::vector<EndpointCdf> cdfs;
    std::vector<double> weights;
    double total = 0;
    for (const auto* e : endpoints)
        if (e->count > 0) {
            cdfs.emplace_back(*e);
            weights.push_back(static_cast<double>(e->count));
            total += static_cast<double>(e->count);
        }
    std::array<double, 3> out{TimelinePoint::kUnknown, TimelinePoint::kUnknown, TimelinePoint::kUnknown};
    if (cdfs.empty()) return out;
    for (int level = 0; level < 3; ++level) {
        // The mixture's quantile lies between the smallest and the largest endpoint's.
        double lo = cdfs[0].quantile(level), hi = lo;
        for (const auto& c : cdfs) {
            lo = std::min(lo, c.quantile(level));
            hi = std::max(hi, c.quantile(level));
        }
        for (int i = 0; i < 60 && hi - lo > 1e-12; ++i) {
            const double mid = (lo + hi) / 2;
            double g = 0;
            for (std::size_t k = 0; k < cdfs.size(); ++k) g += weights[k] * cdfs[k](mid);
            (g / total >= kLevels[level] ? hi : lo) = mid;
        }
        out[level] = hi;
    }
    return out;
}

void Timeline::add_window(const std::vector<engine::EndpointWindow>& endpoints,
                          const std::vector<engine::ServiceWindow>* services, double start_unix, double seconds) {
    struct Seen {
        std::uint64_t requests = 0, errors = 0;
        std::vector<const engine::EndpointWindow*> endpoints;
        const engine::ServiceWindow* resources = nullptr;
    };
    std::map<std::string, Seen> seen;
    for (const auto& e : endpoints) {
        if (e.role != engine::Role::server) continue;
        auto& s = seen[e.service];
        s.requests += e.count;
        s.errors += e.errors;
        s.endpoints.push_back(&e);
    }
    if (services)
        for (const auto& r : *services) seen[r.service].resources = &r;

    for (const auto& [name, s] : seen) {
        auto it = series_.find(name);
        if (it == series_.end()) {
            if (series_.size() >= options_.max_services) {
                ++refused_;
                continue;
            }
            it = series_.try_emplace(name).first;
        }
        TimelinePoint p;
        p.start_unix = start_unix;
        p.seconds = seconds;
        if (seconds > 0) p.requests_per_second = static_cast<double>(s.requests) / seconds;
        if (s.requests > 0) {
            p.error_ratio = static_cast<double>(s.errors) / static_cast<double>(s.requests);
            const auto q = mixture_percentiles(s.endpoints);
            p.p50 = q[0];
            p.p95 = q[1];
            p.p99 = q[2];
        }
        if (s.resources) {
            p.cpu_cores = s.resources->cpu_cores;
            p.memory_bytes = s.resources->memory_bytes;
        }
        it->second.points.push_back(p);
        it->second.idle = 0;
    }
    for (auto it = series_.begin(); it != series_.end();) {
        Series& s = it->second;
        if (!seen.contains(it->first)) {
            TimelinePoint p;
            p.start_unix = start_unix;
            p.seconds = seconds;
            s.points.push_back(p);
            if (++s.idle >= options_.points) {
                it = series_.erase(it);
                continue;
            }
        }
        while (s.points.size() > options_.points) s.points.pop_front();
        ++it;
    }
}

std::vector<std::string> Timeline::services() const {
    std::vector<std::string> out;
    out.reserve(series_.size());
    for (const auto& [name, s] : series_) out.push_back(name);
    return out;
}

const std::deque<TimelinePoint>* Timeline::series(const std::string& service) const {
    auto it = series_.find(service);
    return it == series_.end() ? nullptr : &it->second.points;
}

nlohmann::json Timeline::to_json(const std::string& service, std::size_t limit) const {
    using nlohmann::json;
    json start = json::array(), secs = json::array(), rps = json::array(), err = json::array(), p50 = json::array(),
         p95 = json::array(), p99 = json::array(), cpu = json::array(), mem = json::array();
    if (const auto* points = series(service)) {
        const std::size_t skip = points->size() > limit ? points->size() - limit : 0;
        for (std::size_t i = skip; i < points->size(); ++i) {
            const auto& p = (*points)[i];
            start.push_back(p.start_unix);
            secs.push_back(p.seconds);
            rps.push_back(number_or_null(p.requests_per_second));
            err.push_back(number_or_null(p.error_ratio));
            p50.push_back(number_or_null(p.p50));
            p95.push_back(number_or_null(p.p95));
            p99.push_back(number_or_null(p.p99));
            cpu.push_back(number_or_null(p.cpu_cores));
            mem.push_back(number_or_null(p.memory_bytes));
        }
    }
    const std::size_t n = start.size();
    return {{"service", service},         {"points", n},
            {"start", std::move(start)},  {"window_seconds", std::move(secs)},
            {"requests_per_second", std::move(rps)}, {"error_ratio", std::move(err)},
            {"p50_seconds", std::move(p50)}, {"p95_seconds", std::move(p95)}, {"p99_seconds", std::move(p99)},
            {"cpu_cores", std::move(cpu)}, {"memory_bytes", std::move(mem)}};
}

HttpResponse timeline_response(const Timeline* timeline, const std::string& query) {
    constexpr const char* kText = "text/plain; charset=utf-8";
    if (!timeline) return {503, kText, "no timeline: detection is off (detection.enabled: false)\n"};
    std::map<std::string, std::string> text;
    std::map<std::string, double> num;
    if (auto bad = parse_query(query, ",service,points,", [](const std::string& k) { return k == "points"; }, text,
                               num))
        return *bad;
    const auto limit = num.count("points") ? static_cast<std::size_t>(std::min(num["points"], 1e6)) : SIZE_MAX;
    // Service names are kernel bytes (comm): repair, never throw.
    auto dump = [](const nlohmann::json& j) {
        return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    };
    if (!text.count("service")) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& name : timeline->services())
            list.push_back({{"service", name}, {"points", timeline->series(name)->size()}});
        return {200, "application/json",
                dump({{"services", std::move(list)}, {"services_refused", timeline->services_refused()}})};
    }
    const std::string& service = text["service"];
    if (!timeline->series(service)) return {404, kText, "no timeline for service '" + service + "'\n"};
    return {200, "application/json", dump(timeline->to_json(service, limit))};
}

} // namespace homeostat::agent
