// The only translation unit that includes Beast (it is slow to compile).
#include "agent/http_api.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace homeostat::agent {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using error_code = boost::system::error_code;

constexpr std::chrono::seconds kTimeout{HttpApi::kTimeoutSeconds};
// After an error response, read and discard what the client is still sending for a short
// while before closing: closing a socket with unread input sends a reset, which can make
// the client lose the response it was about to read.
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::size_t kLingerBytes = std::size_t{256} * 1024;
constexpr std::chrono::milliseconds kAcceptRetry{100};
constexpr const char* kServerName = "homeostat";

std::string format_endpoint(const tcp::endpoint& ep) {
    const auto a = ep.address();
    return a.is_v6() ? fmt::format("[{}]:{}", a.to_string(), ep.port())
                     : fmt::format("{}:{}", a.to_string(), ep.port());
}

// "1.2.3.4:port" or "[v6]:port"; literal addresses only, so start-up never waits on DNS.
tcp::endpoint parse_listen(const std::string& listen) {
    const auto bad = [&] {
        return std::runtime_error(
            fmt::format("invalid listen address \"{}\": expected IPv4:port or [IPv6]:port with a literal "
                        "address, e.g. 127.0.0.1:9464 or [::1]:9464",
                        listen));
    };
    std::string host, port;
    if (!listen.empty() && listen.front() == '[') {
        const auto close = listen.find(']');
        if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') throw bad();
        host = listen.substr(1, close - 1);
        port = listen.substr(close + 2);
    } else {
        const auto colon = listen.rfind(':');
        if (colon == std::string::npos) throw bad();
        host = listen.substr(0, colon);
        port = listen.substr(colon + 1);
        if (host.find(':') != std::string::npos) throw bad(); // IPv6 needs brackets
    }
    if (host.empty() || port.empty() || port.size() > 5) throw bad();
    unsigned long p = 0;
    for (char c : port) {
        if (c < '0' || c > '9') throw bad();
        p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p > 65535) throw bad();
    error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec || (listen.front() == '[') != address.is_v6()) throw bad();
    return {address, static_cast<unsigned short>(p)};
}

// Asio does not set close-on-exec; without it a reload command the daemon runs would
// inherit the listening socket and keep the port busy after the daemon exits.
void set_cloexec(int fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

// The unix socket of the CLI: root-only (directory 0700, socket 0600, both the daemon's).
// A socket left by a daemon that died is replaced; anything else at the path is refused.
void prepare_unix_socket(const std::string& path) {
    const auto slash = path.rfind('/');
    if (path.empty() || path.front() != '/' || slash == std::string::npos)
        throw std::runtime_error(fmt::format("api_socket \"{}\" must be an absolute path", path));
    const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw std::runtime_error(fmt::format("api_socket: cannot create {}: {}", dir, std::strerror(errno)));
    struct stat st{};
    if (dir != "/" && ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (st.st_uid != ::geteuid())
            throw std::runtime_error(fmt::format("api_socket: {} belongs to uid {}, not to the daemon", dir, st.st_uid));
        if ((st.st_mode & 07777) != 0700 && ::chmod(dir.c_str(), 0700) != 0)
            throw std::runtime_error(fmt::format("api_socket: cannot chmod 0700 {}: {}", dir, std::strerror(errno)));
    }
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error(fmt::format("api_socket: {} exists and is not a socket", path));
        ::unlink(path.c_str());
    }
}

std::string format_endpoint(const local::endpoint& ep) { return "unix:" + ep.path(); }

template <class Protocol>
class Session;

