#include "engine/policy/qlearning.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace homeostat::engine::policy {
namespace {

std::size_t level(double ratio, std::uint32_t levels) {
    const double r = std::clamp(std::isfinite(ratio) ? ratio : 1.0, 0.0, 1.0);
    return std::min<std::size_t>(levels - 1, static_cast<std::size_t>(std::floor(r * levels)));
}

} // namespace

const char* to_string(QAction a) {
    switch (a) {
    case QAction::lower: return "lower";
    case QAction::keep: return "keep";
    case QAction::raise: return "raise";
    }
    return "keep";
}

double DeterministicRng::operator()() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
}

double latency_reward(double latency_seconds, double target_seconds) {
    if (!(target_seconds > 0)) return 0;
    return std::clamp((target_seconds - latency_seconds) / target_seconds, -1.0, 1.0);
}

QLearner::QLearner(QConfig config) : config_(std::move(config)) {
    if (config_.load_levels == 0 || config_.memory_levels == 0)
        throw std::invalid_argument("QLearner: load_levels and memory_levels must be >= 1");
    q_.assign(static_cast<std::size_t>(config_.load_levels) * config_.memory_levels, {0, 0, 0});
}

std::size_t QLearner::state(double load_ratio, double memory_ratio) const {
    return level(load_ratio, config_.load_levels) * config_.memory_levels + level(memory_ratio, config_.memory_levels);
}

QAction QLearner::best(std::size_t s) const {
    const auto& row = q_.at(s);
    QAction best = QAction::keep;
    for (QAction a : {QAction::lower, QAction::raise})
        if (row[static_cast<std::size_t>(a)] > row[static_cast<std::size_t>(best)]) best = a;
    return best;
}

QAction QLearner::choose(std::size_t s, const Uniform01& uniform01) const {
    if (uniform01() < config_.epsilon) {
        const auto i = std::min<std::size_t>(2, static_cast<std::size_t>(uniform01() * 3));
        return static_cast<QAction>(i);
    }
    return best(s);
}

void QLearner::update(std::size_t s, QAction a, double reward, std::size_t s_next) {
    const auto& next = q_.at(s_next);
    const double max_next = *std::max_element(next.begin(), next.end());
    double& q = q_.at(s)[static_cast<std::size_t>(a)];
    q += config_.alpha * (reward + config_.gamma * max_next - q);
}

nlohmann::json QLearner::save() const {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : q_) rows.push_back({r[0], r[1], r[2]});
    return {{"load_levels", config_.load_levels}, {"memory_levels", config_.memory_levels}, {"q", rows}};
}

void QLearner::load(const nlohmann::json& j) {
    if (j.at("load_levels").get<std::uint32_t>() != config_.load_levels ||
        j.at("memory_levels").get<std::uint32_t>() != config_.memory_levels)
        throw nlohmann::json::other_error::create(501, "q table: different state levels than configured", &j);
    std::vector<std::array<double, 3>> q;
    for (const auto& r : j.at("q")) q.push_back({r.at(0).get<double>(), r.at(1).get<double>(), r.at(2).get<double>()});
    if (q.size() != q_.size()) throw nlohmann::json::other_error::create(501, "q table: wrong number of states", &j);
    q_ = std::move(q);
}

QAllocator::QAllocator(QConfig config) : config_(std::move(config)) {}

double QAllocator::reward(const std::vector<ServiceState>& services) const {
    double sum = 0, weights = 0;
    for (const auto& s : services) {
        if (s.latency_p99_seconds <= 0) continue; // no traffic: no latency to judge
        auto t = config_.latency_targets.find(s.service);
        const double target = t == config_.latency_targets.end() ? config_.latency_target_seconds : t->second;
        auto w = config_.priority_weights.find(s.priority.value_or(Priority::normal));
        const double weight = w == config_.priority_weights.end() ? 1 : w->second;
        sum += weight * latency_reward(s.latency_p99_seconds, target);
        weights += weight;
    }
    return weights > 0 ? sum / weights : 0;
}

std::vector<Action> QAllocator::step(const std::vector<ServiceState>& services, const Uniform01& uniform01) {
    const double r = reward(services);
    std::vector<Action> out;
    for (const auto& s : services) {
        auto it = learners_.find(s.service);
        if (it == learners_.end()) it = learners_.emplace(s.service, QLearner(config_)).first;
        QLearner& learner = it->second;
        const std::size_t state =
            learner.state(signal_value(s, "cpu_utilisation", ""), signal_value(s, "memory_utilisation", ""));
        auto last = last_.find(s.service);
        if (last != last_.end()) learner.update(last->second.state, last->second.action, r, state);
        const QAction a = learner.choose(state, uniform01);
        last_[s.service] = {state, a};
        if (a == QAction::keep) continue;
        const double factor = a == QAction::raise ? 1 + config_.step_pct / 100 : 1 - config_.step_pct / 100;
        const double weight = std::clamp(std::round(s.cpu_weight * factor), config_.min_weight, config_.max_weight);
        if (weight == s.cpu_weight) continue;
        Action act;
        act.kind = ActionKind::cpu_weight;
        act.service = s.service;
        act.value = weight;
        act.rule = "qlearning";
        act.dry_run = false;
        act.reason = "qlearning: " + std::string(to_string(a)) + " cpu weight of " + s.service + " in state " +
                     std::to_string(state) + " (shared reward " + std::to_string(r) + ")";
        out.push_back(std::move(act));
    }
    return out;
}

const QLearner* QAllocator::learner(const std::string& service) const {
    auto it = learners_.find(service);
    return it == learners_.end() ? nullptr : &it->second;
}

bool QAllocator::taken(const std::string& service, QAction a) {
    auto it = last_.find(service);
    if (it == last_.end()) return false;
    it->second.action = a;
    return true;
}

std::optional<std::pair<std::size_t, QAction>> QAllocator::last(const std::string& service) const {
    auto it = last_.find(service);
    if (it == last_.end()) return std::nullopt;
    return std::make_pair(it->second.state, it->second.action);
}

nlohmann::json QAllocator::save() const {
    nlohmann::json services = nlohmann::json::object();
    for (const auto& [name, l] : learners_) {
        services[name] = {{"q", l.save()}};
        auto last = last_.find(name);
        if (last != last_.end())
            services[name]["last"] = {{"state", last->second.state}, {"action", static_cast<int>(last->second.action)}};
    }
    return {{"version", 1}, {"services", services}};
}

void QAllocator::load(const nlohmann::json& j) {
    if (j.at("version").get<int>() != 1) throw nlohmann::json::other_error::create(501, "qlearning: unknown version", &j);
    std::map<std::string, QLearner> learners;
    std::map<std::string, Last> last;
    for (const auto& [name, v] : j.at("services").items()) {
        QLearner l(config_);
        l.load(v.at("q"));
        if (v.contains("last")) {
            const int a = v["last"].at("action").get<int>();
            const auto s = v["last"].at("state").get<std::size_t>();
            if (a < 0 || a > 2 || s >= l.states())
                throw nlohmann::json::other_error::create(501, "qlearning: bad last step", &v);
            last[name] = {s, static_cast<QAction>(a)};
        }
        learners.emplace(name, std::move(l));
    }
    learners_ = std::move(learners);
    last_ = std::move(last);
}

} // namespace homeostat::engine::policy
