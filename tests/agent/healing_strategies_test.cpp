// The strategies inside Healing, on a cgroup tree in a temporary directory: windows of
// usage become recommendations (and an OOM kill raises the memory one), the Q-learning
// allocator's weight changes go through the planner (dry-run plans, applied writes, the
// audit log with rule "qlearning"), priorities order the weights, and both survive a restart.
#include "agent/healing.h"

#include "tests/agent/healing_loop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace {

using namespace homeostat;
namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kMiB = 1048576;

std::string read(const fs::path& p) { return agent::testing::first_line(p); }

class StrategiesTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("strategies_test_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        for (const char* svc : {"web", "batch"}) {
            fs::create_directories(dir_ / "cpu" / svc);
            std::ofstream(dir_ / "cpu" / svc / "cpu.shares") << "1024\n";
        }
        fs::create_directories(dir_ / "memory" / "api.service");
        std::ofstream(dir_ / "memory" / "api.service" / "memory.soft_limit_in_bytes") << "9223372036854771712\n";
        std::ofstream(dir_ / "memory" / "api.service" / "memory.limit_in_bytes") << "9223372036854771712\n";
        open_store();
    }
    void TearDown() override {
        store_.reset();
        fs::remove_all(dir_);
    }
    void open_store() {
        store_.reset();
        auto s = agent::Store::open(dir_ / "homeostat.db");
        ASSERT_TRUE(s) << s.error().message;
        store_ = std::move(s.value());
    }
    void drain(agent::Healing& h) { loop_.drain(h); }
    agent::Healing::Post post() { return loop_.post(); }
    agent::HealingConfig config(const json& section) {
        auto c = agent::parse_healing(section);
        EXPECT_TRUE(c) << c.error().message;
        return c ? c.value() : agent::HealingConfig{};
    }
    // A service in its own v1 cpu cgroup beneath dir_/cpu, its weight read from the file
    // as agent/cgroup_limits does.
    exporters::ServiceHealth cpu_service(const std::string& name, double cores) {
        exporters::ServiceHealth h;
        h.service = name;
        h.processes.push_back({.pid = 100, .comm = name, .cpu_seconds = 1, .rss_bytes = 10 << 20, .main = true});
        h.cpu_usage_cores = cores;
        h.resident_memory_bytes = 10 << 20;
        h.cgroup.dirs["cpu"] = (dir_ / "cpu" / name).string();
        h.cgroup.cpu_weight = std::stod(read(dir_ / "cpu" / name / "cpu.shares")) * 100 / 1024;
        return h;
    }
    std::vector<agent::ActionRecord> actions(const std::string& rule) {
        auto rows = store_->actions("", 1000);
        EXPECT_TRUE(rows);
        std::vector<agent::ActionRecord> out;
        for (const auto& r : rows.value())
            if (r.rule == rule) out.push_back(r);
        return out;
    }

    fs::path dir_;
    std::unique_ptr<agent::Store> store_;
    agent::testing::PostedQueue loop_;
};

std::vector<engine::EndpointWindow> web_window(double p99) {
    engine::EndpointWindow e;
    e.service = "web";
    e.role = engine::Role::server;
    e.count = 100;
    e.p99 = p99;
    return {e};
}

// api.service in its own memory cgroup (its usage is the cgroup's), 100 MiB and 0.5 cores.
exporters::ServiceHealth api(double memory, std::uint64_t oom_kills = 0, bool live = true) {
    exporters::ServiceHealth h;
    h.service = "api.service";
    if (live) h.processes.push_back({.pid = 7, .comm = "api", .cpu_seconds = 1, .rss_bytes = 50 << 20, .main = true});
    h.cpu_usage_cores = live ? 0.5 : 0;
    h.resident_memory_bytes = live ? 50 << 20 : 0;
    h.oom_kills = oom_kills;
    if (live) {
        h.cgroup.memory_path = "/test/api.service";
        h.cgroup.memory_usage_bytes = static_cast<std::uint64_t>(memory);
        h.cgroup.memory_limit_bytes = 160 << 20;
    }
    return h;
}

