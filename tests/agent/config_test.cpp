#include "agent/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace homeostat::agent;
using namespace std::chrono_literals;

namespace {

class ConfigFile : public ::testing::Test {
protected:
    std::string write(const std::string& text) {
        path_ = std::filesystem::temp_directory_path() /
                ("homeostat-config-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".yaml");
        std::ofstream(path_) << text;
        return path_.string();
    }
    void TearDown() override { std::filesystem::remove(path_); }
    std::filesystem::path path_;
};

TEST(Duration, ParsesUnits) {
    EXPECT_EQ(parse_duration("250ms").value(), 250ms);
    EXPECT_EQ(parse_duration("10s").value(), 10s);
    EXPECT_EQ(parse_duration("5m").value(), 5min);
    EXPECT_EQ(parse_duration("1h").value(), 1h);
    EXPECT_FALSE(parse_duration("10").ok());
    EXPECT_FALSE(parse_duration("s").ok());
    EXPECT_FALSE(parse_duration("10 parsecs").ok());
    EXPECT_FALSE(parse_duration("-1s").ok());
}

TEST(Defaults, AreValid) {
    Config c;
    EXPECT_TRUE(validate(c).ok());
    EXPECT_EQ(c.listen, "127.0.0.1:9464");
}

TEST_F(ConfigFile, EmptyFileMeansDefaults) {
    auto c = load_config(write(""));
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->listen, Config{}.listen);
}

TEST_F(ConfigFile, ReadsEveryKey) {
    auto c = load_config(write("listen: 127.0.0.1:9999\n"
                               "log_level: debug\n"
                               "capture:\n"
                               "  cgroup2_root: /sys/fs/cgroup\n"
                               "  ringbuf_bytes: 1048576\n"
                               "  drain_interval: 50ms\n"
                               "aggregation:\n"
                               "  window: 5s\n"
                               "  windows_kept: 12\n"
                               "  max_routes_per_service: 50\n"));
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->listen, "127.0.0.1:9999");
    EXPECT_EQ(c->log_level, "debug");
    EXPECT_EQ(c->cgroup2_root, "/sys/fs/cgroup");
    EXPECT_EQ(c->ringbuf_bytes, 1048576u);
    EXPECT_EQ(c->drain_interval, 50ms);
    EXPECT_EQ(c->window, 5s);
    EXPECT_EQ(c->windows_kept, 12u);
    EXPECT_EQ(c->max_routes_per_service, 50u);
}

TEST_F(ConfigFile, UnknownKeyNamesFileAndLine) {
    std::string p = write("listen: 127.0.0.1:9999\naggregation:\n  window: 5s\n  windw: 3\n");
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, p + ":4:3: unknown key 'aggregation.windw'");
}

TEST_F(ConfigFile, BadValueNamesFileLineAndKey) {
    std::string p = write("capture:\n  ringbuf_bytes: lots\n");
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, p + ":2:18: capture.ringbuf_bytes: 'lots' is not a whole number");
}

TEST_F(ConfigFile, BadDuration) {
    std::string p = write("aggregation:\n  window: soon\n");
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find(p + ":2:11: aggregation.window:"), std::string::npos) << c.error().message;
}

TEST_F(ConfigFile, InvalidYamlNamesLine) {
    std::string p = write("listen: [unclosed\nlog_level: info\n");
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message.rfind(p + ":", 0), 0u) << c.error().message;
    EXPECT_NE(c.error().message.find("invalid YAML"), std::string::npos);
}

TEST_F(ConfigFile, RangeChecks) {
    auto c = load_config(write("capture:\n  ringbuf_bytes: 5000\n"));
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("power of two"), std::string::npos);
    auto d = load_config(write("log_level: loud\n"));
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().message.find("log_level must be one of"), std::string::npos);
}

