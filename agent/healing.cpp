#include "agent/healing.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace homeostat::agent {

using engine::policy::ActionKind;
using engine::policy::Decision;
using engine::policy::Verdict;

namespace {

// Windows of upstream figures the tuner looks at: about a minute of 10 s windows.
constexpr std::size_t kTunerWindows = 6;
// Services and upstreams the tuner keeps figures for.
constexpr std::size_t kMaxUpstreams = 2000;

std::string unit_of(const std::string& v2_path) {
    const auto slash = v2_path.find_last_of('/');
    const std::string last = slash == std::string::npos ? v2_path : v2_path.substr(slash + 1);
    for (const char* suffix : {".service", ".scope"})
        if (last.size() > std::strlen(suffix) && last.compare(last.size() - std::strlen(suffix), std::string::npos,
                                                              suffix) == 0)
            return last;
    return "";
}

nlohmann::json map_json(const std::map<std::string, std::string>& m) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : m) j[k] = v;
    return j;
}

} // namespace

nlohmann::json to_json(const actuators::Change& c) {
    return {{"kind", engine::policy::to_string(c.kind)}, {"summary", c.summary}, {"before", map_json(c.before)},
            {"after", map_json(c.after)}, {"commands", c.commands}};
}

actuators::Change change_from_json(const nlohmann::json& j) {
    actuators::Change c;
    if (!engine::policy::parse_action_kind(j.at("kind").get<std::string>(), c.kind))
        throw std::invalid_argument("unknown action kind in a saved change");
    c.summary = j.at("summary").get<std::string>();
    for (const auto& [k, v] : j.at("before").items()) c.before[k] = v.get<std::string>();
    for (const auto& [k, v] : j.at("after").items()) c.after[k] = v.get<std::string>();
    c.commands = j.at("commands").get<std::vector<std::string>>();
    return c;
}

Healing::Healing(HealingConfig config, Store* store, Post post, double host_cores)
    : config_(std::move(config)),
      store_(store),
      post_(std::move(post)),
      host_cores_(host_cores),
      systemd_running_(std::filesystem::exists("/run/systemd/system")),
      planner_(config_.policy),
      tuner_(config_.tuner),
      balancer_(config_.load_balancing),
      actuators_(std::make_unique<actuators::Actuators>(config_.actuators)),
      strategies_(std::make_unique<HealingStrategies>(config_, systemd_running_)) {
    worker_ = std::thread([this] {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(mu_);
                cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
                if (stopping_) return;
                job = std::move(queue_.front());
                queue_.pop_front();
            }
            job();
        }
    });
}

Healing::~Healing() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        queue_.clear();
    }
    cv_.notify_all();
    worker_.join();
}

void Healing::run(std::function<void()> work) {
    ++in_flight_;
    {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(work));
    }
    cv_.notify_one();
}

actuators::ServiceTarget Healing::target_of(const exporters::ServiceHealth& h, bool systemd_running) {
    actuators::ServiceTarget t;
    t.service = h.service;
    if (auto it = h.cgroup.dirs.find("v2"); it != h.cgroup.dirs.end()) t.cgroup_v2_dir = it->second;
    for (const char* c : {"cpu", "memory", "pids"})
        if (auto it = h.cgroup.dirs.find(c); it != h.cgroup.dirs.end()) t.v1_dirs[c] = it->second;
    // systemd is the single writer of the cgroups of its units: only where it runs.
    if (systemd_running) t.systemd_unit = unit_of(h.cgroup.v2_path);
    for (const auto& p : h.processes)
        if (p.main) t.main_pid = static_cast<int>(p.pid);
    return t;
}

const exporters::ServiceHealth* Healing::find(const std::vector<exporters::ServiceHealth>& health,
                                              const std::string& service) const {
    for (const auto& h : health)
        if (h.service == service) return &h;
    return nullptr;
}

