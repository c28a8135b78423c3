#include "engine/policy/tuner.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace homeostat::engine::policy {
namespace {

bool moved(double before, double after, double min_change) {
    if (before == 0) return after != 0;
    return std::fabs(after - before) / std::fabs(before) > min_change;
}

std::string text(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
}

} // namespace

Tuner::Tuner(TunerConfig config) : config_(config) {}

ResilienceSettings Tuner::compute(const UpstreamStats& s) const {
    const TunerConfig& c = config_;
    ResilienceSettings r;
    r.timeout_ms = std::clamp(s.p99_seconds * 1000 * c.timeout_margin, c.timeout_min_ms, c.timeout_max_ms);

    double retries = 0;
    if (s.error_ratio >= c.retry_error_ceiling) {
        retries = 0;
    } else if (s.error_ratio > c.target_failure && s.error_ratio > 0) {
        retries = std::ceil(std::log(c.target_failure) / std::log(s.error_ratio)) - 1;
    }
    if (c.latency_budget_ms > 0) retries = std::min(retries, std::floor(c.latency_budget_ms / r.timeout_ms) - 1);
    r.max_retries = static_cast<std::uint32_t>(
        std::clamp(retries, static_cast<double>(c.retries_min), static_cast<double>(c.retries_max)));

    r.circuit_breaker_threshold = std::clamp(s.error_ratio * c.breaker_factor, c.breaker_min, c.breaker_max);
    const double in_flight = std::ceil(s.rate_per_s * s.p99_seconds * c.bulkhead_headroom);
    r.bulkhead_max_concurrent = static_cast<std::uint32_t>(
        std::clamp(in_flight, static_cast<double>(c.bulkhead_min), static_cast<double>(c.bulkhead_max)));
    return r;
}

std::optional<ResilienceSettings> Tuner::update(const std::string& service, const std::string& upstream,
                                                const UpstreamStats& s, double now) {
    if (s.requests < config_.min_requests) return std::nullopt;
    const ResilienceSettings next = compute(s);
    auto it = current_.find({service, upstream});
    if (it != current_.end()) {
        const Entry& e = it->second;
        if (now - e.changed_at < config_.cooldown_seconds) return std::nullopt;
        const bool changed = moved(e.settings.timeout_ms, next.timeout_ms, config_.min_change) ||
                             moved(e.settings.circuit_breaker_threshold, next.circuit_breaker_threshold, config_.min_change) ||
                             e.settings.max_retries != next.max_retries ||
                             moved(e.settings.bulkhead_max_concurrent, next.bulkhead_max_concurrent, config_.min_change);
        if (!changed) return std::nullopt;
    }
    current_[{service, upstream}] = {next, now};
    return next;
}

std::optional<ResilienceSettings> Tuner::current(const std::string& service, const std::string& upstream) const {
    auto it = current_.find({service, upstream});
    if (it == current_.end()) return std::nullopt;
    return it->second.settings;
}

nlohmann::json Tuner::save() const {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& [key, e] : current_)
        entries.push_back({{"service", key.first},
                           {"upstream", key.second},
                           {"timeout_ms", e.settings.timeout_ms},
                           {"max_retries", e.settings.max_retries},
                           {"circuit_breaker_threshold", e.settings.circuit_breaker_threshold},
                           {"bulkhead_max_concurrent", e.settings.bulkhead_max_concurrent},
                           {"changed_at", e.changed_at}});
    return {{"version", 1}, {"entries", entries}};
}

void Tuner::load(const nlohmann::json& j) {
    if (j.at("version").get<int>() != 1) throw nlohmann::json::other_error::create(501, "tuner: unknown version", &j);
    std::map<std::pair<std::string, std::string>, Entry> current;
    for (const auto& e : j.at("entries")) {
        Entry x;
        x.settings.timeout_ms = e.at("timeout_ms").get<double>();
        x.settings.max_retries = e.at("max_retries").get<std::uint32_t>();
        x.settings.circuit_breaker_threshold = e.at("circuit_breaker_threshold").get<double>();
        x.settings.bulkhead_max_concurrent = e.at("bulkhead_max_concurrent").get<std::uint32_t>();
        x.changed_at = e.at("changed_at").get<double>();
        current[{e.at("service").get<std::string>(), e.at("upstream").get<std::string>()}] = x;
    }
    current_ = std::move(current);
}

