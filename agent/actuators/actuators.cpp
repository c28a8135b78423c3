#include "agent/actuators/actuators.h"

namespace homeostat::agent::actuators {

using engine::policy::Action;
using engine::policy::ActionKind;

Actuators::Actuators(ActuatorConfig cfg)
    : cfg_(std::move(cfg)), cgroup_(cfg_), files_(cfg_), restart_(cfg_) {}

const Actuator& Actuators::for_kind(ActionKind k) const {
    switch (k) {
    case ActionKind::config_file: return files_;
    case ActionKind::restart: return restart_;
    default: return cgroup_; // cpu_quota, cpu_weight, memory_high, memory_max, pids_max
    }
}

Result<std::string> Actuators::plan(const Action& a, const ServiceTarget& t) const {
    return for_kind(a.kind).plan(a, t);
}

Result<Change> Actuators::apply(const Action& a, const ServiceTarget& t) {
    if (a.service != t.service && !t.service.empty())
        return Error{"action for service " + a.service + " given the target of " + t.service + ": refused"};
    if (!a.dry_run) return for_kind(a.kind).apply(a, t);
    auto p = plan(a, t);
    if (!p) return p.error();
    Change c;
    c.kind = a.kind;
    c.summary = "dry run: " + *p;
    return c;
}

Result<void> Actuators::revert(const Change& c, const ServiceTarget& t) {
    if (c.before.empty() && c.commands.empty()) return {}; // a dry run or a no-op changed nothing
    return for_kind(c.kind).revert(c, t);
}

} // namespace homeostat::agent::actuators
