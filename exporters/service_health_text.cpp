#include "exporters/service_health_text.h"

#include <functional>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "exporters/text_format.h"

namespace homeostat::exporters {
namespace {

using text::append_label_value;
using text::format_value;

void merge_into(ServiceHealth& a, const ServiceHealth& b) {
    a.processes.insert(a.processes.end(), b.processes.begin(), b.processes.end());
    a.cpu_seconds_total += b.cpu_seconds_total;
    a.cpu_usage_cores += b.cpu_usage_cores;
    a.resident_memory_bytes += b.resident_memory_bytes;
    a.restarts += b.restarts;
    a.oom_kills += b.oom_kills;
    a.exits += b.exits;
    a.exits_failed += b.exits_failed;
    a.tcp_retransmits += b.tcp_retransmits;
    a.tcp_resets_sent += b.tcp_resets_sent;
    a.tcp_resets_received += b.tcp_resets_received;
    a.tcp_connect_failures += b.tcp_connect_failures;
}

class Out {
public:
    explicit Out(std::string& s) : s_(s) {}
    void family(std::string_view name, std::string_view type, std::string_view help) {
        s_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }
    // name{service="…"[,k="v"]} value
    void sample(std::string_view name, std::string_view service, double v, std::string_view k = {},
                std::string_view kv = {}, std::string_view k2 = {}, std::string_view kv2 = {}) {
        s_ += name;
        bool first = true;
        auto label = [&](std::string_view n, std::string_view val) {
            s_ += first ? "{" : ",";
            first = false;
            s_ += n;
            s_ += "=\"";
            append_label_value(s_, val);
            s_ += '"';
        };
        if (!service.empty() || k.empty()) label("service", service);
        if (!k.empty()) label(k, kv);
        if (!k2.empty()) label(k2, kv2);
        s_ += "} ";
        s_ += format_value(v);
        s_ += '\n';
    }

private:
    std::string& s_;
};

using Services = std::map<std::string, ServiceHealth>;

// One family with one value per service; services where value() is empty are left out.
void per_service(Out& o, const Services& svcs, std::string_view name, std::string_view type, std::string_view help,
                 const std::function<std::optional<double>(const ServiceHealth&)>& value) {
    bool any = false;
    for (const auto& [svc, h] : svcs) {
        auto v = value(h);
        if (!v) continue;
        if (!any) o.family(name, type, help);
        any = true;
        o.sample(name, svc, *v);
    }
}

template <typename T>
std::optional<double> opt(const std::optional<T>& v) {
    return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt;
}

void pressure_samples(Out& o, std::string_view name, std::string_view service, std::string_view resource,
                      const std::optional<Pressure>& p) {
    if (!p) return;
    auto put = [&](std::string_view kind, double v) {
        if (service.empty()) o.sample(name, {}, v, "resource", resource, "kind", kind);
        else o.sample(name, service, v, "resource", resource, "kind", kind);
    };
    put("some", p->some_avg10);
    if (p->has_full) put("full", p->full_avg10);
}

} // namespace

std::string render_service_health(const std::vector<ServiceHealth>& in, const HostHealth& host) {
    Services svcs;
    for (const auto& h : in) {
        auto [it, added] = svcs.try_emplace(text::valid_utf8(h.service), h);
        if (!added) merge_into(it->second, h);
    }
    std::string s;
    s.reserve(512 + svcs.size() * 900);
    Out o(s);
    auto d = [](auto v) { return std::optional<double>(static_cast<double>(v)); };

    per_service(o, svcs, "process_cpu_seconds_total", "counter",
                "CPU time (user + system) of the service's processes, exited ones included, in seconds.",
                [&](auto& h) { return d(h.cpu_seconds_total); });
    per_service(o, svcs, "process_resident_memory_bytes", "gauge",
                "Resident memory of the service's live processes, summed.",
                [&](auto& h) { return d(h.resident_memory_bytes); });
    per_service(o, svcs, "homeostat_service_processes", "gauge", "Live processes of the service.",
                [&](auto& h) { return d(h.processes.size()); });
    per_service(o, svcs, "homeostat_service_restarts_total", "counter",
                "Times the service's main process exited and a new one started.",
                [&](auto& h) { return d(h.restarts); });
    per_service(o, svcs, "homeostat_oom_kills_total", "counter",
                "Processes of the service the kernel's OOM killer chose as victims.",
                [&](auto& h) { return d(h.oom_kills); });

    bool any = false;
    for (const auto& [svc, h] : svcs) {
        if (!any) o.family("homeostat_process_exits_total", "counter",
                           "Processes of the service that ended, by outcome (failure: non-zero code or a signal).");
        any = true;
        o.sample("homeostat_process_exits_total", svc, static_cast<double>(h.exits - h.exits_failed), "outcome",
                 "success");
        o.sample("homeostat_process_exits_total", svc, static_cast<double>(h.exits_failed), "outcome", "failure");
    }

    per_service(o, svcs, "tcp_retransmits_total", "counter", "TCP segments the service's sockets retransmitted.",
                [&](auto& h) { return d(h.tcp_retransmits); });
    any = false;
    for (const auto& [svc, h] : svcs) {
        if (!any) o.family("tcp_resets_total", "counter", "TCP resets on the service's sockets, by direction.");
        any = true;
        o.sample("tcp_resets_total", svc, static_cast<double>(h.tcp_resets_received), "direction", "received");
        o.sample("tcp_resets_total", svc, static_cast<double>(h.tcp_resets_sent), "direction", "sent");
    }
    per_service(o, svcs, "tcp_connect_failures_total", "counter",
                "Outgoing TCP connects of the service that failed (SYN_SENT to CLOSE).",
                [&](auto& h) { return d(h.tcp_connect_failures); });

    per_service(o, svcs, "homeostat_cgroup_memory_limit_bytes", "gauge",
                "Memory limit of the service's cgroup (memory.max or memory.limit_in_bytes); absent when unlimited.",
                [&](auto& h) { return opt(h.cgroup.memory_limit_bytes); });
    per_service(o, svcs, "homeostat_cgroup_memory_high_bytes", "gauge",
                "memory.high of the service's cgroup (v2); absent when unset.",
                [&](auto& h) { return opt(h.cgroup.memory_high_bytes); });
    per_service(o, svcs, "homeostat_cgroup_memory_usage_bytes", "gauge",
                "Memory charged to the service's cgroup (memory.current or memory.usage_in_bytes).",
                [&](auto& h) { return opt(h.cgroup.memory_usage_bytes); });
    per_service(o, svcs, "homeostat_cgroup_memory_limit_utilisation_ratio", "gauge",
                "Memory usage of the service's cgroup divided by its limit.",
                [&](auto& h) { return h.memory_limit_utilisation; });
    per_service(o, svcs, "homeostat_cgroup_cpu_quota_cores", "gauge",
                "CPU quota of the service's cgroup in cores (cpu.max or cfs_quota_us / cfs_period_us); absent when unlimited.",
                [&](auto& h) { return h.cgroup.cpu_quota_cores; });
    per_service(o, svcs, "homeostat_cgroup_cpu_quota_utilisation_ratio", "gauge",
                "CPU used by the service's processes over the last refresh, divided by its cgroup's quota.",
                [&](auto& h) { return h.cpu_quota_utilisation; });
    per_service(o, svcs, "homeostat_cgroup_pids_max", "gauge", "pids.max of the service's cgroup; absent when unlimited.",
                [&](auto& h) { return opt(h.cgroup.pids_max); });

    any = false;
    for (const auto& [svc, h] : svcs) {
        if (!h.cgroup.cpu_pressure && !h.cgroup.memory_pressure) continue;
        if (!any) o.family("homeostat_cgroup_pressure_avg10_ratio", "gauge",
                           "Share of the last 10 s the service's cgroup stalled on a resource (PSI), by kind.");
        any = true;
        pressure_samples(o, "homeostat_cgroup_pressure_avg10_ratio", svc, "cpu", h.cgroup.cpu_pressure);
        pressure_samples(o, "homeostat_cgroup_pressure_avg10_ratio", svc, "memory", h.cgroup.memory_pressure);
    }
    if (host.cpu || host.memory || host.io) {
        o.family("homeostat_host_pressure_avg10_ratio", "gauge",
                 "Share of the last 10 s tasks on this host stalled on a resource (/proc/pressure), by kind.");
        pressure_samples(o, "homeostat_host_pressure_avg10_ratio", {}, "cpu", host.cpu);
        pressure_samples(o, "homeostat_host_pressure_avg10_ratio", {}, "io", host.io);
        pressure_samples(o, "homeostat_host_pressure_avg10_ratio", {}, "memory", host.memory);
    }
    o.family("homeostat_process_events_dropped_total", "counter",
             "Process and TCP events lost because the ring buffer was full.");
    s += fmt::format("homeostat_process_events_dropped_total {}\n", host.events_dropped);
    return s;
}

} // namespace homeostat::exporters
