// The daemon's web page: agent/web/ (index.html, app.js, style.css, ...) embedded into
// the binary at build time (cmake/EmbedFiles.cmake), so it needs no files on the host and
// no network: everything it loads comes from the daemon. "/" is index.html and
// "/ui/NAME" the other files. They hold no data (the page reads /api/v1/*), so they are
// served without the API token; the page asks for one when the API answers 401.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "agent/http_api.h"

namespace homeostat::agent {

struct WebAsset {
    std::string_view name;  // relative to agent/web/, e.g. "app.js"
    std::string_view bytes;
};

// The embedded files (the generated web_assets.cpp).
std::span<const WebAsset> web_assets();

// The Content-Security-Policy of every page response: nothing from another origin, no
// inline script or style, no framing.
inline constexpr const char* kWebContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// The response for `path` if it names the page or one of its files, with its
// Content-Type, Cache-Control (revalidate: a new daemon may bring a new page), the CSP and
// nosniff; nullopt for any other path.
std::optional<HttpResponse> web_ui_response(std::string_view path);

} // namespace homeostat::agent
