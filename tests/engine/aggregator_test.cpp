#include "engine/aggregator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <tuple>

#include "engine/testing/event_generator.h"

namespace homeostat::engine {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;
using testing::EventGenerator;
using testing::ExchangeSpec;
using testing::SocketAddress;

const ExchangeSeries* find_series(const Snapshot& s, std::string_view service, std::string_view route,
                                  std::uint16_t status = 200) {
    for (const auto& x : s.series)
        if (x.service == service && x.route == route && x.status == status) return &x;
    return nullptr;
}

const EndpointQuantiles* find_quantiles(const Snapshot& s, std::string_view service, std::string_view route) {
    for (const auto& x : s.quantiles)
        if (x.service == service && x.route == route) return &x;
    return nullptr;
}

std::uint64_t overflowed_routes(const Snapshot& s, std::string_view service) {
    for (const auto& [name, n] : s.routes_overflowed)
        if (name == service) return n;
    ADD_FAILURE() << "no routes_overflowed entry for " << service;
    return 0;
}

TEST(Aggregator, RejectsUnworkableConfig) {
    AggregatorConfig c;
    c.window = 0s;
    EXPECT_THROW(Aggregator{c}, std::invalid_argument);
    c = {};
    c.windows_kept = 0;
    EXPECT_THROW(Aggregator{c}, std::invalid_argument);
    c = {};
    c.latency_bounds_seconds = {0.1, 0.1};
    EXPECT_THROW(Aggregator{c}, std::invalid_argument);
    c = {};
    c.latency_bounds_seconds = {0.1, INFINITY};
    EXPECT_THROW(Aggregator{c}, std::invalid_argument);
    c = {};
    c.sketch_relative_accuracy = 1.5;
    EXPECT_THROW(Aggregator{c}, std::invalid_argument);
    EXPECT_NO_THROW(Aggregator{AggregatorConfig{}});
}

TEST(Aggregator, DefaultBoundsAreOpenTelemetrys) {
    Aggregator agg;
    const Snapshot s = agg.snapshot(0s);
    EXPECT_EQ(s.latency_bounds_seconds, (std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5,
                                                             0.75, 1, 2.5, 5, 7.5, 10}));
    EXPECT_TRUE(s.series.empty());
    EXPECT_TRUE(s.quantiles.empty());
}

TEST(Aggregator, HistogramBucketPlacement) {
    Aggregator agg;
    EventGenerator gen;
    const nanoseconds latencies[] = {0ns, 4'999'999ns, 5ms, 5'000'001ns, 10ms, 10s, 10s + 1ns, 60s};
    for (const auto l : latencies)
        agg.record("api", gen.exchange(HS_M_GET, "/x", 200, l), 1s);

    const Snapshot s = agg.snapshot(1s);
    const auto* x = find_series(s, "api", "/x");
    ASSERT_NE(x, nullptr);
    const auto& b = x->latency.bucket_counts;
    ASSERT_EQ(b.size(), s.latency_bounds_seconds.size() + 1);
    EXPECT_EQ(b[0], 3u) << "0, 4.999999 ms and exactly 5 ms are <= 0.005";
    EXPECT_EQ(b[1], 2u) << "5.000001 ms and exactly 10 ms are <= 0.01";
    EXPECT_EQ(b[13], 1u) << "exactly 10 s is <= 10";
    EXPECT_EQ(b[14], 2u) << "10 s + 1 ns and 60 s are +Inf";
    EXPECT_EQ(std::accumulate(b.begin(), b.end(), std::uint64_t{0}), 8u);
    EXPECT_EQ(x->latency.count, 8u);
    EXPECT_NEAR(x->latency.sum_seconds, 0.005 + 0.004999999 + 0.005000001 + 0.01 + 10 + 10.000000001 + 60,
                1e-9);
}

TEST(Aggregator, EveryBoundIsInclusive) {
    Aggregator agg;
    EventGenerator gen;
    const auto& bounds = agg.config().latency_bounds_seconds;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        const nanoseconds at_bound(std::llround(bounds[i] * 1e9));
        agg.record("api", gen.exchange(HS_M_GET, "/b" + std::to_string(i), 200, at_bound), 1s);
    }
    const Snapshot s = agg.snapshot(1s);
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        const auto* x = find_series(s, "api", "/b" + std::to_string(i));
        ASSERT_NE(x, nullptr);
        for (std::size_t j = 0; j < x->latency.bucket_counts.size(); ++j)
            EXPECT_EQ(x->latency.bucket_counts[j], i == j ? 1u : 0u)
                << "latency " << bounds[i] << " s, bucket " << j;
    }
}

