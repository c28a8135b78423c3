// `homeostat endpoints [SERVICE]`: every endpoint from /api/v1/endpoints as a table,
// busiest first.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/fetch.h"

namespace homeostat::cli {

// One row of the table, read from one /api/v1/endpoints entry.
struct EndpointRow {
    std::string service, role, method, route, peer;
    double requests_total = 0, errors_total = 0, not_found_total = 0;
    double recent_requests = 0, rate = 0, window_seconds = 0;
    double p50 = -1, p95 = -1, p99 = -1; // -1: no recent figures
    std::string name() const { return method + " " + route; }
};

// The entries of `doc` (an /api/v1/endpoints document) for `service` (all when empty),
// by rate, then total requests, descending.
std::vector<EndpointRow> endpoint_rows(const nlohmann::json& doc, const std::string& service = "");

// SERVICE ROLE METHOD ROUTE REQUESTS RATE ERR% 404 P50 P95 P99; at most `limit` rows (0: all).
std::string endpoints_table(const std::vector<EndpointRow>& rows, std::size_t limit = 0);

int endpoints_command(const Fetch& fetch, const std::vector<std::string>& args, bool json);

} // namespace homeostat::cli
