// events.hpp's out-of-line functions, and the EventGenerator the other engine tests rely
// on to build records the way bpf/http.bpf.c does.
#include "events.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cstring>
#include <span>
#include <string>

#include "engine/testing/event_generator.h"

namespace homeostat {
namespace {

using namespace std::chrono_literals;
using engine::testing::EventGenerator;
using engine::testing::ExchangeSpec;
using engine::testing::SocketAddress;

std::string fmt_addr(std::string_view ip) {
    const auto a = SocketAddress::parse(ip, 0);
    return abi::format_address(a.family, a.addr);
}

TEST(FormatAddress, Ipv4) {
    EXPECT_EQ(fmt_addr("192.168.1.20"), "192.168.1.20");
    EXPECT_EQ(fmt_addr("0.0.0.0"), "0.0.0.0");
    EXPECT_EQ(fmt_addr("255.255.255.255"), "255.255.255.255");
}

TEST(FormatAddress, Ipv6IsCompressed) {
    EXPECT_EQ(fmt_addr("2001:0db8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
    EXPECT_EQ(fmt_addr("::1"), "::1");
    EXPECT_EQ(fmt_addr("fe80::1:2"), "fe80::1:2");
}

TEST(FormatAddress, V4MappedPrintsAsV4) {
    EXPECT_EQ(fmt_addr("::ffff:10.0.0.7"), "10.0.0.7");
    EXPECT_EQ(fmt_addr("::fffe:a00:7"), "::fffe:a00:7") << "only ::ffff:0:0/96 is mapped";
}

TEST(FormatAddress, UnknownFamilyIsEmpty) {
    const std::uint8_t addr[16] = {1, 2, 3, 4};
    EXPECT_EQ(abi::format_address(0, addr), "");
    EXPECT_EQ(abi::format_address(AF_UNIX, addr), "");
}

TEST(ToString, ExchangeIsOneReadableLine) {
    EventGenerator gen;
    gen.set_owner(4321, "nginx");
    ExchangeSpec spec;
    spec.method = HS_M_POST;
    spec.target = "/users/42?x=1";
    spec.status = 201;
    spec.latency = 1500us;
    const hs_http_exchange ev = gen.exchange(spec);
    const std::string s = abi::to_string(ev);
    for (const char* part :
         {"server", "POST", "/users/42?x=1", "status=201", "latency_us=1500.000", "local=10.0.0.1:8080",
          "remote=10.0.0.2:40000", "tgid=4321", "comm=nginx", "cgroup=4242"})
        EXPECT_NE(s.find(part), std::string::npos) << part << " missing in: " << s;
    EXPECT_EQ(s.find('\n'), std::string::npos);
    EXPECT_EQ(s.find("HTTP/1.1"), std::string::npos) << "only the target is printed: " << s;
}

TEST(ToString, ExchangeEscapesJunkAndBracketsV6) {
    EventGenerator gen;
    ExchangeSpec spec;
    spec.role = HS_ROLE_CLIENT;
    spec.remote = SocketAddress::parse("fd00::9", 443);
    spec.local = SocketAddress::parse("fd00::1", 50000);
    hs_http_exchange ev = gen.raw("/a\x01\x1b[31m", spec);
    ev.resp_start_ns = ev.req_start_ns - 1;
    const std::string s = abi::to_string(ev);
    EXPECT_NE(s.find("client"), std::string::npos) << s;
    EXPECT_NE(s.find("/a\\x01\\x1b[31m"), std::string::npos) << s;
    EXPECT_EQ(s.find('\x1b'), std::string::npos) << "no raw escape bytes in a log line";
    EXPECT_NE(s.find("remote=[fd00::9]:443"), std::string::npos) << s;
    EXPECT_NE(s.find("latency_us=?"), std::string::npos) << s;
}

TEST(ToString, ListenEvent) {
    hs_listen_event e;
    std::memset(&e, 0, sizeof e);
    e.hdr.kind = HS_EV_LISTEN;
    e.port = 8080;
    e.family = AF_INET6;
    e.tgid = 99;
    std::memcpy(e.comm, "python3", 7);
    const std::string s = abi::to_string(e);
    EXPECT_NE(s.find("listen"), std::string::npos);
    EXPECT_NE(s.find("port=8080"), std::string::npos) << s;
    EXPECT_NE(s.find("inet6"), std::string::npos) << s;
    EXPECT_NE(s.find("comm=python3"), std::string::npos) << s;
    EXPECT_NE(s.find("tgid=99"), std::string::npos) << s;
}

TEST(EventGenerator, RecordsDecodeLikeRingBufferBytes) {
    EventGenerator gen(5s);
    const hs_http_exchange ev = gen.exchange(HS_M_DELETE, "/items/9", 204, 3ms);
    const auto bytes = std::as_bytes(std::span(&ev, 1));
    const auto decoded = abi::decode<hs_http_exchange>(bytes, HS_EV_HTTP_EXCHANGE);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->hdr.size, sizeof(hs_http_exchange));
    EXPECT_EQ(decoded->hdr.abi_version, static_cast<std::uint32_t>(HS_ABI_VERSION));
    EXPECT_EQ(decoded->method, HS_M_DELETE);
    EXPECT_EQ(decoded->status, 204);
    EXPECT_EQ(decoded->req_start_ns, 5'000'000'000u);
    EXPECT_EQ(decoded->resp_start_ns - decoded->req_start_ns, 3'000'000u);
    EXPECT_EQ(decoded->role, HS_ROLE_SERVER);
    EXPECT_EQ(decoded->family, AF_INET);
    const std::string_view captured(decoded->path, decoded->path_len);
    EXPECT_EQ(captured.substr(0, 18), "/items/9 HTTP/1.1\r");
    EXPECT_FALSE(abi::decode<hs_listen_event>(bytes, HS_EV_LISTEN).has_value());
}

TEST(EventGenerator, FullBufferSetsTheTruncatedFlagLikeTheKernel) {
    EventGenerator gen;
    const hs_http_exchange small = gen.raw("/x HTTP/1.1\r\n\r\n");
    EXPECT_EQ(small.path_len, 15);
    EXPECT_FALSE(small.flags & HS_XF_PATH_TRUNCATED);
    const hs_http_exchange full = gen.exchange(HS_M_GET, "/" + std::string(300, 'p'), 200, 1ms);
    EXPECT_EQ(full.path_len, HS_PATH_MAX);
    EXPECT_TRUE(full.flags & HS_XF_PATH_TRUNCATED);
}

TEST(EventGenerator, ClockAndCookiesAdvance) {
    EventGenerator gen(1s, 10us);
    const auto a = gen.exchange(HS_M_GET, "/", 200, 1ms);
    const auto b = gen.exchange(HS_M_GET, "/", 200, 1ms);
    EXPECT_EQ(b.req_start_ns - a.req_start_ns, 10'000u);
    EXPECT_NE(a.sock_cookie, b.sock_cookie);
    EXPECT_FALSE(a.flags & HS_XF_OWNER_KNOWN);
}

} // namespace
} // namespace homeostat
