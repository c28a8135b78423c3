#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/detect/cusum.h"
#include "engine/detect/drift.h"
#include "engine/detect/scale.h"
#include "engine/detect/ensemble.h"
#include "engine/detect/ew_zscore.h"
#include "engine/detect/exp_smoothing.h"
#include "engine/detect/holt.h"
#include "engine/detect/poisson_rate.h"
#include "engine/detect/robust_mad.h"
#include "engine/detect/rolling_zscore.h"
#include "tests/engine/detect/series.h"

namespace homeostat::engine::detect {
namespace {

using testing::at;
using ::testing::ElementsAre;
using testing::flagged;
using testing::noise;
using testing::run;

TEST(ZToScore, MappingIsDocumentedRamp) {
    EXPECT_EQ(z_to_score(0), 0);
    EXPECT_EQ(z_to_score(2), 0);
    EXPECT_EQ(z_to_score(-2), 0);
    EXPECT_NEAR(z_to_score(3), 0.15625, 1e-12);
    EXPECT_NEAR(z_to_score(4), 0.5, 1e-12);
    EXPECT_NEAR(z_to_score(-4), 0.5, 1e-12);
    EXPECT_NEAR(z_to_score(5), 0.84375, 1e-12);
    EXPECT_EQ(z_to_score(6), 1);
    EXPECT_EQ(z_to_score(60), 1);
    EXPECT_EQ(z_to_score(std::numeric_limits<double>::infinity()), 1);
    EXPECT_EQ(z_to_score(std::numeric_limits<double>::quiet_NaN()), 0);
    for (double z = 2; z < 6; z += 0.01)
        EXPECT_LE(z_to_score(z), z_to_score(z + 0.01)); // monotone
}

// Gaussian noise (mean 100, sd 1) with one +10 sd spike: the forecast and z detectors
// flag exactly that point.
class SpikeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SpikeTest, FlagsTheSpikeAndNothingElse) {
    auto values = noise(600, 100, 1, 42);
    values[400] += 10;
    auto d = make_detector(GetParam());
    ASSERT_TRUE(d);
    const auto scores = run(*d, values);
    EXPECT_THAT(flagged(scores), ElementsAre(400u));
    EXPECT_EQ(scores[400].score, 1.0);
    EXPECT_NEAR(scores[400].expected, 100, 1.0);
    EXPECT_EQ(scores[400].observed, values[400]);
    EXPECT_GT(scores[400].observed, scores[400].upper);
    EXPECT_LT(scores[400].lower, scores[400].expected);
    // A negative spike too.
    values[400] -= 20;
    auto d2 = make_detector(GetParam());
    EXPECT_THAT(flagged(run(*d2, values)), ElementsAre(400u));
}

INSTANTIATE_TEST_SUITE_P(Forecasters, SpikeTest, ::testing::Values("ses", "holt", "ewz", "mad", "rollz"));

TEST(ExpSmoothing, LevelFollowsWithAlpha) {
    ExpSmoothing d;
    d.update(at(0, 10));
    EXPECT_EQ(d.level(), 10);
    const auto s = d.update(at(1, 20));
    EXPECT_EQ(s.expected, 10);
    EXPECT_FALSE(s.warm);
    EXPECT_DOUBLE_EQ(d.level(), 13); // 10 + 0.3 * 10
}

TEST(Detectors, WarmupScoresZero) {
    for (auto name : {"ses", "holt", "ewz", "mad", "cusum"}) {
        auto d = make_detector(name);
        auto values = noise(40, 100, 1, 7);
        values[5] = 1000; // would be a huge anomaly if anything were learnt yet
        const auto s = run(*d, values);
        for (std::size_t i = 0; i < 6; ++i) {
            EXPECT_FALSE(s[i].warm) << name << " " << i;
            EXPECT_EQ(s[i].score, 0) << name << " " << i;
        }
        EXPECT_TRUE(s.back().warm) << name;
    }
}

TEST(Detectors, NonFiniteValuesAreGapsNotData) {
    const auto values = noise(300, 50, 2, 3);
    for (auto name : {"ses", "holt", "ewz", "mad", "cusum", "ensemble"}) {
        auto with_gaps = make_detector(name);
        auto clean = make_detector(name);
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i % 50 == 25) {
                const auto g = with_gaps->update(at(i, std::numeric_limits<double>::quiet_NaN()));
                EXPECT_EQ(g.score, 0) << name;
                with_gaps->update(at(i, std::numeric_limits<double>::infinity()));
            }
            const auto a = with_gaps->update(at(i, values[i]));
            const auto b = clean->update(at(i, values[i]));
            EXPECT_EQ(a.score, b.score) << name << " " << i;
            EXPECT_EQ(a.expected, b.expected) << name << " " << i;
        }
    }
}

