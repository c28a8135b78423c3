// YAML → JSON for JSON-taking section parsers, and errors back to file positions.
#include <yaml-cpp/yaml.h>

#include <gtest/gtest.h>

#include "agent/yaml_json.h"

namespace homeostat::agent {
namespace {

TEST(YamlJson, ScalarsKeepTheirTypeQuotedOnesStayStrings) {
    auto j = yaml_to_json(YAML::Load("a: 3\nb: 2.5\nc: true\nd: off\ne: ~\nf: 2GiB\ng: \"60\"\nh: [1, x]\n"
                                     "i: {k: v}\nj: -7\n"));
    EXPECT_EQ(j["a"], 3);
    EXPECT_EQ(j["b"], 2.5);
    EXPECT_EQ(j["c"], true);
    EXPECT_EQ(j["d"], false);
    EXPECT_TRUE(j["e"].is_null());
    EXPECT_EQ(j["f"], "2GiB");
    EXPECT_EQ(j["g"], "60");
    EXPECT_EQ(j["h"], nlohmann::json::parse(R"([1, "x"])"));
    EXPECT_EQ(j["i"]["k"], "v");
    EXPECT_EQ(j["j"], -7);
}

TEST(YamlJson, LocateFindsTheDeepestKeyTheFileSets) {
    const auto root = YAML::Load("healing:\n  rules:\n    - name: a\n      action: {kind: cpu_quota, max: 1}\n"
                                 "    - name: b\n      cooldwn: 5\n");
    EXPECT_EQ(locate("f.yaml", root, "healing.rules[0].action.max: must be > min"),
              "f.yaml:4:38: healing.rules[0].action.max: must be > min");
    EXPECT_EQ(locate("f.yaml", root, "healing.rules[1].cooldwn: unknown key"),
              "f.yaml:6:16: healing.rules[1].cooldwn: unknown key");
    // A key that is not in the file (a missing one): the nearest part that is.
    EXPECT_EQ(locate("f.yaml", root, "healing.rules[1].action: missing"), "f.yaml:5:7: healing.rules[1].action: missing");
    EXPECT_EQ(locate("f.yaml", root, "nothing like a key"), "f.yaml: nothing like a key");
}

} // namespace
} // namespace homeostat::agent
