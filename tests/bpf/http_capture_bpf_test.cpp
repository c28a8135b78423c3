// Kernel test (root): loads the real capture programs, makes real TCP exchanges on
// 127.0.0.1 from this process, and checks every field of the events that arrive.
// Both ends of each connection are ours, so each exchange yields a server event and a
// client event. Other traffic on the host is filtered out by our ports.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "agent/capture.h"
#include "agent/fd.h"
#include "agent/system_checks.h"
#include "events.hpp"

using namespace homeostat;
using namespace std::chrono_literals;

namespace {

class HttpCapture : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ASSERT_EQ(::geteuid(), 0u) << "this kernel test must run as root (it loads BPF programs); "
                                      "CI runs as root, so a failure here is a real failure";
        auto root = agent::find_cgroup2_root();
        ASSERT_TRUE(root.ok()) << root.error().message;
        agent::CaptureOptions o;
        o.cgroup2_root = root.value();
        auto c = agent::Capture::open(o, [](std::span<const std::byte> b) {
            if (auto e = homeostat::abi::decode<hs_http_exchange>(b, HS_EV_HTTP_EXCHANGE)) events_->push_back(*e);
        });
        ASSERT_TRUE(c.ok()) << c.error().describe();
        capture_ = c.value().release();
    }
    static void TearDownTestSuite() {
        delete capture_;
        capture_ = nullptr;
    }

    void SetUp() override {
        ASSERT_NE(capture_, nullptr);
        capture_->consume();
        events_->clear();
        listener_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        ASSERT_EQ(::listen(listener_.get(), 16), 0);
        socklen_t len = sizeof a;
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }

    // A connected (client, server) pair on 127.0.0.1 with Nagle off, so that every
    // send() is its own segment.
    std::pair<Fd, Fd> connect_pair() {
        Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(port_);
        EXPECT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        Fd s(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        int one = 1;
        ::setsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return {std::move(c), std::move(s)};
    }

    // Sends in pieces with a pause between them, so they leave as separate segments.
    static void send_pieces(int fd, std::initializer_list<std::string_view> pieces) {
        for (auto p : pieces) {
            ASSERT_EQ(::send(fd, p.data(), p.size(), MSG_NOSIGNAL), static_cast<ssize_t>(p.size()));
            std::this_thread::sleep_for(5ms);
        }
    }
    static std::string recv_some(int fd) {
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, n) : std::string();
    }

    // Our events (local or remote port is ours), after draining the ring buffer.
    std::vector<hs_http_exchange> ours(std::size_t expect) {
        std::vector<hs_http_exchange> out;
        for (int i = 0; i < 100; ++i) {
            capture_->consume();
            out.clear();
            for (auto& e : *events_)
                if (e.local_port == port_ || e.remote_port == port_) out.push_back(e);
            if (out.size() >= expect) break;
            std::this_thread::sleep_for(20ms);
        }
        return out;
    }

    static const hs_http_exchange* find(const std::vector<hs_http_exchange>& v, std::uint8_t role, std::size_t nth = 0) {
        for (auto& e : v)
            if (e.role == role && nth-- == 0) return &e;
        return nullptr;
    }
    static std::string target(const hs_http_exchange& e) {
        std::string_view p(e.path, e.path_len);
        return std::string(p.substr(0, p.find(' ')));
    }

    static inline agent::Capture* capture_ = nullptr;
    static inline std::vector<hs_http_exchange>* events_ = new std::vector<hs_http_exchange>();
    Fd listener_;
    std::uint16_t port_ = 0;
};