TEST_F(StrategiesTest, WindowsOfUsageBecomeRecommendationsAndAnOomKillRaisesTheMemoryOne) {
    agent::Healing healing(config({{"recommender", {{"min_samples", 3}, {"half_life", "1h"}}}}), store_.get(), post(),
                           2);
    double now = 1000;
    // A service sharing its cgroup: the resident memory of its processes is its usage.
    exporters::ServiceHealth shared;
    shared.service = "tool";
    shared.processes.push_back({.pid = 9, .comm = "tool", .cpu_seconds = 1, .rss_bytes = 200 << 20, .main = true});
    shared.resident_memory_bytes = 200 << 20;
    shared.cpu_usage_cores = 0.1;
    shared.cgroup.v2_path = "/user.slice";
    shared.cgroup.memory_usage_bytes = 5ull << 30; // the whole session's
    for (int i = 0; i < 2; ++i) healing.evaluate({}, {api(100 * kMiB), shared}, {}, 1, now += 1);
    EXPECT_TRUE(healing.strategies().recommendations(now).empty()) << "fewer than min_samples";
    healing.evaluate({}, {api(100 * kMiB), shared}, {}, 1, now += 1);
    json recs = healing.strategies().recommendations(now);
    ASSERT_EQ(recs.size(), 2u) << recs.dump();
    const json& a = recs[0];
    EXPECT_EQ(a["service"], "api.service");
    EXPECT_EQ(a["samples"], 3);
    EXPECT_EQ(a["memory_from"], "histogram");
    EXPECT_EQ(a["current"]["memory_source"], "cgroup");
    // p90 + 15 %: the upper bound of the sample's bucket (5 % wide) × 1.15.
    EXPECT_GE(a["memory_bytes"].get<double>(), 100 * kMiB * 1.15);
    EXPECT_LE(a["memory_bytes"].get<double>(), 100 * kMiB * 1.15 * 1.05);
    EXPECT_GE(a["cpu_cores"].get<double>(), 0.5 * 1.15);
    EXPECT_LE(a["cpu_cores"].get<double>(), 0.5 * 1.15 * 1.05);
    EXPECT_EQ(recs[1]["service"], "tool");
    EXPECT_EQ(recs[1]["current"]["memory_source"], "rss");
    EXPECT_LE(recs[1]["memory_bytes"].get<double>(), 200 * kMiB * 1.15 * 1.05);

    const std::string metrics = healing.strategies().prometheus(now);
    EXPECT_NE(metrics.find("# TYPE homeostat_recommended_memory_bytes gauge"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("homeostat_recommended_memory_bytes{service=\"api.service\"} "), std::string::npos);
    EXPECT_NE(metrics.find("homeostat_recommended_cpu_cores{service=\"tool\"} "), std::string::npos);

    // The kernel kills it at its 160 MiB limit; its processes are gone, the count stays.
    healing.evaluate({}, {api(160 * kMiB)}, {}, 1, now += 1);
    healing.evaluate({}, {api(0, 1, false)}, {}, 1, now += 1);
    recs = healing.strategies().recommendations(now);
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(recs[0]["memory_from"], "oom_floor");
    EXPECT_DOUBLE_EQ(recs[0]["memory_bytes"].get<double>(), 160 * kMiB + 100 * kMiB); // max(×1.2, +100 MiB)
    EXPECT_EQ(recs[0]["current"]["oom_kills"], 1);
    EXPECT_EQ(healing.status()["strategies"]["recommender"]["oom_bumps"], 1);
    // The same count again is no new kill.
    healing.evaluate({}, {api(0, 1, false)}, {}, 1, now += 1);
    EXPECT_EQ(healing.status()["strategies"]["recommender"]["oom_bumps"], 1);

    // Saved with the healing state: a restarted daemon recommends the same.
    healing.save_state(now);
    agent::Healing again(config({{"recommender", {{"min_samples", 3}, {"half_life", "1h"}}}}), store_.get(), post(),
                         2);
    again.load_state();
    const json restored = again.strategies().recommendations(now);
    ASSERT_EQ(restored.size(), 2u);
    EXPECT_EQ(restored[0]["memory_bytes"], recs[0]["memory_bytes"]);
    EXPECT_EQ(restored[0]["memory_from"], "oom_floor");
    EXPECT_EQ(restored[1]["memory_bytes"], recs[1]["memory_bytes"]);
    EXPECT_FALSE(restored[0].contains("current")) << "not seen since the restart";
}

TEST_F(StrategiesTest, AppliedRecommendationsAreLimitActionsThroughThePlanner) {
    agent::Healing healing(config({{"guardrails", {{"dry_run", false}}},
                                   {"recommender", {{"min_samples", 3}, {"apply", true}, {"apply_cpu_as", "none"}}},
                                   {"cgroups", {{"allow", {(dir_ / "memory").string()}}}}}),
                           store_.get(), post(), 2);
    auto h = api(100 * kMiB);
    h.cgroup.dirs["memory"] = (dir_ / "memory" / "api.service").string();
    double now = 1000;
    for (int i = 0; i < 3; ++i) {
        healing.evaluate({}, {h}, {}, 1, now += 1);
        drain(healing);
    }
    auto rows = actions("recommender");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].verdict, "applied") << rows[0].summary;
    EXPECT_EQ(rows[0].kind, "memory_high");
    EXPECT_NE(rows[0].reason.find("memory_high of api.service none → "), std::string::npos) << rows[0].reason;
    const double written = std::stod(read(dir_ / "memory" / "api.service" / "memory.soft_limit_in_bytes"));
    EXPECT_GE(written, 100 * kMiB * 1.15 - 4096);
    EXPECT_LE(written, 100 * kMiB * 1.15 * 1.05 + 4096);
    // The limit is now in place and the recommendation within min_change of it: nothing more,
    // not even a refusal by the cooldown in the audit log.
    h.cgroup.memory_high_bytes = static_cast<std::uint64_t>(written);
    for (int i = 0; i < 3; ++i) {
        healing.evaluate({}, {h}, {}, 1, now += 1);
        drain(healing);
    }
    EXPECT_EQ(actions("recommender").size(), 1u);
}

