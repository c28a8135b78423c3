// The request-target parser on raw bytes, and on an hs_http_exchange filled from them the
// way the BPF side fills one (path_len may lie: it is a kernel-side count, clamped here).
#include <cstdlib>
#include <cstring>

#include "engine/protocols/http/request_target.h"
#include "events.h"

using homeostat::engine::http::parse_request_target;
using homeostat::engine::http::RequestTarget;
using homeostat::engine::http::TargetForm;

namespace {

// What every result must satisfy, whatever the bytes.
void check(const RequestTarget& t, const char* bytes, std::size_t len) {
    if (!t.valid()) {
        if (!t.path.empty()) std::abort();
        return;
    }
    if (t.form == TargetForm::asterisk) {
        if (t.path != "*") std::abort();
        return;
    }
    if (t.path.empty() || t.path.front() != '/') std::abort();
    // The path is a view into the input (or the static "/" of an absolute URL without one).
    const bool inside = t.path.data() >= bytes && t.path.data() + t.path.size() <= bytes + len;
    if (!inside && t.path != "/") std::abort();
    for (char c : t.path)
        if (c == ' ' || c == '?' || c == '#' || c == '\r' || c == '\n' || c == '\0') std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const char* bytes = reinterpret_cast<const char*>(data);
    check(parse_request_target(bytes, size), bytes, size);

    // First two bytes: path_len as the kernel reported it (may exceed what was copied).
    hs_http_exchange ev{};
    if (size >= 2) {
        ev.path_len = static_cast<std::uint16_t>(data[0] | (data[1] << 8));
        const std::size_t n = std::min<std::size_t>(size - 2, HS_PATH_MAX);
        std::memcpy(ev.path, data + 2, n);
        check(parse_request_target(ev), ev.path, HS_PATH_MAX);
    }
    return 0;
}
