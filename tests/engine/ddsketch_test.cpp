#include "engine/ddsketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace homeostat::engine {
namespace {

// Quantiles checked: the tails densely, the body coarsely.
std::vector<double> probe_quantiles() {
    std::vector<double> qs = {0, 0.001, 0.005, 0.01, 0.025, 0.05, 0.95, 0.975, 0.99, 0.995, 0.999, 1};
    for (int i = 1; i < 100; ++i)
        qs.push_back(i / 100.0);
    return qs;
}

// The sample at rank q*(n-1), lower convention.
double exact_quantile(const std::vector<double>& sorted, double q) {
    const auto rank = static_cast<std::size_t>(std::floor(q * static_cast<double>(sorted.size() - 1)));
    return sorted[rank];
}

// Floating-point slack on the alpha bound: log/exp at bucket edges are off by ulps.
constexpr double kUlpSlack = 1e-9;

void expect_within_relative_error(const DDSketch& sketch, std::vector<double> values, double alpha,
                                  const std::string& name) {
    std::sort(values.begin(), values.end());
    double worst = 0;
    for (const double q : probe_quantiles()) {
        const double exact = exact_quantile(values, q);
        const double est = sketch.quantile(q);
        const double err = exact == 0 ? std::abs(est) : std::abs(est - exact) / exact;
        worst = std::max(worst, err);
        EXPECT_LE(err, alpha * (1 + kUlpSlack))
            << name << " q=" << q << " exact=" << exact << " estimate=" << est;
    }
    // The bound is also tight enough to mean something: errors are not all zero.
    if (values.front() != values.back()) {
        EXPECT_GT(worst, 0) << name;
    }
}

struct Distribution {
    std::string name;
    std::function<double(std::mt19937_64&)> draw;
};

std::vector<Distribution> distributions() {
    return {
        {"uniform", [](std::mt19937_64& r) { return std::uniform_real_distribution<>(0.001, 2.0)(r); }},
        {"lognormal", [](std::mt19937_64& r) { return std::lognormal_distribution<>(-4.0, 1.5)(r); }},
        {"exponential", [](std::mt19937_64& r) { return std::exponential_distribution<>(20.0)(r) + 1e-6; }},
        {"constant", [](std::mt19937_64&) { return 0.123; }},
        {"bimodal",
         [](std::mt19937_64& r) {
             // Fast cache hits and slow misses: 90% around 10 ms, 10% around 1 s.
             const bool slow = std::uniform_real_distribution<>(0, 1)(r) < 0.1;
             const double v =
                 slow ? std::normal_distribution<>(1.0, 0.1)(r) : std::normal_distribution<>(0.010, 0.001)(r);
             return std::max(v, 1e-6);
         }},
    };
}

// (relative accuracy, bucket limit): the limit must cover the data's range for the
// guarantee to hold everywhere; at 0.2% that takes more than the default 2048 buckets.
class DDSketchAccuracy : public ::testing::TestWithParam<std::pair<double, std::size_t>> {};

TEST_P(DDSketchAccuracy, RelativeErrorBoundHoldsOnEveryDistribution) {
    const auto [alpha, max_buckets] = GetParam();
    for (const auto& d : distributions()) {
        std::mt19937_64 rng(42);
        DDSketch sketch(alpha, max_buckets);
        std::vector<double> values;
        for (int i = 0; i < 20000; ++i) {
            const double v = d.draw(rng);
            values.push_back(v);
            sketch.add(v);
        }
        EXPECT_EQ(sketch.count(), values.size());
        EXPECT_FALSE(sketch.collapsed()) << d.name;
        expect_within_relative_error(sketch, values, alpha, d.name);
    }
}

INSTANTIATE_TEST_SUITE_P(Alphas, DDSketchAccuracy,
                         ::testing::Values(std::pair{0.01, DDSketch::kDefaultMaxBuckets},
                                           std::pair{0.05, DDSketch::kDefaultMaxBuckets},
                                           std::pair{0.002, std::size_t{16384}}));

TEST(DDSketch, RejectsBadParameters) {
    EXPECT_THROW(DDSketch(0.0), std::invalid_argument);
    EXPECT_THROW(DDSketch(1.0), std::invalid_argument);
    EXPECT_THROW(DDSketch(-0.1), std::invalid_argument);
    EXPECT_THROW(DDSketch(0.01, 0), std::invalid_argument);
    EXPECT_THROW(DDSketch(0.01, 16, 0.0), std::invalid_argument);
}

TEST(DDSketch, EmptySketch) {
    DDSketch s;
    EXPECT_TRUE(s.empty());
    EXPECT_EQ(s.count(), 0u);
    EXPECT_TRUE(std::isnan(s.quantile(0.5)));
    EXPECT_TRUE(std::isnan(s.min()));
    EXPECT_EQ(s.bucket_span(), 0u);
}

TEST(DDSketch, SummaryStatisticsAreExact) {
    DDSketch s;
    double sum = 0;
    for (int i = 1; i <= 1000; ++i) {
        s.add(i * 0.001);
        sum += i * 0.001;
    }
    EXPECT_EQ(s.count(), 1000u);
    EXPECT_NEAR(s.sum(), sum, 1e-9);
    EXPECT_EQ(s.min(), 0.001);
    EXPECT_EQ(s.max(), 1.0);
    EXPECT_EQ(s.quantile(0), 0.001) << "q=0 is clamped to the exact min";
    EXPECT_EQ(s.quantile(1), 1.0) << "q=1 is clamped to the exact max";
    EXPECT_EQ(s.quantile(-3), 0.001);
    EXPECT_EQ(s.quantile(7), 1.0);
}

TEST(DDSketch, LowerRankConvention) {
    // 1, 2, 3, 4: rank 0.5*(4-1) = 1.5 → floor → index 1 → value 2 (not 3, not 2.5).
    DDSketch s(0.001);
    for (const double v : {4.0, 1.0, 3.0, 2.0})
        s.add(v);
    EXPECT_NEAR(s.quantile(0.5), 2.0, 2.0 * 0.001);
    EXPECT_NEAR(s.quantile(0.67), 3.0, 3.0 * 0.001); // rank 2.01 → index 2
    EXPECT_NEAR(s.quantile(0.66), 2.0, 2.0 * 0.001); // rank 1.98 → index 1
}

TEST(DDSketch, ZeroBucketNegativesAndNaN) {
    DDSketch s;
    for (int i = 0; i < 10; ++i)
        s.add(0.0);
    s.add(-5.0);  // clamped to 0
    s.add(1e-12); // below the 1 ns indexable minimum: zero bucket
    for (int i = 0; i < 8; ++i)
        s.add(1.0);
    s.add(std::nan(""));
    EXPECT_EQ(s.count(), 20u) << "NaN is ignored";
    EXPECT_EQ(s.min(), 0.0);
    EXPECT_EQ(s.quantile(0.5), 0.0);  // rank 9.5 → the 12 zero-bucket values
    EXPECT_EQ(s.quantile(0.55), 0.0); // rank 10.45 → index 10, still zero bucket
    EXPECT_NEAR(s.quantile(0.9), 1.0, 0.01);
    EXPECT_EQ(s.bucket_span(), 1u);
}

TEST(DDSketch, WeightedAddEqualsRepeatedAdd) {
    DDSketch a, b;
    a.add(0.25, 1000);
    a.add(2.0, 10);
    for (int i = 0; i < 1000; ++i)
        b.add(0.25);
    for (int i = 0; i < 10; ++i)
        b.add(2.0);
    EXPECT_EQ(a.count(), b.count());
    for (const double q : probe_quantiles())
        EXPECT_EQ(a.quantile(q), b.quantile(q)) << q;
}

TEST(DDSketch, MergeEqualsAddingEverythingToOne) {
    std::mt19937_64 rng(7);
    std::lognormal_distribution<> d(-3, 2);
    DDSketch whole, parts[3];
    std::vector<double> values;
    for (int i = 0; i < 30000; ++i) {
        const double v = d(rng);
        values.push_back(v);
        whole.add(v);
        parts[i % 3 == 0 ? 0 : (v < 0.05 ? 1 : 2)].add(v);
    }
    DDSketch merged;
    for (const auto& p : parts)
        merged.merge(p);
    EXPECT_EQ(merged.count(), whole.count());
    EXPECT_NEAR(merged.sum(), whole.sum(), 1e-9 * whole.sum());
    EXPECT_EQ(merged.min(), whole.min());
    EXPECT_EQ(merged.max(), whole.max());
    for (const double q : probe_quantiles())
        EXPECT_EQ(merged.quantile(q), whole.quantile(q)) << q;
    expect_within_relative_error(merged, values, 0.01, "merged");
}

TEST(DDSketch, MergeEdgeCases) {
    DDSketch a, empty;
    a.add(0.5);
    a.merge(empty);
    EXPECT_EQ(a.count(), 1u);
    empty.merge(a);
    EXPECT_EQ(empty.count(), 1u);
    EXPECT_EQ(empty.min(), 0.5);
    a.merge(a);
    EXPECT_EQ(a.count(), 2u);
    EXPECT_NEAR(a.quantile(1), 0.5, 0.005);
}

TEST(DDSketch, MergeRejectsDifferentMappings) {
    DDSketch a(0.01), b(0.02), c(0.01, 2048, 1e-6);
    b.add(1);
    c.add(1);
    EXPECT_THROW(a.merge(b), std::invalid_argument);
    EXPECT_THROW(a.merge(c), std::invalid_argument);
    DDSketch d(0.01, 64); // a different bucket limit is fine
    d.add(1);
    EXPECT_NO_THROW(a.merge(d));
    EXPECT_EQ(a.count(), 1u);
}

// Log-uniform values over nine decades need ~1000 buckets at 1%; with 64 the lowest
// collapse. Memory stays bounded, the top quantiles stay exact to alpha, the low ones are
// only ever over-estimated.
void check_collapsing(const std::vector<double>& insertion_order) {
    const double alpha = 0.01;
    DDSketch s(alpha, 64);
    for (const double v : insertion_order) {
        s.add(v);
        ASSERT_LE(s.bucket_span(), 64u);
        ASSERT_LE(s.allocated_buckets(), 64u);
    }
    EXPECT_TRUE(s.collapsed());
    EXPECT_EQ(s.count(), insertion_order.size());

    std::vector<double> sorted = insertion_order;
    std::sort(sorted.begin(), sorted.end());
    const double max = sorted.back();
    // The 64 kept buckets cover values down to max / gamma^63.
    const double kept_floor = max / std::pow((1 + alpha) / (1 - alpha), 62);
    int accurate_checked = 0;
    for (const double q : probe_quantiles()) {
        const double exact = exact_quantile(sorted, q);
        const double est = s.quantile(q);
        EXPECT_GE(est, exact * (1 - alpha) * (1 - kUlpSlack)) << "q=" << q;
        if (exact >= kept_floor) {
            ++accurate_checked;
            EXPECT_LE(std::abs(est - exact) / exact, alpha * (1 + kUlpSlack)) << "q=" << q;
        }
    }
    EXPECT_GT(accurate_checked, 5);
    // And the low quantiles really did lose accuracy (the limit is not a no-op).
    EXPECT_GT(s.quantile(0.01), exact_quantile(sorted, 0.01) * (1 + alpha));
}

std::vector<double> log_uniform(int n, double lo, double hi, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<> e(std::log(lo), std::log(hi));
    std::vector<double> v;
    for (int i = 0; i < n; ++i)
        v.push_back(std::exp(e(rng)));
    return v;
}

TEST(DDSketch, BucketLimitCollapsesLowestRandomOrder) {
    check_collapsing(log_uniform(20000, 1e-6, 1e3, 1));
}

TEST(DDSketch, BucketLimitCollapsesLowestAscending) {
    auto v = log_uniform(20000, 1e-6, 1e3, 2);
    std::sort(v.begin(), v.end());
    check_collapsing(v);
}

TEST(DDSketch, BucketLimitCollapsesLowestDescending) {
    auto v = log_uniform(20000, 1e-6, 1e3, 3);
    std::sort(v.rbegin(), v.rend());
    check_collapsing(v);
}

TEST(DDSketch, MergeRespectsTheTargetsBucketLimit) {
    DDSketch wide(0.01), narrow(0.01, 64);
    const auto v = log_uniform(5000, 1e-6, 1e3, 4);
    for (const double x : v)
        wide.add(x);
    EXPECT_FALSE(wide.collapsed());
    narrow.merge(wide);
    EXPECT_LE(narrow.bucket_span(), 64u);
    EXPECT_LE(narrow.allocated_buckets(), 64u);
    EXPECT_TRUE(narrow.collapsed());
    EXPECT_EQ(narrow.count(), wide.count());
    EXPECT_NEAR(narrow.quantile(0.999), wide.quantile(0.999), 1e-12);
}

TEST(DDSketch, DefaultLimitCoversAnyLatencyRange) {
    DDSketch s;
    for (double v = 1e-9; v < 1e6; v *= 1.5)
        s.add(v); // 1 ns .. 11 days
    EXPECT_FALSE(s.collapsed());
    EXPECT_LE(s.bucket_span(), DDSketch::kDefaultMaxBuckets);
}

TEST(DDSketch, ClearKeepsMemoryAndForgetsValues) {
    DDSketch s;
    for (int i = 1; i <= 100; ++i)
        s.add(i * 0.01);
    const std::size_t allocated = s.allocated_buckets();
    ASSERT_GT(allocated, 0u);
    s.clear();
    EXPECT_TRUE(s.empty());
    EXPECT_EQ(s.sum(), 0);
    EXPECT_TRUE(std::isnan(s.quantile(0.5)));
    EXPECT_EQ(s.allocated_buckets(), allocated);
    s.add(0.5);
    s.add(0.7);
    EXPECT_EQ(s.count(), 2u);
    EXPECT_NEAR(s.quantile(0), 0.5, 0.005);
    EXPECT_NEAR(s.quantile(1), 0.7, 0.007);
    EXPECT_NEAR(s.quantile(0.5), 0.5, 0.005) << "old values must not leak into new quantiles";
}

} // namespace
} // namespace homeostat::engine
