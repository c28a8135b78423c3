// LiveMonitor on synthetic windows: each anomaly type opens when it should, within the
// delay the issue asks for (2 windows), resolves, and stays quiet on steady traffic and
// on effects too small to matter; state survives save/load.
#include "engine/detect/live_monitor.h"

#include <gtest/gtest.h>

#include <random>

namespace homeostat::engine::detect {
namespace {

EndpointWindow endpoint(const std::string& route, std::uint64_t count, double p95, std::uint64_t errors = 0,
                        const std::string& service = "api") {
    EndpointWindow e;
    e.service = service;
    e.role = Role::server;
    e.method = "GET";
    e.route = route;
    e.count = count;
    e.errors = errors;
    e.p50 = p95 * 0.6;
    e.p95 = p95;
    e.p99 = p95 * 1.2;
    return e;
}

// Feeds windows one at a time, like the daemon: window w ends at 1000 + 10 (w + 1) s.
class Feeder {
public:
    explicit Feeder(LiveMonitor& m) : m_(m) {}
    std::vector<Anomaly> feed(std::vector<EndpointWindow> eps) {
        WindowInput in;
        in.window = w_;
        in.window_seconds = 10;
        in.end_unix = 1000 + 10.0 * static_cast<double>(w_ + 1);
        in.endpoints = &eps;
        ++w_;
        auto c = m_.observe(in);
        all_.insert(all_.end(), c.begin(), c.end());
        return c;
    }
    std::int64_t window() const { return w_; }
    const std::vector<Anomaly>& all() const { return all_; }

private:
    LiveMonitor& m_;
    std::int64_t w_ = 0;
    std::vector<Anomaly> all_;
};

LiveConfig test_config() {
    LiveConfig c;
    c.warmup = 20;
    return c;
}

// p95 around 5 ms with 4 % noise, 100 requests, no errors.
struct Steady {
    std::mt19937 rng{42};
    std::normal_distribution<double> noise{0, 0.04};
    std::poisson_distribution<int> count{100};
    EndpointWindow next(const std::string& route = "/work") {
        return endpoint(route, static_cast<std::uint64_t>(count(rng)), 0.005 * (1 + noise(rng)));
    }
};

std::size_t count_type(const std::vector<Anomaly>& v, const std::string& type, bool open) {
    std::size_t n = 0;
    for (const auto& a : v) n += a.type == type && a.open == open;
    return n;
}

TEST(LiveMonitor, SteadyTrafficRaisesNothing) {
    LiveMonitor m(test_config());
    Feeder f(m);
    Steady s;
    for (int i = 0; i < 500; ++i) f.feed({s.next(), s.next("/other")});
    ASSERT_TRUE(f.all().empty()) << to_json(f.all().front()).dump(2);
    EXPECT_TRUE(m.anomalies().empty());
    auto scores = m.scores();
    ASSERT_EQ(scores.size(), 5u); // 2 endpoints x (latency, errors) + the service's rate
    for (const auto& sc : scores) {
        EXPECT_TRUE(sc.warm);
        EXPECT_LT(sc.score, 0.8) << sc.endpoint << " " << sc.signal;
    }
}

TEST(LiveMonitor, LatencySpikeOpensWithinTwoWindowsAndResolves) {
    LiveMonitor m(test_config());
    Feeder f(m);
    Steady s;
    for (int i = 0; i < 40; ++i) f.feed({s.next()});
    std::int64_t opened_at = -1;
    for (int i = 0; i < 2 && opened_at < 0; ++i) {
        auto e = s.next();
        e.p95 = 0.200;
        e.p99 = 0.210;
        for (const auto& a : f.feed({e}))
            if (a.type == "latency_spike" && a.open) opened_at = i;
    }
    ASSERT_GE(opened_at, 0) << "no latency_spike within 2 windows";
    auto open = m.anomalies();
    ASSERT_EQ(open.size(), 1u);
    const Anomaly& a = open[0];
    EXPECT_EQ(a.service, "api");
    EXPECT_EQ(a.endpoint, "GET /work");
    EXPECT_EQ(a.signal, "latency_p95");
    EXPECT_TRUE(a.open);
    // The evidence at opening is the first anomalous window against the baseline before it.
    EXPECT_NEAR(a.at_open.observed, 0.200, 1e-9);
    EXPECT_NEAR(a.at_open.expected, 0.005, 0.0005);
    EXPECT_LT(a.at_open.upper, 0.007);
    EXPECT_NEAR(a.at_open.p99, 0.210, 1e-9);
    EXPECT_GE(a.at_open.detectors.size(), 2u);
    EXPECT_NEAR(a.evidence.observed, 0.200, 1e-9);
    EXPECT_GE(a.started_at, 1000 + 10.0 * 40);
    EXPECT_LE(a.started_at, a.opened_at);
    // Back to normal: resolves after close_points (5) calm windows, and only once.
    for (int i = 0; i < 10; ++i) f.feed({s.next()});
    EXPECT_EQ(count_type(f.all(), "latency_spike", true), 1u);
    EXPECT_EQ(count_type(f.all(), "latency_spike", false), 1u);
    auto after = m.anomalies();
    ASSERT_EQ(after.size(), 1u);
    EXPECT_FALSE(after[0].open);
    EXPECT_GT(after[0].resolved_at, after[0].opened_at);
}

TEST(LiveMonitor, SmallLatencyChangeIsNotAnAnomaly) {
    LiveMonitor m(test_config());
    Feeder f(m);
    for (int i = 0; i < 40; ++i) f.feed({endpoint("/work", 100, 0.005 + 1e-6 * (i % 3))});
    // +20 %, +1 ms: many sigmas on such a flat series, but not worth an alert.
    for (int i = 0; i < 10; ++i) f.feed({endpoint("/work", 100, 0.006)});
    EXPECT_EQ(count_type(f.all(), "latency_spike", true), 0u);
}

TEST(LiveMonitor, ErrorSurgeNeedsVolumeAndRatio) {
    LiveMonitor m(test_config());
    Feeder f(m);
    Steady s;
    for (int i = 0; i < 40; ++i) f.feed({s.next()});
    // One stray 500 is not a surge.
    auto blip = s.next();
    blip.errors = 1;
    f.feed({blip});
    for (int i = 0; i < 3; ++i) f.feed({s.next()});
    EXPECT_EQ(count_type(f.all(), "error_surge", true), 0u);
    // 30 % errors: opens within 2 windows.
    bool opened = false;
    for (int i = 0; i < 2 && !opened; ++i) {
        auto e = s.next();
        e.errors = e.count * 3 / 10;
        for (const auto& a : f.feed({e})) opened |= a.type == "error_surge" && a.open;
    }
    ASSERT_TRUE(opened);
    auto a = m.anomalies().at(0);
    EXPECT_EQ(a.signal, "error_ratio");
    EXPECT_NEAR(a.at_open.observed, 0.3, 0.02);
    EXPECT_LT(a.at_open.expected, 0.01);
    EXPECT_EQ(a.at_open.detectors, std::vector<std::string>{"poisson"});
}

TEST(LiveMonitor, TrafficShiftBothWays) {
    LiveMonitor m(test_config());
    Feeder f(m);
    Steady s;
    for (int i = 0; i < 40; ++i) f.feed({s.next()});
    for (int i = 0; i < 3; ++i) {
        auto e = s.next();
        e.count *= 4;
        f.feed({e});
    }
    ASSERT_EQ(count_type(f.all(), "traffic_shift", true), 1u);
    const auto a = m.anomalies().at(0);
    EXPECT_EQ(a.endpoint, "*");
    EXPECT_EQ(a.signal, "request_rate");
    EXPECT_GT(a.at_open.observed, 300);
    EXPECT_NEAR(a.at_open.expected, 100, 20);
    // A 10 % change is not a shift.
    LiveMonitor m2(test_config());
    Feeder f2(m2);
    Steady s2;
    for (int i = 0; i < 40; ++i) f2.feed({s2.next()});
    for (int i = 0; i < 10; ++i) {
        auto e = s2.next();
        e.count = e.count * 11 / 10;
        f2.feed({e});
    }
    EXPECT_EQ(count_type(f2.all(), "traffic_shift", true), 0u);
}

TEST(LiveMonitor, NewEndpointOnlyAfterWarmup) {
    LiveConfig c = test_config();
    c.new_endpoint_hold = 3;
    LiveMonitor m(c);
    Feeder f(m);
    Steady s;
    f.feed({s.next()});
    f.feed({s.next(), s.next("/early")}); // still learning the service: not "new"
    for (int i = 0; i < 30; ++i) f.feed({s.next()});
    EXPECT_TRUE(f.all().empty());
    auto c1 = f.feed({s.next(), s.next("/admin/debug")});
    ASSERT_EQ(c1.size(), 1u);
    EXPECT_EQ(c1[0].type, "new_endpoint");
    EXPECT_EQ(c1[0].endpoint, "GET /admin/debug");
    EXPECT_EQ(c1[0].severity, Severity::warning);
    // It survives a save/load like any other anomaly.
    LiveMonitor copy(c);
    copy.load(m.save());
    ASSERT_EQ(copy.anomalies().size(), 1u);
    EXPECT_TRUE(c1[0].open);
    // The overflow bucket of the route cap is not an endpoint.
    EXPECT_TRUE(f.feed({s.next(), s.next("{overflow}")}).empty());
    f.feed({s.next()});
    auto c2 = f.feed({s.next()});
    ASSERT_EQ(c2.size(), 1u);
    EXPECT_EQ(c2[0].type, "new_endpoint");
    EXPECT_FALSE(c2[0].open);
}

TEST(LiveMonitor, ClientEndpointsNameTheirUpstream) {
    LiveMonitor m(test_config());
    Feeder f(m);
    Steady s;
    auto client = [&](double p95) {
        auto e = s.next("/v1/items");
        e.role = Role::client;
        e.service = "nginx";
        e.peer_address = "10.1.2.3";
        e.peer_port = 8080;
        e.p95 = p95;
        return e;
    };
    for (int i = 0; i < 40; ++i) f.feed({client(0.005 * (1 + 0.04 * (i % 5)))});
    f.feed({client(0.3)});
    f.feed({client(0.3)});
    auto list = m.anomalies();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].endpoint, "GET http://10.1.2.3:8080/v1/items");
    EXPECT_EQ(list[0].role, Role::client);
    EXPECT_EQ(list[0].service, "nginx");
}

