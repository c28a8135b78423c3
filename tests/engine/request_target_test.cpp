#include "engine/protocols/http/request_target.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "engine/testing/event_generator.h"

namespace homeostat::engine::http {
namespace {

using testing::EventGenerator;

RequestTarget parse(std::string_view s) {
    return parse_request_target(s.data(), s.size());
}

TEST(RequestTarget, OriginFormStopsAtSpace) {
    const auto t = parse("/users/42/orders HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(t.form, TargetForm::origin);
    EXPECT_EQ(t.path, "/users/42/orders");
    EXPECT_FALSE(t.truncated);
}

TEST(RequestTarget, QueryAndFragmentAreNotPartOfThePath) {
    EXPECT_EQ(parse("/search?q=a%20b&page=2 HTTP/1.1").path, "/search");
    EXPECT_EQ(parse("/docs#intro HTTP/1.1").path, "/docs");
    EXPECT_FALSE(parse("/search?q=").truncated) << "'?' is a terminator even at the end";
    EXPECT_EQ(parse("/?x").path, "/");
}

TEST(RequestTarget, LineEndsAndNulTerminate) {
    EXPECT_EQ(parse("/a/b\r\n").path, "/a/b");
    EXPECT_EQ(parse("/a/b\nHost").path, "/a/b");
    const char with_nul[] = {'/', 'a', '\0', 'b', ' '};
    const auto t = parse_request_target(with_nul, sizeof with_nul);
    EXPECT_EQ(t.path, "/a");
    EXPECT_FALSE(t.truncated);
}

TEST(RequestTarget, AbsoluteFormYieldsThePath) {
    auto t = parse("http://api.internal:8080/v1/users/7?x=1 HTTP/1.1");
    EXPECT_EQ(t.form, TargetForm::absolute);
    EXPECT_EQ(t.path, "/v1/users/7");
    EXPECT_FALSE(t.truncated);

    EXPECT_EQ(parse("HTTPS://Example.COM/a HTTP/1.1").path, "/a");
    EXPECT_EQ(parse("http://user:pw@host/p HTTP/1.1").path, "/p");

    t = parse("http://host HTTP/1.1");
    EXPECT_EQ(t.form, TargetForm::absolute);
    EXPECT_EQ(t.path, "/");
    EXPECT_FALSE(t.truncated);

    t = parse("http://host?q=1 HTTP/1.1");
    EXPECT_EQ(t.path, "/");
}

TEST(RequestTarget, AbsoluteFormCutInsideTheAuthorityIsTruncatedRoot) {
    const auto t = parse("http://very-long-host-na");
    EXPECT_EQ(t.form, TargetForm::absolute);
    EXPECT_EQ(t.path, "/");
    EXPECT_TRUE(t.truncated);
}

TEST(RequestTarget, Asterisk) {
    const auto t = parse("* HTTP/1.1\r\n");
    EXPECT_EQ(t.form, TargetForm::asterisk);
    EXPECT_EQ(t.path, "*");
    EXPECT_FALSE(parse("*x HTTP/1.1").valid());
    EXPECT_FALSE(parse("*").valid()) << "a cut-off '*' could have been anything";
}

TEST(RequestTarget, InvalidForms) {
    for (const std::string_view s : {
             std::string_view(""),
             std::string_view(" HTTP/1.1"),                    // empty target
             std::string_view("?x=1 HTTP/1.1"),                // query only
             std::string_view("users/1 HTTP/1.1"),             // no leading '/'
             std::string_view("api.example.com:443 HTTP/1.1"), // authority-form (CONNECT)
             std::string_view("ftp://host/file HTTP/1.1"), std::string_view("http:/host/x HTTP/1.1"),
             std::string_view("/a\tb HTTP/1.1"), // control byte
             std::string_view("/a\x01"
                              "b HTTP/1.1"),
             std::string_view("/a\x7f HTTP/1.1"),       // DEL
             std::string_view("/caf\xc3\xa9 HTTP/1.1"), // raw UTF-8
         }) {
        const auto t = parse(s);
        EXPECT_EQ(t.form, TargetForm::invalid) << "input: " << s;
        EXPECT_TRUE(t.path.empty()) << "input: " << s;
    }
}

TEST(RequestTarget, BinaryJunkIsInvalid) {
    // A TLS ClientHello that reached a plain-text port.
    const unsigned char tls[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03};
    EXPECT_FALSE(parse_request_target(reinterpret_cast<const char*>(tls), sizeof tls).valid());
    EXPECT_FALSE(parse_request_target(nullptr, 10).valid());
}

TEST(RequestTarget, RunningOutOfBytesMeansTruncated) {
    const auto t = parse("/users/12345");
    EXPECT_EQ(t.path, "/users/12345");
    EXPECT_TRUE(t.truncated);
}

TEST(RequestTarget, NeverReadsPastLength) {
    const std::string bytes = "/users/42 HTTP/1.1";
    // Only the first 6 bytes are valid: the space after them must not be seen.
    const auto t = parse_request_target(bytes.data(), 6);
    EXPECT_EQ(t.path, "/users");
    EXPECT_TRUE(t.truncated);
    EXPECT_EQ(t.path.data(), bytes.data());
}

TEST(RequestTarget, EventStaleBytesAfterPathLenAreIgnored) {
    EventGenerator gen;
    // The generator fills path[] past path_len with "/stale/..." junk like a reused
    // kernel buffer; a parser that read too far would return "/users/12/stale/...".
    const hs_http_exchange ev = gen.raw("/users/12");
    ASSERT_EQ(ev.path_len, 9);
    ASSERT_NE(ev.path[9], '\0');
    const auto t = parse_request_target(ev);
    EXPECT_EQ(t.path, "/users/12");
    EXPECT_TRUE(t.truncated);
}

TEST(RequestTarget, EventPathLenBeyondBufferIsCapped) {
    EventGenerator gen;
    hs_http_exchange ev = gen.raw(std::string(HS_PATH_MAX, 'a').replace(0, 1, "/"));
    ev.path_len = 65535; // corrupt length
    const auto t = parse_request_target(ev);
    EXPECT_EQ(t.path.size(), static_cast<std::size_t>(HS_PATH_MAX));
    EXPECT_EQ(t.path.data(), ev.path);
    EXPECT_TRUE(t.truncated);
}

TEST(RequestTarget, TruncatedFlagAloneDoesNotCutACompleteTarget) {
    // Long headers fill the kernel buffer, so the flag is set although the target ended.
    EventGenerator gen;
    testing::ExchangeSpec spec;
    spec.target = "/api/items";
    spec.host = std::string(200, 'h');
    const hs_http_exchange ev = gen.exchange(spec);
    ASSERT_TRUE(ev.flags & HS_XF_PATH_TRUNCATED);
    const auto t = parse_request_target(ev);
    EXPECT_EQ(t.path, "/api/items");
    EXPECT_FALSE(t.truncated);
}

TEST(RequestTarget, LongTargetFromTheGeneratorIsTruncated) {
    EventGenerator gen;
    const std::string target = "/files/" + std::string(200, 'x');
    const hs_http_exchange ev = gen.exchange(HS_M_GET, target, 200, std::chrono::milliseconds(1));
    const auto t = parse_request_target(ev);
    EXPECT_TRUE(t.truncated);
    EXPECT_EQ(t.path, std::string_view(target).substr(0, HS_PATH_MAX));
}

TEST(RequestTarget, EmptyEvent) {
    EventGenerator gen;
    const hs_http_exchange ev = gen.raw("");
    EXPECT_EQ(ev.path_len, 0);
    EXPECT_FALSE(parse_request_target(ev).valid());
}

// Random bytes must never crash, never escape the buffer, and anything accepted must be a
// clean label: starts with '/' (or is "*"), visible ASCII only, no terminators.
TEST(RequestTarget, RandomBytesProduceOnlyCleanPaths) {
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> byte(0, 255), len(0, HS_PATH_MAX), pick(0, 3);
    const std::string alphabet = "/ab1?# \r\n*:h";
    int accepted = 0;
    for (int iter = 0; iter < 100000; ++iter) {
        char buf[HS_PATH_MAX];
        const int n = len(rng);
        for (int i = 0; i < n; ++i) {
            // Mix fully random bytes with HTTP-ish ones so valid targets also occur.
            buf[i] = pick(rng) == 0 ? static_cast<char>(byte(rng))
                                    : alphabet[static_cast<std::size_t>(byte(rng)) % alphabet.size()];
        }
        const auto t = parse_request_target(buf, static_cast<std::size_t>(n));
        if (!t.valid()) {
            ASSERT_TRUE(t.path.empty());
            continue;
        }
        ++accepted;
        ASSERT_FALSE(t.path.empty());
        if (t.form == TargetForm::asterisk) {
            ASSERT_EQ(t.path, "*");
            continue;
        }
        ASSERT_EQ(t.path[0], '/');
        if (t.path != "/") { // "/" may be a literal (absolute form without a path)
            ASSERT_GE(t.path.data(), buf);
            ASSERT_LE(t.path.data() + t.path.size(), buf + n);
        }
        for (const char c : t.path) {
            const auto u = static_cast<unsigned char>(c);
            ASSERT_TRUE(u > 0x20 && u < 0x7f && c != '?' && c != '#') << int(u);
        }
    }
    EXPECT_GT(accepted, 1000) << "the generator should also produce valid targets";
}

} // namespace
} // namespace homeostat::engine::http