// Found by fuzz_events (docs/hardening.md, tests/fuzz/regressions/events/negative_time):
// the pipeline passes the record's u64 resp_start_ns as the clock, and one >= 2^63 is a
// negative time whose window start overflowed int64 (UBSan: signed overflow).
TEST(Aggregator, NegativeTimeCountsInTheFirstWindow) {
    Aggregator agg;
    EventGenerator gen;
    hs_http_exchange ev = gen.exchange(HS_M_GET, "/x", 200, 5ms);
    agg.record("api", ev, std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::min() + 5));
    const Snapshot s = agg.snapshot(1s);
    const auto* x = find_series(s, "api", "/x");
    ASSERT_NE(x, nullptr);
    EXPECT_EQ(x->latency.count, 1u);
}

TEST(Aggregator, LatencyUnderflowIsZero) {
    Aggregator agg;
    EventGenerator gen;
    hs_http_exchange ev = gen.exchange(HS_M_GET, "/x", 200, 5ms);
    ev.resp_start_ns = ev.req_start_ns - 1000; // reordered timestamps
    agg.record("api", ev, 1s);
    const Snapshot s = agg.snapshot(1s);
    const auto* x = find_series(s, "api", "/x");
    ASSERT_NE(x, nullptr);
    EXPECT_EQ(x->latency.bucket_counts[0], 1u);
    EXPECT_EQ(x->latency.sum_seconds, 0.0);
    const auto* q = find_quantiles(s, "api", "/x");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->p99, 0.0);
}

TEST(Aggregator, SeriesAreCumulativeAndKeyedByStatus) {
    Aggregator agg;
    EventGenerator gen;
    for (int i = 0; i < 3; ++i)
        agg.record("api", gen.exchange(HS_M_GET, "/users/" + std::to_string(i), 200, 1ms), 1s);
    agg.record("api", gen.exchange(HS_M_GET, "/users/9", 500, 1ms), 1s);
    Snapshot s = agg.snapshot(1s);
    ASSERT_EQ(s.series.size(), 2u);
    EXPECT_EQ(find_series(s, "api", "/users/{id}", 200)->latency.count, 3u);
    EXPECT_EQ(find_series(s, "api", "/users/{id}", 500)->latency.count, 1u);
    // Quantiles are per endpoint: statuses merge.
    ASSERT_EQ(s.quantiles.size(), 1u);
    EXPECT_EQ(s.quantiles[0].count, 4u);

    // An hour later the windows are gone but the counters are not.
    agg.record("api", gen.exchange(HS_M_GET, "/users/5", 200, 1ms), 3600s);
    s = agg.snapshot(3600s);
    EXPECT_EQ(find_series(s, "api", "/users/{id}", 200)->latency.count, 4u);
    ASSERT_EQ(s.quantiles.size(), 1u);
    EXPECT_EQ(s.quantiles[0].count, 1u);
}

TEST(Aggregator, RequestBytesAccumulate) {
    Aggregator agg;
    EventGenerator gen;
    ExchangeSpec spec;
    spec.target = "/upload";
    spec.method = HS_M_POST;
    spec.req_bytes = 1000;
    agg.record("api", gen.exchange(spec), 1s);
    spec.req_bytes = 234;
    agg.record("api", gen.exchange(spec), 1s);
    const Snapshot s = agg.snapshot(1s);
    ASSERT_EQ(s.series.size(), 1u);
    EXPECT_EQ(s.series[0].request_bytes, 1234u);
    EXPECT_EQ(s.series[0].method, "POST");
}

TEST(Aggregator, UnknownMethodsShareOneSeries) {
    Aggregator agg;
    EventGenerator gen;
    agg.record("api", gen.exchange(HS_M_UNKNOWN, "/x", 200, 1ms), 1s);
    agg.record("api", gen.exchange(200, "/x", 200, 1ms), 1s);
    const Snapshot s = agg.snapshot(1s);
    ASSERT_EQ(s.series.size(), 1u);
    EXPECT_EQ(s.series[0].method, "_OTHER");
    EXPECT_EQ(s.series[0].latency.count, 2u);
}

