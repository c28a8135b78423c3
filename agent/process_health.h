// Processes rolled up into services (the same identity as HTTP: ServiceResolver), with
// CPU, memory, restarts, exits, OOM kills, TCP trouble and the service's cgroup limits.
//
// Sources: events from bpf/proc.bpf.c (exec, fork, exit with final CPU time, OOM
// victims, TCP retransmits/resets/failed connects) and a scan of /proc/<pid>/stat at
// each refresh for CPU time and RSS of live processes (exact kernel accounting, no
// per-context-switch BPF cost). Single-threaded: the io_context thread calls everything.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/cgroup_limits.h"
#include "agent/identity.h"
#include "events.h"
#include "exporters/service_health.h"

namespace homeostat::agent {

class ProcessHealth {
public:
    ProcessHealth(ServiceResolver& identity, CgroupMounts mounts, std::string proc_root = "/proc");

    // Handles process and TCP records; returns false for kinds it does not know.
    bool on_record(std::span<const std::byte> bytes);

    // Scans /proc (CPU, RSS, processes that came or went) and re-reads cgroup limits.
    // `now` is monotonic; a second call within min_interval does nothing.
    void refresh(std::chrono::steady_clock::time_point now,
                 std::chrono::milliseconds min_interval = std::chrono::milliseconds(200));

    // Every service seen so far, sorted by name.
    std::vector<exporters::ServiceHealth> snapshot() const;
    std::uint64_t events() const { return events_; }
    std::uint64_t malformed() const { return malformed_; }

private:
    struct Proc {
        std::string service;
        std::string comm;
        double cpu = 0;      // seconds, last sample
        double cpu_base = 0; // cpu when it joined its service (moved by exec)
        std::uint64_t rss = 0;
        std::uint64_t start_ticks = 0; // starttime from /proc/<pid>/stat: oldest = main
        std::uint64_t seen = 0;        // scan generation
    };
    struct Service {
        std::uint32_t main = 0;
        bool main_exited = false; // the main process exited and none is left: next start = restart
        std::size_t live = 0;
        double dead_cpu = 0;      // CPU of processes that exited or left
        double last_cpu_total = 0;
        std::chrono::steady_clock::time_point last_cpu_at{};
        exporters::ServiceHealth h;
        std::string cgroup_text; // /proc/<main>/cgroup when limits were last read
    };

    void on_proc(const hs_proc_event& ev);
    void on_oom(const hs_oom_event& ev);
    void on_tcp(const hs_tcp_event& ev);
    // Adds a process to its service (restart accounting); returns the entry.
    Proc& join(std::uint32_t tgid, const std::string& service, const std::string& comm, double cpu_base);
    // Removes a process: exited (counts for restarts) or moved to another service.
    void leave(std::uint32_t tgid, bool exited, double final_cpu, std::uint32_t exit_code);
    Service& service(const std::string& name);
    std::string service_of_event(std::uint32_t tgid, std::uint64_t cgroup_id, const char* comm);
    bool read_stat(std::uint32_t tgid, Proc& p, std::uint64_t* flags = nullptr);
    std::uint64_t boot_ticks() const; // now, in /proc/<pid>/stat starttime units
    void refresh_limits(Service& s);

    ServiceResolver& identity_;
    CgroupMounts mounts_;
    std::string proc_;
    std::unordered_map<std::uint32_t, Proc> procs_;
    std::unordered_map<std::string, Service> services_;
    std::uint64_t generation_ = 0;
    std::chrono::steady_clock::time_point last_refresh_{};
    double ticks_per_second_ = 100;
    std::uint64_t page_size_ = 4096;
    std::uint64_t events_ = 0, malformed_ = 0;
};

} // namespace homeostat::agent
