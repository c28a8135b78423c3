// Policy config from JSON (what the agent makes of `healing:` in YAML): the documented
// example parses to the right values, and every mistake is named by its exact path.
#include "engine/policy/rules.h"

#include <gtest/gtest.h>

namespace homeostat::engine::policy {
namespace {

using nlohmann::json;

// The example of docs/healing.md.
json example() {
    return json::parse(R"({
      "enabled": true,
      "guardrails": {"dry_run": false, "restarts_enabled": false, "cooldown_seconds": "5m",
                     "max_actions_per_service_per_hour": 6, "restart_budget": 3,
                     "restart_budget_window_seconds": "30m", "verify_seconds": 120,
                     "bounds": {"cpu_quota": {"min": 0.1}}},
      "priorities": {"api": "high", "batch": "low"},
      "rules": [
        {"name": "api-memory",
         "match": {"anomaly": "memory_growth", "services": ["api"]},
         "action": {"kind": "memory_high", "op": "raise_pct", "amount": 20, "max": "2GiB"},
         "else": {"kind": "restart", "before_exhaustion_seconds": "5m"},
         "cooldown_seconds": 600,
         "verify": {"signal": "anomaly", "window_seconds": "10m"}},
        {"name": "noisy-neighbour",
         "match": {"anomaly": "cpu_saturation", "priority": "low",
                   "while": {"anomaly": "latency_spike", "priority": "high"}},
         "action": {"kind": "cpu_quota", "op": "lower_pct", "amount": 30, "min": 0.2},
         "verify": {"signal": "latency_p99", "service": "peer", "min_improvement": 0.1}}
      ]})");
}

std::string error_of(const json& j) {
    auto r = parse_policy(j);
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.error().message;
}

TEST(PolicyRules, ExampleParses) {
    auto r = parse_policy(example());
    ASSERT_TRUE(r.ok()) << r.error().message;
    const PolicyConfig& c = r.value();
    EXPECT_TRUE(c.enabled);
    EXPECT_DOUBLE_EQ(c.guardrails.cooldown_seconds, 300);
    EXPECT_DOUBLE_EQ(c.guardrails.restart_budget_window_seconds, 1800);
    EXPECT_DOUBLE_EQ(c.guardrails.bounds.at(ActionKind::cpu_quota).min, 0.1);
    EXPECT_DOUBLE_EQ(c.guardrails.bounds.at(ActionKind::cpu_weight).max, 10000); // default kept
    EXPECT_EQ(c.priority_of("api"), Priority::high);
    EXPECT_EQ(c.priority_of("other"), Priority::normal);
    ASSERT_EQ(c.rules.size(), 2u);
    const Rule& mem = c.rules[0];
    EXPECT_EQ(mem.action.kind, ActionKind::memory_high);
    EXPECT_EQ(mem.action.op, Op::raise_pct);
    EXPECT_DOUBLE_EQ(mem.action.max, 2147483648.0);
    ASSERT_TRUE(mem.fallback);
    EXPECT_EQ(mem.fallback->op, Op::restart);
    EXPECT_DOUBLE_EQ(mem.fallback->before_exhaustion_seconds, 300);
    EXPECT_DOUBLE_EQ(mem.verify.window_seconds, 600);
    const Rule& nn = c.rules[1];
    EXPECT_EQ(nn.match.priority, Priority::low);
    EXPECT_EQ(nn.match.while_anomaly, "latency_spike");
    EXPECT_EQ(nn.match.while_priority, Priority::high);
    EXPECT_EQ(nn.verify.service, "peer");
}

TEST(PolicyRules, ErrorsNameTheField) {
    json j = example();
    j["rules"][1]["action"]["max"] = 0.1; // below min 0.2
    EXPECT_EQ(error_of(j), "healing.rules[1].action.max: must be > min");

    j = example();
    j["rules"][0]["cooldwn"] = 5;
    EXPECT_EQ(error_of(j), "healing.rules[0].cooldwn: unknown key");

    j = example();
    j["rules"][0]["action"]["kind"] = "memory_low";
    EXPECT_NE(error_of(j).find("healing.rules[0].action.kind: must be one of"), std::string::npos);

    j = example();
    j["rules"][0]["action"]["max"] = "2 GB of RAM";
    EXPECT_EQ(error_of(j), "healing.rules[0].action.max: unknown unit \"GB of RAM\" in \"2 GB of RAM\"");

    j = example();
    j["rules"][1]["name"] = "api-memory";
    EXPECT_EQ(error_of(j), "healing.rules[1].name: \"api-memory\" is used by an earlier rule");

    j = example();
    j["rules"][1]["match"].erase("while");
    EXPECT_EQ(error_of(j), "healing.rules[1].verify.service: peer needs match.while");

    j = example();
    j["rules"][1]["action"]["amount"] = 100;
    EXPECT_EQ(error_of(j), "healing.rules[1].action.amount: must be in (0, 100) percent");

    j = example();
    j["rules"][0]["action"] = {{"kind", "restart"}, {"op", "raise_pct"}, {"amount", 5}};
    EXPECT_EQ(error_of(j), "healing.rules[0].action.op: restart goes with kind restart, and only with it");

    j = example();
    j["priorities"]["api"] = "urgent";
    EXPECT_EQ(error_of(j), "healing.priorities.api: must be one of high, normal, low");

    j = example();
    j["guardrails"]["restart_budget"] = -1;
    EXPECT_EQ(error_of(j), "healing.guardrails.restart_budget: must be a whole number >= 0");

    j = example();
    j["rules"][0]["match"]["min_severity"] = "info";
    EXPECT_EQ(error_of(j), "healing.rules[0].match.min_severity: must be warning or critical");
}

TEST(PolicyRules, GlobsAndNames) {
    EXPECT_TRUE(glob_match("api", "api"));
    EXPECT_FALSE(glob_match("api", "api2"));
    EXPECT_TRUE(glob_match("web-*", "web-eu"));
    EXPECT_TRUE(glob_match("*", ""));
    EXPECT_TRUE(glob_match("w?b*x", "webbbx"));
    EXPECT_FALSE(glob_match("w?b*x", "wbx"));
    for (ActionKind k : {ActionKind::cpu_quota, ActionKind::cpu_weight, ActionKind::memory_high, ActionKind::memory_max,
                         ActionKind::pids_max, ActionKind::config_file, ActionKind::restart}) {
        ActionKind back{};
        ASSERT_TRUE(parse_action_kind(to_string(k), back));
        EXPECT_EQ(back, k);
    }
    ActionKind k{};
    EXPECT_FALSE(parse_action_kind("cpu", k));
}

} // namespace
} // namespace homeostat::engine::policy
