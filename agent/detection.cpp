#include "agent/detection.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace homeostat::agent {
namespace {

using engine::detect::Anomaly;

void log_change(const Anomaly& a) {
    const auto& e = a.open ? a.at_open : a.evidence;
    std::string detectors;
    for (const auto& d : e.detectors) detectors += (detectors.empty() ? "" : ",") + d;
    if (a.open)
        spdlog::warn("anomaly #{} opened: {} ({}) service={} endpoint=\"{}\" {}: observed {}, expected {} "
                     "(interval {} .. {}), {} requests in the window, detectors [{}]{}",
                     a.id, a.type, engine::detect::severity_name(a.severity), a.service, a.endpoint, a.signal,
                     engine::detect::format_value(a.signal, e.observed), engine::detect::format_value(a.signal, e.expected), engine::detect::format_value(a.signal, e.lower),
                     engine::detect::format_value(a.signal, e.upper), e.requests, detectors,
                     e.seconds_to_exhaustion >= 0
                         ? fmt::format(", the limit ({}) in {:.0f} s at this rate",
                                       engine::detect::format_value(a.signal, e.limit), e.seconds_to_exhaustion)
                         : std::string());
    else
        spdlog::info("anomaly #{} resolved: {} ({}) service={} endpoint=\"{}\" after {:.0f} s, peak score {:.2f}",
                     a.id, a.type, engine::detect::severity_name(a.severity), a.service, a.endpoint,
                     a.resolved_at - a.started_at, a.peak);
}

} // namespace

Detection::Detection(DetectionOptions options, const engine::Aggregator& aggregator, std::chrono::nanoseconds start)
    : options_(std::move(options)), aggregator_(aggregator), monitor_(options_.live),
      next_window_(aggregator.window_of(start) + 1) {}

void Detection::load_state() {
    Store* store = options_.store;
    if (!store) return;
    auto text = store->get_document(kStateDocument);
    if (!text) {
        spdlog::warn("detection: {}; starting without saved baselines", text.error().message);
        return;
    }
    if (text.value().empty()) return; // first start
    try {
        monitor_.load(nlohmann::json::parse(text.value()));
    } catch (const std::exception& e) {
        // Kept for a post-mortem, out of the way of the next save.
        store->put_document(std::string(kStateDocument) + ".bad", text.value(), 0);
        spdlog::error("detection: the saved detector state in {} is not usable ({}); set aside as {}.bad; "
                      "learning afresh",
                      store->path().string(), e.what(), kStateDocument);
        return;
    }
    const std::int64_t started = next_window_ - 1;
    if (monitor_.last_window() >= started) {
        // The monotonic clock restarted (a reboot): keep the baselines, restart the axis.
        spdlog::info("detection: saved state is ahead of this boot's clock; baselines kept");
        monitor_.restart_clock(started);
    }
    spdlog::info("detection: restored {} series and {} anomalies from {}", monitor_.series_count(),
                 monitor_.anomalies().size(), store->path().string());
}

bool Detection::save_state(double unix_now) {
    Store* store = options_.store;
    if (!store) return true;
    // One row replaced in one transaction: a crash leaves the previous state or this one.
    if (auto r = store->put_document(kStateDocument, monitor_.save().dump(), unix_now); !r) {
        if (r.error().message != last_save_error_)
            spdlog::error("detection: cannot save the detector state: {}; baselines will not survive a restart "
                          "(detection goes on)", r.error().message);
        last_save_error_ = r.error().message;
        return false;
    }
    if (!last_save_error_.empty()) spdlog::info("detection: state saved again");
    last_save_error_.clear();
    return true;
}

