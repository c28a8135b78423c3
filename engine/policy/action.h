// What homeostat may do to a service, as plain data: engine/policy decides (pure C++, no
// host), agent/actuators carries it out (the host). This header is the boundary between
// the two; neither side redefines these types.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace homeostat::engine::policy {

enum class ActionKind {
    cpu_quota,   // value: cores (cpu.max quota/period; v1 cfs_quota_us/cfs_period_us)
    cpu_weight,  // value: cgroup v2 weight 1..10000 (v1: shares = weight * 1024 / 100)
    memory_high, // value: bytes (v2 memory.high; v1 memory.soft_limit_in_bytes)
    memory_max,  // value: bytes (v2 memory.max; v1 memory.limit_in_bytes)
    pids_max,    // value: count
    config_file, // target: name of a configured file; vars: template variables
    restart,     // target: "" (the service's configured restart method)
};

const char* to_string(ActionKind k);
// nullopt-free: returns false for an unknown name.
bool parse_action_kind(const std::string& name, ActionKind& out);

struct Action {
    ActionKind kind = ActionKind::cpu_quota;
    std::string service;
    double value = 0;                        // see ActionKind
    std::string target;                      // config_file: the file's configured name
    std::map<std::string, std::string> vars; // config_file: {"timeout_ms": "850", ...}
    std::string rule;                        // the policy rule (or "tuner") that asked
    std::string reason;                      // why, with the evidence, for the audit log
    std::uint64_t anomaly_id = 0;            // 0: not caused by one anomaly
    bool dry_run = true;                     // log exactly what would happen, change nothing
};

} // namespace homeostat::engine::policy
