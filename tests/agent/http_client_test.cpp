// HttpClient against homeostat's own HTTP server (HttpApi) on 127.0.0.1, one io_context
// run on this thread. Host names go through Asio's resolver, which runs getaddrinfo on a
// thread of its own: the one place where the daemon's HTTP code shares data between
// threads, which is why scripts/sanitize.sh runs this test under TSan.
#include "agent/http_client.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio.hpp>
#include <gtest/gtest.h>

#include "agent/http_api.h"

namespace homeostat::agent {
namespace {

namespace asio = boost::asio;

class HttpClientTest : public ::testing::Test {
protected:
    HttpClientResponse fetch(HttpClientRequest req) {
        std::optional<HttpClientResponse> got;
        client_.send(std::move(req), [&](HttpClientResponse r) { got = std::move(r); });
        // Bounded: the request's own timeout ends it; run_for is the backstop.
        while (!got && std::chrono::steady_clock::now() < deadline_) {
            io_.restart();
            io_.run_for(std::chrono::milliseconds(50));
        }
        EXPECT_TRUE(got.has_value()) << "no answer within 10 s";
        return got.value_or(HttpClientResponse{});
    }
    std::string url(const std::string& host, const std::string& path) {
        return "http://" + host + ":" + std::to_string(api_.port()) + path;
    }

    asio::io_context io_;
    HttpApi api_{io_, "127.0.0.1:0", [this](const HttpRequest& r) {
                     seen_ = r.method + " " + r.target;
                     if (r.path == "/busy") return HttpResponse{503, "text/plain", "try later"};
                     return HttpResponse{200, "application/json", R"({"status":"success"})"};
                 }};
    HttpClient client_{io_};
    std::string seen_;
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    void SetUp() override { api_.start(); }
};

TEST_F(HttpClientTest, ResolvesAHostNameAndReadsTheAnswer) {
    auto res = fetch({.url = url("localhost", "/api/v2/alerts?x=1"), .method = "GET"});
    EXPECT_EQ(res.error, "");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, R"({"status":"success"})");
    EXPECT_EQ(seen_, "GET /api/v2/alerts?x=1");
}

TEST_F(HttpClientTest, ServerErrorsComeBackWithTheirBody) {
    auto res = fetch({.url = url("127.0.0.1", "/busy"), .method = "GET"});
    EXPECT_EQ(res.error, "");
    EXPECT_EQ(res.status, 503);
    EXPECT_EQ(res.body, "try later");
}

TEST_F(HttpClientTest, PostWithBodyGetsTheServersAnswer) {
    auto res = fetch({.url = url("127.0.0.1", "/hook"), .body = "{}"}); // HttpApi answers POST 405
    EXPECT_EQ(res.status, 405);
    EXPECT_NE(seen_.rfind("POST", 0), 0u) << "POST is refused before routing";
}

TEST_F(HttpClientTest, RefusedConnectionIsAnErrorWithoutStatus) {
    const auto port = api_.port();
    api_.stop(); // nothing listens on the port any more
    auto res = fetch({.url = "http://127.0.0.1:" + std::to_string(port) + "/", .method = "GET",
                      .timeout = std::chrono::seconds(5)});
    EXPECT_EQ(res.status, 0);
    EXPECT_NE(res.error, "");
}

TEST_F(HttpClientTest, BadUrlIsReportedOnTheIoContext) {
    auto res = fetch({.url = "ftp://example.org/"});
    EXPECT_EQ(res.status, 0);
    EXPECT_NE(res.error.find("not an http:// or https:// URL"), std::string::npos) << res.error;
}

} // namespace
} // namespace homeostat::agent
