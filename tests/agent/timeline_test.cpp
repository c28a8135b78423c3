// agent::Timeline with hand-made windows: the service-level figures, the bounds, and the
// /api/v1/timeline document.
#include "agent/timeline.h"

#include <gtest/gtest.h>

#include <cmath>

namespace homeostat::agent {
namespace {

engine::EndpointWindow endpoint(const std::string& service, const std::string& route, std::uint64_t count,
                                std::uint64_t errors, double p50, double p95, double p99,
                                engine::Role role = engine::Role::server) {
    engine::EndpointWindow e;
    e.service = service;
    e.role = role;
    e.method = "GET";
    e.route = route;
    e.count = count;
    e.errors = errors;
    e.p50 = p50;
    e.p95 = p95;
    e.p99 = p99;
    return e;
}

engine::ServiceWindow resources(const std::string& service, double cpu, double memory) {
    engine::ServiceWindow w;
    w.service = service;
    w.cpu_cores = cpu;
    w.memory_bytes = memory;
    return w;
}

TEST(MixturePercentiles, OneEndpointIsItsOwnPercentiles) {
    const auto e = endpoint("api", "/a", 50, 0, 0.002, 0.010, 0.030);
    const auto q = mixture_percentiles({&e});
    EXPECT_NEAR(q[0], 0.002, 1e-9);
    EXPECT_NEAR(q[1], 0.010, 1e-9);
    EXPECT_NEAR(q[2], 0.030, 1e-9);
    const auto same = endpoint("api", "/b", 500, 0, 0.002, 0.010, 0.030);
    const auto q2 = mixture_percentiles({&e, &same});
    EXPECT_NEAR(q2[2], 0.030, 1e-9);
}

TEST(MixturePercentiles, AStrayRequestDoesNotDecideTheServiceP99) {
    const auto busy = endpoint("api", "/fast", 10000, 0, 0.001, 0.002, 0.003);
    const auto stray = endpoint("api", "/slow", 1, 0, 1.0, 1.0, 1.0);
    const auto q = mixture_percentiles({&busy, &stray});
    EXPECT_LT(q[2], 0.004); // a max would say 1 s
    EXPECT_GE(q[2], 0.003);
    EXPECT_NEAR(q[0], 0.001, 1e-4);
}

TEST(MixturePercentiles, HalfTheTrafficSlowMakesTheTailSlow) {
    const auto fast = endpoint("api", "/fast", 100, 0, 0.001, 0.002, 0.003);
    const auto slow = endpoint("api", "/slow", 100, 0, 0.100, 0.200, 0.300);
    const auto q = mixture_percentiles({&fast, &slow});
    EXPECT_GT(q[1], 0.100); // the slowest 5% are all /slow requests
    EXPECT_LE(q[1], 0.200);
    EXPECT_GT(q[0], 0.002); // past the fast half's p95, well below the slow half's median
    EXPECT_LT(q[0], 0.010);
    for (double v : q) EXPECT_TRUE(std::isfinite(v));
}

TEST(MixturePercentiles, NoRequestsNoPercentiles) {
    const auto idle = endpoint("api", "/a", 0, 0, 0, 0, 0);
    const auto q = mixture_percentiles({&idle});
    EXPECT_TRUE(std::isnan(q[0]) && std::isnan(q[1]) && std::isnan(q[2]));
}

TEST(Timeline, ServerTrafficPerWindowWithResources) {
    Timeline t;
    const std::vector<engine::EndpointWindow> eps = {
        endpoint("api", "/a", 30, 3, 0.002, 0.004, 0.006), endpoint("api", "/b", 10, 1, 0.002, 0.004, 0.006),
        // Its calls to an upstream are not what it serves.
        endpoint("api", "/up", 500, 500, 2, 2, 2, engine::Role::client)};
    const std::vector<engine::ServiceWindow> res = {resources("api", 0.25, 64e6)};
    t.add_window(eps, &res, 1000, 2);
    const auto* s = t.series("api");
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->size(), 1u);
    const auto& p = s->front();
    EXPECT_DOUBLE_EQ(p.start_unix, 1000);
    EXPECT_DOUBLE_EQ(p.seconds, 2);
    EXPECT_DOUBLE_EQ(p.requests_per_second, 20);
    EXPECT_DOUBLE_EQ(p.error_ratio, 0.1);
    EXPECT_NEAR(p.p99, 0.006, 1e-9);
    EXPECT_DOUBLE_EQ(p.cpu_cores, 0.25);
    EXPECT_DOUBLE_EQ(p.memory_bytes, 64e6);
}

TEST(Timeline, AQuietWindowIsAZeroNotAGapAndIdleServicesAreForgotten) {
    Timeline t(Timeline::Options{.points = 4, .max_services = 10});
    t.add_window({endpoint("api", "/a", 10, 0, 0.001, 0.002, 0.003)}, nullptr, 0, 1);
    t.add_window({}, nullptr, 1, 1);
    const auto* s = t.series("api");
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->size(), 2u);
    EXPECT_EQ(s->back().requests_per_second, 0);
    EXPECT_TRUE(std::isnan(s->back().p99));
    EXPECT_TRUE(std::isnan(s->back().error_ratio));
    EXPECT_TRUE(std::isnan(s->back().memory_bytes));
    t.add_window({}, nullptr, 2, 1);
    t.add_window({}, nullptr, 3, 1);
    EXPECT_NE(t.series("api"), nullptr); // 3 idle windows of 4 kept: still charted
    t.add_window({}, nullptr, 4, 1);
    EXPECT_EQ(t.series("api"), nullptr);
}

