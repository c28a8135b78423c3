// LoadBalancer: client-side figures → EMA health → weights → a config_file proposal, with
// min_requests, min_change, cooldown, forget() and saved state.
#include "engine/policy/load_balancer.h"

#include <gtest/gtest.h>

namespace homeostat::engine::policy {
namespace {

EndpointWindow call(const std::string& service, const std::string& address, std::uint16_t port,
                    std::uint64_t count, std::uint64_t errors, double p50) {
    EndpointWindow e;
    e.service = service;
    e.role = Role::client;
    e.method = "GET";
    e.route = "/work";
    e.peer_address = address;
    e.peer_port = port;
    e.count = count;
    e.errors = errors;
    e.p50 = e.p95 = e.p99 = p50;
    return e;
}

LoadBalancingGroup group() {
    LoadBalancingGroup g;
    g.service = "nginx*";
    g.upstreams = {"127.0.0.1:8081", "127.0.0.1:8082"};
    g.file = "upstreams";
    g.health.alpha = 0.5;
    g.min_requests = 10;
    g.cooldown_seconds = 30;
    return g;
}

// Both healthy, then :8082 answers in 300 ms.
std::vector<EndpointWindow> window(double slow_p50, std::uint64_t errors = 0) {
    return {call("nginx:80", "127.0.0.1", 8081, 50, 0, 0.002),
            call("nginx:80", "127.0.0.1", 8082, 50, errors, slow_p50),
            call("nginx:80", "127.0.0.1", 9999, 50, 0, 0.9), // not in the group
            call("curl", "127.0.0.1", 8082, 50, 0, 0.002)};  // another client
}

TEST(LoadBalancer, EqualHealthyUpstreamsNeedNoWrite) {
    LoadBalancer lb({group()});
    for (int i = 0; i < 5; ++i)
        EXPECT_TRUE(lb.observe(window(0.004), i).empty()) << i; // both under the floor
}

TEST(LoadBalancer, ASlowUpstreamGetsALowWeightAndTheTemplateVariables) {
    LoadBalancer lb({group()});
    ASSERT_TRUE(lb.observe(window(0.002), 0).empty());
    auto p = lb.observe(window(0.3), 1);
    ASSERT_EQ(p.size(), 1u);
    // EMA of :8082: 0.5 × 10 ms (floor) + 0.5 × 300 ms = 155 ms → score 10/155 → weight 6.
    EXPECT_EQ(p[0].weights.at("127.0.0.1:8081"), 100u);
    EXPECT_EQ(p[0].weights.at("127.0.0.1:8082"), 6u);
    const auto& a = p[0].action;
    EXPECT_EQ(a.kind, ActionKind::config_file);
    EXPECT_EQ(a.service, "nginx:80");
    EXPECT_EQ(a.target, "upstreams");
    EXPECT_EQ(a.rule, LoadBalancer::kRule);
    EXPECT_FALSE(a.dry_run);
    EXPECT_EQ(a.vars.at("weight.127.0.0.1_8082"), "6");
    EXPECT_EQ(a.vars.at("latency_ms.127.0.0.1_8082"), "155.0");
    EXPECT_EQ(a.vars.at("success_pct.127.0.0.1_8082"), "100.00");
    EXPECT_EQ(a.vars.at("upstream_servers"),
              "server 127.0.0.1:8081 weight=100; server 127.0.0.1:8082 weight=6;");
    EXPECT_NE(p[0].evidence.find("127.0.0.1:8082 weight 6 (score 0.065, EMA latency 155.0 ms, 100.00 % ok)"),
              std::string::npos)
        << p[0].evidence;
    EXPECT_EQ(p[0].detail["upstreams"]["127.0.0.1:8082"]["previous_weight"], 100);
}

TEST(LoadBalancer, ErrorsLowerTheWeightToo) {
    LoadBalancer lb({group()});
    ASSERT_TRUE(lb.observe(window(0.002), 0).empty());
    auto p = lb.observe(window(0.002, 40), 1); // 80 % 5xx: success EMA 0.6
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].weights.at("127.0.0.1:8082"), 60u);
}

TEST(LoadBalancer, FewCallsAreSummedUntilMinRequests) {
    LoadBalancer lb({group()});
    std::vector<EndpointWindow> few = {call("nginx:80", "127.0.0.1", 8082, 4, 0, 0.3)};
    EXPECT_TRUE(lb.observe(few, 0).empty());
    EXPECT_TRUE(lb.observe(few, 1).empty());
    EXPECT_TRUE(lb.observe({call("nginx:80", "127.0.0.1", 8081, 40, 0, 0.002)}, 2).empty());
    auto p = lb.observe(few, 3); // 12 calls of :8082 now: one EMA step
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].weights.at("127.0.0.1:8082"), 3u); // 10 ms / 300 ms
}

