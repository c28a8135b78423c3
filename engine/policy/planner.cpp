#include "engine/policy/planner.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

namespace homeostat::engine::policy {
namespace {

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

bool numeric(ActionKind k) { return k != ActionKind::restart && k != ActionKind::config_file; }

// What a knob is set to now (0: no limit): what a rollback puts back.
double setting(const ServiceState& s, ActionKind k) {
    switch (k) {
    case ActionKind::cpu_quota: return s.cpu_quota_cores;
    case ActionKind::cpu_weight: return s.cpu_weight;
    case ActionKind::memory_high: return s.memory_high_bytes;
    case ActionKind::memory_max: return s.memory_max_bytes;
    case ActionKind::pids_max: return s.pids_max;
    default: return 0;
    }
}

// What a percentage applies to: the setting, or, with no limit, what the service
// effectively has (the host's cores, the next limit up, its current usage).
double base_value(const ServiceState& s, ActionKind k) {
    const double v = setting(s, k);
    if (v > 0) return v;
    switch (k) {
    case ActionKind::cpu_quota: return s.host_cores > 0 ? s.host_cores : s.cpu_usage_cores;
    case ActionKind::memory_high: return s.memory_max_bytes > 0 ? s.memory_max_bytes : s.memory_bytes;
    case ActionKind::memory_max: return s.memory_bytes;
    case ActionKind::pids_max: return s.pids_current;
    default: return v;
    }
}

std::string value_text(ActionKind k, double v) {
    if (k == ActionKind::memory_high || k == ActionKind::memory_max) return detect::format_value("memory", v);
    if (k == ActionKind::cpu_quota) return detect::format_value("cpu", v);
    std::ostringstream o;
    o << v;
    return o.str();
}

std::string num(double v) {
    std::ostringstream o;
    o.precision(4);
    o << v;
    return o.str();
}

std::string anomaly_text(const detect::Anomaly& a) {
    std::ostringstream o;
    o << a.type << " on " << a.service;
    if (!a.endpoint.empty() && a.endpoint != "*") o << " " << a.endpoint;
    o << " (" << detect::severity_name(a.severity) << ", anomaly #" << a.id << "): " << a.signal << " "
      << detect::format_value(a.signal, a.evidence.observed) << " vs expected "
      << detect::format_value(a.signal, a.evidence.expected);
    if (a.evidence.limit > 0) o << ", limit " << detect::format_value(a.signal, a.evidence.limit);
    if (a.evidence.seconds_to_exhaustion >= 0)
        o << ", exhaustion predicted in " << std::llround(a.evidence.seconds_to_exhaustion) << " s";
    return o.str();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool same_value(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)}); }

} // namespace

double signal_value(const ServiceState& s, const std::string& signal, const std::string& anomaly_type,
                    const std::string& endpoint) {
    if (signal == "latency_p99") {
        auto it = endpoint.empty() ? s.endpoint_p99_seconds.end() : s.endpoint_p99_seconds.find(endpoint);
        return it != s.endpoint_p99_seconds.end() ? it->second : s.latency_p99_seconds;
    }
    if (signal == "error_ratio") return s.error_ratio;
    if (signal == "cpu_utilisation") {
        const double cap = s.cpu_quota_cores > 0 ? s.cpu_quota_cores : s.host_cores;
        return cap > 0 ? s.cpu_usage_cores / cap : s.cpu_usage_cores;
    }
    if (signal == "memory_utilisation") {
        const double cap = s.memory_high_bytes > 0 ? s.memory_high_bytes : s.memory_max_bytes;
        return cap > 0 ? s.memory_bytes / cap : 0;
    }
    return has(s.open_anomalies, anomaly_type) ? 1 : 0; // "anomaly"
}

const char* to_string(Verdict v) {
    switch (v) {
    case Verdict::execute: return "execute";
    case Verdict::dry_run: return "dry_run";
    case Verdict::refused: return "refused";
    case Verdict::deferred: return "deferred";
    case Verdict::verified: return "verified";
    }
    return "refused";
}

Planner::Planner(PolicyConfig config) : config_(std::move(config)), guard_(config_.guardrails) {}

