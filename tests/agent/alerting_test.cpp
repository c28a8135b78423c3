// The alert spool (SQLite), the retry policy, URL handling and the receivers' config.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/alerting.h"
#include "agent/config.h"
#include "agent/http_client.h"
#include "agent/store.h"

namespace homeostat::agent {
namespace {

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("homeostat-store-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path db() const { return dir_ / "state" / "homeostat.db"; }
    std::filesystem::path dir_;
};

SpoolItem item(const std::string& key, double at) {
    SpoolItem it;
    it.receiver = "am";
    it.idempotency_key = key;
    it.body = "{\"alerts\": []}";
    it.created_at = at;
    it.next_attempt_at = at;
    return it;
}

TEST_F(StoreTest, SpoolLifecycleSurvivesReopen) {
    {
        auto s = Store::open(db());
        ASSERT_TRUE(s.ok()) << s.error().message;
        EXPECT_EQ(s.value()->schema_version(), Store::kSchemaVersion);
        ASSERT_TRUE(s.value()->enqueue(item("k1", 100)).ok());
        ASSERT_TRUE(s.value()->enqueue(item("k2", 101)).ok());
        ASSERT_TRUE(s.value()->enqueue(item("k1", 102)).ok()); // same key: not twice
        EXPECT_EQ(s.value()->pending().value(), 2);
        auto due = s.value()->due(100.5, 10).value();
        ASSERT_EQ(due.size(), 1u);
        EXPECT_EQ(due[0].idempotency_key, "k1");
        ASSERT_TRUE(s.value()->retry_later(due[0].id, 1, 200, "HTTP 503").ok());
        EXPECT_EQ(s.value()->due(150, 10).value().size(), 1u); // only k2
    }
    struct stat st{};
    ASSERT_EQ(::stat(db().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(db().parent_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);

    auto s = Store::open(db()); // a restart: the spool is still there
    ASSERT_TRUE(s.ok());
    auto due = s.value()->due(300, 10).value();
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(due[1].attempts, 1);
    EXPECT_EQ(due[1].last_error, "HTTP 503");
    ASSERT_TRUE(s.value()->delivered(due[0].id, 300).ok());
    ASSERT_TRUE(s.value()->give_up(due[1].id, "HTTP 400", 300).ok());
    EXPECT_EQ(s.value()->pending().value(), 0);
    EXPECT_EQ(s.value()->prune(200).value(), 0);
    EXPECT_EQ(s.value()->prune(400).value(), 2);
}

TEST_F(StoreTest, RollupsHistoryAndPruning) {
    auto s = Store::open(db());
    ASSERT_TRUE(s.ok()) << s.error().message;
    std::vector<Rollup> rows;
    for (int w = 0; w < 10; ++w)
        for (const char* svc : {"api", "web"}) {
            Rollup r;
            r.window_start = 1000 + 10.0 * w;
            r.window_seconds = 10;
            r.service = svc;
            r.role = "server";
            r.endpoint = "GET /x";
            r.requests = 100 + w;
            r.errors = w;
            r.p95 = 0.005;
            rows.push_back(r);
        }
    ASSERT_TRUE(s.value()->add_rollups(rows).ok());
    auto api = s.value()->history("api", 1020, 1050, 100).value();
    ASSERT_EQ(api.size(), 4u);
    EXPECT_EQ(api.front().window_start, 1020);
    EXPECT_EQ(api.front().requests, 102);
    EXPECT_EQ(api.back().errors, 5);
    EXPECT_EQ(s.value()->history("", 0, 1e9, 100).value().size(), 20u);
    EXPECT_EQ(s.value()->history("", 0, 1e9, 3).value().size(), 3u);
    EXPECT_EQ(s.value()->prune_rollups(1050).value(), 10);
    EXPECT_EQ(s.value()->history("", 0, 1e9, 100).value().size(), 10u);
}

TEST_F(StoreTest, Documents) {
    auto s = Store::open(db());
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s.value()->get_document("detector_state").value(), "");
    ASSERT_TRUE(s.value()->put_document("detector_state", "{\"a\":1}", 5).ok());
    ASSERT_TRUE(s.value()->put_document("detector_state", "{\"a\":2}", 6).ok());
    EXPECT_EQ(s.value()->get_document("detector_state").value(), "{\"a\":2}");
}

TEST_F(StoreTest, MigratesAVersionOneDatabase) {
    {
        auto s = Store::open(db());
        ASSERT_TRUE(s.ok());
        ASSERT_TRUE(s.value()->enqueue(item("old", 1)).ok());
    }
    // Make it look like a version 1 file: drop what version 2 added.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
    sqlite3_exec(raw, "DROP TABLE rollups; DROP TABLE documents; DROP TABLE actions; DROP TABLE tuned; "
                      "UPDATE meta SET value = '1'", nullptr, nullptr, nullptr);
    sqlite3_close(raw);
    auto s = Store::open(db());
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s.value()->schema_version(), Store::kSchemaVersion);
    EXPECT_EQ(s.value()->pending().value(), 1); // the spool survived the migration
    EXPECT_TRUE(s.value()->put_document("x", "y", 1).ok());
}

TEST_F(StoreTest, MigratesAVersionTwoDatabaseKeepingItsDocuments) {
    {
        auto s = Store::open(db());
        ASSERT_TRUE(s.ok());
        ASSERT_TRUE(s.value()->put_document("detector_state", "{\"b\":1}", 1).ok());
    }
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
    sqlite3_exec(raw, "DROP TABLE actions; DROP TABLE tuned; UPDATE meta SET value = '2'", nullptr, nullptr, nullptr);
    sqlite3_close(raw);
    auto s = Store::open(db());
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s.value()->schema_version(), 3);
    EXPECT_EQ(s.value()->get_document("detector_state").value(), "{\"b\":1}");
    EXPECT_TRUE(s.value()->actions("", 10).ok());
}

TEST_F(StoreTest, ActionAuditLog) {
    auto s = Store::open(db());
    ASSERT_TRUE(s.ok()) << s.error().message;
    ActionRecord a;
    a.at = 100;
    a.service = "api";
    a.kind = "memory_high";
    a.rule = "leak";
    a.verdict = "applied";
    a.summary = "memory.high of api: 512 MiB -> 614 MiB";
    a.reason = "memory_growth: limit in 40 min";
    a.anomaly_id = 7;
    auto id = s.value()->add_action(a);
    ASSERT_TRUE(id.ok()) << id.error().message;
    a.at = 200;
    a.service = "web";
    a.verdict = "dry_run";
    ASSERT_TRUE(s.value()->add_action(a).ok());
    ASSERT_TRUE(s.value()->update_action(id.value(), "rolled_back", "{\"why\":\"no improvement\"}", 300).ok());
    EXPECT_FALSE(s.value()->update_action(999, "verified", "", 300).ok());

    auto all = s.value()->actions("", 10).value();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].service, "web"); // newest first
    EXPECT_EQ(all[1].verdict, "rolled_back");
    EXPECT_EQ(all[1].updated_at, 300);
    EXPECT_EQ(all[1].detail, "{\"why\":\"no improvement\"}");
    EXPECT_EQ(all[1].anomaly_id, 7u);
    EXPECT_EQ(all[0].detail, "{}");
    ASSERT_EQ(s.value()->actions("api", 10).value().size(), 1u);
    EXPECT_EQ(s.value()->actions("", 1).value().size(), 1u);
    EXPECT_EQ(s.value()->prune_actions(150).value(), 1);
    EXPECT_EQ(s.value()->actions("", 10).value().size(), 1u);
}

