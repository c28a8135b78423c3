#include "agent/strategies_config.h"

#include <cmath>
#include <functional>
#include <limits>

#include "engine/policy/rules.h"

namespace homeostat::agent {
namespace {

using nlohmann::json;

// Reads the keys of one mapping; every problem is one "healing.x.key: what" entry and the
// value keeps its default.
struct Reader {
    const json& j;
    std::string where;
    std::vector<std::string>& errors;

    void add(const std::string& key, const std::string& what) const {
        errors.push_back(where + (key.empty() ? "" : "." + key) + ": " + what);
    }
    bool has(const char* key) const { return j.contains(key); }
    std::string at(const char* key) const { return where + "." + key; }

    void known(std::initializer_list<const char*> keys) const {
        for (const auto& [k, v] : j.items()) {
            bool ok = false;
            for (const char* x : keys) ok |= k == x;
            if (ok) continue;
            std::string list;
            for (const char* x : keys) list += (list.empty() ? "" : ", ") + std::string(x);
            add(k, "unknown key (expected " + list + ")");
        }
    }
    // A number inside [lo, hi] (open ends where said), with `range` describing it.
    void number(const char* key, double& out, double lo, double hi, bool lo_open, bool hi_open,
                const std::string& range) const {
        if (!has(key)) return;
        const json& v = j[key];
        const double x = v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
        const bool ok = std::isfinite(x) && (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
        if (!ok) return add(key, "expected a number " + range + ", got " + v.dump());
        out = x;
    }
    void whole(const char* key, double& out, double lo, double hi) const {
        if (!has(key)) return;
        const json& v = j[key];
        if (!v.is_number_integer() || v.get<double>() < lo || v.get<double>() > hi)
            return add(key, "expected a whole number from " + json(lo).dump() + " to " + json(hi).dump() + ", got " +
                                v.dump());
        out = v.get<double>();
    }
    void boolean(const char* key, bool& out) const {
        if (!has(key)) return;
        if (!j[key].is_boolean()) return add(key, "expected true or false, got " + j[key].dump());
        out = j[key].get<bool>();
    }
    void seconds(const char* key, double& out, bool positive) const {
        if (!has(key)) return;
        auto s = engine::policy::parse_seconds(j[key], at(key));
        if (!s) return errors.push_back(s.error().message);
        if (positive && !(s.value() > 0)) return add(key, "must be > 0");
        out = s.value();
    }
    void size(const char* key, double& out) const {
        if (!has(key)) return;
        auto s = engine::policy::parse_size(j[key], at(key));
        if (!s) return errors.push_back(s.error().message);
        out = s.value();
    }
    void globs(const char* key, std::vector<std::string>& out) const {
        if (!has(key)) return;
        const json& v = j[key];
        if (v.is_string()) {
            out = {v.get<std::string>()};
            return;
        }
        if (!v.is_array() || v.empty()) return add(key, "expected a service name, a glob or a non-empty list of them");
        std::vector<std::string> list;
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (!v[i].is_string() || v[i].get<std::string>().empty())
                add(std::string(key) + "[" + std::to_string(i) + "]", "expected a service name or glob");
            else list.push_back(v[i].get<std::string>());
        }
        out = std::move(list);
    }
    // One of `choices` (by name).
    void choice(const char* key, const std::vector<std::string>& choices, const std::function<void(std::size_t)>& set) const {
        if (!has(key)) return;
        const json& v = j[key];
        for (std::size_t i = 0; i < choices.size(); ++i)
            if (v.is_string() && v.get<std::string>() == choices[i]) return set(i);
        std::string list;
        for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
        add(key, "expected one of " + list + ", got " + v.dump());
    }
};

} // namespace

const char* to_string(CpuSharingConfig::Strategy s) {
    return s == CpuSharingConfig::Strategy::qlearning ? "qlearning" : "rules";
}

void parse_cpu_sharing(const json& j, CpuSharingConfig& c, std::vector<std::string>& errors) {
    const Reader r{j, "healing.cpu_sharing", errors};
    if (!j.is_object()) return r.add("", "expected a mapping (strategy, alpha, gamma, epsilon, latency_target, ...)");
    r.known({"strategy", "alpha", "gamma", "epsilon", "latency_target", "latency_targets", "step_pct", "min_weight",
             "max_weight", "load_levels", "memory_levels", "priority_weights", "services", "cooldown", "dry_run",
             "seed"});
    r.choice("strategy", {"rules", "qlearning"}, [&](std::size_t i) {
        c.strategy = i == 1 ? CpuSharingConfig::Strategy::qlearning : CpuSharingConfig::Strategy::rules;
    });
    auto& q = c.q;
    r.number("alpha", q.alpha, 0, 1, true, false, "in (0, 1]");
    r.number("gamma", q.gamma, 0, 1, false, true, "in [0, 1)");
    r.number("epsilon", q.epsilon, 0, 1, false, false, "in [0, 1]");
    r.number("step_pct", q.step_pct, 0, 100, true, true, "in (0, 100)");
    r.number("min_weight", q.min_weight, 1, 10000, false, false, "from 1 to 10000 (cgroup v2 weight)");
    r.number("max_weight", q.max_weight, 1, 10000, false, false, "from 1 to 10000 (cgroup v2 weight)");
    if (q.min_weight > q.max_weight) r.add("min_weight", "must be <= max_weight");
    double levels = q.load_levels;
    r.whole("load_levels", levels, 1, 20);
    q.load_levels = static_cast<std::uint32_t>(levels);
    levels = q.memory_levels;
    r.whole("memory_levels", levels, 1, 20);
    q.memory_levels = static_cast<std::uint32_t>(levels);
    r.seconds("latency_target", q.latency_target_seconds, true);
    if (r.has("latency_targets")) {
        const json& t = j["latency_targets"];
        if (!t.is_object()) r.add("latency_targets", "expected a mapping of service to latency (api: 50ms)");
        else
            for (const auto& [svc, v] : t.items()) {
                const Reader inner{t, r.at("latency_targets"), errors};
                double s = 0;
                inner.seconds(svc.c_str(), s, true);
                if (s > 0) q.latency_targets[svc] = s;
            }
    }
    if (r.has("priority_weights")) {
        const json& w = j["priority_weights"];
        const Reader inner{w, r.at("priority_weights"), errors};
        if (!w.is_object()) r.add("priority_weights", "expected a mapping {low, normal, high} of reward weights");
        else {
            inner.known({"low", "normal", "high"});
            for (auto p : {engine::policy::Priority::low, engine::policy::Priority::normal,
                           engine::policy::Priority::high})
                inner.number(engine::policy::to_string(p), q.priority_weights[p], 0, 1000, false, false,
                             "from 0 to 1000");
        }
    }
    r.globs("services", c.services);
    r.seconds("cooldown", c.cooldown_seconds, false);
    r.boolean("dry_run", c.dry_run);
    if (r.has("seed")) {
        if (!j["seed"].is_number_unsigned()) r.add("seed", "expected a whole number >= 0, got " + j["seed"].dump());
        else c.seed = j["seed"].get<std::uint64_t>();
    }
}

void parse_recommender(const json& j, RecommenderSettings& s, std::vector<std::string>& errors) {
    const Reader r{j, "healing.recommender", errors};
    if (!j.is_object()) return r.add("", "expected a mapping (enabled, apply, percentile, margin, half_life, ...)");
    r.known({"enabled", "apply", "percentile", "margin", "half_life", "cpu_min", "cpu_max", "memory_min", "memory_max",
             "oom_bump", "oom_min_bump", "oom_duration", "min_samples", "services", "apply_memory_as", "apply_cpu_as",
             "min_change", "cooldown", "dry_run"});
    auto& c = s.config;
    r.boolean("enabled", s.enabled);
    r.boolean("apply", s.apply);
    r.number("percentile", c.percentile, 0, 1, true, false, "in (0, 1]");
    r.number("margin", c.margin, 0, 10, false, false, "from 0 to 10 (0.15: 15 % above the percentile)");
    r.seconds("half_life", c.half_life_seconds, true);
    r.number("cpu_min", c.cpu_min_cores, 0, 1e6, false, false, "of cores >= 0");
    r.number("cpu_max", c.cpu_max_cores, 0, 1e6, false, false, "of cores >= 0 (0: none)");
    r.size("memory_min", c.memory_min_bytes);
    r.size("memory_max", c.memory_max_bytes);
    if (c.cpu_max_cores > 0 && c.cpu_min_cores > c.cpu_max_cores) r.add("cpu_min", "must be <= cpu_max");
    if (c.memory_max_bytes > 0 && c.memory_min_bytes > c.memory_max_bytes) r.add("memory_min", "must be <= memory_max");
    r.number("oom_bump", c.oom_bump, 1, 100, false, false, "from 1 to 100 (1.2: 20 % above the usage at the OOM kill)");
    r.size("oom_min_bump", c.oom_min_bump_bytes);
    r.seconds("oom_duration", c.oom_memory_seconds, true);
    double samples = static_cast<double>(c.min_samples);
    r.whole("min_samples", samples, 1, 1e9);
    c.min_samples = static_cast<std::uint64_t>(samples);
    r.globs("services", s.services);
    r.choice("apply_memory_as", {"memory_high", "memory_max", "none"}, [&](std::size_t i) {
        s.apply_memory = i != 2;
        s.memory_kind = i == 1 ? engine::policy::ActionKind::memory_max : engine::policy::ActionKind::memory_high;
    });
    r.choice("apply_cpu_as", {"cpu_quota", "none"}, [&](std::size_t i) { s.apply_cpu = i == 0; });
    r.number("min_change", s.min_change, 0, 10, false, false, "from 0 to 10 (0.1: 10 %)");
    r.seconds("cooldown", s.cooldown_seconds, false);
    r.boolean("dry_run", s.dry_run);
    if (s.apply && !s.enabled) r.add("apply", "needs enabled: true (nothing is recommended to apply)");
}

} // namespace homeostat::agent
