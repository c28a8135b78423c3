#include "agent/http_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace homeostat::agent {
namespace {

namespace asio = boost::asio;
using ::testing::HasSubstr;

struct Response {
    int status = 0;
    std::map<std::string, std::string> headers; // names lower-cased
    std::string body;
};

// A plain blocking socket client with a 5 s receive timeout, so a broken server fails the
// test instead of hanging it.
class Client {
public:
    explicit Client(unsigned short port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("socket failed");
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
        connect_errno_ = connected_ ? 0 : errno;
    }
    ~Client() { ::close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return connected_; }
    int connect_errno() const { return connect_errno_; }

    bool send(const std::string& data) {
        std::size_t off = 0;
        while (off < data.size()) {
            const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }

    // One response; for a HEAD request the body is not read whatever Content-Length says.
    std::optional<Response> read_response(bool head = false) {
        std::size_t end;
        while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
            if (!fill()) return std::nullopt;
        Response r;
        const std::string head_text = buf_.substr(0, end);
        buf_.erase(0, end + 4);
        std::size_t pos = head_text.find("\r\n");
        const std::string status_line = head_text.substr(0, pos);
        if (status_line.size() < 12) return std::nullopt;
        r.status = std::stoi(status_line.substr(9, 3));
        while (pos != std::string::npos) {
            const std::size_t next = head_text.find("\r\n", pos + 2);
            const std::string line =
                head_text.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
            const auto colon = line.find(':');
            if (colon != std::string::npos) {
                std::string name = line.substr(0, colon);
                std::transform(name.begin(), name.end(), name.begin(),
                               [](unsigned char c) { return std::tolower(c); });
                std::string value = line.substr(colon + 1);
                value.erase(0, value.find_first_not_of(' '));
                r.headers[name] = value;
            }
            pos = next;
        }
        if (head) return r;
        const std::size_t length =
            r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
        while (buf_.size() < length)
            if (!fill()) return std::nullopt;
        r.body = buf_.substr(0, length);
        buf_.erase(0, length);
        return r;
    }

    // True once the server has closed the connection (EOF or reset) with nothing unread.
    bool closed_by_peer() {
        if (!buf_.empty()) return false;
        char c;
        const ssize_t n = ::recv(fd_, &c, 1, 0);
        if (n == 0) return true;
        if (n < 0 && errno == ECONNRESET) return true;
        if (n > 0) buf_ += c;
        return false; // data, or the 5 s timeout elapsed with the connection still open
    }

    void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

    // Reads until the server closes; what arrived, or nullopt on the 5 s timeout.
    std::optional<std::string> read_until_closed() {
        for (;;) {
            char tmp[4096];
            const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) return std::exchange(buf_, {});
            if (n < 0) return std::nullopt;
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
    }

private:
    bool fill() {
        char tmp[4096];
        const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) return false;
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    bool connected_ = false;
    int connect_errno_ = 0;
    std::string buf_;
};

std::string get(const std::string& target, const std::string& method = "GET") {
    return method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
}

class HttpApiTest : public ::testing::Test {
protected:
    // Runs f on the io_context thread and waits for its result.
    template <typename F> auto on_io(F f) {
        auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
        auto result = task->get_future();
        asio::post(io_, [task] { (*task)(); });
        return result.get();
    }

    void SetUp() override {
        api_ = std::make_unique<HttpApi>(io_, "127.0.0.1:0", [this](const HttpRequest& r) {
            std::lock_guard lock(mu_);
            seen_.push_back(r);
            return handler_(r);
        });
        api_->start();
        thread_ = std::thread([this] { io_.run(); });
    }

    void TearDown() override {
        on_io([this] { api_->stop(); });
        work_.reset();
        io_.stop();
        thread_.join();
        api_.reset();
    }

    void set_handler(std::function<HttpResponse(const HttpRequest&)> h) {
        std::lock_guard lock(mu_);
        handler_ = std::move(h);
    }

    std::vector<HttpRequest> seen() {
        std::lock_guard lock(mu_);
        return seen_;
    }

    // Polls the io thread until the server holds n connections (or 5 s pass).
    bool wait_for_connections(std::size_t n) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
            if (on_io([this] { return api_->connections(); }) == n) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return false;
    }

