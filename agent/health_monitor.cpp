#include "agent/health_monitor.h"

#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "agent/cgroup_limits.h"
#include "exporters/service_health_text.h"
#include "exporters/services_json.h"

namespace homeostat::agent {

HealthMonitor::HealthMonitor(ServiceResolver& identity, std::string proc_root)
    : health_(identity, CgroupMounts::from_mountinfo(), std::move(proc_root)) {}

void HealthMonitor::start() {
    auto c = ProcCapture::open([this](std::span<const std::byte> b) { health_.on_record(b); });
    if (!c) {
        spdlog::warn("process health: {}; exits, OOM kills and TCP trouble are not observed (CPU, memory, "
                     "limits and restarts still come from /proc; HTTP capture is unaffected)",
                     c.error().describe());
    } else {
        capture_ = std::move(c.value());
        spdlog::info("process health: {} tracepoints attached", capture_->attached());
    }
    health_.refresh(std::chrono::steady_clock::now());
}

void HealthMonitor::poll(std::chrono::milliseconds scan_interval) {
    if (capture_) capture_->consume();
    health_.refresh(std::chrono::steady_clock::now(), scan_interval);
}

void HealthMonitor::fresh() { poll(std::chrono::milliseconds(200)); }

exporters::HostHealth HealthMonitor::host() const {
    exporters::HostHealth h;
    h.cpu = read_pressure("/proc/pressure/cpu");
    h.memory = read_pressure("/proc/pressure/memory");
    h.io = read_pressure("/proc/pressure/io");
    h.events_dropped = capture_ ? capture_->drops() : 0;
    return h;
}

std::string HealthMonitor::prometheus() {
    fresh();
    return exporters::render_service_health(health_.snapshot(), host());
}

std::string HealthMonitor::services_json(const engine::Snapshot& http) {
    fresh();
    return exporters::render_services_json(health_.snapshot(), host(), http);
}

std::vector<exporters::ServiceHealth> HealthMonitor::snapshot() {
    fresh();
    return health_.snapshot();
}

namespace {
bool is_own(const exporters::ServiceHealth& h) {
    static const auto self = static_cast<std::uint32_t>(::getpid());
    return std::any_of(h.processes.begin(), h.processes.end(), [](const auto& p) { return p.pid == self; });
}
} // namespace

std::vector<exporters::ServiceHealth> HealthMonitor::others() {
    auto all = snapshot();
    std::erase_if(all, is_own);
    return all;
}

std::vector<ServiceTotals> HealthMonitor::totals() {
    static const double cpus = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
    std::vector<ServiceTotals> out;
    for (const auto& h : others()) {
        ServiceTotals t;
        t.service = h.service;
        t.cpu_seconds = h.cpu_seconds_total;
        t.cpu_limit_cores = h.cgroup.cpu_quota_cores.value_or(cpus);
        const bool limited = h.cgroup.memory_limit_bytes.has_value();
        t.memory_limit_bytes = limited ? static_cast<double>(*h.cgroup.memory_limit_bytes) : 0;
        t.memory_bytes = limited && h.cgroup.memory_usage_bytes ? static_cast<double>(*h.cgroup.memory_usage_bytes)
                                                                : static_cast<double>(h.resident_memory_bytes);
        t.oom_kills = h.oom_kills;
        t.restarts = h.restarts;
        out.push_back(std::move(t));
    }
    return out;
}

} // namespace homeostat::agent
