#include "engine/aggregator.h"

#include <sys/socket.h> // AF_INET, AF_INET6 constants only

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <tuple>

#include "engine/hash.h"
#include "engine/protocols/http/request_target.h"

namespace homeostat::engine {
namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0)) --q;
    return q;
}

std::size_t ring_slot(std::int64_t window, std::size_t kept) {
    const auto k = static_cast<std::int64_t>(kept);
    return static_cast<std::size_t>(((window % k) + k) % k);
}

std::uint8_t normalised_method(std::uint8_t m) {
    // Every unknown value prints as "_OTHER"; one key for all of them keeps one series.
    return m > HS_M_UNKNOWN && m < HS_M__COUNT ? m : static_cast<std::uint8_t>(HS_M_UNKNOWN);
}

// The peer part of a key. Every distinct key must print distinctly, so the bytes that do
// not reach the label are zeroed and a v4-mapped v6 address becomes the v4 one it prints as.
void set_peer(Aggregator::SeriesKey& key, const hs_http_exchange& ev) {
    if (ev.role != HS_ROLE_CLIENT) return; // a server's peers are its many clients: no label
    key.port = ev.remote_port;
    if (ev.family == AF_INET) {
        key.family = AF_INET;
        std::memcpy(key.addr, ev.remote_addr, 4);
    } else if (ev.family == AF_INET6) {
        static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(ev.remote_addr, kMapped, sizeof kMapped) == 0) {
            key.family = AF_INET;
            std::memcpy(key.addr, ev.remote_addr + 12, 4);
        } else {
            key.family = AF_INET6;
            std::memcpy(key.addr, ev.remote_addr, 16);
        }
    }
}

void validate(const AggregatorConfig& c) {
    if (c.window <= std::chrono::nanoseconds::zero())
        throw std::invalid_argument("aggregator: window must be positive");
    if (c.windows_kept == 0) throw std::invalid_argument("aggregator: windows_kept must be >= 1");
    if (!(c.sketch_relative_accuracy > 0 && c.sketch_relative_accuracy < 1))
        throw std::invalid_argument("aggregator: sketch relative accuracy must be in (0, 1)");
    for (std::size_t i = 0; i < c.latency_bounds_seconds.size(); ++i) {
        const double b = c.latency_bounds_seconds[i];
        if (!std::isfinite(b) || (i > 0 && b <= c.latency_bounds_seconds[i - 1]))
            throw std::invalid_argument("aggregator: latency bounds must be finite and strictly ascending");
    }
}

Role to_role(std::uint8_t r) {
    return r == HS_ROLE_CLIENT ? Role::client : Role::server;
}

} // namespace

std::size_t Aggregator::SeriesKeyHash::operator()(const SeriesKey& k) const noexcept {
    static_assert(sizeof(SeriesKey) == 32, "SeriesKey must stay padding-free");
    static_assert(sizeof(Series) == 64, "Series should fill exactly one cache line");
    std::uint64_t w[4];
    std::memcpy(w, &k, sizeof w);
    std::uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (const std::uint64_t x : w) {
        h = (h ^ x) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
    }
    return static_cast<std::size_t>(h);
}

Aggregator::Aggregator(AggregatorConfig config)
    : config_(std::move(config)), bucket_stride_(config_.latency_bounds_seconds.size() + 1) {
    validate(config_);
}

std::uint32_t Aggregator::find_service(std::string_view name) const {
    return service_index_.find(hash_bytes(name), [&](std::uint32_t i) { return services_[i]->name == name; });
}

std::uint32_t Aggregator::service_index(std::string_view name) {
    if (last_service_ != kNoService && services_[last_service_]->name == name) return last_service_;
    if (const std::uint32_t found = find_service(name); found != FlatIndex::npos)
        return last_service_ = found;
    // A service without series costs a route table; past the series cap none is created,
    // which bounds services too.
    if (series_.size() >= config_.max_series) return kNoService;
    const auto id = static_cast<std::uint32_t>(services_.size());
    services_.push_back(std::make_unique<Service>(
        Service{std::string(name), RouteTemplater(config_.max_routes_per_service)}));
    service_index_.insert(hash_bytes(name), id);
    return last_service_ = id;
}

std::int64_t Aggregator::window_index(std::chrono::nanoseconds t) const {
    return floor_div(t.count(), config_.window.count());
}

std::int64_t Aggregator::advance_clock(std::chrono::nanoseconds now) {
    // Monotonic clocks start at 0; a negative time (a u64 kernel timestamp >= 2^63 from a
    // corrupt record, found by fuzz_events) would make the window start below INT64_MIN.
    now = std::max(now, std::chrono::nanoseconds(0));
    if (now > latest_now_) latest_now_ = now;
    // Most records fall in the window of the previous one: skip the division.
    if (latest_now_ >= latest_window_start_ && latest_now_ - latest_window_start_ < config_.window)
        return latest_window_;
    latest_window_ = window_index(latest_now_);
    latest_window_start_ = std::chrono::nanoseconds(latest_window_ * config_.window.count());
    latest_slot_ = ring_slot(latest_window_, config_.windows_kept);
    return latest_window_;
}

