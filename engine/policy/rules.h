// Healing policy as data: which anomaly on which service leads to which action, with the
// guardrails around it. The agent parses the `healing:` section of its YAML, converts it
// to JSON and calls parse_policy(); every error names the exact field
// ("healing.rules[2].action.max: must be > min"). docs/healing.md shows the shape.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/result.h"
#include "engine/detect/hysteresis.h"
#include "engine/policy/action.h"

namespace homeostat::engine::policy {

enum class Priority : std::uint8_t { low, normal, high };
const char* to_string(Priority p);
bool parse_priority(const std::string& name, Priority& out);

// How an action's value follows from the current one.
enum class Op : std::uint8_t {
    raise_pct, // current × (1 + amount/100)
    lower_pct, // current × (1 − amount/100)
    set,       // amount
    restart,   // kind must be restart
    config,    // kind must be config_file: target + vars
};
const char* to_string(Op op);

// What the service must look like for the rule to apply. Empty fields match anything.
struct RuleMatch {
    std::string anomaly;                        // anomaly type ("memory_growth")
    std::vector<std::string> services;          // globs ("api", "web-*"); empty: any service
    detect::Severity min_severity = detect::Severity::warning;
    std::optional<Priority> priority;           // only services of this priority
    // ... and only while another service (of while_priority, if set) has this anomaly open.
    std::string while_anomaly;
    std::optional<Priority> while_priority;
};

struct RuleAction {
    ActionKind kind = ActionKind::cpu_quota;
    Op op = Op::set;
    double amount = 0; // percent for *_pct, the value for set
    double min = 0;    // bounds of the resulting value (0: none)
    double max = 0;
    std::string target;                      // config_file
    std::map<std::string, std::string> vars; // config_file
    // restart on memory_growth: wait until the predicted exhaustion is this close
    // (seconds_to_exhaustion <= lead), so a restart happens before the OOM, not at once.
    double before_exhaustion_seconds = 0;    // 0: at once
};

// After an action: did `signal` on `service` improve within window_seconds?
struct VerifySpec {
    double window_seconds = 0; // 0: the guardrails' default
    // "anomaly" (the triggering anomaly type is no longer open), "latency_p99",
    // "error_ratio", "cpu_utilisation", "memory_utilisation"; "" : by anomaly type.
    std::string signal;
    std::string service = "self"; // "self" or "peer" (the while_anomaly's service)
    double min_improvement = 0;   // fraction: improved iff now <= baseline × (1 − this)
    bool rollback = true;         // undo the action when it did not help
};

struct Rule {
    std::string name;
    RuleMatch match;
    RuleAction action;
    std::optional<RuleAction> fallback; // "else": when action can make no change (at its bound)
    std::optional<bool> dry_run;        // unset: the global setting (restarts: dry until enabled)
    double cooldown_seconds = -1;       // < 0: the guardrails' default
    VerifySpec verify;
};

struct Bounds {
    double min = 0;
    double max = 0; // 0: none
};

struct GuardrailConfig {
    bool dry_run = false;            // global: nothing executes
    bool restarts_enabled = false;   // restarts are dry-run until this (or a rule's dry_run: false)
    double cooldown_seconds = 300;   // per (service, action kind)
    std::uint32_t max_actions_per_service_per_hour = 6;
    std::uint32_t restart_budget = 3;           // this many restarts ...
    double restart_budget_window_seconds = 1800; // ... within this: stop acting on the service
    double verify_seconds = 120;
    // Absolute bounds per kind, applied after the rule's own; defaults in default_bounds().
    std::map<ActionKind, Bounds> bounds;
};
std::map<ActionKind, Bounds> default_bounds();

struct PolicyConfig {
    bool enabled = false;
    GuardrailConfig guardrails;
    std::vector<Rule> rules;
    std::map<std::string, Priority> priorities; // service → priority; others: normal
    Priority priority_of(const std::string& service) const;
};

// `where` prefixes every error message ("healing"). Sizes may be numbers or strings with
// a unit ("2GiB", "512MiB", "1.5G"); durations numbers of seconds or "30s", "5m", "1h".
Result<PolicyConfig> parse_policy(const nlohmann::json& j, const std::string& where = "healing");

// One value as parse_policy() reads it, for the other parsers of `healing:`: a size
// (bytes, or "512MiB", "2GiB", "1.5G") or a duration in seconds (a number, or "250ms",
// "30s", "5m", "1h", "1d"; >= 0). Errors are "path: what".
Result<double> parse_size(const nlohmann::json& v, const std::string& path);
Result<double> parse_seconds(const nlohmann::json& v, const std::string& path);

// Shell-style glob: '*' any run, '?' one character.
bool glob_match(const std::string& pattern, const std::string& text);

// The default verification signal of an anomaly type ("latency_spike" → "latency_p99").
std::string default_signal(const std::string& anomaly_type);

} // namespace homeostat::engine::policy
