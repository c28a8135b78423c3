#include "agent/endpoints_api.h"

#include <gtest/gtest.h>

namespace homeostat::agent {
namespace {

engine::ExchangeSeries series(const std::string& route, std::uint16_t status, std::uint64_t n,
                              engine::Role role = engine::Role::server) {
    engine::ExchangeSeries s;
    s.service = "api";
    s.role = role;
    s.method = "GET";
    s.route = route;
    s.status = status;
    s.latency.count = n;
    if (role == engine::Role::client) s.peer_address = "127.0.0.1", s.peer_port = 8080;
    return s;
}

TEST(EndpointsApi, JoinsStatusesAndRecentQuantilesPerEndpoint) {
    engine::Snapshot snap;
    snap.series = {series("/users/{id}", 200, 90), series("/users/{id}", 404, 7), series("/users/{id}", 503, 3),
                   series("/healthz", 200, 40), series("/users/{id}", 200, 5, engine::Role::client)};
    engine::EndpointQuantiles q;
    q.service = "api";
    q.method = "GET";
    q.route = "/users/{id}";
    q.count = 60;
    q.window_seconds = 30;
    q.p50 = 0.01, q.p95 = 0.2, q.p99 = 1.2;
    snap.quantiles = {q};
    const auto j = endpoints_json(snap);
    ASSERT_EQ(j["endpoints"].size(), 3u);
    // Sorted by service, role (server first), method, route.
    const auto& health = j["endpoints"][0];
    EXPECT_EQ(health["route"], "/healthz");
    EXPECT_EQ(health["requests_total"], 40);
    EXPECT_TRUE(health["recent"].is_null());
    const auto& users = j["endpoints"][1];
    EXPECT_EQ(users["role"], "server");
    EXPECT_EQ(users["requests_total"], 100);
    EXPECT_EQ(users["errors_total"], 3);
    EXPECT_EQ(users["status"]["404"], 7);
    EXPECT_EQ(users["status"]["200"], 90);
    EXPECT_FALSE(users.contains("peer"));
    EXPECT_EQ(users["recent"]["requests"], 60);
    EXPECT_DOUBLE_EQ(users["recent"]["rate"].get<double>(), 2.0);
    EXPECT_DOUBLE_EQ(users["recent"]["p99"].get<double>(), 1.2);
    const auto& client = j["endpoints"][2];
    EXPECT_EQ(client["role"], "client");
    EXPECT_EQ(client["peer"], "127.0.0.1:8080");
    EXPECT_EQ(client["requests_total"], 5);
}

TEST(EndpointsApi, EmptySnapshotIsAnEmptyList) {
    const auto j = endpoints_json({});
    ASSERT_TRUE(j["endpoints"].is_array());
    EXPECT_TRUE(j["endpoints"].empty());
}

} // namespace
} // namespace homeostat::agent
