// C++ twin of events.h: layout checks, a bounds-checked decoder for ring-buffer bytes
// and printable names. The structs themselves are never redefined here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

extern "C" {
#include "events.h"
}

namespace homeostat::abi {

static_assert(sizeof(hs_event_header) == 16);
static_assert(offsetof(hs_http_exchange, req_start_ns) == 16);
static_assert(offsetof(hs_http_exchange, cgroup_id) == 32);
static_assert(offsetof(hs_http_exchange, tgid) == 56);
static_assert(offsetof(hs_http_exchange, status) == 60);
static_assert(offsetof(hs_http_exchange, local_port) == 68);
static_assert(offsetof(hs_http_exchange, local_addr) == 72);
static_assert(offsetof(hs_http_exchange, comm) == 104);
static_assert(offsetof(hs_http_exchange, path) == 120);
static_assert(sizeof(hs_http_exchange) == 120 + HS_PATH_MAX);
static_assert(sizeof(hs_http_exchange) % 8 == 0);
static_assert(sizeof(hs_listen_event) == 48);
static_assert(sizeof(hs_proc_event) == 64);
static_assert(offsetof(hs_proc_event, tgid) == 32);
static_assert(offsetof(hs_proc_event, comm) == 48);
static_assert(sizeof(hs_oom_event) == 64);
static_assert(offsetof(hs_oom_event, tgid) == 40);
static_assert(sizeof(hs_tcp_event) == 56);
static_assert(offsetof(hs_tcp_event, kind) == 32);
static_assert(offsetof(hs_tcp_event, segs) == 34);
static_assert(offsetof(hs_tcp_event, comm) == 40);

// Copies a record of type T out of ring-buffer bytes if the header says it is one.
// Ring-buffer memory is only 8-byte aligned and read-only; a copy keeps callers simple.
template <typename T>
std::optional<T> decode(std::span<const std::byte> bytes, std::uint16_t kind) {
    if (bytes.size() < sizeof(hs_event_header)) return std::nullopt;
    hs_event_header h;
    std::memcpy(&h, bytes.data(), sizeof h);
    if (h.kind != kind || h.abi_version != HS_ABI_VERSION || h.size != sizeof(T) ||
        bytes.size() < sizeof(T))
        return std::nullopt;
    T out;
    std::memcpy(&out, bytes.data(), sizeof out);
    return out;
}

inline std::string_view method_name(std::uint8_t m) {
    switch (m) {
    case HS_M_GET: return "GET";
    case HS_M_HEAD: return "HEAD";
    case HS_M_POST: return "POST";
    case HS_M_PUT: return "PUT";
    case HS_M_DELETE: return "DELETE";
    case HS_M_PATCH: return "PATCH";
    case HS_M_OPTIONS: return "OPTIONS";
    case HS_M_CONNECT: return "CONNECT";
    case HS_M_TRACE: return "TRACE";
    default: return "_OTHER"; // OpenTelemetry's name for an unknown method
    }
}

inline std::string_view role_name(std::uint8_t r) {
    return r == HS_ROLE_SERVER ? "server" : r == HS_ROLE_CLIENT ? "client" : "unknown";
}

inline std::string_view stat_name(int i) {
    switch (i) {
    case HS_STAT_RINGBUF_DROPS: return "ringbuf_full";
    case HS_STAT_STORAGE_FAILS: return "socket_storage_full";
    case HS_STAT_RETRANSMITS_SKIPPED: return "retransmits_skipped";
    case HS_STAT_UNPARSED_RESPONSES: return "unparsed_responses";
    default: return "unknown";
    }
}

// Fixed-size C string field → string_view without reading past the field.
inline std::string_view field_str(const char* p, std::size_t n) {
    return {p, ::strnlen(p, n)};
}

// "1.2.3.4" or "::1" from the raw address bytes of an event.
std::string format_address(std::uint8_t family, const std::uint8_t (&addr)[16]);

std::string to_string(const hs_http_exchange& e);
std::string to_string(const hs_listen_event& e);

inline std::string_view tcp_kind_name(std::uint8_t k) {
    switch (k) {
    case HS_TCP_RETRANSMIT: return "retransmit";
    case HS_TCP_RESET_SENT: return "reset_sent";
    case HS_TCP_RESET_RECEIVED: return "reset_received";
    case HS_TCP_CONNECT_FAILED: return "connect_failed";
    default: return "unknown";
    }
}

} // namespace homeostat::abi
