#include "cli/report.h"

#include <gtest/gtest.h>

namespace homeostat::cli {
namespace {

using nlohmann::json;

json endpoint(const std::string& route, double total, json status, double p99 = -1) {
    double errors = 0;
    for (const auto& [code, n] : status.items())
        if (code >= "500") errors += n.get<double>();
    json recent = p99 < 0 ? json(nullptr)
                          : json{{"requests", total}, {"window_seconds", 60}, {"rate", total / 60},
                                 {"p50", p99 / 10}, {"p95", p99 / 2}, {"p99", p99}};
    return {{"service", "api"}, {"role", "server"}, {"method", "GET"}, {"route", route},
            {"requests_total", total}, {"errors_total", errors}, {"status", status}, {"recent", recent}};
}

json service(const std::string& name, double cores, json quota, double rss, json limit) {
    return {{"service", name},
            {"cpu", {{"usage_cores", cores}}},
            {"memory", {{"resident_bytes", rss}}},
            {"limits", {{"cpu_quota_cores", quota}, {"memory_limit_bytes", limit}}}};
}

std::vector<Finding> of_kind(const Report& r, const std::string& kind) {
    std::vector<Finding> out;
    for (const auto& f : r.findings)
        if (f.kind == kind) out.push_back(f);
    return out;
}

// The seed's pattern: scrapes and health checks dominate, a few favicon 404s, one slow route.
ReportInput usage_pattern() {
    ReportInput in;
    in.endpoints = {{"endpoints",
                     {endpoint("/metrics", 620, {{"200", 620}}), endpoint("/health", 180, {{"200", 180}}),
                      endpoint("/users/{id}", 196, {{"200", 190}, {"500", 4}, {"503", 2}}, 1.2),
                      endpoint("/favicon.ico", 4, {{"404", 4}})}}};
    in.services = {{"services", json::array()}};
    return in;
}

TEST(Report, MetricsScrapingDominatesWithTheScrapeIntervalAdvice) {
    const auto r = analyze_usage(usage_pattern());
    EXPECT_EQ(r.traffic_source, "since daemon start");
    EXPECT_EQ(r.total_requests, 1000);
    ASSERT_FALSE(r.traffic.empty());
    EXPECT_EQ(r.traffic[0].endpoint, "GET /metrics");
    EXPECT_DOUBLE_EQ(r.traffic[0].share, 0.62);
    EXPECT_TRUE(r.traffic[0].monitoring);
    const auto dom = of_kind(r, "dominant_endpoint");
    ASSERT_EQ(dom.size(), 1u); // /health is 18 %: under the 30 % share
    EXPECT_EQ(dom[0].endpoint, "GET /metrics");
    EXPECT_EQ(dom[0].severity, "warning");
    EXPECT_EQ(dom[0].summary, "GET /metrics is 62 % of api's requests (620)");
    EXPECT_NE(dom[0].recommendation.find("scrape_interval 15s → 60s"), std::string::npos);
    // The overhead total is not repeated once a monitoring route was called out.
    EXPECT_TRUE(of_kind(r, "monitoring_overhead").empty());
}

TEST(Report, HealthChecksTogetherAreOverheadEvenWhenNoneDominates) {
    ReportInput in;
    in.endpoints = {{"endpoints",
                     {endpoint("/healthz", 150, {{"200", 150}}), endpoint("/ready", 100, {{"200", 100}}),
                      endpoint("/a", 250, {{"200", 250}}), endpoint("/b", 250, {{"200", 250}}),
                      endpoint("/c", 250, {{"200", 250}})}}};
    const auto r = analyze_usage(in);
    const auto over = of_kind(r, "monitoring_overhead");
    ASSERT_EQ(over.size(), 1u);
    EXPECT_DOUBLE_EQ(over[0].value, 0.25);
    EXPECT_NE(over[0].summary.find("GET /healthz, GET /ready"), std::string::npos) << over[0].summary;
    EXPECT_TRUE(of_kind(r, "dominant_endpoint").empty()); // 25 % each < 30 %
}

TEST(Report, DominantShareEdgeIsInclusive) {
    ReportInput in;
    in.endpoints = {{"endpoints", {endpoint("/a", 30, {{"200", 30}}), endpoint("/b", 70, {{"200", 70}})}}};
    ReportThresholds t;
    t.dominant_share = 0.3;
    EXPECT_EQ(of_kind(analyze_usage(in, t), "dominant_endpoint").size(), 2u);
    t.dominant_share = 0.3001;
    const auto dom = of_kind(analyze_usage(in, t), "dominant_endpoint");
    ASSERT_EQ(dom.size(), 1u);
    EXPECT_EQ(dom[0].endpoint, "GET /b");
    EXPECT_EQ(dom[0].severity, "info"); // an application route: advice, not a warning
    EXPECT_NE(dom[0].recommendation.find("cache"), std::string::npos);
}

TEST(Report, ASingleRouteServiceIsNotDominatedByIt) {
    ReportInput in;
    in.endpoints = {{"endpoints", {endpoint("/work", 500, {{"200", 500}})}}};
    const auto r = analyze_usage(in);
    ASSERT_EQ(r.traffic.size(), 1u);
    EXPECT_DOUBLE_EQ(r.traffic[0].share, 1.0);
    EXPECT_TRUE(r.findings.empty());
}

TEST(Report, NotFoundAndServerErrorsWithTheirCodes) {
    const auto r = analyze_usage(usage_pattern());
    const auto nf = of_kind(r, "not_found");
    ASSERT_EQ(nf.size(), 1u);
    EXPECT_EQ(nf[0].endpoint, "GET /favicon.ico");
    EXPECT_EQ(nf[0].value, 4);
    EXPECT_EQ(nf[0].severity, "info"); // 0.4 % of api's requests < 1 %
    EXPECT_NE(nf[0].recommendation.find("favicon"), std::string::npos);
    const auto err = of_kind(r, "server_errors");
    ASSERT_EQ(err.size(), 1u);
    EXPECT_EQ(err[0].endpoint, "GET /users/{id}");
    EXPECT_NE(err[0].summary.find("6 of 196"), std::string::npos) << err[0].summary;
    EXPECT_NE(err[0].summary.find("500: 4, 503: 2"), std::string::npos) << err[0].summary;
    EXPECT_EQ(err[0].severity, "warning"); // 3.1 %: over 1 %, under 5 %
}

TEST(Report, A404OnlyRouteSaysNothingServesIt) {
    ReportInput in;
    in.endpoints = {{"endpoints", {endpoint("/old", 50, {{"404", 50}}), endpoint("/a", 50, {{"200", 50}})}}};
    const auto nf = of_kind(analyze_usage(in), "not_found");
    ASSERT_EQ(nf.size(), 1u);
    EXPECT_EQ(nf[0].severity, "warning"); // half of the service's requests
    EXPECT_NE(nf[0].recommendation.find("nothing serves this route"), std::string::npos);
}

TEST(Report, ErrorRatioEdges) {
    ReportInput in;
    in.endpoints = {{"endpoints", {endpoint("/x", 100, {{"200", 95}, {"500", 5}})}}};
    ReportThresholds t;
    EXPECT_EQ(of_kind(analyze_usage(in, t), "server_errors")[0].severity, "critical"); // 5 % == critical
    t.error_critical = 0.0501;
    EXPECT_EQ(of_kind(analyze_usage(in, t), "server_errors")[0].severity, "warning");
    t.error_warning = 0.0501;
    EXPECT_EQ(of_kind(analyze_usage(in, t), "server_errors")[0].severity, "info");
}

TEST(Report, SlowEndpointFromTheRecentQuantilesWithATimeout) {
    const auto r = analyze_usage(usage_pattern());
    ASSERT_EQ(r.slowest.size(), 1u);
    EXPECT_EQ(r.slowest[0].endpoint, "GET /users/{id}");
    const auto slow = of_kind(r, "slow_endpoint");
    ASSERT_EQ(slow.size(), 1u);
    EXPECT_EQ(slow[0].severity, "critical"); // 1.2 s >= 1 s
    EXPECT_EQ(slow[0].summary, "GET /users/{id} on api: p99 1.20s (p95 600ms)");
    EXPECT_NE(slow[0].recommendation.find("set a timeout of 1.8 s upstream"), std::string::npos);
}

TEST(Report, HistoryRollupsOverrideTotalsAndGiveTheWorstWindow) {
    ReportInput in = usage_pattern();
    auto rollup = [](const std::string& ep, double n, double p95, double p99) {
        return json{{"service", "api"}, {"role", "server"}, {"endpoint", ep}, {"requests", n},
                    {"errors", 0}, {"p50", 0.001}, {"p95", p95}, {"p99", p99}};
    };
    in.history = {{"rollups",
                   {rollup("GET /users/{id}", 40, 0.1, 0.3), rollup("GET /users/{id}", 60, 0.2, 0.7),
                    rollup("GET /users/{id}", 0, 9, 9), // an empty window says nothing
                    rollup("GET /metrics", 100, 0.001, 0.002),
                    {{"service", "api"}, {"role", "client"}, {"endpoint", "GET http://x:1/y"}, {"requests", 900}}}}};
    const auto r = analyze_usage(in);
    EXPECT_EQ(r.traffic_source, "history");
    EXPECT_EQ(r.total_requests, 200);
    ASSERT_EQ(r.traffic.size(), 2u);
    EXPECT_EQ(r.traffic[0].requests, 100);
    EXPECT_DOUBLE_EQ(r.traffic[0].share, 0.5);
    ASSERT_EQ(r.slowest.size(), 2u);
    EXPECT_EQ(r.slowest[0].endpoint, "GET /users/{id}");
    // The still-open windows (endpoints document: p99 1.2 s) are worse than any rollup.
    EXPECT_DOUBLE_EQ(r.slowest[0].p99, 1.2);
    EXPECT_DOUBLE_EQ(r.slowest[0].p95, 0.6);
    EXPECT_EQ(r.slowest[1].endpoint, "GET /metrics");
    EXPECT_DOUBLE_EQ(r.slowest[1].p99, 0.002);
    // Without recent figures, the worst rollup window: 0.7 s, a warning.
    for (auto& e : in.endpoints["endpoints"]) e["recent"] = nullptr;
    const auto r2 = analyze_usage(in);
    ASSERT_EQ(r2.slowest.size(), 2u);
    EXPECT_DOUBLE_EQ(r2.slowest[0].p99, 0.7);
    EXPECT_DOUBLE_EQ(r2.slowest[0].p95, 0.2);
    const auto slow = of_kind(r2, "slow_endpoint");
    ASSERT_EQ(slow.size(), 1u);
    EXPECT_EQ(slow[0].severity, "warning"); // 0.7 s: over 0.5 s, under 1 s
    // Routes with no rollup in the period are not in the traffic list.
    for (const auto& u : r2.traffic) EXPECT_NE(u.endpoint, "GET /health");
}

TEST(Report, CpuAgainstQuotaOrHostAtTheEdges) {
    ReportInput in;
    in.services = {{"services",
                    {service("at-warning", 0.7, 1.0, 0, nullptr), service("under", 0.6999, 1.0, 0, nullptr),
                     service("at-critical", 1.8, 2.0, 0, nullptr), service("no-quota", 1.5, nullptr, 0, nullptr)}}};
    in.host_cpus = 2;
    const auto cpu = of_kind(analyze_usage(in), "cpu");
    ASSERT_EQ(cpu.size(), 3u);
    std::map<std::string, Finding> by;
    for (const auto& f : cpu) by[f.service] = f;
    EXPECT_EQ(by["at-critical"].severity, "critical");
    EXPECT_EQ(by["at-critical"].summary, "at-critical at 90 % of its CPU quota (1.80 of 2.00 cores)");
    EXPECT_NE(by["at-critical"].recommendation.find("raise cpu.max"), std::string::npos);
    EXPECT_EQ(by["at-warning"].severity, "warning");
    EXPECT_EQ(by["no-quota"].severity, "warning"); // 75 % of 2 host CPUs
    EXPECT_NE(by["no-quota"].summary.find("of the host's CPUs"), std::string::npos);
    EXPECT_FALSE(by.contains("under"));
    in.host_cpus = 0; // unknown host size: no finding for the service without a quota
    EXPECT_EQ(of_kind(analyze_usage(in), "cpu").size(), 2u);
}

TEST(Report, MemoryAgainstTheLimitWithConfigurableThresholds) {
    ReportInput in;
    const double mib = 1024 * 1024;
    in.services = {{"services",
                    {service("a", 0, nullptr, 95 * mib, 100 * mib), service("b", 0, nullptr, 80 * mib, 100 * mib),
                     service("c", 0, nullptr, 79 * mib, 100 * mib), service("nolimit", 0, nullptr, 900 * mib, nullptr)}}};
    auto mem = of_kind(analyze_usage(in), "memory");
    ASSERT_EQ(mem.size(), 2u);
    EXPECT_EQ(mem[0].service, "a"); // critical sorts first
    EXPECT_EQ(mem[0].severity, "critical");
    EXPECT_EQ(mem[0].summary, "a at 95 % of its memory limit (95.0M of 100.0M)");
    EXPECT_EQ(mem[1].service, "b");
    EXPECT_EQ(mem[1].severity, "warning");
    ReportThresholds t;
    t.memory_warning = 0.5;
    t.memory_critical = 0.96;
    mem = of_kind(analyze_usage(in, t), "memory");
    ASSERT_EQ(mem.size(), 3u);
    for (const auto& f : mem) EXPECT_EQ(f.severity, "warning");
}

TEST(Report, JsonAndTextCarryTheFindings) {
    const auto r = analyze_usage(usage_pattern());
    const auto j = to_json(r);
    EXPECT_EQ(j["traffic"][0]["endpoint"], "GET /metrics");
    EXPECT_EQ(j["findings"].size(), r.findings.size());
    EXPECT_EQ(j["findings"][0]["severity"], "critical");
    const auto text = report_text(r);
    EXPECT_NE(text.find("usage report: 1000 requests over the daemon's lifetime"), std::string::npos) << text;
    EXPECT_NE(text.find("[warning] GET /metrics is 62 % of api's requests (620)"), std::string::npos) << text;
    EXPECT_NE(text.find("monitoring"), std::string::npos);
}

TEST(Report, NothingSeenIsAnEmptyReport) {
    const auto r = analyze_usage(ReportInput{});
    EXPECT_TRUE(r.findings.empty());
    EXPECT_NE(report_text(r).find("nothing stands out"), std::string::npos);
}

TEST(Report, MonitoringRoutes) {
    for (const char* r : {"/metrics", "/health", "/healthz", "/ready", "/status", "/readyz", "/livez"})
        EXPECT_TRUE(is_monitoring_route(r)) << r;
    for (const char* r : {"/users/{id}", "/metricsfoo", "/", "/api/status/{id}"}) EXPECT_FALSE(is_monitoring_route(r)) << r;
}

} // namespace
} // namespace homeostat::cli