std::vector<engine::policy::ServiceState> Healing::states(const std::vector<engine::detect::Anomaly>& anomalies,
                                                          const std::vector<exporters::ServiceHealth>& health,
                                                          const std::vector<engine::EndpointWindow>& window) const {
    std::map<std::string, engine::policy::ServiceState> by;
    for (const auto& h : health) {
        auto& s = by[h.service];
        s.service = h.service;
        s.cpu_usage_cores = h.cpu_usage_cores;
        s.cpu_quota_cores = h.cgroup.cpu_quota_cores.value_or(0);
        s.cpu_weight = h.cgroup.cpu_weight.value_or(s.cpu_weight);
        s.host_cores = host_cores_;
        s.memory_bytes = static_cast<double>(h.cgroup.memory_usage_bytes.value_or(h.resident_memory_bytes));
        s.memory_high_bytes = static_cast<double>(h.cgroup.memory_high_bytes.value_or(0));
        s.memory_max_bytes = static_cast<double>(h.cgroup.memory_limit_bytes.value_or(0));
        s.pids_current = static_cast<double>(h.cgroup.pids_current.value_or(h.processes.size()));
        s.pids_max = static_cast<double>(h.cgroup.pids_max.value_or(0));
    }
    // The service's latency: the slowest p99 among its server endpoints with traffic (an
    // upper bound of the service's own p99); errors over all of them.
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> volume;
    for (const auto& e : window) {
        if (e.role != engine::Role::server || e.count == 0) continue;
        auto& s = by[e.service];
        s.service = e.service;
        s.host_cores = host_cores_;
        s.latency_p99_seconds = std::max(s.latency_p99_seconds, e.p99);
        s.endpoint_p99_seconds[engine::detect::endpoint_label(e)] = e.p99;
        volume[e.service].first += e.count;
        volume[e.service].second += e.errors;
    }
    for (const auto& [svc, v] : volume) by[svc].error_ratio = v.first ? double(v.second) / double(v.first) : 0;
    for (const auto& a : anomalies)
        if (a.open) {
            auto& s = by[a.service];
            s.service = a.service;
            if (std::find(s.open_anomalies.begin(), s.open_anomalies.end(), a.type) == s.open_anomalies.end())
                s.open_anomalies.push_back(a.type);
        }
    std::vector<engine::policy::ServiceState> out;
    out.reserve(by.size());
    for (auto& [_, s] : by) out.push_back(std::move(s));
    return out;
}

std::vector<engine::detect::Anomaly> Healing::evaluate(const std::vector<engine::detect::Anomaly>& anomalies,
                                                       const std::vector<exporters::ServiceHealth>& health,
                                                       const std::vector<engine::EndpointWindow>& window,
                                                       double window_seconds, double now) {
    std::vector<engine::detect::Anomaly> alerts;
    if (!config_.policy.enabled) return alerts;
    const auto st = states(anomalies, health, window);
    auto decisions = planner_.on_anomalies(anomalies, st, now);
    for (auto& d : planner_.verify(st, now, window_seconds)) decisions.push_back(std::move(d));
    for (const auto& d : decisions) {
        handle(d, health, now);
        if (!d.critical_alert || stopped_.count(d.action.service)) continue;
        // The restart budget is spent: homeostat stops acting on the service; a person must look.
        engine::detect::Anomaly a;
        a.id = 1'000'000'000ull + ++alert_ids_;
        a.type = "healing_stopped";
        a.service = d.action.service;
        a.endpoint = "*";
        a.signal = "restarts";
        a.severity = engine::detect::Severity::critical;
        a.opened_at = a.started_at = now;
        a.score = a.peak = 1;
        a.evidence.observed = config_.policy.guardrails.restart_budget;
        a.evidence.limit = config_.policy.guardrails.restart_budget;
        a.evidence.window_seconds = config_.policy.guardrails.restart_budget_window_seconds;
        a.evidence.detectors = {"restart_budget"};
        a.at_open = a.evidence;
        stopped_[a.service] = now;
        spdlog::error("healing: {} restarted {} times within {:.0f} s: homeostat stops acting on it until the budget "
                      "frees up; look at the service ({})",
                      a.service, config_.policy.guardrails.restart_budget,
                      config_.policy.guardrails.restart_budget_window_seconds, d.reason);
        alerts.push_back(a);
    }
    for (auto it = stopped_.begin(); it != stopped_.end();) {
        if (planner_.guardrails().restart_budget_spent(it->first, now)) {
            ++it;
            continue;
        }
        engine::detect::Anomaly a;
        a.type = "healing_stopped";
        a.service = it->first;
        a.endpoint = "*";
        a.signal = "restarts";
        a.severity = engine::detect::Severity::critical;
        a.open = false;
        a.opened_at = a.started_at = it->second;
        a.resolved_at = now;
        spdlog::info("healing: the restart budget of {} has room again; homeostat acts on it again", a.service);
        alerts.push_back(a);
        it = stopped_.erase(it);
    }
    if (!config_.tuning.empty()) tune(window, window_seconds, health, now);
    if (!config_.load_balancing.empty()) balance(window, health, now);
    strategies_->evaluate(st, health, planner_.guardrails(), [&](const engine::policy::Action& a, const std::string& evidence, double cooldown) {
        const Decision d = planner_.decide(a, evidence, now, cooldown);
        handle(d, health, now);
        return d.verdict;
    }, now);
    return alerts;
}

