// An optional, learning alternative to fixed rules for sharing CPU between services:
// tabular Q-learning over discretised (load level × memory level) states with actions
// lower / keep / raise a service's CPU weight.
//
//   Q(s,a) += alpha × (r + gamma × max_a' Q(s',a') − Q(s,a))      (alpha 0.1, gamma 0.9)
//
// QAllocator keeps one table per service and one shared reward per step: the
// priority-weighted mean over services of latency_reward(p99, target), so a low-priority
// service learns to yield when its share hurts a high-priority one. Exploration is
// epsilon-greedy with an injected random source (tests and a restarted daemon replay the
// same choices: DeterministicRng's state is saved too).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/policy/action.h"
#include "engine/policy/planner.h"

namespace homeostat::engine::policy {

enum class QAction : std::uint8_t { lower = 0, keep = 1, raise = 2 };
const char* to_string(QAction a);

// Uniform doubles in [0,1) from SplitMix64: small, fast, reproducible from its state.
class DeterministicRng {
public:
    explicit DeterministicRng(std::uint64_t seed = 0x9e3779b97f4a7c15ULL) : state_(seed) {}
    double operator()();
    std::uint64_t state() const { return state_; }
    void set_state(std::uint64_t s) { state_ = s; }

private:
    std::uint64_t state_;
};

using Uniform01 = std::function<double()>;

struct QConfig {
    double alpha = 0.1;
    double gamma = 0.9;
    double epsilon = 0.1;
    std::uint32_t load_levels = 3;   // CPU utilisation in [0,1] cut into this many levels
    std::uint32_t memory_levels = 3; // memory utilisation likewise
    double step_pct = 10;            // raise/lower the weight by this much
    double min_weight = 10, max_weight = 10000;
    double latency_target_seconds = 0.2; // per-service targets override it
    std::map<std::string, double> latency_targets;
    std::map<Priority, double> priority_weights = {{Priority::low, 0.5}, {Priority::normal, 1}, {Priority::high, 2}};
};

// (target − latency) ÷ target, in [−1, 1]: positive under target, negative over it.
double latency_reward(double latency_seconds, double target_seconds);

class QLearner {
public:
    explicit QLearner(QConfig config = {});

    std::size_t states() const { return q_.size(); }
    // level = min(levels − 1, floor(ratio × levels)), ratio clamped to [0,1];
    // state = load_level × memory_levels + memory_level.
    std::size_t state(double load_ratio, double memory_ratio) const;
    QAction best(std::size_t s) const; // ties go to keep, then lower
    // With probability epsilon (first draw) a random action (second draw), else best().
    QAction choose(std::size_t s, const Uniform01& uniform01) const;
    void update(std::size_t s, QAction a, double reward, std::size_t s_next);
    double q(std::size_t s, QAction a) const { return q_.at(s)[static_cast<std::size_t>(a)]; }
    const QConfig& config() const { return config_; }

    nlohmann::json save() const;
    void load(const nlohmann::json& j); // same state geometry expected

private:
    QConfig config_;
    std::vector<std::array<double, 3>> q_;
};

class QAllocator {
public:
    explicit QAllocator(QConfig config = {});

    // One step: learn from the reward of the previous step's actions, then choose each
    // service's next action. Returns cpu_weight actions (rule "qlearning", dry_run false:
    // pass them through Planner::decide()) for services whose action is not keep.
    std::vector<Action> step(const std::vector<ServiceState>& services, const Uniform01& uniform01);
    // The shared reward of `services` as they are now.
    double reward(const std::vector<ServiceState>& services) const;
    const QLearner* learner(const std::string& service) const;
    // The action actually taken by `service` in the last step, when it is not the one
    // chosen (a guardrail refused it, so the weight stayed: keep): the next step's update
    // credits the reward to what happened. False for a service without a last step.
    bool taken(const std::string& service, QAction a);
    // The state and action of `service`'s last step (nullopt: none yet).
    std::optional<std::pair<std::size_t, QAction>> last(const std::string& service) const;

    nlohmann::json save() const;
    void load(const nlohmann::json& j);

private:
    struct Last {
        std::size_t state = 0;
        QAction action = QAction::keep;
    };
    QConfig config_;
    std::map<std::string, QLearner> learners_;
    std::map<std::string, Last> last_;
};

} // namespace homeostat::engine::policy