std::vector<engine::ServiceWindow> Detection::resource_windows(const std::vector<ServiceTotals>& totals,
                                                               std::chrono::nanoseconds now) {
    std::vector<engine::ServiceWindow> out;
    const double elapsed = std::chrono::duration<double>(now - previous_totals_at_).count();
    const bool have_previous = previous_totals_at_.count() != 0 && elapsed > 0;
    for (const auto& t : totals) {
        engine::ServiceWindow w;
        w.service = t.service;
        w.memory_bytes = t.memory_bytes;
        if (t.memory_limit_bytes > 0) w.memory_limit_bytes = t.memory_limit_bytes;
        auto prev = previous_totals_.find(t.service);
        const bool known = prev != previous_totals_.end();
        if (have_previous && known)
            w.cpu_cores = std::max(t.cpu_seconds - prev->second.cpu_seconds, 0.0) / elapsed;
        // The counters start at 0 with the daemon: a service not seen before brings all of
        // its count as new. Counters only grow; a smaller value means they restarted.
        const std::uint64_t oom_before = known ? prev->second.oom_kills : 0;
        const std::uint64_t restarts_before = known ? prev->second.restarts : 0;
        w.oom_kills = t.oom_kills >= oom_before ? t.oom_kills - oom_before : 0;
        w.restarts = t.restarts >= restarts_before ? t.restarts - restarts_before : 0;
        if (t.cpu_limit_cores > 0) w.cpu_limit_cores = t.cpu_limit_cores;
        out.push_back(std::move(w));
    }
    previous_totals_.clear();
    for (const auto& t : totals) previous_totals_[t.service] = t;
    previous_totals_at_ = now;
    return out;
}

std::vector<Anomaly> Detection::tick(std::chrono::nanoseconds now, double unix_now,
                                     const std::vector<ServiceTotals>* totals) {
    std::vector<Anomaly> changes;
    const auto window = aggregator_.config().window;
    // Window w is closed once now >= (w + 1) * window + grace.
    const std::int64_t last_closed = aggregator_.window_of(now - options_.grace) - 1;
    if (last_closed < next_window_) return changes;
    // Windows older than the aggregator's ring are gone (the daemon was stalled): skip.
    const auto kept = static_cast<std::int64_t>(aggregator_.config().windows_kept);
    const std::int64_t newest_in_ring = aggregator_.window_of(now);
    if (next_window_ <= newest_in_ring - kept) {
        spdlog::warn("detection: windows {}..{} were not observed in time and are skipped", next_window_,
                     newest_in_ring - kept);
        next_window_ = newest_in_ring - kept + 1;
    }
    std::vector<engine::ServiceWindow> resources;
    if (totals) resources = resource_windows(*totals, now);
    for (std::int64_t w = next_window_; w <= last_closed; ++w) {
        const auto stats = aggregator_.window_stats(w);
        engine::detect::WindowInput in;
        if (totals && w == last_closed) in.services = &resources;
        in.window = w;
        in.window_seconds = std::chrono::duration<double>(window).count();
        const auto end = std::chrono::nanoseconds((w + 1) * window.count());
        in.end_unix = unix_now - std::chrono::duration<double>(now - end).count();
        in.endpoints = &stats;
        const ObservedWindow observed{stats, in.services, in.end_unix - in.window_seconds, in.window_seconds};
        for (const auto& sink : window_sinks_) sink(observed);
        for (auto& a : monitor_.observe(in)) {
            if (options_.log_changes) log_change(a);
            changes.push_back(std::move(a));
        }
    }
    next_window_ = last_closed + 1;
    return changes;
}

std::chrono::nanoseconds Detection::next_due(std::chrono::nanoseconds now) const {
    const auto window = aggregator_.config().window;
    const auto due = std::chrono::nanoseconds((aggregator_.window_of(now - options_.grace) + 1) * window.count()) +
                     options_.grace;
    return due - now;
}

nlohmann::json Detection::to_json() const {
    nlohmann::json list = nlohmann::json::array();
    std::size_t open = 0;
    for (const auto& a : monitor_.anomalies()) {
        open += a.open;
        list.push_back(engine::detect::to_json(a));
    }
    const auto& c = monitor_.config();
    return {{"open", open},
            {"anomalies", std::move(list)},
            {"series", monitor_.series_count()},
            {"series_overflowed", monitor_.series_overflowed()},
            {"window_seconds", std::chrono::duration<double>(aggregator_.config().window).count()},
            {"warmup_windows", c.warmup},
            {"state", options_.store ? options_.store->path().string() : std::string()}};
}

} // namespace homeostat::agent