std::size_t Aggregator::bucket_of(double seconds) const {
    // Number of bounds below the value = index of the first bound >= value: Prometheus'
    // "le", a value equal to a bound belongs to it. A branch-free count beats a binary
    // search on a dozen bounds.
    std::size_t below = 0;
    for (const double b : config_.latency_bounds_seconds)
        below += b < seconds;
    return below;
}

std::uint32_t Aggregator::create_series(const SeriesKey& key, std::int64_t window) {
    SeriesKey ep_key = key;
    ep_key.status = 0;
    std::uint32_t ep;
    if (auto it = endpoint_index_.find(ep_key); it != endpoint_index_.end()) {
        ep = it->second;
    } else {
        ep = static_cast<std::uint32_t>(endpoints_.size());
        Endpoint e;
        e.key = ep_key;
        if (key.family != 0) e.peer_address = abi::format_address(key.family, key.addr);
        e.first_window = window;
        endpoints_.push_back(std::move(e));
        for (std::size_t i = 0; i < config_.windows_kept; ++i)
            windows_.push_back(Window{INT64_MIN, DDSketch(config_.sketch_relative_accuracy)});
        endpoint_index_.emplace(ep_key, ep);
    }
    const auto id = static_cast<std::uint32_t>(series_.size());
    Series s;
    s.key = key;
    s.endpoint = ep;
    series_.push_back(s);
    bucket_counts_.resize(bucket_counts_.size() + bucket_stride_, 0);
    series_index_.insert(SeriesKeyHash{}(key), id);
    return id;
}

void Aggregator::record(std::string_view service, const hs_http_exchange& ev, std::chrono::nanoseconds now) {
    if (ev.role != HS_ROLE_SERVER && ev.role != HS_ROLE_CLIENT) {
        ++rejected_;
        return;
    }
    const std::int64_t window = advance_clock(now);
    const std::uint32_t svc = service_index(service);
    if (svc == kNoService) {
        ++series_overflowed_;
        return;
    }

    SeriesKey key;
    key.service = svc;
    key.route = services_[svc]->routes.route(http::parse_request_target(ev));
    key.status = ev.status;
    key.role = ev.role;
    key.method = normalised_method(ev.method);
    set_peer(key, ev);

    std::uint32_t id =
        series_index_.find(SeriesKeyHash{}(key), [&](std::uint32_t i) { return series_[i].key == key; });
    if (id == FlatIndex::npos) {
        if (series_.size() >= config_.max_series) {
            ++series_overflowed_;
            return;
        }
        id = create_series(key, window);
    }

    // Timestamps come from one kernel clock, but a reordered or corrupt pair must not
    // wrap into a 584-year latency.
    const std::uint64_t ns = ev.resp_start_ns >= ev.req_start_ns ? ev.resp_start_ns - ev.req_start_ns : 0;
    // Division, not multiplication by 1e-9: it is exact for whole-ns bounds such as
    // 5 ms, so a latency equal to a bound lands in that bound's bucket.
    const double seconds = static_cast<double>(ns) / 1e9;

    Series& s = series_[id];
    ++buckets_of(id)[bucket_of(seconds)];
    s.sum_seconds += seconds;
    ++s.count;
    s.request_bytes += ev.req_bytes;

    Window& w = windows_[std::size_t{s.endpoint} * config_.windows_kept + latest_slot_];
    if (w.index != window) {
        w.sketch.clear(); // the slot held a window that has now expired
        w.errors = 0;
        w.index = window;
    }
    w.sketch.add(seconds);
    if (ev.status >= 500) ++w.errors;
}

