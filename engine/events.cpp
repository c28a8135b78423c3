// The out-of-line parts of bpf/include/events.hpp. They live in engine/ because the engine
// is the lowest library every user-space component links; nothing here touches the kernel
// (inet_ntop is a pure formatting function).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cinttypes>
#include <cstdio>
#include <string>

#include "events.hpp"

namespace homeostat::abi {
namespace {

bool is_ipv4_mapped(const std::uint8_t (&a)[16]) {
    for (int i = 0; i < 10; ++i)
        if (a[i] != 0) return false;
    return a[10] == 0xff && a[11] == 0xff;
}

std::string format_ipv4(const std::uint8_t* b) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    return buf;
}

// printf-style append; every field we print is short, so a stack buffer suffices.
template <typename... Args> void appendf(std::string& out, const char* fmt, Args... args) {
    char buf[256];
    const int n = std::snprintf(buf, sizeof buf, fmt, args...);
    if (n > 0) out.append(buf, static_cast<std::size_t>(n) < sizeof buf ? n : sizeof buf - 1);
}

// Bytes from the wire, printable: anything that is not visible ASCII becomes \xNN so a log
// line stays one line and cannot carry terminal escapes.
void append_escaped(std::string& out, std::string_view s) {
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c > 0x20 && c < 0x7f && c != '\\')
            out.push_back(ch);
        else
            appendf(out, "\\x%02x", c);
    }
}

// The request target as sent: the valid bytes up to the first space, CR or LF.
std::string_view raw_target(const hs_http_exchange& e) {
    const std::size_t len = e.path_len < HS_PATH_MAX ? e.path_len : HS_PATH_MAX;
    std::size_t end = 0;
    while (end < len && e.path[end] != ' ' && e.path[end] != '\r' && e.path[end] != '\n' &&
           e.path[end] != '\0')
        ++end;
    return {e.path, end};
}

void append_endpoint(std::string& out, std::uint8_t family, const std::uint8_t (&addr)[16],
                     std::uint16_t port) {
    const std::string a = format_address(family, addr);
    if (a.empty())
        appendf(out, "?(family=%u):%u", family, port);
    else if (a.find(':') != std::string::npos)
        appendf(out, "[%s]:%u", a.c_str(), port);
    else
        appendf(out, "%s:%u", a.c_str(), port);
}

} // namespace

std::string format_address(std::uint8_t family, const std::uint8_t (&addr)[16]) {
    if (family == AF_INET) return format_ipv4(addr);
    if (family == AF_INET6) {
        // A v4 peer on a dual-stack socket: print it as the v4 address it is, so the
        // same upstream gets one label whichever socket family reached it.
        if (is_ipv4_mapped(addr)) return format_ipv4(addr + 12);
        char buf[INET6_ADDRSTRLEN];
        if (::inet_ntop(AF_INET6, addr, buf, sizeof buf) != nullptr) return buf;
    }
    return {};
}

std::string to_string(const hs_http_exchange& e) {
    std::string out = "http_exchange ";
    out += role_name(e.role);
    out += ' ';
    out += method_name(e.method);
    out += ' ';
    append_escaped(out, raw_target(e));
    if (e.flags & HS_XF_PATH_TRUNCATED) out += "...";
    appendf(out, " status=%u", e.status);
    if (e.resp_start_ns >= e.req_start_ns)
        appendf(out, " latency_us=%.3f", static_cast<double>(e.resp_start_ns - e.req_start_ns) / 1e3);
    else
        out += " latency_us=?";
    out += " local=";
    append_endpoint(out, e.family, e.local_addr, e.local_port);
    out += " remote=";
    append_endpoint(out, e.family, e.remote_addr, e.remote_port);
    appendf(out, " req_bytes=%" PRIu64 " tgid=%u", static_cast<std::uint64_t>(e.req_bytes), e.tgid);
    if (e.flags & HS_XF_OWNER_KNOWN) {
        out += " comm=";
        append_escaped(out, field_str(e.comm, sizeof e.comm));
    }
    if (e.flags & HS_XF_HTTP10) out += " http/1.0";
    appendf(out, " cgroup=%" PRIu64 " cookie=%" PRIu64 " ktime=%" PRIu64,
            static_cast<std::uint64_t>(e.cgroup_id), static_cast<std::uint64_t>(e.sock_cookie),
            static_cast<std::uint64_t>(e.hdr.ktime_ns));
    return out;
}

std::string to_string(const hs_listen_event& e) {
    std::string out;
    appendf(out, "listen port=%u family=%s tgid=%u comm=", e.port,
            e.family == AF_INET    ? "inet"
            : e.family == AF_INET6 ? "inet6"
                                   : "?",
            e.tgid);
    append_escaped(out, field_str(e.comm, sizeof e.comm));
    appendf(out, " cgroup=%" PRIu64 " ktime=%" PRIu64, static_cast<std::uint64_t>(e.cgroup_id),
            static_cast<std::uint64_t>(e.hdr.ktime_ns));
    return out;
}

} // namespace homeostat::abi