TEST(LiveMonitor, OpenAnomalyResolvesWhenTrafficStops) {
    LiveMonitor m(test_config());
    Feeder f(m);
    Steady s;
    for (int i = 0; i < 40; ++i) f.feed({s.next(), s.next("/b")});
    for (int i = 0; i < 2; ++i) {
        auto e = s.next();
        e.p95 = 0.5;
        f.feed({e, s.next("/b")});
    }
    ASSERT_EQ(count_type(f.all(), "latency_spike", true), 1u);
    for (int i = 0; i < 5; ++i) f.feed({s.next("/b")}); // /work silent
    EXPECT_EQ(count_type(f.all(), "latency_spike", false), 1u);
}

TEST(LiveMonitor, SaveLoadKeepsBaselinesAndOpenAnomalies) {
    LiveMonitor a(test_config()), b(test_config());
    Feeder fa(a);
    Steady s;
    for (int i = 0; i < 40; ++i) fa.feed({s.next(), s.next("/b")});
    auto e = s.next();
    e.p95 = 0.3;
    fa.feed({e, s.next("/b")});
    fa.feed({e, s.next("/b")});
    ASSERT_EQ(a.anomalies().size(), 1u);

    const std::string saved = a.save().dump();
    b.load(nlohmann::json::parse(saved));
    EXPECT_TRUE(b.save().dump() == saved);
    EXPECT_EQ(b.last_window(), a.last_window());
    ASSERT_EQ(b.anomalies().size(), 1u);
    EXPECT_TRUE(b.anomalies()[0].open);

    // Both see the same future and say the same things.
    std::vector<EndpointWindow> next = {s.next(), s.next("/b")};
    WindowInput in{a.last_window() + 1, 10, 2000, &next};
    auto ca = a.observe(in), cb = b.observe(in);
    ASSERT_EQ(ca.size(), cb.size());
    EXPECT_TRUE(a.save().dump() == b.save().dump());
    auto sa = a.scores(), sb = b.scores();
    ASSERT_EQ(sa.size(), sb.size());
    for (std::size_t i = 0; i < sa.size(); ++i) EXPECT_EQ(sa[i].score, sb[i].score);
}

