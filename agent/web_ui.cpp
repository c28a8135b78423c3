#include "agent/web_ui.h"

namespace homeostat::agent {
namespace {

std::string content_type(std::string_view name) {
    auto ends = [&](std::string_view ext) { return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext; };
    if (ends(".html")) return "text/html; charset=utf-8";
    if (ends(".js")) return "text/javascript; charset=utf-8";
    if (ends(".css")) return "text/css; charset=utf-8";
    if (ends(".svg")) return "image/svg+xml";
    if (ends(".png")) return "image/png";
    return "application/octet-stream";
}

} // namespace

std::optional<HttpResponse> web_ui_response(std::string_view path) {
    std::string_view name;
    if (path == "/" || path == "/index.html") name = "index.html";
    else if (path.starts_with("/ui/")) name = path.substr(4);
    else return std::nullopt;
    for (const auto& a : web_assets()) {
        if (a.name != name) continue;
        HttpResponse r{200, content_type(a.name), std::string(a.bytes)};
        r.headers = {{"Cache-Control", "no-cache"},
                     {"Content-Security-Policy", kWebContentSecurityPolicy},
                     {"X-Content-Type-Options", "nosniff"},
                     {"Referrer-Policy", "no-referrer"}};
        return r;
    }
    return HttpResponse{404, "text/plain; charset=utf-8", "no such file of the web page: " + std::string(path) + "\n"};
}

} // namespace homeostat::agent
