// healing.cpu_sharing and healing.recommender: defaults, every key, every bad value with
// its dotted key, and `config check`'s FILE:LINE:COLUMN for them.
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/config.h"
#include "agent/healing_config.h"

namespace homeostat::agent {
namespace {

using nlohmann::json;

std::string write(const std::string& text) {
    static int n = 0;
    auto p = std::filesystem::temp_directory_path() /
             ("homeostat-strategies-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".yaml");
    std::ofstream(p) << text;
    return p.string();
}

TEST(StrategiesConfig, DefaultsAreRulesAndRecommendingOnly) {
    HealingConfig c;
    EXPECT_EQ(c.cpu_sharing.strategy, CpuSharingConfig::Strategy::rules);
    EXPECT_EQ(c.cpu_sharing.q.alpha, 0.1);
    EXPECT_EQ(c.cpu_sharing.q.gamma, 0.9);
    EXPECT_EQ(c.cpu_sharing.q.epsilon, 0.1);
    EXPECT_EQ(c.cpu_sharing.q.latency_target_seconds, 0.2);
    EXPECT_TRUE(c.recommender.enabled);
    EXPECT_FALSE(c.recommender.apply);
    EXPECT_EQ(c.recommender.config.percentile, 0.9);
    EXPECT_EQ(c.recommender.config.margin, 0.15);
    auto parsed = parse_healing(json::object());
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->cpu_sharing.strategy, CpuSharingConfig::Strategy::rules);
    EXPECT_TRUE(parsed->recommender.enabled);
}

TEST(StrategiesConfig, EveryKey) {
    auto c = parse_healing(json::parse(R"({
      "cpu_sharing": {"strategy": "qlearning", "alpha": 0.5, "gamma": 0.5, "epsilon": 0.3,
                      "latency_target": "50ms", "latency_targets": {"web": "20ms", "api": 0.1},
                      "step_pct": 25, "min_weight": 5, "max_weight": 500, "load_levels": 4,
                      "memory_levels": 2, "priority_weights": {"low": 0.1, "high": 5},
                      "services": ["web*", "batch"], "cooldown": "10s", "dry_run": true, "seed": 42},
      "recommender": {"enabled": true, "apply": true, "percentile": 0.95, "margin": 0.2,
                      "half_life": "1h", "cpu_min": 0.2, "cpu_max": 4, "memory_min": "32MiB",
                      "memory_max": "8GiB", "oom_bump": 1.5, "oom_min_bump": "50MiB",
                      "oom_duration": "2h", "min_samples": 3, "services": "api",
                      "apply_memory_as": "memory_max", "apply_cpu_as": "none", "min_change": 0.05,
                      "cooldown": "30m", "dry_run": true}})"));
    ASSERT_TRUE(c) << c.error().message;
    const auto& s = c->cpu_sharing;
    EXPECT_EQ(s.strategy, CpuSharingConfig::Strategy::qlearning);
    EXPECT_EQ(s.q.alpha, 0.5);
    EXPECT_EQ(s.q.gamma, 0.5);
    EXPECT_EQ(s.q.epsilon, 0.3);
    EXPECT_DOUBLE_EQ(s.q.latency_target_seconds, 0.05);
    EXPECT_DOUBLE_EQ(s.q.latency_targets.at("web"), 0.02);
    EXPECT_DOUBLE_EQ(s.q.latency_targets.at("api"), 0.1);
    EXPECT_EQ(s.q.step_pct, 25);
    EXPECT_EQ(s.q.min_weight, 5);
    EXPECT_EQ(s.q.max_weight, 500);
    EXPECT_EQ(s.q.load_levels, 4u);
    EXPECT_EQ(s.q.memory_levels, 2u);
    EXPECT_EQ(s.q.priority_weights.at(engine::policy::Priority::low), 0.1);
    EXPECT_EQ(s.q.priority_weights.at(engine::policy::Priority::normal), 1); // default kept
    EXPECT_EQ(s.q.priority_weights.at(engine::policy::Priority::high), 5);
    EXPECT_EQ(s.services, (std::vector<std::string>{"web*", "batch"}));
    EXPECT_EQ(s.cooldown_seconds, 10);
    EXPECT_TRUE(s.dry_run);
    EXPECT_EQ(s.seed, 42u);
    const auto& r = c->recommender;
    EXPECT_TRUE(r.apply);
    EXPECT_EQ(r.config.percentile, 0.95);
    EXPECT_EQ(r.config.margin, 0.2);
    EXPECT_EQ(r.config.half_life_seconds, 3600);
    EXPECT_EQ(r.config.cpu_min_cores, 0.2);
    EXPECT_EQ(r.config.cpu_max_cores, 4);
    EXPECT_EQ(r.config.memory_min_bytes, 32.0 * 1048576);
    EXPECT_EQ(r.config.memory_max_bytes, 8.0 * 1073741824);
    EXPECT_EQ(r.config.oom_bump, 1.5);
    EXPECT_EQ(r.config.oom_min_bump_bytes, 50.0 * 1048576);
    EXPECT_EQ(r.config.oom_memory_seconds, 7200);
    EXPECT_EQ(r.config.min_samples, 3u);
    EXPECT_EQ(r.services, std::vector<std::string>{"api"});
    EXPECT_TRUE(r.apply_memory);
    EXPECT_EQ(r.memory_kind, engine::policy::ActionKind::memory_max);
    EXPECT_FALSE(r.apply_cpu);
    EXPECT_EQ(r.min_change, 0.05);
    EXPECT_EQ(r.cooldown_seconds, 1800);
    EXPECT_TRUE(r.dry_run);
}

struct Bad {
    const char* section; // "cpu_sharing" or "recommender"
    const char* json;    // the section's content
    const char* error;   // expected in the message
};

class StrategiesConfigBad : public ::testing::TestWithParam<Bad> {};

TEST_P(StrategiesConfigBad, NamesTheKey) {
    const Bad& b = GetParam();
    auto c = parse_healing(json{{b.section, json::parse(b.json)}});
    ASSERT_FALSE(c) << b.json;
    EXPECT_NE(c.error().message.find(b.error), std::string::npos) << c.error().message;
    EXPECT_EQ(c.error().message.find('\n'), std::string::npos) << "one error expected: " << c.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    EveryKey, StrategiesConfigBad,
    ::testing::Values(
        Bad{"cpu_sharing", R"([1])", "healing.cpu_sharing: expected a mapping"},
        Bad{"cpu_sharing", R"({"stratgy": "rules"})", "healing.cpu_sharing.stratgy: unknown key"},
        Bad{"cpu_sharing", R"({"strategy": "random"})",
            "healing.cpu_sharing.strategy: expected one of rules, qlearning"},
        Bad{"cpu_sharing", R"({"alpha": 0})", "healing.cpu_sharing.alpha: expected a number in (0, 1]"},
        Bad{"cpu_sharing", R"({"alpha": "x"})", "healing.cpu_sharing.alpha: expected a number"},
        Bad{"cpu_sharing", R"({"gamma": 1})", "healing.cpu_sharing.gamma: expected a number in [0, 1)"},
        Bad{"cpu_sharing", R"({"epsilon": 1.5})", "healing.cpu_sharing.epsilon: expected a number in [0, 1]"},
        Bad{"cpu_sharing", R"({"step_pct": 100})", "healing.cpu_sharing.step_pct: expected a number in (0, 100)"},
        Bad{"cpu_sharing", R"({"min_weight": 0})", "healing.cpu_sharing.min_weight: expected a number from 1"},
        Bad{"cpu_sharing", R"({"max_weight": 20000})", "healing.cpu_sharing.max_weight: expected a number from 1"},
        Bad{"cpu_sharing", R"({"min_weight": 500, "max_weight": 100})",
            "healing.cpu_sharing.min_weight: must be <= max_weight"},
        Bad{"cpu_sharing", R"({"load_levels": 0})", "healing.cpu_sharing.load_levels: expected a whole number"},
        Bad{"cpu_sharing", R"({"memory_levels": 2.5})", "healing.cpu_sharing.memory_levels: expected a whole number"},
        Bad{"cpu_sharing", R"({"latency_target": "fast"})", "healing.cpu_sharing.latency_target:"},
        Bad{"cpu_sharing", R"({"latency_target": 0})", "healing.cpu_sharing.latency_target: must be > 0"},
        Bad{"cpu_sharing", R"({"latency_targets": [1]})",
            "healing.cpu_sharing.latency_targets: expected a mapping of service to latency"},
        Bad{"cpu_sharing", R"({"latency_targets": {"web": "1x"}})", "healing.cpu_sharing.latency_targets.web:"},
        Bad{"cpu_sharing", R"({"priority_weights": 1})", "healing.cpu_sharing.priority_weights: expected a mapping"},
        Bad{"cpu_sharing", R"({"priority_weights": {"urgent": 1}})",
            "healing.cpu_sharing.priority_weights.urgent: unknown key"},
        Bad{"cpu_sharing", R"({"priority_weights": {"low": -1}})",
            "healing.cpu_sharing.priority_weights.low: expected a number from 0 to 1000"},
        Bad{"cpu_sharing", R"({"services": []})", "healing.cpu_sharing.services: expected a service name"},
        Bad{"cpu_sharing", R"({"services": ["a", 3]})", "healing.cpu_sharing.services[1]: expected a service name"},
        Bad{"cpu_sharing", R"({"cooldown": "soon"})", "healing.cpu_sharing.cooldown:"},
        Bad{"cpu_sharing", R"({"dry_run": "yes"})", "healing.cpu_sharing.dry_run: expected true or false"},
        Bad{"cpu_sharing", R"({"seed": -1})", "healing.cpu_sharing.seed: expected a whole number >= 0"},
        Bad{"recommender", R"("on")", "healing.recommender: expected a mapping"},
        Bad{"recommender", R"({"percentle": 0.9})", "healing.recommender.percentle: unknown key"},
        Bad{"recommender", R"({"enabled": 1})", "healing.recommender.enabled: expected true or false"},
        Bad{"recommender", R"({"apply": "no"})", "healing.recommender.apply: expected true or false"},
        Bad{"recommender", R"({"enabled": false, "apply": true})", "healing.recommender.apply: needs enabled: true"},
        Bad{"recommender", R"({"percentile": 0})", "healing.recommender.percentile: expected a number in (0, 1]"},
        Bad{"recommender", R"({"margin": -0.1})", "healing.recommender.margin: expected a number from 0 to 10"},
        Bad{"recommender", R"({"half_life": 0})", "healing.recommender.half_life: must be > 0"},
        Bad{"recommender", R"({"cpu_min": -1})", "healing.recommender.cpu_min: expected a number of cores >= 0"},
        Bad{"recommender", R"({"cpu_max": "2"})", "healing.recommender.cpu_max: expected a number of cores"},
        Bad{"recommender", R"({"cpu_min": 2, "cpu_max": 1})", "healing.recommender.cpu_min: must be <= cpu_max"},
        Bad{"recommender", R"({"memory_min": "lots"})", "healing.recommender.memory_min:"},
        Bad{"recommender", R"({"memory_max": "1XB"})", "healing.recommender.memory_max:"},
        Bad{"recommender", R"({"memory_min": "2GiB", "memory_max": "1GiB"})",
            "healing.recommender.memory_min: must be <= memory_max"},
        Bad{"recommender", R"({"oom_bump": 0.5})", "healing.recommender.oom_bump: expected a number from 1 to 100"},
        Bad{"recommender", R"({"oom_min_bump": true})", "healing.recommender.oom_min_bump:"},
        Bad{"recommender", R"({"oom_duration": "0s"})", "healing.recommender.oom_duration: must be > 0"},
        Bad{"recommender", R"({"min_samples": 0})", "healing.recommender.min_samples: expected a whole number"},
        Bad{"recommender", R"({"services": 7})", "healing.recommender.services: expected a service name"},
        Bad{"recommender", R"({"apply_memory_as": "swap"})",
            "healing.recommender.apply_memory_as: expected one of memory_high, memory_max, none"},
        Bad{"recommender", R"({"apply_cpu_as": "cpu_weight"})",
            "healing.recommender.apply_cpu_as: expected one of cpu_quota, none"},
        Bad{"recommender", R"({"min_change": 11})", "healing.recommender.min_change: expected a number from 0 to 10"},
        Bad{"recommender", R"({"cooldown": []})", "healing.recommender.cooldown:"},
        Bad{"recommender", R"({"dry_run": null})", "healing.recommender.dry_run: expected true or false"}));

TEST(StrategiesConfig, ConfigCheckPointsAtTheLineAndColumn) {
    const std::string p = write("healing:\n"                          // 1
                                "  cpu_sharing:\n"                    // 2
                                "    strategy: qlearning\n"           // 3
                                "    alpha: 2\n"                      // 4
                                "    latency_targets: {web: soon}\n"  // 5
                                "  recommender:\n"                    // 6
                                "    margn: 0.2\n"                    // 7
                                "    apply_memory_as: swap\n");       // 8
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    const std::string& m = c.error().message;
    EXPECT_NE(m.find(p + ":4:12: healing.cpu_sharing.alpha: expected a number in (0, 1]"), std::string::npos) << m;
    EXPECT_NE(m.find(p + ":5:28: healing.cpu_sharing.latency_targets.web:"), std::string::npos) << m;
    EXPECT_NE(m.find(p + ":7:12: healing.recommender.margn: unknown key"), std::string::npos) << m;
    EXPECT_NE(m.find(p + ":8:22: healing.recommender.apply_memory_as: expected one of"), std::string::npos) << m;
}

} // namespace
} // namespace homeostat::agent
