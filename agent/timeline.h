// A short in-memory time series per service for the web page's charts: one point per
// observed aggregation window (requests/s, 5xx ratio, p50/p95/p99, CPU, memory). Bounded:
// the last `points` windows of at most `max_services` services. Nothing persists; the
// long history is /api/v1/history (per endpoint, in the state database).
//
// HTTP figures are the service's server-role exchanges (what it answers); its calls to
// upstreams (client role) are not in them. The service's percentiles are those of the
// request-weighted mixture of its endpoints' latency distributions, each approximated
// piecewise linearly through its p50/p95/p99: exact for a single endpoint (or equal
// ones), always between the smallest and the largest endpoint percentile, and a busy
// endpoint weighs more than a stray request elsewhere (unlike a plain max).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/http_api.h"
#include "engine/snapshot.h"

namespace homeostat::agent {

struct TimelinePoint {
    static constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();
    double start_unix = 0; // the window's start
    double seconds = 0;    // its length
    double requests_per_second = 0;
    double error_ratio = kUnknown; // 5xx / requests; unknown without requests
    double p50 = kUnknown, p95 = kUnknown, p99 = kUnknown; // seconds; unknown without requests
    double cpu_cores = kUnknown;    // average over the window
    double memory_bytes = kUnknown; // at its end
};

// Service-level percentiles from per-endpoint ones (see the file comment). `endpoints`
// with count 0 are ignored; the result is {p50, p95, p99}, NaN if no endpoint has requests.
std::array<double, 3> mixture_percentiles(const std::vector<const engine::EndpointWindow*>& endpoints);

class Timeline {
public:
    struct Options {
        std::size_t points = 360;      // windows kept per service (an hour of 10 s windows)
        std::size_t max_services = 500;
    };
    Timeline() : Timeline(Options{}) {}
    explicit Timeline(Options options) : options_(options) {}

    // One observed window: its endpoints and, if known, the services' resource figures.
    // A service known here but absent from the window gets a point with no requests, so
    // charts fall to zero instead of holding the last value; one with neither requests
    // nor resources for `points` windows is forgotten.
    void add_window(const std::vector<engine::EndpointWindow>& endpoints,
                    const std::vector<engine::ServiceWindow>* services, double start_unix, double seconds);

    std::vector<std::string> services() const;
    const std::deque<TimelinePoint>* series(const std::string& service) const;
    std::uint64_t services_refused() const { return refused_; } // new services past max_services

    // {"service", "points", "start": [...], "requests_per_second": [...], ...}: one array
    // per figure (charts read columns), null where unknown. The last `limit` points.
    nlohmann::json to_json(const std::string& service, std::size_t limit) const;

private:
    struct Series {
        std::deque<TimelinePoint> points;
        std::size_t idle = 0; // windows in a row with neither requests nor resources
    };
    Options options_;
    std::map<std::string, Series> series_;
    std::uint64_t refused_ = 0;
};

// GET /api/v1/timeline: without ?service, {"services": [{"service", "points"}...],
// "capacity": {...}}; with ?service=NAME[&points=N], that service's series (404 if
// unknown). `timeline` null: 503 (detection is off, nothing observes windows).
HttpResponse timeline_response(const Timeline* timeline, const std::string& query);

} // namespace homeostat::agent
