// Turns request paths into route templates ("/users/42/orders" → "/users/{id}/orders") and
// bounds how many distinct routes one service can produce. Every route becomes a label
// value in the exported metrics, so an unbounded set of them (ids, tokens, scanners
// probing random paths) would grow memory and the metrics backend without limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "engine/flat_index.h"
#include "engine/protocols/http/request_target.h"

namespace homeostat::engine {

// Index of a route inside one RouteTemplater; meaningless across templaters.
using RouteId = std::uint32_t;

// One per service: the cap and the overflow count are per service so that one noisy
// service cannot push another's routes into {overflow}.
class RouteTemplater {
public:
    static constexpr std::size_t kDefaultMaxRoutes = 200;
    static constexpr std::size_t kDefaultCacheSlots = 256;

    // Present in every templater and not counted against the cap.
    static constexpr RouteId kOverflowRoute = 0; // "{overflow}": a new route beyond the cap
    static constexpr RouteId kInvalidRoute = 1;  // "{invalid}": bytes that are no target
    static constexpr RouteId kAsteriskRoute = 2; // "*": OPTIONS *

    // cache_slots is rounded up to a power of two; 0 disables the raw-path cache.
    explicit RouteTemplater(std::size_t max_routes = kDefaultMaxRoutes,
                            std::size_t cache_slots = kDefaultCacheSlots);

    // Templating alone, without the cap. `path` is the path of an origin-form target
    // (it should start with '/'; a missing leading '/' is supplied). Rules:
    //  - duplicate slashes collapse, a trailing slash is dropped ("/" stays "/");
    //  - a segment becomes "{id}" if it is all digits, a UUID (8-4-4-4-12 hex, any case),
    //    hex of length >= 8 with at least one digit, or an opaque token (see below);
    //  - if `truncated`, the last segment (possibly cut in half) becomes "{truncated}",
    //    or "{truncated}" is appended when the cut fell right after a '/'.
    // Opaque token: >= 16 chars of [A-Za-z0-9_-] with both letters and digits, and either
    // no '-'/'_' at all or at least two letter<->digit changes. The last condition keeps
    // readable slugs such as "user_profile_settings_v2" as they are.
    // Bytes are kept as they are (no percent-decoding, no case folding).
    static void template_path(std::string_view path, bool truncated, std::string& out);
    static std::string template_path(std::string_view path, bool truncated = false);

    // Whether one path segment is an identifier by the rules above.
    static bool is_identifier(std::string_view segment);

    // The route of a path under the cap: a template not seen before gets a new id while
    // fewer than max_routes are known, otherwise kOverflowRoute. Known routes always
    // resolve to themselves. Each call that yields kOverflowRoute counts one overflowed
    // exchange. Raw paths are cached (bounded, direct-mapped, static paths preferred
    // over paths with ids) so a hot path is not templated again on every request.
    RouteId route(std::string_view path, bool truncated = false);

    // The route of a parsed request target: invalid → kInvalidRoute, "*" → kAsteriskRoute.
    RouteId route(const http::RequestTarget& target);

    // The template of an id returned by this templater; stable for its lifetime.
    std::string_view name(RouteId id) const;

    std::size_t learned_routes() const { return names_.size() - kReservedRoutes; }
    std::size_t max_routes() const { return max_routes_; }
    // Exchanges that resolved to {overflow} so far.
    std::uint64_t overflowed() const { return overflowed_; }

private:
    static constexpr std::size_t kReservedRoutes = 3;

    struct CacheSlot {
        std::uint64_t hash = 0; // of raw, compared first
        std::string raw;
        RouteId id = 0;
        bool truncated = false;
        bool has_id = false; // its template has an {id}
        bool used = false;
    };

    RouteId resolve_uncached(std::string_view path, bool truncated, bool* has_id);

    std::size_t max_routes_;
    std::uint64_t overflowed_ = 0;
    // deque: push_back never moves existing strings, so views from name() stay valid
    // (a moved short string would take its inline buffer with it).
    std::deque<std::string> names_;
    FlatIndex index_;              // template → position in names_ (= RouteId); reserved names excluded
    std::vector<CacheSlot> cache_; // allocated on first use
    std::size_t cache_slots_;
};

} // namespace homeostat::engine