void Healing::tune(const std::vector<engine::EndpointWindow>& window, double window_seconds,
                   const std::vector<exporters::ServiceHealth>& health, double now) {
    // One window per (service, upstream) from the client side of this window.
    std::map<std::pair<std::string, std::string>, UpstreamWindow> fresh;
    for (const auto& e : window) {
        if (e.role != engine::Role::client || e.count == 0 || e.peer_address.empty()) continue;
        auto& u = fresh[{e.service, e.peer_address + ":" + std::to_string(e.peer_port)}];
        u.requests += e.count;
        u.errors += e.errors;
        u.p99 = std::max(u.p99, e.p99);
        u.seconds = window_seconds;
    }
    for (auto& [key, w] : fresh) {
        if (!upstreams_.count(key) && upstreams_.size() >= kMaxUpstreams) continue;
        auto& q = upstreams_[key];
        q.push_back(w);
        while (q.size() > kTunerWindows) q.pop_front();
    }
    for (const auto& [key, q] : upstreams_) {
        const auto& [service, upstream] = key;
        const TuningTarget* target = nullptr;
        for (const auto& t : config_.tuning)
            if (engine::policy::glob_match(t.service, service) &&
                (t.upstream.empty() || engine::policy::glob_match(t.upstream, upstream)))
                target = &t;
        if (!target) continue;
        engine::policy::UpstreamStats s;
        double seconds = 0;
        std::uint64_t errors = 0;
        for (const auto& w : q) {
            s.requests += w.requests;
            errors += w.errors;
            s.p99_seconds = std::max(s.p99_seconds, w.p99);
            seconds += w.seconds;
        }
        s.error_ratio = s.requests ? double(errors) / double(s.requests) : 0;
        s.rate_per_s = seconds > 0 ? double(s.requests) / seconds : 0;
        auto settings = tuner_.update(service, upstream, s, now);
        if (!settings) continue;
        auto a = engine::policy::resilience_action(service, upstream, *settings, target->file);
        // Whole seconds, rounded up, for configs that take seconds (nginx proxy_read_timeout).
        a.vars["timeout_s"] = std::to_string(static_cast<long long>(std::ceil(settings->timeout_ms / 1000.0)));
        a.dry_run = target->dry_run;
        char evidence[256];
        std::snprintf(evidence, sizeof evidence,
                      "%s → %s over the last %.0f s: %llu calls, p99 %.1f ms, %.2f %% errors, %.1f calls/s",
                      service.c_str(), upstream.c_str(), seconds, static_cast<unsigned long long>(s.requests),
                      s.p99_seconds * 1000, s.error_ratio * 100, s.rate_per_s);
        const Decision d = planner_.decide(a, evidence, now);
        // Only what is written (or shown as a dry-run) counts as current: a refusal is asked again.
        if (d.verdict != Verdict::execute && d.verdict != Verdict::dry_run) tuner_.forget(service, upstream);
        if (store_) {
            TunedRecord t;
            t.at = now;
            t.service = service;
            t.target = upstream;
            t.settings = nlohmann::json{{"timeout_ms", settings->timeout_ms},
                                        {"max_retries", settings->max_retries},
                                        {"circuit_breaker_threshold", settings->circuit_breaker_threshold},
                                        {"bulkhead_max_concurrent", settings->bulkhead_max_concurrent},
                                        {"file", target->file}}
                             .dump();
            t.applied = d.verdict == Verdict::execute;
            t.reason = std::string(to_string(d.verdict)) + ": " + evidence;
            if (auto r = store_->add_tuned(t); !r) spdlog::warn("healing: {}", r.error().message);
        }
        handle(d, health, now);
    }
}

