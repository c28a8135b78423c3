// Prometheus text exposition format 0.0.4 for GET /metrics.
#pragma once

#include <string>
#include <string_view>

#include "engine/detect/live_monitor.h"
#include "engine/snapshot.h"
#include "exporters/agent_stats.h"

namespace homeostat::exporters {

// Content-Type of render_prometheus()'s output.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Renders one scrape. The output passes `promtool check metrics` without warnings and is
// deterministic: families in a fixed order, series sorted by their label values.
//
// Guarantees that hold whatever the snapshot contains:
//  - label values are valid UTF-8 (bad bytes become U+FFFD) and escaped;
//  - series whose exposed labels are equal are merged (summed), never duplicated;
//  - histogram buckets are cumulative, le="+Inf" == _count, non-finite or non-ascending
//    bounds are skipped (their counts move to the next bucket);
//  - homeostat_events_dropped_total always has the kernel's drop reasons, zero or not.
//
// homeostat_http_request_duration_quantile_seconds is typed `summary` (quantile lines
// only, no _sum/_count): promtool rejects a `quantile` label on any other type, and
// "quantiles over a recent sliding window" is what a Prometheus summary is. Endpoints
// with no exchanges in the covered windows are left out rather than exported as NaN.
//
// With `detection` (live detection enabled): homeostat_anomaly_score{service,endpoint,signal}
// for every warm series, and homeostat_anomalies_open{type} for every type named in
// `detection->types` (zeros included) and any other type with an open anomaly.
struct DetectionStats {
    std::vector<engine::detect::SeriesScore> scores;
    std::vector<std::string> types;                                 // always exported
    std::vector<std::pair<std::string, std::uint64_t>> open_by_type; // duplicates summed
};
std::string render_prometheus(const engine::Snapshot& snapshot, const AgentStats& agent,
                              const DetectionStats* detection = nullptr);

} // namespace homeostat::exporters
