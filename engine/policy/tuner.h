// Resilience settings of a client towards one upstream, from what homeostat observed of
// that upstream (client side), and load-balancer weights from upstream health.
//
// Formulas (every result clamped to its [min, max] in TunerConfig):
//   timeout_ms    = p99_seconds × 1000 × timeout_margin
//                   (the slowest 1 % plus headroom; a timeout under p99 fails 1 % by design)
//   max_retries   = 0 when error_ratio >= retry_error_ceiling (retrying a failing upstream
//                   multiplies its load); else the fewest retries n with
//                   error_ratio^(n+1) <= target_failure, i.e.
//                   n = ceil(ln(target_failure) / ln(error_ratio)) − 1 (0 when error_ratio
//                   is 0 or already <= target_failure), and, with a latency budget,
//                   at most floor(latency_budget_ms / timeout_ms) − 1 (every attempt may
//                   take a whole timeout).
//   circuit_breaker_threshold = error_ratio × breaker_factor
//                   (error_ratio is the upstream's baseline: the caller passes a long
//                   window, e.g. the last hour; the breaker opens well above normal)
//   bulkhead_max_concurrent  = ceil(rate_per_s × p99_seconds × bulkhead_headroom)
//                   (Little's law L = λ·W with the p99 as W: concurrent calls in flight)
// Tuner::update() adds the state: nothing below min_requests, nothing within the cooldown
// of the last change, and nothing when no setting moved by more than min_change.
//
// Upstream health: EMA of latency and of success ratio per upstream;
//   score  = success_ema × (best latency_ema among upstreams ÷ this latency_ema)
//   weight = round(max_weight × score ÷ best score), at least min_weight (a sick upstream
//            keeps a trickle, so its recovery is seen).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/policy/action.h"

namespace homeostat::engine::policy {

struct UpstreamStats {
    double p99_seconds = 0;  // client-side latency of calls to this upstream
    double error_ratio = 0;  // failed ÷ requests over a long window (the baseline)
    double rate_per_s = 0;   // calls per second
    std::uint64_t requests = 0; // behind these figures
};

struct ResilienceSettings {
    double timeout_ms = 0;
    std::uint32_t max_retries = 0;
    double circuit_breaker_threshold = 0; // error ratio that opens the breaker
    std::uint32_t bulkhead_max_concurrent = 0;
    bool operator==(const ResilienceSettings&) const = default;
};

struct TunerConfig {
    double timeout_margin = 1.5;
    double timeout_min_ms = 50, timeout_max_ms = 30000;
    double target_failure = 0.001;     // retries aim at this end-to-end failure ratio
    double retry_error_ceiling = 0.5;  // at or above: no retries
    double latency_budget_ms = 0;      // 0: none
    std::uint32_t retries_min = 0, retries_max = 3;
    double breaker_factor = 5;
    double breaker_min = 0.05, breaker_max = 0.5;
    double bulkhead_headroom = 2;
    std::uint32_t bulkhead_min = 1, bulkhead_max = 1000;
    std::uint64_t min_requests = 100;
    double cooldown_seconds = 600;
    double min_change = 0.1; // relative change of timeout or breaker that is worth a reload
};

class Tuner {
public:
    explicit Tuner(TunerConfig config = {});

    // The formulas above, no state.
    ResilienceSettings compute(const UpstreamStats& s) const;
    // New settings for (service, upstream), or nullopt (too few requests, cooldown, no
    // meaningful change). A returned value is remembered as current: the cooldown starts.
    std::optional<ResilienceSettings> update(const std::string& service, const std::string& upstream,
                                             const UpstreamStats& s, double now);
    std::optional<ResilienceSettings> current(const std::string& service, const std::string& upstream) const;
    // The settings update() returned could not be written (refused, a failed check or
    // reload): forget them, so the next update() proposes again, without a cooldown.
    void forget(const std::string& service, const std::string& upstream) { current_.erase({service, upstream}); }
    const TunerConfig& config() const { return config_; }

    nlohmann::json save() const;
    void load(const nlohmann::json& j); // throws nlohmann::json::exception on a bad document

private:
    struct Entry {
        ResilienceSettings settings;
        double changed_at = 0;
    };
    TunerConfig config_;
    std::map<std::pair<std::string, std::string>, Entry> current_;
};

// The config_file action that writes `settings` through the configured file `target`:
// vars upstream, timeout_ms, max_retries, circuit_breaker_threshold,
// bulkhead_max_concurrent; rule "tuner". dry_run false: Planner::decide() applies the
// global dry-run and the guardrails.
Action resilience_action(const std::string& service, const std::string& upstream, const ResilienceSettings& settings,
                         const std::string& target);

struct UpstreamHealthConfig {
    double alpha = 0.2; // EMA weight of the newest observation
    double min_weight = 1, max_weight = 100;
};

class UpstreamHealth {
public:
    explicit UpstreamHealth(UpstreamHealthConfig config = {});
    void observe(const std::string& upstream, double latency_seconds, double success_ratio);
    double score(const std::string& upstream) const; // 0 for an unknown one
    // The averages of one upstream: (latency seconds, success ratio); nullopt if unknown.
    std::optional<std::pair<double, double>> averages(const std::string& upstream) const;
    std::map<std::string, std::uint32_t> weights() const;

    nlohmann::json save() const;
    void load(const nlohmann::json& j);

private:
    struct Ema {
        double latency = 0, success = 0;
    };
    UpstreamHealthConfig config_;
    std::map<std::string, Ema> ema_;
};

} // namespace homeostat::engine::policy
