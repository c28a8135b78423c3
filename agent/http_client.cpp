// The HTTP client's Beast code (Beast is slow to compile: it stays in this file).
#include "agent/http_client.h"

#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <fmt/format.h>

namespace homeostat::agent {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::size_t kMaxBody = 64 * 1024;

// One request on one connection. Stream is beast::tcp_stream or ssl::stream<tcp_stream>.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
public:
    template <typename... StreamArgs>
    Session(asio::io_context& io, ParsedUrl url, HttpClientRequest req, std::function<void(HttpClientResponse)> done,
            StreamArgs&&... args)
        : resolver_(io), stream_(std::forward<StreamArgs>(args)...), url_(std::move(url)), req_(std::move(req)),
          done_(std::move(done)) {}

    void start() {
        request_.method_string(req_.method);
        request_.target(url_.target);
        request_.version(11);
        request_.set(http::field::host, url_.host);
        request_.set(http::field::user_agent, "homeostat");
        request_.set(http::field::connection, "close");
        for (const auto& [k, v] : req_.headers) request_.set(k, v);
        request_.body() = req_.body;
        request_.prepare_payload();
        parser_.body_limit(kMaxBody);
        lowest().expires_after(req_.timeout);
        deadline_ = std::chrono::steady_clock::now() + req_.timeout;
        resolver_.async_resolve(url_.host, url_.port,
                                [self = this->shared_from_this()](error_code ec, tcp::resolver::results_type r) {
                                    self->on_resolve(ec, r);
                                });
    }

private:
    beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
    void remaining() {
        lowest().expires_at(deadline_); // one deadline for the whole exchange
    }
    void finish(int status, std::string body, std::string error) {
        if (!done_) return;
        auto done = std::move(done_);
        done_ = nullptr;
        error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        done(HttpClientResponse{status, std::move(body), std::move(error)});
    }
    void fail(const char* what, error_code ec) {
        finish(0, {}, fmt::format("{} {}:{}: {}", what, url_.host, url_.port,
                                  ec == beast::error::timeout ? "timed out" : ec.message()));
    }

    void on_resolve(error_code ec, tcp::resolver::results_type results) {
        if (ec) return fail("resolving", ec);
        remaining();
        lowest().async_connect(results, [self = this->shared_from_this()](error_code ec, const tcp::endpoint&) {
            self->on_connect(ec);
        });
    }

    void on_connect(error_code ec) {
        if (ec) return fail("connecting to", ec);
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
            write();
        } else {
            // SNI and host name verification.
            if (!SSL_set_tlsext_host_name(stream_.native_handle(), url_.host.c_str()))
                return fail("TLS SNI for", error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()));
            stream_.set_verify_callback(ssl::host_name_verification(url_.host));
            remaining();
            stream_.async_handshake(ssl::stream_base::client, [self = this->shared_from_this()](error_code ec) {
                if (ec) return self->fail("TLS handshake with", ec);
                self->write();
            });
        }
    }

    void write() {
        remaining();
        http::async_write(stream_, request_, [self = this->shared_from_this()](error_code ec, std::size_t) {
            if (ec) return self->fail("sending to", ec);
            self->read();
        });
    }

    void read() {
        remaining();
        http::async_read(stream_, buffer_, parser_, [self = this->shared_from_this()](error_code ec, std::size_t) {
            if (ec && ec != http::error::body_limit) return self->fail("reading the answer of", ec);
            auto& res = self->parser_.get();
            self->finish(static_cast<int>(res.result_int()), res.body(), {});
        });
    }

    tcp::resolver resolver_;
    Stream stream_;
    ParsedUrl url_;
    HttpClientRequest req_;
    std::function<void(HttpClientResponse)> done_;
    std::chrono::steady_clock::time_point deadline_;
    http::request<http::string_body> request_;
    beast::flat_buffer buffer_;
    http::response_parser<http::string_body> parser_;
};

} // namespace

Result<ParsedUrl> parse_url(const std::string& url) {
    ParsedUrl u;
    std::string rest;
    if (url.rfind("http://", 0) == 0) rest = url.substr(7);
    else if (url.rfind("https://", 0) == 0) {
        u.tls = true;
        rest = url.substr(8);
    } else
        return Error{"'" + url + "' is not an http:// or https:// URL"};
    const auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    u.target = slash == std::string::npos ? "/" : rest.substr(slash);
    if (authority.find('@') != std::string::npos)
        // Not the URL itself: it holds the password, and this message reaches logs and
        // `homeostat config check`.
        return Error{"a URL with credentials (user:password@host) is not supported: put them in the receiver's "
                     "secret"};
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string::npos) return Error{"'" + url + "': unterminated IPv6 address"};
        u.host = authority.substr(1, close - 1);
        const std::string after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') return Error{"'" + url + "': garbage after the IPv6 address"};
        u.port = after.empty() ? "" : after.substr(1);
    } else {
        const auto colon = authority.rfind(':');
        u.host = authority.substr(0, colon);
        u.port = colon == std::string::npos ? "" : authority.substr(colon + 1);
    }
    if (u.host.empty()) return Error{"'" + url + "' has no host"};
    if (u.port.empty()) u.port = u.tls ? "443" : "80";
    if (u.port.find_first_not_of("0123456789") != std::string::npos || u.port.size() > 5 || std::stoi(u.port) == 0 ||
        std::stoi(u.port) > 65535)
        return Error{"'" + url + "': bad port '" + u.port + "'"};
    return u;
}

struct HttpClient::Impl {
    explicit Impl(asio::io_context& io) : io(io), tls(ssl::context::tls_client) {
        tls.set_default_verify_paths();
        tls.set_verify_mode(ssl::verify_peer);
    }
    asio::io_context& io;
    ssl::context tls;
};

HttpClient::HttpClient(asio::io_context& io) : impl_(std::make_unique<Impl>(io)) {}
HttpClient::~HttpClient() = default;

void HttpClient::send(HttpClientRequest request, std::function<void(HttpClientResponse)> done) {
    auto url = parse_url(request.url);
    if (!url) {
        asio::post(impl_->io, [done = std::move(done), e = url.error().message] { done({0, {}, e}); });
        return;
    }
    if (url->tls)
        std::make_shared<Session<ssl::stream<beast::tcp_stream>>>(impl_->io, std::move(url.value()), std::move(request),
                                                                  std::move(done), impl_->io, impl_->tls)
            ->start();
    else
        std::make_shared<Session<beast::tcp_stream>>(impl_->io, std::move(url.value()), std::move(request),
                                                     std::move(done), impl_->io)
            ->start();
}

} // namespace homeostat::agent