    unsigned short port() const { return api_->port(); }

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
    std::unique_ptr<HttpApi> api_;
    std::thread thread_;
    std::mutex mu_;
    std::vector<HttpRequest> seen_;
    std::function<HttpResponse(const HttpRequest&)> handler_ = [](const HttpRequest&) {
        return HttpResponse{200, "text/plain; charset=utf-8", "hello"};
    };
};

TEST_F(HttpApiTest, BindsAnEphemeralPort) {
    EXPECT_NE(port(), 0);
}

TEST_F(HttpApiTest, GetReachesTheRouter) {
    set_handler([](const HttpRequest&) { return HttpResponse{200, "application/json", "{\"ok\":true}"}; });
    Client c(port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(get("/x/y?a=1&b=2")));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "{\"ok\":true}");
    EXPECT_EQ(r->headers.at("content-type"), "application/json");
    EXPECT_EQ(r->headers.at("content-length"), "11");
    const auto s = seen();
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].method, "GET");
    EXPECT_EQ(s[0].target, "/x/y?a=1&b=2");
    EXPECT_EQ(s[0].path, "/x/y");
    EXPECT_EQ(s[0].query, "a=1&b=2");
}

TEST_F(HttpApiTest, RouterStatusPassesThrough) {
    set_handler([](const HttpRequest& r) {
        return HttpResponse{404, "text/plain; charset=utf-8", "no such page: " + r.path + "\n"};
    });
    Client c(port());
    ASSERT_TRUE(c.send(get("/nope")));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body, "no such page: /nope\n");
}

TEST_F(HttpApiTest, ExtraHeadersOfTheRouterAreSent) {
    set_handler([](const HttpRequest&) {
        HttpResponse res{200, "text/html; charset=utf-8", "<p>hi</p>"};
        res.headers = {{"Cache-Control", "no-cache"}, {"Content-Security-Policy", "default-src 'self'"}};
        return res;
    });
    Client c(port());
    ASSERT_TRUE(c.send(get("/")));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->headers.at("content-type"), "text/html; charset=utf-8");
    EXPECT_EQ(r->headers.at("cache-control"), "no-cache");
    EXPECT_EQ(r->headers.at("content-security-policy"), "default-src 'self'");
}

TEST_F(HttpApiTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    Client c(port());
    ASSERT_TRUE(c.send(get("/one")));
    auto r1 = c.read_response();
    ASSERT_TRUE(r1);
    EXPECT_EQ(r1->status, 200);
    ASSERT_TRUE(c.send(get("/two")));
    auto r2 = c.read_response();
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->body, "hello");
    // Pipelined: two requests in one write, two responses in order.
    ASSERT_TRUE(c.send(get("/three") + get("/four")));
    ASSERT_TRUE(c.read_response());
    ASSERT_TRUE(c.read_response());
    const auto s = seen();
    ASSERT_EQ(s.size(), 4u);
    EXPECT_EQ(s[0].path, "/one");
    EXPECT_EQ(s[3].path, "/four");
    EXPECT_TRUE(wait_for_connections(1));
}

TEST_F(HttpApiTest, Http10WithoutKeepAliveIsClosedAfterTheResponse) {
    Client c(port());
    ASSERT_TRUE(c.send("GET /x HTTP/1.0\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello");
    EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HttpApiTest, HeadSendsContentLengthButNoBody) {
    Client c(port());
    ASSERT_TRUE(c.send(get("/x", "HEAD")));
    const auto r = c.read_response(/*head=*/true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->headers.at("content-length"), "5");
    // Had the body been sent, it would now precede the next status line.
    ASSERT_TRUE(c.send(get("/x")));
    const auto g = c.read_response();
    ASSERT_TRUE(g);
    EXPECT_EQ(g->status, 200);
    EXPECT_EQ(g->body, "hello");
    const auto s = seen();
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].method, "HEAD");
}

TEST_F(HttpApiTest, OtherMethodsGet405WithAllowAndKeepTheConnection) {
    Client c(port());
    ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->headers.at("allow"), "GET, HEAD");
    EXPECT_TRUE(seen().empty());
    ASSERT_TRUE(c.send(get("/after")));
    const auto g = c.read_response();
    ASSERT_TRUE(g);
    EXPECT_EQ(g->status, 200);

    Client d(port());
    ASSERT_TRUE(d.send("BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n"));
    const auto b = d.read_response();
    ASSERT_TRUE(b);
    EXPECT_EQ(b->status, 405);
}

TEST_F(HttpApiTest, GarbageGets400AndTheConnectionIsClosed) {
    Client c(port());
    // The start of a TLS ClientHello, as a client using https:// would send.
    const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";
    ASSERT_TRUE(c.send(std::string(hello, sizeof hello - 1)));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->headers.at("connection"), "close");
    EXPECT_TRUE(c.closed_by_peer());
    EXPECT_TRUE(seen().empty());

    Client d(port());
    ASSERT_TRUE(d.send("GET /x HTTP/1.1\r\nBad Header Line\r\n\r\n"));
    const auto r2 = d.read_response();
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->status, 400);
}

TEST_F(HttpApiTest, OversizedHeadGets431) {
    Client c(port());
    ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(std::size_t{10} * 1024, 'a') +
                       "\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 431);
    EXPECT_TRUE(c.closed_by_peer());
    EXPECT_TRUE(seen().empty());
}

