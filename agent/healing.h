// Healing on the host. Once per observed window, evaluate() turns the open anomalies and
// the services' state into decisions (engine::policy::Planner: rules, guardrails, the
// tuner's resilience settings), carries out what is to be carried out with the actuators,
// verifies each action after its window and rolls back what did not help.
//
// Threads: everything that touches the host (cgroup files, config files, reload and
// restart commands, even a dry-run's plan, which reads current values) runs on one worker
// thread, in order, each command bounded by healing.command_timeout; results come back
// to the daemon's thread through `post`. The ring buffer is never kept waiting.
//
// Every decision that is not a repeat is logged with its evidence and written to the
// audit log (Store::add_action): dry_run (with exactly what would be done), refused,
// deferred, applied, failed, then verified, not_improved or rolled_back. The planner's
// and tuner's state, and what each applied action changed (to undo it), persist in the
// store (document "healing_state"), so budgets, cooldowns and pending verifications
// survive a restart.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/actuators/actuators.h"
#include "agent/healing_config.h"
#include "agent/healing_strategies.h"
#include "agent/store.h"
#include "engine/detect/live_monitor.h"
#include "engine/policy/load_balancer.h"
#include "engine/policy/planner.h"
#include "engine/policy/tuner.h"
#include "engine/snapshot.h"
#include "exporters/service_health.h"

namespace homeostat::agent {

class Healing {
public:
    using Post = std::function<void(std::function<void()>)>;

    // `post` runs a function on the daemon's thread (asio::post). `store` may be null
    // (nothing is audited or persisted then; the log still says everything).
    Healing(HealingConfig config, Store* store, Post post, double host_cores);
    ~Healing(); // waits for the action in progress (bounded by its timeout), drops the rest

    static constexpr const char* kStateDocument = "healing_state";
    void load_state();
    void save_state(double now);

    // One evaluation. `window`: the endpoints of the window just observed (server p99 and
    // errors per service; the client side's upstream figures for the tuner). Returns
    // healing alerts that opened or resolved (a service whose restart budget is spent),
    // as anomalies of type "healing_stopped", for alerting.
    std::vector<engine::detect::Anomaly> evaluate(const std::vector<engine::detect::Anomaly>& anomalies,
                                                  const std::vector<exporters::ServiceHealth>& health,
                                                  const std::vector<engine::EndpointWindow>& window,
                                                  double window_seconds, double now);

    // Called (on the daemon's thread) when an action caused by an anomaly was carried out,
    // dry-run, failed or rolled back: (service, anomaly type, one line saying what).
    using ActionSink = std::function<void(const std::string&, const std::string&, const std::string&)>;
    void on_action(ActionSink sink) { on_action_ = std::move(sink); }

    // {"enabled", "dry_run", "restarts_enabled", "rules", "pending_verifications", ...}
    nlohmann::json status() const;
    std::size_t jobs_in_flight() const { return in_flight_; }
    // The Q-learning allocator and the recommender (agent/healing_strategies.h).
    const HealingStrategies& strategies() const { return *strategies_; }

    // Where a service lives, from its health (exposed for tests).
    static actuators::ServiceTarget target_of(const exporters::ServiceHealth& h, bool systemd_running);
    // The planner's view of every service (exposed for tests).
    std::vector<engine::policy::ServiceState> states(const std::vector<engine::detect::Anomaly>& anomalies,
                                                     const std::vector<exporters::ServiceHealth>& health,
                                                     const std::vector<engine::EndpointWindow>& window) const;

private:
    struct Job;
    void handle(const engine::policy::Decision& d, const std::vector<exporters::ServiceHealth>& health, double now);
    void run(std::function<void()> work);
    void finished(const engine::policy::Decision& d, const std::string& verdict, const std::string& summary,
                  nlohmann::json detail, double now);
    void audit(const engine::policy::Decision& d, const std::string& verdict, const std::string& summary,
               const nlohmann::json& detail, double now);
    void tune(const std::vector<engine::EndpointWindow>& window, double window_seconds,
              const std::vector<exporters::ServiceHealth>& health, double now);
    // healing_balance.cpp: load-balancer weights from upstream health.
    void balance(const std::vector<engine::EndpointWindow>& window,
                 const std::vector<exporters::ServiceHealth>& health, double now);
    const exporters::ServiceHealth* find(const std::vector<exporters::ServiceHealth>& health,
                                         const std::string& service) const;

    HealingConfig config_;
    ActionSink on_action_;
    Store* store_;
    Post post_;
    double host_cores_;
    bool systemd_running_;
    engine::policy::Planner planner_;
    engine::policy::Tuner tuner_;
    engine::policy::LoadBalancer balancer_;
    std::unique_ptr<actuators::Actuators> actuators_;
    std::unique_ptr<HealingStrategies> strategies_;

    std::map<std::uint64_t, actuators::Change> changes_;  // decision id → what it changed
    std::map<std::uint64_t, std::int64_t> audit_rows_;    // decision id → audit row
    std::map<std::string, double> stopped_;               // service → when its healing alert opened
    std::map<std::string, std::uint64_t> counts_;         // by verdict
    std::string last_store_error_;
    std::size_t in_flight_ = 0;
    std::uint64_t alert_ids_ = 0;
    // Upstream figures over the last windows, per (service, upstream), for the tuner.
    struct UpstreamWindow {
        std::uint64_t requests = 0, errors = 0;
        double p99 = 0, seconds = 0;
    };
    std::map<std::pair<std::string, std::string>, std::deque<UpstreamWindow>> upstreams_;

    // The worker.
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::thread worker_;
};

nlohmann::json to_json(const actuators::Change& c);
actuators::Change change_from_json(const nlohmann::json& j);

} // namespace homeostat::agent