TEST(LiveMonitor, BadStateIsRejectedAndChangesNothing) {
    LiveMonitor m(test_config());
    Feeder f(m);
    Steady s;
    for (int i = 0; i < 5; ++i) f.feed({s.next()});
    const std::string before = m.save().dump();
    auto doc = m.save();
    doc["format"] = 99;
    EXPECT_THROW(m.load(doc), std::invalid_argument);
    doc = m.save();
    doc["endpoints"][0].erase("latency");
    EXPECT_ANY_THROW(m.load(doc));
    EXPECT_TRUE(m.save().dump() == before);
}

TEST(LiveMonitor, SeriesAreCapped) {
    LiveConfig c = test_config();
    c.max_series = 10;
    LiveMonitor m(c);
    Feeder f(m);
    std::vector<EndpointWindow> many;
    for (int i = 0; i < 50; ++i) many.push_back(endpoint("/r" + std::to_string(i), 50, 0.01));
    f.feed(many);
    EXPECT_LE(m.series_count(), 10u);
    EXPECT_GT(m.series_overflowed(), 0u);
}

TEST(LiveMonitor, OldOrRepeatedWindowsAreIgnored) {
    LiveMonitor m(test_config());
    std::vector<EndpointWindow> eps = {endpoint("/work", 100, 0.005)};
    EXPECT_TRUE(m.observe({5, 10, 1060, &eps}).empty());
    const auto saved = m.save().dump();
    m.observe({5, 10, 1060, &eps});
    m.observe({3, 10, 1040, &eps});
    EXPECT_TRUE(m.save().dump() == saved);
}

