// Load-balancer weights from upstream health (healing.load_balancing, docs/healing.md).
// The agent (agent/healing_balance.cpp) feeds it every window and carries out its proposals.
//
// Per configured group (a client service, its upstreams, one healing.files entry), every
// window's client-side figures of the service's calls to each upstream (count, 5xx,
// median latency) are summed until an upstream has min_requests calls; then that batch
// feeds UpstreamHealth (EMA of latency and of success ratio), whose
// weights() say what each upstream deserves (best = max_weight, a sick one down to
// min_weight: a trickle keeps its recovery visible). When a weight moved by at least
// min_change × max_weight from what was last written, and the group's cooldown has
// passed, a config_file action is proposed; the agent sends it through Planner::decide
// (global and per-group dry-run, hourly cap, cooldown) to the config_file actuator
// (atomic write with a backup, check, reload, restore on failure).
//
// Template variables of the action (all generated from validated addresses, never a
// newline):
//   weight.<key>        the weight of one upstream, key = "address:port" with every
//                       character other than letters, digits, '.', '-' as '_'
//                       ("weight.127.0.0.1_8081")
//   upstream_servers    every upstream on one line, nginx syntax:
//                       "server 127.0.0.1:8081 weight=100; server 127.0.0.1:8082 weight=3;"
//   score.<key>, latency_ms.<key>, success_pct.<key>   the evidence, also in the audit.
// Upstreams listed without glob characters are always rendered (max_weight until they are
// observed); ones matched by a glob appear once they have been seen.
//
// Pure: no host access, time is a parameter.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/policy/action.h"
#include "engine/policy/tuner.h"
#include "engine/snapshot.h"

namespace homeostat::engine::policy {

struct LoadBalancingGroup {
    std::string service;                 // glob over client service names ("nginx:8080", "nginx*")
    std::vector<std::string> upstreams;  // "address:port" or globs of it
    std::string file;                    // a healing.files[].name
    UpstreamHealthConfig health;         // alpha, min_weight, max_weight
    std::uint64_t min_requests = 20;     // calls to one upstream behind one EMA step
    double cooldown_seconds = 60;        // between two writes of the group's file
    double min_change = 0.1;             // × max_weight: a weight change worth a reload
    double latency_floor_seconds = 0.01; // latencies below count as this (noise among fast ones)
    bool dry_run = false;                // this group only shows what it would write
};

class LoadBalancer {
public:
    static constexpr const char* kRule = "load_balancing";

    explicit LoadBalancer(std::vector<LoadBalancingGroup> groups);

    struct Proposal {
        std::size_t group = 0;
        Action action;        // config_file, rule kRule, vars as above
        std::string evidence; // per upstream: score, EMA latency, success ratio, weight
        std::map<std::string, std::uint32_t> weights; // upstream → weight
        nlohmann::json detail;                        // the same as data, for /api/v1/tuned
    };

    // One window's endpoints (the client ones are used). Proposals for groups whose weights
    // changed meaningfully and whose cooldown passed; each is remembered as written (the
    // cooldown starts) until forget() says it was not.
    std::vector<Proposal> observe(const std::vector<EndpointWindow>& window, double now);
    // The proposal of `group` was refused or failed: propose again next window.
    void forget(std::size_t group);
    // The group whose file is `file` (a config_file action's target), if one.
    std::optional<std::size_t> group_of_file(const std::string& file) const;

    const std::vector<LoadBalancingGroup>& groups() const { return groups_; }
    std::optional<std::map<std::string, std::uint32_t>> written(std::size_t group) const;

    nlohmann::json save() const;
    void load(const nlohmann::json& j); // throws nlohmann::json::exception on a bad document

    // "127.0.0.1:8081" → "127.0.0.1_8081" (the variable-name form above).
    static std::string var_key(const std::string& upstream);
    // An upstream as nginx writes it: "[::1]:8081" for IPv6.
    static std::string server_text(const std::string& upstream);
    // Only hex digits, '.', ':' and a port: what a peer address can be; anything else is
    // never rendered.
    static bool valid_upstream(const std::string& upstream);

private:
    struct Batch {
        std::uint64_t requests = 0, errors = 0;
        double latency_sum = 0; // Σ p50 × count
    };
    struct State {
        UpstreamHealth health;
        std::map<std::string, Batch> batches;          // upstream → calls not yet in the EMA
        std::map<std::string, std::uint32_t> written;  // last proposed (empty: never)
        std::map<std::string, std::uint32_t> previous; // before that (forget() restores it)
        double written_at = -1e18, previous_at = -1e18;
        std::string service; // the client service seen last
    };
    bool member(const LoadBalancingGroup& g, const std::string& upstream) const;
    std::vector<LoadBalancingGroup> groups_;
    std::vector<State> state_;
};

} // namespace homeostat::engine::policy
