#include "engine/route_templater.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "engine/hash.h"

namespace homeostat::engine {
namespace {

constexpr std::string_view kIdSegment = "{id}";
constexpr std::string_view kTruncatedSegment = "{truncated}";

// Character properties as bits, one table lookup per byte.
enum CharBits : unsigned char {
    kDigit = 1 << 0,
    kAlpha = 1 << 1,
    kHex = 1 << 2,
    kTokenChar = 1 << 3, // base64url alphabet: letters, digits, '-', '_'
    kSeparator = 1 << 4, // '-' or '_'
};

constexpr std::array<unsigned char, 256> make_char_bits() {
    std::array<unsigned char, 256> t{};
    for (int c = '0'; c <= '9'; ++c)
        t[c] = kDigit | kHex | kTokenChar;
    for (int c = 'a'; c <= 'z'; ++c)
        t[c] = kAlpha | kTokenChar | (c <= 'f' ? kHex : 0);
    for (int c = 'A'; c <= 'Z'; ++c)
        t[c] = kAlpha | kTokenChar | (c <= 'F' ? kHex : 0);
    t['-'] = t['_'] = kTokenChar | kSeparator;
    return t;
}
constexpr std::array<unsigned char, 256> kCharBits = make_char_bits();

unsigned char bits(char c) {
    return kCharBits[static_cast<unsigned char>(c)];
}

bool is_uuid(std::string_view s) {
    // The dashes first: they reject almost every non-UUID without a loop.
    if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
    for (std::size_t i = 0; i < 36; ++i) {
        const bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_pos ? s[i] != '-' : !(bits(s[i]) & kHex)) return false;
    }
    return true;
}

// Letter<->digit changes between neighbouring bytes: high in random tokens, low in
// words joined by separators ("settings_v2" has one).
int letter_digit_transitions(std::string_view s) {
    int transitions = 0;
    unsigned char prev = 0;
    for (const char c : s) {
        const unsigned char kind = bits(c) & (kDigit | kAlpha);
        if (kind && prev && kind != prev) ++transitions;
        prev = kind;
    }
    return transitions;
}

bool is_all_digits(std::string_view s) {
    for (const char c : s)
        if (static_cast<unsigned char>(c - '0') > 9) return false;
    return !s.empty();
}

// Segments of 8+ bytes: the remaining rules on the AND (every byte) and OR (some byte) of
// their bytes' properties.
bool is_long_identifier(std::string_view seg) {
    unsigned char all = 0xff, any = 0;
    for (const char c : seg) {
        all &= bits(c);
        any |= bits(c);
    }
    if (all & kDigit) return true;
    if (is_uuid(seg)) return true;
    if ((all & kHex) && (any & kDigit)) return true;
    if (seg.size() < 16 || !(all & kTokenChar) || !(any & kDigit) || !(any & kAlpha)) return false;
    return !(any & kSeparator) || letter_digit_transitions(seg) >= 2;
}

// Index of the first '/' in p[i, n), or n. Eight bytes at a time: segments are mostly
// short, but UUIDs and tokens are not. The lowest byte the zero-byte test flags is
// always a real match (borrows only run upwards), so the first '/' is exact.
std::size_t find_slash(const char* p, std::size_t i, std::size_t n) {
    static_assert(std::endian::native == std::endian::little, "byte order of the SWAR scan");
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        const std::uint64_t x = w ^ (kOnes * '/');
        const std::uint64_t zero = (x - kOnes) & ~x & kHigh;
        if (zero) return i + static_cast<std::size_t>(std::countr_zero(zero) >> 3);
    }
    while (i < n && p[i] != '/')
        ++i;
    return i;
}

// Output bound of write_template for an n-byte path: a 1-byte segment can become
// "/{id}" (2 input bytes with its slash → 5), plus "/{truncated}" and slack.
constexpr std::size_t max_template_size(std::size_t n) {
    return 3 * n + 32;
}

// Copies a short segment without a library call; `out` has slack for the word overrun.
void copy_segment(char* out, const char* p, std::size_t i, std::size_t j, std::size_t n) {
    const std::size_t len = j - i;
    if (len <= 8 && i + 8 <= n) { // whole words stay inside the path
        std::memcpy(out, p + i, 8);
    } else {
        std::memcpy(out, p + i, len);
    }
}

struct Written {
    std::size_t size;
    bool has_id; // some segment became {id}
};

