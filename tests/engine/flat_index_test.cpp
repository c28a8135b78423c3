#include "engine/flat_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace homeostat::engine {
namespace {

TEST(FlatIndex, EmptyFindsNothing) {
    const FlatIndex idx;
    EXPECT_EQ(idx.find(42, [](std::uint32_t) { return true; }), FlatIndex::npos);
}

TEST(FlatIndex, FindsEveryInsertedKeyAcrossGrowth) {
    std::vector<std::uint64_t> keys;
    FlatIndex idx;
    // A deliberately poor hash (many equal low bits) forces long probe runs and tag clashes.
    auto hash = [](std::uint64_t k) { return (k % 7) << 3; };
    for (std::uint64_t k = 0; k < 5000; ++k) {
        keys.push_back(k * 31 + 5);
        idx.insert(hash(keys.back()), static_cast<std::uint32_t>(keys.size() - 1));
    }
    EXPECT_EQ(idx.size(), 5000u);
    for (std::uint32_t i = 0; i < keys.size(); ++i) {
        const std::uint64_t k = keys[i];
        ASSERT_EQ(idx.find(hash(k), [&](std::uint32_t p) { return keys[p] == k; }), i) << k;
    }
    const std::uint64_t absent = 3;
    EXPECT_EQ(idx.find(hash(absent), [&](std::uint32_t p) { return keys[p] == absent; }), FlatIndex::npos);
}

} // namespace
} // namespace homeostat::engine
