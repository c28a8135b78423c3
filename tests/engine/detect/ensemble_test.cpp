#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/detect/ensemble.h"
#include "engine/detect/exp_smoothing.h"
#include "tests/engine/detect/series.h"

namespace homeostat::engine::detect {
namespace {

using testing::at;
using ::testing::ElementsAre;
using testing::noise;

std::vector<EnsembleResult> run_all(Ensemble& e, const std::vector<double>& values) {
    std::vector<EnsembleResult> out;
    for (std::size_t i = 0; i < values.size(); ++i)
        out.push_back(e.step(at(i, values[i])));
    return out;
}

std::vector<std::size_t> opened_at(const std::vector<EnsembleResult>& r) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < r.size(); ++i)
        if (r[i].opened) out.push_back(i);
    return out;
}

std::vector<std::size_t> resolved_at(const std::vector<EnsembleResult>& r) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < r.size(); ++i)
        if (r[i].resolved) out.push_back(i);
    return out;
}

// Pure Gaussian noise, several seeds and scales: nothing opens, and per-point scores
// >= 0.8 stay under 0.1 % (5 in 5000).
TEST(Ensemble, PureNoiseOpensNothing) {
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        auto e = make_default_ensemble();
        const auto r = run_all(*e, noise(5000, 200, seed * 5.0, seed));
        EXPECT_TRUE(opened_at(r).empty()) << seed;
        const auto high =
            std::count_if(r.begin(), r.end(), [](const auto& x) { return x.score.score >= 0.8; });
        EXPECT_LE(high, 5) << seed;
        for (const auto& x : r) {
            ASSERT_GE(x.score.score, 0);
            ASSERT_LE(x.score.score, 1);
        }
    }
}

// A single spike scores high at its index only; with the default open_points (2) it
// does not open an anomaly, with open_points 1 it opens there and resolves after
// close_points quiet points.
TEST(Ensemble, SingleSpike) {
    auto values = noise(500, 100, 1, 77);
    values[300] += 12;
    auto e = make_default_ensemble();
    const auto r = run_all(*e, values);
    std::vector<std::size_t> high;
    for (std::size_t i = 0; i < r.size(); ++i)
        if (r[i].score.score >= 0.8) high.push_back(i);
    EXPECT_THAT(high, ElementsAre(300u));
    EXPECT_TRUE(opened_at(r).empty());

    auto e1 = make_default_ensemble(EnsembleConfig{.open_points = 1});
    const auto r1 = run_all(*e1, values);
    EXPECT_THAT(opened_at(r1), ElementsAre(300u));
    EXPECT_THAT(resolved_at(r1), ElementsAre(305u)); // 5 points below 0.5: 301..305
    const auto& s = r1[300];
    EXPECT_EQ(s.severity, Severity::critical);
    EXPECT_EQ(s.since_ns, at(300, 0).t_ns);
    EXPECT_NEAR(s.score.expected, 100, 1);
    EXPECT_EQ(s.score.observed, values[300]);
    EXPECT_GT(s.score.observed, s.score.upper);
    const auto names = e1->fired_names(s.fired);
    EXPECT_THAT(names, ::testing::IsSupersetOf({"ses", "holt", "ewz", "mad"}));
    EXPECT_THAT(names, ::testing::Not(::testing::Contains("cusum")));
    EXPECT_TRUE(r1[304].open);
    EXPECT_EQ(r1[305].severity, Severity::critical); // the resolving point says what resolved
    EXPECT_FALSE(r1[305].open);
    EXPECT_EQ(r1[306].severity, Severity::none);
}

// A sustained +8 sd shift opens within a few points, once, and CUSUM is among the
// detectors that fired.
TEST(Ensemble, LevelShiftOpensOnce) {
    auto values = noise(600, 50, 2, 5);
    for (std::size_t i = 300; i < values.size(); ++i)
        values[i] += 16;
    auto e = make_default_ensemble();
    const auto r = run_all(*e, values);
    const auto o = opened_at(r);
    ASSERT_EQ(o.size(), 1u);
    EXPECT_GE(o[0], 301u);
    EXPECT_LE(o[0], 303u);
    EXPECT_EQ(r[o[0]].since_ns, at(300, 0).t_ns);
    bool cusum_fired = false;
    for (std::size_t i = 300; i < 310; ++i)
        for (auto n : e->fired_names(r[i].fired))
            cusum_fired |= n == "cusum";
    EXPECT_TRUE(cusum_fired);
    EXPECT_FALSE(r.back().open); // the new level became normal
}

// The same shift inside the warm-up raises nothing: the detectors learn it as normal.
TEST(Ensemble, WarmupSuppressesAlerts) {
    auto values = noise(300, 50, 2, 5);
    for (std::size_t i = 10; i < values.size(); ++i)
        values[i] += 16;
    auto e = make_default_ensemble();
    const auto r = run_all(*e, values);
    EXPECT_TRUE(opened_at(r).empty());
    for (std::size_t i = 0; i < 30; ++i) {
        EXPECT_FALSE(r[i].score.warm) << i;
        EXPECT_EQ(r[i].score.score, 0) << i;
    }
    EXPECT_TRUE(r[30].score.warm);
}