void Planner::finish(Decision& d, double cooldown_seconds, double now) {
    d.id = next_id_++;
    d.decided_at = now;
    if (d.verdict == Verdict::deferred || d.verdict == Verdict::refused) return;
    const GuardVerdict g = guard_.check(d.action, cooldown_seconds, now);
    if (!g.allowed) {
        d.verdict = Verdict::refused;
        d.reason = g.reason;
        d.critical_alert = g.critical_alert;
        return;
    }
    d.verdict = d.action.dry_run ? Verdict::dry_run : Verdict::execute;
    guard_.record(d.action, now);
    if (d.verdict == Verdict::execute) {
        proposed_.push_back(d);
        while (proposed_.size() > max_pending) proposed_.pop_front();
    }
}

Decision Planner::plan_rule(const Rule& rule, const detect::Anomaly& a, const ServiceState& s, const std::string& peer,
                            const std::string& peer_endpoint, double now) {
    Decision d;
    d.anomaly_type = a.type;
    d.evidence = anomaly_text(a);
    d.verify_signal = rule.verify.signal.empty() ? default_signal(rule.verify.service == "peer" ? rule.match.while_anomaly : a.type)
                                                 : rule.verify.signal;
    d.verify_service = rule.verify.service == "peer" ? peer : s.service;
    d.verify_anomaly = rule.verify.service == "peer" ? rule.match.while_anomaly : a.type;
    d.verify_endpoint = rule.verify.service == "peer" ? peer_endpoint : a.endpoint;
    if (d.verify_endpoint == "*") d.verify_endpoint.clear();
    d.verify_seconds = rule.verify.window_seconds > 0 ? rule.verify.window_seconds : config_.guardrails.verify_seconds;
    d.min_improvement = rule.verify.min_improvement;
    d.rollback = rule.verify.rollback;
    if (!peer.empty()) d.evidence += "; while " + rule.match.while_anomaly + " on " + peer;

    const RuleAction* ra = &rule.action;
    Action act;
    act.service = s.service;
    act.rule = rule.name;
    act.anomaly_id = a.id;
    for (int attempt = 0; attempt < 2; ++attempt) {
        act.kind = ra->kind;
        act.target = ra->target;
        act.vars = ra->vars;
        d.previous_value = setting(s, ra->kind);
        if (!numeric(ra->kind)) break;
        const double base = base_value(s, ra->kind);
        double v = ra->op == Op::raise_pct   ? base * (1 + ra->amount / 100)
                   : ra->op == Op::lower_pct ? base * (1 - ra->amount / 100)
                                             : ra->amount;
        if (ra->max > 0) v = std::min(v, ra->max);
        v = std::max(v, ra->min);
        v = guard_.clamp(ra->kind, v);
        if (ra->kind == ActionKind::cpu_weight || ra->kind == ActionKind::pids_max) v = std::round(v);
        act.value = v;
        if (base > 0 && !same_value(v, base)) {
            d.evidence += std::string("; ") + to_string(ra->kind) + " " + value_text(ra->kind, base) + " → " +
                          value_text(ra->kind, v) + " (" + to_string(ra->op) + " " + num(ra->amount) +
                          (ra->op == Op::set ? "" : " %") + (ra->max > 0 ? ", max " + value_text(ra->kind, ra->max) : "") +
                          (ra->min > 0 ? ", min " + value_text(ra->kind, ra->min) : "") + ")";
            break;
        }
        const std::string why = base > 0 ? std::string(to_string(ra->kind)) + " already at its bound (" + value_text(ra->kind, base) + ")"
                                         : std::string(to_string(ra->kind)) + ": nothing to start from (no limit, no usage)";
        if (attempt == 0 && rule.fallback) {
            d.evidence += "; " + why + ", so the rule's else";
            ra = &*rule.fallback;
            continue;
        }
        d.action = act;
        d.verdict = Verdict::refused;
        d.reason = why;
        finish(d, rule.cooldown_seconds, now);
        return d;
    }
    const bool restart = act.kind == ActionKind::restart;
    act.dry_run = config_.guardrails.dry_run ||
                  rule.dry_run.value_or(restart ? !config_.guardrails.restarts_enabled : false);
    act.reason = rule.name + ": " + d.evidence;
    d.action = act;
    d.verdict = Verdict::execute; // finish() decides: guardrails, dry-run
    if (restart && ra->before_exhaustion_seconds > 0 && a.evidence.seconds_to_exhaustion > ra->before_exhaustion_seconds) {
        d.verdict = Verdict::deferred;
        d.reason = "restart deferred: exhaustion predicted in " + std::to_string(std::llround(a.evidence.seconds_to_exhaustion)) +
                   " s, restarting once within " + std::to_string(std::llround(ra->before_exhaustion_seconds)) + " s";
    }
    if (restart) d.rollback = false; // a restart cannot be undone
    finish(d, rule.cooldown_seconds, now);
    return d;
}

