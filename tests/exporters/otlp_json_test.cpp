// OTLP/HTTP JSON: one resource per service, semantic-convention histograms, 64-bit
// integers as strings, cumulative temporality; bucket counts match the snapshot.
#include "exporters/otlp_json.h"

#include <gtest/gtest.h>

namespace homeostat::exporters {
namespace {

engine::Snapshot snapshot() {
    engine::Snapshot s;
    s.latency_bounds_seconds = {0.005, 0.01, 0.1};
    engine::ExchangeSeries a;
    a.service = "api";
    a.method = "GET";
    a.route = "/users/{id}";
    a.status = 200;
    a.latency = {{3, 1, 0, 1}, 0.75, 5};
    engine::ExchangeSeries b = a;
    b.status = 500;
    b.latency = {{0, 0, 2, 0}, 0.1, 2};
    engine::ExchangeSeries c = a;
    c.service = "web";
    c.role = engine::Role::client;
    c.peer_address = "10.0.0.5";
    c.peer_port = 8080;
    s.series = {a, b, c};
    return s;
}

TEST(Otlp, ResourcesPerServiceWithHistograms) {
    OtlpResource r{"host-1", "0.1.0", 1'000'000'000, 2'000'000'000};
    auto j = otlp_metrics_json(snapshot(), r);
    const auto& rms = j["resourceMetrics"];
    ASSERT_EQ(rms.size(), 2u);
    const auto& api = rms[0];
    EXPECT_EQ(api["resource"]["attributes"][0]["key"], "service.name");
    EXPECT_EQ(api["resource"]["attributes"][0]["value"]["stringValue"], "api");
    EXPECT_EQ(api["resource"]["attributes"][1]["value"]["stringValue"], "host-1");
    const auto& sm = api["scopeMetrics"][0];
    EXPECT_EQ(sm["scope"]["name"], "homeostat");
    ASSERT_EQ(sm["metrics"].size(), 1u);
    const auto& m = sm["metrics"][0];
    EXPECT_EQ(m["name"], "http.server.request.duration");
    EXPECT_EQ(m["unit"], "s");
    EXPECT_EQ(m["histogram"]["aggregationTemporality"], 2);
    const auto& dp = m["histogram"]["dataPoints"];
    ASSERT_EQ(dp.size(), 2u);
    EXPECT_EQ(dp[0]["count"], "5");
    EXPECT_EQ(dp[0]["sum"], 0.75);
    EXPECT_EQ(dp[0]["bucketCounts"], nlohmann::json({"3", "1", "0", "1"}));
    EXPECT_EQ(dp[0]["explicitBounds"], nlohmann::json({0.005, 0.01, 0.1}));
    EXPECT_EQ(dp[0]["startTimeUnixNano"], "1000000000");
    EXPECT_EQ(dp[0]["timeUnixNano"], "2000000000");
    EXPECT_EQ(dp[1]["attributes"][2]["key"], "http.response.status_code");
    EXPECT_EQ(dp[1]["attributes"][2]["value"]["intValue"], "500");
    const auto& web = rms[1]["scopeMetrics"][0]["metrics"][0];
    EXPECT_EQ(web["name"], "http.client.request.duration");
    EXPECT_EQ(web["histogram"]["dataPoints"][0]["attributes"][3]["key"], "server.address");
    EXPECT_EQ(web["histogram"]["dataPoints"][0]["attributes"][4]["value"]["intValue"], "8080");
}

TEST(Otlp, EmptySnapshot) {
    auto j = otlp_metrics_json({}, {});
    EXPECT_TRUE(j["resourceMetrics"].is_array());
    EXPECT_TRUE(j["resourceMetrics"].empty());
}

} // namespace
} // namespace homeostat::exporters