TEST_F(HttpApiTest, HeadJustUnderTheLimitIsServed) {
    Client c(port());
    ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(std::size_t{7} * 1024, 'a') +
                       "\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpApiTest, OversizedBodyGets413) {
    Client c(port());
    ASSERT_TRUE(
        c.send("GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'b')));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(seen().empty());
}

TEST_F(HttpApiTest, RouterExceptionBecomes500AndServerKeepsServing) {
    set_handler([](const HttpRequest& r) -> HttpResponse {
        if (r.path == "/boom") throw std::runtime_error("boom");
        return HttpResponse{200, "text/plain", "fine"};
    });
    Client c(port());
    ASSERT_TRUE(c.send(get("/boom")));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    ASSERT_TRUE(c.send(get("/ok")));
    const auto ok = c.read_response();
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->body, "fine");
}

TEST_F(HttpApiTest, ClientsThatVanishMidRequestDoNotHurt) {
    for (int i = 0; i < 20; ++i) {
        Client c(port());
        c.send("GET /half");
    }
    EXPECT_TRUE(wait_for_connections(0));
    Client c(port());
    ASSERT_TRUE(c.send(get("/x")));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

// Random bytes, some with a valid-looking start, then EOF: every connection ends (with a
// 4xx or silently) and the server keeps serving.
TEST_F(HttpApiTest, RandomBytesNeverHurtTheServer) {
    std::mt19937 rng(42);
    const std::vector<std::string> starts = {"", "GET ", "GET / HTTP/1.1\r\n",
                                             "POST /x HTTP/1.1\r\nContent-Length: 5\r\n",
                                             "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"};
    for (int i = 0; i < 200; ++i) {
        std::string bytes = starts[rng() % starts.size()];
        const std::size_t n = rng() % 20000;
        for (std::size_t k = 0; k < n; ++k)
            bytes += static_cast<char>(rng() % 256);
        Client c(port());
        ASSERT_TRUE(c.connected());
        c.send(bytes); // may fail once the server has answered and closed
        c.shutdown_write();
        const auto got = c.read_until_closed();
        ASSERT_TRUE(got) << "connection " << i << " was neither answered nor closed";
        if (!got->empty()) {
            EXPECT_EQ(got->rfind("HTTP/1.1 4", 0), 0u) << got->substr(0, 40);
        }
    }
    EXPECT_TRUE(wait_for_connections(0));
    Client c(port());
    ASSERT_TRUE(c.send(get("/x")));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpApiTest, ConnectionsBeyondTheLimitAreClosedAtOnce) {
    std::vector<std::unique_ptr<Client>> held;
    for (std::size_t i = 0; i < HttpApi::kMaxConnections; ++i) {
        held.push_back(std::make_unique<Client>(port()));
        ASSERT_TRUE(held.back()->connected());
    }
    ASSERT_TRUE(wait_for_connections(HttpApi::kMaxConnections));

    Client extra(port());
    ASSERT_TRUE(extra.connected()); // the kernel completes the handshake, the server closes
    EXPECT_TRUE(extra.closed_by_peer());

    // The held ones still work, and a slot frees up when one goes.
    ASSERT_TRUE(held.front()->send(get("/x")));
    ASSERT_TRUE(held.front()->read_response());
    held.pop_back();
    ASSERT_TRUE(wait_for_connections(HttpApi::kMaxConnections - 1));
    Client again(port());
    ASSERT_TRUE(again.send(get("/x")));
    const auto r = again.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpApiTest, StopClosesTheListenerAndEveryConnection) {
    Client c(port());
    ASSERT_TRUE(c.send(get("/x")));
    ASSERT_TRUE(c.read_response());
    const unsigned short p = port();

    on_io([this] { api_->stop(); });

    EXPECT_TRUE(c.closed_by_peer());
    Client after(p);
    EXPECT_FALSE(after.connected());
    EXPECT_EQ(after.connect_errno(), ECONNREFUSED);
    EXPECT_TRUE(wait_for_connections(0));
    on_io([this] { api_->stop(); }); // idempotent
}

TEST(HttpApiAddress, PortInUseSaysWhatToDo) {
    asio::io_context io;
    auto router = [](const HttpRequest&) { return HttpResponse{}; };
    HttpApi first(io, "127.0.0.1:0", router);
    const std::string listen = "127.0.0.1:" + std::to_string(first.port());
    try {
        HttpApi second(io, listen, router);
        FAIL() << "binding a busy port succeeded";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "address " + listen +
                      " already in use: is another homeostatd running? use --listen to pick "
                      "another");
    }
}

TEST(HttpApiAddress, BadAddressesAreRejectedClearly) {
    asio::io_context io;
    auto router = [](const HttpRequest&) { return HttpResponse{}; };
    for (const std::string bad :
         {"", "nonsense", "127.0.0.1", "127.0.0.1:", ":9464", "127.0.0.1:99999", "127.0.0.1:12a", "::1:9464",
          "[::1]9464", "[::1", "[127.0.0.1]:9464", "localhost:9464", "1.2.3:9464"}) {
        try {
            HttpApi api(io, bad, router);
            ADD_FAILURE() << "accepted \"" << bad << "\"";
        } catch (const std::runtime_error& e) {
            EXPECT_THAT(e.what(), HasSubstr("invalid listen address \"" + bad + "\"")) << bad;
            EXPECT_THAT(e.what(), HasSubstr("127.0.0.1:9464 or [::1]:9464")) << bad;
        }
    }
}

TEST(HttpApiAddress, Ipv6LiteralIsAccepted) {
    asio::io_context io;
    auto router = [](const HttpRequest&) { return HttpResponse{}; };
    try {
        HttpApi api(io, "[::1]:0", router);
        EXPECT_NE(api.port(), 0);
    } catch (const std::runtime_error& e) {
        // A host without IPv6 cannot bind it, but the address itself must parse.
        EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("invalid listen address"))) << e.what();
    }
}