// Serves the API on a TCP address (tcp) or a unix socket (local::stream_protocol).
template <class Protocol>
class Server : public std::enable_shared_from_this<Server<Protocol>> {
    using endpoint = typename Protocol::endpoint;
    using socket = typename Protocol::socket;

public:
    Server(asio::io_context& io, std::string listen, HttpRouter router)
        : io_(io), router_(std::move(router)), acceptor_(io), retry_timer_(io),
          listen_text_(std::move(listen)) {
        if (!router_) throw std::invalid_argument("HttpApi: the router must not be empty");
        endpoint ep;
        if constexpr (std::is_same_v<Protocol, tcp>) {
            ep = parse_listen(listen_text_);
        } else {
            prepare_unix_socket(listen_text_);
            ep = endpoint(listen_text_);
            unix_path_ = listen_text_;
        }
        listen_text_ = format_endpoint(ep); // canonical, for messages
        error_code ec;
        acceptor_.open(ep.protocol(), ec);
        if (!ec) {
            set_cloexec(acceptor_.native_handle());
            // Lets a restarted daemon bind while old connections sit in TIME_WAIT; on Linux
            // it does not let two listeners share the port.
            if constexpr (std::is_same_v<Protocol, tcp>)
                acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        }
        if (!ec) acceptor_.bind(ep, ec);
        // The umask of the daemon (077) already gives 0600; said again in case it is embedded.
        if (!ec && !unix_path_.empty() && ::chmod(unix_path_.c_str(), 0600) != 0)
            ec = error_code(errno, asio::error::get_system_category());
        if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) throw std::runtime_error(bind_error(ec));
        bound_ = acceptor_.local_endpoint(ec);
        if (ec) throw std::runtime_error(bind_error(ec));
    }

    void start() {
        if (started_ || stopped_) return;
        started_ = true;
        spdlog::info("HTTP API listening on {}", format_endpoint(bound_));
        accept();
    }

    void stop();

    bool stopped() const { return stopped_; }
    unsigned short port() const {
        if constexpr (std::is_same_v<Protocol, tcp>) return bound_.port();
        else return 0;
    }
    std::size_t connections() const { return sessions_.size(); }

    void add(Session<Protocol>* s) { sessions_.insert(s); }
    void remove(Session<Protocol>* s) {
        sessions_.erase(s);
        if (sessions_.size() < HttpApi::kMaxConnections) limit_logged_ = false;
    }

    HttpResponse route(const HttpRequest& req) {
        try {
            return router_(req);
        } catch (const std::exception& e) {
            spdlog::error("HTTP API: handler for {} {} failed: {}", req.method, req.target, e.what());
        } catch (...) {
            spdlog::error("HTTP API: handler for {} {} failed with a non-standard exception", req.method,
                          req.target);
        }
        return HttpResponse{500, "text/plain; charset=utf-8", "internal server error\n"};
    }

private:
    std::string bind_error(const error_code& ec) const {
        if (ec == asio::error::address_in_use)
            return fmt::format("address {} already in use: is another homeostatd running? use "
                               "--listen to pick another",
                               listen_text_);
        if (ec == asio::error::access_denied)
            return fmt::format("cannot listen on {}: permission denied (ports below 1024 need "
                               "CAP_NET_BIND_SERVICE); use --listen to pick another",
                               listen_text_);
        if (ec == asio::error::address_family_not_supported)
            return fmt::format("cannot listen on {}: this address family is not available "
                               "(IPv6 disabled?); use --listen with an IPv4 address",
                               listen_text_);
        if (ec.value() == EADDRNOTAVAIL && ec.category() == asio::error::get_system_category())
            return fmt::format("cannot listen on {}: no interface of this host has that "
                               "address; use --listen with a local address",
                               listen_text_);
        return fmt::format("cannot listen on {}: {}", listen_text_, ec.message());
    }

    void accept() {
        acceptor_.async_accept(io_, [self = this->shared_from_this()](error_code ec, socket s) {
            self->on_accept(ec, std::move(s));
        });
    }

    void on_accept(error_code ec, socket s);

    asio::io_context& io_;
    HttpRouter router_;
    typename Protocol::acceptor acceptor_;
    asio::steady_timer retry_timer_;
    std::string listen_text_;
    std::string unix_path_; // removed at stop()
    endpoint bound_;
    bool started_ = false;
    bool stopped_ = false;
    bool limit_logged_ = false;
    std::unordered_set<Session<Protocol>*> sessions_;
};

