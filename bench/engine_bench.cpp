// Cost of the engine's hot path: Aggregator::record runs once per HTTP exchange on the
// thread that drains the ring buffer, and must stay well under ~300 ns on a 2-core box.
//
//   cmake --build build-engine --target engine_bench
//   build-engine/bench/engine_bench --benchmark_filter=Record
//
// Events come from EventGenerator, i.e. laid out exactly as the BPF side submits them.
#include <benchmark/benchmark.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "engine/aggregator.h"
#include "engine/ddsketch.h"
#include "engine/protocols/http/request_target.h"
#include "engine/route_templater.h"
#include "engine/testing/event_generator.h"

namespace {

using namespace std::chrono_literals;
using homeostat::engine::Aggregator;
using homeostat::engine::DDSketch;
using homeostat::engine::RouteTemplater;
using homeostat::engine::testing::EventGenerator;
using homeostat::engine::testing::SocketAddress;

struct Workload {
    std::vector<std::string> services;
    std::vector<hs_http_exchange> events;
    std::vector<std::uint32_t> service_of; // index into services per event
};

// 50 routes over 3 services; most carry a numeric id or a UUID, so raw paths rarely
// repeat (the raw-path cache mostly misses, the hard case for the hot path) unless
// `distinct_ids` is small. Statuses 200/404/500 at 90/7/3 %, lognormal latencies around
// 20 ms, one event in ten from the client side towards one of four upstreams.
// `every_service_every_route` serves all 50 routes from each service instead (3x the
// series and endpoints, for the cache-pressure case).
Workload make_workload(std::size_t n, int distinct_ids, bool every_service_every_route = false) {
    Workload w;
    w.services = {"checkout", "catalog", "users"};
    std::mt19937_64 rng(2024);
    std::uniform_int_distribution<int> route(0, 49), id(1, distinct_ids), svc(0, 2), pct(0, 99),
        upstream(0, 3);
    std::lognormal_distribution<> latency_s(std::log(0.02), 0.8);
    const char* shapes[] = {"/api/v1/orders/%d", "/api/v1/orders/%d/items", "/users/%d/profile",
                            "/products/%d", "/static/app%d.js"};
    const SocketAddress upstreams[] = {
        SocketAddress::parse("10.0.1.10", 5432), SocketAddress::parse("10.0.1.11", 6379),
        SocketAddress::parse("fd00::20", 8080), SocketAddress::parse("10.0.1.12", 9200)};
    EventGenerator gen;
    char target[96];
    for (std::size_t i = 0; i < n; ++i) {
        const int r = route(rng);
        const int shape = r % 5;
        if (shape == 4) {
            std::snprintf(target, sizeof target, "/r%d/static/app.js", r);
        } else if (r % 7 == 0) {
            std::snprintf(target, sizeof target, "/r%d/sessions/%08x-1234-4abc-8def-%012d?v=2", r, id(rng),
                          id(rng));
        } else {
            char path[64];
            std::snprintf(path, sizeof path, shapes[shape], id(rng));
            std::snprintf(target, sizeof target, "/r%d%s", r, path);
        }
        const int p = pct(rng);
        const std::uint16_t status = p < 90 ? 200 : p < 97 ? 404 : 500;
        const auto lat = std::chrono::nanoseconds(static_cast<long long>(latency_s(rng) * 1e9));
        const std::uint8_t method = r % 3 == 0 ? HS_M_POST : HS_M_GET;
        if (pct(rng) < 10)
            w.events.push_back(gen.client_exchange(method, target, status, lat, upstreams[upstream(rng)]));
        else
            w.events.push_back(gen.exchange(method, target, status, lat));
        w.service_of.push_back(static_cast<std::uint32_t>(every_service_every_route ? svc(rng) : r % 3));
    }
    return w;
}

void run_record(benchmark::State& state, const Workload& w) {
    Aggregator agg;
    // Warm up: create every series so the loop measures the steady state.
    std::chrono::nanoseconds now = 1s;
    for (std::size_t i = 0; i < w.events.size(); ++i)
        agg.record(w.services[w.service_of[i]], w.events[i], now);
    std::size_t i = 0;
    const std::size_t mask = w.events.size() - 1;
    for (auto _ : state) {
        now += 1us; // windows roll every 10 M records
        agg.record(w.services[w.service_of[i & mask]], w.events[i & mask], now);
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["series"] = static_cast<double>(agg.series_count());
}

void BM_RecordMixedIds(benchmark::State& state) {
    static const Workload w = make_workload(1 << 16, 1'000'000);
    run_record(state, w);
}
BENCHMARK(BM_RecordMixedIds);

void BM_RecordManyEndpoints(benchmark::State& state) {
    static const Workload w = make_workload(1 << 16, 1'000'000, true);
    run_record(state, w);
}
BENCHMARK(BM_RecordManyEndpoints);

void BM_RecordHotPaths(benchmark::State& state) {
    // Few ids: nearly every raw path hits the route cache.
    static const Workload w = make_workload(1 << 16, 3);
    run_record(state, w);
}
BENCHMARK(BM_RecordHotPaths);

void BM_Snapshot(benchmark::State& state) {
    const Workload w = make_workload(1 << 16, 1'000'000);
    Aggregator agg;
    std::chrono::nanoseconds now = 1s;
    for (std::size_t i = 0; i < w.events.size(); ++i) {
        now += 100us; // spread over all six windows
        agg.record(w.services[w.service_of[i]], w.events[i], now);
    }
    for (auto _ : state)
        benchmark::DoNotOptimize(agg.snapshot(now));
    state.counters["series"] = static_cast<double>(agg.series_count());
    state.counters["endpoints"] = static_cast<double>(agg.endpoint_count());
}
BENCHMARK(BM_Snapshot)->Unit(benchmark::kMicrosecond);

void BM_ParseAndTemplate(benchmark::State& state) {
    const Workload w = make_workload(1 << 12, 1'000'000);
    std::string out;
    std::size_t i = 0;
    for (auto _ : state) {
        const auto t = homeostat::engine::http::parse_request_target(w.events[i++ & 4095]);
        RouteTemplater::template_path(t.path, t.truncated, out);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(BM_ParseAndTemplate);

void BM_DDSketchAdd(benchmark::State& state) {
    DDSketch s;
    std::mt19937_64 rng(1);
    std::lognormal_distribution<> d(std::log(0.02), 0.8);
    std::vector<double> v(4096);
    for (auto& x : v)
        x = d(rng);
    std::size_t i = 0;
    for (auto _ : state)
        s.add(v[i++ & 4095]);
    benchmark::DoNotOptimize(s.count());
}
BENCHMARK(BM_DDSketchAdd);

} // namespace

BENCHMARK_MAIN();