// A +5 sd level shift at 300: CUSUM alarms within 3 points, and never before it.
TEST(Cusum, DetectsLevelShiftWithinAFewPoints) {
    auto values = noise(600, 20, 1, 11);
    for (std::size_t i = 300; i < values.size(); ++i)
        values[i] += 5;
    Cusum d;
    const auto s = run(d, values);
    const auto f = flagged(s);
    ASSERT_FALSE(f.empty());
    EXPECT_GE(f.front(), 300u);
    EXPECT_LE(f.front(), 302u);
    EXPECT_EQ(s[f.front()].score, 1.0);
    // Re-anchoring: one shift is one alarm, not an alarm per point afterwards.
    EXPECT_EQ(d.alarms(), 1u);
    EXPECT_NEAR(s.back().expected, 25, 1.0);
}

TEST(Cusum, DetectsDownwardShiftToo) {
    auto values = noise(400, 20, 1, 12);
    for (std::size_t i = 200; i < values.size(); ++i)
        values[i] -= 4;
    Cusum d;
    const auto f = flagged(run(d, values));
    ASSERT_FALSE(f.empty());
    EXPECT_GE(f.front(), 200u);
    EXPECT_LE(f.front(), 203u);
}

TEST(Cusum, SingleSpikeIsNotAShift) {
    auto values = noise(600, 20, 1, 13);
    values[300] += 50;
    Cusum d;
    EXPECT_TRUE(flagged(run(d, values)).empty());
    EXPECT_EQ(d.alarms(), 0u);
}

// A slow trend (0.05 sd per point) under unit noise: Holt follows it without a single
// flagged point, its forecast is unbiased and its error is close to the noise itself,
// while simple smoothing lags by slope * (1 - alpha) / alpha.
TEST(Holt, FollowsSlowTrendWithoutAlerts) {
    auto values = noise(3000, 0, 1, 21);
    for (std::size_t i = 0; i < values.size(); ++i)
        values[i] += 100 + 0.05 * static_cast<double>(i);
    Holt holt;
    ExpSmoothing ses;
    std::vector<Score> h, s;
    double trend_sum = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
        h.push_back(holt.update(at(i, values[i])));
        s.push_back(ses.update(at(i, values[i])));
        if (i >= 1000) trend_sum += holt.trend();
    }
    EXPECT_TRUE(flagged(h).empty());
    double bias_h = 0, abs_h = 0, bias_s = 0;
    std::size_t n = 0;
    for (std::size_t i = 1000; i < values.size(); ++i, ++n) {
        bias_h += values[i] - h[i].expected;
        abs_h += std::fabs(values[i] - h[i].expected);
        bias_s += values[i] - s[i].expected;
    }
    bias_h /= n;
    abs_h /= n;
    bias_s /= n;
    EXPECT_LT(std::fabs(bias_h), 0.1);
    // E|N(0,1)| = 0.80; the one-step error of Holt adds the level/trend estimation noise.
    EXPECT_LT(abs_h, 1.0);
    EXPECT_NEAR(bias_s, 0.05 * 0.7 / 0.3, 0.08);
    // The trend estimate is noisy point to point (beta 0.1) but right on average.
    EXPECT_NEAR(trend_sum / static_cast<double>(n), 0.05, 0.01);
    EXPECT_NEAR(holt.forecast(10) - holt.forecast(0), 10 * holt.trend(), 1e-9);
}

