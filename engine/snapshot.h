// What the engine hands to exporters: plain data, copied out at scrape time so exporters
// never hold references into the aggregator.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace homeostat::engine {

enum class Role : std::uint8_t { server = 1, client = 2 };

// Cumulative since the daemon started, as Prometheus counters must be.
struct LatencyHistogram {
    // Non-cumulative count per bucket; size == Snapshot::latency_bounds_seconds.size() + 1,
    // the last one being (+Inf).
    std::vector<std::uint64_t> bucket_counts;
    double sum_seconds = 0;
    std::uint64_t count = 0;
};

// One label set of the http_{server,client}_request_duration_seconds histograms.
struct ExchangeSeries {
    std::string service;
    Role role = Role::server;
    std::string method;     // "GET", ... or "_OTHER"
    std::string route;      // route template, e.g. "/users/{id}"
    std::uint16_t status = 0;
    std::string peer_address; // client role only: the upstream's address
    std::uint16_t peer_port = 0;
    LatencyHistogram latency;
    std::uint64_t request_bytes = 0;
};

// Latency quantiles of one endpoint over the recent windows (from the mergeable sketch).
struct EndpointQuantiles {
    std::string service;
    Role role = Role::server;
    std::string method;
    std::string route;
    std::string peer_address;
    std::uint16_t peer_port = 0;
    std::uint64_t count = 0;      // exchanges in the covered windows
    double window_seconds = 0;    // span the quantiles cover
    double p50 = 0, p90 = 0, p95 = 0, p99 = 0; // seconds
};

// One endpoint's figures in one aggregation window: what detection looks at.
struct EndpointWindow {
    std::string service;
    Role role = Role::server;
    std::string method;
    std::string route;
    std::string peer_address; // client role only
    std::uint16_t peer_port = 0;
    std::uint64_t count = 0;  // exchanges that ended (first response byte) in the window
    std::uint64_t errors = 0; // ... of which with a 5xx status
    double p50 = 0, p95 = 0, p99 = 0; // seconds
    bool first_window = false;        // the endpoint was first seen in this window
};

// One service's resource figures over one aggregation window, for detection (from
// process and cgroup accounting). NaN where unknown.
struct ServiceWindow {
    std::string service;
    double cpu_cores = std::numeric_limits<double>::quiet_NaN();       // average CPU used, in cores
    double cpu_limit_cores = std::numeric_limits<double>::quiet_NaN(); // quota in cores, else the host's CPUs
    double memory_bytes = std::numeric_limits<double>::quiet_NaN();    // at the window's end
    double memory_limit_bytes = std::numeric_limits<double>::quiet_NaN(); // NaN: no limit
    std::uint64_t oom_kills = 0; // in the window
    std::uint64_t restarts = 0;  // in the window
};

struct Snapshot {
    std::vector<double> latency_bounds_seconds; // upper bounds, ascending, no +Inf
    std::vector<ExchangeSeries> series;
    std::vector<EndpointQuantiles> quantiles;
    // Exchanges whose route went to the per-service overflow bucket, by service.
    std::vector<std::pair<std::string, std::uint64_t>> routes_overflowed;
};

} // namespace homeostat::engine
