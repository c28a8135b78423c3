// GET /api/v1/endpoints: every endpoint the aggregator knows, with its figures now. The
// history API has per-window rollups (5xx only) and /metrics has per-status histograms;
// this document joins both views per endpoint so the CLI's `endpoints`, `top` and `report`
// need no Prometheus parsing.
#pragma once

#include <nlohmann/json.hpp>

#include "engine/snapshot.h"

namespace homeostat::agent {

// {"endpoints": [{"service", "role", "method", "route", "peer" (client role only),
//   "requests_total", "errors_total" (5xx), "status": {"200": n, "404": n, ...},
//   "recent": {"requests", "window_seconds", "rate", "p50", "p95", "p99"} or null}]}.
// Totals count since the daemon started; "recent" covers the windows the latency sketch
// keeps (window_seconds), rate = requests / window_seconds. Sorted by service, role,
// method, route.
nlohmann::json endpoints_json(const engine::Snapshot& snap);

} // namespace homeostat::agent
