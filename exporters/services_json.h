// GET /api/v1/services: each service with its processes, cgroup, limits, CPU, memory,
// restarts, OOM kills, TCP counters and the HTTP summary from the aggregator snapshot.
#pragma once

#include <string>
#include <vector>

#include "engine/snapshot.h"
#include "exporters/service_health.h"

namespace homeostat::exporters {

// Services known to either side (process health or HTTP), sorted by name.
// http.p95_seconds is the slowest server endpoint's p95 over the recent windows.
std::string render_services_json(const std::vector<ServiceHealth>& services, const HostHealth& host,
                                 const engine::Snapshot& http);

} // namespace homeostat::exporters
