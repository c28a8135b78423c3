// The planner end to end on plain data: rules to decisions, every guardrail (cooldown,
// hourly cap, restart budget, dry-run global/per rule/restart default), verification with
// and without rollback, and state that survives save/load.
#include "engine/policy/planner.h"

#include <gtest/gtest.h>

namespace homeostat::engine::policy {
namespace {

using nlohmann::json;
constexpr double GiB = 1073741824.0;

// The rules as a vector, not a json: `config({rule})` with a json parameter is the rule
// itself under clang (a braced list of one T initialises a T from it) and a one-element
// array under g++; a vector is a list under both.
PolicyConfig config(const std::vector<json>& rules, json guardrails = json::object()) {
    json j = {{"enabled", true}, {"priorities", {{"web", "high"}, {"batch", "low"}}}, {"rules", rules},
              {"guardrails", std::move(guardrails)}};
    auto r = parse_policy(j);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r.value() : PolicyConfig{};
}

json memory_rule() {
    return {{"name", "api-memory"},
            {"match", {{"anomaly", "memory_growth"}, {"services", {"api"}}}},
            {"action", {{"kind", "memory_high"}, {"op", "raise_pct"}, {"amount", 20}, {"max", "2GiB"}}},
            {"else", {{"kind", "restart"}, {"before_exhaustion_seconds", 300}}},
            {"cooldown_seconds", 0},
            {"verify", {{"signal", "anomaly"}, {"window_seconds", 300}}}};
}

json noisy_rule() {
    return {{"name", "noisy-neighbour"},
            {"match", {{"anomaly", "cpu_saturation"}, {"priority", "low"},
                       {"while", {{"anomaly", "latency_spike"}, {"priority", "high"}}}}},
            {"action", {{"kind", "cpu_quota"}, {"op", "lower_pct"}, {"amount", 30}, {"min", 0.2}}},
            {"verify", {{"signal", "latency_p99"}, {"service", "peer"}, {"window_seconds", 120}}}};
}

detect::Anomaly anomaly(std::uint64_t id, const std::string& type, const std::string& service,
                        double seconds_to_exhaustion = -1) {
    detect::Anomaly a;
    a.id = id;
    a.type = type;
    a.service = service;
    a.endpoint = "*";
    a.signal = type == "memory_growth" ? "memory" : type == "cpu_saturation" ? "cpu" : "latency_p95";
    a.evidence.seconds_to_exhaustion = seconds_to_exhaustion;
    return a;
}

ServiceState api(double memory_high) {
    ServiceState s;
    s.service = "api";
    s.memory_bytes = 0.9 * memory_high;
    s.memory_high_bytes = memory_high;
    s.open_anomalies = {"memory_growth"};
    return s;
}

std::vector<ServiceState> neighbours(double web_p99) {
    ServiceState web, batch;
    web.service = "web";
    web.latency_p99_seconds = web_p99;
    web.open_anomalies = {"latency_spike"};
    batch.service = "batch";
    batch.cpu_quota_cores = 2;
    batch.cpu_usage_cores = 1.95;
    batch.open_anomalies = {"cpu_saturation"};
    return {web, batch};
}

TEST(Planner, NoisyNeighbourLowersTheLowPriorityQuota) {
    Planner p(config({noisy_rule()}));
    auto d = p.on_anomalies({anomaly(1, "cpu_saturation", "batch"), anomaly(2, "latency_spike", "web")}, neighbours(0.5), 0);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].verdict, Verdict::execute);
    EXPECT_EQ(d[0].action.service, "batch");
    EXPECT_EQ(d[0].action.kind, ActionKind::cpu_quota);
    EXPECT_DOUBLE_EQ(d[0].action.value, 1.4); // 2 cores − 30 %
    EXPECT_DOUBLE_EQ(d[0].previous_value, 2);
    EXPECT_EQ(d[0].verify_service, "web");
    EXPECT_DOUBLE_EQ(d[0].baseline, 0.5);
    EXPECT_EQ(d[0].action.anomaly_id, 1u);
    EXPECT_FALSE(d[0].action.dry_run);
    EXPECT_NE(d[0].evidence.find("while latency_spike on web"), std::string::npos) << d[0].evidence;

    // No latency spike on a high-priority service: batch may use its CPU.
    Planner q(config({noisy_rule()}));
    auto calm = neighbours(0.5);
    calm[0].open_anomalies.clear();
    EXPECT_TRUE(q.on_anomalies({anomaly(1, "cpu_saturation", "batch")}, calm, 0).empty());
    // A saturated high-priority service is not throttled by this rule.
    auto both = neighbours(0.5);
    both[0].open_anomalies.push_back("cpu_saturation");
    EXPECT_TRUE(q.on_anomalies({anomaly(3, "cpu_saturation", "web"), anomaly(2, "latency_spike", "batch")}, both, 0).empty());
}

