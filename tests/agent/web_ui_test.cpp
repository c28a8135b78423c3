// The embedded web page: every file of agent/web/ is in the binary, byte for byte, and is
// served with its type, no caching surprises and a policy that allows no other origin.
#include "agent/web_ui.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace homeostat::agent {
namespace {

std::string header(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
        if (k == name) return v;
    return {};
}

TEST(WebUi, EveryFileOfTheSourceDirectoryIsEmbeddedUnchanged) {
    const std::filesystem::path dir = std::filesystem::path(HOMEOSTAT_SOURCE_DIR) / "agent" / "web";
    std::size_t files = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir)) {
        ++files;
        std::ifstream in(f.path(), std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        bool found = false;
        for (const auto& a : web_assets())
            if (a.name == f.path().filename().string()) {
                found = true;
                EXPECT_EQ(a.bytes, ss.str()) << a.name << " differs from the source file";
            }
        EXPECT_TRUE(found) << f.path() << " is not in WEB_UI_FILES (agent/CMakeLists.txt)";
    }
    EXPECT_EQ(web_assets().size(), files);
    EXPECT_GE(files, 4u);
}

TEST(WebUi, PageAndFilesWithTypesAndHeaders) {
    const struct {
        const char* path;
        const char* type;
    } cases[] = {{"/", "text/html; charset=utf-8"},
                 {"/index.html", "text/html; charset=utf-8"},
                 {"/ui/app.js", "text/javascript; charset=utf-8"},
                 {"/ui/style.css", "text/css; charset=utf-8"},
                 {"/ui/favicon.svg", "image/svg+xml"}};
    for (const auto& c : cases) {
        const auto r = web_ui_response(c.path);
        ASSERT_TRUE(r) << c.path;
        EXPECT_EQ(r->status, 200u) << c.path;
        EXPECT_EQ(r->content_type, c.type) << c.path;
        EXPECT_FALSE(r->body.empty()) << c.path;
        EXPECT_EQ(header(*r, "Cache-Control"), "no-cache");
        EXPECT_EQ(header(*r, "X-Content-Type-Options"), "nosniff");
        const auto csp = header(*r, "Content-Security-Policy");
        EXPECT_EQ(csp.rfind("default-src 'self';", 0), 0u) << csp;
        EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
        EXPECT_EQ(csp.find("http"), std::string::npos) << csp;
    }
    EXPECT_NE(web_ui_response("/")->body.find("<script src=\"/ui/app.js\""), std::string::npos);
}

TEST(WebUi, OtherPathsAreNotThePage) {
    EXPECT_FALSE(web_ui_response("/metrics"));
    EXPECT_FALSE(web_ui_response("/api/v1/status"));
    EXPECT_FALSE(web_ui_response("/uix"));
    const auto missing = web_ui_response("/ui/nope.js");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404u);
    EXPECT_EQ(web_ui_response("/ui/../index.html")->status, 404u);
}

TEST(WebUi, NothingRefersToAnotherOrigin) {
    // The SVG namespace is a name, not a fetch; anything else absolute would be.
    const std::regex url(R"((https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,})");
    for (const auto& a : web_assets()) {
        std::string text(a.bytes);
        for (auto it = std::sregex_iterator(text.begin(), text.end(), url); it != std::sregex_iterator(); ++it) {
            const std::string m = it->str();
            EXPECT_TRUE(m == "http://www.w3.org") << a.name << " refers to " << m;
        }
    }
}

} // namespace
} // namespace homeostat::agent
