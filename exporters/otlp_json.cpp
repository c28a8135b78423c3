#include "exporters/otlp_json.h"

#include <map>

namespace homeostat::exporters {
namespace {

constexpr int kCumulative = 2; // AGGREGATION_TEMPORALITY_CUMULATIVE

nlohmann::json str_attr(const std::string& key, const std::string& value) {
    return {{"key", key}, {"value", {{"stringValue", value}}}};
}
nlohmann::json int_attr(const std::string& key, std::int64_t value) {
    return {{"key", key}, {"value", {{"intValue", std::to_string(value)}}}};
}

nlohmann::json point(const engine::ExchangeSeries& s, const std::vector<double>& bounds, const OtlpResource& r) {
    nlohmann::json attrs = nlohmann::json::array();
    attrs.push_back(str_attr("http.request.method", s.method));
    attrs.push_back(str_attr("http.route", s.route));
    attrs.push_back(int_attr("http.response.status_code", s.status));
    if (s.role == engine::Role::client) {
        attrs.push_back(str_attr("server.address", s.peer_address));
        attrs.push_back(int_attr("server.port", s.peer_port));
    }
    nlohmann::json buckets = nlohmann::json::array();
    for (auto c : s.latency.bucket_counts) buckets.push_back(std::to_string(c));
    return {{"attributes", std::move(attrs)},
            {"startTimeUnixNano", std::to_string(r.start_unix_ns)},
            {"timeUnixNano", std::to_string(r.now_unix_ns)},
            {"count", std::to_string(s.latency.count)},
            {"sum", s.latency.sum_seconds},
            {"bucketCounts", std::move(buckets)},
            {"explicitBounds", bounds}};
}

} // namespace

nlohmann::json otlp_metrics_json(const engine::Snapshot& snap, const OtlpResource& r) {
    // service → role → data points
    std::map<std::string, std::map<engine::Role, nlohmann::json>> by_service;
    for (const auto& s : snap.series) {
        auto& points = by_service[s.service][s.role];
        if (points.is_null()) points = nlohmann::json::array();
        points.push_back(point(s, snap.latency_bounds_seconds, r));
    }
    nlohmann::json resources = nlohmann::json::array();
    for (auto& [service, roles] : by_service) {
        nlohmann::json metrics = nlohmann::json::array();
        for (auto& [role, points] : roles) {
            const bool server = role == engine::Role::server;
            metrics.push_back({{"name", server ? "http.server.request.duration" : "http.client.request.duration"},
                               {"description", server ? "Duration of HTTP server requests, as homeostat saw them."
                                                      : "Duration of HTTP client requests, as homeostat saw them."},
                               {"unit", "s"},
                               {"histogram",
                                {{"aggregationTemporality", kCumulative}, {"dataPoints", std::move(points)}}}});
        }
        resources.push_back(
            {{"resource", {{"attributes", {str_attr("service.name", service), str_attr("host.name", r.host_name)}}}},
             {"scopeMetrics",
              {{{"scope", {{"name", "homeostat"}, {"version", r.scope_version}}}, {"metrics", std::move(metrics)}}}}});
    }
    return {{"resourceMetrics", std::move(resources)}};
}

} // namespace homeostat::exporters
