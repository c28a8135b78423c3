// Process and connection health as the daemon runs it: the proc BPF object (optional:
// without it the /proc scan still gives CPU, memory, restarts and limits), the
// per-service roll-up and its two renderings. homeostatd calls poll() on its drain timer
// and the render functions from its router.
#pragma once

#include <memory>
#include <string>

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
    std::size_t attached() const { return capture_ ? capture_->attached() : 0; }

private:
    void fresh();
    exporters::HostHealth host() const;

    ProcessHealth health_;
    std::unique_ptr<ProcCapture> capture_;
};

} // namespace homeostat::agent