TEST(LiveMonitor, RestartedClockKeepsBaselines) {
    LiveMonitor m(test_config());
    Feeder f(m);
    Steady s;
    for (int i = 0; i < 40; ++i) f.feed({s.next()});
    m.restart_clock(-1); // as after a reboot: the next window is 0 again
    std::vector<EndpointWindow> spike = {s.next()};
    spike[0].p95 = 0.4;
    EXPECT_TRUE(m.observe({0, 10, 5000, &spike}).empty());
    auto c = m.observe({1, 10, 5010, &spike});
    ASSERT_EQ(c.size(), 1u); // warm at once: the baselines were kept
    EXPECT_EQ(c[0].type, "latency_spike");
    EXPECT_NEAR(c[0].at_open.expected, 0.005, 0.0005);
}

// Resource windows for one service, fed like the daemon does.
class ResourceFeeder {
public:
    explicit ResourceFeeder(LiveMonitor& m) : m_(m) {}
    std::vector<Anomaly> feed(ServiceWindow r) {
        r.service = "batch.service";
        std::vector<ServiceWindow> rs = {r};
        std::vector<EndpointWindow> none;
        WindowInput in{w_, 10, 1000 + 10.0 * static_cast<double>(w_ + 1), &none, &rs};
        ++w_;
        auto c = m_.observe(in);
        all.insert(all.end(), c.begin(), c.end());
        return c;
    }
    std::vector<Anomaly> all;

private:
    LiveMonitor& m_;
    std::int64_t w_ = 0;
};

ServiceWindow cpu(double used, double limit) {
    ServiceWindow r;
    r.cpu_cores = used;
    r.cpu_limit_cores = limit;
    return r;
}

