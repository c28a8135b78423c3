// Healing on a cgroup tree in a temporary directory: the audit log follows an action from
// "applied" to its verification.
#include "agent/healing.h"

#include "tests/agent/healing_loop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace {

using namespace homeostat;
namespace fs = std::filesystem;

std::string read(const fs::path& p) {
    std::ifstream f(p);
    std::string s;
    std::getline(f, s);
    return s;
}

class HealingTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("healing_test_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_ / "cpu" / "batch");
        std::ofstream(dir_ / "cpu" / "batch" / "cpu.cfs_period_us") << "100000\n";
        std::ofstream(dir_ / "cpu" / "batch" / "cpu.cfs_quota_us") << "100000\n";
        auto s = agent::Store::open(dir_ / "homeostat.db");
        ASSERT_TRUE(s) << s.error().message;
        store_ = std::move(s.value());
    }
    void TearDown() override {
        store_.reset();
        fs::remove_all(dir_);
    }
    void drain(agent::Healing& h) { loop_.drain(h); }
    agent::Healing::Post post() { return loop_.post(); }

    fs::path dir_;
    std::unique_ptr<agent::Store> store_;
    agent::testing::PostedQueue loop_;
};

engine::detect::Anomaly open_anomaly(std::uint64_t id, const std::string& type, const std::string& service) {
    engine::detect::Anomaly a;
    a.id = id;
    a.type = type;
    a.service = service;
    a.endpoint = "*";
    a.severity = engine::detect::Severity::critical;
    return a;
}

TEST_F(HealingTest, AVerificationUpdatesTheAuditRecordOfTheActionItJudged) {
    const nlohmann::json section = {
        {"guardrails", {{"dry_run", false}}},
        {"priorities", {{"web", "high"}, {"batch", "low"}}},
        {"rules",
         {{{"name", "noisy-neighbour"},
           {"match", {{"anomaly", "cpu_saturation"}, {"priority", "low"},
                      {"while", {{"anomaly", "latency_spike"}, {"priority", "high"}}}}},
           {"action", {{"kind", "cpu_quota"}, {"op", "lower_pct"}, {"amount", 50}, {"min", 0.1}}},
           {"verify", {{"signal", "latency_p99"}, {"service", "peer"}, {"window_seconds", 10}}}}}},
        {"cgroups", {{"allow", {(dir_ / "cpu").string()}}}}};
    auto cfg = agent::parse_healing(section);
    ASSERT_TRUE(cfg) << cfg.error().message;
    agent::Healing healing(cfg.value(), store_.get(), post(), 2);

    exporters::ServiceHealth batch;
    batch.service = "batch";
    batch.cpu_usage_cores = 1.0;
    batch.cgroup.cpu_quota_cores = 1.0;
    batch.cgroup.dirs["cpu"] = (dir_ / "cpu" / "batch").string();
    exporters::ServiceHealth web;
    web.service = "web";
    auto window = [](double p99) {
        engine::EndpointWindow e;
        e.service = "web";
        e.role = engine::Role::server;
        e.count = 100;
        e.p99 = p99;
        return std::vector<engine::EndpointWindow>{e};
    };
    const std::vector<engine::detect::Anomaly> anomalies = {open_anomaly(1, "cpu_saturation", "batch"),
                                                            open_anomaly(2, "latency_spike", "web")};
    healing.evaluate(anomalies, {batch, web}, window(0.5), 1, 1000);
    drain(healing);
    EXPECT_EQ(read(dir_ / "cpu" / "batch" / "cpu.cfs_quota_us"), "50000");
    auto rows = store_->actions("", 10);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows.value().size(), 1u);
    EXPECT_EQ(rows.value()[0].verdict, "applied");

    batch.cgroup.cpu_quota_cores = 0.5;
    healing.evaluate({}, {batch, web}, window(0.1), 1, 1011); // p99 0.5 → 0.1: improved
    drain(healing);
    rows = store_->actions("", 10);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows.value().size(), 1u);
    EXPECT_EQ(rows.value()[0].verdict, "verified");
    EXPECT_EQ(read(dir_ / "cpu" / "batch" / "cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(healing.status()["pending_verifications"], 0u);
}

} // namespace
