// The `healing:` section of the configuration (docs/healing.md): the policy (rules,
// guardrails, priorities: engine/policy parses those), what the actuators may touch
// (cgroups, units, files, restart methods: agent/actuators), and which services' upstream
// calls the tuner writes resilience settings for.
//
// Built-in default (no `healing:` section): enabled, in dry-run, with the default rules
// (default_rules_json()), and nothing allowed to be written: the daemon logs and records
// what it would do and changes nothing.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/actuators/actuator_config.h"
#include "agent/result.h"
#include "engine/policy/load_balancer.h"
#include "agent/strategies_config.h"
#include "engine/policy/rules.h"
#include "engine/policy/tuner.h"

namespace homeostat::agent {

// The tuner writes the settings of `service`'s calls to `upstream` through the configured
// file `file` (healing.files[].name), as template variables timeout_ms, timeout_s,
// max_retries, circuit_breaker_threshold, bulkhead_max_concurrent and upstream.
struct TuningTarget {
    std::string service;  // glob
    std::string upstream; // glob over "address:port"; "" or "*": any
    std::string file;
    bool dry_run = false; // this target only shows what it would write (the global dry_run still applies)
};

struct HealingConfig {
    engine::policy::PolicyConfig policy;
    actuators::ActuatorConfig actuators;
    engine::policy::TunerConfig tuner;
    std::vector<TuningTarget> tuning;
    std::vector<engine::policy::LoadBalancingGroup> load_balancing; // healing.load_balancing
    CpuSharingConfig cpu_sharing;    // healing.cpu_sharing (agent/strategies_config.h)
    RecommenderSettings recommender; // healing.recommender
    std::string source = "built-in defaults"; // or "healing section"

    HealingConfig(); // the built-in default above
};

// The rules used when the section has none: memory_growth → memory.high +20 % (else a
// restart shortly before the predicted exhaustion), a low-priority service saturating
// its CPU while a high-priority one has a latency spike → its CPU quota -30 %.
const nlohmann::json& default_rules_json();

// From the section as JSON (agent/yaml_json). Every error is one line that starts with the
// dotted key it is about ("healing.files[0].path: must be absolute"), several joined
// with '\n'.
Result<HealingConfig> parse_healing(const nlohmann::json& j);

} // namespace homeostat::agent
