// OTLP/HTTP metrics in JSON (the protobuf JSON mapping of ExportMetricsServiceRequest),
// for fleets that run an OpenTelemetry Collector: POST it to <endpoint>/v1/metrics with
// Content-Type application/json.
//
// One ResourceMetrics per observed service (resource attribute service.name, plus
// host.name), with the OpenTelemetry semantic-convention histograms
// http.server.request.duration and http.client.request.duration (unit s, explicit
// buckets, cumulative temporality, attributes http.request.method, http.route,
// http.response.status_code and, client side, server.address / server.port). 64-bit
// integers are JSON strings, as the mapping requires.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/snapshot.h"

namespace homeostat::exporters {

struct OtlpResource {
    std::string host_name;
    std::string scope_version;    // homeostat's version
    std::uint64_t start_unix_ns = 0; // when the cumulative counts began (daemon start)
    std::uint64_t now_unix_ns = 0;
};

nlohmann::json otlp_metrics_json(const engine::Snapshot& snapshot, const OtlpResource& resource);

} // namespace homeostat::exporters
