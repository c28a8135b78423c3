#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "engine/detect/seasonal.h"
#include "tests/engine/detect/series.h"

namespace homeostat::engine::detect {
namespace {

using testing::Gauss;

constexpr std::int64_t kStep = 300; // seconds: one point every 5 minutes
constexpr std::size_t kPerDay = 86400 / kStep;

Point at5(std::size_t i, double v) {
    return Point{static_cast<std::int64_t>(i) * kStep * 1'000'000'000, v};
}

// Traffic with a daily peak at 15:00 and a trough at 03:00, plus noise.
double daily(std::size_t i) {
    const double day_frac = static_cast<double>(i % kPerDay) / kPerDay;
    return 100 + 50 * std::sin(2 * std::numbers::pi * (day_frac - 0.375));
}

TEST(Seasonal, FlagsTheOffHourPeakNotTheRegularOnes) {
    Seasonal d;
    Gauss g(11);
    const std::size_t days = 6;
    const std::size_t anomaly = 4 * kPerDay + 3 * 12; // day 4, 03:00: peak traffic at night
    std::vector<Score> s;
    for (std::size_t i = 0; i < days * kPerDay; ++i) {
        double v = daily(i) + 2 * g.next();
        if (i == anomaly) v = 150;
        s.push_back(d.update(at5(i, v)));
    }
    // Learning for the first two days, whatever happens.
    for (std::size_t i = 0; i < 2 * kPerDay; ++i)
        ASSERT_EQ(s[i].score, 0) << i;
    EXPECT_TRUE(s[2 * kPerDay].warm);
    EXPECT_GE(s[anomaly].score, 0.8);
    EXPECT_NEAR(s[anomaly].expected, daily(anomaly), 5);
    for (std::size_t i = 2 * kPerDay; i < s.size(); ++i) {
        if (i == anomaly) continue;
        ASSERT_LT(s[i].score, 0.8) << i; // the 15:00 peaks (150) included
    }
}

TEST(Seasonal, PureNoiseRaisesNothing) {
    Seasonal d;
    Gauss g(5);
    for (std::size_t i = 0; i < 10 * kPerDay; ++i)
        ASSERT_LT(d.update(at5(i, 40 + 3 * g.next())).score, 0.8) << i;
}

TEST(Seasonal, SlotsFollowTheClock) {
    Seasonal d(SeasonalConfig{.period_seconds = 604800, .slot_seconds = 3600});
    EXPECT_EQ(d.slot_of(0), 0u);
    EXPECT_EQ(d.slot_of(3599'000'000'000), 0u);
    EXPECT_EQ(d.slot_of(3600'000'000'000), 1u);
    EXPECT_EQ(d.slot_of(604800'000'000'000), 0u);
    EXPECT_EQ(d.slot_of(-1), 167u); // a second before the epoch: the last slot
}

TEST(Seasonal, RejectsBadConfigs) {
    EXPECT_THROW(Seasonal(SeasonalConfig{.slot_seconds = 7}), std::invalid_argument); // 86400 % 7
    EXPECT_THROW(Seasonal(SeasonalConfig{.slot_seconds = 0}), std::invalid_argument);
    EXPECT_THROW(Seasonal(SeasonalConfig{.period_seconds = 86400 * 365, .slot_seconds = 60}),
                 std::invalid_argument); // too many slots
    EXPECT_THROW(Seasonal(SeasonalConfig{.alpha = 0}), std::invalid_argument);
}

} // namespace
} // namespace homeostat::engine::detect