TEST(LiveMonitor, CpuSaturationAfterThreeWindowsAtTheQuota) {
    LiveMonitor m(test_config());
    ResourceFeeder f(m);
    for (int i = 0; i < 10; ++i) f.feed(cpu(0.5, 2.0));
    f.feed(cpu(1.95, 2.0)); // one busy window is not saturation
    f.feed(cpu(0.5, 2.0));
    EXPECT_TRUE(f.all.empty());
    f.feed(cpu(1.85, 2.0));
    f.feed(cpu(1.9, 2.0));
    EXPECT_TRUE(f.all.empty());
    auto c = f.feed(cpu(1.99, 2.0));
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].type, "cpu_saturation");
    EXPECT_EQ(c[0].signal, "cpu");
    EXPECT_EQ(c[0].service, "batch.service");
    EXPECT_DOUBLE_EQ(c[0].evidence.limit, 2.0);
    EXPECT_DOUBLE_EQ(c[0].evidence.observed, 1.99);
    EXPECT_EQ(m.anomalies()[0].severity, Severity::critical);
    for (int i = 0; i < 5; ++i) f.feed(cpu(0.5, 2.0));
    EXPECT_EQ(count_type(f.all, "cpu_saturation", false), 1u);
}

TEST(LiveMonitor, MemoryGrowthPredictsTheLimit) {
    LiveMonitor m(test_config());
    ResourceFeeder f(m);
    const double limit = 1e9;
    // 400 MB growing 1 MB per 10 s window (0.1 MB/s): the limit in 6000 s, beyond the hour.
    double rss = 400e6;
    for (int i = 0; i < 40; ++i, rss += 1e6) {
        ServiceWindow r;
        r.memory_bytes = rss + (i % 3) * 50e3;
        r.memory_limit_bytes = limit;
        f.feed(r);
    }
    EXPECT_TRUE(f.all.empty());
    // Now 10 MB per window: 1 MB/s, the remaining ~560 MB in under 10 minutes.
    for (int i = 0; i < 20 && f.all.empty(); ++i, rss += 10e6) {
        ServiceWindow r;
        r.memory_bytes = rss;
        r.memory_limit_bytes = limit;
        f.feed(r);
    }
    ASSERT_EQ(count_type(f.all, "memory_growth", true), 1u);
    const Anomaly& a = f.all[0];
    EXPECT_EQ(a.signal, "memory");
    EXPECT_DOUBLE_EQ(a.at_open.limit, limit);
    EXPECT_GT(a.at_open.seconds_to_exhaustion, 0);
    EXPECT_LT(a.at_open.seconds_to_exhaustion, 3600);
    // A flat, noisy series without growth never alerts, even close to its limit.
    LiveMonitor m2(test_config());
    ResourceFeeder f2(m2);
    std::mt19937 rng(7);
    std::normal_distribution<double> noise(0, 5e6);
    for (int i = 0; i < 200; ++i) {
        ServiceWindow r;
        r.memory_bytes = 900e6 + noise(rng);
        r.memory_limit_bytes = limit;
        f2.feed(r);
    }
    EXPECT_TRUE(f2.all.empty());
}

// After a restart the old trend is the dead process's: the anomaly resolves at once and
// no prediction is made until the new process has enough points of its own.
TEST(LiveMonitor, MemoryTrendStartsOverAfterARestartOrASharpDrop) {
    for (const bool by_restart : {true, false}) {
        SCOPED_TRACE(by_restart ? "restart" : "sharp drop");
        LiveMonitor m(test_config());
        ResourceFeeder f(m);
        const double limit = 1e9;
        double rss = 400e6;
        for (int i = 0; i < 40 && f.all.empty(); ++i, rss += 10e6) {
            ServiceWindow r;
            r.memory_bytes = rss;
            r.memory_limit_bytes = limit;
            f.feed(r);
        }
        ASSERT_EQ(count_type(f.all, "memory_growth", true), 1u);
        ASSERT_EQ(m.anomalies().size(), 1u);
        // The process restarts (a restart counted, or only its memory back at 150 MB, flat).
        ServiceWindow r;
        r.memory_bytes = by_restart ? rss * 0.8 : 150e6;
        r.memory_limit_bytes = limit;
        r.restarts = by_restart ? 1 : 0;
        f.feed(r);
        EXPECT_EQ(count_type(f.all, "memory_growth", false), 1u) << "resolved in the window of the restart";
        for (const auto& a : m.anomalies()) EXPECT_FALSE(a.open) << a.type;
        for (int i = 0; i < 30; ++i) {
            ServiceWindow flat;
            flat.memory_bytes = r.memory_bytes + (i % 3) * 50e3;
            flat.memory_limit_bytes = limit;
            f.feed(flat);
        }
        EXPECT_EQ(count_type(f.all, "memory_growth", true), 1u) << "no stale prediction reopens it";
    }
}

