// Restarts a service by its configured method (ActuatorConfig::restarts): systemd
// (`systemctl restart UNIT`), a command (argv), or a signal to the main pid (wait up to
// stop_wait for it to exit, then the optional start command). Every command is bounded by
// ActuatorConfig::command_timeout; apply() blocks for up to that (plus stop_wait for a
// signal), so the daemon runs it off the ring-buffer thread. A restart cannot be undone:
// revert() is an error that says so.
#pragma once

#include "agent/actuators/actuator.h"
#include "agent/actuators/actuator_config.h"

namespace homeostat::agent::actuators {

class RestartActuator : public ConfiguredActuator {
public:
    using ConfiguredActuator::ConfiguredActuator;
    Result<std::string> plan(const engine::policy::Action& a, const ServiceTarget& t) const override;
    Result<Change> apply(const engine::policy::Action& a, const ServiceTarget& t) override;
    Result<void> revert(const Change& c, const ServiceTarget& t) override;
};

} // namespace homeostat::agent::actuators
