// Actuators carry out engine::policy::Action on the host: cgroup limits (v1 and v2, or
// through systemd for units it owns), config files from templates (atomic, with a backup
// and a reload that rolls back on failure), and restarts (systemd, a command, a signal).
//
// Contract, for every actuator:
//  - plan() says exactly what apply() would do (files, values before → after, commands),
//    without changing anything: that text is what dry-run logs and what the audit keeps;
//  - apply() checks the allow-list, changes the host, and returns what it changed so
//    revert() can put it back (the verification window may undo an action);
//  - errors are values (Result) that say what failed, why and what to do; a service or
//    cgroup that vanished mid-action is an error, never a crash;
//  - nothing outside the allow-lists in ActuatorConfig is ever written.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/result.h"
#include "engine/policy/action.h"

namespace homeostat::agent::actuators {

// Where a service lives on the host (from identity and process health).
struct ServiceTarget {
    std::string service;
    std::string cgroup_v2_dir;                 // absolute cgroup v2 directory, "" if none
    std::map<std::string, std::string> v1_dirs; // controller ("cpu", "memory", "pids") → absolute dir
    std::string systemd_unit;                  // "nginx.service" when systemd owns the cgroup
    int main_pid = 0;                          // 0 if unknown
};

// What apply() changed: enough to revert and to audit.
struct Change {
    // The action's kind (added with the actuators): Actuators::revert picks the actuator by it.
    engine::policy::ActionKind kind = engine::policy::ActionKind::cpu_quota;
    std::string summary;                       // "memory.high of web.service: 512 MiB → 614 MiB"
    std::map<std::string, std::string> before; // file or setting → previous content ("" = absent)
    std::map<std::string, std::string> after;
    std::vector<std::string> commands;         // commands run (reload, systemctl, restart)
};

class Actuator {
public:
    virtual ~Actuator() = default;
    virtual Result<std::string> plan(const engine::policy::Action& a, const ServiceTarget& t) const = 0;
    virtual Result<Change> apply(const engine::policy::Action& a, const ServiceTarget& t) = 0;
    virtual Result<void> revert(const Change& c, const ServiceTarget& t) = 0;
};

} // namespace homeostat::agent::actuators
