// Prometheus text for process and connection health per service (issue 3). Appended to
// render_prometheus()'s output on /metrics: its families never overlap those.
// Every series is labelled by `service` only (plus a fixed small label such as
// direction): pids would explode cardinality.
#pragma once

#include <string>
#include <vector>

#include "exporters/service_health.h"

namespace homeostat::exporters {

// Deterministic: families in a fixed order, services sorted; services whose names are
// equal after UTF-8 repair are merged (counters and usage summed, limits of the first).
std::string render_service_health(const std::vector<ServiceHealth>& services, const HostHealth& host);

} // namespace homeostat::exporters