TEST(Aggregator, ClientPeersAreLabelledServerPeersAreNot) {
    Aggregator agg;
    EventGenerator gen;
    agg.record("web", gen.client_exchange(HS_M_GET, "/q", 200, 2ms, SocketAddress::parse("10.1.2.3", 5432)),
               1s);
    agg.record("web",
               gen.client_exchange(HS_M_GET, "/q", 200, 2ms, SocketAddress::parse("::ffff:10.1.2.3", 5432)),
               1s);
    agg.record("web", gen.client_exchange(HS_M_GET, "/q", 200, 2ms, SocketAddress::parse("fd00::5", 8443)),
               1s);
    agg.record("web", gen.client_exchange(HS_M_GET, "/q", 200, 2ms, SocketAddress::parse("10.1.2.3", 6000)),
               1s);
    // Server role: the remote side is some client; it must not become a label.
    ExchangeSpec spec;
    spec.target = "/q";
    spec.remote = SocketAddress::parse("192.0.2.77", 51234);
    agg.record("web", gen.exchange(spec), 1s);

    const Snapshot s = agg.snapshot(1s);
    std::vector<std::tuple<Role, std::string, std::uint16_t, std::uint64_t>> got;
    for (const auto& x : s.series)
        got.emplace_back(x.role, x.peer_address, x.peer_port, x.latency.count);
    const decltype(got) want = {
        {Role::server, "", 0, 1},
        {Role::client, "10.1.2.3", 5432, 2}, // v4 and v4-mapped v6: one upstream, one series
        {Role::client, "10.1.2.3", 6000, 1},
        {Role::client, "fd00::5", 8443, 1},
    };
    EXPECT_EQ(got, want);
    ASSERT_EQ(s.quantiles.size(), 4u);
    EXPECT_EQ(s.quantiles[1].peer_address, "10.1.2.3");
    EXPECT_EQ(s.quantiles[1].peer_port, 5432);
    EXPECT_EQ(s.quantiles[1].count, 2u);
}

TEST(Aggregator, UnknownRoleIsRejected) {
    Aggregator agg;
    EventGenerator gen;
    agg.record("api", gen.exchange(HS_M_GET, "/x", 200, 1ms, /*role=*/7), 1s);
    EXPECT_EQ(agg.rejected(), 1u);
    EXPECT_EQ(agg.series_count(), 0u);
}

TEST(Aggregator, OddTargetsGetSpecialRoutes) {
    Aggregator agg;
    EventGenerator gen;
    agg.record("api", gen.raw("\x16\x03\x01junk"), 1s);
    agg.record("api", gen.exchange(HS_M_OPTIONS, "*", 200, 1ms), 1s);
    agg.record("api", gen.exchange(HS_M_GET, "http://proxy.example:3128/users/77?x=1", 200, 1ms), 1s);
    agg.record("api", gen.exchange(HS_M_GET, "/users/77/" + std::string(200, 'a'), 200, 1ms), 1s);
    const Snapshot s = agg.snapshot(1s);
    EXPECT_NE(find_series(s, "api", "{invalid}"), nullptr);
    EXPECT_NE(find_series(s, "api", "*"), nullptr);
    EXPECT_NE(find_series(s, "api", "/users/{id}"), nullptr);
    EXPECT_NE(find_series(s, "api", "/users/{id}/{truncated}"), nullptr);
    EXPECT_EQ(s.series.size(), 4u);
}

TEST(Aggregator, RouteCapPerServiceFeedsRoutesOverflowed) {
    AggregatorConfig c;
    c.max_routes_per_service = 2;
    Aggregator agg(c);
    EventGenerator gen;
    for (const char* p : {"/a", "/b", "/c", "/d", "/c", "/a"})
        agg.record("noisy", gen.exchange(HS_M_GET, p, 200, 1ms), 1s);
    agg.record("calm", gen.exchange(HS_M_GET, "/a", 200, 1ms), 1s);

    const Snapshot s = agg.snapshot(1s);
    EXPECT_EQ(find_series(s, "noisy", "/a")->latency.count, 2u);
    EXPECT_EQ(find_series(s, "noisy", "/b")->latency.count, 1u);
    EXPECT_EQ(find_series(s, "noisy", "{overflow}")->latency.count, 3u);
    EXPECT_EQ(find_series(s, "noisy", "/c"), nullptr);
    EXPECT_EQ(overflowed_routes(s, "noisy"), 3u);
    EXPECT_EQ(overflowed_routes(s, "calm"), 0u) << "one service's cap is not another's";
    EXPECT_EQ(s.routes_overflowed.front().first, "calm") << "sorted by service";
}