TEST(Planner, MemoryGrowthRaisesMemoryHighCappedThenRestartsBeforeExhaustion) {
    Planner p(config({memory_rule()}));
    auto d = p.on_anomalies({anomaly(7, "memory_growth", "api", 1800)}, {api(1 * GiB)}, 0);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].verdict, Verdict::execute);
    EXPECT_EQ(d[0].action.kind, ActionKind::memory_high);
    EXPECT_DOUBLE_EQ(d[0].action.value, 1.2 * GiB);

    d = p.on_anomalies({anomaly(7, "memory_growth", "api", 1800)}, {api(1.8 * GiB)}, 10);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_DOUBLE_EQ(d[0].action.value, 2 * GiB); // 2.16 GiB capped at max

    // At the max: the rule's else, a restart, waits until exhaustion is within 300 s ...
    d = p.on_anomalies({anomaly(7, "memory_growth", "api", 1800)}, {api(2 * GiB)}, 20);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].action.kind, ActionKind::restart);
    EXPECT_EQ(d[0].verdict, Verdict::deferred);
    EXPECT_NE(d[0].reason.find("predicted in 1800 s, restarting once within 300 s"), std::string::npos) << d[0].reason;
    EXPECT_FALSE(d[0].repeat);
    d = p.on_anomalies({anomaly(7, "memory_growth", "api", 1500)}, {api(2 * GiB)}, 25);
    EXPECT_EQ(d[0].verdict, Verdict::deferred);
    EXPECT_TRUE(d[0].repeat);
    // ... then restarts, dry-run because restarts are not enabled.
    d = p.on_anomalies({anomaly(7, "memory_growth", "api", 200)}, {api(2 * GiB)}, 30);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].action.kind, ActionKind::restart);
    EXPECT_EQ(d[0].verdict, Verdict::dry_run);
    EXPECT_TRUE(d[0].action.dry_run);
    EXPECT_FALSE(d[0].rollback);

    Planner enabled(config({memory_rule()}, {{"restarts_enabled", true}}));
    d = enabled.on_anomalies({anomaly(7, "memory_growth", "api", 200)}, {api(2 * GiB)}, 30);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].verdict, Verdict::execute);

    json rule = memory_rule();
    rule["dry_run"] = false; // a rule may enable its own restarts
    Planner per_rule(config({rule}));
    EXPECT_EQ(per_rule.on_anomalies({anomaly(7, "memory_growth", "api", 200)}, {api(2 * GiB)}, 30)[0].verdict,
              Verdict::execute);
}

TEST(Planner, DryRunGlobalAndPerRule) {
    Planner global(config({memory_rule()}, {{"dry_run", true}}));
    auto d = global.on_anomalies({anomaly(7, "memory_growth", "api")}, {api(1 * GiB)}, 0);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].verdict, Verdict::dry_run);
    EXPECT_DOUBLE_EQ(d[0].action.value, 1.2 * GiB); // still says what it would do
    EXPECT_FALSE(global.register_applied(d[0].id, 1, 0)); // nothing was applied

    json rule = memory_rule();
    rule["dry_run"] = true;
    Planner per_rule(config({rule, noisy_rule()}));
    d = per_rule.on_anomalies({anomaly(7, "memory_growth", "api"), anomaly(1, "cpu_saturation", "batch"),
                               anomaly(2, "latency_spike", "web")},
                              {api(1 * GiB), neighbours(0.5)[0], neighbours(0.5)[1]}, 0);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].verdict, Verdict::dry_run);  // api-memory
    EXPECT_EQ(d[1].verdict, Verdict::execute);  // noisy-neighbour has no override
}

TEST(Planner, CooldownRefusesThenAllows) {
    json rule = memory_rule();
    rule["cooldown_seconds"] = 300;
    Planner p(config({rule}));
    const std::vector<detect::Anomaly> a = {anomaly(7, "memory_growth", "api")};
    EXPECT_EQ(p.on_anomalies(a, {api(1 * GiB)}, 0)[0].verdict, Verdict::execute);
    auto d = p.on_anomalies(a, {api(1.2 * GiB)}, 100);
    EXPECT_EQ(d[0].verdict, Verdict::refused);
    EXPECT_NE(d[0].reason.find("cooldown"), std::string::npos) << d[0].reason;
    EXPECT_EQ(p.on_anomalies(a, {api(1.2 * GiB)}, 301)[0].verdict, Verdict::execute);
}