Action resilience_action(const std::string& service, const std::string& upstream, const ResilienceSettings& settings,
                         const std::string& target) {
    Action a;
    a.kind = ActionKind::config_file;
    a.service = service;
    a.target = target;
    a.rule = "tuner";
    a.dry_run = false;
    a.vars = {{"upstream", upstream},
              {"timeout_ms", std::to_string(std::llround(settings.timeout_ms))},
              {"max_retries", std::to_string(settings.max_retries)},
              {"circuit_breaker_threshold", text(settings.circuit_breaker_threshold)},
              {"bulkhead_max_concurrent", std::to_string(settings.bulkhead_max_concurrent)}};
    a.reason = "tuner: " + service + " → " + upstream + ": timeout " + a.vars["timeout_ms"] + " ms, " +
               a.vars["max_retries"] + " retries, breaker at " + a.vars["circuit_breaker_threshold"] +
               " errors, bulkhead " + a.vars["bulkhead_max_concurrent"];
    return a;
}

UpstreamHealth::UpstreamHealth(UpstreamHealthConfig config) : config_(config) {}

void UpstreamHealth::observe(const std::string& upstream, double latency_seconds, double success_ratio) {
    success_ratio = std::clamp(success_ratio, 0.0, 1.0);
    auto [it, fresh] = ema_.try_emplace(upstream, Ema{latency_seconds, success_ratio});
    if (fresh) return; // the first observation is the average so far
    const double a = config_.alpha;
    it->second.latency = a * latency_seconds + (1 - a) * it->second.latency;
    it->second.success = a * success_ratio + (1 - a) * it->second.success;
}

double UpstreamHealth::score(const std::string& upstream) const {
    auto it = ema_.find(upstream);
    if (it == ema_.end()) return 0;
    double best = 0;
    for (const auto& [name, e] : ema_)
        if (e.latency > 0 && (best == 0 || e.latency < best)) best = e.latency;
    const double speed = it->second.latency > 0 && best > 0 ? best / it->second.latency : 1;
    return it->second.success * speed;
}

std::optional<std::pair<double, double>> UpstreamHealth::averages(const std::string& upstream) const {
    auto it = ema_.find(upstream);
    if (it == ema_.end()) return std::nullopt;
    return std::make_pair(it->second.latency, it->second.success);
}

std::map<std::string, std::uint32_t> UpstreamHealth::weights() const {
    std::map<std::string, double> scores;
    double best = 0;
    for (const auto& [name, e] : ema_) best = std::max(best, scores[name] = score(name));
    std::map<std::string, std::uint32_t> out;
    for (const auto& [name, s] : scores) {
        const double w = best > 0 ? std::round(config_.max_weight * s / best) : config_.min_weight;
        out[name] = static_cast<std::uint32_t>(std::clamp(w, config_.min_weight, config_.max_weight));
    }
    return out;
}

nlohmann::json UpstreamHealth::save() const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [name, e] : ema_) j[name] = {{"latency", e.latency}, {"success", e.success}};
    return {{"version", 1}, {"upstreams", j}};
}

void UpstreamHealth::load(const nlohmann::json& j) {
    if (j.at("version").get<int>() != 1) throw nlohmann::json::other_error::create(501, "upstream health: unknown version", &j);
    std::map<std::string, Ema> ema;
    for (const auto& [name, e] : j.at("upstreams").items()) ema[name] = {e.at("latency").get<double>(), e.at("success").get<double>()};
    ema_ = std::move(ema);
}

} // namespace homeostat::engine::policy
