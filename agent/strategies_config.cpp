#include "agent/strategies_config.h"

#include <cmath>

#include "agent/config_reader.h"

namespace homeostat::agent {

using nlohmann::json;

const char* to_string(CpuSharingConfig::Strategy s) {
    return s == CpuSharingConfig::Strategy::qlearning ? "qlearning" : "rules";
}

void parse_cpu_sharing(const json& j, CpuSharingConfig& c, std::vector<std::string>& errors) {
    const ConfigReader r{j, "healing.cpu_sharing", errors};
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
                const ConfigReader inner{t, r.at("latency_targets"), errors};
                double s = 0;
                inner.seconds(svc.c_str(), s, true);
                if (s > 0) q.latency_targets[svc] = s;
            }
    }
    if (r.has("priority_weights")) {
        const json& w = j["priority_weights"];
        const ConfigReader inner{w, r.at("priority_weights"), errors};
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
    const ConfigReader r{j, "healing.recommender", errors};
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
