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

std::string read(const fs::path& p) { return agent::testing::first_line(p); }

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


// healing.load_balancing end to end in the agent: client-side windows → a rewritten file
// (through the planner and the config-file actuator), audited with the evidence, and the
// balancer's state saved with the healing state.
TEST_F(HealingTest, LoadBalancingWritesWeightsAuditsAndPersists) {
    const fs::path file = dir_ / "upstreams.conf";
    std::ofstream(file) << "server 127.0.0.1:8081 weight=100; server 127.0.0.1:8082 weight=100;\n";
    const nlohmann::json section = {
        {"guardrails", {{"dry_run", false}}},
        {"rules", nlohmann::json::array()},
        {"files", {{{"name", "lb"}, {"path", file.string()}, {"template", "{{upstream_servers}} # {{weight.127.0.0.1_8082}}\n"}}}},
        {"load_balancing",
         {{{"service", "nginx*"}, {"upstreams", {"127.0.0.1:8081", "127.0.0.1:8082"}}, {"file", "lb"},
           {"alpha", 0.5}, {"min_requests", 10}, {"cooldown", "30s"}}}}};
    auto cfg = agent::parse_healing(section);
    ASSERT_TRUE(cfg) << cfg.error().message;
    auto window = [](double p50_8082) {
        std::vector<engine::EndpointWindow> w;
        for (auto [port, p50] : {std::pair<std::uint16_t, double>{8081, 0.002}, {8082, p50_8082}}) {
            engine::EndpointWindow e;
            e.service = "nginx:80";
            e.role = engine::Role::client;
            e.peer_address = "127.0.0.1";
            e.peer_port = port;
            e.count = 50;
            e.p50 = e.p99 = p50;
            w.push_back(e);
        }
        return w;
    };
    {
        agent::Healing healing(cfg.value(), store_.get(), post(), 2);
        healing.evaluate({}, {}, window(0.002), 1, 1000);
        healing.evaluate({}, {}, window(0.3), 1, 1001);
        drain(healing);
        EXPECT_EQ(read(file), "server 127.0.0.1:8081 weight=100; server 127.0.0.1:8082 weight=6; # 6");
        auto rows = store_->actions("", 10);
        ASSERT_TRUE(rows);
        ASSERT_EQ(rows.value().size(), 1u);
        const auto& r = rows.value()[0];
        EXPECT_EQ(r.verdict, "applied");
        EXPECT_EQ(r.rule, "load_balancing");
        EXPECT_EQ(r.service, "nginx:80");
        EXPECT_NE(r.reason.find("127.0.0.1:8082 weight 6 (score 0.065, EMA latency 155.0 ms, 100.00 % ok)"),
                  std::string::npos) << r.reason;
        EXPECT_EQ(nlohmann::json::parse(r.detail)["decision"]["action"]["vars"]["latency_ms.127.0.0.1_8082"], "155.0");
        healing.save_state(1002);
    }
    agent::Healing again(cfg.value(), store_.get(), post(), 2);
    again.load_state();
    // :8081 slower than :8082 now: a big change, but the restored cooldown holds it back.
    std::vector<engine::EndpointWindow> slow_8081 = window(0.002);
    slow_8081[0].p50 = 1.0;
    slow_8081.pop_back();
    again.evaluate({}, {}, slow_8081, 1, 1003);
    drain(again);
    EXPECT_EQ(read(file), "server 127.0.0.1:8081 weight=100; server 127.0.0.1:8082 weight=6; # 6");
    auto rows = store_->actions("", 10);
    ASSERT_TRUE(rows);
    EXPECT_EQ(rows.value().size(), 1u);
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