std::vector<Decision> Planner::on_anomalies(const std::vector<detect::Anomaly>& anomalies,
                                            const std::vector<ServiceState>& services, double now) {
    std::map<std::string, const ServiceState*> by_name;
    std::map<std::string, std::set<std::string>> open; // service → open anomaly types
    for (const auto& s : services) {
        by_name[s.service] = &s;
        open[s.service].insert(s.open_anomalies.begin(), s.open_anomalies.end());
    }
    for (const auto& a : anomalies)
        if (a.open) open[a.service].insert(a.type);
    auto priority = [&](const std::string& service) {
        auto it = by_name.find(service);
        if (it != by_name.end() && it->second->priority) return *it->second->priority;
        return config_.priority_of(service);
    };

    std::vector<Decision> out;
    std::set<std::pair<std::string, std::string>> done; // (rule, service)
    for (const auto& rule : config_.rules) {
        const RuleMatch& m = rule.match;
        for (const auto& a : anomalies) {
            if (!a.open || a.type != m.anomaly || a.severity < m.min_severity) continue;
            if (done.count({rule.name, a.service})) continue;
            if (!m.services.empty() &&
                std::none_of(m.services.begin(), m.services.end(), [&](const std::string& g) { return glob_match(g, a.service); }))
                continue;
            if (m.priority && priority(a.service) != *m.priority) continue;
            std::string peer, peer_endpoint;
            if (!m.while_anomaly.empty()) {
                for (const auto& [service, types] : open) {
                    if (service == a.service || !types.count(m.while_anomaly)) continue;
                    if (m.while_priority && priority(service) != *m.while_priority) continue;
                    peer = service;
                    break;
                }
                if (peer.empty()) continue;
                // The peer's worst endpoint with that anomaly: the one the action is to relieve.
                double worst = -1;
                for (const auto& b : anomalies)
                    if (b.open && b.service == peer && b.type == m.while_anomaly && b.score > worst) {
                        worst = b.score;
                        peer_endpoint = b.endpoint;
                    }
            }
            auto it = by_name.find(a.service);
            if (it == by_name.end()) continue; // no figures for it: nothing to compute from
            done.insert({rule.name, a.service});
            Decision d = plan_rule(rule, a, *it->second, peer, peer_endpoint, now);
            // The kind of a refusal is its reason up to the first ':' ("cooldown", "restart
            // budget spent"): the numbers after it change every window.
            const std::string kind = d.verdict == Verdict::refused || d.verdict == Verdict::deferred
                                         ? std::string(to_string(d.verdict)) + "/" + d.reason.substr(0, d.reason.find(':'))
                                         : "";
            auto& last = last_refusal_[{rule.name, a.service}];
            d.repeat = !kind.empty() && kind == last;
            if (d.repeat) d.critical_alert = false;
            last = kind;
            auto watched = by_name.find(d.verify_service);
            if (watched != by_name.end())
                d.baseline = signal_value(*watched->second, d.verify_signal, d.verify_anomaly, d.verify_endpoint);
            for (auto& p : proposed_) // finish() queued a copy before the baseline was known
                if (p.id == d.id) p.baseline = d.baseline;
            out.push_back(std::move(d));
        }
    }
    return out;
}

Decision Planner::decide(Action a, const std::string& evidence, double now, double cooldown_seconds) {
    Decision d;
    a.dry_run = a.dry_run || config_.guardrails.dry_run;
    if (numeric(a.kind)) a.value = guard_.clamp(a.kind, a.value);
    if (a.reason.empty()) a.reason = evidence;
    d.action = std::move(a);
    d.evidence = evidence;
    d.verdict = Verdict::execute;
    d.rollback = false; // no signal to judge it by: the caller verifies its own
    finish(d, cooldown_seconds, now);
    return d;
}

bool Planner::register_applied(std::uint64_t decision_id, double baseline, double now) {
    auto it = std::find_if(proposed_.begin(), proposed_.end(), [&](const Decision& d) { return d.id == decision_id; });
    if (it == proposed_.end()) return false;
    Decision d = *it;
    proposed_.erase(it);
    if (d.verify_signal.empty()) return true; // nothing to verify (tuner/allocator)
    d.baseline = baseline;
    d.decided_at = now;
    pending_[d.id] = std::move(d);
    while (pending_.size() > max_pending) pending_.erase(pending_.begin());
    return true;
}