TEST(Planner, HourlyCapPerService) {
    Planner p(config({memory_rule()}, {{"max_actions_per_service_per_hour", 2}}));
    const std::vector<detect::Anomaly> a = {anomaly(7, "memory_growth", "api")};
    EXPECT_EQ(p.on_anomalies(a, {api(0.5 * GiB)}, 0)[0].verdict, Verdict::execute);
    EXPECT_EQ(p.on_anomalies(a, {api(0.6 * GiB)}, 10)[0].verdict, Verdict::execute);
    auto d = p.on_anomalies(a, {api(0.7 * GiB)}, 20);
    EXPECT_EQ(d[0].verdict, Verdict::refused);
    EXPECT_NE(d[0].reason.find("hourly cap"), std::string::npos) << d[0].reason;
    EXPECT_FALSE(d[0].critical_alert);
    EXPECT_EQ(p.on_anomalies(a, {api(0.7 * GiB)}, 3601)[0].verdict, Verdict::execute); // the first aged out
}

TEST(Planner, RestartBudgetStopsActingAndWantsAnAlert) {
    json restart = {{"name", "restart-api"},
                    {"match", {{"anomaly", "restart_loop"}, {"services", "api"}}},
                    {"action", {{"kind", "restart"}}},
                    {"dry_run", false},
                    {"cooldown_seconds", 0}};
    Planner p(config({restart, memory_rule()}, {{"restart_budget", 2}, {"restart_budget_window_seconds", 1800}}));
    const std::vector<detect::Anomaly> a = {anomaly(9, "restart_loop", "api")};
    EXPECT_EQ(p.on_anomalies(a, {api(1 * GiB)}, 0)[0].verdict, Verdict::execute);
    EXPECT_EQ(p.on_anomalies(a, {api(1 * GiB)}, 10)[0].verdict, Verdict::execute);
    auto d = p.on_anomalies({anomaly(9, "restart_loop", "api"), anomaly(7, "memory_growth", "api")}, {api(1 * GiB)}, 20);
    ASSERT_EQ(d.size(), 2u);
    for (const auto& x : d) { // no more restarts, and nothing else either
        EXPECT_EQ(x.verdict, Verdict::refused);
        EXPECT_TRUE(x.critical_alert);
        EXPECT_NE(x.reason.find("restart budget spent"), std::string::npos) << x.reason;
    }
    auto again = p.on_anomalies(a, {api(1 * GiB)}, 30); // asked again next window: one alert is enough
    EXPECT_EQ(again[0].verdict, Verdict::refused);
    EXPECT_TRUE(again[0].repeat);
    EXPECT_FALSE(again[0].critical_alert);
    EXPECT_EQ(p.on_anomalies(a, {api(1 * GiB)}, 1801)[0].verdict, Verdict::execute); // the window moved on
}

TEST(Planner, VerificationRollsBackWhenNotImproved) {
    Planner p(config({noisy_rule()}));
    const std::vector<detect::Anomaly> a = {anomaly(1, "cpu_saturation", "batch"), anomaly(2, "latency_spike", "web")};
    auto d = p.on_anomalies(a, neighbours(0.5), 0);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_FALSE(p.register_applied(12345, 0.5, 1));
    ASSERT_TRUE(p.register_applied(d[0].id, d[0].baseline, 1));
    EXPECT_EQ(p.pending_verifications(), 1u);
    EXPECT_TRUE(p.verify(neighbours(0.6), 100).empty()); // window (120 s) still open
    auto r = p.verify(neighbours(0.6), 121);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].verdict, Verdict::execute);
    EXPECT_EQ(r[0].rollback_of, d[0].id);
    EXPECT_EQ(r[0].action.kind, ActionKind::cpu_quota);
    EXPECT_EQ(r[0].action.service, "batch");
    EXPECT_DOUBLE_EQ(r[0].action.value, 2); // back to what it was
    EXPECT_FALSE(r[0].improved);
    EXPECT_NE(r[0].evidence.find("latency_p99 of web: 0.5 → 0.6"), std::string::npos) << r[0].evidence;
    EXPECT_EQ(p.pending_verifications(), 0u);
    EXPECT_TRUE(p.verify(neighbours(0.6), 500).empty()); // judged once
}

