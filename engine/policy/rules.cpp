#include "engine/policy/rules.h"

#include <cctype>
#include <cmath>
#include <set>
#include <stdexcept>

namespace homeostat::engine::policy {
namespace {

using nlohmann::json;

// Parsing throws this internally; parse_policy() turns it into an Error.
struct ParseError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw ParseError(path + ": " + what); }

// Rejects keys nobody reads: a typo ("cooldwn") must not silently mean "default".
void known_keys(const json& j, const std::string& path, const std::set<std::string>& keys) {
    if (!j.is_object()) fail(path, "must be a mapping");
    for (const auto& [k, v] : j.items())
        if (!keys.count(k)) fail(path + "." + k, "unknown key");
}

double number_with_units(const json& v, const std::string& path, const std::map<std::string, double>& units) {
    if (v.is_number()) return v.get<double>();
    if (!v.is_string()) fail(path, "must be a number or a string with a unit");
    const std::string s = v.get<std::string>();
    std::size_t used = 0;
    double x = 0;
    try {
        x = std::stod(s, &used);
    } catch (const std::exception&) {
        fail(path, "\"" + s + "\" is not a number");
    }
    std::string unit = s.substr(used);
    while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.erase(0, 1);
    if (unit.empty()) return x;
    auto it = units.find(unit);
    if (it == units.end()) fail(path, "unknown unit \"" + unit + "\" in \"" + s + "\"");
    return x * it->second;
}

double size_value(const json& v, const std::string& path) {
    static const std::map<std::string, double> units = {
        {"B", 1},           {"K", 1e3},         {"KB", 1e3},       {"M", 1e6},        {"MB", 1e6},
        {"G", 1e9},         {"GB", 1e9},        {"T", 1e12},       {"TB", 1e12},      {"KiB", 1024.0},
        {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
    return number_with_units(v, path, units);
}

double duration_value(const json& v, const std::string& path) {
    static const std::map<std::string, double> units = {{"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    const double d = number_with_units(v, path, units);
    if (!(d >= 0) || !std::isfinite(d)) fail(path, "must be >= 0");
    return d;
}

// Values in bytes accept size units; the others plain numbers.
double value_of(ActionKind kind, const json& v, const std::string& path) {
    if (kind == ActionKind::memory_high || kind == ActionKind::memory_max) return size_value(v, path);
    if (!v.is_number()) fail(path, "must be a number");
    return v.get<double>();
}

std::string string_of(const json& v, const std::string& path) {
    if (!v.is_string()) fail(path, "must be a string");
    return v.get<std::string>();
}

bool bool_of(const json& v, const std::string& path) {
    if (!v.is_boolean()) fail(path, "must be true or false");
    return v.get<bool>();
}

std::uint32_t count_of(const json& v, const std::string& path) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0) fail(path, "must be a whole number >= 0");
    return static_cast<std::uint32_t>(v.get<std::int64_t>());
}

Priority priority_value(const json& v, const std::string& path) {
    Priority p{};
    if (!v.is_string() || !parse_priority(v.get<std::string>(), p)) fail(path, "must be one of high, normal, low");
    return p;
}

RuleAction parse_action(const json& j, const std::string& path) {
    known_keys(j, path, {"kind", "op", "amount", "min", "max", "target", "vars", "before_exhaustion_seconds"});
    RuleAction a;
    if (!j.contains("kind")) fail(path + ".kind", "missing");
    if (!parse_action_kind(string_of(j["kind"], path + ".kind"), a.kind))
        fail(path + ".kind",
             "must be one of cpu_quota, cpu_weight, memory_high, memory_max, pids_max, config_file, restart");
    static const std::map<std::string, Op> ops = {{"raise_pct", Op::raise_pct}, {"lower_pct", Op::lower_pct},
                                                  {"set", Op::set},             {"restart", Op::restart},
                                                  {"config", Op::config}};
    if (j.contains("op")) {
        auto it = ops.find(string_of(j["op"], path + ".op"));
        if (it == ops.end()) fail(path + ".op", "must be one of raise_pct, lower_pct, set, restart, config");
        a.op = it->second;
    } else {
        a.op = a.kind == ActionKind::restart ? Op::restart : a.kind == ActionKind::config_file ? Op::config : Op::set;
    }
    if ((a.op == Op::restart) != (a.kind == ActionKind::restart))
        fail(path + ".op", "restart goes with kind restart, and only with it");
    if ((a.op == Op::config) != (a.kind == ActionKind::config_file))
        fail(path + ".op", "config goes with kind config_file, and only with it");
    const bool numeric = a.op == Op::raise_pct || a.op == Op::lower_pct || a.op == Op::set;
    if (j.contains("amount")) {
        if (!numeric) fail(path + ".amount", "only for raise_pct, lower_pct and set");
        a.amount = a.op == Op::set ? value_of(a.kind, j["amount"], path + ".amount")
                                   : value_of(ActionKind::cpu_quota, j["amount"], path + ".amount");
    } else if (numeric) {
        fail(path + ".amount", "missing");
    }
    if (a.op == Op::lower_pct && !(a.amount > 0 && a.amount < 100)) fail(path + ".amount", "must be in (0, 100) percent");
    if (a.op == Op::raise_pct && !(a.amount > 0 && a.amount <= 1000)) fail(path + ".amount", "must be in (0, 1000] percent");
    if (a.op == Op::set && !(a.amount > 0)) fail(path + ".amount", "must be > 0");
    if (j.contains("min")) a.min = value_of(a.kind, j["min"], path + ".min");
    if (j.contains("max")) a.max = value_of(a.kind, j["max"], path + ".max");
    if ((j.contains("min") || j.contains("max")) && !numeric) fail(path + ".min", "bounds only for numeric actions");
    if (a.min < 0) fail(path + ".min", "must be >= 0");
    if (j.contains("max") && !(a.max > a.min)) fail(path + ".max", "must be > min");
    if (j.contains("target")) a.target = string_of(j["target"], path + ".target");
    if (a.kind == ActionKind::config_file && a.target.empty()) fail(path + ".target", "missing (the configured file's name)");
    if (j.contains("vars")) {
        const auto& vars = j["vars"];
        if (!vars.is_object()) fail(path + ".vars", "must be a mapping");
        for (const auto& [k, v] : vars.items())
            a.vars[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
    if (j.contains("before_exhaustion_seconds")) {
        if (a.kind != ActionKind::restart) fail(path + ".before_exhaustion_seconds", "only for restart");
        a.before_exhaustion_seconds = duration_value(j["before_exhaustion_seconds"], path + ".before_exhaustion_seconds");
    }
    return a;
}

RuleMatch parse_match(const json& j, const std::string& path) {
    known_keys(j, path, {"anomaly", "services", "service", "min_severity", "priority", "while"});
    RuleMatch m;
    if (!j.contains("anomaly")) fail(path + ".anomaly", "missing");
    m.anomaly = string_of(j["anomaly"], path + ".anomaly");
    if (m.anomaly.empty()) fail(path + ".anomaly", "must not be empty");
    if (j.contains("service")) m.services.push_back(string_of(j["service"], path + ".service"));
    if (j.contains("services")) {
        const auto& s = j["services"];
        if (s.is_string()) {
            m.services.push_back(s.get<std::string>());
        } else if (s.is_array()) {
            for (std::size_t i = 0; i < s.size(); ++i)
                m.services.push_back(string_of(s[i], path + ".services[" + std::to_string(i) + "]"));
        } else {
            fail(path + ".services", "must be a name, a glob or a list of them");
        }
    }
    if (j.contains("min_severity")) {
        const std::string s = string_of(j["min_severity"], path + ".min_severity");
        if (s == "warning") m.min_severity = detect::Severity::warning;
        else if (s == "critical") m.min_severity = detect::Severity::critical;
        else fail(path + ".min_severity", "must be warning or critical");
    }
    if (j.contains("priority")) m.priority = priority_value(j["priority"], path + ".priority");
    if (j.contains("while")) {
        const auto& w = j["while"];
        known_keys(w, path + ".while", {"anomaly", "priority"});
        if (!w.contains("anomaly")) fail(path + ".while.anomaly", "missing");
        m.while_anomaly = string_of(w["anomaly"], path + ".while.anomaly");
        if (w.contains("priority")) m.while_priority = priority_value(w["priority"], path + ".while.priority");
    }
    return m;
}

VerifySpec parse_verify(const json& j, const std::string& path) {
    known_keys(j, path, {"window_seconds", "signal", "service", "min_improvement", "rollback"});
    VerifySpec v;
    if (j.contains("window_seconds")) v.window_seconds = duration_value(j["window_seconds"], path + ".window_seconds");
    if (j.contains("signal")) {
        v.signal = string_of(j["signal"], path + ".signal");
        static const std::set<std::string> signals = {"anomaly", "latency_p99", "error_ratio", "cpu_utilisation",
                                                      "memory_utilisation"};
        if (!signals.count(v.signal))
            fail(path + ".signal", "must be one of anomaly, latency_p99, error_ratio, cpu_utilisation, memory_utilisation");
    }
    if (j.contains("service")) {
        v.service = string_of(j["service"], path + ".service");
        if (v.service != "self" && v.service != "peer") fail(path + ".service", "must be self or peer");
    }
    if (j.contains("min_improvement")) {
        if (!j["min_improvement"].is_number()) fail(path + ".min_improvement", "must be a number");
        v.min_improvement = j["min_improvement"].get<double>();
        if (!(v.min_improvement >= 0 && v.min_improvement < 1)) fail(path + ".min_improvement", "must be in [0, 1)");
    }
    if (j.contains("rollback")) v.rollback = bool_of(j["rollback"], path + ".rollback");
    return v;
}

Rule parse_rule(const json& j, const std::string& path) {
    known_keys(j, path, {"name", "match", "action", "else", "dry_run", "cooldown_seconds", "verify"});
    Rule r;
    if (!j.contains("name")) fail(path + ".name", "missing");
    r.name = string_of(j["name"], path + ".name");
    if (r.name.empty()) fail(path + ".name", "must not be empty");
    if (!j.contains("match")) fail(path + ".match", "missing");
    r.match = parse_match(j["match"], path + ".match");
    if (!j.contains("action")) fail(path + ".action", "missing");
    r.action = parse_action(j["action"], path + ".action");
    if (j.contains("else")) {
        if (r.action.op == Op::restart || r.action.op == Op::config || r.action.op == Op::set)
            fail(path + ".else", "only after raise_pct or lower_pct (which can reach a bound)");
        r.fallback = parse_action(j["else"], path + ".else");
    }
    if (j.contains("dry_run")) r.dry_run = bool_of(j["dry_run"], path + ".dry_run");
    if (j.contains("cooldown_seconds")) r.cooldown_seconds = duration_value(j["cooldown_seconds"], path + ".cooldown_seconds");
    if (j.contains("verify")) r.verify = parse_verify(j["verify"], path + ".verify");
    if (r.verify.service == "peer" && r.match.while_anomaly.empty())
        fail(path + ".verify.service", "peer needs match.while");
    return r;
}

GuardrailConfig parse_guardrails(const json& j, const std::string& path) {
    known_keys(j, path, {"dry_run", "restarts_enabled", "cooldown_seconds", "max_actions_per_service_per_hour",
                         "restart_budget", "restart_budget_window_seconds", "verify_seconds", "bounds"});
    GuardrailConfig g;
    if (j.contains("dry_run")) g.dry_run = bool_of(j["dry_run"], path + ".dry_run");
    if (j.contains("restarts_enabled")) g.restarts_enabled = bool_of(j["restarts_enabled"], path + ".restarts_enabled");
    if (j.contains("cooldown_seconds")) g.cooldown_seconds = duration_value(j["cooldown_seconds"], path + ".cooldown_seconds");
    if (j.contains("max_actions_per_service_per_hour"))
        g.max_actions_per_service_per_hour =
            count_of(j["max_actions_per_service_per_hour"], path + ".max_actions_per_service_per_hour");
    if (j.contains("restart_budget")) g.restart_budget = count_of(j["restart_budget"], path + ".restart_budget");
    if (j.contains("restart_budget_window_seconds"))
        g.restart_budget_window_seconds =
            duration_value(j["restart_budget_window_seconds"], path + ".restart_budget_window_seconds");
    if (j.contains("verify_seconds")) g.verify_seconds = duration_value(j["verify_seconds"], path + ".verify_seconds");
    g.bounds = default_bounds();
    if (j.contains("bounds")) {
        const auto& b = j["bounds"];
        if (!b.is_object()) fail(path + ".bounds", "must be a mapping of action kind to {min, max}");
        for (const auto& [k, v] : b.items()) {
            const std::string p = path + ".bounds." + k;
            ActionKind kind{};
            if (!parse_action_kind(k, kind) || kind == ActionKind::restart || kind == ActionKind::config_file)
                fail(p, "must be a numeric action kind (cpu_quota, cpu_weight, memory_high, memory_max, pids_max)");
            known_keys(v, p, {"min", "max"});
            Bounds bounds = g.bounds[kind];
            if (v.contains("min")) bounds.min = value_of(kind, v["min"], p + ".min");
            if (v.contains("max")) bounds.max = value_of(kind, v["max"], p + ".max");
            if (bounds.min < 0) fail(p + ".min", "must be >= 0");
            if (bounds.max != 0 && !(bounds.max > bounds.min)) fail(p + ".max", "must be > min");
            g.bounds[kind] = bounds;
        }
    }
    return g;
}

} // namespace

const char* to_string(Priority p) {
    switch (p) {
    case Priority::low: return "low";
    case Priority::normal: return "normal";
    case Priority::high: return "high";
    }
    return "normal";
}

bool parse_priority(const std::string& name, Priority& out) {
    if (name == "low") out = Priority::low;
    else if (name == "normal") out = Priority::normal;
    else if (name == "high") out = Priority::high;
    else return false;
    return true;
}

const char* to_string(Op op) {
    switch (op) {
    case Op::raise_pct: return "raise_pct";
    case Op::lower_pct: return "lower_pct";
    case Op::set: return "set";
    case Op::restart: return "restart";
    case Op::config: return "config";
    }
    return "set";
}

std::map<ActionKind, Bounds> default_bounds() {
    // Floors that keep a service alive whatever a rule says: a quota under 0.05 cores or a
    // memory.high under 32 MiB starves nearly any process.
    return {{ActionKind::cpu_quota, {0.05, 0}},
            {ActionKind::cpu_weight, {1, 10000}},
            {ActionKind::memory_high, {32.0 * 1048576, 0}},
            {ActionKind::memory_max, {32.0 * 1048576, 0}},
            {ActionKind::pids_max, {16, 0}}};
}

Priority PolicyConfig::priority_of(const std::string& service) const {
    auto it = priorities.find(service);
    return it == priorities.end() ? Priority::normal : it->second;
}

Result<PolicyConfig> parse_policy(const json& j, const std::string& where) {
    try {
        known_keys(j, where, {"enabled", "guardrails", "rules", "priorities"});
        PolicyConfig c;
        c.guardrails.bounds = default_bounds();
        if (j.contains("enabled")) c.enabled = bool_of(j["enabled"], where + ".enabled");
        if (j.contains("guardrails")) c.guardrails = parse_guardrails(j["guardrails"], where + ".guardrails");
        if (j.contains("priorities")) {
            const auto& p = j["priorities"];
            if (!p.is_object()) fail(where + ".priorities", "must be a mapping of service to high, normal or low");
            for (const auto& [service, v] : p.items())
                c.priorities[service] = priority_value(v, where + ".priorities." + service);
        }
        if (j.contains("rules")) {
            const auto& rules = j["rules"];
            if (!rules.is_array()) fail(where + ".rules", "must be a list");
            std::set<std::string> names;
            for (std::size_t i = 0; i < rules.size(); ++i) {
                const std::string path = where + ".rules[" + std::to_string(i) + "]";
                Rule r = parse_rule(rules[i], path);
                if (!names.insert(r.name).second) fail(path + ".name", "\"" + r.name + "\" is used by an earlier rule");
                c.rules.push_back(std::move(r));
            }
        }
        return c;
    } catch (const ParseError& e) {
        return Error{e.what()};
    }
}

Result<double> parse_size(const json& v, const std::string& path) {
    try {
        const double b = size_value(v, path);
        if (!(b >= 0) || !std::isfinite(b)) fail(path, "must be >= 0");
        return b;
    } catch (const ParseError& e) {
        return Error{e.what()};
    }
}

Result<double> parse_seconds(const json& v, const std::string& path) {
    try {
        return duration_value(v, path);
    } catch (const ParseError& e) {
        return Error{e.what()};
    }
}

bool glob_match(const std::string& pattern, const std::string& text) {
    // Iterative matcher with one backtrack point: linear enough for service names.
    std::size_t p = 0, t = 0, star = std::string::npos, mark = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (star != std::string::npos) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

std::string default_signal(const std::string& anomaly_type) {
    if (anomaly_type == "latency_spike") return "latency_p99";
    if (anomaly_type == "error_surge") return "error_ratio";
    if (anomaly_type == "cpu_saturation") return "cpu_utilisation";
    return "anomaly";
}

} // namespace homeostat::engine::policy
