// The limits every action passes before it may run, whatever rule asked for it:
//  - a cooldown per (service, action kind): a second change of the same knob waits;
//  - at most N executed actions per service per rolling hour;
//  - a restart budget: N restarts of a service within M seconds and homeostat stops
//    acting on it at all (a restart loop it cannot fix) and wants a critical alert;
//  - absolute bounds per action kind (clamp()).
// Dry-run actions start the cooldown (so an open anomaly logs one "would do" per cooldown,
// not one per window) but count neither against the hourly cap nor the restart budget:
// they changed nothing. State saves to JSON so a restarted daemon keeps its budgets.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/policy/action.h"
#include "engine/policy/rules.h"

namespace homeostat::engine::policy {

struct GuardVerdict {
    bool allowed = true;
    std::string reason;          // why not, for the audit ("cooldown: 120 s left of 300 s")
    bool critical_alert = false; // the restart budget is spent: a person must look
};

class Guardrails {
public:
    explicit Guardrails(GuardrailConfig config = {});

    // cooldown_seconds < 0: the configured default.
    GuardVerdict check(const Action& a, double cooldown_seconds, double now) const;
    // After a decision: executed (a.dry_run false) or dry-run.
    void record(const Action& a, double now);
    // The kind's absolute bounds (max 0: none).
    double clamp(ActionKind kind, double value) const;
    bool restart_budget_spent(const std::string& service, double now) const;
    const GuardrailConfig& config() const { return config_; }

    nlohmann::json save() const;
    void load(const nlohmann::json& j); // throws nlohmann::json::exception on a bad document

private:
    GuardrailConfig config_;
    std::map<std::pair<std::string, ActionKind>, double> last_;      // cooldowns
    std::map<std::string, std::deque<double>> executed_;             // per service, last hour
    std::map<std::string, std::deque<double>> restarts_;             // per service, budget window
};

} // namespace homeostat::engine::policy