TEST(Planner, VerificationKeepsAnImprovement) {
    Planner p(config({noisy_rule()}));
    auto d = p.on_anomalies({anomaly(1, "cpu_saturation", "batch"), anomaly(2, "latency_spike", "web")}, neighbours(0.5), 0);
    ASSERT_TRUE(p.register_applied(d[0].id, d[0].baseline, 0));
    auto r = p.verify(neighbours(0.3), 120);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].verdict, Verdict::verified);
    EXPECT_TRUE(r[0].improved);
    EXPECT_EQ(r[0].rollback_of, 0u);
    EXPECT_EQ(r[0].verified_of, d[0].id); // the agent updates that decision's audit record
    EXPECT_NE(r[0].id, d[0].id);
    EXPECT_EQ(to_json(r[0])["verified_of"], d[0].id);
}

// web serves a fast endpoint that the hog hurts and a slow report that nothing can
// speed up: the service's slowest p99 is the report's, the fix is judged on /fast.
std::vector<ServiceState> two_endpoints(double fast_p99) {
    auto s = neighbours(std::max(fast_p99, 0.9));
    s[0].endpoint_p99_seconds = {{"GET /fast", fast_p99}, {"GET /report", 0.9}};
    return s;
}

TEST(Planner, VerificationJudgesTheEndpointWithTheAnomaly) {
    Planner p(config({noisy_rule()}));
    auto spike = anomaly(2, "latency_spike", "web");
    spike.endpoint = "GET /fast";
    auto d = p.on_anomalies({anomaly(1, "cpu_saturation", "batch"), spike}, two_endpoints(0.5), 0);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].verify_endpoint, "GET /fast");
    EXPECT_DOUBLE_EQ(d[0].baseline, 0.5); // not the report's 0.9
    ASSERT_TRUE(p.register_applied(d[0].id, d[0].baseline, 0));
    auto r = p.verify(two_endpoints(0.2), 120);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].verdict, Verdict::verified); // the service's slowest p99 stayed 0.9
    EXPECT_TRUE(r[0].improved);
    EXPECT_NE(r[0].evidence.find("latency_p99 of web GET /fast: 0.5 → 0.2"), std::string::npos) << r[0].evidence;

    // A window without traffic on the endpoint gives no sample: the report's 0.9 does not
    // stand in for it. With no sample at all, the service's figure is the last resort.
    Planner q(config({noisy_rule()}));
    d = q.on_anomalies({anomaly(1, "cpu_saturation", "batch"), spike}, two_endpoints(0.5), 0);
    ASSERT_TRUE(q.register_applied(d[0].id, d[0].baseline, 0));
    auto quiet = two_endpoints(0.2);
    quiet[0].endpoint_p99_seconds.erase("GET /fast");
    EXPECT_TRUE(q.verify(two_endpoints(0.2), 70).empty());
    EXPECT_TRUE(q.verify(quiet, 80).empty());
    r = q.verify(quiet, 120);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0].improved); // the one sample: 0.2
    EXPECT_EQ(r[0].samples, std::vector<double>{0.2});
    Planner z(config({noisy_rule()}));
    d = z.on_anomalies({anomaly(1, "cpu_saturation", "batch"), spike}, two_endpoints(0.5), 0);
    ASSERT_TRUE(z.register_applied(d[0].id, d[0].baseline, 0));
    r = z.verify(quiet, 120);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_FALSE(r[0].improved); // nothing sampled: the service's 0.9
}

TEST(Planner, VerificationTakesTheMedianOfTheSecondHalfOfItsWindow) {
    Planner p(config({noisy_rule()})); // 120 s verification window
    auto d = p.on_anomalies({anomaly(1, "cpu_saturation", "batch"), anomaly(2, "latency_spike", "web")}, neighbours(0.5), 0);
    ASSERT_TRUE(p.register_applied(d[0].id, d[0].baseline, 10.5));
    // 10 s windows. The first half (until 70.5) lets the change take effect: no samples,
    // however slow, from the windows that began before it.
    for (double end = 20; end <= 80; end += 10) EXPECT_TRUE(p.verify(neighbours(0.8), end, 10).empty());
    EXPECT_TRUE(p.verify(neighbours(0.2), 90, 10).empty());
    EXPECT_TRUE(p.verify(neighbours(0.9), 100, 10).empty()); // one noisy window
    EXPECT_TRUE(p.verify(neighbours(0.2), 110, 10).empty());
    EXPECT_TRUE(p.verify(neighbours(0.3), 120, 10).empty());
    auto r = p.verify(neighbours(0.25), 131, 10);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].verdict, Verdict::verified);
    EXPECT_TRUE(r[0].improved); // median(0.2, 0.9, 0.2, 0.3, 0.25) = 0.25 < 0.5 × 0.9
    EXPECT_NE(r[0].evidence.find("0.5 → 0.25 (median of 5 windows)"), std::string::npos) << r[0].evidence;
    EXPECT_EQ(to_json(r[0])["verify"]["samples"], json({0.2, 0.9, 0.2, 0.3, 0.25})); // in the audit
    EXPECT_EQ(p.pending_verifications(), 0u);

    // The same noisy window judged alone (nothing sampled before it) undoes the change.
    Planner q(config({noisy_rule()}));
    d = q.on_anomalies({anomaly(1, "cpu_saturation", "batch"), anomaly(2, "latency_spike", "web")}, neighbours(0.5), 0);
    ASSERT_TRUE(q.register_applied(d[0].id, d[0].baseline, 10.5));
    r = q.verify(neighbours(0.9), 131, 200);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_FALSE(r[0].improved);
    EXPECT_EQ(r[0].verdict, Verdict::execute); // the rollback
}

