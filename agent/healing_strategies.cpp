#include "agent/healing_strategies.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "agent/actuators/cgroup_actuator.h"
#include "agent/healing.h"
#include "exporters/text_format.h"

namespace homeostat::agent {

using engine::policy::Action;
using engine::policy::ActionKind;
using engine::policy::Priority;
using engine::policy::QAction;
using engine::policy::ServiceState;

namespace {

bool matches(const std::vector<std::string>& globs, const std::string& service) {
    return std::any_of(globs.begin(), globs.end(),
                       [&](const std::string& g) { return engine::policy::glob_match(g, service); });
}

std::string last_component(const std::string& path) {
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A cgroup's usage is the service's only when the cgroup is the service's own (a unit or
// container the service is named after); otherwise, e.g. a process in its login session's
// cgroup, the cgroup holds others too, and the resident memory of its processes is its usage.
bool own_memory_cgroup(const exporters::ServiceHealth& h) {
    if (!h.cgroup.memory_usage_bytes) return false;
    const std::string& path = h.cgroup.memory_path.empty() ? h.cgroup.v2_path : h.cgroup.memory_path;
    return !path.empty() && last_component(path) == h.service;
}

std::string fixed(double v, int digits) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}

std::string mib(double bytes) { return fixed(bytes / 1048576.0, 1) + " MiB"; }

double target_of(const engine::policy::QConfig& q, const std::string& service) {
    auto t = q.latency_targets.find(service);
    return t == q.latency_targets.end() ? q.latency_target_seconds : t->second;
}

Priority priority_of(const ServiceState& s) { return s.priority.value_or(Priority::normal); }

// "web p99 12.3 ms vs target 5.0 ms (high)", for each service the reward judged.
std::string reward_sources(const std::vector<ServiceState>& managed, const engine::policy::QConfig& q) {
    std::string out;
    for (const auto& s : managed) {
        if (s.latency_p99_seconds <= 0) continue;
        out += (out.empty() ? "" : ", ") + s.service + " p99 " + fixed(s.latency_p99_seconds * 1000, 1) +
               " ms vs target " + fixed(target_of(q, s.service) * 1000, 1) + " ms (" +
               engine::policy::to_string(priority_of(s)) + ")";
    }
    return out.empty() ? "no service with traffic" : out;
}

} // namespace

HealingStrategies::HealingStrategies(const HealingConfig& config, bool systemd_running)
    : cpu_(config.cpu_sharing),
      rec_(config.recommender),
      cgroup_allow_(config.actuators.cgroup_allow),
      unit_allow_(config.actuators.unit_allow),
      policy_(config.policy),
      systemd_running_(systemd_running),
      allocator_(config.cpu_sharing.q),
      rng_(config.cpu_sharing.seed),
      recommender_(config.recommender.config) {}

bool HealingStrategies::writable(const exporters::ServiceHealth& h, const char* controller, const char* v2_file) const {
    // The same choice as the cgroup actuator's: the unit's property where systemd owns it,
    // else the v2 file where the v2 cgroup has it, else the v1 controller's cgroup.
    const actuators::ServiceTarget t = Healing::target_of(h, systemd_running_);
    if (!t.systemd_unit.empty())
        return std::find(unit_allow_.begin(), unit_allow_.end(), t.systemd_unit) != unit_allow_.end();
    if (cgroup_allow_.empty()) return false;
    std::string dir;
    if (!t.cgroup_v2_dir.empty() && std::filesystem::exists(t.cgroup_v2_dir + "/" + v2_file)) dir = t.cgroup_v2_dir;
    else if (auto it = t.v1_dirs.find(controller); it != t.v1_dirs.end()) dir = it->second;
    return !dir.empty() && actuators::path_allowed(dir, cgroup_allow_);
}

void HealingStrategies::evaluate(const std::vector<ServiceState>& states,
                                 const std::vector<exporters::ServiceHealth>& health,
                                 const engine::policy::Guardrails& guard, const Submit& submit, double now) {
    guard_ = &guard;
    submit_ = &submit;
    now_ = now;
    if (rec_.enabled) {
        observe(health, now);
        if (rec_.apply) apply(health, now);
    }
    if (cpu_.strategy == CpuSharingConfig::Strategy::qlearning) allocate(states, health);
    guard_ = nullptr;
    submit_ = nullptr;
}

Verdict HealingStrategies::offer(const Action& a, const std::string& evidence, double cooldown_seconds) {
    const auto g = guard_->check(a, cooldown_seconds, now_);
    auto& last = refused_[{a.service, a.kind}];
    if (!g.allowed) {
        const std::string kind = g.reason.substr(0, g.reason.find(':'));
        if (kind == "cooldown" || kind == last) return Verdict::refused; // asked again: said once
        last = kind;
    } else {
        last.clear();
    }
    if (refused_.size() > 4 * max_services) refused_.clear(); // bounded
    return (*submit_)(a, evidence, cooldown_seconds);
}

void HealingStrategies::observe(const std::vector<exporters::ServiceHealth>& health, double now) {
    for (const auto& h : health) {
        if (!matches(rec_.services, h.service)) continue;
        auto it = seen_.find(h.service);
        if (it == seen_.end()) {
            if (seen_.size() >= max_services) {
                if (untracked_++ == 0)
                    spdlog::warn("healing: the recommender tracks {} services already; {} and later ones get no "
                                 "recommendation (narrow healing.recommender.services)",
                                 max_services, h.service);
                continue;
            }
            it = seen_.emplace(h.service, Seen{}).first;
        }
        Seen& s = it->second;
        if (!h.processes.empty()) { // a service whose processes are gone has no usage to learn from
            s.memory_from_cgroup = own_memory_cgroup(h);
            s.memory_bytes = s.memory_from_cgroup ? static_cast<double>(*h.cgroup.memory_usage_bytes)
                                                  : static_cast<double>(h.resident_memory_bytes);
            s.cpu_cores = h.cpu_usage_cores;
            s.memory_limit_bytes = static_cast<double>(h.cgroup.memory_limit_bytes.value_or(0));
            s.memory_high_bytes = static_cast<double>(h.cgroup.memory_high_bytes.value_or(0));
            s.cpu_quota_cores = h.cgroup.cpu_quota_cores.value_or(0);
            recommender_.observe(h.service, s.cpu_cores, s.memory_bytes, now);
        }
        if (h.oom_kills > s.oom_kills) {
            // The kernel killed at the limit: that limit (or, without one, the last usage seen)
            // was too low. The floor rises above it.
            const double at = std::max(s.memory_from_cgroup ? s.memory_limit_bytes : 0.0, s.memory_bytes);
            recommender_.observe_oom(h.service, at, now);
            ++oom_bumps_;
            const auto r = recommender_.recommend(h.service, now);
            spdlog::warn("healing: {} was OOM-killed ({} kill(s) so far) at about {}: its memory recommendation "
                         "rises to {}",
                         h.service, h.oom_kills, mib(at), r ? mib(r->memory_bytes) : std::string("?"));
        }
        s.oom_kills = h.oom_kills;
    }
}

void HealingStrategies::apply(const std::vector<exporters::ServiceHealth>& health, double now) {
    for (const auto& h : health) {
        if (h.processes.empty() || !matches(rec_.services, h.service)) continue;
        const auto r = recommender_.recommend(h.service, now);
        if (!r) continue;
        auto propose = [&](ActionKind kind, double current, double value, const std::string& what) {
            // No limit yet, or one that differs enough: a recommendation that moves by a few
            // percent every window is not worth a write.
            if (current > 0 && std::abs(value - current) <= rec_.min_change * current) return;
            Action a;
            a.kind = kind;
            a.service = h.service;
            a.value = value;
            a.rule = "recommender";
            a.dry_run = rec_.dry_run;
            a.reason = "recommender: " + what;
            offer(a, a.reason, rec_.cooldown_seconds);
        };
        if (rec_.apply_memory && writable(h, "memory", rec_.memory_kind == ActionKind::memory_high ? "memory.high"
                                                                                                   : "memory.max")) {
            const double current = static_cast<double>(
                (rec_.memory_kind == ActionKind::memory_high ? h.cgroup.memory_high_bytes : h.cgroup.memory_limit_bytes)
                    .value_or(0));
            propose(rec_.memory_kind, current, r->memory_bytes,
                    std::string(engine::policy::to_string(rec_.memory_kind)) + " of " + h.service + " " +
                        (current > 0 ? mib(current) : std::string("none")) + " → " + mib(r->memory_bytes) + " (" +
                        (r->oom_floor ? "the floor after an OOM kill"
                                      : "p" + fixed(recommender_.config().percentile * 100, 0) + " of " +
                                            std::to_string(r->samples) + " samples + " +
                                            fixed(recommender_.config().margin * 100, 0) + " %") +
                        ")");
        }
        if (rec_.apply_cpu && writable(h, "cpu", "cpu.max")) {
            const double current = h.cgroup.cpu_quota_cores.value_or(0);
            propose(ActionKind::cpu_quota, current, r->cpu_cores,
                    "cpu_quota of " + h.service + " " + (current > 0 ? fixed(current, 2) + " cores" : "none") + " → " +
                        fixed(r->cpu_cores, 2) + " cores (p" + fixed(recommender_.config().percentile * 100, 0) +
                        " of " + std::to_string(r->samples) + " samples + " +
                        fixed(recommender_.config().margin * 100, 0) + " %)");
        }
    }
}

void HealingStrategies::allocate(const std::vector<ServiceState>& states,
                                 const std::vector<exporters::ServiceHealth>& health) {
    std::map<std::string, const exporters::ServiceHealth*> by_name;
    for (const auto& h : health) by_name[h.service] = &h;
    std::vector<ServiceState> managed;
    for (const auto& s : states) {
        auto it = by_name.find(s.service);
        if (it == by_name.end() || it->second->processes.empty() || !it->second->cgroup.cpu_weight) continue;
        if (!matches(cpu_.services, s.service) || !writable(*it->second, "cpu", "cpu.weight")) continue;
        ServiceState m = s;
        m.cpu_weight = *it->second->cgroup.cpu_weight;
        if (!m.priority) m.priority = policy_.priority_of(s.service);
        managed.push_back(std::move(m));
    }
    if (managed.empty()) return;
    ++steps_;
    const double reward = allocator_.reward(managed);
    last_reward_ = reward;
    const std::string sources = reward_sources(managed, cpu_.q);
    const auto actions = allocator_.step(managed, [this] { return rng_(); });
    std::map<std::string, const ServiceState*> state_of;
    std::map<std::string, double> weight; // as they will be after this step's changes
    for (const auto& m : managed) {
        state_of[m.service] = &m;
        weight[m.service] = m.cpu_weight;
    }
    for (Action a : actions) {
        const ServiceState& s = *state_of.at(a.service);
        const Priority p = priority_of(s);
        const bool lowering = a.value < s.cpu_weight;
        // Priorities order the weights: a change that would put a service below one of lower
        // priority (or above one of higher priority) is not made.
        std::string blocked;
        for (const auto& m : managed) {
            if (m.service == a.service) continue;
            const Priority q = priority_of(m);
            if ((lowering && q < p && a.value < weight[m.service]) || (!lowering && q > p && a.value > weight[m.service]))
                blocked = m.service + " (" + engine::policy::to_string(q) + ", weight " +
                          fixed(weight[m.service], 0) + ")";
        }
        const auto last = allocator_.last(a.service);
        const std::size_t state = last ? last->first : 0;
        const std::string what = std::string(lowering ? "lower" : "raise") + " the cpu weight of " + a.service + " (" +
                                 engine::policy::to_string(p) + ") " + fixed(s.cpu_weight, 0) + " → " +
                                 fixed(a.value, 0);
        if (!blocked.empty()) {
            ++held_by_priority_;
            allocator_.taken(a.service, QAction::keep);
            spdlog::debug("healing: qlearning would {}, past {}: not done, priorities order the weights", what,
                          blocked);
            continue;
        }
        const auto& q = cpu_.q;
        const double load = engine::policy::signal_value(s, "cpu_utilisation", "");
        const double memory = engine::policy::signal_value(s, "memory_utilisation", "");
        const std::string evidence =
            "qlearning: " + what + "; state " + std::to_string(state) + " of " +
            std::to_string(q.load_levels * q.memory_levels) + " (cpu " + fixed(load * 100, 0) + " % → load level " +
            std::to_string(state / q.memory_levels + 1) + "/" + std::to_string(q.load_levels) + ", memory " +
            fixed(memory * 100, 0) + " % → level " + std::to_string(state % q.memory_levels + 1) + "/" +
            std::to_string(q.memory_levels) + "); shared reward " + fixed(reward, 3) + " from " + sources;
        a.dry_run = cpu_.dry_run;
        a.reason = evidence;
        ++proposed_;
        const Verdict v = offer(a, evidence, cpu_.cooldown_seconds);
        if (v == Verdict::execute) weight[a.service] = a.value;
        else allocator_.taken(a.service, QAction::keep); // refused or a plan only: the weight stays
    }
}

nlohmann::json HealingStrategies::recommendations(double now) const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& service : recommender_.services()) {
        const auto r = recommender_.recommend(service, now);
        if (!r) continue;
        nlohmann::json row = {{"service", service},
                              {"cpu_cores", r->cpu_cores},
                              {"memory_bytes", r->memory_bytes},
                              {"samples", r->samples},
                              {"memory_from", r->oom_floor ? "oom_floor" : "histogram"},
                              {"applied_as", rec_.apply ? nlohmann::json{{"memory", rec_.apply_memory
                                                                                        ? engine::policy::to_string(rec_.memory_kind)
                                                                                        : "none"},
                                                                         {"cpu", rec_.apply_cpu ? "cpu_quota" : "none"}}
                                                        : nlohmann::json(nullptr)}};
        if (auto it = seen_.find(service); it != seen_.end()) {
            const Seen& s = it->second;
            row["current"] = {{"cpu_cores", s.cpu_cores},
                              {"memory_bytes", s.memory_bytes},
                              {"memory_source", s.memory_from_cgroup ? "cgroup" : "rss"},
                              {"cpu_quota_cores", s.cpu_quota_cores},
                              {"memory_limit_bytes", s.memory_limit_bytes},
                              {"memory_high_bytes", s.memory_high_bytes},
                              {"oom_kills", s.oom_kills}};
        }
        out.push_back(std::move(row));
    }
    return out;
}

