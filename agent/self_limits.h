// The daemon bounds itself: at start it moves into a child cgroup of its own cgroup with a
// memory limit and a CPU quota, so that a runaway homeostatd (a leak, a storm of events)
// is throttled or OOM-killed in its own box instead of starving the services it watches.
// Under systemd the unit's MemoryMax=/CPUQuota= already do this; that is detected and
// reported, nothing is created. Roots are injectable: unit tests use fake cgroupfs trees.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/result.h"

namespace homeostat::agent {

struct SelfLimitsConfig {
    bool enabled = true;
    std::uint64_t memory_max_bytes = 256ull << 20; // 0: no memory limit
    double cpu_quota_cores = 0.5;                  // 0: no CPU limit (1.0 = one core)
    bool operator==(const SelfLimitsConfig&) const = default;
};

// "268435456", "256MiB", "512M", "1GiB", "64KiB" → bytes.
Result<std::uint64_t> parse_byte_size(const std::string& text);
// "50%" → 0.5 cores, "150%" → 1.5; a plain number is cores ("0.5").
Result<double> parse_cpu_quota(const std::string& text);

// Where to look; the defaults are the real host.
struct SelfLimitsHost {
    std::string mountinfo = "/proc/self/mountinfo";
    std::string proc_cgroup = "/proc/self/cgroup";
    pid_t pid = 0;                 // 0: getpid()
    std::string invocation_id;     // $INVOCATION_ID (systemd sets it for a unit's processes)
    static SelfLimitsHost current();
};

// The child cgroup the daemon creates beneath its own: "homeostatd.<pid>.self", one per
// daemon, so that two daemons started from one cgroup (tests, a second instance) never
// share limits or remove each other's. Empty leftovers of killed daemons are removed at
// start (rmdir fails on a cgroup that still has processes).
std::string self_cgroup_name(pid_t pid);
bool is_self_cgroup_name(const std::string& name);

struct SelfLimitsState {
    // "off" (self_limits.enabled: false), "systemd" (the unit bounds us), "cgroup v2",
    // "cgroup v1", or "none" (nothing could be applied; `detail` says why).
    std::string mode = "none";
    bool applied = false;
    std::string detail;                     // one line for the log and the API
    std::vector<std::string> cgroups;       // directories the daemon moved into
    std::vector<std::string> created;       // of those, the ones it created (removed at exit)
    std::vector<std::string> return_procs;  // cgroup.procs files of the original cgroups
    std::vector<std::pair<std::string, std::string>> moves; // (original dir, self dir) per hierarchy
    std::uint64_t memory_max_bytes = 0;     // applied (0: none)
    double cpu_quota_cores = 0;             // applied (0: none)
    nlohmann::json to_json() const;
};

// Applies the limits (never fails the daemon: what could not be done is in `detail`).
SelfLimitsState apply_self_limits(const SelfLimitsConfig& config, const SelfLimitsHost& host);

// At exit: moves the daemon back to its original cgroups and removes what it created.
// Returns what could not be removed (a command the daemon started may still be inside).
std::vector<std::string> release_self_limits(SelfLimitsState& state, pid_t pid);

// apply_self_limits() at construction, release_self_limits() on every way out of main().
class SelfLimitsGuard {
public:
    SelfLimitsGuard(const SelfLimitsConfig& config, const SelfLimitsHost& host);
    ~SelfLimitsGuard();
    SelfLimitsGuard(const SelfLimitsGuard&) = delete;
    SelfLimitsGuard& operator=(const SelfLimitsGuard&) = delete;
    const SelfLimitsState& state() const { return state_; }

private:
    SelfLimitsState state_;
};

// For processes the daemon starts (healing commands, restarts): they belong to the host,
// not to the daemon's box. register_self_limits() tells where the daemon came from (the
// guard does it); a no-op when nothing was applied.
void register_self_limits(const SelfLimitsState& state);

// Around one spawn: on cgroup v1 the spawning thread alone steps back into the original
// cgroups (`tasks`), so the child is born there, and returns afterwards; nothing races
// with the child. On v2 (no per-thread moves outside threaded cgroups) spawned() moves
// the child right after the spawn, which a command that moves itself within microseconds
// could race with (docs/hardening.md). One spawn at a time (a mutex is held).
class SelfLimitsSpawn {
public:
    SelfLimitsSpawn();
    ~SelfLimitsSpawn();
    SelfLimitsSpawn(const SelfLimitsSpawn&) = delete;
    SelfLimitsSpawn& operator=(const SelfLimitsSpawn&) = delete;
    void spawned(pid_t child);

private:
    std::vector<std::pair<std::string, std::string>> moved_;   // (original dir, self dir)
    std::vector<std::string> not_moved_;                       // original dirs (v2)
};

} // namespace homeostat::agent
