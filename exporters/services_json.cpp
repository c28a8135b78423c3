#include "exporters/services_json.h"

#include <map>
#include <set>

#include <nlohmann/json.hpp>

namespace homeostat::exporters {
namespace {

using nlohmann::json;

template <typename T>
json opt(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

json pressure(const std::optional<Pressure>& p) {
    if (!p) return nullptr;
    json j = {{"some_avg10", p->some_avg10}, {"some_avg60", p->some_avg60}};
    if (p->has_full) j.update({{"full_avg10", p->full_avg10}, {"full_avg60", p->full_avg60}});
    return j;
}

struct HttpSummary {
    std::uint64_t requests = 0, errors = 0, client_requests = 0;
    double p95 = -1;
};

} // namespace

std::string render_services_json(const std::vector<ServiceHealth>& services, const HostHealth& host,
                                  const engine::Snapshot& http) {
    std::map<std::string, HttpSummary> summary;
    for (const auto& s : http.series) {
        auto& h = summary[s.service];
        if (s.role == engine::Role::client) {
            h.client_requests += s.latency.count;
            continue;
        }
        h.requests += s.latency.count;
        if (s.status >= 500) h.errors += s.latency.count;
    }
    for (const auto& q : http.quantiles)
        if (q.role == engine::Role::server && q.count > 0) {
            auto& h = summary[q.service];
            h.p95 = std::max(h.p95, q.p95);
        }

    std::map<std::string, json> out;
    // Services seen only through HTTP get the same document shape, with zeros.
    std::set<std::string> known;
    for (const auto& s : services) known.insert(s.service);
    std::vector<ServiceHealth> http_only;
    for (const auto& [name, h] : summary)
        if (!known.contains(name)) http_only.push_back(ServiceHealth{.service = name});
    for (const std::vector<ServiceHealth>* list : {&services, static_cast<const std::vector<ServiceHealth>*>(&http_only)}) {
        for (const auto& s : *list) {
        json procs = json::array();
        for (const auto& p : s.processes)
            procs.push_back(json{{"pid", p.pid}, {"comm", p.comm}, {"cpu_seconds", p.cpu_seconds},
                                 {"resident_memory_bytes", p.rss_bytes}, {"main", p.main}});
        const auto& c = s.cgroup;
        out[s.service] = {
            {"service", s.service},
            {"processes", std::move(procs)},
            {"cgroup", {{"path", c.v2_path}, {"memory_path", c.memory_path}, {"limits_from", c.source}}},
            {"limits",
             {{"memory_limit_bytes", opt(c.memory_limit_bytes)}, {"memory_high_bytes", opt(c.memory_high_bytes)},
              {"memory_usage_bytes", opt(c.memory_usage_bytes)}, {"cpu_quota_cores", opt(c.cpu_quota_cores)},
              {"pids_max", opt(c.pids_max)}, {"pids_current", opt(c.pids_current)},
              {"cpu_pressure", pressure(c.cpu_pressure)}, {"memory_pressure", pressure(c.memory_pressure)}}},
            {"cpu", {{"seconds_total", s.cpu_seconds_total}, {"usage_cores", s.cpu_usage_cores},
                     {"quota_utilisation", opt(s.cpu_quota_utilisation)}}},
            {"memory", {{"resident_bytes", s.resident_memory_bytes},
                        {"limit_utilisation", opt(s.memory_limit_utilisation)}}},
            {"restarts", s.restarts},
            {"oom_kills", s.oom_kills},
            {"last_oom_cgroup", s.last_oom_cgroup},
            {"exits", {{"total", s.exits}, {"failed", s.exits_failed}}},
            {"tcp", {{"retransmits", s.tcp_retransmits}, {"resets_sent", s.tcp_resets_sent},
                     {"resets_received", s.tcp_resets_received}, {"connect_failures", s.tcp_connect_failures}}},
        };
        }
    }
    for (const auto& [name, h] : summary) {
        out[name]["http"] = {{"requests", h.requests}, {"errors", h.errors}, {"client_requests", h.client_requests},
                     {"p95_seconds", h.p95 < 0 ? json(nullptr) : json(h.p95)}};
    }
    json list = json::array();
    for (auto& [name, j] : out) {
        if (!j.contains("http"))
            j["http"] = {{"requests", 0}, {"errors", 0}, {"client_requests", 0}, {"p95_seconds", nullptr}};
        list.push_back(std::move(j));
    }
    json doc = {{"services", std::move(list)},
                {"host", {{"cpu_pressure", pressure(host.cpu)}, {"memory_pressure", pressure(host.memory)},
                          {"io_pressure", pressure(host.io)}, {"events_dropped", host.events_dropped}}}};
    // Service names and comms are kernel bytes: repair, never throw.
    return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace homeostat::exporters
