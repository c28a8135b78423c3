// The request target of an HTTP/1.x request line, cut out of the raw bytes the BPF side
// captured after "METHOD " (hs_http_exchange::path). Those bytes are untrusted: a
// request line split over packets, a buffer that filled up, or a non-HTTP peer that
// happened to start with "GET ". Nothing here allocates or reads past the valid bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

struct hs_http_exchange;

namespace homeostat::engine::http {

enum class TargetForm : std::uint8_t {
    origin,   // "/a/b?x=1"             → path "/a/b"
    absolute, // "http://h:8080/a/b"    → path "/a/b" (what clients send to proxies)
    asterisk, // "*" (OPTIONS * HTTP/1.1) → path "*"
    invalid,  // empty, other forms, control or non-ASCII bytes → no path
};

struct RequestTarget {
    TargetForm form = TargetForm::invalid;
    // Origin/absolute: the path without query or fragment, always starting with '/'.
    // Asterisk: "*". Invalid: empty. Points into the parsed bytes (or a static "/").
    std::string_view path;
    // No terminator (space, '?', '#', CR, LF, NUL) was seen before the bytes ran out, so
    // the last segment may be a fragment of a longer one.
    bool truncated = false;

    bool valid() const { return form != TargetForm::invalid; }
};

// Parses at most `len` bytes of `bytes`.
RequestTarget parse_request_target(const char* bytes, std::size_t len);

// Parses ev.path[0 .. min(ev.path_len, HS_PATH_MAX)). HS_XF_PATH_TRUNCATED is not
// consulted: the BPF side sets it whenever its buffer filled up, which for a request
// with headers is the common case even though the target itself ended early. Whether
// the target was cut is decided by whether its terminator is inside the valid bytes.
RequestTarget parse_request_target(const hs_http_exchange& ev);

} // namespace homeostat::engine::http