json qlearning_section(bool dry_run, const fs::path& allow) {
    return {{"guardrails", {{"dry_run", dry_run}, {"max_actions_per_service_per_hour", 100}}},
            {"priorities", {{"web", "high"}, {"batch", "low"}}},
            {"rules", json::array()},
            {"recommender", {{"enabled", false}}},
            {"cpu_sharing",
             {{"strategy", "qlearning"}, {"epsilon", 0}, {"latency_target", "100ms"}, {"cooldown", 0}}},
            {"cgroups", {{"allow", {allow.string()}}}}};
}

TEST_F(StrategiesTest, QlearningInDryRunPlansThroughThePlannerAndChangesNothing) {
    agent::Healing healing(config(qlearning_section(true, dir_ / "cpu")), store_.get(), post(), 2);
    double now = 1000;
    // web is far over its 100 ms target: the shared reward is negative, so "keep" loses
    // its appeal after the first step and the untried "lower" comes next.
    for (int i = 0; i < 3; ++i) {
        healing.evaluate({}, {cpu_service("web", 0.2), cpu_service("batch", 1.0)}, web_window(0.5), 1, now += 1);
        drain(healing);
    }
    EXPECT_EQ(read(dir_ / "cpu" / "batch" / "cpu.shares"), "1024");
    EXPECT_EQ(read(dir_ / "cpu" / "web" / "cpu.shares"), "1024");
    auto rows = actions("qlearning");
    ASSERT_FALSE(rows.empty());
    for (const auto& r : rows) {
        EXPECT_EQ(r.verdict, "dry_run") << r.summary;
        EXPECT_EQ(r.kind, "cpu_weight");
        EXPECT_NE(r.reason.find("shared reward -"), std::string::npos) << r.reason;
        EXPECT_NE(r.reason.find("; state "), std::string::npos) << r.reason;
        EXPECT_NE(r.reason.find("web p99 500.0 ms vs target 100.0 ms (high)"), std::string::npos) << r.reason;
    }
    const auto& first = rows.back(); // newest first
    EXPECT_EQ(first.service, "batch");
    EXPECT_NE(first.reason.find("lower the cpu weight of batch (low) 100 → 90"), std::string::npos) << first.reason;
    EXPECT_NE(first.summary.find((dir_ / "cpu" / "batch" / "cpu.shares").string()), std::string::npos) << first.summary;
    EXPECT_NE(first.summary.find("922"), std::string::npos) << first.summary;
    // web's own "lower" would put it below batch: held back by the priorities.
    for (const auto& r : rows) EXPECT_EQ(r.reason.find("lower the cpu weight of web"), std::string::npos) << r.reason;
    EXPECT_GE(healing.status()["strategies"]["cpu_sharing"]["held_by_priority"].get<int>(), 1);
}

