// From open anomalies and the services' current figures to decisions: which action, on
// which service, executed, dry-run, deferred or refused (and why), with the evidence.
// Then, for each action the agent applied, a verification window: did the watched signal
// improve? If not, a rollback decision (the agent undoes the change with the actuator's
// revert()). Every decision is an audit record (to_json); the agent persists them.
//
// Pure: time is a parameter, the host is not touched. State (guardrail budgets and
// cooldowns, pending verifications, the id counter) saves to JSON.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/detect/live_monitor.h"
#include "engine/policy/action.h"
#include "engine/policy/guardrails.h"
#include "engine/policy/rules.h"

namespace homeostat::engine::policy {

// One service as the planner sees it; the agent fills it from ServiceHealth (cgroup limits,
// CPU usage) and detection (open anomaly types, latency, errors). 0 means "none/unknown".
struct ServiceState {
    std::string service;
    std::optional<Priority> priority;   // unset: PolicyConfig::priorities, else normal
    double cpu_usage_cores = 0;
    double cpu_quota_cores = 0;         // 0: no quota
    double cpu_weight = 100;            // cgroup v2 weight (v1 shares × 100 / 1024)
    double host_cores = 0;              // for a quota-less service's utilisation
    double memory_bytes = 0;            // usage
    double memory_high_bytes = 0;       // 0: none
    double memory_max_bytes = 0;        // 0: none
    double pids_current = 0;
    double pids_max = 0;                // 0: none
    double latency_p99_seconds = 0;     // server side, latest window: the slowest endpoint's
    std::map<std::string, double> endpoint_p99_seconds; // server endpoints with traffic ("GET /work")
    double error_ratio = 0;             // 5xx ÷ requests, latest window
    std::vector<std::string> open_anomalies; // types open on the service
};

// The value of a verification signal ("latency_p99", "cpu_utilisation", ...; "anomaly":
// 1 when anomaly_type is open on the service, else 0). latency_p99 with an endpoint the
// service has in the window: that endpoint's p99; otherwise the service's.
double signal_value(const ServiceState& s, const std::string& signal, const std::string& anomaly_type,
                    const std::string& endpoint = "");

enum class Verdict : std::uint8_t {
    execute,  // the agent carries out action
    dry_run,  // the agent logs the plan, changes nothing
    refused,  // a guardrail or a bound said no (reason)
    deferred, // not yet (a restart waiting for the predicted exhaustion to come closer)
    verified, // a verification result, for the audit; nothing to do
};
const char* to_string(Verdict v);

struct Decision {
    std::uint64_t id = 0;
    Action action;                 // action.dry_run mirrors verdict == dry_run
    Verdict verdict = Verdict::refused;
    std::string reason;            // refused / deferred: why; verified: the outcome
    std::string evidence;          // what was seen and what follows from it
    double decided_at = 0;
    std::string anomaly_type;      // the trigger ("" for tuner/allocator actions)
    bool critical_alert = false;   // the restart budget is spent (first refusal of a run only)
    // Same verdict (refused or deferred) and same kind of reason as this (rule, service)'s
    // previous decision: an open anomaly asks every window, the log may fold these.
    bool repeat = false;
    std::uint64_t rollback_of = 0; // a rollback: the decision it undoes
    std::uint64_t verified_of = 0; // verified: the decision it judged (its audit record is updated)
    double previous_value = 0;     // the knob before the action (0: no limit was set)
    // Verification (execute only). baseline: the signal when decided; pass it (or a fresher
    // reading) to register_applied().
    std::string verify_signal;
    std::string verify_service;
    std::string verify_anomaly;    // the type the "anomaly" signal watches
    // The endpoint the triggering anomaly (or the peer's) is on, "" for the whole service:
    // a service's other endpoints must not decide whether a fix for this one helped.
    std::string verify_endpoint;
    double verify_seconds = 0;
    double min_improvement = 0;
    bool rollback = true;
    double baseline = 0;
    // The signal in each window that began in the second half of the verification window;
    // the verdict takes their median, so one noisy window neither confirms nor undoes an action.
    std::vector<double> samples;
    bool improved = false;         // verified: the outcome
};

nlohmann::json to_json(const Decision& d); // the audit record

class Planner {
public:
    explicit Planner(PolicyConfig config);

    // Every open anomaly in `anomalies` (resolved ones are ignored) is matched against the
    // rules; one decision per (rule, service) per call, in rule order. Decisions that are
    // refused come back too: the audit wants every candidate.
    std::vector<Decision> on_anomalies(const std::vector<detect::Anomaly>& anomalies,
                                       const std::vector<ServiceState>& services, double now);

    // An action not from a rule (tuner, allocator) through the same guardrails: dry-run if
    // the global dry_run or a.dry_run is set; cooldown_seconds < 0: the default.
    Decision decide(Action a, const std::string& evidence, double now, double cooldown_seconds = -1);

    // The agent applied decision `decision_id` (verdict execute): start its verification
    // window. False for an unknown id or one that was not to be executed.
    bool register_applied(std::uint64_t decision_id, double baseline, double now);

    // Call once per aggregation window (`services`: the window that ended at `now`, of
    // `window_seconds`). Each pending verification takes a sample of its signal from every
    // window that began in the second half of its verification window (the first half lets
    // the change take effect); when its verification window has
    // ended it is judged on the median of those samples (the latest reading if there are
    // none): a `verified` decision when the signal improved (or nothing can be undone),
    // else a rollback decision (verdict execute) with rollback_of set. A service missing
    // from `services` gives no sample and is not judged: its verification waits (bounded
    // by max_pending).
    std::vector<Decision> verify(const std::vector<ServiceState>& services, double now, double window_seconds = 0);

    std::size_t pending_verifications() const { return pending_.size(); }
    const Guardrails& guardrails() const { return guard_; }
    const PolicyConfig& config() const { return config_; }

    nlohmann::json save() const;
    void load(const nlohmann::json& j); // throws nlohmann::json::exception on a bad document

    static constexpr std::size_t max_pending = 1024; // decisions awaiting apply or verification

private:
    Decision plan_rule(const Rule& rule, const detect::Anomaly& a, const ServiceState& s, const std::string& peer,
                       const std::string& peer_endpoint, double now);
    void finish(Decision& d, double cooldown_seconds, double now);

    PolicyConfig config_;
    Guardrails guard_;
    std::uint64_t next_id_ = 1;
    std::map<std::pair<std::string, std::string>, std::string> last_refusal_; // (rule, service) → kind
    std::deque<Decision> proposed_;              // executable, not yet registered
    std::map<std::uint64_t, Decision> pending_;  // applied, in their window (decided_at: applied at)
};

} // namespace homeostat::engine::policy
