// An Action that really acts (dry_run off), for the actuator tests (unit and bpf).
#pragma once

#include <string>

#include "engine/policy/action.h"

namespace homeostat::agent::actuators::testing {

inline engine::policy::Action action(engine::policy::ActionKind k, double value, const std::string& service) {
    engine::policy::Action a;
    a.kind = k;
    a.value = value;
    a.service = service;
    a.dry_run = false;
    return a;
}

} // namespace homeostat::agent::actuators::testing
