#include "engine/protocols/http/request_target.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "events.hpp"

namespace homeostat::engine::http {
namespace {

// One table lookup per byte: the loop below runs over up to HS_PATH_MAX bytes for every
// exchange.
enum ByteClass : unsigned char {
    kPathByte = 0,   // visible ASCII: part of a target
    kTerminator = 1, // ends the path part of the target
    kBadByte = 2,    // control or non-ASCII: not an HTTP request target we can trust
};

// A space ends the target itself; '?' and '#' start the query and fragment, which are not
// part of a route; CR, LF and NUL mean the request line ended without a version
// (HTTP/0.9-style or junk). Everything below 0x21 or above 0x7e other than those is bad.
constexpr std::array<unsigned char, 256> make_byte_classes() {
    std::array<unsigned char, 256> t{};
    for (int c = 0; c < 256; ++c)
        t[c] = (c > 0x20 && c < 0x7f) ? kPathByte : kBadByte;
    for (const unsigned char c : {' ', '?', '#', '\r', '\n', '\0'})
        t[c] = kTerminator;
    return t;
}
constexpr std::array<unsigned char, 256> kByteClass = make_byte_classes();

// Flags (bit 7 of the byte) every byte of a little-endian word that is not a plain path
// byte: below 0x21, 0x7f or above, '?' or '#'. Lets runs of path bytes go a word at a
// time. These bit tricks (Hacker's Delight "haszero"/"hasless") can also flag bytes above
// a flagged one, but the LOWEST flag is always exact: borrows only run upwards.
std::uint64_t special_bytes(std::uint64_t w) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
    const auto has_zero_byte = [&](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
    std::uint64_t flagged = w & kHigh;            // >= 0x80
    flagged |= (w - kOnes * 0x21) & ~w & kHigh;   // < 0x21
    flagged |= has_zero_byte(w ^ (kOnes * 0x7f)); // DEL
    flagged |= has_zero_byte(w ^ (kOnes * '?'));
    flagged |= has_zero_byte(w ^ (kOnes * '#'));
    return flagged;
}

bool starts_with_nocase(std::string_view s, std::string_view lower_prefix) {
    if (s.size() < lower_prefix.size()) return false;
    for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
        if (c != static_cast<unsigned char>(lower_prefix[i])) return false;
    }
    return true;
}

} // namespace

RequestTarget parse_request_target(const char* bytes, std::size_t len) {
    RequestTarget out;
    if (bytes == nullptr) return out;

    std::size_t end = 0;
    bool terminated = false;
    static_assert(std::endian::native == std::endian::little, "byte order of the word scan");
    for (; end + 8 <= len; end += 8) {
        std::uint64_t w;
        std::memcpy(&w, bytes + end, 8);
        if (const std::uint64_t special = special_bytes(w)) {
            end += static_cast<std::size_t>(std::countr_zero(special) >> 3);
            break; // the byte loop classifies it
        }
    }
    for (; end < len; ++end) {
        const unsigned char cls = kByteClass[static_cast<unsigned char>(bytes[end])];
        if (cls == kPathByte) continue;
        if (cls == kBadByte) return out; // invalid
        terminated = true;
        break;
    }
    const std::string_view target(bytes, end);
    if (target.empty()) return out;
    out.truncated = !terminated;

    if (target[0] == '/') {
        out.form = TargetForm::origin;
        out.path = target;
        return out;
    }
    if (target == "*") {
        // A lone '*' that was cut off could have been the start of anything.
        if (!terminated) return RequestTarget{};
        out.form = TargetForm::asterisk;
        out.path = target;
        return out;
    }
    std::size_t scheme_len = 0;
    if (starts_with_nocase(target, "http://"))
        scheme_len = 7;
    else if (starts_with_nocase(target, "https://"))
        scheme_len = 8;
    else
        return RequestTarget{}; // authority-form (CONNECT host:port) and junk alike

    // Skip the authority ([userinfo@]host[:port]); the path starts at the next '/'.
    const std::size_t slash = target.find('/', scheme_len);
    out.form = TargetForm::absolute;
    if (slash == std::string_view::npos) {
        // "http://host" means "/"; if the bytes ran out inside the authority the path is
        // unknown, and "/" with truncated=true says exactly that.
        out.path = "/";
        return out;
    }
    out.path = target.substr(slash);
    return out;
}

RequestTarget parse_request_target(const hs_http_exchange& ev) {
    const std::size_t len = std::min<std::size_t>(ev.path_len, HS_PATH_MAX);
    return parse_request_target(ev.path, len);
}

} // namespace homeostat::engine::http