TEST(RobustMad, MedianAndMadMatchBruteForce) {
    RobustMad d(RobustMadConfig{.window = 16, .warmup = 3});
    testing::Gauss g(5);
    std::vector<double> all;
    for (int i = 0; i < 200; ++i) {
        // Rounded so that ties (equal values) are common.
        const double v = std::round(g.next() * 3);
        d.update(at(i, v));
        all.push_back(v);
        std::vector<double> w(all.end() - std::min<std::size_t>(all.size(), 16), all.end());
        std::sort(w.begin(), w.end());
        const std::size_t n = w.size();
        const double med = n % 2 ? w[n / 2] : 0.5 * (w[n / 2 - 1] + w[n / 2]);
        std::vector<double> dev;
        for (double x : w)
            dev.push_back(std::fabs(x - med));
        std::sort(dev.begin(), dev.end());
        const double mad = n % 2 ? dev[n / 2] : 0.5 * (dev[n / 2 - 1] + dev[n / 2]);
        ASSERT_EQ(d.median(), med) << i;
        ASSERT_EQ(d.mad(), mad) << i;
    }
}

TEST(RobustMad, BurstOfOutliersDoesNotInflateScale) {
    // Five +20 spikes in a 64-point window barely move the MAD, so a sixth is still
    // flagged; an EW variance has been blown up by then.
    auto values = noise(300, 0, 1, 8);
    for (std::size_t i : {200u, 205u, 210u, 215u, 220u, 225u})
        values[i] += 20;
    RobustMad d;
    const auto s = run(d, values);
    EXPECT_THAT(flagged(s), ElementsAre(200u, 205u, 210u, 215u, 220u, 225u));
}

// The running sums stay exact (periodic recomputation) even far from zero, where naive
// sum-of-squares arithmetic would cancel catastrophically.
TEST(RollingZScore, MeanAndIntervalMatchBruteForce) {
    const auto values = noise(1000, 1e9, 5, 17);
    RollingZScore d(RollingZScoreConfig{.window = 32, .warmup = 3});
    for (std::size_t i = 0; i < values.size(); ++i) {
        const auto s = d.update(at(i, values[i]));
        if (i < 32) continue;
        double mean = 0, var = 0;
        for (std::size_t k = i - 32; k < i; ++k)
            mean += values[k];
        mean /= 32;
        for (std::size_t k = i - 32; k < i; ++k)
            var += (values[k] - mean) * (values[k] - mean);
        const double sd = std::sqrt(var / 31);
        ASSERT_NEAR(s.expected, mean, 1e-6) << i;
        ASSERT_NEAR((s.upper - s.lower) / 6, sd, 1e-3 * sd) << i;
    }
}

TEST(RollingZScore, SpikeMasksTheNextOneForAWindow) {
    // The weakness the ensemble exists for: after a +10 spike, a +6 spike 10 points later
    // is not flagged by the rolling z-score, but is by the robust window.
    auto values = noise(300, 0, 1, 23);
    values[200] += 10;
    values[210] += 6;
    RollingZScore z;
    RobustMad m;
    EXPECT_THAT(flagged(run(z, values)), ElementsAre(200u));
    EXPECT_THAT(flagged(run(m, values)), ElementsAre(200u, 210u));
}

TEST(PoissonRate, AnscombeZ) {
    EXPECT_EQ(PoissonRate::anscombe_z(4, 4), 0);
    EXPECT_GT(PoissonRate::anscombe_z(9, 4), 0);
    EXPECT_LT(PoissonRate::anscombe_z(1, 4), 0);
}