TEST(Aggregator, MaxSeriesCapsMemoryAndCountsTheRest) {
    AggregatorConfig c;
    c.max_series = 5;
    Aggregator agg(c);
    EventGenerator gen;
    for (int i = 0; i < 10; ++i)
        agg.record("api", gen.exchange(HS_M_GET, "/r" + std::to_string(i) + "x", 200, 1ms), 1s);
    EXPECT_EQ(agg.series_count(), 5u);
    EXPECT_EQ(agg.series_overflowed(), 5u);
    // Existing series keep counting.
    agg.record("api", gen.exchange(HS_M_GET, "/r0x", 200, 1ms), 1s);
    EXPECT_EQ(agg.series_overflowed(), 5u);
    // A new service is not even created once the cap is reached.
    agg.record("other", gen.exchange(HS_M_GET, "/r0x", 200, 1ms), 1s);
    EXPECT_EQ(agg.series_overflowed(), 6u);
    EXPECT_EQ(agg.routes("other"), nullptr);
    const Snapshot s = agg.snapshot(1s);
    EXPECT_EQ(s.series.size(), 5u);
    EXPECT_EQ(find_series(s, "api", "/r0x")->latency.count, 2u);
    EXPECT_LE(agg.endpoint_count(), 5u);
}

TEST(Aggregator, QuantilesMatchTheData) {
    Aggregator agg;
    EventGenerator gen;
    // 1..1000 ms, shuffled.
    std::vector<int> ms(1000);
    std::iota(ms.begin(), ms.end(), 1);
    std::shuffle(ms.begin(), ms.end(), std::mt19937(3));
    for (const int m : ms)
        agg.record("api", gen.exchange(HS_M_GET, "/x", 200, std::chrono::milliseconds(m)), 5s);
    const Snapshot s = agg.snapshot(5s);
    ASSERT_EQ(s.quantiles.size(), 1u);
    const auto& q = s.quantiles[0];
    EXPECT_EQ(q.count, 1000u);
    // Lower rank q*(n-1): p50 → 500 ms, p90 → 900 ms, p95 → 950 ms, p99 → 990 ms.
    EXPECT_NEAR(q.p50, 0.500, 0.500 * 0.01);
    EXPECT_NEAR(q.p90, 0.900, 0.900 * 0.01);
    EXPECT_NEAR(q.p95, 0.950, 0.950 * 0.01);
    EXPECT_NEAR(q.p99, 0.990, 0.990 * 0.01);
}

AggregatorConfig three_windows_of_10s() {
    AggregatorConfig c;
    c.window = 10s;
    c.windows_kept = 3;
    return c;
}

TEST(Aggregator, WindowsRollAndExpire) {
    Aggregator agg(three_windows_of_10s());
    EventGenerator gen;
    for (int i = 0; i < 100; ++i)
        agg.record("api", gen.exchange(HS_M_GET, "/x", 200, 100ms), 5s); // window 0
    for (int i = 0; i < 100; ++i)
        agg.record("api", gen.exchange(HS_M_GET, "/x", 200, 200ms), 15s); // window 1

    // At 25 s windows 0..2 are live.
    Snapshot s = agg.snapshot(25s);
    ASSERT_EQ(s.quantiles.size(), 1u);
    EXPECT_EQ(s.quantiles[0].count, 200u);
    EXPECT_NEAR(s.quantiles[0].p50, 0.1, 0.001); // rank 99.5 → the 100th value: 100 ms
    EXPECT_NEAR(s.quantiles[0].p90, 0.2, 0.002);
    EXPECT_DOUBLE_EQ(s.quantiles[0].window_seconds, 25.0);

    // At 35 s window 0 has expired.
    s = agg.snapshot(35s);
    ASSERT_EQ(s.quantiles.size(), 1u);
    EXPECT_EQ(s.quantiles[0].count, 100u);
    EXPECT_NEAR(s.quantiles[0].p50, 0.2, 0.002);
    EXPECT_DOUBLE_EQ(s.quantiles[0].window_seconds, 25.0) << "from 10 s to 35 s";

    // At 45 s both have expired: no quantiles, but the cumulative series stays.
    s = agg.snapshot(45s);
    EXPECT_TRUE(s.quantiles.empty());
    EXPECT_EQ(s.series.at(0).latency.count, 200u);

    // Window 4 reuses window 1's ring slot; the old values must be gone.
    agg.record("api", gen.exchange(HS_M_GET, "/x", 200, 300ms), 45s);
    s = agg.snapshot(45s);
    ASSERT_EQ(s.quantiles.size(), 1u);
    EXPECT_EQ(s.quantiles[0].count, 1u);
    EXPECT_NEAR(s.quantiles[0].p50, 0.3, 0.003);
    EXPECT_NEAR(s.quantiles[0].p99, 0.3, 0.003);
}