template <class Protocol>
class Session : public std::enable_shared_from_this<Session<Protocol>> {
    using std::enable_shared_from_this<Session<Protocol>>::shared_from_this;

public:
    Session(typename Protocol::socket socket, std::shared_ptr<Server<Protocol>> server)
        : stream_(std::move(socket)), server_(std::move(server)) {
        server_->add(this);
    }
    ~Session() { server_->remove(this); }

    void run() { read_request(); }

    void close() {
        error_code ec;
        stream_.socket().shutdown(asio::socket_base::shutdown_both, ec);
        stream_.close();
    }

private:
    void read_request() {
        parser_.emplace();
        parser_->header_limit(HttpApi::kMaxHeadBytes);
        parser_->body_limit(HttpApi::kMaxBodyBytes);
        stream_.expires_after(kTimeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(error_code ec) {
        if (server_->stopped()) return;
        if (ec) {
            if (ec.category() != http::make_error_code(http::error::bad_target).category()) {
                // Timeout, reset, abort: the peer is gone or too slow; nothing to answer.
                close();
                return;
            }
            if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
                close();
                return;
            }
            if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
                return send_error(431, "request head larger than 8 KiB\n");
            if (ec == http::error::body_limit) return send_error(413, "request body larger than 64 KiB\n");
            spdlog::debug("HTTP API: malformed request: {}", ec.message());
            return send_error(400, "malformed HTTP request\n");
        }

        const auto& req = parser_->get();
        HttpRequest r;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        const auto q = r.target.find('?');
        r.path = r.target.substr(0, q);
        if (q != std::string::npos) r.query = r.target.substr(q + 1);
        if (auto it = req.find(http::field::authorization); it != req.end()) r.authorization = std::string(it->value());
        const bool head = req.method() == http::verb::head;
        const bool keep_alive = req.keep_alive();
        const unsigned version = req.version();

        if (req.method() != http::verb::get && !head) {
            HttpResponse res{405, "text/plain; charset=utf-8", "only GET and HEAD are supported\n"};
            return send(res, version, keep_alive, false, /*allow=*/true);
        }
        HttpResponse res = server_->route(r);
        if (res.status < 200 || res.status > 599) {
            spdlog::error("HTTP API: handler for {} returned invalid status {}", r.target, res.status);
            res = HttpResponse{500, "text/plain; charset=utf-8", "internal server error\n"};
        }
        send(res, version, keep_alive, head, false);
    }

    void send(const HttpResponse& res, unsigned version, bool keep_alive, bool head, bool allow) {
        response_ = {};
        response_.version(version == 10 ? 10 : 11);
        response_.result(res.status);
        response_.set(http::field::server, kServerName);
        response_.set(http::field::content_type, res.content_type);
        for (const auto& [name, value] : res.headers) response_.set(name, value);
        if (allow) response_.set(http::field::allow, "GET, HEAD");
        response_.keep_alive(keep_alive);
        if (head) {
            response_.content_length(res.body.size()); // what GET would send, no body
        } else {
            response_.body() = res.body;
            response_.prepare_payload();
        }
        write(keep_alive ? After::read : After::close);
    }

    void send_error(unsigned status, std::string_view text) {
        response_ = {};
        response_.version(11);
        response_.result(status);
        response_.set(http::field::server, kServerName);
        response_.set(http::field::content_type, "text/plain; charset=utf-8");
        response_.set(http::field::connection, "close");
        response_.body() = std::string(text);
        response_.prepare_payload();
        write(After::linger);
    }

    enum class After { read, close, linger };

    void write(After after) {
        stream_.expires_after(kTimeout);
        http::async_write(stream_, response_, [self = shared_from_this(), after](error_code ec, std::size_t) {
            self->on_write(ec, after);
        });
    }

    void on_write(error_code ec, After after) {
        if (server_->stopped()) return;
        if (ec) return close();
        switch (after) {
        case After::read: return read_request();
        case After::close: return close();
        case After::linger: return linger();
        }
    }

    void linger() {
        error_code ec;
        stream_.socket().shutdown(asio::socket_base::shutdown_send, ec);
        if (ec) return close();
        linger_left_ = kLingerBytes;
        stream_.expires_after(kLingerTime);
        drain();
    }

    void drain() {
        stream_.async_read_some(asio::buffer(drain_buffer_),
                                [self = shared_from_this()](error_code ec, std::size_t n) {
                                    if (self->server_->stopped()) return;
                                    if (ec || n >= self->linger_left_) return self->close();
                                    self->linger_left_ -= n;
                                    self->drain();
                                });
    }

    beast::basic_stream<Protocol> stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> response_;
    std::array<char, 4096> drain_buffer_{};
    std::size_t linger_left_ = 0;
    std::shared_ptr<Server<Protocol>> server_;
};

template <class Protocol>
void Server<Protocol>::on_accept(error_code ec, socket s) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (ec) {
        if (ec == asio::error::connection_aborted) return accept(); // client gave up, fine
        // Out of descriptors or memory: back off instead of spinning on the error.
        spdlog::warn("HTTP API: accept failed: {}; retrying", ec.message());
        retry_timer_.expires_after(kAcceptRetry);
        retry_timer_.async_wait([self = this->shared_from_this()](error_code e) {
            if (!e && !self->stopped_) self->accept();
        });
        return;
    }
    set_cloexec(s.native_handle());
    if (sessions_.size() >= HttpApi::kMaxConnections) {
        if (!limit_logged_) {
            spdlog::warn("HTTP API: {} connections open, closing new ones until some end", sessions_.size());
            limit_logged_ = true;
        }
        error_code ignored;
        s.close(ignored);
        return accept();
    }
    if constexpr (std::is_same_v<Protocol, tcp>) {
        error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
    }
    std::make_shared<Session<Protocol>>(std::move(s), this->shared_from_this())->run();
    accept();
}

