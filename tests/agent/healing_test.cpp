// Healing on a cgroup tree in a temporary directory: the audit log follows an action from
// "applied" to its verification.
#include "agent/healing.h"

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
    // Runs what the worker posted back, as the daemon's io_context would; bounded.
    void drain(agent::Healing& h) {
        for (int i = 0; i < 500 && (h.jobs_in_flight() > 0 || !posted_.empty()); ++i) {
            std::vector<std::function<void()>> fs;
            {
                std::lock_guard lock(mu_);
                fs.swap(posted_);
            }
            for (auto& f : fs) f();
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ASSERT_EQ(h.jobs_in_flight(), 0u);
    }
    agent::Healing::Post post() {
        return [this](std::function<void()> f) {
            std::lock_guard lock(mu_);
            posted_.push_back(std::move(f));
        };
    }

    // The noisy-neighbour rule: batch (low) saturating its CPU while web (high) is slow.
    nlohmann::json noisy_neighbour_section(const nlohmann::json& verify = nullptr) const {
        nlohmann::json rule = {
            {"name", "noisy-neighbour"},
            {"match", {{"anomaly", "cpu_saturation"}, {"priority", "low"},
                       {"while", {{"anomaly", "latency_spike"}, {"priority", "high"}}}}},
            {"action", {{"kind", "cpu_quota"}, {"op", "lower_pct"}, {"amount", 50}, {"min", 0.1}}}};
        if (!verify.is_null()) rule["verify"] = verify;
        return {{"guardrails", {{"dry_run", false}}},
                {"priorities", {{"web", "high"}, {"batch", "low"}}},
                {"rules", {rule}},
                {"cgroups", {{"allow", {(dir_ / "cpu").string()}}}}};
    }
    exporters::ServiceHealth batch_health() const {
        exporters::ServiceHealth batch;
        batch.service = "batch";
        batch.cpu_usage_cores = 1.0;
        batch.cgroup.cpu_quota_cores = 1.0;
        batch.cgroup.dirs["cpu"] = (dir_ / "cpu" / "batch").string();
        return batch;
    }
    static std::vector<engine::EndpointWindow> web_window(double p99) {
        engine::EndpointWindow e;
        e.service = "web";
        e.role = engine::Role::server;
        e.count = 100;
        e.p99 = p99;
        return {e};
    }

    fs::path dir_;
    std::unique_ptr<agent::Store> store_;
    std::mutex mu_;
    std::vector<std::function<void()>> posted_;
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
    auto cfg = agent::parse_healing(
        noisy_neighbour_section({{"signal", "latency_p99"}, {"service", "peer"}, {"window_seconds", 10}}));
    ASSERT_TRUE(cfg) << cfg.error().message;
    agent::Healing healing(cfg.value(), store_.get(), post(), 2);
    exporters::ServiceHealth batch = batch_health();
    exporters::ServiceHealth web;
    web.service = "web";
    const std::vector<engine::detect::Anomaly> anomalies = {open_anomaly(1, "cpu_saturation", "batch"),
                                                            open_anomaly(2, "latency_spike", "web")};
    healing.evaluate(anomalies, {batch, web}, web_window(0.5), 1, 1000);
    drain(healing);
    EXPECT_EQ(read(dir_ / "cpu" / "batch" / "cpu.cfs_quota_us"), "50000");
    auto rows = store_->actions("", 10);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows.value().size(), 1u);
    EXPECT_EQ(rows.value()[0].verdict, "applied");

    batch.cgroup.cpu_quota_cores = 0.5;
    healing.evaluate({}, {batch, web}, web_window(0.1), 1, 1011); // p99 0.5 → 0.1: improved
    drain(healing);
    rows = store_->actions("", 10);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows.value().size(), 1u);
    EXPECT_EQ(rows.value()[0].verdict, "verified");
    EXPECT_EQ(read(dir_ / "cpu" / "batch" / "cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(healing.status()["pending_verifications"], 0u);
}

// A failure drill: the service's cgroup disappears between the plan (the health snapshot
// still names it) and the write. The action fails with "cgroup vanished", is audited
// once, and is not retried while the cooldown runs (no storm of writes to a dead path).
TEST_F(HealingTest, CgroupThatVanishesMidActionFailsOnceWithoutRetries) {
    auto cfg = agent::parse_healing(noisy_neighbour_section());
    ASSERT_TRUE(cfg) << cfg.error().message;
    agent::Healing healing(cfg.value(), store_.get(), post(), 2);
    const exporters::ServiceHealth batch = batch_health();
    exporters::ServiceHealth web;
    web.service = "web";
    const std::vector<engine::detect::Anomaly> anomalies = {open_anomaly(1, "cpu_saturation", "batch"),
                                                            open_anomaly(2, "latency_spike", "web")};
    fs::remove_all(dir_ / "cpu" / "batch"); // gone after the snapshot was taken
    for (int i = 0; i < 6; ++i) { // a minute of windows, inside the 300 s cooldown
        healing.evaluate(anomalies, {batch, web}, web_window(0.5), 1, 1000 + 10 * i);
        drain(healing);
    }
    EXPECT_FALSE(fs::exists(dir_ / "cpu" / "batch")) << "something recreated the cgroup";
    auto rows = store_->actions("", 50);
    ASSERT_TRUE(rows);
    int failed = 0, applied = 0;
    for (const auto& r : rows.value()) {
        if (r.verdict == "failed") {
            ++failed;
            EXPECT_NE(r.summary.find("cgroup vanished"), std::string::npos) << r.summary;
        }
        if (r.verdict == "applied") ++applied;
    }
    EXPECT_EQ(failed, 1);
    EXPECT_EQ(applied, 0);
}

} // namespace