TEST(Aggregator, WindowsAreAlignedToMultiplesOfTheWindow) {
    AggregatorConfig c;
    c.window = 10s;
    c.windows_kept = 1;
    Aggregator agg(c);
    EventGenerator gen;
    agg.record("api", gen.exchange(HS_M_GET, "/x", 200, 1ms), 9999ms);
    agg.record("api", gen.exchange(HS_M_GET, "/x", 200, 2ms), 10s);
    const Snapshot s = agg.snapshot(10s);
    ASSERT_EQ(s.quantiles.size(), 1u);
    EXPECT_EQ(s.quantiles[0].count, 1u) << "9.999 s and 10 s are in different windows";
    EXPECT_NEAR(s.quantiles[0].p50, 0.002, 0.00002);
    EXPECT_DOUBLE_EQ(s.quantiles[0].window_seconds, 0.0);
}

TEST(Aggregator, WindowSecondsOfAYoungEndpoint) {
    Aggregator agg; // 6 x 10 s
    EventGenerator gen;
    agg.record("api", gen.exchange(HS_M_GET, "/old", 200, 1ms), 1s);
    agg.record("api", gen.exchange(HS_M_GET, "/new", 200, 1ms), 55s);
    const Snapshot s = agg.snapshot(57s);
    EXPECT_DOUBLE_EQ(find_quantiles(s, "api", "/old")->window_seconds, 57.0);
    EXPECT_DOUBLE_EQ(find_quantiles(s, "api", "/new")->window_seconds, 7.0)
        << "covered from the start of the window it appeared in";
    const Snapshot later = agg.snapshot(200s);
    EXPECT_TRUE(later.quantiles.empty());
}

TEST(Aggregator, WindowSecondsNeverExceedsTheRetainedSpan) {
    Aggregator agg; // 6 x 10 s
    EventGenerator gen;
    for (int t = 0; t <= 100; t += 5)
        agg.record("api", gen.exchange(HS_M_GET, "/x", 200, 1ms), std::chrono::seconds(t));
    const Snapshot s = agg.snapshot(103s);
    ASSERT_EQ(s.quantiles.size(), 1u);
    EXPECT_DOUBLE_EQ(s.quantiles[0].window_seconds, 53.0) << "windows 5..10: from 50 s to 103 s";
    EXPECT_EQ(s.quantiles[0].count, 11u) << "records at 50, 55, ..., 100 s";
}

TEST(Aggregator, TimeDoesNotGoBackwards) {
    Aggregator agg(three_windows_of_10s());
    EventGenerator gen;
    agg.record("api", gen.exchange(HS_M_GET, "/x", 200, 1ms), 100s);
    agg.record("api", gen.exchange(HS_M_GET, "/x", 200, 1ms), 50s); // late caller
    Snapshot s = agg.snapshot(100s);
    ASSERT_EQ(s.quantiles.size(), 1u);
    EXPECT_EQ(s.quantiles[0].count, 2u);
    s = agg.snapshot(10s); // a stale snapshot time is treated as the latest seen
    ASSERT_EQ(s.quantiles.size(), 1u);
    EXPECT_EQ(s.quantiles[0].count, 2u);
}