TEST_F(ConfigFile, DetectionKeys) {
    auto c = load_config(write("detection:\n  enabled: false\n  warmup: 12\n  latency_min_ratio: 2.5\n"
                               "  latency_min_delta: 20ms\n  save_interval: 5m\n"));
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_FALSE(c->detection_enabled);
    EXPECT_EQ(c->detection.warmup, 12u);
    EXPECT_EQ(c->detection.latency_min_ratio, 2.5);
    EXPECT_DOUBLE_EQ(c->detection.latency_min_delta_seconds, 0.020);
    EXPECT_EQ(c->detection_save_interval, std::chrono::minutes(5));
    c = load_config(write("detection:\n  memory_trend_windows: 15\n  memory_horizon: 2m\n"));
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->detection.memory_trend_windows, 15u);
    EXPECT_DOUBLE_EQ(c->detection.memory_horizon_seconds, 120);

    std::string p = write("detection:\n  enabled: maybe\n");
    auto bad = load_config(p);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().message, p + ":2:12: detection.enabled: 'maybe' is not true or false");
    p = write("detection:\n  error_min_ratio: lots\n");
    bad = load_config(p);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().message, p + ":2:20: detection.error_min_ratio: 'lots' is not a number");
    bad = load_config(write("detection:\n  error_min_ratio: 1.5\n"));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("detection.error_min_ratio must be between 0 and 1"), std::string::npos);
    bad = load_config(write("aggregation:\n  windows_kept: 1\n"));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("windows_kept must be at least 2 while detection is enabled"),
              std::string::npos);
    EXPECT_TRUE(load_config(write("aggregation:\n  windows_kept: 1\ndetection:\n  enabled: false\n")).ok());
    bad = load_config(write("detection:\n  memory_trend_windows: 10\n"));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("memory_trend_windows must be at least 12"), std::string::npos);
    bad = load_config(write("detection:\n  memory_horizon: 0s\n"));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("detection.memory_horizon must be > 0"), std::string::npos);
}

// What `homeostat config check` must catch, each with file, line and column.
TEST_F(ConfigFile, CheckReportsEveryErrorWithLineAndColumn) {
    std::string p = write("listen: 127.0.0.1:9999\n"          // 1
                          "aggregation:\n"                    // 2
                          "  window: 5s\n"                    // 3
                          "  windw: 3\n"                      // 4: unknown key
                          "capture:\n"                        // 5
                          "  ringbuf_bytes: [1, 2]\n"         // 6: wrong type
                          "alerting:\n"                       // 7
                          "  receivers:\n"                    // 8
                          "    - type: webhook\n"             // 9: missing name
                          "      url: http://127.0.0.1:1/\n"); // 10
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, p + ":4:3: unknown key 'aggregation.windw'\n" +
                                     p + ":6:18: capture.ringbuf_bytes: expected a whole number\n" +
                                     p + ":9:7: alerting.receivers[0]: missing required key 'name'");
}

TEST_F(ConfigFile, OutOfRangePointsAtTheKey) {
    std::string p = write("log_level: info\ndetection:\n  warmup: 5\n  error_min_ratio: 1.5\n");
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, p + ":4:20: detection.error_min_ratio must be between 0 and 1");
    // Two range errors: both, each at its own line.
    p = write("capture:\n  drain_interval: 1h\nhistory_retention: 1s\n");
    c = load_config(p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, p + ":2:19: capture.drain_interval must be between 10ms and 5s\n" + p +
                                     ":3:20: history_retention must be at least 1m");
}

TEST_F(ConfigFile, BadYamlHasLineAndColumn) {
    std::string p = write("listen: 127.0.0.1:1\ncapture:\n  ringbuf_bytes: 4096\n   drain_interval: 1s\n");
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message.rfind(p + ":4:", 0), 0u) << c.error().message;
    EXPECT_NE(c.error().message.find("invalid YAML"), std::string::npos) << c.error().message;
}

TEST_F(ConfigFile, SectionMustBeMapping) {
    std::string p = write("capture: 3\n");
    auto c = load_config(p);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, p + ":1:10: 'capture' must be a mapping");
}

TEST(ConfigMissing, SaysWhichFile) {
    auto c = load_config("/nonexistent/homeostat.yaml");
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("/nonexistent/homeostat.yaml"), std::string::npos);
}