void Healing::audit(const Decision& d, const std::string& verdict, const std::string& summary,
                    const nlohmann::json& detail, double now) {
    ++counts_[verdict];
    if (on_action_ && !d.anomaly_type.empty() && verdict != "refused" && verdict != "deferred")
        on_action_(d.action.service, d.anomaly_type, verdict + ": " + summary);
    if (!store_) return;
    ActionRecord r;
    r.at = now;
    r.service = d.action.service;
    r.kind = engine::policy::to_string(d.action.kind);
    r.rule = d.action.rule;
    r.verdict = verdict;
    r.summary = summary;
    r.reason = d.reason.empty() ? d.evidence : d.reason + (d.evidence.empty() ? "" : "; " + d.evidence);
    r.detail = detail.dump();
    r.anomaly_id = d.action.anomaly_id;
    auto id = store_->add_action(r);
    if (!id) {
        if (id.error().message != last_store_error_)
            spdlog::error("healing: the audit log cannot be written: {} (decisions are still logged here)",
                          id.error().message);
        last_store_error_ = id.error().message;
        return;
    }
    last_store_error_.clear();
    audit_rows_[d.id] = id.value();
    while (audit_rows_.size() > engine::policy::Planner::max_pending * 4) audit_rows_.erase(audit_rows_.begin());
}

void Healing::handle(const Decision& d, const std::vector<exporters::ServiceHealth>& health, double now) {
    const std::string what = std::string(engine::policy::to_string(d.action.kind)) + " on " + d.action.service +
                             " (rule " + d.action.rule + ")";
    nlohmann::json detail = {{"decision", engine::policy::to_json(d)}};
    if (d.repeat) { // an open anomaly asks again every window: said once
        spdlog::debug("healing: {} {} again: {}", what, to_string(d.verdict), d.reason);
        return;
    }
    switch (d.verdict) {
    case Verdict::refused:
    case Verdict::deferred:
        spdlog::info("healing: {} {}: {}; evidence: {}", what, to_string(d.verdict), d.reason, d.evidence);
        audit(d, to_string(d.verdict), what + " " + to_string(d.verdict), detail, now);
        return;
    case Verdict::verified: {
        // The planner gives a verification an id of its own; the action it judged is verified_of.
        const std::uint64_t original = d.verified_of;
        const std::string verdict = d.improved ? "verified" : "not_improved";
        spdlog::info("healing: {} {}: {}; {}", what, verdict, d.reason, d.evidence);
        ++counts_[verdict];
        changes_.erase(original); // judged for good: nothing left to undo
        if (auto it = audit_rows_.find(original); store_ && it != audit_rows_.end())
            store_->update_action(it->second, verdict, detail.dump(), now);
        return;
    }
    case Verdict::dry_run:
    case Verdict::execute:
        break;
    }
    const exporters::ServiceHealth* h = find(health, d.action.service);
    const actuators::ServiceTarget target = h ? target_of(*h, systemd_running_) : actuators::ServiceTarget{};
    if (!h && d.action.kind != ActionKind::config_file) {
        spdlog::warn("healing: {} not carried out: the service is gone", what);
        audit(d, "failed", what + ": the service is gone", detail, now);
        return;
    }
    auto* act = actuators_.get();
    const double t0 = now;
    if (d.verdict == Verdict::execute && d.rollback_of) {
        auto it = changes_.find(d.rollback_of);
        if (it == changes_.end()) {
            spdlog::warn("healing: cannot roll back decision {}: what it changed is not known", d.rollback_of);
            audit(d, "rollback_failed", what + ": nothing known to roll back", detail, now);
            return;
        }
        const actuators::Change change = it->second;
        run([this, act, change, target, d, detail, t0, what]() mutable {
            auto r = act->revert(change, target);
            post_([this, r, d, detail, t0, what, change]() mutable {
                --in_flight_;
                if (r) {
                    spdlog::warn("healing: rolled back {} (it did not help: {}): {}", what, d.reason, change.summary);
                    changes_.erase(d.rollback_of);
                    if (auto row = audit_rows_.find(d.rollback_of); store_ && row != audit_rows_.end())
                        store_->update_action(row->second, "rolled_back", detail.dump(), t0);
                    audit(d, "rolled_back", "undid: " + change.summary, detail, t0);
                } else {
                    detail["error"] = r.error().message;
                    spdlog::error("healing: rolling back {} failed: {}", what, r.error().message);
                    audit(d, "rollback_failed", what + ": " + r.error().message, detail, t0);
                }
            });
        });
        return;
    }
    const bool dry = d.verdict == Verdict::dry_run;
    engine::policy::Action a = d.action;
    a.dry_run = dry;
    run([this, act, a, target, d, detail, t0, what, dry]() mutable {
        auto r = act->apply(a, target);
        post_([this, r, d, detail, t0, what, dry]() mutable {
            --in_flight_;
            if (!r) {
                detail["error"] = r.error().message;
                if (dry) spdlog::info("healing: dry-run: {} could not be done: {}; evidence: {}", what,
                                      r.error().message, d.evidence);
                else spdlog::error("healing: {} failed: {}", what, r.error().message);
                if (d.action.rule == "tuner" && d.action.vars.count("upstream"))
                    tuner_.forget(d.action.service, d.action.vars.at("upstream")); // propose again
                if (d.action.rule == engine::policy::LoadBalancer::kRule)
                    if (auto g = balancer_.group_of_file(d.action.target)) balancer_.forget(*g);
                audit(d, dry ? "dry_run" : "failed", what + ": " + r.error().message, detail, t0);
                return;
            }
            detail["change"] = to_json(r.value());
            if (dry) {
                spdlog::info("healing: dry-run: {}: would {}; evidence: {}", what, r.value().summary.substr(9),
                             d.evidence);
                audit(d, "dry_run", r.value().summary, detail, t0);
                return;
            }
            spdlog::warn("healing: {}: {}; evidence: {}", what, r.value().summary, d.evidence);
            changes_[d.id] = r.value();
            while (changes_.size() > engine::policy::Planner::max_pending) changes_.erase(changes_.begin());
            planner_.register_applied(d.id, d.baseline, t0);
            audit(d, "applied", r.value().summary, detail, t0);
        });
    });
}

