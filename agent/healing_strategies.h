// The two healing strategies that are not rules, run by Healing once per window after the
// rules (docs/healing.md):
//  - the Q-learning CPU allocator (healing.cpu_sharing.strategy: qlearning): the services
//    whose cpu cgroup healing may write get a learnt CPU weight (cpu.weight / cpu.shares);
//    a step per window (engine::policy::QAllocator, exploration from a DeterministicRng),
//    every change through the planner (guardrails, dry-run, bounds, cooldowns) and never
//    one that puts a higher-priority service's weight below a lower-priority one's;
//  - the VPA-style recommender (healing.recommender): every window each live service's CPU
//    cores and memory go into its decaying histograms, every new OOM kill raises its memory
//    floor; the recommendations are served (/api/v1/tuned, /metrics) and, with `apply`,
//    set as memory_high/memory_max and cpu_quota limits through the planner.
// Their state (Q tables, the random source, the histograms) saves with the healing state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/healing_config.h"
#include "engine/policy/planner.h"
#include "engine/policy/qlearning.h"
#include "engine/policy/recommender.h"
#include "exporters/service_health.h"

namespace homeostat::agent {

using Verdict = engine::policy::Verdict;

class HealingStrategies {
public:
    HealingStrategies(const HealingConfig& config, bool systemd_running);

    // Carries an action through the planner and the actuators; returns the verdict.
    using Submit = std::function<Verdict(const engine::policy::Action&, const std::string& evidence,
                                                         double cooldown_seconds)>;

    // One window: `states` as Healing::states() made them (latency, usage, limits).
    // `guard`: the planner's guardrails. A strategy proposes every window by design, so a
    // change its cooldown refuses is not submitted (nor audited); other refusals are, once
    // per kind of reason.
    void evaluate(const std::vector<engine::policy::ServiceState>& states,
                  const std::vector<exporters::ServiceHealth>& health, const engine::policy::Guardrails& guard,
                  const Submit& submit, double now);

    // {"service", "cpu_cores", "memory_bytes", "samples", "memory_from", "current": {...}, ...}
    // per service with a recommendation, by name.
    nlohmann::json recommendations(double now) const;
    // homeostat_recommended_cpu_cores / homeostat_recommended_memory_bytes per service.
    std::string prometheus(double now) const;
    nlohmann::json status() const;

    nlohmann::json save() const;
    void load(const nlohmann::json& j); // a part that does not fit the configuration starts afresh

    const engine::policy::QAllocator& allocator() const { return allocator_; }
    const engine::policy::ResourceRecommender& recommender() const { return recommender_; }

    // Services the recommender keeps histograms for; others beyond it are not tracked.
    static constexpr std::size_t max_services = 2000;

private:
    struct Seen { // the last live figures of a service
        double cpu_cores = 0, cpu_quota_cores = 0;
        double memory_bytes = 0, memory_limit_bytes = 0, memory_high_bytes = 0;
        bool memory_from_cgroup = false;
        std::uint64_t oom_kills = 0;
    };
    // submit() unless the guardrails would refuse it again (see evaluate); execute,
    // dry_run, or refused.
    Verdict offer(const engine::policy::Action& a, const std::string& evidence, double cooldown_seconds);
    void observe(const std::vector<exporters::ServiceHealth>& health, double now);
    void allocate(const std::vector<engine::policy::ServiceState>& states,
                  const std::vector<exporters::ServiceHealth>& health);
    void apply(const std::vector<exporters::ServiceHealth>& health, double now);
    bool writable(const exporters::ServiceHealth& h, const char* controller, const char* v2_file) const;

    CpuSharingConfig cpu_;
    RecommenderSettings rec_;
    std::vector<std::string> cgroup_allow_, unit_allow_;
    engine::policy::PolicyConfig policy_; // priorities
    bool systemd_running_;
    engine::policy::QAllocator allocator_;
    engine::policy::DeterministicRng rng_;
    engine::policy::ResourceRecommender recommender_;
    std::map<std::string, Seen> seen_;
    std::map<std::pair<std::string, engine::policy::ActionKind>, std::string> refused_; // last refusal kind
    // Set for the duration of evaluate().
    const engine::policy::Guardrails* guard_ = nullptr;
    const Submit* submit_ = nullptr;
    double now_ = 0;
    std::uint64_t steps_ = 0, proposed_ = 0, held_by_priority_ = 0, oom_bumps_ = 0, untracked_ = 0;
    double last_reward_ = 0;
};

} // namespace homeostat::agent
