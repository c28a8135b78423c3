#include <gtest/gtest.h>

#include <cstdint>

#include "engine/detect/exhaustion.h"
#include "tests/engine/detect/series.h"

namespace homeostat::engine::detect {
namespace {

using testing::Gauss;

constexpr std::int64_t kS = 1'000'000'000;

// 200 MB, leaking 50 kB/s, sampled every 10 s with 1 MB of noise and a few GC dips.
TEST(Exhaustion, KnownLeakRateAndTimeToLimit) {
    ExhaustionTrend tr;
    Gauss g(3);
    const double base = 200e6, rate = 50e3;
    for (int i = 0; i < 200; ++i) {
        double v = base + rate * 10 * i + 1e6 * g.next();
        if (i % 17 == 0) v -= 20e6; // collections: outliers, not the trend
        tr.add(i * 10 * kS, v);
    }
    const auto e = tr.predict(1e9);
    ASSERT_TRUE(e.has_value());
    EXPECT_NEAR(e->slope, rate, 0.03 * rate);
    const double now = base + rate * 10 * 199;
    EXPECT_NEAR(e->current, now, 2e6);
    EXPECT_NEAR(e->seconds_to_limit, (1e9 - now) / rate, 0.05 * (1e9 - now) / rate);
}

TEST(Exhaustion, FlatNoisySeriesPredictsNothing) {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        ExhaustionTrend tr;
        Gauss g(seed);
        for (int i = 0; i < 300; ++i) {
            tr.add(i * 10 * kS, 500e6 + 5e6 * g.next());
            if (i % 10 == 9) ASSERT_FALSE(tr.predict(1e9).has_value()) << seed << " " << i;
        }
    }
}

TEST(Exhaustion, ShrinkingOrShortPredictsNothing) {
    ExhaustionTrend tr;
    for (int i = 0; i < 5; ++i)
        tr.add(i * kS, 1e6 * i);
    EXPECT_FALSE(tr.predict(1e9).has_value()); // under min_points
    ExhaustionTrend down;
    for (int i = 0; i < 50; ++i)
        down.add(i * kS, 1e9 - 1e6 * i);
    EXPECT_FALSE(down.predict(2e9).has_value());
}

TEST(Exhaustion, AboveTheLimitIsZeroSeconds) {
    ExhaustionTrend tr;
    for (int i = 0; i < 20; ++i)
        tr.add(i * kS, 100.0 + i);
    const auto e = tr.predict(50);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->seconds_to_limit, 0);
    EXPECT_NEAR(e->slope, 1, 1e-9);
}

} // namespace
} // namespace homeostat::engine::detect