TEST(LiveMonitor, OomKillOpensAtOnceAndResolvesAfterTheHold) {
    LiveConfig c = test_config();
    c.oom_hold = 3;
    LiveMonitor m(c);
    ResourceFeeder f(m);
    ServiceWindow quiet;
    f.feed(quiet);
    ServiceWindow killed;
    killed.oom_kills = 1;
    killed.memory_limit_bytes = 64e6;
    auto opened = f.feed(killed);
    ASSERT_EQ(opened.size(), 1u);
    EXPECT_EQ(opened[0].type, "oom_kill");
    EXPECT_EQ(opened[0].severity, Severity::critical);
    EXPECT_DOUBLE_EQ(opened[0].at_open.observed, 1);
    EXPECT_DOUBLE_EQ(opened[0].at_open.limit, 64e6);
    f.feed(killed); // a second kill extends the same episode
    EXPECT_EQ(count_type(f.all, "oom_kill", true), 1u);
    EXPECT_DOUBLE_EQ(m.anomalies()[0].evidence.observed, 2);
    f.feed(quiet);
    f.feed(quiet);
    EXPECT_EQ(count_type(f.all, "oom_kill", false), 0u);
    f.feed(quiet);
    EXPECT_EQ(count_type(f.all, "oom_kill", false), 1u);
}

TEST(LiveMonitor, RestartLoop) {
    LiveConfig c = test_config();
    c.restart_loop_restarts = 3;
    c.restart_loop_windows = 6;
    LiveMonitor m(c);
    ResourceFeeder f(m);
    ServiceWindow one;
    one.restarts = 1;
    ServiceWindow none;
    f.feed(one);
    for (int i = 0; i < 6; ++i) f.feed(none);
    f.feed(one); // two restarts, 7 windows apart: not a loop
    EXPECT_TRUE(f.all.empty());
    f.feed(none);
    f.feed(one);
    f.feed(one);
    ASSERT_EQ(count_type(f.all, "restart_loop", true), 1u);
    EXPECT_EQ(f.all[0].at_open.observed, 3);
    for (int i = 0; i < 5; ++i) f.feed(none);
    EXPECT_EQ(count_type(f.all, "restart_loop", false), 0u);
    f.feed(none); // six quiet windows
    EXPECT_EQ(count_type(f.all, "restart_loop", false), 1u);
}

TEST(LiveMonitor, ResourceStateSurvivesSaveLoad) {
    LiveMonitor a(test_config()), b(test_config());
    ResourceFeeder fa(a);
    for (int i = 0; i < 20; ++i) {
        ServiceWindow r = cpu(1.95, 2.0);
        r.memory_bytes = 1e8 + 1e6 * i;
        r.memory_limit_bytes = 2e8;
        r.restarts = i % 10 == 0;
        fa.feed(r);
    }
    b.load(a.save());
    EXPECT_TRUE(b.save().dump() == a.save().dump());
}

TEST(LiveMonitor, RejectsBadConfig) {
    LiveConfig c;
    c.latency_min_ratio = 0.5;
    EXPECT_THROW(LiveMonitor{c}, std::invalid_argument);
    c = {};
    c.hysteresis.close_threshold = 0.9;
    EXPECT_THROW(LiveMonitor{c}, std::invalid_argument);
    c = {};
    c.max_series = 0;
    EXPECT_THROW(LiveMonitor{c}, std::invalid_argument);
}

} // namespace
} // namespace homeostat::engine::detect
