// The route templater: templating alone, and the capped route() with its raw-path cache,
// over several paths per input (separated by '\n') so the cache and the cap are exercised.
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/route_templater.h"

using homeostat::engine::RouteTemplater;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    // First byte: the cap (small, so overflow is reached) and cache size.
    RouteTemplater t(data[0] % 8, (data[0] >> 3) % 4 == 0 ? 0 : 4);
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        const bool truncated = !line.empty() && line.back() == '~';

        const std::string tmpl = RouteTemplater::template_path(line, truncated);
        if (tmpl.empty() || tmpl.front() != '/') std::abort();
        if (tmpl.find("//") != std::string::npos) std::abort();
        std::string_view seg = line.substr(0, line.find('/', 1));
        (void)RouteTemplater::is_identifier(seg);

        const auto id = t.route(line, truncated);
        if (t.learned_routes() > t.max_routes()) std::abort();
        const std::string_view name = t.name(id);
        if (id != RouteTemplater::kOverflowRoute && name != tmpl) std::abort();
        // The same path resolves to the same route (cached or not).
        if (t.route(line, truncated) != id) std::abort();
        (void)t.route(homeostat::engine::http::parse_request_target(line.data(), line.size()));
    }
    return 0;
}
