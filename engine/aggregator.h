// Turns HTTP exchange events into the metrics a Snapshot carries:
//  - per series (service, role, method, route, status, peer, port): a cumulative latency
//    histogram with fixed bounds and request bytes, for Prometheus-style counters;
//  - per endpoint (the same without status): latency sketches in fixed time windows,
//    merged at snapshot time into recent p50/p90/p95/p99.
// Memory is bounded by max_series (and the per-service route cap); what does not fit is
// counted, never stored. Single-threaded: the caller owns synchronisation.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/ddsketch.h"
#include "engine/flat_index.h"
#include "engine/route_templater.h"
#include "engine/snapshot.h"
#include "events.hpp"

namespace homeostat::engine {

struct AggregatorConfig {
    // Quantile windows start at multiples of `window` on the caller's monotonic axis.
    std::chrono::nanoseconds window{std::chrono::seconds(10)};
    // Quantiles cover at most this many windows, the current (partial) one included.
    std::size_t windows_kept = 6;
    std::size_t max_routes_per_service = RouteTemplater::kDefaultMaxRoutes;
    double sketch_relative_accuracy = DDSketch::kDefaultRelativeAccuracy;
    // OpenTelemetry's default bounds for http.server.request.duration.
    std::vector<double> latency_bounds_seconds = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                                  0.5,   0.75, 1,     2.5,  5,     7.5, 10};
    std::size_t max_series = 20000;
};

class Aggregator {
public:
    // Throws std::invalid_argument on a config that cannot work (window <= 0, no windows
    // kept, bounds not finite and strictly ascending, accuracy outside (0, 1)).
    explicit Aggregator(AggregatorConfig config = {});

    // Counts one exchange of `service`. `now` is the caller's monotonic time; it decides
    // the quantile window. Time never goes backwards here: a `now` earlier than one
    // already seen counts in the latest window.
    void record(std::string_view service, const hs_http_exchange& ev, std::chrono::nanoseconds now);

    // Everything, copied and sorted: series by (service, role, method, route, status,
    // peer, port), quantiles by (service, role, method, route, peer, port), overflow
    // counts by service (every known service, zeros included).
    // Quantiles merge the windows (current - windows_kept, current]; window_seconds runs
    // from the start of the oldest of those (or of the window the endpoint first appeared
    // in, if later) to `now`, so it is exact for young endpoints and daemons, and can be
    // 0 when `now` sits exactly on a window boundary. Endpoints with nothing in those
    // windows are left out.
    Snapshot snapshot(std::chrono::nanoseconds now) const;

    // The quantile window `now` falls in (now / window, rounded down).
    std::int64_t window_of(std::chrono::nanoseconds now) const { return window_index(now); }
    // Every endpoint with exchanges in window `w`, sorted like snapshot()'s quantiles;
    // empty once `w` has left the ring (older than the last windows_kept windows seen).
    std::vector<EndpointWindow> window_stats(std::int64_t w) const;

    const AggregatorConfig& config() const { return config_; }
    // Exchanges dropped because max_series series already exist.
    std::uint64_t series_overflowed() const { return series_overflowed_; }
    // Exchanges dropped because their role was neither server nor client.
    std::uint64_t rejected() const { return rejected_; }
    std::size_t series_count() const { return series_.size(); }
    std::size_t endpoint_count() const { return endpoints_.size(); }
    // The route table of a service, or nullptr if it has sent nothing yet.
    const RouteTemplater* routes(std::string_view service) const;

    // Identity of a series, packed so that a known series is found by one hash lookup
    // without building strings. Public only so the hash can see it.
    struct SeriesKey {
        std::uint32_t service = 0;
        RouteId route = 0;
        std::uint16_t status = 0;
        std::uint16_t port = 0; // peer port, client role only
        std::uint8_t role = 0;
        std::uint8_t method = 0;
        std::uint8_t family = 0; // peer family, normalised (v4-mapped v6 → AF_INET)
        std::uint8_t pad = 0;
        std::uint8_t addr[16] = {};
        bool operator==(const SeriesKey&) const = default;
    };
    struct SeriesKeyHash {
        std::size_t operator()(const SeriesKey& k) const noexcept;
    };

private:
    struct Service {
        std::string name;
        RouteTemplater routes;
    };
    // What record() touches for a known series, in one 64-byte cache line.
    struct Series {
        SeriesKey key;
        std::uint32_t endpoint = 0;
        std::uint64_t count = 0;
        double sum_seconds = 0;
        std::uint64_t request_bytes = 0;
    };
    struct Window {
        std::int64_t index; // which window (now / window) the sketch holds
        DDSketch sketch;
        std::uint64_t errors = 0; // 5xx exchanges in it
    };
    struct Endpoint {
        SeriesKey key;            // status 0
        std::string peer_address; // formatted once, at creation
        std::int64_t first_window = 0;
    };
    static constexpr std::uint32_t kNoService = UINT32_MAX;

    std::uint32_t service_index(std::string_view name);
    std::uint32_t find_service(std::string_view name) const;
    std::int64_t advance_clock(std::chrono::nanoseconds now);
    std::int64_t window_index(std::chrono::nanoseconds t) const;
    std::uint32_t create_series(const SeriesKey& key, std::int64_t window);
    std::size_t bucket_of(double seconds) const;
    std::uint64_t* buckets_of(std::uint32_t series) {
        return bucket_counts_.data() + std::size_t{series} * bucket_stride_;
    }
    const std::uint64_t* buckets_of(std::uint32_t series) const {
        return bucket_counts_.data() + std::size_t{series} * bucket_stride_;
    }

    AggregatorConfig config_;
    std::vector<std::unique_ptr<Service>> services_;
    FlatIndex service_index_;                 // name → position in services_
    std::uint32_t last_service_ = kNoService; // services send bursts: often skips the hash

    std::vector<Series> series_;
    FlatIndex series_index_; // into series_
    // Non-cumulative latency bucket counts of all series, bucket_stride_ per series, in
    // one array: no allocation and no pointer to chase per series.
    std::vector<std::uint64_t> bucket_counts_;
    std::size_t bucket_stride_;
    std::vector<Endpoint> endpoints_;
    // Each endpoint's ring of windows (slot = window index mod windows_kept), all in one
    // array at endpoint * windows_kept: record() goes from the series straight to its
    // sketch without touching the Endpoint.
    std::vector<Window> windows_;
    std::unordered_map<SeriesKey, std::uint32_t, SeriesKeyHash> endpoint_index_;

    // Latest `now` seen, its window and ring slot, so most records skip the divisions.
    std::chrono::nanoseconds latest_now_{INT64_MIN};
    std::int64_t latest_window_ = 0;
    std::size_t latest_slot_ = 0;
    std::chrono::nanoseconds latest_window_start_{INT64_MAX};

    std::uint64_t series_overflowed_ = 0;
    std::uint64_t rejected_ = 0;
};

} // namespace homeostat::engine
