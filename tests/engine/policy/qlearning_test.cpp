// Q-learning: the update rule against hand-computed values, state discretisation,
// epsilon-greedy with a scripted random source, the allocator's shared reward, save/load.
#include "engine/policy/qlearning.h"

#include <gtest/gtest.h>

#include <deque>

namespace homeostat::engine::policy {
namespace {

// A random source that returns the given draws in order.
Uniform01 script(std::deque<double> draws) {
    return [d = std::move(draws)]() mutable {
        const double x = d.front();
        d.pop_front();
        return x;
    };
}

TEST(QLearner, UpdateMatchesHandComputed) {
    QLearner q; // alpha 0.1, gamma 0.9, all zero
    q.update(0, QAction::raise, 1.0, 1);
    EXPECT_DOUBLE_EQ(q.q(0, QAction::raise), 0.1); // 0 + 0.1 × (1 + 0.9 × 0 − 0)
    q.update(1, QAction::keep, 0.5, 2);
    EXPECT_DOUBLE_EQ(q.q(1, QAction::keep), 0.05);
    q.update(0, QAction::raise, 1.0, 1);
    // 0.1 + 0.1 × (1 + 0.9 × 0.05 − 0.1) = 0.1945
    EXPECT_NEAR(q.q(0, QAction::raise), 0.1945, 1e-15);
    EXPECT_EQ(q.best(0), QAction::raise);
    EXPECT_EQ(q.best(3), QAction::keep); // all equal: keep
}

TEST(QLearner, StatesAndEpsilonGreedy) {
    QLearner q; // 3 × 3 levels
    EXPECT_EQ(q.states(), 9u);
    EXPECT_EQ(q.state(0.5, 0.95), 5u); // load level 1 × 3 + memory level 2
    EXPECT_EQ(q.state(1.0, 0.0), 6u);  // 1.0 is the top level, not a fourth one
    EXPECT_EQ(q.state(-1, 7), 2u);     // clamped
    q.update(4, QAction::lower, 1, 4);
    EXPECT_EQ(q.choose(4, script({0.5})), QAction::lower);        // 0.5 >= epsilon: greedy
    EXPECT_EQ(q.choose(4, script({0.05, 0.7})), QAction::raise);  // explore: floor(0.7 × 3) = 2
    EXPECT_EQ(q.choose(4, script({0.05, 0.1})), QAction::lower);
    DeterministicRng a(42), b(42);
    for (int i = 0; i < 5; ++i) {
        const double x = a();
        EXPECT_EQ(x, b());
        EXPECT_GE(x, 0);
        EXPECT_LT(x, 1);
    }
}

ServiceState svc(const std::string& name, Priority p, double p99) {
    ServiceState s;
    s.service = name;
    s.priority = p;
    s.latency_p99_seconds = p99;
    s.cpu_usage_cores = 0.5;
    s.cpu_quota_cores = 1; // load 0.5 → level 1
    s.memory_bytes = 100;
    s.memory_max_bytes = 1000; // level 0 → state 3
    return s;
}

TEST(QAllocator, SharedRewardAndLearning) {
    QAllocator alloc; // target 0.2 s; weights low 0.5, high 2
    std::vector<ServiceState> s = {svc("web", Priority::high, 0.3), svc("batch", Priority::low, 0.1)};
    // web: (0.2 − 0.3)/0.2 = −0.5 × 2; batch: 0.5 × 0.5 → (−1 + 0.25) / 2.5 = −0.3
    EXPECT_NEAR(alloc.reward(s), -0.3, 1e-12);
    // Step 1: web explores raise (0.05, 0.9), batch is greedy (keep).
    auto actions = alloc.step(s, script({0.05, 0.9, 0.5}));
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(actions[0].service, "web");
    EXPECT_EQ(actions[0].kind, ActionKind::cpu_weight);
    EXPECT_DOUBLE_EQ(actions[0].value, 110); // 100 + 10 %
    // Step 2 learns from the reward now: Q(3, raise) of web = 0.1 × −0.3.
    alloc.step(s, script({0.5, 0.5}));
    EXPECT_NEAR(alloc.learner("web")->q(3, QAction::raise), -0.03, 1e-12);
    EXPECT_NEAR(alloc.learner("batch")->q(3, QAction::keep), -0.03, 1e-12);

    QAllocator loaded;
    loaded.load(alloc.save());
    EXPECT_EQ(loaded.save(), alloc.save());
    EXPECT_NEAR(loaded.learner("web")->q(3, QAction::raise), -0.03, 1e-12);
}

// A chosen action a guardrail refused is credited as what happened (keep).
TEST(QAllocator, TakenReplacesTheChosenActionInTheNextUpdate) {
    QAllocator alloc;
    std::vector<ServiceState> s = {svc("web", Priority::high, 0.3), svc("batch", Priority::low, 0.1)};
    EXPECT_FALSE(alloc.taken("web", QAction::keep)); // no step yet
    EXPECT_FALSE(alloc.last("web"));
    alloc.step(s, script({0.05, 0.9, 0.5})); // web explores raise
    ASSERT_TRUE(alloc.last("web"));
    EXPECT_EQ(alloc.last("web")->second, QAction::raise);
    EXPECT_EQ(alloc.last("web")->first, 3u);
    EXPECT_TRUE(alloc.taken("web", QAction::keep));
    alloc.step(s, script({0.5, 0.5}));
    EXPECT_DOUBLE_EQ(alloc.learner("web")->q(3, QAction::raise), 0);
    EXPECT_NEAR(alloc.learner("web")->q(3, QAction::keep), -0.03, 1e-12);
}

} // namespace
} // namespace homeostat::engine::policy