nlohmann::json Healing::status() const {
    const auto& g = config_.policy.guardrails;
    nlohmann::json counts = nlohmann::json::object();
    for (const auto& [k, v] : counts_) counts[k] = v;
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : config_.actuators.files) files.push_back({{"name", f.name}, {"path", f.path}});
    return {{"enabled", config_.policy.enabled},
            {"dry_run", g.dry_run},
            {"restarts_enabled", g.restarts_enabled},
            {"config", config_.source},
            {"rules", config_.policy.rules.size()},
            {"pending_verifications", planner_.pending_verifications()},
            {"strategies", strategies_->status()},
            {"jobs_in_flight", in_flight_},
            {"decisions", counts},
            {"stopped_services", [&] {
                 nlohmann::json s = nlohmann::json::array();
                 for (const auto& [svc, _] : stopped_) s.push_back(svc);
                 return s;
             }()},
            {"allowed", {{"cgroups", config_.actuators.cgroup_allow},
                         {"units", config_.actuators.unit_allow},
                         {"files", files},
                         {"restarts", config_.actuators.restarts.size()}}}};
}

void Healing::save_state(double now) {
    if (!store_) return;
    nlohmann::json changes = nlohmann::json::object();
    for (const auto& [id, c] : changes_) changes[std::to_string(id)] = to_json(c);
    nlohmann::json rows = nlohmann::json::object();
    for (const auto& [id, row] : audit_rows_) rows[std::to_string(id)] = row;
    nlohmann::json j = {{"version", 1}, {"planner", planner_.save()}, {"tuner", tuner_.save()},
                        {"load_balancing", balancer_.save()}, {"changes", changes}, {"audit_rows", rows},
                        {"strategies", strategies_->save()}};
    if (auto r = store_->put_document(kStateDocument, j.dump(), now); !r) {
        if (r.error().message != last_store_error_) spdlog::error("healing: state not saved: {}", r.error().message);
        last_store_error_ = r.error().message;
    }
}

void Healing::load_state() {
    if (!store_) return;
    auto doc = store_->get_document(kStateDocument);
    if (!doc || doc.value().empty()) return;
    try {
        const auto j = nlohmann::json::parse(doc.value());
        planner_.load(j.at("planner"));
        tuner_.load(j.at("tuner"));
        if (j.contains("load_balancing")) balancer_.load(j.at("load_balancing"));
        for (const auto& [id, c] : j.at("changes").items()) changes_[std::stoull(id)] = change_from_json(c);
        for (const auto& [id, row] : j.at("audit_rows").items()) audit_rows_[std::stoull(id)] = row.get<std::int64_t>();
        strategies_->load(j.value("strategies", nlohmann::json()));
        spdlog::info("healing: state restored ({} verifications pending)", planner_.pending_verifications());
    } catch (const std::exception& e) {
        spdlog::error("healing: the saved state is unreadable ({}); starting with fresh budgets and cooldowns",
                      e.what());
    }
}

} // namespace homeostat::agent
