#include "engine/route_templater.h"

#include <array>
#include <bit>
#include <cstring>

#include "engine/hash.h"

namespace homeostat::engine {
namespace {

constexpr std::string_view kIdSegment = "{id}";
constexpr std::string_view kTruncatedSegment = "{truncated}";

// Character properties as bits, one table lookup per byte; a segment's properties are
// the AND (true of every byte) and OR (true of some byte) of its bytes'.
enum CharBits : unsigned char {
    kDigit = 1 << 0,
    kAlpha = 1 << 1,
    kHex = 1 << 2,
    kTokenChar = 1 << 3, // base64url alphabet: letters, digits, '-', '_'
    kSeparator = 1 << 4, // '-' or '_'
};

constexpr std::array<unsigned char, 256> make_char_bits() {
    std::array<unsigned char, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = kDigit | kHex | kTokenChar;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = kAlpha | kTokenChar | (c <= 'f' ? kHex : 0);
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = kAlpha | kTokenChar | (c <= 'F' ? kHex : 0);
    t['-'] = t['_'] = kTokenChar | kSeparator;
    return t;
}
constexpr std::array<unsigned char, 256> kCharBits = make_char_bits();

unsigned char bits(char c) { return kCharBits[static_cast<unsigned char>(c)]; }

bool is_uuid(std::string_view s) {
    if (s.size() != 36) return false;
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

// The identifier rules on a segment's precomputed byte properties (see CharBits).
bool is_identifier_bits(std::string_view seg, unsigned char all, unsigned char any) {
    if (seg.empty()) return false;
    if (all & kDigit) return true;
    // Every remaining rule needs at least 8 bytes; most segments ("api", "v1", "orders")
    // stop here.
    if (seg.size() < 8) return false;
    if (is_uuid(seg)) return true;
    if ((all & kHex) && (any & kDigit)) return true;
    if (seg.size() < 16 || !(all & kTokenChar) || !(any & kDigit) || !(any & kAlpha)) return false;
    return !(any & kSeparator) || letter_digit_transitions(seg) >= 2;
}

// Output bound of write_template for an n-byte path: a 1-byte segment can become
// "/{id}" (2 input bytes with its slash → 5), plus "/{truncated}" and slack.
constexpr std::size_t max_template_size(std::size_t n) { return 3 * n + 32; }

// One pass over the path: each segment is copied while its byte properties are collected,
// then overwritten with "{id}" or "{truncated}" if it is one. `out` must hold
// max_template_size(path.size()) bytes. Returns the template's length.
std::size_t write_template(std::string_view path, bool truncated, char* out) {
    const char* p = path.data();
    const std::size_t n = path.size();
    std::size_t o = 0, i = 0;
    for (;;) {
        while (i < n && p[i] == '/') ++i;
        if (i == n) break;
        out[o++] = '/';
        unsigned char all = 0xff, any = 0;
        std::size_t j = i;
        for (; j < n && p[j] != '/'; ++j) {
            const unsigned char b = bits(p[j]);
            all &= b;
            any |= b;
            out[o + (j - i)] = p[j];
        }
        const std::string_view seg(p + i, j - i);
        if (truncated && j == n) { // a half segment would be a new route per cut
            std::memcpy(out + o, kTruncatedSegment.data(), kTruncatedSegment.size());
            o += kTruncatedSegment.size();
        } else if (is_identifier_bits(seg, all, any)) {
            std::memcpy(out + o, kIdSegment.data(), kIdSegment.size());
            o += kIdSegment.size();
        } else {
            o += seg.size();
        }
        i = j;
    }
    // The cut fell at a '/' (or nothing but slashes arrived): every segment we have is
    // whole, but something followed.
    if (truncated && (n == 0 || p[n - 1] == '/')) {
        out[o++] = '/';
        std::memcpy(out + o, kTruncatedSegment.data(), kTruncatedSegment.size());
        o += kTruncatedSegment.size();
    }
    if (o == 0) out[o++] = '/';
    return o;
}

} // namespace

bool RouteTemplater::is_identifier(std::string_view seg) {
    unsigned char all = 0xff, any = 0;
    for (const char c : seg) {
        all &= bits(c);
        any |= bits(c);
    }
    return is_identifier_bits(seg, all, any);
}

void RouteTemplater::template_path(std::string_view path, bool truncated, std::string& out) {
    out.resize(max_template_size(path.size()));
    out.resize(write_template(path, truncated, out.data()));
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

RouteId RouteTemplater::resolve_uncached(std::string_view path, bool truncated) {
    // Paths from events are at most HS_PATH_MAX (128) bytes: the stack buffer covers them.
    char stack_buf[max_template_size(128)];
    std::string heap_buf;
    char* buf = stack_buf;
    if (max_template_size(path.size()) > sizeof stack_buf) {
        heap_buf.resize(max_template_size(path.size()));
        buf = heap_buf.data();
    }
    const std::string_view tmpl(buf, write_template(path, truncated, buf));

    const std::uint64_t h = hash_bytes(tmpl);
    const std::uint32_t found =
        index_.find(h, [&](std::uint32_t pos) { return names_[pos] == tmpl; });
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
        id = resolve_uncached(path, truncated);
    } else {
        if (cache_.empty()) cache_.resize(cache_slots_);
        // Routes are never forgotten, so a cached answer never goes stale.
        const std::uint64_t h = hash_bytes(path);
        CacheSlot& slot = cache_[(h ^ (h >> 32)) & (cache_slots_ - 1)];
        if (slot.used && slot.hash == h && slot.truncated == truncated && slot.raw == path) {
            id = slot.id;
        } else {
            id = resolve_uncached(path, truncated);
            slot.hash = h;
            slot.raw.assign(path); // reuses the slot's buffer once it is big enough
            slot.truncated = truncated;
            slot.id = id;
            slot.used = true;
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