// 1000 requests per interval with ~1% errors, then 10% errors: a 10x surge.
TEST(PoissonRate, TenfoldErrorSurgeFires) {
    PoissonRate d;
    testing::Gauss g(31);
    std::vector<Score> s;
    for (int i = 0; i < 100; ++i) {
        const double errors = std::max(0.0, std::round(10 + 3 * g.next()));
        s.push_back(d.update_ratio(at(i, errors), 1000));
    }
    EXPECT_TRUE(flagged(s, 0.5).empty());
    EXPECT_NEAR(d.expected_ratio(), 0.01, 0.003);
    const auto surge = d.update_ratio(at(100, 100), 1000);
    EXPECT_TRUE(surge.warm);
    EXPECT_EQ(surge.score, 1.0);
    EXPECT_NEAR(surge.expected, 10, 3);
    EXPECT_GT(surge.observed, surge.upper);
    // Fewer errors than usual is not an error surge.
    EXPECT_EQ(d.update_ratio(at(101, 0), 1000).score, 0);
}

TEST(PoissonRate, BelowMinimumVolumeNeverFires) {
    PoissonRate d;
    // A clean past: no errors at all, a handful of requests per interval.
    for (int i = 0; i < 50; ++i)
        d.update_ratio(at(i, 0), 3);
    // 1 error of 2 requests, 2 of 2, even 19 of 19: all below min_volume (20 requests).
    EXPECT_EQ(d.update_ratio(at(50, 1), 2).score, 0);
    EXPECT_EQ(d.update_ratio(at(51, 2), 2).score, 0);
    EXPECT_EQ(d.update_ratio(at(52, 19), 19).score, 0);
    // Enough requests but fewer than min_events (5) errors: still nothing.
    EXPECT_EQ(d.update_ratio(at(53, 4), 1000).score, 0);
    // Enough of both: 50 errors out of 100 after a clean past is a surge.
    EXPECT_EQ(d.update_ratio(at(54, 50), 100).score, 1.0);
}

TEST(PoissonRate, InvalidRatioInputIsIgnored) {
    PoissonRate d;
    for (int i = 0; i < 20; ++i)
        d.update_ratio(at(i, 1), 100);
    const double before = d.expected_ratio();
    EXPECT_EQ(d.update_ratio(at(20, 50), 10).score, 0); // more errors than requests
    EXPECT_EQ(d.update_ratio(at(21, -1), 10).score, 0);
    EXPECT_EQ(d.expected_ratio(), before);
}

TEST(PoissonRate, TrafficShiftBothWaysAboveMinimumVolume) {
    testing::Gauss g(41);
    PoissonRate d;
    for (int i = 0; i < 100; ++i)
        EXPECT_LT(d.update(at(i, std::round(1000 + 30 * g.next()))).score, 0.5) << i;
    EXPECT_EQ(d.update(at(100, 500)).score, 1.0);  // traffic halved
    EXPECT_EQ(d.update(at(101, 2000)).score, 1.0); // doubled (baseline barely moved)

    // A quiet endpoint: 1-3 requests per interval, then 12: more, but never min_volume.
    PoissonRate q;
    for (int i = 0; i < 50; ++i)
        q.update(at(i, 1 + i % 3));
    EXPECT_EQ(q.update(at(50, 12)).score, 0);
    // 40 requests where 2 were expected is enough volume, and a shift.
    EXPECT_GT(q.update(at(51, 40)).score, 0.8);
}

// save() -> text -> load() into a fresh detector gives bit-identical subsequent scores.
class RoundTripTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundTripTest, SaveLoadGivesIdenticalScores) {
    auto values = noise(800, 40, 3, 99);
    for (std::size_t i = 500; i < 800; ++i)
        values[i] += (i % 97 == 0) ? 30 : 6; // a shift and some spikes after the save
    for (auto& v : values)
        v = std::max(0.0, std::round(v)); // counts, so poisson sees valid input too
    auto a = make_detector(GetParam());
    for (std::size_t i = 0; i < 300; ++i)
        a->update(at(i, values[i]));
    const std::string text = a->save().dump();
    auto b = make_detector(GetParam());
    b->update(at(0, 12345)); // some different state, to be overwritten
    b->load(nlohmann::json::parse(text));
    EXPECT_EQ(b->save().dump(), text);
    for (std::size_t i = 300; i < values.size(); ++i) {
        const auto x = a->update(at(i, values[i]));
        const auto y = b->update(at(i, values[i]));
        ASSERT_EQ(x.score, y.score) << i;
        ASSERT_EQ(x.expected, y.expected) << i;
        ASSERT_EQ(x.lower, y.lower) << i;
        ASSERT_EQ(x.upper, y.upper) << i;
        ASSERT_EQ(x.warm, y.warm) << i;
    }
}

