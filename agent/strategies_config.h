// Two parts of the `healing:` section that are strategies rather than rules
// (docs/healing.md): `healing.cpu_sharing` (how CPU is shared between services: the rules
// alone, or the Q-learning allocator on top of them) and `healing.recommender` (VPA-style
// CPU and memory limit recommendations, shown, and optionally applied through the planner).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/policy/action.h"
#include "engine/policy/qlearning.h"
#include "engine/policy/recommender.h"

namespace homeostat::agent {

struct CpuSharingConfig {
    enum class Strategy { rules, qlearning };
    Strategy strategy = Strategy::rules; // rules: the allocator does not run (the default)
    engine::policy::QConfig q;           // alpha, gamma, epsilon, step, weights, latency targets
    std::vector<std::string> services = {"*"}; // globs of the services it may reweigh
    double cooldown_seconds = 60;        // between two weight changes of one service
    bool dry_run = false;                // true: its actions are plans only (else the global setting)
    std::uint64_t seed = 0x9e3779b97f4a7c15ULL; // the exploration's random source
};

struct RecommenderSettings {
    bool enabled = true;  // recommending (shown on /api/v1/tuned and /metrics)
    bool apply = false;   // ... and applied as limits through the planner
    engine::policy::RecommenderConfig config;
    std::vector<std::string> services = {"*"};
    // What an applied recommendation sets: memory as memory_high (throttles) or memory_max
    // (the OOM limit); CPU as a quota. "none" leaves that resource alone.
    bool apply_memory = true;
    engine::policy::ActionKind memory_kind = engine::policy::ActionKind::memory_high;
    bool apply_cpu = true;
    double min_change = 0.1;        // applied only when the limit differs by more than this fraction
    double cooldown_seconds = 3600; // between two changes of one limit of a service
    bool dry_run = false;
};

// `j` is healing.cpu_sharing / healing.recommender as JSON. Errors, one per entry, start
// with the dotted key ("healing.cpu_sharing.alpha: expected a number in (0, 1]").
void parse_cpu_sharing(const nlohmann::json& j, CpuSharingConfig& out, std::vector<std::string>& errors);
void parse_recommender(const nlohmann::json& j, RecommenderSettings& out, std::vector<std::string>& errors);

const char* to_string(CpuSharingConfig::Strategy s);

} // namespace homeostat::agent
