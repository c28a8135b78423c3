// Cost of detection per point: the default ensemble (what the daemon runs on every
// latency and traffic series) and each detector alone, on one core.
//
//   cmake --build build --target detect_bench
//   build/bench/detect_bench --benchmark_filter=Ensemble
//
// items_per_second is points per second. The series is Gaussian noise with a spike every
// 97 points, so the robust window and the hysteresis see both calm and surprising values.
#include <benchmark/benchmark.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/detect/ensemble.h"

namespace {

using homeostat::engine::detect::Point;

std::vector<Point> series(std::size_t n) {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> noise(100.0, 5.0);
    std::vector<Point> p(n);
    for (std::size_t i = 0; i < n; ++i)
        p[i] = Point{static_cast<std::int64_t>(i) * 60'000'000'000, noise(rng) + (i % 97 == 0 ? 60.0 : 0.0)};
    return p;
}

void run(benchmark::State& state, std::string_view name) {
    const auto points = series(1 << 16);
    auto d = homeostat::engine::detect::make_detector(name);
    std::size_t i = 0;
    double sink = 0;
    for (auto _ : state) {
        sink += d->update(points[i]).score;
        i = (i + 1) & (points.size() - 1);
    }
    benchmark::DoNotOptimize(sink);
    state.SetItemsProcessed(state.iterations());
}

void BM_EnsembleStep(benchmark::State& state) {
    // step(): the combined score, the hysteresis and the evidence, as LiveMonitor calls it.
    const auto points = series(1 << 16);
    auto e = homeostat::engine::detect::make_default_ensemble();
    std::size_t i = 0, opened = 0;
    for (auto _ : state) {
        opened += e->step(points[i]).opened;
        i = (i + 1) & (points.size() - 1);
    }
    benchmark::DoNotOptimize(opened);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EnsembleStep);

void BM_Detector(benchmark::State& state, const char* name) {
    run(state, name);
}
BENCHMARK_CAPTURE(BM_Detector, ensemble, "ensemble");
BENCHMARK_CAPTURE(BM_Detector, ses, "ses");
BENCHMARK_CAPTURE(BM_Detector, holt, "holt");
BENCHMARK_CAPTURE(BM_Detector, ewz, "ewz");
BENCHMARK_CAPTURE(BM_Detector, mad, "mad");
BENCHMARK_CAPTURE(BM_Detector, cusum, "cusum");
BENCHMARK_CAPTURE(BM_Detector, drift, "drift");
BENCHMARK_CAPTURE(BM_Detector, scale, "scale");
BENCHMARK_CAPTURE(BM_Detector, poisson, "poisson");
BENCHMARK_CAPTURE(BM_Detector, rollz, "rollz");
BENCHMARK_CAPTURE(BM_Detector, seasonal, "seasonal");

} // namespace

BENCHMARK_MAIN();
