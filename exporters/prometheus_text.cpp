#include "exporters/prometheus_text.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "bpf/include/events.hpp"
#include "exporters/text_format.h"

namespace homeostat::exporters {
namespace {

using engine::Role;

// ---- text primitives (shared with the other renderers: text_format.h) -----------------

using text::append_help_text;
using text::append_label_value;
using text::format_value;
using text::valid_utf8;

struct Label {
    std::string_view name;
    std::string_view value; // already valid UTF-8; escaped when written
};

// `a="x",b="y"` without braces, so bucket lines can append le.
std::string label_list(std::initializer_list<Label> labels) {
    std::string out;
    for (const Label& l : labels) {
        if (!out.empty()) out += ',';
        out += l.name;
        out += "=\"";
        append_label_value(out, l.value);
        out += '"';
    }
    return out;
}

enum class Type { counter, gauge, histogram, summary };

std::string_view type_name(Type t) {
    switch (t) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
    case Type::summary: return "summary";
    }
    return "untyped";
}

class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}

    void family(std::string_view name, Type type, std::string_view help) {
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        append_help_text(out_, help);
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type_name(type);
        out_ += '\n';
    }

    // name{labels[,extra_name="extra_value"]} value
    void sample(std::string_view name, std::string_view labels, std::string_view value,
                std::string_view extra_name = {}, std::string_view extra_value = {}) {
        out_ += name;
        if (!labels.empty() || !extra_name.empty()) {
            out_ += '{';
            out_ += labels;
            if (!extra_name.empty()) {
                if (!labels.empty()) out_ += ',';
                out_ += extra_name;
                out_ += "=\"";
                append_label_value(out_, extra_value);
                out_ += '"';
            }
            out_ += '}';
        }
        out_ += ' ';
        out_ += value;
        out_ += '\n';
    }

    void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
        sample(name, labels, std::string_view{fmt::format("{}", value)});
    }

private:
    std::string& out_;
};

// ---- label keys ---------------------------------------------------------------------------

// The exposed labels of one histogram series. Server series have no peer labels, so the
// peer fields stay empty for them and equal keys merge.
struct ExchangeKey {
    std::string service, method, route;
    std::uint16_t status = 0;
    std::string peer_address;
    std::uint16_t peer_port = 0;
    auto operator<=>(const ExchangeKey&) const = default; // NOLINT(modernize-use-nullptr)
};

struct EndpointKey {
    Role role = Role::server;
    std::string service, method, route;
    std::string peer_address;
    std::uint16_t peer_port = 0;
    auto operator<=>(const EndpointKey&) const = default; // NOLINT(modernize-use-nullptr)
};

bool known_role(Role r) {
    return r == Role::server || r == Role::client;
}

std::string_view role_label(Role r) {
    return r == Role::server ? "server" : "client";
}

// ---- families -----------------------------------------------------------------------------

// Upper bounds to emit: finite and strictly ascending. A skipped bound's bucket count is
// still added to the running total, so it lands in the next emitted bucket.
std::vector<std::pair<std::size_t, std::string>> emitted_bounds(const std::vector<double>& bounds) {
    std::vector<std::pair<std::size_t, std::string>> out;
    double last = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        const double b = bounds[i];
        if (!std::isfinite(b) || b <= last) continue;
        last = b;
        out.emplace_back(i, format_value(b));
    }
    return out;
}

