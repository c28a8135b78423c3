// A small asynchronous HTTP/1.1 client for webhook and Alertmanager deliveries, on the
// daemon's io_context (never blocks it). http:// and https:// (certificate and host name
// verified against the system's CAs). One request per connection: deliveries are rare.
// Beast lives in agent/http_client.cpp only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "agent/result.h"

namespace boost::asio {
class io_context;
}

namespace homeostat::agent {

struct HttpClientRequest {
    std::string url; // http://host[:port]/path or https://...
    std::string method = "POST";
    std::map<std::string, std::string> headers; // Host, Content-Length are set for you
    std::string body;
    std::chrono::milliseconds timeout{std::chrono::seconds(10)}; // the whole exchange
};

struct HttpClientResponse {
    int status = 0;      // 0: no HTTP answer (see error)
    std::string body;    // first 64 KiB
    std::string error;   // connection, TLS, timeout or protocol error; empty on an answer
};

struct ParsedUrl {
    bool tls = false;
    std::string host, port, target;
};
// Splits an http(s) URL; errors say what is wrong with it.
Result<ParsedUrl> parse_url(const std::string& url);

class HttpClient {
public:
    explicit HttpClient(boost::asio::io_context& io);
    ~HttpClient();
    // Calls `done` exactly once, on the io_context.
    void send(HttpClientRequest request, std::function<void(HttpClientResponse)> done);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace homeostat::agent
