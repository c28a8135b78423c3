// The only translation unit that includes Beast (it is slow to compile).
#include "agent/http_api.h"

#include <fcntl.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
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

class Session;

class Server : public std::enable_shared_from_this<Server> {
public:
    Server(asio::io_context& io, std::string listen, HttpRouter router)
        : io_(io), router_(std::move(router)), acceptor_(io), retry_timer_(io),
          listen_text_(std::move(listen)) {
        if (!router_) throw std::invalid_argument("HttpApi: the router must not be empty");
        const tcp::endpoint ep = parse_listen(listen_text_);
        listen_text_ = format_endpoint(ep); // canonical, for messages
        error_code ec;
        acceptor_.open(ep.protocol(), ec);
        if (!ec) {
            set_cloexec(acceptor_.native_handle());
            // Lets a restarted daemon bind while old connections sit in TIME_WAIT; on Linux
            // it does not let two listeners share the port.
            acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        }
        if (!ec) acceptor_.bind(ep, ec);
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
    unsigned short port() const { return bound_.port(); }
    std::size_t connections() const { return sessions_.size(); }

    void add(Session* s) { sessions_.insert(s); }
    void remove(Session* s) {
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
        acceptor_.async_accept(io_, [self = shared_from_this()](error_code ec, tcp::socket s) {
            self->on_accept(ec, std::move(s));
        });
    }

    void on_accept(error_code ec, tcp::socket socket);

    asio::io_context& io_;
    HttpRouter router_;
    tcp::acceptor acceptor_;
    asio::steady_timer retry_timer_;
    std::string listen_text_;
    tcp::endpoint bound_;
    bool started_ = false;
    bool stopped_ = false;
    bool limit_logged_ = false;
    std::unordered_set<Session*> sessions_;
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, std::shared_ptr<Server> server)
        : stream_(std::move(socket)), server_(std::move(server)) {
        server_->add(this);
    }
    ~Session() { server_->remove(this); }

    void run() { read_request(); }

    void close() {
        error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
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
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
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

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> response_;
    std::array<char, 4096> drain_buffer_{};
    std::size_t linger_left_ = 0;
    std::shared_ptr<Server> server_;
};

void Server::on_accept(error_code ec, tcp::socket socket) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (ec) {
        if (ec == asio::error::connection_aborted) return accept(); // client gave up, fine
        // Out of descriptors or memory: back off instead of spinning on the error.
        spdlog::warn("HTTP API: accept failed: {}; retrying", ec.message());
        retry_timer_.expires_after(kAcceptRetry);
        retry_timer_.async_wait([self = shared_from_this()](error_code e) {
            if (!e && !self->stopped_) self->accept();
        });
        return;
    }
    set_cloexec(socket.native_handle());
    if (sessions_.size() >= HttpApi::kMaxConnections) {
        if (!limit_logged_) {
            spdlog::warn("HTTP API: {} connections open, closing new ones until some end", sessions_.size());
            limit_logged_ = true;
        }
        error_code ignored;
        socket.close(ignored);
        return accept();
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Session>(std::move(socket), shared_from_this())->run();
    accept();
}

void Server::stop() {
    if (stopped_) return;
    stopped_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
    // close() makes pending operations finish with operation_aborted; the handlers then
    // drop the last references and the sessions unregister themselves.
    const std::vector<Session*> open(sessions_.begin(), sessions_.end());
    for (Session* s : open)
        s->close();
}

} // namespace

struct HttpApi::Impl {
    std::shared_ptr<Server> server;
};

HttpApi::HttpApi(asio::io_context& io, std::string listen, HttpRouter router)
    : impl_(
          std::make_unique<Impl>(Impl{std::make_shared<Server>(io, std::move(listen), std::move(router))})) {}

HttpApi::~HttpApi() {
    try {
        if (impl_) impl_->server->stop();
    } catch (...) {
        // Only allocation can fail in stop(); the sockets close with the io_context anyway.
    }
}

void HttpApi::start() {
    impl_->server->start();
}
void HttpApi::stop() {
    impl_->server->stop();
}
unsigned short HttpApi::port() const {
    return impl_->server->port();
}
std::size_t HttpApi::connections() const {
    return impl_->server->connections();
}

} // namespace homeostat::agent