// `out` must hold max_template_size(path.size()) bytes.
Written write_template(std::string_view path, bool truncated, char* out) {
    const char* p = path.data();
    const std::size_t n = path.size();
    std::size_t o = 0, i = 0;
    bool has_id = false;
    const auto put = [&](std::string_view s) {
        std::memcpy(out + o, s.data(), s.size());
        o += s.size();
    };
    for (;;) {
        while (i < n && p[i] == '/')
            ++i;
        if (i == n) break;
        const std::size_t j = find_slash(p, i, n);
        const std::string_view seg(p + i, j - i);
        out[o++] = '/';
        if (truncated && j == n)
            put(kTruncatedSegment); // a half segment would be a new route per cut
        else if (RouteTemplater::is_identifier(seg)) {
            put(kIdSegment);
            has_id = true;
        } else {
            copy_segment(out + o, p, i, j, n);
            o += seg.size();
        }
        i = j;
    }
    // The cut fell at a '/' (or nothing but slashes arrived): every segment we have is
    // whole, but something followed.
    if (truncated && (n == 0 || p[n - 1] == '/')) {
        out[o++] = '/';
        put(kTruncatedSegment);
    }
    if (o == 0) out[o++] = '/';
    return {o, has_id};
}

} // namespace

bool RouteTemplater::is_identifier(std::string_view seg) {
    // Every rule but all-digits needs at least 8 bytes; most segments ("api", "v1",
    // "orders") are decided by their first byte here.
    return seg.size() < 8 ? is_all_digits(seg) : is_long_identifier(seg);
}

void RouteTemplater::template_path(std::string_view path, bool truncated, std::string& out) {
    out.resize(max_template_size(path.size()));
    out.resize(write_template(path, truncated, out.data()).size);
}

std::string RouteTemplater::template_path(std::string_view path, bool truncated) {
    std::string out;
    template_path(path, truncated, out);
    return out;
}

RouteTemplater::RouteTemplater(std::size_t max_routes, std::size_t cache_slots)
    : max_routes_(max_routes), cache_slots_(cache_slots == 0 ? 0 : std::bit_ceil(cache_slots)) {
    names_.emplace_back("{overflow}");
    names_.emplace_back("{invalid}");
    names_.emplace_back("*");
    // Reserved names are not in index_: templates always start with '/', so no template
    // can collide with them.
}

RouteId RouteTemplater::resolve_uncached(std::string_view path, bool truncated, bool* has_id) {
    // Paths from events are at most HS_PATH_MAX (128) bytes: the stack buffer covers them.
    char stack_buf[max_template_size(128)];
    std::string heap_buf;
    char* buf = stack_buf;
    if (max_template_size(path.size()) > sizeof stack_buf) {
        heap_buf.resize(max_template_size(path.size()));
        buf = heap_buf.data();
    }
    const Written w = write_template(path, truncated, buf);
    if (has_id) *has_id = w.has_id;
    const std::string_view tmpl(buf, w.size);

    const std::uint64_t h = hash_bytes(tmpl);
    const std::uint32_t found = index_.find(h, [&](std::uint32_t pos) { return names_[pos] == tmpl; });
    if (found != FlatIndex::npos) return found;
    if (learned_routes() >= max_routes_) return kOverflowRoute;
    const auto id = static_cast<RouteId>(names_.size());
    names_.emplace_back(tmpl);
    index_.insert(h, id);
    return id;
}

RouteId RouteTemplater::route(std::string_view path, bool truncated) {
    RouteId id;
    if (cache_slots_ == 0) {
        id = resolve_uncached(path, truncated, nullptr);
    } else {
        if (cache_.empty()) cache_.resize(cache_slots_);
        // Routes are never forgotten, so a cached answer never goes stale.
        const std::uint64_t h = hash_bytes(path);
        CacheSlot& slot = cache_[(h ^ (h >> 32)) & (cache_slots_ - 1)];
        if (slot.used && slot.hash == h && slot.truncated == truncated && slot.raw == path) {
            id = slot.id;
        } else {
            bool has_id = false;
            id = resolve_uncached(path, truncated, &has_id);
            // Paths with ids come again less often than static ones ("/health",
            // "/api/v1/items"); a stream of fresh ids must not evict those, so a path with an
            // id only takes a free slot or one holding another path with an id.
            if (!has_id || !slot.used || slot.has_id) {
                slot.hash = h;
                slot.raw.assign(path); // reuses the slot's buffer once it is big enough
                slot.truncated = truncated;
                slot.has_id = has_id;
                slot.id = id;
                slot.used = true;
            }
        }
    }
    if (id == kOverflowRoute) ++overflowed_;
    return id;
}

RouteId RouteTemplater::route(const http::RequestTarget& target) {
    switch (target.form) {
    case http::TargetForm::origin:
    case http::TargetForm::absolute: return route(target.path, target.truncated);
    case http::TargetForm::asterisk: return kAsteriskRoute;
    case http::TargetForm::invalid: break;
    }
    return kInvalidRoute;
}

std::string_view RouteTemplater::name(RouteId id) const {
    return id < names_.size() ? std::string_view(names_[id]) : std::string_view("{overflow}");
}

} // namespace homeostat::engine