TEST(LoadBalancer, CooldownMinChangeAndForget) {
    LoadBalancer lb({group()});
    ASSERT_TRUE(lb.observe(window(0.002), 0).empty());
    ASSERT_EQ(lb.observe(window(0.3), 1).size(), 1u);
    EXPECT_TRUE(lb.observe(window(0.3), 2).empty()) << "cooldown";
    EXPECT_TRUE(lb.observe(window(0.3), 40).empty()) << "6 → 3: less than 10 points";
    // The write failed: the next window proposes again, without waiting for the cooldown.
    lb.forget(0);
    EXPECT_FALSE(lb.written(0));
    auto p = lb.observe(window(0.3), 41);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_LE(p[0].weights.at("127.0.0.1:8082"), 4u);
    // Recovery: back up once it is fast again and the cooldown passed.
    for (int t = 42; t < 50; ++t)
        lb.observe(window(0.002), t);
    p = lb.observe(window(0.002), 80);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_GE(p[0].weights.at("127.0.0.1:8082"), 90u);
}

TEST(LoadBalancer, ListedUpstreamsAreAlwaysRenderedAndGlobsOnceSeen) {
    auto g = group();
    g.upstreams = {"127.0.0.1:8081", "127.0.0.1:8083", "10.0.0.*"};
    LoadBalancer lb({g});
    lb.observe(
        {call("nginx:80", "127.0.0.1", 8081, 20, 0, 0.002), call("nginx:80", "10.0.0.7", 80, 20, 0, 0.002)},
        0);
    auto p = lb.observe(
        {call("nginx:80", "127.0.0.1", 8081, 20, 0, 0.002), call("nginx:80", "10.0.0.7", 80, 20, 0, 0.5)}, 1);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].weights.size(), 3u);
    EXPECT_EQ(p[0].weights.at("127.0.0.1:8083"), 100u); // listed, never seen: left at full weight
    EXPECT_LT(p[0].weights.at("10.0.0.7:80"), 10u);
    EXPECT_NE(p[0].evidence.find("127.0.0.1:8083 weight 100 (not observed yet)"), std::string::npos);
}

TEST(LoadBalancer, AddressesAreValidatedAndIpv6IsBracketed) {
    EXPECT_TRUE(LoadBalancer::valid_upstream("127.0.0.1:8081"));
    EXPECT_TRUE(LoadBalancer::valid_upstream("::1:8081"));
    EXPECT_FALSE(LoadBalancer::valid_upstream("127.0.0.1"));
    EXPECT_FALSE(LoadBalancer::valid_upstream("evil;\nhost:80"));
    EXPECT_FALSE(LoadBalancer::valid_upstream("backend.example:80"));
    EXPECT_EQ(LoadBalancer::server_text("::1:8081"), "[::1]:8081");
    EXPECT_EQ(LoadBalancer::var_key("::1:8081"), "__1_8081");
}

TEST(LoadBalancer, StateSurvivesARestart) {
    LoadBalancer lb({group()});
    ASSERT_TRUE(lb.observe(window(0.002), 0).empty());
    ASSERT_EQ(lb.observe(window(0.3), 1).size(), 1u);
    LoadBalancer again({group()});
    again.load(nlohmann::json::parse(lb.save().dump()));
    ASSERT_TRUE(again.written(0));
    EXPECT_EQ(again.written(0)->at("127.0.0.1:8082"), 6u);
    EXPECT_EQ(again.save(), lb.save()); // EMAs, weights written and when
    // :8081 turns slower than :8082: a big change, held back by the cooldown that persisted.
    const std::vector<EndpointWindow> slow_8081 = {call("nginx:80", "127.0.0.1", 8081, 50, 0, 1.0)};
    EXPECT_TRUE(again.observe(slow_8081, 2).empty());
    auto p = again.observe(slow_8081, 40);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_LT(p[0].weights.at("127.0.0.1:8081"), p[0].weights.at("127.0.0.1:8082"));
    EXPECT_THROW(again.load(nlohmann::json{{"version", 9}}), nlohmann::json::exception);
}

TEST(LoadBalancer, PerGroupDryRunIsCarriedOnTheAction) {
    auto g = group();
    g.dry_run = true;
    LoadBalancer lb({g});
    lb.observe(window(0.002), 0);
    auto p = lb.observe(window(0.3), 1);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_TRUE(p[0].action.dry_run);
}

} // namespace
} // namespace homeostat::engine::policy
