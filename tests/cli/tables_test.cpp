#include "cli/tables.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/endpoints.h"
#include "cli/recommendations.h"
#include "cli/top.h"

namespace homeostat::cli {
namespace {

TEST(Table, AlignsColumnsAndCutsLongCells) {
    Table t({{"NAME", false, 6}, {"N", true}});
    t.add({"a", "1"});
    t.add({"verylongname", "1234"});
    EXPECT_EQ(t.render(), "NAME       N\n"
                          "a          1\n"
                          "veryl~  1234\n");
}

TEST(Recommendations, TableOfLimitsWithUsageNowAndWhereMemoryComesFrom) {
    EXPECT_EQ(recommendations_table(nlohmann::json::array()), "");
    const auto recs = nlohmann::json::parse(R"([
      {"service": "api.service", "cpu_cores": 0.6, "memory_bytes": 272629760, "samples": 12,
       "memory_from": "oom_floor", "current": {"cpu_cores": 0.5, "memory_bytes": 104857600, "oom_kills": 1}},
      {"service": "web", "cpu_cores": 0.1, "memory_bytes": 67108864, "samples": 3, "memory_from": "histogram"}])");
    EXPECT_EQ(recommendations_table(recs),
              "SERVICE       CPU  CPU NOW  MEMORY  MEMORY NOW  FROM       SAMPLES  OOM\n"
              "api.service  0.60     0.50  260.0M      100.0M  oom floor       12    1\n"
              "web          0.10        -   64.0M           -  usage            3    -\n");
}

TEST(Table, MissingCellsAreBlankAndNoTrailingSpaces) {
    Table t({{"A"}, {"B"}});
    t.add({"x"});
    EXPECT_EQ(t.render(), "A  B\nx\n");
}

TEST(Formats, RatesLatenciesPercentSizesCounts) {
    EXPECT_EQ(format_rate(0.05), "0.05/s");
    EXPECT_EQ(format_rate(2.34), "2.3/s");
    EXPECT_EQ(format_rate(42.4), "42/s");
    EXPECT_EQ(format_rate(1500), "1.5k/s");
    EXPECT_EQ(format_seconds(-1), "-");
    EXPECT_EQ(format_seconds(0.000850), "850us");
    EXPECT_EQ(format_seconds(0.0123), "12.3ms");
    EXPECT_EQ(format_seconds(0.25), "250ms");
    EXPECT_EQ(format_seconds(1.2), "1.20s");
    EXPECT_EQ(format_percent(0.0734), "7.3%");
    EXPECT_EQ(format_bytes(512), "512B");
    EXPECT_EQ(format_bytes(12.5 * 1024 * 1024), "12.5M");
    EXPECT_EQ(format_count(9999), "9999");
    EXPECT_EQ(format_count(12345), "12.3k");
    EXPECT_EQ(format_count(4.5e6), "4.5M");
}

TEST(Formats, Durations) {
    EXPECT_EQ(parse_duration("90"), 90);
    EXPECT_EQ(parse_duration("2s"), 2);
    EXPECT_EQ(parse_duration("250ms"), 0.25);
    EXPECT_EQ(parse_duration("2m"), 120);
    EXPECT_EQ(parse_duration("1.5h"), 5400);
    EXPECT_EQ(parse_duration("1d"), 86400);
    EXPECT_FALSE(parse_duration(""));
    EXPECT_FALSE(parse_duration("h"));
    EXPECT_FALSE(parse_duration("5x"));
    EXPECT_FALSE(parse_duration("-1s"));
}

nlohmann::json endpoints_doc() {
    return nlohmann::json::parse(R"({"endpoints": [
      {"service": "api", "role": "server", "method": "GET", "route": "/users/{id}", "requests_total": 100,
       "errors_total": 5, "status": {"200": 80, "404": 15, "500": 5},
       "recent": {"requests": 30, "window_seconds": 60, "rate": 0.5, "p50": 0.01, "p95": 0.2, "p99": 1.2}},
      {"service": "api", "role": "server", "method": "GET", "route": "/healthz", "requests_total": 300,
       "errors_total": 0, "status": {"200": 300},
       "recent": {"requests": 120, "window_seconds": 60, "rate": 2, "p50": 0.0005, "p95": 0.001, "p99": 0.002}},
      {"service": "web", "role": "client", "method": "POST", "route": "/login", "peer": "127.0.0.1:80",
       "requests_total": 4, "errors_total": 0, "status": {"200": 4}, "recent": null}]})");
}