TEST_F(StoreTest, TunedSettingsCurrentAndHistory) {
    auto s = Store::open(db());
    ASSERT_TRUE(s.ok()) << s.error().message;
    auto add = [&](double at, const std::string& svc, const std::string& target, const std::string& settings) {
        TunedRecord t;
        t.at = at;
        t.service = svc;
        t.target = target;
        t.settings = settings;
        t.applied = at > 1;
        t.reason = "p99 of upstream";
        ASSERT_TRUE(s.value()->add_tuned(t).ok());
    };
    add(1, "proxy", "127.0.0.1:8080", "{\"timeout_ms\":500}");
    add(2, "proxy", "127.0.0.1:8080", "{\"timeout_ms\":900}");
    add(3, "proxy", "127.0.0.1:9090", "{\"timeout_ms\":100}");
    add(4, "api", "", "{\"max_retries\":2}");
    auto cur = s.value()->tuned_current().value();
    ASSERT_EQ(cur.size(), 3u);
    EXPECT_EQ(cur[0].service, "api");
    EXPECT_EQ(cur[1].settings, "{\"timeout_ms\":900}");
    EXPECT_TRUE(cur[1].applied);
    EXPECT_EQ(cur[2].target, "127.0.0.1:9090");
    auto hist = s.value()->tuned_history("proxy", 10).value();
    ASSERT_EQ(hist.size(), 3u);
    EXPECT_EQ(hist[0].at, 3);
    EXPECT_FALSE(hist[2].applied);
}

TEST_F(StoreTest, RefusesANewerSchema) {
    ASSERT_TRUE(Store::open(db()).ok());
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db().c_str(), &raw), SQLITE_OK);
    sqlite3_exec(raw, "UPDATE meta SET value = '99' WHERE key = 'schema_version'", nullptr, nullptr, nullptr);
    sqlite3_close(raw);
    auto s = Store::open(db());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("schema version 99, newer than"), std::string::npos) << s.error().message;
}

TEST_F(StoreTest, UnusablePlaceIsAClearError) {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "state") << "a file, not a directory";
    auto s = Store::open(db());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find((dir_ / "state").string()), std::string::npos) << s.error().message;
}