TEST_F(StrategiesTest, QlearningAppliesWeightsInPriorityOrderAndKeepsItsTablesAcrossARestart) {
    auto cfg = config(qlearning_section(false, dir_ / "cpu"));
    auto healing = std::make_unique<agent::Healing>(cfg, store_.get(), post(), 2);
    double now = 1000;
    double lowest_batch = 100;
    for (int i = 0; i < 30; ++i) {
        healing->evaluate({}, {cpu_service("web", 0.2), cpu_service("batch", 1.0)}, web_window(0.5), 1, now += 1);
        drain(*healing);
        const double web = std::stod(read(dir_ / "cpu" / "web" / "cpu.shares"));
        const double batch = std::stod(read(dir_ / "cpu" / "batch" / "cpu.shares"));
        EXPECT_GE(web, batch) << "window " << i << ": the high-priority service below the low-priority one";
        lowest_batch = std::min(lowest_batch, batch * 100 / 1024);
    }
    EXPECT_LT(lowest_batch, 100) << "the allocator never lowered the low-priority service";
    auto rows = actions("qlearning");
    ASSERT_FALSE(rows.empty());
    std::size_t applied = 0;
    for (const auto& r : rows) applied += r.verdict == "applied";
    EXPECT_GE(applied, 1u);
    EXPECT_EQ(rows.back().verdict, "applied");
    EXPECT_NE(rows.back().summary.find("cpu.shares"), std::string::npos) << rows.back().summary;

    healing->save_state(now);
    const json tables = healing->strategies().allocator().save();
    healing = std::make_unique<agent::Healing>(cfg, store_.get(), post(), 2);
    healing->load_state();
    EXPECT_EQ(healing->strategies().allocator().save(), tables);
    EXPECT_EQ(healing->strategies().save()["rng"], json::parse(store_->get_document("healing_state").value())
                                                       .at("strategies")
                                                       .at("rng"));
}

TEST_F(StrategiesTest, RulesStrategyRunsNoAllocatorAndWritesNothing) {
    auto section = qlearning_section(false, dir_ / "cpu");
    section["cpu_sharing"]["strategy"] = "rules";
    agent::Healing healing(config(section), store_.get(), post(), 2);
    for (int i = 0; i < 5; ++i) {
        healing.evaluate({}, {cpu_service("web", 0.2), cpu_service("batch", 1.0)}, web_window(0.5), 1, 1000.0 + i);
        drain(healing);
    }
    EXPECT_TRUE(actions("qlearning").empty());
    EXPECT_EQ(read(dir_ / "cpu" / "batch" / "cpu.shares"), "1024");
    EXPECT_EQ(healing.status()["strategies"]["cpu_sharing"]["steps"], 0);
}

TEST_F(StrategiesTest, QlearningLeavesServicesOutsideTheAllowList) {
    agent::Healing healing(config(qlearning_section(false, dir_ / "elsewhere")), store_.get(), post(), 2);
    for (int i = 0; i < 5; ++i) {
        healing.evaluate({}, {cpu_service("web", 0.2), cpu_service("batch", 1.0)}, web_window(0.5), 1, 1000.0 + i);
        drain(healing);
    }
    EXPECT_TRUE(actions("qlearning").empty()) << "no failed entries for services it may not write";
    EXPECT_EQ(healing.status()["strategies"]["cpu_sharing"]["steps"], 0);
}

} // namespace