std::string HealingStrategies::prometheus(double now) const {
    if (!rec_.enabled || recommender_.size() == 0) return "";
    std::string cpu = "# HELP homeostat_recommended_cpu_cores CPU limit the recommender proposes for the service "
                      "(p90 of its usage + margin)\n# TYPE homeostat_recommended_cpu_cores gauge\n";
    std::string mem = "# HELP homeostat_recommended_memory_bytes Memory limit the recommender proposes for the "
                      "service (p90 of its usage + margin, at least the floor after an OOM kill)\n"
                      "# TYPE homeostat_recommended_memory_bytes gauge\n";
    bool any = false;
    for (const auto& service : recommender_.services()) {
        const auto r = recommender_.recommend(service, now);
        if (!r) continue;
        any = true;
        std::string label = "{service=\"";
        exporters::text::append_label_value(label, exporters::text::valid_utf8(service));
        label += "\"} ";
        cpu += "homeostat_recommended_cpu_cores" + label + exporters::text::format_value(r->cpu_cores) + "\n";
        mem += "homeostat_recommended_memory_bytes" + label + exporters::text::format_value(r->memory_bytes) + "\n";
    }
    return any ? cpu + mem : "";
}

nlohmann::json HealingStrategies::status() const {
    return {{"cpu_sharing", {{"strategy", to_string(cpu_.strategy)},
                             {"steps", steps_},
                             {"proposed", proposed_},
                             {"held_by_priority", held_by_priority_},
                             {"last_reward", last_reward_}}},
            {"recommender", {{"enabled", rec_.enabled},
                             {"apply", rec_.apply},
                             {"services", recommender_.size()},
                             {"oom_bumps", oom_bumps_}}}};
}

nlohmann::json HealingStrategies::save() const {
    return {{"version", 1}, {"qlearning", allocator_.save()}, {"rng", rng_.state()}, {"recommender", recommender_.save()}};
}

void HealingStrategies::load(const nlohmann::json& j) {
    if (j.is_null()) return; // saved before the strategies existed
    try {
        allocator_.load(j.at("qlearning"));
        rng_.set_state(j.at("rng").get<std::uint64_t>());
    } catch (const std::exception& e) {
        spdlog::warn("healing: the saved Q tables do not fit healing.cpu_sharing ({}); the allocator learns afresh",
                     e.what());
    }
    try {
        recommender_.load(j.at("recommender"));
    } catch (const std::exception& e) {
        spdlog::warn("healing: the saved recommender histograms are unreadable ({}); recommendations start afresh",
                     e.what());
    }
}

} // namespace homeostat::agent