TEST_F(HttpCapture, OneExchangeEveryField) {
    auto [c, s] = connect_pair();
    const std::string req = "GET /users/42?x=1 HTTP/1.1\r\nHost: t\r\n\r\n";
    auto before = std::chrono::steady_clock::now().time_since_epoch();
    send_pieces(c.get(), {req});
    ASSERT_EQ(recv_some(s.get()), req);
    std::this_thread::sleep_for(10ms);
    send_pieces(s.get(), {"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"});
    recv_some(c.get());
    auto after = std::chrono::steady_clock::now().time_since_epoch();

    auto v = ours(2);
    ASSERT_EQ(v.size(), 2u);
    const auto* srv = find(v, HS_ROLE_SERVER);
    const auto* cli = find(v, HS_ROLE_CLIENT);
    ASSERT_TRUE(srv && cli);
    for (const auto* e : {srv, cli}) {
        SCOPED_TRACE(homeostat::abi::role_name(e->role));
        EXPECT_EQ(e->hdr.kind, HS_EV_HTTP_EXCHANGE);
        EXPECT_EQ(e->hdr.size, sizeof(hs_http_exchange));
        EXPECT_EQ(e->hdr.abi_version, HS_ABI_VERSION);
        EXPECT_EQ(e->method, HS_M_GET);
        EXPECT_EQ(e->status, 201);
        EXPECT_EQ(target(*e), "/users/42?x=1");
        EXPECT_EQ(e->req_bytes, req.size());
        EXPECT_EQ(e->family, AF_INET);
        EXPECT_EQ(homeostat::abi::format_address(e->family, e->local_addr), "127.0.0.1");
        EXPECT_EQ(homeostat::abi::format_address(e->family, e->remote_addr), "127.0.0.1");
        EXPECT_NE(e->sock_cookie, 0u);
        EXPECT_NE(e->cgroup_id, 0u);
        EXPECT_EQ(e->flags & (HS_XF_PATH_TRUNCATED | HS_XF_HTTP10), 0);
        // Monotonic ktime, the clock steady_clock reads on Linux.
        EXPECT_GE(e->req_start_ns, static_cast<std::uint64_t>(before.count()));
        EXPECT_LE(e->resp_start_ns, static_cast<std::uint64_t>(after.count()));
        EXPECT_GE(e->resp_start_ns - e->req_start_ns, 10'000'000u); // we slept 10 ms in between
        EXPECT_LE(e->hdr.ktime_ns - e->resp_start_ns, 1'000'000'000u);
    }
    EXPECT_EQ(srv->local_port, port_);
    EXPECT_EQ(cli->remote_port, port_);
    EXPECT_EQ(srv->remote_port, cli->local_port);
    EXPECT_NE(srv->sock_cookie, cli->sock_cookie);
    // connect() ran in this process: the client side knows its owner.
    EXPECT_TRUE(cli->flags & HS_XF_OWNER_KNOWN);
    EXPECT_EQ(cli->tgid, static_cast<std::uint32_t>(::getpid()));
    // The server socket was accepted: its owner comes from the listening port, in user space.
    EXPECT_FALSE(srv->flags & HS_XF_OWNER_KNOWN);
}

TEST_F(HttpCapture, KeepAliveCountsEachExchange) {
    auto [c, s] = connect_pair();
    for (int i = 0; i < 5; ++i) {
        std::string req = "POST /items/" + std::to_string(i) + " HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        send_pieces(c.get(), {req});
        recv_some(s.get());
        send_pieces(s.get(), {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"});
        recv_some(c.get());
    }
    auto v = ours(10);
    ASSERT_EQ(v.size(), 10u);
    for (int i = 0; i < 5; ++i) {
        const auto* e = find(v, HS_ROLE_SERVER, i);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->method, HS_M_POST);
        EXPECT_EQ(target(*e), "/items/" + std::to_string(i));
        EXPECT_EQ(e->status, 200);
    }
}

TEST_F(HttpCapture, HeadsSplitAcrossSegments) {
    auto [c, s] = connect_pair();
    // Request line split inside the target; status line split inside the version.
    send_pieces(c.get(), {"DELETE /a/very/", "long/path HTTP/1.1\r\n", "Host: t\r\n\r\n"});
    std::this_thread::sleep_for(10ms);
    send_pieces(s.get(), {"HTTP/1.", "1 404 Not Found\r\n", "Content-Length: 0\r\n\r\n"});
    auto v = ours(2);
    ASSERT_EQ(v.size(), 2u);
    for (const auto& e : v) {
        EXPECT_EQ(e.method, HS_M_DELETE);
        EXPECT_EQ(target(e), "/a/very/long/path");
        EXPECT_EQ(e.status, 404);
    }
}

TEST_F(HttpCapture, HeadAndHttp10) {
    auto [c, s] = connect_pair();
    send_pieces(c.get(), {"HEAD /h HTTP/1.0\r\n\r\n"});
    send_pieces(s.get(), {"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n"});
    auto v = ours(2);
    ASSERT_EQ(v.size(), 2u);
    for (const auto& e : v) {
        EXPECT_EQ(e.method, HS_M_HEAD);
        EXPECT_EQ(e.status, 200);
        EXPECT_TRUE(e.flags & HS_XF_HTTP10);
    }
}

TEST_F(HttpCapture, InterimResponseWaitsForTheFinalOne) {
    auto [c, s] = connect_pair();
    send_pieces(c.get(), {"PUT /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"});
    send_pieces(s.get(), {"HTTP/1.1 100 Continue\r\n\r\n"});
    send_pieces(c.get(), {"data"});
    send_pieces(s.get(), {"HTTP/1.1 204 No Content\r\n\r\n"});
    auto v = ours(2);
    ASSERT_EQ(v.size(), 2u);
    for (const auto& e : v) {
        EXPECT_EQ(e.method, HS_M_PUT);
        EXPECT_EQ(e.status, 204);
        EXPECT_GE(e.req_bytes, 4u + 60u);
    }
}

TEST_F(HttpCapture, UpgradeStopsTracking) {
    auto [c, s] = connect_pair();
    send_pieces(c.get(), {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"});
    send_pieces(s.get(), {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"});
    // WebSocket frames that happen to look like HTTP must not be counted.
    send_pieces(c.get(), {"GET /not-http HTTP/1.1\r\n\r\n"});
    send_pieces(s.get(), {"HTTP/1.1 200 OK\r\n\r\n"});
    auto v = ours(3);
    ASSERT_EQ(v.size(), 2u);
    for (const auto& e : v) EXPECT_EQ(e.status, 101);
}

TEST_F(HttpCapture, NonHttpTrafficIsIgnored) {
    auto [c, s] = connect_pair();
    send_pieces(c.get(), {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 binary junk here"});
    send_pieces(s.get(), {"HTTP/1.1 200 OK\r\n\r\n"}); // a response to nothing we saw
    send_pieces(c.get(), {"SSH-2.0-OpenSSH_9.2\r\n"});
    auto v = ours(1);
    EXPECT_TRUE(v.empty());
}

TEST_F(HttpCapture, GarbageStatusLineIsCountedNotEmitted) {
    auto before = capture_->stats()[HS_STAT_UNPARSED_RESPONSES];
    auto [c, s] = connect_pair();
    send_pieces(c.get(), {"GET /x HTTP/1.1\r\n\r\n"});
    send_pieces(s.get(), {"ICY 200 OK\r\nnot http at all\r\n"});
    auto v = ours(1);
    EXPECT_TRUE(v.empty());
    EXPECT_EQ(capture_->stats()[HS_STAT_UNPARSED_RESPONSES], before + 2); // both sockets saw it
}

TEST_F(HttpCapture, LongTargetIsTruncatedAndFlagged) {
    auto [c, s] = connect_pair();
    std::string path = "/" + std::string(300, 'a');
    send_pieces(c.get(), {"GET " + path + " HTTP/1.1\r\n\r\n"});
    send_pieces(s.get(), {"HTTP/1.1 414 URI Too Long\r\n\r\n"});
    auto v = ours(2);
    ASSERT_EQ(v.size(), 2u);
    for (const auto& e : v) {
        EXPECT_EQ(e.path_len, HS_PATH_MAX);
        EXPECT_TRUE(e.flags & HS_XF_PATH_TRUNCATED);
        EXPECT_EQ(std::string(e.path, HS_PATH_MAX), path.substr(0, HS_PATH_MAX));
        EXPECT_EQ(e.status, 414);
    }
}

TEST_F(HttpCapture, ConnectionOpenedBeforeTrackingIsPickedUpAtItsNextRequest) {
    auto [c, s] = connect_pair();
    // Mid-stream bytes first (as if we attached in the middle of a body): ignored.
    send_pieces(c.get(), {"tail of a body from before"});
    send_pieces(c.get(), {"GET /next HTTP/1.1\r\n\r\n"});
    send_pieces(s.get(), {"HTTP/1.1 200 OK\r\n\r\n"});
    auto v = ours(2);
    ASSERT_EQ(v.size(), 2u);
    for (const auto& e : v) EXPECT_EQ(target(e), "/next");
}

TEST_F(HttpCapture, Ipv6Loopback) {
    Fd l(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    ASSERT_EQ(::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << "no IPv6 loopback";
    ASSERT_EQ(::listen(l.get(), 4), 0);
    socklen_t len = sizeof a;
    ::getsockname(l.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin6_port); // ours() filters on it
    Fd c(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    Fd s(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
    send_pieces(c.get(), {"PATCH /v6/items/7 HTTP/1.1\r\nHost: [::1]\r\n\r\n"});
    recv_some(s.get());
    send_pieces(s.get(), {"HTTP/1.1 409 Conflict\r\nContent-Length: 0\r\n\r\n"});
    auto v = ours(2);
    ASSERT_EQ(v.size(), 2u);
    for (const auto& e : v) {
        EXPECT_EQ(e.family, AF_INET6);
        EXPECT_EQ(e.method, HS_M_PATCH);
        EXPECT_EQ(e.status, 409);
        EXPECT_EQ(target(e), "/v6/items/7");
        EXPECT_EQ(homeostat::abi::format_address(e.family, e.local_addr), "::1");
        EXPECT_EQ(homeostat::abi::format_address(e.family, e.remote_addr), "::1");
    }
    const auto* srv = find(v, HS_ROLE_SERVER);
    ASSERT_TRUE(srv);
    EXPECT_EQ(srv->local_port, port_);
}

} // namespace
