// Process and connection health as the daemon runs it: the proc BPF object (optional:
// without it the /proc scan still gives CPU, memory, restarts and limits), the
// per-service roll-up and its two renderings. homeostatd calls poll() on its drain timer
// and the render functions from its router.
#pragma once

#include <memory>
#include <string>

#include "agent/detection.h"
#include "agent/process_health.h"
#include "agent/proc_capture.h"
#include "engine/snapshot.h"

namespace homeostat::agent {

class HealthMonitor {
public:
    explicit HealthMonitor(ServiceResolver& identity, std::string proc_root = "/proc");

    // Loads and attaches the BPF programs. A failure is logged, never fatal: HTTP capture
    // must not depend on this.
    void start();
    // Drains events; scans /proc at most every scan_interval.
    void poll(std::chrono::milliseconds scan_interval = std::chrono::seconds(5));

    std::string prometheus();                                  // fresh scan, then text
    std::string services_json(const engine::Snapshot& http);  // fresh scan, then JSON
    // Each service's cumulative figures, for detection (cpu_saturation, memory_growth,
    // oom_kill, restart_loop): fresh scan first. Memory is the cgroup's usage when the
    // cgroup has a memory limit (what the limit applies to), else the processes' RSS; the
    // CPU limit is the quota, else the host's online CPUs.
    // The daemon's own service is left out: it is shown (/api/v1/services, /metrics) but
    // neither detected on nor healed: its start-up growth inside its own self_limits is no
    // anomaly, and healing must never act on the agent itself.
    std::vector<ServiceTotals> totals();
    // Every service with its processes, limits and cgroup directories (fresh scan first),
    // the daemon's own included.
    std::vector<exporters::ServiceHealth> snapshot();
    // snapshot() without the daemon's own service: what healing may act on.
    std::vector<exporters::ServiceHealth> others();
    std::size_t attached() const { return capture_ ? capture_->attached() : 0; }

private:
    void fresh();
    exporters::HostHealth host() const;

    ProcessHealth health_;
    std::unique_ptr<ProcCapture> capture_;
};

} // namespace homeostat::agent
