#include "engine/route_templater.h"

#include <array>
#include <bit>
#include <functional>

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

} // namespace

bool RouteTemplater::is_identifier(std::string_view seg) {
    if (seg.empty()) return false;
    unsigned char all = 0xff, any = 0;
    for (const char c : seg) {
        const unsigned char b = bits(c);
        all &= b;
        any |= b;
    }
    if (all & kDigit) return true;
    // Every remaining rule needs at least 8 bytes; most segments ("api", "v1", "orders")
    // stop here.
    if (seg.size() < 8) return false;
    if (is_uuid(seg)) return true;
    if ((all & kHex) && (any & kDigit)) return true;
    if (seg.size() < 16 || !(all & kTokenChar) || !(any & kDigit) || !(any & kAlpha)) return false;
    return !(any & kSeparator) || letter_digit_transitions(seg) >= 2;
}

void RouteTemplater::template_path(std::string_view path, bool truncated, std::string& out) {
    out.clear();
    const std::size_t n = path.size();
    std::size_t i = 0;
    while (i < n) {
        while (i < n && path[i] == '/') ++i;
        if (i == n) break;
        std::size_t j = i;
        while (j < n && path[j] != '/') ++j;
        const std::string_view seg = path.substr(i, j - i);
        out.push_back('/');
        if (truncated && j == n)
            out.append(kTruncatedSegment); // a half segment would be a new route per cut
        else if (is_identifier(seg))
            out.append(kIdSegment);
        else
            out.append(seg);
        i = j;
    }
    // The cut fell at a '/' (or nothing but slashes arrived): every segment we have is
    // whole, but something followed.
    if (truncated && (n == 0 || path[n - 1] == '/')) {
        out.push_back('/');
        out.append(kTruncatedSegment);
    }
    if (out.empty()) out.push_back('/');
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
    template_path(path, truncated, scratch_);
    if (auto it = index_.find(scratch_); it != index_.end()) return it->second;
    if (learned_routes() >= max_routes_) return kOverflowRoute;
    const auto id = static_cast<RouteId>(names_.size());
    const std::string& stored = names_.emplace_back(scratch_);
    index_.emplace(std::string_view(stored), id);
    return id;
}

RouteId RouteTemplater::route(std::string_view path, bool truncated) {
    RouteId id;
    if (cache_slots_ == 0) {
        id = resolve_uncached(path, truncated);
    } else {
        if (cache_.empty()) cache_.resize(cache_slots_);
        // Routes are never forgotten, so a cached answer never goes stale.
        CacheSlot& slot = cache_[std::hash<std::string_view>{}(path) & (cache_slots_ - 1)];
        if (slot.used && slot.truncated == truncated && slot.raw == path) {
            id = slot.id;
        } else {
            id = resolve_uncached(path, truncated);
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