TEST(Aggregator, SnapshotIsSortedAndIndependentOfArrivalOrder) {
    struct Rec {
        std::string service, target;
        std::uint16_t status;
        std::uint8_t method;
    };
    std::vector<Rec> recs;
    for (const char* svc : {"zeta", "alpha", "mid"})
        for (const char* t : {"/b", "/a/1", "/c"})
            for (const std::uint16_t st : {500, 200, 404})
                for (const std::uint8_t m : {HS_M_POST, HS_M_GET})
                    recs.push_back({svc, t, st, m});

    auto run = [&](unsigned seed) {
        auto order = recs;
        std::shuffle(order.begin(), order.end(), std::mt19937(seed));
        Aggregator agg;
        EventGenerator gen;
        for (const auto& r : order)
            agg.record(r.service, gen.exchange(r.method, r.target, r.status, 1ms), 1s);
        return agg.snapshot(1s);
    };
    const Snapshot a = run(1), b = run(2);
    ASSERT_EQ(a.series.size(), recs.size());
    auto key = [](const ExchangeSeries& x) {
        return std::tie(x.service, x.role, x.method, x.route, x.status, x.peer_address, x.peer_port);
    };
    EXPECT_TRUE(std::is_sorted(a.series.begin(), a.series.end(),
                               [&](const auto& l, const auto& r) { return key(l) < key(r); }));
    EXPECT_EQ(a.series.front().service, "alpha");
    EXPECT_EQ(a.series.front().method, "GET");
    EXPECT_EQ(a.series.front().route, "/a/{id}");
    EXPECT_EQ(a.series.front().status, 200);
    for (std::size_t i = 0; i < a.series.size(); ++i)
        ASSERT_EQ(key(a.series[i]), key(b.series[i])) << i;
    ASSERT_EQ(a.quantiles.size(), b.quantiles.size());
    for (std::size_t i = 0; i < a.quantiles.size(); ++i) {
        EXPECT_EQ(a.quantiles[i].service, b.quantiles[i].service);
        EXPECT_EQ(a.quantiles[i].route, b.quantiles[i].route);
        EXPECT_EQ(a.quantiles[i].method, b.quantiles[i].method);
    }
    EXPECT_EQ(a.routes_overflowed,
              (std::vector<std::pair<std::string, std::uint64_t>>{{"alpha", 0}, {"mid", 0}, {"zeta", 0}}));
}

TEST(Aggregator, WindowStatsPerEndpointAndWindow) {
    AggregatorConfig cfg;
    cfg.window = 10s;
    cfg.windows_kept = 3;
    Aggregator agg(cfg);
    EventGenerator gen;
    // Window 1 (10 s .. 20 s): 100 requests on /users/{id}, 1..100 ms, 7 of them 503.
    for (int i = 1; i <= 100; ++i)
        agg.record("api", gen.exchange(HS_M_GET, "/users/" + std::to_string(i), i <= 7 ? 503 : 200,
                                       std::chrono::milliseconds(i)), 10s + std::chrono::milliseconds(i));
    agg.record("api", gen.exchange(HS_M_POST, "/login", 404, 2ms), 15s);
    // Window 2: one request.
    agg.record("api", gen.exchange(HS_M_GET, "/users/1", 200, 3ms), 25s);

    EXPECT_EQ(agg.window_of(19999ms), 1);
    auto w1 = agg.window_stats(1);
    ASSERT_EQ(w1.size(), 2u);
    const auto& users = w1[0].route == "/users/{id}" ? w1[0] : w1[1];
    const auto& login = w1[0].route == "/login" ? w1[0] : w1[1];
    EXPECT_EQ(users.service, "api");
    EXPECT_EQ(users.method, "GET");
    EXPECT_EQ(users.count, 100u);
    EXPECT_EQ(users.errors, 7u); // 5xx only: the 404 on /login is not an error
    EXPECT_NEAR(users.p95, 0.095, 0.095 * 0.02);
    EXPECT_NEAR(users.p50, 0.050, 0.050 * 0.02);
    EXPECT_EQ(login.count, 1u);
    EXPECT_EQ(login.errors, 0u);
    ASSERT_EQ(agg.window_stats(2).size(), 1u);
    EXPECT_EQ(agg.window_stats(2)[0].count, 1u);
    EXPECT_TRUE(agg.window_stats(0).empty());
    // Window 4 reuses window 1's slot (3 kept): window 1 is gone, not mixed in.
    agg.record("api", gen.exchange(HS_M_GET, "/users/1", 500, 3ms), 45s);
    EXPECT_TRUE(agg.window_stats(1).empty());
    auto w4 = agg.window_stats(4);
    ASSERT_EQ(w4.size(), 1u);
    EXPECT_EQ(w4[0].count, 1u);
    EXPECT_EQ(w4[0].errors, 1u);
}

} // namespace
} // namespace homeostat::engine
