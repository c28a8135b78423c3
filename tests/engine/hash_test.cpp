#include "engine/hash.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace homeostat::engine {
namespace {

TEST(HashBytes, EveryByteAndTheLengthMatter) {
    // Each length class (0, 1-3, 4-8, 9-16, >16 with partial blocks) reads its bytes
    // differently; flipping any single byte or dropping the last one must change the hash.
    const std::string base = "/api/v1/users/1234567890/orders/550e8400-e29b-41d4-a716-446655440000";
    std::set<std::uint64_t> seen;
    for (std::size_t len = 0; len <= base.size(); ++len) {
        const std::string s = base.substr(0, len);
        EXPECT_TRUE(seen.insert(hash_bytes(s)).second) << "prefix length " << len;
        for (std::size_t i = 0; i < len; ++i) {
            std::string t = s;
            t[i] ^= 0x20;
            EXPECT_NE(hash_bytes(t), hash_bytes(s)) << "len " << len << " byte " << i;
        }
    }
}

TEST(HashBytes, IsDeterministicAndSpreadsLowBits) {
    EXPECT_EQ(hash_bytes("/users/{id}"), hash_bytes(std::string("/users/{id}")));
    // Tables index by the low bits: 4096 similar keys should fill most of 1024 buckets.
    std::set<std::uint64_t> buckets;
    for (int i = 0; i < 4096; ++i)
        buckets.insert(hash_bytes("/r" + std::to_string(i)) & 1023);
    EXPECT_GT(buckets.size(), 950u);
}

} // namespace
} // namespace homeostat::engine
