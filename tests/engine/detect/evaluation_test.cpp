#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "engine/detect/ensemble.h"
#include "engine/detect/evaluation.h"

namespace homeostat::engine::detect::eval {
namespace {

// The scoring rules of evaluation.h on hand-made alerts.
TEST(EvaluationScore, EventBasedRules) {
    const std::vector<Window> w = {{100, 110}, {300, 301}};
    // 105 detects the first window (delay 5), 107 is a second alert in it (neither way),
    // 305 detects the second within the tolerance (end 301 + 5 > 305), 200 is false.
    auto m = score_alerts({105, 107, 200, 305}, w);
    EXPECT_EQ(m.windows, 2u);
    EXPECT_EQ(m.detected, 2u);
    EXPECT_EQ(m.false_positives, 1u);
    EXPECT_EQ(m.alerts, 4u);
    EXPECT_DOUBLE_EQ(m.precision(), 2.0 / 3.0);
    EXPECT_DOUBLE_EQ(m.recall(), 1.0);
    EXPECT_DOUBLE_EQ(m.f1(), 0.8);
    EXPECT_DOUBLE_EQ(m.mean_delay(), 5.0); // (5 + 5) / 2
    // 306 is past end + tolerance: a false positive, and the window is missed.
    m = score_alerts({306}, w);
    EXPECT_EQ(m.detected, 0u);
    EXPECT_EQ(m.false_positives, 1u);
    EXPECT_DOUBLE_EQ(m.f1(), 0.0);
    EXPECT_TRUE(std::isnan(m.mean_delay()));
    // An alert before a window's begin does not detect it.
    EXPECT_EQ(score_alerts({99}, w).detected, 0u);
    // Nothing to find and nothing claimed is perfect; one false alarm is F1 0.
    EXPECT_DOUBLE_EQ(score_alerts({}, {}).f1(), 1.0);
    EXPECT_DOUBLE_EQ(score_alerts({42}, {}).f1(), 0.0);
}

TEST(EvaluationSeries, DeterministicAndLabelled) {
    for (auto f : family_names()) {
        const auto a = generate_family(f, 3), b = generate_family(f, 3);
        ASSERT_EQ(a.size(), 3u);
        for (std::size_t i = 0; i < a.size(); ++i) {
            ASSERT_EQ(a[i].points.size(), b[i].points.size()) << f;
            for (std::size_t j = 0; j < a[i].points.size(); ++j)
                ASSERT_EQ(a[i].points[j].value, b[i].points[j].value) << f;
            // Labels are inside the series, sorted, disjoint, after every warm-up.
            std::size_t prev_end = 100;
            for (const auto& w : a[i].anomalies) {
                EXPECT_GE(w.begin, prev_end) << f;
                EXPECT_LT(w.begin, w.end) << f;
                EXPECT_LE(w.end, a[i].points.size()) << f;
                prev_end = w.end;
            }
            EXPECT_EQ(a[i].anomalies.empty(), f == "pure_noise") << f;
        }
        std::size_t differ = 0;
        for (std::size_t j = 0; j < a[0].points.size(); ++j)
            differ += a[0].points[j].value != a[1].points[j].value;
        EXPECT_GT(differ, a[0].points.size() / 2) << f << ": series 0 and 1 come from different seeds";
    }
    EXPECT_THROW(generate_family("nope", 1), std::invalid_argument);
    EXPECT_THROW(alerts("nope", {}), std::invalid_argument);
}

// The acceptance of issue 4: the default ensemble beats the plain rolling z-score with
// the seeds' |Z| > 3 rule on F1 in every family, and raises no alert at all on noise.
TEST(Evaluation, EnsembleBeatsRollingZScoreEverywhere) {
    std::map<std::pair<std::string, std::string>, Metrics> by;
    for (const auto& c : evaluate())
        by[{c.family, c.detector}] = c.metrics;
    for (auto f : family_names()) {
        const std::string fam(f);
        const auto& e = by.at({fam, std::string(Ensemble::kName)});
        const auto& z = by.at({fam, std::string(kBaseline)});
        EXPECT_GT(e.f1(), z.f1()) << fam << ": ensemble F1 " << e.f1() << " (P " << e.precision() << ", R "
                                  << e.recall() << "), rollz |Z|>3 F1 " << z.f1();
    }
    const auto& noise = by.at({"pure_noise", std::string(Ensemble::kName)});
    EXPECT_EQ(noise.alerts, 0u);
    EXPECT_GT(by.at({"pure_noise", std::string(kBaseline)}).alerts, 0u) << "the baseline should be the noisy one";
}

} // namespace
} // namespace homeostat::engine::detect::eval
