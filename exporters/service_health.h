// Process and connection health per service: plain data filled by the agent
// (agent/process_health) and rendered by exporters (Prometheus text, JSON for the API).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace homeostat::exporters {

// Pressure stall information of one resource: share of time some / all tasks stalled.
struct Pressure {
    double some_avg10 = 0, some_avg60 = 0; // ratios in [0,1] (the kernel prints percent)
    double full_avg10 = 0, full_avg60 = 0;
    bool has_full = false;                 // /proc/pressure/cpu has no "full" on old kernels
    std::uint64_t some_total_us = 0;
};

// Limits and usage of a service's cgroup. Unset optionals: no limit ("max", -1) or file
// absent. Paths are relative to their hierarchy's mount.
struct CgroupLimits {
    std::string v2_path;
    std::string memory_path;                     // v1 memory hierarchy path on hybrid hosts
    std::string source;                          // "v2", "v1" or "v1+v2": where limits came from
    // Absolute directories, for actuators: "v2" → the v2 cgroup, "cpu", "memory", "pids" →
    // the v1 controller cgroups (those the host has).
    std::map<std::string, std::string> dirs;
    std::optional<std::uint64_t> memory_limit_bytes; // memory.max / memory.limit_in_bytes
    std::optional<std::uint64_t> memory_high_bytes;  // memory.high (v2 only)
    std::optional<std::uint64_t> memory_usage_bytes; // memory.current / memory.usage_in_bytes
    std::optional<double> cpu_quota_cores;           // cpu.max / cfs_quota_us ÷ cfs_period_us
    std::optional<double> cpu_weight;                // cpu.weight (v2 scale) / cpu.shares × 100 ÷ 1024
    std::optional<std::uint64_t> pids_max;
    std::optional<std::uint64_t> pids_current;
    std::optional<Pressure> cpu_pressure, memory_pressure; // v2 PSI
};

struct ProcessHealthInfo {
    std::uint32_t pid = 0;
    std::string comm;
    double cpu_seconds = 0;        // utime + stime, whole life
    std::uint64_t rss_bytes = 0;
    bool main = false;             // the process restarts are counted against
};

struct ServiceHealth {
    std::string service;
    std::vector<ProcessHealthInfo> processes; // live ones
    double cpu_seconds_total = 0;             // monotonic: live processes + exited ones
    double cpu_usage_cores = 0;               // rate over the last refresh interval
    std::uint64_t resident_memory_bytes = 0;  // sum over live processes
    std::uint64_t restarts = 0;
    std::uint64_t oom_kills = 0;
    std::uint64_t exits = 0;          // processes that ended
    std::uint64_t exits_failed = 0;   // … with a non-zero code or killed by a signal
    std::string last_oom_cgroup;      // memory cgroup of the last OOM victim, if known
    std::uint64_t tcp_retransmits = 0, tcp_resets_sent = 0, tcp_resets_received = 0,
                  tcp_connect_failures = 0;
    CgroupLimits cgroup;
    // Facts the engine can act on; unset when there is no limit.
    std::optional<double> cpu_quota_utilisation;    // cpu_usage_cores ÷ cpu_quota_cores
    std::optional<double> memory_limit_utilisation; // memory usage ÷ memory limit
};

struct HostHealth {
    std::optional<Pressure> cpu, memory, io; // /proc/pressure
    std::uint64_t events_dropped = 0;        // process/TCP events lost to a full ring buffer
};

} // namespace homeostat::exporters