// A detector whose score is the point's value: drives the hysteresis directly.
class Scripted final : public Detector {
public:
    Score update(const Point& p) override {
        return Score{std::clamp(p.value, 0.0, 1.0), 0, p.value, 0, 0, true};
    }
    std::string_view name() const override { return "scripted"; }
    nlohmann::json save() const override { return {{"type", "scripted"}}; }
    void load(const nlohmann::json&) override {}
};

std::unique_ptr<Ensemble> scripted(EnsembleConfig c = {.warmup = 0}) {
    std::vector<std::unique_ptr<Detector>> d;
    d.push_back(std::make_unique<Scripted>());
    return std::make_unique<Ensemble>(std::move(d), c);
}

TEST(Ensemble, HoveringAroundThresholdOpensOnceAndDoesNotFlap) {
    std::vector<double> v(20, 0.2);
    // 200 points alternating around 0.8 (between the thresholds most of the time, with
    // dips to 0.55-0.79 and a few below 0.5, never 5 in a row).
    const double pattern[] = {0.85, 0.82, 0.75, 0.9, 0.6, 0.81, 0.45, 0.79, 0.88, 0.4};
    for (int i = 0; i < 200; ++i)
        v.push_back(pattern[i % 10]);
    v.insert(v.end(), 20, 0.1);
    // A naive threshold at 0.8 would open and close over and over.
    int crossings = 0;
    for (std::size_t i = 1; i < v.size(); ++i)
        crossings += (v[i] >= 0.8) != (v[i - 1] >= 0.8);
    ASSERT_GT(crossings, 50);

    auto e = scripted();
    const auto r = run_all(*e, v);
    EXPECT_THAT(opened_at(r), ElementsAre(21u)); // 0.85, 0.82: two in a row
    EXPECT_EQ(r[21].since_ns, at(20, 0).t_ns);
    // The pattern's last point (219) is 0.4, then 220..223 are 0.1: five below 0.5.
    EXPECT_THAT(resolved_at(r), ElementsAre(223u));
    EXPECT_EQ(r[100].severity, Severity::warning); // nothing reached 0.95
    EXPECT_DOUBLE_EQ(r[100].peak, 0.9);
}

TEST(Ensemble, SeverityEscalatesAndStays) {
    auto e = scripted();
    const auto r = run_all(*e, {0.85, 0.85, 0.97, 0.85, 0.6, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2});
    EXPECT_EQ(r[1].severity, Severity::warning);
    EXPECT_EQ(r[2].severity, Severity::critical);
    EXPECT_EQ(r[4].severity, Severity::critical);
    EXPECT_TRUE(r[8].open);
    EXPECT_TRUE(r[9].resolved);
    EXPECT_EQ(severity_name(r[9].severity), "critical");
    EXPECT_EQ(r[10].severity, Severity::none);
}

TEST(Ensemble, SaveLoadMidAnomalyKeepsState) {
    auto values = noise(700, 50, 2, 8);
    for (std::size_t i = 300; i < values.size(); ++i)
        values[i] += 16;
    auto a = make_default_ensemble();
    std::size_t i = 0;
    for (; i < 302; ++i)
        a->step(at(i, values[i]));
    const std::string text = a->save().dump();
    auto b = make_detector("ensemble");
    b->load(nlohmann::json::parse(text));
    auto& be = dynamic_cast<Ensemble&>(*b);
    EXPECT_EQ(be.save().dump(), text);
    EXPECT_EQ(be.last().open, false); // last() is not persisted; the state is
    for (; i < values.size(); ++i) {
        const auto x = a->step(at(i, values[i]));
        const auto y = be.step(at(i, values[i]));
        ASSERT_EQ(x.score.score, y.score.score) << i;
        ASSERT_EQ(x.open, y.open) << i;
        ASSERT_EQ(x.opened, y.opened) << i;
        ASSERT_EQ(x.resolved, y.resolved) << i;
        ASSERT_EQ(x.since_ns, y.since_ns) << i;
        ASSERT_EQ(x.fired, y.fired) << i;
    }
}

TEST(Ensemble, RejectsBadConfigs) {
    EXPECT_THROW(Ensemble({}, {}), std::invalid_argument);
    EXPECT_THROW(scripted(EnsembleConfig{.open_threshold = 0.4, .close_threshold = 0.5}),
                 std::invalid_argument);
    EXPECT_THROW(scripted(EnsembleConfig{.open_points = 0}), std::invalid_argument);
    nlohmann::json j = make_default_ensemble()->save();
    j["detectors"][0]["type"] = "nope";
    EXPECT_THROW(make_default_ensemble()->load(j), std::invalid_argument);
}

} // namespace
} // namespace homeostat::engine::detect
