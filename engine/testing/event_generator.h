// Builds hs_http_exchange records exactly as bpf/http.bpf.c submits them, so tests and
// benchmarks exercise the engine with what the kernel side really sends:
//  - path[] holds the bytes after "METHOD ": the target, " HTTP/1.1\r\n" and headers, cut
//    at HS_PATH_MAX; path_len says how many are valid;
//  - HS_XF_PATH_TRUNCATED is set whenever those bytes filled the buffer (the BPF side
//    cannot tell whether the target itself was cut), which is the norm with headers;
//  - bytes past path_len are NOT zeroed (the kernel reuses its per-socket buffer), so the
//    generator fills them with junk that a parser reading too far would pick up.
// Header-only and service-agnostic: the service is what the caller passes to the
// aggregator next to the event.
#pragma once

#include <arpa/inet.h> // inet_pton: parses test addresses, pure function

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "events.hpp"

namespace homeostat::engine::testing {

// One side of a connection: family, raw address bytes as the event carries them, port.
struct SocketAddress {
    std::uint8_t family = 0;
    std::uint8_t addr[16] = {};
    std::uint16_t port = 0;

    // "10.0.0.7" or "fd00::7" (or "::ffff:10.0.0.7", kept as AF_INET6 like the kernel does
    // for a v4 peer of a dual-stack socket). Throws on anything else.
    static SocketAddress parse(std::string_view ip, std::uint16_t port) {
        SocketAddress a;
        a.port = port;
        const std::string s(ip);
        if (::inet_pton(AF_INET, s.c_str(), a.addr) == 1)
            a.family = AF_INET;
        else if (::inet_pton(AF_INET6, s.c_str(), a.addr) == 1)
            a.family = AF_INET6;
        else
            throw std::invalid_argument("SocketAddress: not an IP address: " + s);
        return a;
    }
};

// Everything an exchange can vary; defaults give a plain server-side GET 200.
struct ExchangeSpec {
    std::uint8_t method = HS_M_GET;
    std::string target = "/";
    std::uint16_t status = 200;
    std::chrono::nanoseconds latency{std::chrono::milliseconds(1)};
    std::uint8_t role = HS_ROLE_SERVER;
    // Client role: the upstream we called. Server role: the client that called us.
    SocketAddress remote = SocketAddress::parse("10.0.0.2", 40000);
    SocketAddress local = SocketAddress::parse("10.0.0.1", 8080);
    std::uint64_t req_bytes = 0; // 0: the size of the request head the generator writes
    std::string host = "service.local";
    bool http10 = false;
};

class EventGenerator {
public:
    // ktime of the first request; each exchange starts `gap` after the previous one.
    explicit EventGenerator(std::chrono::nanoseconds start = std::chrono::seconds(1000),
                            std::chrono::nanoseconds gap = std::chrono::microseconds(10))
        : clock_(static_cast<std::uint64_t>(start.count())), gap_(static_cast<std::uint64_t>(gap.count())) {}

    // The owner the BPF side learnt (sets HS_XF_OWNER_KNOWN), and the cgroup of the socket.
    void set_owner(std::uint32_t tgid, std::string_view comm) {
        tgid_ = tgid;
        comm_ = std::string(comm.substr(0, HS_COMM_LEN - 1));
    }
    void set_cgroup(std::uint64_t id) { cgroup_id_ = id; }

    hs_http_exchange exchange(const ExchangeSpec& spec) {
        std::string head = spec.target;
        head += spec.http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
        head += "Host: " + spec.host + "\r\nUser-Agent: homeostat-test/1\r\nAccept: */*\r\n\r\n";
        hs_http_exchange e = raw(head, spec);
        e.req_bytes = spec.req_bytes != 0 ? spec.req_bytes : head.size() + method_len(spec.method);
        return e;
    }

    hs_http_exchange exchange(std::uint8_t method, std::string_view target, std::uint16_t status,
                              std::chrono::nanoseconds latency, std::uint8_t role = HS_ROLE_SERVER) {
        ExchangeSpec s;
        s.method = method;
        s.target = std::string(target);
        s.status = status;
        s.latency = latency;
        s.role = role;
        return exchange(s);
    }

    // A client-role exchange to `peer` (the upstream).
    hs_http_exchange client_exchange(std::uint8_t method, std::string_view target, std::uint16_t status,
                                     std::chrono::nanoseconds latency, const SocketAddress& peer) {
        ExchangeSpec s;
        s.method = method;
        s.target = std::string(target);
        s.status = status;
        s.latency = latency;
        s.role = HS_ROLE_CLIENT;
        s.remote = peer;
        s.local = SocketAddress::parse(peer.family == AF_INET6 ? "fd00::1" : "10.0.0.1", 50000);
        return exchange(s);
    }

    // An exchange whose captured bytes after "METHOD " are exactly `bytes` (cut at
    // HS_PATH_MAX like the kernel does): for garbage, split packets and odd targets.
    hs_http_exchange raw(std::string_view bytes, const ExchangeSpec& spec = {}) {
        hs_http_exchange e;
        std::memset(&e, 0, sizeof e);
        e.hdr.kind = HS_EV_HTTP_EXCHANGE;
        e.hdr.size = sizeof e;
        e.hdr.abi_version = HS_ABI_VERSION;
        e.req_start_ns = clock_;
        e.resp_start_ns = clock_ + static_cast<std::uint64_t>(spec.latency.count());
        e.hdr.ktime_ns = e.resp_start_ns;
        clock_ += gap_;
        e.cgroup_id = cgroup_id_;
        e.sock_cookie = ++cookie_;
        e.req_bytes = spec.req_bytes != 0 ? spec.req_bytes : bytes.size();
        e.tgid = tgid_;
        e.status = spec.status;
        e.method = spec.method;
        e.role = spec.role;
        e.flags = (tgid_ != 0 ? HS_XF_OWNER_KNOWN : 0) | (spec.http10 ? HS_XF_HTTP10 : 0);
        e.family = spec.remote.family;
        e.local_port = spec.local.port;
        e.remote_port = spec.remote.port;
        std::memcpy(e.local_addr, spec.local.addr, 16);
        std::memcpy(e.remote_addr, spec.remote.addr, 16);
        std::memcpy(e.comm, comm_.data(), comm_.size());

        const std::size_t n = std::min<std::size_t>(bytes.size(), HS_PATH_MAX);
        std::memcpy(e.path, bytes.data(), n);
        e.path_len = static_cast<std::uint16_t>(n);
        if (n >= HS_PATH_MAX) e.flags |= HS_XF_PATH_TRUNCATED;
        // Stale bytes from an earlier request on the same socket.
        static constexpr char kJunk[] = "/stale/9f8e7d6c/junk HTTP/1.1";
        for (std::size_t i = n; i < HS_PATH_MAX; ++i)
            e.path[i] = kJunk[(i - n) % (sizeof kJunk - 1)];
        return e;
    }

    std::uint64_t now_ktime() const { return clock_; }

private:
    static std::size_t method_len(std::uint8_t m) { return abi::method_name(m).size() + 1; }

    std::uint64_t clock_;
    std::uint64_t gap_;
    std::uint64_t cookie_ = 0;
    std::uint64_t cgroup_id_ = 4242;
    std::uint32_t tgid_ = 0;
    std::string comm_;
};

} // namespace homeostat::engine::testing