std::vector<Decision> Planner::verify(const std::vector<ServiceState>& services, double now, double window_seconds) {
    std::vector<Decision> out;
    for (auto it = pending_.begin(); it != pending_.end();) {
        Decision& p = it->second;
        auto s = std::find_if(services.begin(), services.end(), [&](const ServiceState& x) { return x.service == p.verify_service; });
        if (s == services.end()) {
            ++it;
            continue;
        }
        const double latest = signal_value(*s, p.verify_signal, p.verify_anomaly, p.verify_endpoint);
        // Only windows in the second half of the verification window: the first half lets
        // the change take effect (a window that began before it mixes before and after).
        // An endpoint with no traffic in this window has no p99 of its own: no sample (the
        // service's slowest endpoint is a last resort for the verdict, never a sample).
        const bool quiet = p.verify_signal == "latency_p99" && !p.verify_endpoint.empty() &&
                           !s->endpoint_p99_seconds.count(p.verify_endpoint);
        if (!quiet && now - window_seconds >= p.decided_at + p.verify_seconds / 2) p.samples.push_back(latest);
        if (now < p.decided_at + p.verify_seconds) {
            ++it;
            continue;
        }
        const double value = p.samples.empty() ? latest : median(p.samples);
        // A baseline of 0 leaves nothing to improve: never a reason to undo.
        const bool improved = p.baseline <= 0 || value < p.baseline * (1 - p.min_improvement);
        std::string watched = p.verify_signal + " of " + p.verify_service;
        if (!p.verify_endpoint.empty()) watched += " " + p.verify_endpoint;
        const std::string seen = watched + ": " + num(p.baseline) + " → " + num(value) +
                                 (p.samples.size() > 1 ? " (median of " + std::to_string(p.samples.size()) + " windows)" : "") +
                                 " after " + std::to_string(std::llround(now - p.decided_at)) + " s";
        Decision d;
        d.anomaly_type = p.anomaly_type;
        d.rollback_of = p.id;
        d.improved = improved;
        d.evidence = seen;
        // The audit keeps what the verdict was taken on (a rollback is not verified itself:
        // the agent registers only rule and tuner actions).
        d.verify_signal = p.verify_signal;
        d.verify_service = p.verify_service;
        d.verify_anomaly = p.verify_anomaly;
        d.verify_endpoint = p.verify_endpoint;
        d.verify_seconds = p.verify_seconds;
        d.min_improvement = p.min_improvement;
        d.baseline = p.baseline;
        d.samples = p.samples;
        if (improved || !p.rollback || p.action.kind == ActionKind::restart) {
            d.action = p.action;
            d.verdict = Verdict::verified;
            d.reason = improved ? "improved" : "not improved; " + std::string(p.rollback ? "cannot be rolled back" : "rollback disabled");
            d.rollback_of = 0;
            d.verified_of = p.id;
            d.id = next_id_++;
            d.decided_at = now;
        } else {
            d.action = p.action;
            d.action.value = p.previous_value; // config_file: the agent's revert() knows the content
            d.action.dry_run = false; // undoing what was really done
            d.action.reason = "rollback of decision #" + std::to_string(p.id) + ": " + seen + ", not improved";
            d.previous_value = p.action.value;
            d.reason = "not improved";
            d.verdict = Verdict::execute;
            // Not through check(): the cooldown the original started must not block its
            // undo, but record() restarts it so the knob does not flap straight back.
            d.id = next_id_++;
            d.decided_at = now;
            guard_.record(d.action, now);
        }
        out.push_back(std::move(d));
        it = pending_.erase(it);
    }
    return out;
}