void render_histograms(Writer& w, const engine::Snapshot& snap, Role role) {
    std::map<ExchangeKey, engine::LatencyHistogram> merged;
    const std::size_t nbuckets = snap.latency_bounds_seconds.size() + 1;
    for (const auto& s : snap.series) {
        if (s.role != role) continue;
        ExchangeKey key{valid_utf8(s.service), valid_utf8(s.method), valid_utf8(s.route), s.status, {}, 0};
        if (role == Role::client) {
            key.peer_address = valid_utf8(s.peer_address);
            key.peer_port = s.peer_port;
        }
        auto& h = merged[std::move(key)];
        // Extra buckets beyond the bounds can only be (+Inf); fold them into the last one.
        h.bucket_counts.resize(nbuckets, 0);
        for (std::size_t i = 0; i < s.latency.bucket_counts.size(); ++i)
            h.bucket_counts[std::min(i, nbuckets - 1)] += s.latency.bucket_counts[i];
        h.sum_seconds += s.latency.sum_seconds;
        h.count += s.latency.count;
    }
    if (merged.empty()) return;

    const bool server = role == Role::server;
    const std::string_view name =
        server ? "http_server_request_duration_seconds" : "http_client_request_duration_seconds";
    const std::string bucket = std::string(name) + "_bucket";
    const std::string sum = std::string(name) + "_sum";
    const std::string count = std::string(name) + "_count";
    w.family(name, Type::histogram,
             server ? "Duration of HTTP server requests: first request byte received to first "
                      "response byte sent, measured in the kernel."
                    : "Duration of HTTP client requests: first request byte sent to first "
                      "response byte received, measured in the kernel.");

    const auto bounds = emitted_bounds(snap.latency_bounds_seconds);
    for (const auto& [k, h] : merged) {
        const std::string status = fmt::format("{}", k.status);
        const std::string port = fmt::format("{}", k.peer_port);
        const std::string labels = server ? label_list({{"service", k.service},
                                                        {"http_request_method", k.method},
                                                        {"http_route", k.route},
                                                        {"http_response_status_code", status}})
                                          : label_list({{"service", k.service},
                                                        {"http_request_method", k.method},
                                                        {"http_route", k.route},
                                                        {"http_response_status_code", status},
                                                        {"server_address", k.peer_address},
                                                        {"server_port", port}});
        std::uint64_t cumulative = 0;
        std::size_t next = 0; // first bucket not yet added
        for (const auto& [index, le] : bounds) {
            for (; next <= index; ++next)
                cumulative += h.bucket_counts[next];
            w.sample(bucket, labels, fmt::format("{}", cumulative), "le", le);
        }
        for (; next < h.bucket_counts.size(); ++next)
            cumulative += h.bucket_counts[next];
        // +Inf must equal _count; if the engine's count and buckets disagree, the larger
        // keeps every bucket <= +Inf.
        const std::uint64_t total = std::max(cumulative, h.count);
        const std::string total_text = fmt::format("{}", total);
        w.sample(bucket, labels, total_text, "le", "+Inf");
        w.sample(sum, labels, format_value(h.sum_seconds));
        w.sample(count, labels, total_text);
    }
}

void render_quantiles(Writer& w, const engine::Snapshot& snap) {
    std::map<EndpointKey, const engine::EndpointQuantiles*> chosen;
    for (const auto& q : snap.quantiles) {
        if (!known_role(q.role) || q.count == 0) continue;
        EndpointKey key{q.role, valid_utf8(q.service), valid_utf8(q.method), valid_utf8(q.route), {}, 0};
        if (q.role == Role::client) {
            key.peer_address = valid_utf8(q.peer_address);
            key.peer_port = q.peer_port;
        }
        // Quantiles cannot be merged; of duplicates keep the one that saw the most.
        auto [it, inserted] = chosen.try_emplace(std::move(key), &q);
        if (!inserted && q.count > it->second->count) it->second = &q;
    }
    if (chosen.empty()) return;

    constexpr std::string_view name = "homeostat_http_request_duration_quantile_seconds";
    w.family(name, Type::summary,
             "Latency quantiles per endpoint over the recent aggregation windows only (not "
             "since start), from a mergeable sketch with 1% relative error.");
    for (const auto& [k, q] : chosen) {
        const std::string port = fmt::format("{}", k.peer_port);
        const std::string labels = k.role == Role::server ? label_list({{"role", role_label(k.role)},
                                                                        {"service", k.service},
                                                                        {"http_request_method", k.method},
                                                                        {"http_route", k.route}})
                                                          : label_list({{"role", role_label(k.role)},
                                                                        {"service", k.service},
                                                                        {"http_request_method", k.method},
                                                                        {"http_route", k.route},
                                                                        {"server_address", k.peer_address},
                                                                        {"server_port", port}});
        const std::pair<std::string_view, double> values[] = {
            {"0.5", q->p50}, {"0.9", q->p90}, {"0.95", q->p95}, {"0.99", q->p99}};
        for (const auto& [quantile, v] : values)
            w.sample(name, labels, format_value(v), "quantile", quantile);
    }
}

void render_request_bytes(Writer& w, const engine::Snapshot& snap) {
    std::map<EndpointKey, std::uint64_t> bytes;
    for (const auto& s : snap.series) {
        if (!known_role(s.role)) continue;
        bytes[EndpointKey{s.role, valid_utf8(s.service), valid_utf8(s.method), valid_utf8(s.route), {}, 0}] +=
            s.request_bytes;
    }
    if (bytes.empty()) return;
    constexpr std::string_view name = "homeostat_http_request_size_bytes_total";
    w.family(name, Type::counter,
             "HTTP request bytes (head and body) seen before each response began, per endpoint and role.");
    for (const auto& [k, n] : bytes) {
        w.sample(name,
                 label_list({{"role", role_label(k.role)},
                             {"service", k.service},
                             {"http_request_method", k.method},
                             {"http_route", k.route}}),
                 n);
    }
}

