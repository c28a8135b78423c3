// The API documents served from the state database: history, actions, tuned.
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "agent/state_api.h"

namespace homeostat::agent {
namespace {

class StateApiTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("homeostat-state-api-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        auto s = Store::open(dir_ / "homeostat.db");
        ASSERT_TRUE(s.ok()) << s.error().message;
        store_ = std::move(s.value());
    }
    void TearDown() override {
        store_.reset();
        std::filesystem::remove_all(dir_);
    }
    nlohmann::json body(const HttpResponse& r) {
        EXPECT_EQ(r.status, 200u) << r.body;
        EXPECT_EQ(r.content_type, "application/json");
        return nlohmann::json::parse(r.body);
    }
    std::filesystem::path dir_;
    std::unique_ptr<Store> store_;
};

TEST_F(StateApiTest, ActionsNewestFirstFilteredWithTheHealingStatus) {
    for (int i = 0; i < 3; ++i) {
        ActionRecord a;
        a.at = 100 + i;
        a.service = i == 1 ? "web" : "api";
        a.kind = "cpu_quota";
        a.rule = "noisy-neighbour";
        a.verdict = "dry_run";
        a.summary = "cpu.max " + std::to_string(i);
        a.detail = R"({"plan":"write 50000 100000 to cpu.max"})";
        ASSERT_TRUE(store_->add_action(a).ok());
    }
    auto j = body(actions_response(store_.get(), "", {{"enabled", true}, {"dry_run", true}}));
    ASSERT_EQ(j["actions"].size(), 3u);
    EXPECT_EQ(j["actions"][0]["summary"], "cpu.max 2");
    EXPECT_EQ(j["actions"][0]["detail"]["plan"], "write 50000 100000 to cpu.max"); // an object, not a string
    EXPECT_EQ(j["healing"]["dry_run"], true);
    j = body(actions_response(store_.get(), "service=web&limit=5", {}));
    ASSERT_EQ(j["actions"].size(), 1u);
    EXPECT_EQ(j["actions"][0]["service"], "web");
    EXPECT_EQ(body(actions_response(store_.get(), "limit=1", {}))["actions"].size(), 1u);
}

TEST_F(StateApiTest, TunedCurrentAndHistory) {
    for (int i = 0; i < 3; ++i) {
        TunedRecord t;
        t.at = 10 + i;
        t.service = "proxy";
        t.target = "127.0.0.1:8080";
        t.settings = R"({"timeout_ms":)" + std::to_string(500 + i) + "}";
        t.applied = true;
        ASSERT_TRUE(store_->add_tuned(t).ok());
    }
    auto j = body(tuned_response(store_.get(), ""));
    ASSERT_EQ(j["tuned"].size(), 1u);
    EXPECT_EQ(j["tuned"][0]["settings"]["timeout_ms"], 502);
    EXPECT_FALSE(j.contains("history"));
    j = body(tuned_response(store_.get(), "service=proxy&history=2"));
    ASSERT_EQ(j["history"].size(), 2u);
    EXPECT_EQ(j["history"][1]["settings"]["timeout_ms"], 501);
    EXPECT_EQ(body(tuned_response(store_.get(), "service=other"))["tuned"].size(), 0u);
    EXPECT_EQ(j["recommendations"], nlohmann::json::array()); // none given
}

TEST_F(StateApiTest, TunedCarriesTheRecommendationsFilteredByService) {
    const nlohmann::json recs = {{{"service", "api"}, {"memory_bytes", 1e8}, {"cpu_cores", 0.5}},
                                 {{"service", "web"}, {"memory_bytes", 2e8}, {"cpu_cores", 1.0}}};
    auto j = body(tuned_response(store_.get(), "", recs));
    ASSERT_EQ(j["recommendations"].size(), 2u);
    EXPECT_EQ(j["recommendations"][1]["memory_bytes"], 2e8);
    j = body(tuned_response(store_.get(), "service=api", recs));
    ASSERT_EQ(j["recommendations"].size(), 1u);
    EXPECT_EQ(j["recommendations"][0]["service"], "api");
    EXPECT_EQ(body(tuned_response(store_.get(), "", nullptr))["recommendations"], nlohmann::json::array());
}

TEST_F(StateApiTest, BadQueriesSayWhatIsAccepted) {
    auto r = actions_response(store_.get(), "servce=x", {});
    EXPECT_EQ(r.status, 400u);
    EXPECT_NE(r.body.find("unknown parameter 'servce' (service,limit)"), std::string::npos) << r.body;
    r = tuned_response(store_.get(), "history=-1");
    EXPECT_EQ(r.status, 400u);
    EXPECT_NE(r.body.find("history must be a non-negative number"), std::string::npos) << r.body;
    r = history_response(store_.get(), "from=yesterday", 1000);
    EXPECT_EQ(r.status, 400u);
    EXPECT_NE(r.body.find("from must be"), std::string::npos) << r.body;
    EXPECT_EQ(actions_response(nullptr, "", {}).status, 503u);
    EXPECT_EQ(tuned_response(nullptr, "").status, 503u);
}

TEST_F(StateApiTest, HistoryWindowAndTruncation) {
    std::vector<Rollup> rows;
    for (int w = 0; w < 5; ++w) {
        Rollup r;
        r.window_start = 1000 + 10.0 * w;
        r.window_seconds = 10;
        r.service = "api";
        r.role = "server";
        r.endpoint = "GET /x";
        r.requests = w;
        rows.push_back(r);
    }
    ASSERT_TRUE(store_->add_rollups(rows).ok());
    auto j = body(history_response(store_.get(), "service=api&from=1010&to=1030&limit=2", 5000));
    EXPECT_EQ(j["rollups"].size(), 2u);
    EXPECT_TRUE(j["truncated"].get<bool>());
    EXPECT_EQ(j["rollups"][0]["requests"], 1);
}

} // namespace
} // namespace homeostat::agent