TEST(EndpointsTable, BusiestFirstWithErrorsAnd404s) {
    const auto rows = endpoint_rows(endpoints_doc());
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0].route, "/healthz");
    EXPECT_EQ(rows[1].route, "/users/{id}");
    EXPECT_EQ(rows[1].not_found_total, 15);
    EXPECT_EQ(endpoints_table(rows),
              "SERVICE  ROLE    METHOD  ROUTE                   REQUESTS    RATE  ERR%  404     P50    P95    P99\n"
              "api      server  GET     /healthz                     300   2.0/s  0.0%    0   500us  1.0ms  2.0ms\n"
              "api      server  GET     /users/{id}                  100  0.50/s  5.0%   15  10.0ms  200ms  1.20s\n"
              "web      client  POST    /login -> 127.0.0.1:80         4  0.00/s  0.0%    0       -      -      -\n");
}

TEST(EndpointsTable, FiltersByServiceAndLimitsRows) {
    EXPECT_EQ(endpoint_rows(endpoints_doc(), "web").size(), 1u);
    EXPECT_TRUE(endpoint_rows(endpoints_doc(), "nope").empty());
    EXPECT_TRUE(endpoint_rows(nlohmann::json::object()).empty());
    const auto text = endpoints_table(endpoint_rows(endpoints_doc()), 1);
    EXPECT_NE(text.find("/healthz"), std::string::npos);
    EXPECT_EQ(text.find("/users"), std::string::npos);
}

TEST(TopFrame, HeaderRatesServicesAndEndpoints) {
    TopDocuments prev, now;
    prev.status = {{"version", "1.2"}, {"events", {{"http_exchange", 100}}}, {"dropped", {{"ringbuf_full", 1}}}};
    now.status = {{"version", "1.2"}, {"uptime_seconds", 42}, {"programs_attached", 3},
                  {"events", {{"http_exchange", 120}}}, {"dropped", {{"ringbuf_full", 3}, {"undecodable", 0}}}};
    now.services = nlohmann::json::parse(R"({"services": [{"service": "api", "processes": [{"pid": 1}],
        "cpu": {"usage_cores": 0.5, "quota_utilisation": 0.25}, "memory": {"resident_bytes": 1048576,
        "limit_utilisation": null}, "http": {"requests": 400, "errors": 5}}]})");
    now.endpoints = endpoints_doc();
    const auto frame = top_frame(now, &prev, 2.0);
    EXPECT_NE(frame.find("homeostatd 1.2, up 42 s, 3 programs attached"), std::string::npos) << frame;
    EXPECT_NE(frame.find("events: 120 HTTP exchanges, 10/s   dropped: 3 (+2)"), std::string::npos) << frame;
    // api: 2.5/s from its two server endpoints, 5 of 400 errors, worst p99 1.2 s, 25 % of its quota.
    EXPECT_NE(frame.find("api          1  2.5/s  1.2%  1.20s  0.50  25.0%  1.0M     -"), std::string::npos) << frame;
    EXPECT_NE(frame.find("/users/{id}"), std::string::npos);
    // Busiest services first; the rest summed up.
    now.services["services"].push_back({{"service", "idle"}, {"cpu", {{"usage_cores", 0.0}}}});
    now.services["services"].push_back({{"service", "busy-cpu"}, {"cpu", {{"usage_cores", 1.5}}}});
    const auto two = top_frame(now, &prev, 2.0, 2);
    EXPECT_LT(two.find("api "), two.find("busy-cpu"));
    EXPECT_EQ(two.find("idle"), std::string::npos);
    EXPECT_NE(two.find("... 1 quieter services"), std::string::npos) << two;
    // First frame: no previous documents, no rate yet.
    EXPECT_NE(top_frame(now, nullptr, 0).find("events: 120 HTTP exchanges, -"), std::string::npos);
}

} // namespace
} // namespace homeostat::cli
