// SIGHUP's plan: what a changed file applies now, what only a restart applies.
#include <gtest/gtest.h>

#include <algorithm>

#include "agent/reload.h"

namespace homeostat::agent {
namespace {

bool has(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

Config running() {
    Config c;
    c.cgroup2_root = "/sys/fs/cgroup/unified"; // found at start
    c.alerting.instance = "host-a";            // filled in at start
    return c;
}

TEST(Reload, SameFileChangesNothing) {
    auto p = plan_reload(running(), Config{});
    EXPECT_TRUE(p.applied.empty());
    EXPECT_TRUE(p.needs_restart.empty());
    EXPECT_EQ(p.next.cgroup2_root, "/sys/fs/cgroup/unified");
    EXPECT_EQ(p.next.alerting.instance, "host-a");
}

TEST(Reload, LiveKeysApplyRestartKeysKeepTheRunningValue) {
    Config file;
    file.log_level = "debug";
    file.detection.warmup = 7;
    file.history_retention_seconds = 7200;
    file.otlp_endpoint = "http://127.0.0.1:4318";
    ReceiverConfig r;
    r.name = "am";
    r.type = "alertmanager";
    r.url = "http://127.0.0.1:9093";
    file.alerting.receivers.push_back(r);
    file.listen = "127.0.0.1:9999";
    file.window = std::chrono::seconds(5);
    file.ringbuf_bytes = 1u << 20;
    auto p = plan_reload(running(), file);
    for (const char* k : {"log_level", "detection", "history_retention", "otlp", "alerting"})
        EXPECT_TRUE(has(p.applied, k)) << k;
    for (const char* k : {"listen", "aggregation.window", "capture.ringbuf_bytes"})
        EXPECT_TRUE(has(p.needs_restart, k)) << k;
    EXPECT_EQ(p.next.log_level, "debug");
    EXPECT_EQ(p.next.detection.warmup, 7u);
    EXPECT_EQ(p.next.alerting.receivers.size(), 1u);
    EXPECT_EQ(p.next.listen, Config{}.listen); // kept
    EXPECT_EQ(p.next.window, Config{}.window);
    EXPECT_EQ(p.next.ringbuf_bytes, Config{}.ringbuf_bytes);
}

TEST(Reload, ExplicitCgroupRootThatDiffersNeedsARestart) {
    Config file;
    file.cgroup2_root = "/elsewhere";
    auto p = plan_reload(running(), file);
    EXPECT_TRUE(has(p.needs_restart, "capture.cgroup2_root"));
    EXPECT_EQ(p.next.cgroup2_root, "/sys/fs/cgroup/unified");
}

TEST(Reload, ReceiverSecretChangeIsAnAlertingChange) {
    Config a = running();
    ReceiverConfig r;
    r.name = "hook";
    r.type = "webhook";
    r.url = "http://127.0.0.1:1/";
    a.alerting.receivers.push_back(r);
    Config file = a;
    file.alerting.instance = "";
    file.alerting.receivers[0].secret = "new";
    auto p = plan_reload(a, file);
    EXPECT_TRUE(has(p.applied, "alerting"));
    EXPECT_EQ(p.next.alerting.instance, "host-a");
}

} // namespace
} // namespace homeostat::agent
