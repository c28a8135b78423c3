// The daemon's HTTP/1.1 endpoint (/metrics, /healthz, /api/v1/...): a small read-only
// server on the daemon's io_context. Beast lives only in http_api.cpp.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace homeostat::agent {

struct HttpRequest {
    std::string method; // "GET" or "HEAD" (anything else is answered 405 before routing)
    std::string target; // as sent, e.g. "/metrics?x=1"
    std::string path;   // target up to '?', not percent-decoded
    std::string query;  // after '?', without it; empty if none
    std::string authorization; // the Authorization header, if any
};

struct HttpResponse {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    // More header fields (Cache-Control, Content-Security-Policy, ...): names and values
    // are the router's own constants, never request bytes.
    std::vector<std::pair<std::string, std::string>> headers = {};
};

// Called on the io_context thread for every GET and HEAD; it must be quick and must not
// block (it shares the thread that drains the BPF ring buffer). For HEAD, return what GET
// would: the server sends the headers and Content-Length and drops the body. An exception
// becomes a 500.
using HttpRouter = std::function<HttpResponse(const HttpRequest&)>;

// Decodes %XX escapes and '+' (as a space) of a query parameter; a bad escape stays as is.
inline std::string url_decode(std::string_view in) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '+') out += ' ';
        else if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
            out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
            i += 2;
        } else out += in[i];
    }
    return out;
}

// Limits: request head 8 KiB (431), request body 64 KiB (413), 30 s to read a request or
// write a response (also the keep-alive idle time), 64 connections (more are closed at
// once). Malformed requests get 400 and the connection is closed.
//
// Single-threaded: call start() and stop() from the io_context's thread, or while it is
// not running. Destroy the HttpApi before the io_context.
class HttpApi {
public:
    static constexpr std::size_t kMaxHeadBytes = std::size_t{8} * 1024;
    static constexpr std::size_t kMaxBodyBytes = std::size_t{64} * 1024;
    static constexpr unsigned kTimeoutSeconds = 30;
    static constexpr std::size_t kMaxConnections = 64;

    // Binds and listens at once, so a bad address or a busy port fails here with a
    // std::runtime_error that says what to do. listen: "127.0.0.1:9464", "[::1]:9464";
    // port 0 picks a free port (see port()).
    HttpApi(boost::asio::io_context& io, std::string listen, HttpRouter router);
    // The same API on a unix socket (the CLI's, root-only): its directory is created 0700
    // (or chmod-ed to it; it must belong to the daemon's user), the socket 0600; a stale
    // socket at the path is replaced, and stop() removes it.
    struct UnixSocket {
        std::string path;
    };
    HttpApi(boost::asio::io_context& io, UnixSocket socket, HttpRouter router);
    ~HttpApi(); // stop()s; never throws
    HttpApi(const HttpApi&) = delete;
    HttpApi& operator=(const HttpApi&) = delete;

    void start(); // begins accepting
    void stop();  // closes the acceptor and every connection; idempotent, no restart

    unsigned short port() const;     // the bound port, also when listen asked for 0 (unix: 0)
    std::size_t connections() const; // open connections right now

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace homeostat::agent