TEST(Planner, ConfigRuleRollsBackToo) {
    json rule = {{"name", "web-timeouts"},
                 {"match", {{"anomaly", "error_surge"}, {"services", "web*"}}},
                 {"action", {{"kind", "config_file"}, {"target", "web-resilience"}, {"vars", {{"timeout_ms", 900}}}}},
                 {"verify", {{"window_seconds", 60}}}};
    Planner p(config({rule}));
    ServiceState web;
    web.service = "web";
    web.error_ratio = 0.2;
    auto d = p.on_anomalies({anomaly(4, "error_surge", "web")}, {web}, 0);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].verdict, Verdict::execute);
    EXPECT_EQ(d[0].action.kind, ActionKind::config_file);
    EXPECT_EQ(d[0].action.vars.at("timeout_ms"), "900");
    EXPECT_EQ(d[0].verify_signal, "error_ratio"); // the default for error_surge
    EXPECT_DOUBLE_EQ(d[0].baseline, 0.2);
    ASSERT_TRUE(p.register_applied(d[0].id, d[0].baseline, 0));
    web.error_ratio = 0.25;
    auto r = p.verify({web}, 60);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].verdict, Verdict::execute);
    EXPECT_EQ(r[0].rollback_of, d[0].id);
    EXPECT_EQ(r[0].action.target, "web-resilience");
}

TEST(Planner, MinSeverityAndExternalDecisions) {
    json rule = memory_rule();
    rule["match"]["min_severity"] = "critical";
    Planner p(config({rule}));
    EXPECT_TRUE(p.on_anomalies({anomaly(7, "memory_growth", "api")}, {api(1 * GiB)}, 0).empty()); // warning

    Action tune;
    tune.kind = ActionKind::config_file;
    tune.service = "web";
    tune.target = "web-resilience";
    tune.dry_run = false;
    EXPECT_EQ(p.decide(tune, "tuner", 0).verdict, Verdict::execute);
    EXPECT_EQ(p.decide(tune, "tuner", 10).verdict, Verdict::refused); // default cooldown 300 s
    Planner dry(config({}, {{"dry_run", true}}));
    EXPECT_EQ(dry.decide(tune, "tuner", 0).verdict, Verdict::dry_run);
    Action weight;
    weight.kind = ActionKind::cpu_weight;
    weight.service = "web";
    weight.value = 50000;
    weight.dry_run = false;
    EXPECT_DOUBLE_EQ(dry.decide(weight, "qlearning", 0).action.value, 10000); // bounds apply
}

TEST(Planner, StateSurvivesSaveLoad) {
    json rule = noisy_rule();
    rule["cooldown_seconds"] = 600;
    const PolicyConfig c = config({rule}, {{"restart_budget", 1}});
    Planner p(c);
    const std::vector<detect::Anomaly> a = {anomaly(1, "cpu_saturation", "batch"), anomaly(2, "latency_spike", "web")};
    auto d = p.on_anomalies(a, neighbours(0.5), 0);
    ASSERT_TRUE(p.register_applied(d[0].id, d[0].baseline, 0));
    auto second = p.on_anomalies(a, neighbours(0.5), 1); // proposed, not yet registered
    EXPECT_EQ(second[0].verdict, Verdict::refused);

    Planner restored(c);
    restored.load(json::parse(p.save().dump()));
    EXPECT_EQ(restored.save(), p.save());
    EXPECT_EQ(restored.on_anomalies(a, neighbours(0.5), 100)[0].verdict, Verdict::refused); // cooldown kept
    auto r = restored.verify(neighbours(0.7), 200);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].rollback_of, d[0].id);
    EXPECT_GT(r[0].id, d[0].id); // ids keep counting
    EXPECT_THROW(restored.load(json{{"version", 9}}), nlohmann::json::exception);
}

} // namespace
} // namespace homeostat::engine::policy
