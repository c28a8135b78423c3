// Healing's load-balancing step (engine/policy/load_balancer.h): the balancer's proposals go
// through the planner's guardrails like the tuner's, and are audited and carried out by
// Healing::handle.
#include "agent/healing.h"

#include <spdlog/spdlog.h>

namespace homeostat::agent {

void Healing::balance(const std::vector<engine::EndpointWindow>& window,
                      const std::vector<exporters::ServiceHealth>& health, double now) {
    for (auto& p : balancer_.observe(window, now)) {
        const auto& group = balancer_.groups()[p.group];
        const engine::policy::Decision d = planner_.decide(p.action, p.evidence, now, group.cooldown_seconds);
        using engine::policy::Verdict;
        // Only what is written (or shown as a dry-run) counts as current: a refusal is asked again.
        if (d.verdict != Verdict::execute && d.verdict != Verdict::dry_run) balancer_.forget(p.group);
        if (store_) {
            TunedRecord t;
            t.at = now;
            t.service = d.action.service;
            t.target = group.file;
            t.settings = p.detail.dump();
            t.applied = d.verdict == Verdict::execute;
            t.reason = std::string(to_string(d.verdict)) + ": " + p.evidence;
            if (auto r = store_->add_tuned(t); !r) spdlog::warn("healing: {}", r.error().message);
        }
        handle(d, health, now);
    }
}

} // namespace homeostat::agent
