#include "engine/policy/guardrails.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace homeostat::engine::policy {
namespace {

constexpr double kHour = 3600;

std::size_t count_since(const std::deque<double>& times, double since) {
    return static_cast<std::size_t>(std::count_if(times.begin(), times.end(), [&](double t) { return t > since; }));
}

void forget_before(std::deque<double>& times, double since) {
    while (!times.empty() && times.front() <= since) times.pop_front();
}

std::string seconds(double s) {
    std::ostringstream o;
    o << std::llround(s) << " s";
    return o.str();
}

nlohmann::json times_json(const std::map<std::string, std::deque<double>>& m) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [service, times] : m) j[service] = std::vector<double>(times.begin(), times.end());
    return j;
}

std::map<std::string, std::deque<double>> times_from(const nlohmann::json& j) {
    std::map<std::string, std::deque<double>> m;
    for (const auto& [service, v] : j.items()) {
        auto times = v.get<std::vector<double>>();
        m[service] = std::deque<double>(times.begin(), times.end());
    }
    return m;
}

} // namespace

Guardrails::Guardrails(GuardrailConfig config) : config_(std::move(config)) {
    // A config built in code (not parsed) still gets the floors.
    for (const auto& [kind, b] : default_bounds()) config_.bounds.emplace(kind, b);
}

bool Guardrails::restart_budget_spent(const std::string& service, double now) const {
    auto it = restarts_.find(service);
    if (it == restarts_.end() || config_.restart_budget == 0) return false;
    return count_since(it->second, now - config_.restart_budget_window_seconds) >= config_.restart_budget;
}

GuardVerdict Guardrails::check(const Action& a, double cooldown_seconds, double now) const {
    if (restart_budget_spent(a.service, now)) {
        return {false,
                "restart budget spent: " + std::to_string(config_.restart_budget) + " restarts of " + a.service +
                    " within " + seconds(config_.restart_budget_window_seconds) + "; not acting on it any more",
                true};
    }
    if (!a.dry_run) {
        auto it = executed_.find(a.service);
        const std::size_t n = it == executed_.end() ? 0 : count_since(it->second, now - kHour);
        if (n >= config_.max_actions_per_service_per_hour)
            return {false, "hourly cap: " + std::to_string(n) + " actions on " + a.service + " in the last hour (max " +
                               std::to_string(config_.max_actions_per_service_per_hour) + ")"};
    }
    const double cooldown = cooldown_seconds < 0 ? config_.cooldown_seconds : cooldown_seconds;
    auto it = last_.find({a.service, a.kind});
    if (it != last_.end() && now - it->second < cooldown)
        return {false, std::string("cooldown: ") + to_string(a.kind) + " of " + a.service + " changed " +
                           seconds(now - it->second) + " ago (cooldown " + seconds(cooldown) + ")"};
    return {};
}

void Guardrails::record(const Action& a, double now) {
    last_[{a.service, a.kind}] = now;
    if (a.dry_run) return;
    auto& ex = executed_[a.service];
    forget_before(ex, now - kHour);
    ex.push_back(now);
    if (a.kind == ActionKind::restart) {
        auto& r = restarts_[a.service];
        forget_before(r, now - config_.restart_budget_window_seconds);
        r.push_back(now);
    }
}

double Guardrails::clamp(ActionKind kind, double value) const {
    auto it = config_.bounds.find(kind);
    if (it == config_.bounds.end()) return value;
    if (it->second.max > 0) value = std::min(value, it->second.max);
    return std::max(value, it->second.min);
}

nlohmann::json Guardrails::save() const {
    nlohmann::json cooldowns = nlohmann::json::array();
    for (const auto& [key, t] : last_) cooldowns.push_back({{"service", key.first}, {"kind", to_string(key.second)}, {"at", t}});
    return {{"version", 1}, {"cooldowns", cooldowns}, {"executed", times_json(executed_)}, {"restarts", times_json(restarts_)}};
}

void Guardrails::load(const nlohmann::json& j) {
    if (j.at("version").get<int>() != 1) throw nlohmann::json::other_error::create(501, "guardrails: unknown version", &j);
    std::map<std::pair<std::string, ActionKind>, double> last;
    for (const auto& c : j.at("cooldowns")) {
        ActionKind kind{};
        if (!parse_action_kind(c.at("kind").get<std::string>(), kind))
            throw nlohmann::json::other_error::create(501, "guardrails: unknown action kind", &c);
        last[{c.at("service").get<std::string>(), kind}] = c.at("at").get<double>();
    }
    auto executed = times_from(j.at("executed"));
    auto restarts = times_from(j.at("restarts"));
    last_ = std::move(last);
    executed_ = std::move(executed);
    restarts_ = std::move(restarts);
}

} // namespace homeostat::engine::policy
