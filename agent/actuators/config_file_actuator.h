// Configured files rendered from {{var}} templates (ActuatorConfig::files, the only paths
// it writes). apply(): render → back up the current file (ConfigFileSpec::backup_path)
// → write atomically → run the check → reload (command or signal). A failed check or
// reload puts the previous content back atomically (and reloads again after a failed
// reload); the error says which step failed and what was restored. A rendering error
// leaves the file untouched.
#pragma once

#include "agent/actuators/actuator.h"
#include "agent/actuators/actuator_config.h"

namespace homeostat::agent::actuators {

class ConfigFileActuator : public ConfiguredActuator {
public:
    using ConfiguredActuator::ConfiguredActuator;
    // "config file <name> <path>: -old line / +new line ...; check `...`; reload `...`".
    Result<std::string> plan(const engine::policy::Action& a, const ServiceTarget& t) const override;
    Result<Change> apply(const engine::policy::Action& a, const ServiceTarget& t) override;
    // Writes Change::before back to each configured path ("" = the file was absent:
    // removed), then reloads.
    Result<void> revert(const Change& c, const ServiceTarget& t) override;
};

} // namespace homeostat::agent::actuators
