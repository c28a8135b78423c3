#include "engine/route_templater.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

namespace homeostat::engine {
namespace {

std::string tmpl(std::string_view path, bool truncated = false) {
    return RouteTemplater::template_path(path, truncated);
}

TEST(RouteTemplate, SlashesAreNormalised) {
    EXPECT_EQ(tmpl("/"), "/");
    EXPECT_EQ(tmpl(""), "/");
    EXPECT_EQ(tmpl("//"), "/");
    EXPECT_EQ(tmpl("/users/"), "/users");
    EXPECT_EQ(tmpl("//users///list//"), "/users/list");
    EXPECT_EQ(tmpl("users"), "/users") << "a missing leading slash is supplied";
}

TEST(RouteTemplate, NumericSegmentsBecomeId) {
    EXPECT_EQ(tmpl("/users/42"), "/users/{id}");
    EXPECT_EQ(tmpl("/users/0/orders/9876543210"), "/users/{id}/orders/{id}");
    EXPECT_EQ(tmpl("/2024/report"), "/{id}/report");
}

TEST(RouteTemplate, UuidsBecomeId) {
    EXPECT_EQ(tmpl("/orders/550e8400-e29b-41d4-a716-446655440000"), "/orders/{id}");
    EXPECT_EQ(tmpl("/orders/550E8400-E29B-41D4-A716-446655440000/items"), "/orders/{id}/items");
    // Wrong group lengths are not a UUID (and too dashed to be a token).
    EXPECT_EQ(tmpl("/x/550e8400-e29b41d4-a716-446655440000-"), "/x/{id}")
        << "still opaque: long, letters and digits interleaved";
    EXPECT_EQ(tmpl("/x/not-a-uuid-at-all-really"), "/x/not-a-uuid-at-all-really");
}

TEST(RouteTemplate, HexWithADigitBecomesId) {
    EXPECT_EQ(tmpl("/blobs/5f3a9c1b"), "/blobs/{id}");
    EXPECT_EQ(tmpl("/blobs/507f1f77bcf86cd799439011"), "/blobs/{id}"); // Mongo ObjectId
    EXPECT_EQ(tmpl("/commits/A1B2C3D4E5F6"), "/commits/{id}");
    EXPECT_EQ(tmpl("/x/deadbeef"), "/x/deadbeef") << "no digit: could be a word";
    EXPECT_EQ(tmpl("/x/abc1234"), "/x/abc1234") << "shorter than 8";
}

TEST(RouteTemplate, OpaqueTokensBecomeId) {
    EXPECT_EQ(tmpl("/reset/aZ3kP9xQ2LmN8vB4wR"), "/reset/{id}");
    EXPECT_EQ(tmpl("/t/eyJhbGciOiJIUzI1NiJ9"), "/t/{id}");
    EXPECT_EQ(tmpl("/s/Xy7_Kp2-Lm9qRt4v"), "/s/{id}");
    EXPECT_EQ(tmpl("/a/abcdefghij1234567890"), "/a/{id}");
}

TEST(RouteTemplate, OrdinarySegmentsStay) {
    for (const char* seg :
         {"v1", "v2", "users", "index.html", "2fa", "api", "healthz", "e2e", "x86_64", "sha256", "ABCDEFGH",
          "internationalization", "user_profile_settings_v2", "jquery-3.6.0.min.js",
          "how-to-install-python-3-10-on-ubuntu-22-04", "caf%C3%A9", "{id}", "-", "_"}) {
        const std::string path = std::string("/") + seg;
        EXPECT_EQ(tmpl(path), path) << seg;
        EXPECT_FALSE(RouteTemplater::is_identifier(seg)) << seg;
    }
}

TEST(RouteTemplate, Mixed) {
    EXPECT_EQ(tmpl("/api/v1/users/42/orders/550e8400-e29b-41d4-a716-446655440000/"),
              "/api/v1/users/{id}/orders/{id}");
}

TEST(RouteTemplate, TruncatedLastSegmentIsReplaced) {
    EXPECT_EQ(tmpl("/users/123", true), "/users/{truncated}");
    EXPECT_EQ(tmpl("/users/123/ord", true), "/users/{id}/{truncated}");
    EXPECT_EQ(tmpl("/users/123/", true), "/users/{id}/{truncated}") << "the cut came after a whole segment";
    EXPECT_EQ(tmpl("/", true), "/{truncated}");
    EXPECT_EQ(tmpl("", true), "/{truncated}");
}

// A deliberately naive restatement of the rules, to cross-check the optimised one-pass
// writer (word-at-a-time slash search, short-segment shortcut) on random paths.
std::string reference_template(std::string_view path, bool truncated) {
    std::vector<std::string> segs;
    std::string cur;
    for (const char c : path) {
        if (c == '/') {
            if (!cur.empty()) segs.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    const bool cut_mid_segment = !cur.empty();
    if (!cur.empty()) segs.push_back(cur);
    std::string out;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        out += '/';
        if (truncated && cut_mid_segment && i + 1 == segs.size())
            out += "{truncated}";
        else
            out += RouteTemplater::is_identifier(segs[i]) ? "{id}" : segs[i];
    }
    if (truncated && !cut_mid_segment) out += "/{truncated}";
    return out.empty() ? "/" : out;
}

TEST(RouteTemplate, MatchesANaiveReferenceOnRandomPaths) {
    std::mt19937 rng(99);
    const std::string alphabet = "//////abcdefxyzABC0123456789-_.%";
    std::uniform_int_distribution<std::size_t> len(0, 140), pick(0, alphabet.size() - 1);
    for (int iter = 0; iter < 50000; ++iter) {
        std::string path;
        const std::size_t n = len(rng);
        for (std::size_t i = 0; i < n; ++i)
            path += alphabet[pick(rng)];
        const bool truncated = iter % 4 == 0;
        ASSERT_EQ(tmpl(path, truncated), reference_template(path, truncated)) << path;
    }
}

TEST(RouteTemplater, ReservedRoutes) {
    RouteTemplater t(1);
    EXPECT_EQ(t.name(RouteTemplater::kOverflowRoute), "{overflow}");
    EXPECT_EQ(t.name(RouteTemplater::kInvalidRoute), "{invalid}");
    EXPECT_EQ(t.name(RouteTemplater::kAsteriskRoute), "*");

    http::RequestTarget invalid;
    EXPECT_EQ(t.route(invalid), RouteTemplater::kInvalidRoute);
    http::RequestTarget star{http::TargetForm::asterisk, "*", false};
    EXPECT_EQ(t.route(star), RouteTemplater::kAsteriskRoute);
    EXPECT_EQ(t.learned_routes(), 0u) << "reserved routes do not use the cap";

    http::RequestTarget origin{http::TargetForm::origin, "/a/1", false};
    const RouteId id = t.route(origin);
    EXPECT_EQ(t.name(id), "/a/{id}");
    EXPECT_EQ(t.overflowed(), 0u);
}

TEST(RouteTemplater, SameTemplateSameId) {
    RouteTemplater t;
    const RouteId a = t.route("/users/1");
    EXPECT_EQ(t.route("/users/2"), a);
    EXPECT_EQ(t.route("//users/3/"), a);
    EXPECT_NE(t.route("/users"), a);
    EXPECT_EQ(t.name(a), "/users/{id}");
    EXPECT_EQ(t.learned_routes(), 2u);
}

TEST(RouteTemplater, TruncationIsPartOfTheCacheKey) {
    RouteTemplater t;
    EXPECT_EQ(t.name(t.route("/users/123", false)), "/users/{id}");
    EXPECT_EQ(t.name(t.route("/users/123", true)), "/users/{truncated}");
    EXPECT_EQ(t.name(t.route("/users/123", false)), "/users/{id}");
}

TEST(RouteTemplater, CapSendsNewRoutesToOverflowAndCountsExchanges) {
    RouteTemplater t(3);
    const RouteId a = t.route("/a"), b = t.route("/b"), c = t.route("/c/7");
    EXPECT_EQ(t.learned_routes(), 3u);
    EXPECT_EQ(t.route("/d"), RouteTemplater::kOverflowRoute);
    EXPECT_EQ(t.route("/d"), RouteTemplater::kOverflowRoute) << "a cached overflow still counts";
    EXPECT_EQ(t.route("/e/f"), RouteTemplater::kOverflowRoute);
    EXPECT_EQ(t.overflowed(), 3u);
    EXPECT_EQ(t.learned_routes(), 3u);
    // Known routes keep working, including new raw paths of a known template.
    EXPECT_EQ(t.route("/a"), a);
    EXPECT_EQ(t.route("/b"), b);
    EXPECT_EQ(t.route("/c/999"), c);
    EXPECT_EQ(t.overflowed(), 3u);
}

TEST(RouteTemplater, ZeroCapOverflowsEverything) {
    RouteTemplater t(0);
    EXPECT_EQ(t.route("/"), RouteTemplater::kOverflowRoute);
    EXPECT_EQ(t.overflowed(), 1u);
}

TEST(RouteTemplater, CacheDoesNotChangeAnswers) {
    // Same sequence through no cache, a tiny colliding cache, and the default one.
    std::vector<std::pair<std::string, bool>> paths;
    for (int i = 0; i < 400; ++i) {
        paths.emplace_back("/r" + std::to_string(i % 37) + "/" + std::to_string(i), false);
        paths.emplace_back("/r" + std::to_string(i % 53) + "/x", i % 5 == 0);
        paths.emplace_back("/static/app" + std::to_string(i % 7) + ".js", false);
    }
    RouteTemplater none(50, 0), tiny(50, 2), dflt(50);
    for (const auto& [p, trunc] : paths) {
        const RouteId x = none.route(p, trunc);
        ASSERT_EQ(tiny.route(p, trunc), x) << p;
        ASSERT_EQ(dflt.route(p, trunc), x) << p;
        ASSERT_EQ(tiny.name(x), none.name(x));
    }
    EXPECT_EQ(none.learned_routes(), 50u);
    EXPECT_GT(none.overflowed(), 0u);
    EXPECT_EQ(tiny.overflowed(), none.overflowed());
    EXPECT_EQ(dflt.overflowed(), none.overflowed());
}

TEST(RouteTemplater, NamesStayValidAsRoutesGrow) {
    RouteTemplater t(1000);
    const RouteId first = t.route("/a");
    const std::string_view name = t.name(first);
    for (int i = 0; i < 900; ++i)
        t.route("/p" + std::to_string(i) + "x");
    EXPECT_EQ(name, "/a");
    EXPECT_EQ(t.name(first).data(), name.data());
}

} // namespace
} // namespace homeostat::engine