TEST(HttpApiAddress, AddressNotOnThisHost) {
    asio::io_context io;
    auto router = [](const HttpRequest&) { return HttpResponse{}; };
    try {
        HttpApi api(io, "192.0.2.1:0", router); // TEST-NET-1, never local
        FAIL() << "bound a foreign address";
    } catch (const std::runtime_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("cannot listen on 192.0.2.1:0"));
    }
}

// The CLI's socket: directory 0700, socket 0600 (whatever the umask), the same router.
TEST(HttpApiUnixSocket, RootOnlyModesAndServesTheApi) {
    char tmpl[] = "/tmp/hs-unix-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string base = tmpl, dir = base + "/run", path = dir + "/api.sock";
    const mode_t old_umask = ::umask(0); // the modes must not come from the umask alone
    asio::io_context io;
    std::optional<HttpApi> api;
    api.emplace(io, HttpApi::UnixSocket{path}, [](const HttpRequest& r) {
        return HttpResponse{200, "application/json", "{\"path\": \"" + r.path + "\"}"};
    });
    ::umask(old_umask);
    EXPECT_EQ(api->port(), 0);
    api->start();
    struct stat st{};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);

    std::promise<std::string> answer;
    std::thread client([&] {
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, path.data(), path.size());
        std::string got;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0) {
            const std::string req = "GET /api/v1/status HTTP/1.0\r\nHost: localhost\r\n\r\n";
            ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
            char buf[4096];
            for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<std::size_t>(n));
        } else {
            got = std::string("connect: ") + std::strerror(errno);
        }
        ::close(fd);
        answer.set_value(got);
        asio::post(io, [&] { api->stop(); });
    });
    io.run_for(std::chrono::seconds(10));
    client.join();
    const std::string got = answer.get_future().get();
    EXPECT_THAT(got, HasSubstr("HTTP/1.0 200")) << got;
    EXPECT_THAT(got, HasSubstr("{\"path\": \"/api/v1/status\"}")) << got;
    EXPECT_NE(::lstat(path.c_str(), &st), 0) << "stop() leaves the socket behind";
    api.reset();

    // A stale socket (a daemon that died) is replaced; a file that is no socket is not.
    {
        int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, path.data(), path.size());
        ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0) << std::strerror(errno);
        ::close(stale); // the file stays, as after a crash
        asio::io_context io2;
        HttpApi again(io2, HttpApi::UnixSocket{path}, [](const HttpRequest&) { return HttpResponse{}; });
        ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    }
    EXPECT_NE(::lstat(path.c_str(), &st), 0) << "the destructor leaves the socket behind";
    std::ofstream(path) << "not a socket\n";
    try {
        asio::io_context io3;
        HttpApi refused(io3, HttpApi::UnixSocket{path}, [](const HttpRequest&) { return HttpResponse{}; });
        ADD_FAILURE() << "replaced a regular file";
    } catch (const std::runtime_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("exists and is not a socket"));
    }
    std::filesystem::remove_all(base);
}

} // namespace
TEST(UrlDecode, EscapesAndPlus) {
    EXPECT_EQ(url_decode("python3%3A8080"), "python3:8080");
    EXPECT_EQ(url_decode("a+b%20c"), "a b c");
    EXPECT_EQ(url_decode("bad%zzescape%4"), "bad%zzescape%4");
    EXPECT_EQ(url_decode(""), "");
}

} // namespace homeostat::agent
