// VPA-style recommendations: percentile bucket bound + margin (hand-computed), decay,
// bounds, the OOM floor, save/load.
#include "engine/policy/recommender.h"

#include <gtest/gtest.h>

namespace homeostat::engine::policy {
namespace {

constexpr double MiB = 1048576;

TEST(DecayingHistogram, BucketsAreGeometric) {
    DecayingHistogram h(0.01, 1.05, 300, 86400);
    EXPECT_DOUBLE_EQ(h.bucket_start(0), 0);
    EXPECT_DOUBLE_EQ(h.bucket_start(1), 0.01);
    EXPECT_NEAR(h.bucket_start(2), 0.01 + 0.0105, 1e-15);
    // 0.5 cores: floor(ln(1 + 0.5 × 0.05 / 0.01) / ln 1.05) = floor(25.68) = 25.
    EXPECT_EQ(h.bucket_of(0.5), 25u);
    EXPECT_EQ(h.bucket_of(0.01), 1u);
    EXPECT_EQ(h.bucket_of(0.0099), 0u);
    EXPECT_DOUBLE_EQ(h.percentile(0.9), 0); // empty
}

TEST(DecayingHistogram, OldSamplesFade) {
    DecayingHistogram h(0.01, 1.05, 300, 100);
    for (int i = 0; i < 10; ++i) h.add(1.0, 0);
    for (int i = 0; i < 10; ++i) h.add(0.2, 1000); // 10 half-lives later: old weight 1/1024
    // 0.2 is in bucket 14, whose upper bound is 0.01 × (1.05^15 − 1)/0.05 = 0.215786.
    EXPECT_NEAR(h.percentile(0.9), 0.2157856359, 1e-9);
    DecayingHistogram fresh(0.01, 1.05, 300, 100);
    for (int i = 0; i < 10; ++i) fresh.add(1.0, 0);
    for (int i = 0; i < 10; ++i) fresh.add(0.2, 0); // same time: half at 1.0 → p90 there
    EXPECT_GT(fresh.percentile(0.9), 1.0);
    // Far in the future the reference time moves (rescale) and the answer holds.
    h.add(0.2, 100 * 100);
    EXPECT_NEAR(h.percentile(0.9), 0.2157856359, 1e-9);
}

TEST(ResourceRecommender, PercentilePlusMarginWithinBounds) {
    RecommenderConfig c; // p90, margin 15 %, cpu min 0.1, 10 samples
    ResourceRecommender r(c);
    for (int i = 0; i < 9; ++i) r.observe("api", 0.5, 100 * MiB, i * 10);
    EXPECT_FALSE(r.recommend("api", 100)); // 9 samples: not yet
    r.observe("api", 0.5, 100 * MiB, 90);
    auto rec = r.recommend("api", 100);
    ASSERT_TRUE(rec);
    // Bucket 25's upper bound 0.01 × (1.05^26 − 1)/0.05 = 0.511134, × 1.15.
    EXPECT_NEAR(rec->cpu_cores, 0.5878047182, 1e-9);
    // 100 MiB: bucket 36, upper bound (1.05^37 − 1)/0.05 MiB = 101.628 MiB, × 1.15.
    EXPECT_NEAR(rec->memory_bytes / MiB, 116.8723596837, 1e-8);
    EXPECT_FALSE(rec->oom_floor);

    c.cpu_max_cores = 0.3;
    c.memory_min_bytes = 256 * MiB;
    ResourceRecommender bounded(c);
    for (int i = 0; i < 10; ++i) bounded.observe("api", 0.5, 100 * MiB, i);
    EXPECT_DOUBLE_EQ(bounded.recommend("api", 10)->cpu_cores, 0.3);
    EXPECT_DOUBLE_EQ(bounded.recommend("api", 10)->memory_bytes, 256 * MiB);
    ResourceRecommender low(RecommenderConfig{});
    for (int i = 0; i < 10; ++i) low.observe("idle", 0.001, 100 * MiB, i);
    EXPECT_DOUBLE_EQ(low.recommend("idle", 10)->cpu_cores, 0.1); // cpu_min_cores
}

TEST(ResourceRecommender, OomBumpsMemory) {
    ResourceRecommender r;
    for (int i = 0; i < 10; ++i) r.observe("api", 0.5, 500 * MiB, i);
    r.observe_oom("api", 1024 * MiB, 10); // max(1024 × 1.2, 1024 + 100) MiB = 1228.8 MiB
    auto rec = r.recommend("api", 20);
    ASSERT_TRUE(rec);
    EXPECT_TRUE(rec->oom_floor);
    EXPECT_DOUBLE_EQ(rec->memory_bytes, 1024 * MiB * 1.2);
    r.observe_oom("small", 200 * MiB, 10); // max(240, 300) MiB: the +100 MiB wins
    EXPECT_DOUBLE_EQ(r.recommend("small", 20)->memory_bytes, 300 * MiB);
    // After oom_memory_seconds the histogram speaks again.
    auto later = r.recommend("api", 10 + 86400);
    EXPECT_FALSE(later->oom_floor);
    EXPECT_LT(later->memory_bytes, 1024 * MiB);

    ResourceRecommender loaded;
    loaded.load(r.save());
    EXPECT_EQ(loaded.save(), r.save());
    EXPECT_DOUBLE_EQ(loaded.recommend("api", 20)->memory_bytes, 1024 * MiB * 1.2);
    EXPECT_DOUBLE_EQ(loaded.recommend("api", 20)->cpu_cores, r.recommend("api", 20)->cpu_cores);
}

TEST(ResourceRecommender, ListsItsServices) {
    ResourceRecommender r;
    EXPECT_TRUE(r.services().empty());
    r.observe("b", 1, 1e8, 0);
    r.observe_oom("a", 1e8, 0);
    EXPECT_EQ(r.services(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(r.size(), 2u);
}

} // namespace
} // namespace homeostat::engine::policy
