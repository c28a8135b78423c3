#include "exporters/prometheus_text.h"
#include "exporters/service_health_text.h"
#include "exporters/services_json.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/exporters/metrics_page.h"

namespace homeostat::exporters {
namespace {

using engine::EndpointQuantiles;
using engine::ExchangeSeries;
using engine::Role;
using engine::Snapshot;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

// Sample lines starting with `prefix` (name plus '{' or ' '), in order.
std::vector<std::string> samples(const std::string& text, const std::string& prefix) {
    std::vector<std::string> out;
    for (auto& l : lines_of(text))
        if (l.rfind(prefix, 0) == 0) out.push_back(l);
    return out;
}

ExchangeSeries server_series(std::string service, std::string method, std::string route, std::uint16_t status,
                             std::vector<std::uint64_t> buckets, double sum,
                             std::uint64_t request_bytes = 0) {
    ExchangeSeries s;
    s.service = std::move(service);
    s.role = Role::server;
    s.method = std::move(method);
    s.route = std::move(route);
    s.status = status;
    s.latency.bucket_counts = std::move(buckets);
    for (auto c : s.latency.bucket_counts)
        s.latency.count += c;
    s.latency.sum_seconds = sum;
    s.request_bytes = request_bytes;
    return s;
}

ExchangeSeries client_series(std::string service, std::string route, std::string peer, std::uint16_t port,
                             std::vector<std::uint64_t> buckets, double sum) {
    auto s = server_series(std::move(service), "GET", std::move(route), 200, std::move(buckets), sum, 10);
    s.role = Role::client;
    s.peer_address = std::move(peer);
    s.peer_port = port;
    return s;
}

EndpointQuantiles quantiles(Role role, std::string service, std::string route, std::uint64_t count,
                            std::string peer = {}, std::uint16_t port = 0) {
    EndpointQuantiles q;
    q.role = role;
    q.service = std::move(service);
    q.method = "GET";
    q.route = std::move(route);
    q.peer_address = std::move(peer);
    q.peer_port = port;
    q.count = count;
    q.window_seconds = 60;
    q.p50 = 0.01;
    q.p90 = 0.025;
    q.p95 = 0.05;
    q.p99 = 0.125;
    return q;
}

AgentStats agent_stats() {
    AgentStats a;
    a.version = "0.1.0";
    a.git_rev = "abc1234";
    a.abi_version = 1;
    a.start_time_seconds = 1712345678.25;
    return a;
}

// Everything the renderer can see at once, including awkward label values.
Snapshot rich_snapshot() {
    Snapshot s;
    s.latency_bounds_seconds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    const std::size_t n = s.latency_bounds_seconds.size() + 1;
    auto buckets = [n](std::uint64_t seed) {
        std::vector<std::uint64_t> b(n);
        for (std::size_t i = 0; i < n; ++i)
            b[i] = (seed * (i + 3)) % 7;
        return b;
    };
    s.series.push_back(server_series("nginx.service", "GET", "/users/{id}", 200, buckets(1), 1.5, 100));
    s.series.push_back(server_series("nginx.service", "GET", "/users/{id}", 404, buckets(2), 0.25));
    s.series.push_back(server_series("nginx.service", "POST", "/users", 201, buckets(3), 3.75, 4096));
    s.series.push_back(server_series("api \"quoted\" \\ svc", "_OTHER", "/a\nb", 500, buckets(4), 0.1));
    s.series.push_back(server_series("bad\xff\xfeutf8", "GET", "/\xc0\xaf", 200, buckets(5), 0.2));
    s.series.push_back(
        server_series("nginx.service", "GET", "/empty", 200, std::vector<std::uint64_t>(n), 0));
    s.series.push_back(client_series("api.service", "/v1/items", "10.0.0.7", 8080, buckets(6), 0.5));
    s.series.push_back(client_series("api.service", "/v1/items", "::1", 443, buckets(7), 0.75));
    s.quantiles.push_back(quantiles(Role::server, "nginx.service", "/users/{id}", 40));
    s.quantiles.push_back(quantiles(Role::server, "api \"quoted\" \\ svc", "/a\nb", 3));
    s.quantiles.push_back(quantiles(Role::client, "api.service", "/v1/items", 9, "10.0.0.7", 8080));
    s.quantiles.push_back(quantiles(Role::client, "api.service", "/v1/items", 9, "::1", 443));
    s.routes_overflowed = {{"nginx.service", 12}, {"api.service", 0}};
    return s;
}

AgentStats rich_agent() {
    auto a = agent_stats();
    a.events_by_kind = {{"http_exchange", 1000}, {"listen", 4}};
    a.dropped_by_reason = {{"ringbuf_full", 3}, {"decode_error", 0}};
    a.unattributed_events = 7;
    return a;
}

TEST(PrometheusText, EmptySnapshotStillShowsAgentFamiliesAndZeroDrops) {
    const std::string text = render_prometheus(Snapshot{}, agent_stats());
    EXPECT_THAT(text, HasSubstr("homeostat_events_dropped_total{reason=\"ringbuf_full\"} 0\n"));
    EXPECT_THAT(text, HasSubstr("homeostat_events_dropped_total{reason=\"socket_storage_full\"} 0\n"));
    EXPECT_THAT(text, HasSubstr("# TYPE homeostat_events_dropped_total counter\n"));
    EXPECT_THAT(text, HasSubstr("homeostat_unattributed_events_total 0\n"));
    EXPECT_THAT(text, HasSubstr("homeostat_build_info{version=\"0.1.0\",git_rev=\"abc1234\","
                                "abi_version=\"1\"} 1\n"));
    EXPECT_THAT(text, HasSubstr("# TYPE process_start_time_seconds gauge\n"
                                "process_start_time_seconds 1712345678.25\n"));
    // Families without series are left out entirely, HELP and TYPE included.
    EXPECT_THAT(text, Not(HasSubstr("http_server_request_duration_seconds")));
    EXPECT_THAT(text, Not(HasSubstr("homeostat_events_total")));
}

TEST(PrometheusText, DropReasonsAreSummedSortedAndKeepTheKernelOnes) {
    auto a = agent_stats();
    a.dropped_by_reason = {{"ringbuf_full", 5}, {"decode_error", 0}, {"ringbuf_full", 2}};
    const auto lines = samples(render_prometheus(Snapshot{}, a), "homeostat_events_dropped_total{");
    EXPECT_EQ(lines,
              (std::vector<std::string>{"homeostat_events_dropped_total{reason=\"decode_error\"} 0",
                                        "homeostat_events_dropped_total{reason=\"ringbuf_full\"} 7",
                                        "homeostat_events_dropped_total{reason=\"socket_storage_full\"} 0"}));
}

TEST(PrometheusText, EventsByKind) {
    auto a = agent_stats();
    a.events_by_kind = {{"listen", 4}, {"exchanges", 1000}};
    a.unattributed_events = 9;
    const std::string text = render_prometheus(Snapshot{}, a);
    EXPECT_EQ(samples(text, "homeostat_events_total{"),
              (std::vector<std::string>{"homeostat_events_total{kind=\"exchanges\"} 1000",
                                        "homeostat_events_total{kind=\"listen\"} 4"}));
    EXPECT_THAT(text, HasSubstr("homeostat_unattributed_events_total 9\n"));
}

TEST(PrometheusText, LabelValuesAreEscaped) {
    Snapshot s;
    s.latency_bounds_seconds = {0.1};
    s.series.push_back(server_series("svc\\1", "GET", "/a\"b\nc", 200, {1, 0}, 0.05));
    auto a = agent_stats();
    a.version = "1.0\"x\\y\nz";
    const std::string text = render_prometheus(s, a);
    EXPECT_THAT(text, HasSubstr("http_server_request_duration_seconds_count{service=\"svc\\\\1\","
                                "http_request_method=\"GET\",http_route=\"/a\\\"b\\nc\","
                                "http_response_status_code=\"200\"} 1\n"));
    EXPECT_THAT(text, HasSubstr("version=\"1.0\\\"x\\\\y\\nz\""));
}

TEST(PrometheusText, InvalidUtf8BecomesReplacementCharacter) {
    Snapshot s;
    s.latency_bounds_seconds = {0.1};
    // Lone continuation, truncated sequence, overlong '/', surrogate; then valid "é" and "€".
    s.series.push_back(server_series("s", "GET", "\x80-\xe2\x82-\xc0\xaf-\xed\xa0\x80-\xc3\xa9\xe2\x82\xac",
                                     200, {1, 0}, 0.05));
    const std::string text = render_prometheus(s, agent_stats());
    const std::string r = "\xef\xbf\xbd";
    EXPECT_THAT(text, HasSubstr("http_route=\"" + r + "-" + r + r + "-" + r + r + "-" + r + r + r +
                                "-\xc3\xa9\xe2\x82\xac\""));
}

TEST(PrometheusText, BucketsAreCumulativeAndInfEqualsCount) {
    Snapshot s;
    s.latency_bounds_seconds = {0.005, 0.1, 1};
    s.series.push_back(server_series("svc", "GET", "/", 200, {1, 2, 3, 4}, 12.5));
    const std::string text = render_prometheus(s, agent_stats());
    const std::string l =
        "service=\"svc\",http_request_method=\"GET\",http_route=\"/\",http_response_status_code=\"200\"";
    EXPECT_EQ(
        samples(text, "http_server_request_duration_seconds"),
        (std::vector<std::string>{"http_server_request_duration_seconds_bucket{" + l + ",le=\"0.005\"} 1",
                                  "http_server_request_duration_seconds_bucket{" + l + ",le=\"0.1\"} 3",
                                  "http_server_request_duration_seconds_bucket{" + l + ",le=\"1\"} 6",
                                  "http_server_request_duration_seconds_bucket{" + l + ",le=\"+Inf\"} 10",
                                  "http_server_request_duration_seconds_sum{" + l + "} 12.5",
                                  "http_server_request_duration_seconds_count{" + l + "} 10"}));
}

TEST(PrometheusText, InfAndCountAgreeEvenWhenEngineDataDoesNot) {
    Snapshot s;
    s.latency_bounds_seconds = {0.1, 1};
    auto a = server_series("a", "GET", "/", 200, {1, 1, 1}, 1);
    a.latency.count = 5;                                           // more than the buckets hold
    auto b = server_series("b", "GET", "/", 200, {1, 1, 1, 4}, 1); // an extra (+Inf) bucket
    auto c = server_series("c", "GET", "/", 200, {2}, 1);          // too few buckets
    s.series = {a, b, c};
    const std::string text = render_prometheus(s, agent_stats());
    EXPECT_THAT(text, HasSubstr("{service=\"a\",http_request_method=\"GET\",http_route=\"/\","
                                "http_response_status_code=\"200\",le=\"+Inf\"} 5\n"));
    EXPECT_THAT(text, HasSubstr("_count{service=\"a\",http_request_method=\"GET\",http_route=\"/\","
                                "http_response_status_code=\"200\"} 5\n"));
    EXPECT_THAT(text, HasSubstr("{service=\"b\",http_request_method=\"GET\",http_route=\"/\","
                                "http_response_status_code=\"200\",le=\"+Inf\"} 7\n"));
    EXPECT_THAT(text, HasSubstr("{service=\"c\",http_request_method=\"GET\",http_route=\"/\","
                                "http_response_status_code=\"200\",le=\"1\"} 2\n"));
}

TEST(PrometheusText, BadBoundsAreSkippedAndTheirCountsMoveUp) {
    Snapshot s;
    s.latency_bounds_seconds = {0.1, 0.1, 0.05, 1, INFINITY};
    s.series.push_back(server_series("svc", "GET", "/", 200, {1, 2, 4, 8, 16, 32}, 1));
    const auto lines =
        samples(render_prometheus(s, agent_stats()), "http_server_request_duration_seconds_bucket");
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_THAT(lines[0], HasSubstr("le=\"0.1\"} 1"));
    EXPECT_THAT(lines[1], HasSubstr("le=\"1\"} 15"));
    EXPECT_THAT(lines[2], HasSubstr("le=\"+Inf\"} 63"));
}

TEST(PrometheusText, FloatsRoundTrip) {
    Snapshot s;
    s.latency_bounds_seconds = {0.00001, 0.1, 2.5};
    s.series.push_back(server_series("a", "GET", "/", 200, {1, 0, 0, 0}, 0.1 + 0.2));
    s.series.push_back(server_series("b", "GET", "/", 200, {1, 0, 0, 0}, NAN));
    const std::string text = render_prometheus(s, agent_stats());
    EXPECT_THAT(text, HasSubstr("le=\"1e-05\"} 1"));
    EXPECT_THAT(text, HasSubstr("le=\"2.5\"} 1"));
    EXPECT_THAT(text, HasSubstr("_sum{service=\"a\",http_request_method=\"GET\",http_route=\"/\","
                                "http_response_status_code=\"200\"} 0.30000000000000004\n"));
    EXPECT_THAT(text, HasSubstr("_sum{service=\"b\",http_request_method=\"GET\",http_route=\"/\","
                                "http_response_status_code=\"200\"} NaN\n"));
    EXPECT_EQ(std::strtod("0.30000000000000004", nullptr), 0.1 + 0.2);
}

TEST(PrometheusText, ClientAndServerLabels) {
    const std::string text = render_prometheus(rich_snapshot(), rich_agent());
    for (const auto& l : samples(text, "http_server_request_duration_seconds")) {
        EXPECT_THAT(l, Not(HasSubstr("server_address"))) << l;
        EXPECT_THAT(l, HasSubstr("http_response_status_code=")) << l;
    }
    EXPECT_THAT(text, HasSubstr("http_client_request_duration_seconds_count{service=\"api.service\","
                                "http_request_method=\"GET\",http_route=\"/v1/items\","
                                "http_response_status_code=\"200\",server_address=\"10.0.0.7\","
                                "server_port=\"8080\"} "));
    EXPECT_THAT(text, HasSubstr("homeostat_http_request_duration_quantile_seconds{role=\"server\","
                                "service=\"nginx.service\",http_request_method=\"GET\","
                                "http_route=\"/users/{id}\",quantile=\"0.99\"} 0.125\n"));
    EXPECT_THAT(text, HasSubstr("homeostat_http_request_duration_quantile_seconds{role=\"client\","
                                "service=\"api.service\",http_request_method=\"GET\","
                                "http_route=\"/v1/items\",server_address=\"::1\","
                                "server_port=\"443\",quantile=\"0.5\"} 0.01\n"));
    for (const auto& l : samples(text, "homeostat_http_request_duration_quantile_seconds{role=\"server\""))
        EXPECT_THAT(l, Not(HasSubstr("server_"))) << l;
}

TEST(PrometheusText, QuantilesHaveFourLinesAndSkipIdleEndpoints) {
    Snapshot s;
    s.quantiles.push_back(quantiles(Role::server, "svc", "/busy", 10));
    s.quantiles.push_back(quantiles(Role::server, "svc", "/idle", 0));
    const auto lines =
        samples(render_prometheus(s, agent_stats()), "homeostat_http_request_duration_quantile_seconds{");
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_THAT(lines[0], HasSubstr("quantile=\"0.5\"} 0.01"));
    EXPECT_THAT(lines[1], HasSubstr("quantile=\"0.9\"} 0.025"));
    EXPECT_THAT(lines[2], HasSubstr("quantile=\"0.95\"} 0.05"));
    EXPECT_THAT(lines[3], HasSubstr("quantile=\"0.99\"} 0.125"));
    for (const auto& l : lines)
        EXPECT_THAT(l, Not(HasSubstr("/idle")));
}

TEST(PrometheusText, HelpMentionsRecentWindowsAndSketchError) {
    Snapshot s;
    s.quantiles.push_back(quantiles(Role::server, "svc", "/", 10));
    const std::string text = render_prometheus(s, agent_stats());
    const auto help = samples(text, "# HELP homeostat_http_request_duration_quantile_seconds ");
    ASSERT_EQ(help.size(), 1u);
    EXPECT_THAT(help[0], HasSubstr("recent"));
    EXPECT_THAT(help[0], HasSubstr("1% relative error"));
}

TEST(PrometheusText, RequestBytesAreSummedPerEndpointAndRole) {
    Snapshot s;
    s.latency_bounds_seconds = {0.1};
    s.series.push_back(server_series("svc", "POST", "/u", 201, {1, 0}, 0.01, 100));
    s.series.push_back(server_series("svc", "POST", "/u", 400, {1, 0}, 0.01, 20));
    auto c = client_series("svc", "/u", "10.0.0.1", 80, {1, 0}, 0.01);
    c.method = "POST";
    c.request_bytes = 5;
    s.series.push_back(c);
    EXPECT_EQ(
        samples(render_prometheus(s, agent_stats()), "homeostat_http_request_size_bytes_total"),
        (std::vector<std::string>{"homeostat_http_request_size_bytes_total{role=\"server\",service=\"svc\","
                                  "http_request_method=\"POST\",http_route=\"/u\"} 120",
                                  "homeostat_http_request_size_bytes_total{role=\"client\",service=\"svc\","
                                  "http_request_method=\"POST\",http_route=\"/u\"} 5"}));
}

TEST(PrometheusText, RoutesOverflowedByService) {
    Snapshot s;
    s.routes_overflowed = {{"b", 2}, {"a", 1}, {"b", 3}};
    EXPECT_EQ(samples(render_prometheus(s, agent_stats()), "homeostat_http_routes_overflowed_total"),
              (std::vector<std::string>{"homeostat_http_routes_overflowed_total{service=\"a\"} 1",
                                        "homeostat_http_routes_overflowed_total{service=\"b\"} 5"}));
}

TEST(PrometheusText, SeriesWithEqualExposedLabelsAreMerged) {
    Snapshot s;
    s.latency_bounds_seconds = {0.1};
    auto a = server_series("svc", "GET", "/", 200, {1, 2}, 1);
    auto b = a;
    a.peer_address = "10.0.0.1"; // server series do not expose the peer
    b.peer_address = "10.0.0.2";
    s.series = {a, b};
    const std::string text = render_prometheus(s, agent_stats());
    EXPECT_EQ(samples(text, "http_server_request_duration_seconds_count").size(), 1u);
    EXPECT_THAT(text, HasSubstr("http_server_request_duration_seconds_count{service=\"svc\","
                                "http_request_method=\"GET\",http_route=\"/\","
                                "http_response_status_code=\"200\"} 6\n"));
}

TEST(PrometheusText, OutputIsDeterministic) {
    auto snap = rich_snapshot();
    const std::string first = render_prometheus(snap, rich_agent());
    std::reverse(snap.series.begin(), snap.series.end());
    std::reverse(snap.quantiles.begin(), snap.quantiles.end());
    std::reverse(snap.routes_overflowed.begin(), snap.routes_overflowed.end());
    auto agent = rich_agent();
    std::reverse(agent.events_by_kind.begin(), agent.events_by_kind.end());
    std::reverse(agent.dropped_by_reason.begin(), agent.dropped_by_reason.end());
    EXPECT_EQ(render_prometheus(snap, agent), first);
}

DetectionStats rich_detection() {
    DetectionStats d;
    d.scores = {{"api", "GET /users/{id}", "latency_p95", 0.93, true},
                {"api", "GET /users/{id}", "error_ratio", 0, true},
                {"api", "*", "request_rate", 0.25, true},
                {"web", "GET http://10.0.0.5:8080/q\"x", "latency_p95", 0.5, true}};
    d.types = {"latency_spike", "error_surge", "traffic_shift", "new_endpoint"};
    d.open_by_type = {{"latency_spike", 1}, {"latency_spike", 1}, {"oom_kill", 1}};
    return d;
}

TEST(PrometheusText, AnomalyScoresAndOpenCounts) {
    const auto d = rich_detection();
    const std::string text = render_prometheus(rich_snapshot(), rich_agent(), &d);
    EXPECT_THAT(text, HasSubstr("# TYPE homeostat_anomaly_score gauge\n"));
    EXPECT_THAT(text, HasSubstr(
        "homeostat_anomaly_score{service=\"api\",endpoint=\"GET /users/{id}\",signal=\"latency_p95\"} 0.93\n"));
    EXPECT_THAT(text, HasSubstr("homeostat_anomaly_score{service=\"api\",endpoint=\"*\",signal=\"request_rate\"} 0.25\n"));
    EXPECT_THAT(text, HasSubstr("endpoint=\"GET http://10.0.0.5:8080/q\\\"x\""));
    // Every known type, zeros included; duplicates summed; unknown open types kept.
    EXPECT_THAT(text, HasSubstr("homeostat_anomalies_open{type=\"latency_spike\"} 2\n"));
    EXPECT_THAT(text, HasSubstr("homeostat_anomalies_open{type=\"error_surge\"} 0\n"));
    EXPECT_THAT(text, HasSubstr("homeostat_anomalies_open{type=\"new_endpoint\"} 0\n"));
    EXPECT_THAT(text, HasSubstr("homeostat_anomalies_open{type=\"oom_kill\"} 1\n"));
    // Without detection, neither family.
    EXPECT_THAT(render_prometheus(rich_snapshot(), rich_agent()), Not(HasSubstr("homeostat_anomal")));
}

// Every sample belongs to the family declared just before it; each family is declared
// once with HELP then TYPE, and families do not interleave.
TEST(PrometheusText, OneHelpAndTypePerFamilyAndNoInterleaving) {
    const auto d = rich_detection();
    const std::string text = render_prometheus(rich_snapshot(), rich_agent(), &d);
    std::map<std::string, int> help, type;
    std::map<std::string, std::string> types;
    std::string current;
    std::string current_type;
    for (const auto& line : lines_of(text)) {
        ASSERT_FALSE(line.empty());
        if (line.rfind("# HELP ", 0) == 0) {
            current = line.substr(7, line.find(' ', 7) - 7);
            ++help[current];
            continue;
        }
        if (line.rfind("# TYPE ", 0) == 0) {
            const auto name = line.substr(7, line.find(' ', 7) - 7);
            ASSERT_EQ(name, current) << "TYPE must follow its HELP";
            current_type = line.substr(line.rfind(' ') + 1);
            types[name] = current_type;
            ++type[name];
            continue;
        }
        ASSERT_NE(line[0], '#') << line;
        const std::string name = line.substr(0, line.find_first_of("{ "));
        std::string family = name;
        if (current_type == "histogram") {
            for (std::string suffix : {"_bucket", "_sum", "_count"})
                if (name.size() > suffix.size() &&
                    name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
                    family = name.substr(0, name.size() - suffix.size());
        }
        EXPECT_EQ(family, current) << line;
        if (current_type == "counter") {
            EXPECT_EQ(family.substr(family.size() - 6), "_total") << family;
        }
    }
    for (const auto& [name, n] : help)
        EXPECT_EQ(n, 1) << name;
    for (const auto& [name, n] : type)
        EXPECT_EQ(n, 1) << name;
    EXPECT_EQ(types["http_server_request_duration_seconds"], "histogram");
    EXPECT_EQ(types["http_client_request_duration_seconds"], "histogram");
    EXPECT_EQ(types["homeostat_http_request_duration_quantile_seconds"], "summary");
    EXPECT_EQ(types["homeostat_http_request_size_bytes_total"], "counter");
    EXPECT_EQ(types["homeostat_http_routes_overflowed_total"], "counter");
    EXPECT_EQ(types["homeostat_events_total"], "counter");
    EXPECT_EQ(types["homeostat_events_dropped_total"], "counter");
    EXPECT_EQ(types["homeostat_unattributed_events_total"], "counter");
    EXPECT_EQ(types["homeostat_build_info"], "gauge");
    EXPECT_EQ(types["process_start_time_seconds"], "gauge");
    EXPECT_EQ(types["homeostat_anomaly_score"], "gauge");
    EXPECT_EQ(types["homeostat_anomalies_open"], "gauge");
    EXPECT_EQ(types.size(), 12u);
}

std::vector<ServiceHealth> rich_services() {
    ServiceHealth web{.service = "web.service"};
    web.processes = {{10, "nginx", 1.5, 10 << 20, true}, {11, "nginx", 0.5, 6 << 20, false}};
    web.cpu_seconds_total = 12.25;
    web.resident_memory_bytes = 16 << 20;
    web.restarts = 2;
    web.oom_kills = 1;
    web.exits = 5;
    web.exits_failed = 3;
    web.tcp_retransmits = 7;
    web.tcp_resets_sent = 1;
    web.tcp_resets_received = 4;
    web.tcp_connect_failures = 3;
    web.cgroup.memory_limit_bytes = 64 << 20;
    web.cgroup.memory_usage_bytes = 32 << 20;
    web.cgroup.cpu_quota_cores = 0.5;
    web.cgroup.pids_max = 100;
    web.cgroup.cpu_pressure = Pressure{.some_avg10 = 0.25, .full_avg10 = 0.1, .has_full = true};
    web.cpu_quota_utilisation = 0.95;
    web.memory_limit_utilisation = 0.5;
    ServiceHealth odd{.service = "we\"ird\n\xff"}; // escaped and repaired
    odd.cpu_seconds_total = 1;
    ServiceHealth odd2{.service = "we\"ird\n\xfe"}; // same name once repaired: merged
    odd2.cpu_seconds_total = 2;
    return {web, odd, odd2};
}

HostHealth rich_host() {
    HostHealth h;
    h.cpu = Pressure{.some_avg10 = 0.5};
    h.memory = Pressure{.some_avg10 = 0.01, .full_avg10 = 0.0, .has_full = true};
    h.events_dropped = 3;
    return h;
}

TEST(ServiceHealthText, FamiliesAreLabelledByServiceOnly) {
    const std::string t = render_service_health(rich_services(), rich_host());
    EXPECT_THAT(t, HasSubstr("process_cpu_seconds_total{service=\"web.service\"} 12.25\n"));
    EXPECT_THAT(t, HasSubstr("process_resident_memory_bytes{service=\"web.service\"} 16777216\n"));
    EXPECT_THAT(t, HasSubstr("homeostat_service_restarts_total{service=\"web.service\"} 2\n"));
    EXPECT_THAT(t, HasSubstr("homeostat_oom_kills_total{service=\"web.service\"} 1\n"));
    EXPECT_THAT(t, HasSubstr("tcp_retransmits_total{service=\"web.service\"} 7\n"));
    EXPECT_THAT(t, HasSubstr("tcp_resets_total{service=\"web.service\",direction=\"received\"} 4\n"));
    EXPECT_THAT(t, HasSubstr("tcp_resets_total{service=\"web.service\",direction=\"sent\"} 1\n"));
    EXPECT_THAT(t, HasSubstr("tcp_connect_failures_total{service=\"web.service\"} 3\n"));
    EXPECT_THAT(t, HasSubstr("homeostat_process_exits_total{service=\"web.service\",outcome=\"failure\"} 3\n"));
    EXPECT_THAT(t, HasSubstr("homeostat_cgroup_memory_limit_bytes{service=\"web.service\"} 67108864\n"));
    EXPECT_THAT(t, HasSubstr("homeostat_cgroup_cpu_quota_cores{service=\"web.service\"} 0.5\n"));
    EXPECT_THAT(t, HasSubstr("homeostat_cgroup_cpu_quota_utilisation_ratio{service=\"web.service\"} 0.95\n"));
    EXPECT_THAT(t, HasSubstr("homeostat_cgroup_pressure_avg10_ratio{service=\"web.service\",resource=\"cpu\",kind=\"full\"} 0.1\n"));
    EXPECT_THAT(t, HasSubstr("homeostat_host_pressure_avg10_ratio{resource=\"cpu\",kind=\"some\"} 0.5\n"));
    EXPECT_THAT(t, HasSubstr("homeostat_process_events_dropped_total 3\n"));
    EXPECT_THAT(t, Not(HasSubstr("pid=")));
    // Unlimited or unknown limits are absent, not zero.
    EXPECT_THAT(t, Not(HasSubstr("homeostat_cgroup_memory_high_bytes")));
    // Names equal after UTF-8 repair are one series with the sum.
    EXPECT_THAT(t, HasSubstr("process_cpu_seconds_total{service=\"we\\\"ird\\n\xEF\xBF\xBD\"} 3\n"));
}

TEST(ServiceHealthText, ServicesJsonCarriesHttpSummaryAndLimits) {
    Snapshot snap = rich_snapshot();
    ExchangeSeries s;
    s.service = "web.service";
    s.method = "GET";
    s.route = "/";
    s.status = 503;
    s.latency.count = 4;
    snap.series.push_back(s);
    const std::string j = render_services_json(rich_services(), rich_host(), snap);
    EXPECT_THAT(j, HasSubstr("\"service\": \"web.service\""));
    EXPECT_THAT(j, HasSubstr("\"errors\": 4"));
    EXPECT_THAT(j, HasSubstr("\"memory_limit_bytes\": 67108864"));
    EXPECT_THAT(j, HasSubstr("\"oom_kills\": 1"));
    EXPECT_THAT(j, HasSubstr("\"resets_received\": 4"));
}

// promtool is part of CI's toolchain: when it is missing this test fails, it never skips.
TEST(PrometheusText, PromtoolAcceptsTheOutputWithoutWarnings) {
    const std::string promtool = HOMEOSTAT_PROMTOOL;
    ASSERT_EQ(::access(promtool.c_str(), X_OK), 0)
        << promtool << " not found or not executable: install prometheus (Debian: apt-get "
        << "install prometheus) or configure with -DHOMEOSTAT_PROMTOOL=/path/to/promtool";

    const auto dir = std::filesystem::temp_directory_path();
    const auto file = dir / ("homeostat_metrics_" + std::to_string(::getpid()) + ".txt");
    {
        std::ofstream out(file, std::ios::binary);
        out << full_metrics_page();
        ASSERT_TRUE(out.good());
    }
    const std::string cmd = promtool + " check metrics < " + file.string();
    const auto r = run_shell(cmd);
    std::filesystem::remove(file);
    EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
    EXPECT_EQ(r.output, "") << "promtool reported problems:\n" << r.output;
}

} // namespace

// What /metrics serves with every family present: the HTTP families and detection, then
// process and connection health.
std::string full_metrics_page() {
    const auto d = rich_detection();
    return render_prometheus(rich_snapshot(), rich_agent(), &d) + render_service_health(rich_services(), rich_host());
}

ShellResult run_shell(const std::string& cmd) {
    ShellResult r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return r;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p))
        r.output += buf;
    const int status = ::pclose(p);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    return r;
}

} // namespace homeostat::exporters
