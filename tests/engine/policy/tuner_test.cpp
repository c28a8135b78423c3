// Every resilience formula against a hand-computed answer, its clamping, the tuner's
// cooldown and change threshold, and upstream health weights.
#include "engine/policy/tuner.h"

#include <gtest/gtest.h>

namespace homeostat::engine::policy {
namespace {

UpstreamStats stats(double p99, double errors, double rate, std::uint64_t requests = 1000) {
    return {p99, errors, rate, requests};
}

TEST(TunerFormulas, TimeoutIsP99TimesMarginClamped) {
    Tuner t; // margin 1.5, [50, 30000] ms
    EXPECT_DOUBLE_EQ(t.compute(stats(0.2, 0, 1)).timeout_ms, 300);    // 0.2 s × 1000 × 1.5
    EXPECT_DOUBLE_EQ(t.compute(stats(0.01, 0, 1)).timeout_ms, 50);    // 15 ms → min
    EXPECT_DOUBLE_EQ(t.compute(stats(100, 0, 1)).timeout_ms, 30000);  // 150 s → max
}

TEST(TunerFormulas, RetriesFromErrorRatioAndBudget) {
    Tuner t; // target failure 0.001, ceiling 0.5, at most 3
    // ln(0.001)/ln(0.05) = 6.9078/2.9957 = 2.306 → ceil 3 → 2 retries (0.05³ = 1.25e-4 <= 0.001).
    EXPECT_EQ(t.compute(stats(0.2, 0.05, 1)).max_retries, 2u);
    // ln(0.001)/ln(0.2) = 4.29 → 5 − 1 = 4 → clamped to 3.
    EXPECT_EQ(t.compute(stats(0.2, 0.2, 1)).max_retries, 3u);
    EXPECT_EQ(t.compute(stats(0.2, 0.0005, 1)).max_retries, 0u); // already under the target
    EXPECT_EQ(t.compute(stats(0.2, 0, 1)).max_retries, 0u);
    EXPECT_EQ(t.compute(stats(0.2, 0.6, 1)).max_retries, 0u);    // failing upstream: no retry storm

    TunerConfig c;
    c.latency_budget_ms = 1000; // timeout 300 ms: floor(1000/300) = 3 attempts → 2 retries
    EXPECT_EQ(Tuner(c).compute(stats(0.2, 0.2, 1)).max_retries, 2u);
    c.latency_budget_ms = 500;  // floor(500/300) = 1 attempt → 0 retries
    EXPECT_EQ(Tuner(c).compute(stats(0.2, 0.2, 1)).max_retries, 0u);
}

TEST(TunerFormulas, BreakerIsBaselineTimesFactorClamped) {
    Tuner t; // factor 5, [0.05, 0.5]
    EXPECT_DOUBLE_EQ(t.compute(stats(0.2, 0.02, 1)).circuit_breaker_threshold, 0.1);
    EXPECT_DOUBLE_EQ(t.compute(stats(0.2, 0.001, 1)).circuit_breaker_threshold, 0.05);
    EXPECT_DOUBLE_EQ(t.compute(stats(0.2, 0.2, 1)).circuit_breaker_threshold, 0.5);
}

TEST(TunerFormulas, BulkheadIsLittlesLawWithHeadroom) {
    Tuner t; // headroom 2, [1, 1000]
    EXPECT_EQ(t.compute(stats(0.05, 0, 200)).bulkhead_max_concurrent, 20u); // 200/s × 0.05 s × 2
    EXPECT_EQ(t.compute(stats(0.1, 0, 3)).bulkhead_max_concurrent, 1u);     // ceil(0.6)
    EXPECT_EQ(t.compute(stats(1, 0, 1e5)).bulkhead_max_concurrent, 1000u);  // 2e5 → max
    EXPECT_EQ(t.compute(stats(0.25, 0, 10)).bulkhead_max_concurrent, 5u);   // exactly 5
}

TEST(Tuner, CooldownAndChangeThreshold) {
    Tuner t; // cooldown 600 s, min_change 10 %, min_requests 100
    EXPECT_FALSE(t.update("web", "db", stats(0.2, 0.02, 100, 99), 0)); // too few requests
    auto first = t.update("web", "db", stats(0.2, 0.02, 100), 0);
    ASSERT_TRUE(first);
    EXPECT_DOUBLE_EQ(first->timeout_ms, 300);
    EXPECT_FALSE(t.update("web", "db", stats(0.4, 0.02, 100), 100)); // within the cooldown
    EXPECT_FALSE(t.update("web", "db", stats(0.205, 0.02, 100), 700)); // 2.5 % change: not worth it
    auto second = t.update("web", "db", stats(0.4, 0.02, 100), 700);
    ASSERT_TRUE(second);
    EXPECT_DOUBLE_EQ(second->timeout_ms, 600);
    EXPECT_EQ(t.current("web", "db")->timeout_ms, 600);
    EXPECT_TRUE(t.update("api", "db", stats(0.4, 0.02, 100), 701)); // another pair: its own cooldown

    Tuner loaded;
    loaded.load(t.save());
    EXPECT_EQ(loaded.save(), t.save());
    EXPECT_FALSE(loaded.update("web", "db", stats(1.0, 0.02, 100), 800)); // cooldown survived
}

TEST(Tuner, ActionCarriesTheSettings) {
    ResilienceSettings s{850, 2, 0.1, 20};
    Action a = resilience_action("web", "db:5432", s, "web-resilience");
    EXPECT_EQ(a.kind, ActionKind::config_file);
    EXPECT_EQ(a.target, "web-resilience");
    EXPECT_EQ(a.vars.at("timeout_ms"), "850");
    EXPECT_EQ(a.vars.at("max_retries"), "2");
    EXPECT_EQ(a.vars.at("circuit_breaker_threshold"), "0.1");
    EXPECT_EQ(a.vars.at("bulkhead_max_concurrent"), "20");
    EXPECT_EQ(a.vars.at("upstream"), "db:5432");
    EXPECT_EQ(a.rule, "tuner");
}

TEST(UpstreamHealth, EmaScoresDriveWeights) {
    UpstreamHealth h; // alpha 0.2, weights [1, 100]
    h.observe("a", 0.1, 1.0);
    h.observe("a", 0.2, 1.0); // latency EMA 0.2×0.2 + 0.8×0.1 = 0.12
    h.observe("b", 0.1, 0.5);
    h.observe("c", 0.1, 0.0);
    EXPECT_NEAR(h.score("a"), 0.1 / 0.12, 1e-12); // success 1 × best 0.1 / 0.12
    EXPECT_NEAR(h.score("b"), 0.5, 1e-12);
    auto w = h.weights();
    EXPECT_EQ(w.at("a"), 100u);
    EXPECT_EQ(w.at("b"), 60u); // round(100 × 0.5 / 0.8333)
    EXPECT_EQ(w.at("c"), 1u);  // never 0: recovery must stay visible
    UpstreamHealth loaded;
    loaded.load(h.save());
    EXPECT_EQ(loaded.weights(), w);
}

} // namespace
} // namespace homeostat::engine::policy