// fuzz_config found it (tests/fuzz/regressions/config/complex_key): YAML allows a list or
// a mapping as a key (`? [a, b]`), and reading it as text threw out of the loader. Now it
// is an error with its place, at the top level, in a section and in a receiver.
TEST(ConfigText, ComplexKeysAreErrorsNotExceptions) {
    for (const char* text : {"? [a, b]\n: 1\n", "detection:\n  ? {x: 1}\n  : 2\n",
                             "alerting:\n  receivers:\n    - ? [name]\n      : w\n"}) {
        homeostat::Result<Config> c = Config{};
        EXPECT_NO_THROW(c = load_config_text(text, "k.yaml")) << text;
        ASSERT_FALSE(c) << text;
        EXPECT_NE(c.error().message.find("k.yaml:"), std::string::npos) << c.error().message;
        EXPECT_NE(c.error().message.find("a key must be a plain word"), std::string::npos) << c.error().message;
    }
}

} // namespace

// The shipped, commented config file must load and equal the built-in defaults.
TEST(ShippedConfig, LoadsAndEqualsDefaults) {
    auto c = homeostat::agent::load_config(HOMEOSTAT_SOURCE_DIR "/packaging/homeostat.yaml");
    ASSERT_TRUE(c.ok()) << c.error().message;
    homeostat::agent::Config d;
    EXPECT_EQ(c->listen, d.listen);
    EXPECT_EQ(c->log_level, d.log_level);
    EXPECT_EQ(c->cgroup2_root, d.cgroup2_root);
    EXPECT_EQ(c->ringbuf_bytes, d.ringbuf_bytes);
    EXPECT_EQ(c->drain_interval, d.drain_interval);
    EXPECT_EQ(c->window, d.window);
    EXPECT_EQ(c->windows_kept, d.windows_kept);
    EXPECT_EQ(c->max_routes_per_service, d.max_routes_per_service);
    EXPECT_EQ(c->state_dir, d.state_dir);
    EXPECT_EQ(c->detection_enabled, d.detection_enabled);
    EXPECT_EQ(c->detection.warmup, d.detection.warmup);
    EXPECT_EQ(c->detection.min_requests, d.detection.min_requests);
    EXPECT_EQ(c->detection.latency_min_ratio, d.detection.latency_min_ratio);
    EXPECT_EQ(c->detection.latency_min_delta_seconds, d.detection.latency_min_delta_seconds);
    EXPECT_EQ(c->detection.error_min_ratio, d.detection.error_min_ratio);
    EXPECT_EQ(c->detection.error_min_requests, d.detection.error_min_requests);
    EXPECT_EQ(c->detection.error_min_errors, d.detection.error_min_errors);
    EXPECT_EQ(c->detection.traffic_min_ratio, d.detection.traffic_min_ratio);
    EXPECT_EQ(c->detection.traffic_min_requests, d.detection.traffic_min_requests);
    EXPECT_EQ(c->detection.new_endpoint_hold, d.detection.new_endpoint_hold);
    EXPECT_EQ(c->detection.memory_trend_windows, d.detection.memory_trend_windows);
    EXPECT_EQ(c->detection.memory_horizon_seconds, d.detection.memory_horizon_seconds);
    EXPECT_EQ(c->detection.max_series, d.detection.max_series);
    EXPECT_EQ(c->detection_save_interval, d.detection_save_interval);
    EXPECT_EQ(c->api_token_file, d.api_token_file);
    EXPECT_EQ(c->history_retention_seconds, d.history_retention_seconds);
    EXPECT_EQ(c->otlp_endpoint, d.otlp_endpoint);
    EXPECT_EQ(c->otlp_interval, d.otlp_interval);
    EXPECT_TRUE(c->alerting.receivers.empty());
    EXPECT_EQ(c->alerting.instance, d.alerting.instance);
    EXPECT_EQ(c->alerting.resend_interval_seconds, d.alerting.resend_interval_seconds);
    EXPECT_EQ(c->alerting.retry.base_seconds, d.alerting.retry.base_seconds);
    EXPECT_EQ(c->alerting.retry.max_seconds, d.alerting.retry.max_seconds);
    EXPECT_EQ(c->alerting.retry.max_age_seconds, d.alerting.retry.max_age_seconds);
}