TEST(Retry, Classify) {
    EXPECT_EQ(classify(200), DeliveryOutcome::delivered);
    EXPECT_EQ(classify(204), DeliveryOutcome::delivered);
    EXPECT_EQ(classify(0), DeliveryOutcome::retry);
    EXPECT_EQ(classify(429), DeliveryOutcome::retry);
    EXPECT_EQ(classify(408), DeliveryOutcome::retry);
    EXPECT_EQ(classify(500), DeliveryOutcome::retry);
    EXPECT_EQ(classify(503), DeliveryOutcome::retry);
    EXPECT_EQ(classify(400), DeliveryOutcome::give_up);
    EXPECT_EQ(classify(401), DeliveryOutcome::give_up);
    EXPECT_EQ(classify(404), DeliveryOutcome::give_up);
    EXPECT_EQ(classify(302), DeliveryOutcome::give_up);
}

TEST(Retry, DescribeAnswerKeepsStatusAndTheStartOfTheBody) {
    EXPECT_EQ(describe_answer({503, "try later", ""}), "HTTP 503 try later");
    EXPECT_EQ(describe_answer({0, "", "connect: Connection refused"}), "connect: Connection refused");
    EXPECT_EQ(describe_answer({400, std::string(100000, 'x'), ""}), "HTTP 400 " + std::string(200, 'x'));
}

TEST(Retry, ExponentialWithJitterAndCeiling) {
    RetryPolicy p;
    p.base_seconds = 1;
    p.max_seconds = 300;
    EXPECT_DOUBLE_EQ(backoff_seconds(p, 0, 0.999999), 1.0 * (0.5 + 0.5 * 0.999999));
    EXPECT_DOUBLE_EQ(backoff_seconds(p, 3, 0), 4.0);
    EXPECT_DOUBLE_EQ(backoff_seconds(p, 3, 1), 8.0);
    EXPECT_DOUBLE_EQ(backoff_seconds(p, 20, 1), 300.0);
    EXPECT_DOUBLE_EQ(backoff_seconds(p, 1000, 0), 150.0);
}

TEST(Urls, ParseAndRedact) {
    auto u = parse_url("https://hooks.slack.com/services/T000/B000/XXXX");
    ASSERT_TRUE(u.ok());
    EXPECT_TRUE(u->tls);
    EXPECT_EQ(u->host, "hooks.slack.com");
    EXPECT_EQ(u->port, "443");
    EXPECT_EQ(u->target, "/services/T000/B000/XXXX");
    EXPECT_EQ(redacted_url("https://hooks.slack.com/services/T000/B000/XXXX"), "https://hooks.slack.com:443/…");
    auto v6 = parse_url("http://[::1]:9093");
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, "9093");
    EXPECT_EQ(v6->target, "/");
    EXPECT_FALSE(parse_url("ftp://x").ok());
    EXPECT_FALSE(parse_url("http://user:pw@x/").ok());
    EXPECT_FALSE(parse_url("http://x:99999/").ok());
    EXPECT_FALSE(parse_url("http:///path").ok());
}

class ReceiversConfig : public ::testing::Test {
protected:
    std::string write(const std::string& text) {
        path_ = std::filesystem::temp_directory_path() / ("homeostat-recv-" + std::to_string(::getpid()) + ".yaml");
        std::ofstream(path_) << text;
        return path_.string();
    }
    void TearDown() override { std::filesystem::remove(path_); }
    std::filesystem::path path_;
};

TEST_F(ReceiversConfig, ParsesAndChecksEveryReceiver) {
    auto c = load_config(write("alerting:\n"
                               "  resend_interval: 30s\n"
                               "  receivers:\n"
                               "    - name: am\n"
                               "      type: alertmanager\n"
                               "      url: http://127.0.0.1:9093\n"
                               "    - name: hook\n"
                               "      type: webhook\n"
                               "      url: https://example.org/hook\n"
                               "      secret: s3cret\n"
                               "      timeout: 2s\n"
                               "      min_severity: critical\n"));
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_EQ(c->alerting.receivers.size(), 2u);
    EXPECT_EQ(c->alerting.resend_interval_seconds, 30);
    EXPECT_EQ(c->alerting.receivers[1].secret, "s3cret");
    EXPECT_EQ(c->alerting.receivers[1].timeout, std::chrono::seconds(2));
    EXPECT_EQ(c->alerting.receivers[1].min_severity, engine::detect::Severity::critical);

    std::string p = write("alerting:\n  receivers:\n    - name: x\n      type: pager\n      url: http://a/\n");
    auto bad = load_config(p);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().message.rfind(p + ":3:7: receiver x: type must be", 0), 0u) << bad.error().message;
    p = write("alerting:\n  receivers:\n    - name: x\n      type: webhook\n      url: http://a/\n      colour: red\n");
    bad = load_config(p);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().message, p + ":6:7: unknown key 'alerting.receivers[0].colour' (expected name, type, url, "
                                     "secret, timeout, min_severity)");
    p = write("alerting:\n  receivers:\n    - name: x\n      type: webhook\n      url: gopher://a\n");
    bad = load_config(p);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("is not an http:// or https:// URL"), std::string::npos);
    bad = load_config(write("alerting:\n  receivers: {}\n"));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("must be a list"), std::string::npos);
}

} // namespace
} // namespace homeostat::agent