// One label, summed per value, sorted by value.
std::map<std::string, std::uint64_t>
sum_by_label(const std::vector<std::pair<std::string, std::uint64_t>>& in) {
    std::map<std::string, std::uint64_t> out;
    for (const auto& [v, n] : in)
        out[valid_utf8(v)] += n;
    return out;
}

void render_by_label(Writer& w, std::string_view name, std::string_view help, std::string_view label,
                     const std::map<std::string, std::uint64_t>& values) {
    if (values.empty()) return;
    w.family(name, Type::counter, help);
    for (const auto& [v, n] : values)
        w.sample(name, label_list({{label, v}}), n);
}

} // namespace

void render_detection(Writer& w, const DetectionStats& d) {
    if (!d.scores.empty()) {
        w.family("homeostat_anomaly_score", Type::gauge,
                 "Anomaly score in [0,1] of a watched series in its latest window (0.8 and above for "
                 "two windows opens an anomaly). Series still learning are left out.");
        std::map<std::tuple<std::string, std::string, std::string>, double> merged;
        for (const auto& s : d.scores) {
            double& v = merged[{valid_utf8(s.service), valid_utf8(s.endpoint), valid_utf8(s.signal)}];
            v = std::max(v, s.score);
        }
        for (const auto& [k, v] : merged)
            w.sample("homeostat_anomaly_score",
                     label_list({{"service", std::get<0>(k)}, {"endpoint", std::get<1>(k)}, {"signal", std::get<2>(k)}}),
                     std::string_view{format_value(v)});
    }
    auto open = sum_by_label(d.open_by_type);
    for (const auto& t : d.types) open.try_emplace(valid_utf8(t), 0);
    if (open.empty()) return;
    w.family("homeostat_anomalies_open", Type::gauge, "Anomalies open now, by type.");
    for (const auto& [t, n] : open)
        w.sample("homeostat_anomalies_open", label_list({{"type", t}}), n);
}

std::string render_prometheus(const engine::Snapshot& snap, const AgentStats& agent,
                              const DetectionStats* detection) {
    std::string out;
    // A histogram line is ~150 bytes; this avoids most regrowth without a second pass.
    out.reserve(4096 + snap.series.size() * (snap.latency_bounds_seconds.size() + 4) * 160 +
                snap.quantiles.size() * 4 * 160);
    Writer w(out);

    render_histograms(w, snap, Role::server);
    render_histograms(w, snap, Role::client);
    render_quantiles(w, snap);
    render_request_bytes(w, snap);

    std::map<std::string, std::uint64_t> overflowed;
    for (const auto& [service, n] : snap.routes_overflowed)
        overflowed[valid_utf8(service)] += n;
    render_by_label(w, "homeostat_http_routes_overflowed_total",
                    "Exchanges counted under the per-service overflow route because the "
                    "service reached its route limit.",
                    "service", overflowed);

    render_by_label(w, "homeostat_events_total", "Events received from the kernel, by kind.", "kind",
                    sum_by_label(agent.events_by_kind));

    // Zero drops must be visible: a missing series cannot be told from a broken exporter.
    auto dropped = sum_by_label(agent.dropped_by_reason);
    dropped.try_emplace(std::string(abi::stat_name(HS_STAT_RINGBUF_DROPS)), 0);
    dropped.try_emplace(std::string(abi::stat_name(HS_STAT_STORAGE_FAILS)), 0);
    render_by_label(w, "homeostat_events_dropped_total", "Events lost before aggregation, by reason.",
                    "reason", dropped);

    if (detection) render_detection(w, *detection);

    w.family("homeostat_unattributed_events_total", Type::counter,
             "Exchanges that could not be attributed to a service.");
    w.sample("homeostat_unattributed_events_total", {}, agent.unattributed_events);

    w.family("homeostat_build_info", Type::gauge,
             "Build of the running homeostat agent; the value is always 1.");
    const std::string abi = fmt::format("{}", agent.abi_version);
    w.sample("homeostat_build_info",
             label_list({{"version", valid_utf8(agent.version)},
                         {"git_rev", valid_utf8(agent.git_rev)},
                         {"abi_version", abi}}),
             std::string_view{"1"});

    w.family("process_start_time_seconds", Type::gauge,
             "Start time of the process since unix epoch in seconds.");
    w.sample("process_start_time_seconds", {}, format_value(agent.start_time_seconds));
    return out;
}

} // namespace homeostat::exporters