template <class Protocol>
void Server<Protocol>::stop() {
    if (stopped_) return;
    stopped_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
    retry_timer_.cancel();
    // close() makes pending operations finish with operation_aborted; the handlers then
    // drop the last references and the sessions unregister themselves.
    const std::vector<Session<Protocol>*> open(sessions_.begin(), sessions_.end());
    for (Session<Protocol>* s : open)
        s->close();
}

} // namespace

// One of the two servers; the other pointer stays empty.
struct HttpApi::Impl {
    std::shared_ptr<Server<tcp>> tcp_server;
    std::shared_ptr<Server<local>> unix_server;
    template <class F>
    auto with(F f) {
        return tcp_server ? f(*tcp_server) : f(*unix_server);
    }
};

HttpApi::HttpApi(asio::io_context& io, std::string listen, HttpRouter router)
    : impl_(std::make_unique<Impl>(
          Impl{std::make_shared<Server<tcp>>(io, std::move(listen), std::move(router)), nullptr})) {}

HttpApi::HttpApi(asio::io_context& io, UnixSocket socket, HttpRouter router)
    : impl_(std::make_unique<Impl>(
          Impl{nullptr, std::make_shared<Server<local>>(io, std::move(socket.path), std::move(router))})) {}

HttpApi::~HttpApi() {
    try {
        if (impl_) impl_->with([](auto& s) { s.stop(); });
    } catch (...) {
        // Only allocation can fail in stop(); the sockets close with the io_context anyway.
    }
}

void HttpApi::start() {
    impl_->with([](auto& s) { s.start(); });
}
void HttpApi::stop() {
    impl_->with([](auto& s) { s.stop(); });
}
unsigned short HttpApi::port() const {
    return impl_->with([](auto& s) { return s.port(); });
}
std::size_t HttpApi::connections() const {
    return impl_->with([](auto& s) { return s.connections(); });
}

} // namespace homeostat::agent
