// Cgroup limits: cpu_quota, cpu_weight, memory_high, memory_max, pids_max.
//  - cgroup v2 when the service's v2 directory has the file (controller enabled):
//    cpu.max "<quota> <period>", cpu.weight, memory.high, memory.max, pids.max;
//  - else cgroup v1: cpu.cfs_quota_us (period from cpu.cfs_period_us), cpu.shares
//    (weight * 1024 / 100), memory.soft_limit_in_bytes (memory_high),
//    memory.limit_in_bytes, pids.max;
//  - a ServiceTarget with systemd_unit goes through `systemctl set-property --runtime`
//    (CPUQuota=N%, CPUWeight, MemoryHigh, MemoryMax, TasksMax): systemd is the single
//    writer of its units' cgroups.
// Action::value <= 0 lifts the limit ("max", -1, "infinity"); cpu_weight must be 1..10000.
// apply() reads the current value (Change::before), writes, and reads back (the kernel
// rounds memory to pages): Change::after is what the kernel reports.
#pragma once

#include "agent/actuators/actuator.h"
#include "agent/actuators/actuator_config.h"
#include "agent/cgroup_limits.h"

namespace homeostat::agent::actuators {

class CgroupActuator : public ConfiguredActuator {
public:
    using ConfiguredActuator::ConfiguredActuator;
    Result<std::string> plan(const engine::policy::Action& a, const ServiceTarget& t) const override;
    Result<Change> apply(const engine::policy::Action& a, const ServiceTarget& t) override;
    // Writes Change::before back (files beneath the allow-list, or set-property again).
    Result<void> revert(const Change& c, const ServiceTarget& t) override;
};

// A target's cgroup directories from the mounts and /proc/<pid>/cgroup (cgroup_limits.h).
ServiceTarget cgroup_target(const std::string& service, const CgroupMounts& mounts, const ProcessCgroups& cg);

// True when `dir` is one of `prefixes` or beneath one, whole components compared after
// resolving "..", "." and symlinks of the parts that exist.
bool path_allowed(const std::string& dir, const std::vector<std::string>& prefixes);

} // namespace homeostat::agent::actuators