Snapshot Aggregator::snapshot(std::chrono::nanoseconds now) const {
    Snapshot snap;
    snap.latency_bounds_seconds = config_.latency_bounds_seconds;

    auto service_name = [&](const SeriesKey& k) -> const std::string& { return services_[k.service]->name; };
    auto route_name = [&](const SeriesKey& k) {
        return std::string(services_[k.service]->routes.name(k.route));
    };

    snap.series.reserve(series_.size());
    for (std::uint32_t id = 0; id < series_.size(); ++id) {
        const Series& s = series_[id];
        ExchangeSeries out;
        out.service = service_name(s.key);
        out.role = to_role(s.key.role);
        out.method = std::string(abi::method_name(s.key.method));
        out.route = route_name(s.key);
        out.status = s.key.status;
        out.peer_address = endpoints_[s.endpoint].peer_address;
        out.peer_port = s.key.port;
        out.latency.bucket_counts.assign(buckets_of(id), buckets_of(id) + bucket_stride_);
        out.latency.sum_seconds = s.sum_seconds;
        out.latency.count = s.count;
        out.request_bytes = s.request_bytes;
        snap.series.push_back(std::move(out));
    }
    std::sort(snap.series.begin(), snap.series.end(), [](const ExchangeSeries& a, const ExchangeSeries& b) {
        return std::tie(a.service, a.role, a.method, a.route, a.status, a.peer_address, a.peer_port) <
               std::tie(b.service, b.role, b.method, b.route, b.status, b.peer_address, b.peer_port);
    });

    // Windows (current - kept, current] are live; older slots are leftovers.
    const auto effective_now = std::max(now, latest_now_);
    const std::int64_t current = window_index(effective_now);
    const std::int64_t oldest = current - static_cast<std::int64_t>(config_.windows_kept) + 1;
    DDSketch merged(config_.sketch_relative_accuracy);
    for (std::size_t ep = 0; ep < endpoints_.size(); ++ep) {
        const Endpoint& e = endpoints_[ep];
        merged.clear();
        for (std::size_t slot = 0; slot < config_.windows_kept; ++slot) {
            const Window& w = windows_[ep * config_.windows_kept + slot];
            if (w.index >= oldest && w.index <= current) merged.merge(w.sketch);
        }
        if (merged.empty()) continue;
        // Covered: from the start of the oldest live window, or of the window the endpoint
        // first appeared in if that is later, to now. Rates over it are then honest for
        // endpoints (and daemons) younger than the full span.
        const std::int64_t from = std::max(oldest, e.first_window);
        const auto covered = effective_now.count() - from * config_.window.count();
        EndpointQuantiles q;
        q.service = service_name(e.key);
        q.role = to_role(e.key.role);
        q.method = std::string(abi::method_name(e.key.method));
        q.route = route_name(e.key);
        q.peer_address = e.peer_address;
        q.peer_port = e.key.port;
        q.count = merged.count();
        q.window_seconds = static_cast<double>(covered) / 1e9;
        q.p50 = merged.quantile(0.50);
        q.p90 = merged.quantile(0.90);
        q.p95 = merged.quantile(0.95);
        q.p99 = merged.quantile(0.99);
        snap.quantiles.push_back(std::move(q));
    }
    std::sort(snap.quantiles.begin(), snap.quantiles.end(),
              [](const EndpointQuantiles& a, const EndpointQuantiles& b) {
                  return std::tie(a.service, a.role, a.method, a.route, a.peer_address, a.peer_port) <
                         std::tie(b.service, b.role, b.method, b.route, b.peer_address, b.peer_port);
              });

    snap.routes_overflowed.reserve(services_.size());
    for (const auto& s : services_)
        snap.routes_overflowed.emplace_back(s->name, s->routes.overflowed());
    std::sort(snap.routes_overflowed.begin(), snap.routes_overflowed.end());
    return snap;
}

std::vector<EndpointWindow> Aggregator::window_stats(std::int64_t window) const {
    std::vector<EndpointWindow> out;
    // Out of the ring: an endpoint idle since could still hold that window in its slot.
    if (latest_now_.count() != INT64_MIN &&
        window <= latest_window_ - static_cast<std::int64_t>(config_.windows_kept))
        return out;
    const std::size_t slot = ring_slot(window, config_.windows_kept);
    for (std::size_t ep = 0; ep < endpoints_.size(); ++ep) {
        const Window& w = windows_[ep * config_.windows_kept + slot];
        if (w.index != window || w.sketch.empty()) continue;
        const Endpoint& e = endpoints_[ep];
        EndpointWindow o;
        o.service = services_[e.key.service]->name;
        o.role = to_role(e.key.role);
        o.method = std::string(abi::method_name(e.key.method));
        o.route = std::string(services_[e.key.service]->routes.name(e.key.route));
        o.peer_address = e.peer_address;
        o.peer_port = e.key.port;
        o.count = w.sketch.count();
        o.errors = w.errors;
        o.p50 = w.sketch.quantile(0.50);
        o.p95 = w.sketch.quantile(0.95);
        o.p99 = w.sketch.quantile(0.99);
        o.first_window = e.first_window == window;
        out.push_back(std::move(o));
    }
    std::sort(out.begin(), out.end(), [](const EndpointWindow& a, const EndpointWindow& b) {
        return std::tie(a.service, a.role, a.method, a.route, a.peer_address, a.peer_port) <
               std::tie(b.service, b.role, b.method, b.route, b.peer_address, b.peer_port);
    });
    return out;
}

const RouteTemplater* Aggregator::routes(std::string_view service) const {
    const std::uint32_t i = find_service(service);
    return i == FlatIndex::npos ? nullptr : &services_[i]->routes;
}

} // namespace homeostat::engine
