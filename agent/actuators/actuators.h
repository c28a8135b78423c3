// The one entry point for healing on the host: picks the actuator for an Action's kind
// (cgroup limits, config file, restart) and owns the configuration they share.
//   Actuators act(config);
//   auto text = act.plan(action, target);   // what would happen (dry-run, audit)
//   auto change = act.apply(action, target); // Action::dry_run: the plan, nothing changed
//   act.revert(*change, target);            // the verification window undoes it
// apply() and revert() may run commands (bounded by command_timeout, a restart by signal
// also by stop_wait): call them off the ring-buffer thread.
#pragma once

#include <utility>

#include "agent/actuators/actuator.h"
#include "agent/actuators/actuator_config.h"
#include "agent/actuators/cgroup_actuator.h"
#include "agent/actuators/config_file_actuator.h"
#include "agent/actuators/restart_actuator.h"

namespace homeostat::agent::actuators {

class Actuators : public Actuator {
public:
    explicit Actuators(ActuatorConfig cfg);
    Actuators(const Actuators&) = delete; // the actuators hold a reference to cfg_
    Actuators& operator=(const Actuators&) = delete;

    Result<std::string> plan(const engine::policy::Action& a, const ServiceTarget& t) const override;
    // With a.dry_run: checks and plans only; Change::summary is "dry run: <plan>" and
    // before/after/commands stay empty.
    Result<Change> apply(const engine::policy::Action& a, const ServiceTarget& t) override;
    // By Change::kind. A dry-run Change reverts to nothing; a restart is an error.
    Result<void> revert(const Change& c, const ServiceTarget& t) override;

    const ActuatorConfig& config() const { return cfg_; }

private:
    const Actuator& for_kind(engine::policy::ActionKind k) const;
    Actuator& for_kind(engine::policy::ActionKind k) {
        return const_cast<Actuator&>(std::as_const(*this).for_kind(k));
    }

    ActuatorConfig cfg_;
    CgroupActuator cgroup_;
    ConfigFileActuator files_;
    RestartActuator restart_;
};

} // namespace homeostat::agent::actuators
