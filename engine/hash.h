// A small, fast, deterministic 64-bit hash for the short strings of the hot path (raw
// paths, route templates, service names; at most a few hundred bytes). std::hash is a
// byte-oriented murmur and costs several times more on these; cryptographic strength is
// not needed since every table using it is bounded. Same input → same output on every
// run and machine (no random seed), which keeps the engine deterministic.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace homeostat::engine {

namespace hash_detail {
inline std::uint64_t load64(const char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
inline std::uint64_t load32(const char* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
    // 64x64→128 multiply, folded: every input bit reaches every output bit.
    const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
    return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
inline constexpr std::uint64_t kP0 = 0xa0761d6478bd642fULL;
inline constexpr std::uint64_t kP1 = 0xe7037ed1a0b428dbULL;
inline constexpr std::uint64_t kP2 = 0x8ebc6af09c88c6e3ULL;
} // namespace hash_detail

// wyhash-style: 8-byte words, the tail read as one overlapping word.
inline std::uint64_t hash_bytes(std::string_view s) {
    using namespace hash_detail;
    const char* p = s.data();
    std::size_t n = s.size();
    std::uint64_t h = kP0 ^ n;
    std::uint64_t a, b;
    if (n <= 8) {
        if (n >= 4) {
            a = load32(p);
            b = load32(p + n - 4);
        } else if (n > 0) {
            a = (std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
                (std::uint64_t{static_cast<unsigned char>(p[n >> 1])} << 8) |
                static_cast<unsigned char>(p[n - 1]);
            b = 0;
        } else {
            a = b = 0;
        }
    } else if (n <= 16) {
        a = load64(p); // the two words overlap when n < 16
        b = load64(p + n - 8);
    } else {
        const char* end = p + n;
        while (n > 16) {
            h = mix(load64(p) ^ kP1, load64(p + 8) ^ h);
            p += 16;
            n -= 16;
        }
        a = load64(end - 16); // the last 16 bytes, partly hashed already: never past the end
        b = load64(end - 8);
    }
    return mix(kP1 ^ s.size(), mix(a ^ kP1, b ^ h) ^ kP2);
}

} // namespace homeostat::engine