TEST(Timeline, ResourcesAloneKeepAServiceAndTheRingIsBounded) {
    Timeline t(Timeline::Options{.points = 3, .max_services = 10});
    for (int i = 0; i < 10; ++i) {
        const std::vector<engine::ServiceWindow> res = {resources("batch", 0.5, 1e6 * i)};
        t.add_window({}, &res, i, 1);
    }
    const auto* s = t.series("batch");
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->size(), 3u);
    EXPECT_DOUBLE_EQ(s->front().start_unix, 7);
    EXPECT_DOUBLE_EQ(s->back().memory_bytes, 9e6);
    EXPECT_EQ(s->back().requests_per_second, 0);
}

TEST(Timeline, ServicesPastTheCapAreRefusedAndCounted) {
    Timeline t(Timeline::Options{.points = 5, .max_services = 2});
    t.add_window({endpoint("a", "/", 1, 0, 0.001, 0.001, 0.001), endpoint("b", "/", 1, 0, 0.001, 0.001, 0.001),
                  endpoint("c", "/", 1, 0, 0.001, 0.001, 0.001)},
                 nullptr, 0, 1);
    EXPECT_EQ(t.services(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(t.services_refused(), 1u);
}

TEST(TimelineResponse, ListSeriesAndErrors) {
    EXPECT_EQ(timeline_response(nullptr, "").status, 503u);
    Timeline t;
    for (int i = 0; i < 5; ++i)
        t.add_window({endpoint("py:8080", "/a", 10 * (i + 1), i == 4 ? 5 : 0, 0.001, 0.002, 0.003)}, nullptr,
                     100 + i, 1);
    t.add_window({}, nullptr, 105, 1);

    auto list = timeline_response(&t, "");
    ASSERT_EQ(list.status, 200u);
    EXPECT_EQ(list.content_type, "application/json");
    auto lj = nlohmann::json::parse(list.body);
    ASSERT_EQ(lj["services"].size(), 1u);
    EXPECT_EQ(lj["services"][0]["service"], "py:8080");
    EXPECT_EQ(lj["services"][0]["points"], 6);

    auto one = timeline_response(&t, "service=py%3A8080&points=3");
    ASSERT_EQ(one.status, 200u) << one.body;
    auto j = nlohmann::json::parse(one.body);
    EXPECT_EQ(j["service"], "py:8080");
    EXPECT_EQ(j["points"], 3);
    EXPECT_EQ(j["start"], (nlohmann::json{103.0, 104.0, 105.0}));
    EXPECT_EQ(j["requests_per_second"], (nlohmann::json{40.0, 50.0, 0.0}));
    EXPECT_EQ(j["error_ratio"][1], 0.1);
    EXPECT_TRUE(j["error_ratio"][2].is_null()); // no requests: unknown, not 0
    EXPECT_TRUE(j["p99_seconds"][2].is_null());
    EXPECT_TRUE(j["cpu_cores"][0].is_null());
    EXPECT_NEAR(j["p95_seconds"][0].get<double>(), 0.002, 1e-9);

    EXPECT_EQ(timeline_response(&t, "service=nope").status, 404u);
    EXPECT_EQ(timeline_response(&t, "service=py%3A8080&points=-1").status, 400u);
    const auto bad = timeline_response(&t, "servce=x");
    EXPECT_EQ(bad.status, 400u);
    EXPECT_NE(bad.body.find("service,points"), std::string::npos) << bad.body;
}

} // namespace
} // namespace homeostat::agent