nlohmann::json to_json(const Decision& d) {
    nlohmann::json vars = nlohmann::json::object();
    for (const auto& [k, v] : d.action.vars) vars[k] = v;
    return {{"id", d.id},
            {"verdict", to_string(d.verdict)},
            {"reason", d.reason},
            {"evidence", d.evidence},
            {"decided_at", d.decided_at},
            {"anomaly_type", d.anomaly_type},
            {"critical_alert", d.critical_alert},
            {"repeat", d.repeat},
            {"rollback_of", d.rollback_of},
            {"verified_of", d.verified_of},
            {"previous_value", d.previous_value},
            {"verify", {{"signal", d.verify_signal}, {"service", d.verify_service}, {"anomaly", d.verify_anomaly},
                        {"endpoint", d.verify_endpoint}, {"seconds", d.verify_seconds},
                        {"min_improvement", d.min_improvement}, {"rollback", d.rollback}, {"baseline", d.baseline},
                        {"samples", d.samples}, {"improved", d.improved}}},
            {"action", {{"kind", to_string(d.action.kind)}, {"service", d.action.service}, {"value", d.action.value},
                        {"target", d.action.target}, {"vars", vars}, {"rule", d.action.rule}, {"reason", d.action.reason},
                        {"anomaly_id", d.action.anomaly_id}, {"dry_run", d.action.dry_run}}}};
}

namespace {

Decision decision_from(const nlohmann::json& j) {
    Decision d;
    d.id = j.at("id").get<std::uint64_t>();
    const std::string verdict = j.at("verdict").get<std::string>();
    for (Verdict v : {Verdict::execute, Verdict::dry_run, Verdict::refused, Verdict::deferred, Verdict::verified})
        if (verdict == to_string(v)) d.verdict = v;
    d.reason = j.at("reason").get<std::string>();
    d.evidence = j.at("evidence").get<std::string>();
    d.decided_at = j.at("decided_at").get<double>();
    d.anomaly_type = j.at("anomaly_type").get<std::string>();
    d.critical_alert = j.at("critical_alert").get<bool>();
    d.repeat = j.at("repeat").get<bool>();
    d.rollback_of = j.at("rollback_of").get<std::uint64_t>();
    d.verified_of = j.value("verified_of", std::uint64_t{0}); // absent in states saved before it existed
    d.previous_value = j.at("previous_value").get<double>();
    const auto& v = j.at("verify");
    d.verify_signal = v.at("signal").get<std::string>();
    d.verify_service = v.at("service").get<std::string>();
    d.verify_anomaly = v.at("anomaly").get<std::string>();
    d.verify_endpoint = v.value("endpoint", std::string{}); // absent in states saved before it existed
    d.samples = v.value("samples", std::vector<double>{});
    d.verify_seconds = v.at("seconds").get<double>();
    d.min_improvement = v.at("min_improvement").get<double>();
    d.rollback = v.at("rollback").get<bool>();
    d.baseline = v.at("baseline").get<double>();
    d.improved = v.at("improved").get<bool>();
    const auto& a = j.at("action");
    if (!parse_action_kind(a.at("kind").get<std::string>(), d.action.kind))
        throw nlohmann::json::other_error::create(501, "decision: unknown action kind", &a);
    d.action.service = a.at("service").get<std::string>();
    d.action.value = a.at("value").get<double>();
    d.action.target = a.at("target").get<std::string>();
    d.action.vars = a.at("vars").get<std::map<std::string, std::string>>();
    d.action.rule = a.at("rule").get<std::string>();
    d.action.reason = a.at("reason").get<std::string>();
    d.action.anomaly_id = a.at("anomaly_id").get<std::uint64_t>();
    d.action.dry_run = a.at("dry_run").get<bool>();
    return d;
}

} // namespace

nlohmann::json Planner::save() const {
    nlohmann::json proposed = nlohmann::json::array(), pending = nlohmann::json::array();
    for (const auto& d : proposed_) proposed.push_back(to_json(d));
    for (const auto& [id, d] : pending_) pending.push_back(to_json(d));
    return {{"version", 1}, {"next_id", next_id_}, {"guardrails", guard_.save()}, {"proposed", proposed}, {"pending", pending}};
}

void Planner::load(const nlohmann::json& j) {
    if (j.at("version").get<int>() != 1) throw nlohmann::json::other_error::create(501, "planner: unknown version", &j);
    Guardrails guard(config_.guardrails);
    guard.load(j.at("guardrails"));
    std::deque<Decision> proposed;
    std::map<std::uint64_t, Decision> pending;
    for (const auto& d : j.at("proposed")) proposed.push_back(decision_from(d));
    for (const auto& d : j.at("pending")) {
        Decision x = decision_from(d);
        pending[x.id] = std::move(x);
    }
    next_id_ = j.at("next_id").get<std::uint64_t>();
    guard_ = std::move(guard);
    proposed_ = std::move(proposed);
    pending_ = std::move(pending);
}

} // namespace homeostat::engine::policy