INSTANTIATE_TEST_SUITE_P(All, RoundTripTest, ::testing::ValuesIn([] {
                             std::vector<std::string> v;
                             for (auto n : detector_names())
                                 v.emplace_back(n);
                             return v;
                         }()));

TEST(Detectors, LoadRejectsAnotherType) {
    Holt h;
    ExpSmoothing s;
    EXPECT_THROW(s.load(h.save()), std::invalid_argument);
    EXPECT_THROW(s.load(nlohmann::json{{"type", "ses"}}), nlohmann::json::exception);
}

TEST(Detectors, ConstructorsRejectBadConfigs) {
    EXPECT_THROW(ExpSmoothing(ExpSmoothingConfig{.alpha = 0}), std::invalid_argument);
    EXPECT_THROW(ExpSmoothing(ExpSmoothingConfig{.alpha = 1.5}), std::invalid_argument);
    EXPECT_THROW(Holt(HoltConfig{.beta = 0}), std::invalid_argument);
    EXPECT_THROW(EwZScore(EwZScoreConfig{.alpha = -1}), std::invalid_argument);
    EXPECT_THROW(RobustMad(RobustMadConfig{.window = 8, .warmup = 9}), std::invalid_argument);
    EXPECT_THROW(RobustMad(RobustMadConfig{.window = 100000, .warmup = 9}), std::invalid_argument);
    EXPECT_THROW(Cusum(CusumConfig{.threshold = 0}), std::invalid_argument);
    EXPECT_THROW(PoissonRate(PoissonRateConfig{.rate_floor = 0}), std::invalid_argument);
    EXPECT_THROW(RollingZScore(RollingZScoreConfig{.window = 2, .warmup = 3}), std::invalid_argument);
    EXPECT_EQ(make_detector("nope"), nullptr);
}

} // namespace
} // namespace homeostat::engine::detect

namespace homeostat::engine::detect {
namespace {

// A ramp of 0.05 sd per point that Holt follows without surprise: Drift sees it within
// ~40 points and says nothing on the flat part before.
TEST(Drift, SeesASlowRampTheForecastersFollow) {
    auto values = testing::noise(1000, 100, 1, 31);
    for (std::size_t i = 500; i < values.size(); ++i)
        values[i] += 0.05 * static_cast<double>(i - 499);
    Drift drift;
    const auto s = testing::run(drift, values);
    const auto f = testing::flagged(s);
    ASSERT_FALSE(f.empty());
    EXPECT_GE(f.front(), 500u);
    EXPECT_LE(f.front(), 540u);
    EXPECT_NEAR(s[400].expected, 100, 0.5);
}

// The sd quadruples for 50 points: Scale's ratio rises within a few points; a single
// 12-sd spike does not reach 0.8, and on plain noise nothing does.
TEST(Scale, SeesLouderNoiseNotOneSpike) {
    auto values = testing::noise(1200, 100, 1, 32);
    for (std::size_t i = 500; i < 550; ++i)
        values[i] = 100 + 4 * (values[i] - 100);
    values[900] += 12;
    Scale scale;
    const auto s = testing::run(scale, values);
    const auto f = testing::flagged(s, 0.5);
    ASSERT_FALSE(f.empty());
    EXPECT_GE(f.front(), 500u);
    EXPECT_LE(f.front(), 515u);
    EXPECT_TRUE(std::all_of(f.begin(), f.end(), [](std::size_t i) { return i >= 500 && i < 600; }));
}

} // namespace
} // namespace homeostat::engine::detect
