#include "engine/policy/load_balancer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/policy/rules.h"

namespace homeostat::engine::policy {
namespace {

bool has_glob(const std::string& p) {
    return p.find_first_of("*?") != std::string::npos;
}

std::string fixed(double v, int decimals) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
    return b;
}

} // namespace

LoadBalancer::LoadBalancer(std::vector<LoadBalancingGroup> groups) : groups_(std::move(groups)) {
    state_.reserve(groups_.size());
    for (const auto& g : groups_)
        state_.push_back(State{UpstreamHealth(g.health)});
}

bool LoadBalancer::valid_upstream(const std::string& upstream) {
    const auto colon = upstream.find_last_of(':');
    if (colon == std::string::npos || colon == 0) return false;
    const std::string port = upstream.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit)) return false;
    return std::all_of(upstream.begin(), upstream.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':';
    });
}

std::string LoadBalancer::var_key(const std::string& upstream) {
    std::string k = upstream;
    for (char& c : k)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
    return k;
}

std::string LoadBalancer::server_text(const std::string& upstream) {
    const auto colon = upstream.find_last_of(':');
    const std::string address = upstream.substr(0, colon);
    if (address.find(':') == std::string::npos) return upstream;
    return "[" + address + "]" + upstream.substr(colon);
}

bool LoadBalancer::member(const LoadBalancingGroup& g, const std::string& upstream) const {
    for (const auto& p : g.upstreams)
        if (glob_match(p, upstream)) return true;
    return false;
}

std::vector<LoadBalancer::Proposal> LoadBalancer::observe(const std::vector<EndpointWindow>& window,
                                                          double now) {
    std::vector<Proposal> out;
    for (std::size_t i = 0; i < groups_.size(); ++i) {
        const LoadBalancingGroup& g = groups_[i];
        State& st = state_[i];
        std::map<std::string, std::uint64_t> calls_by_service;
        for (const auto& e : window) {
            if (e.role != Role::client || e.count == 0 || e.peer_address.empty()) continue;
            if (!glob_match(g.service, e.service)) continue;
            const std::string upstream = e.peer_address + ":" + std::to_string(e.peer_port);
            if (!valid_upstream(upstream) || !member(g, upstream)) continue;
            Batch& b = st.batches[upstream];
            b.requests += e.count;
            b.errors += e.errors;
            b.latency_sum += e.p50 * static_cast<double>(e.count);
            calls_by_service[e.service] += e.count;
        }
        if (!calls_by_service.empty())
            st.service = std::max_element(calls_by_service.begin(), calls_by_service.end(),
                                          [](const auto& a, const auto& b) { return a.second < b.second; })
                             ->first;
        bool fresh = false;
        for (auto it = st.batches.begin(); it != st.batches.end();) {
            const Batch& b = it->second;
            if (b.requests < g.min_requests) {
                ++it;
                continue;
            }
            const double n = static_cast<double>(b.requests);
            st.health.observe(it->first, std::max(g.latency_floor_seconds, b.latency_sum / n),
                              1.0 - static_cast<double>(b.errors) / n);
            fresh = true;
            it = st.batches.erase(it);
        }
        if (!fresh || st.service.empty()) continue;

        auto weights = st.health.weights();
        const auto max_w = static_cast<std::uint32_t>(g.health.max_weight);
        for (const auto& p : g.upstreams) // listed ones are always rendered: never drop a backend
            if (!has_glob(p) && valid_upstream(p)) weights.try_emplace(p, max_w);
        // The file is taken to start with equal weights (max_weight) until homeostat wrote it.
        auto before = [&](const std::string& u) {
            auto it = st.written.find(u);
            return it == st.written.end() ? max_w : it->second;
        };
        const double step = std::max(1.0, g.min_change * g.health.max_weight);
        bool moved = false;
        for (const auto& [u, w] : weights)
            moved |= std::fabs(double(w) - double(before(u))) >= step;
        if (!moved || now - st.written_at < g.cooldown_seconds) continue;

        Proposal p;
        p.group = i;
        p.weights = weights;
        auto& a = p.action;
        a.kind = ActionKind::config_file;
        a.service = st.service;
        a.target = g.file;
        a.rule = kRule;
        a.dry_run = g.dry_run;
        std::string servers, short_list;
        nlohmann::json ups = nlohmann::json::object();
        p.evidence = st.service + " → its upstreams:";
        for (const auto& [u, w] : weights) {
            const std::string k = var_key(u);
            const std::string wt = std::to_string(w);
            a.vars["weight." + k] = wt;
            servers +=
                std::string(servers.empty() ? "" : " ") + "server " + server_text(u) + " weight=" + wt + ";";
            short_list +=
                std::string(short_list.empty() ? "" : ", ") + u + " " + std::to_string(before(u)) + "→" + wt;
            const auto avg = st.health.averages(u);
            nlohmann::json x = {{"weight", w}, {"previous_weight", before(u)}};
            if (avg) {
                const double score = st.health.score(u);
                a.vars["score." + k] = fixed(score, 3);
                a.vars["latency_ms." + k] = fixed(avg->first * 1000, 1);
                a.vars["success_pct." + k] = fixed(avg->second * 100, 2);
                x["score"] = score;
                x["latency_ms"] = avg->first * 1000;
                x["success_ratio"] = avg->second;
                p.evidence += " " + u + " weight " + wt + " (score " + fixed(score, 3) + ", EMA latency " +
                              fixed(avg->first * 1000, 1) + " ms, " + fixed(avg->second * 100, 2) + " % ok);";
            } else {
                p.evidence += " " + u + " weight " + wt + " (not observed yet);";
            }
            ups[u] = x;
        }
        p.evidence.pop_back();
        a.vars["upstream_servers"] = servers;
        a.reason = "load balancing: " + st.service + ": weights " + short_list;
        p.detail = {{"file", g.file}, {"upstreams", ups}, {"dry_run", g.dry_run}};

        st.previous = st.written;
        st.previous_at = st.written_at;
        st.written = weights;
        st.written_at = now;
        out.push_back(std::move(p));
    }
    return out;
}

void LoadBalancer::forget(std::size_t group) {
    if (group >= state_.size()) return;
    State& st = state_[group];
    st.written = st.previous;
    st.written_at = st.previous_at;
}

std::optional<std::size_t> LoadBalancer::group_of_file(const std::string& file) const {
    for (std::size_t i = 0; i < groups_.size(); ++i)
        if (groups_[i].file == file) return i;
    return std::nullopt;
}

std::optional<std::map<std::string, std::uint32_t>> LoadBalancer::written(std::size_t group) const {
    if (group >= state_.size() || state_[group].written.empty()) return std::nullopt;
    return state_[group].written;
}

nlohmann::json LoadBalancer::save() const {
    nlohmann::json groups = nlohmann::json::array();
    for (std::size_t i = 0; i < groups_.size(); ++i) {
        const State& st = state_[i];
        nlohmann::json w = nlohmann::json::object();
        for (const auto& [u, x] : st.written)
            w[u] = x;
        groups.push_back({{"file", groups_[i].file},
                          {"service", st.service},
                          {"health", st.health.save()},
                          {"written", w},
                          {"written_at", st.written_at}});
    }
    return {{"version", 1}, {"groups", groups}};
}

void LoadBalancer::load(const nlohmann::json& j) {
    if (j.at("version").get<int>() != 1)
        throw nlohmann::json::other_error::create(501, "load balancing: unknown version", &j);
    std::vector<State> loaded = state_;
    for (const auto& x : j.at("groups")) {
        auto i = group_of_file(x.at("file").get<std::string>());
        if (!i) continue; // a group no longer configured
        State& st = loaded[*i];
        st.health.load(x.at("health"));
        st.service = x.at("service").get<std::string>();
        st.written.clear();
        for (const auto& [u, w] : x.at("written").items())
            st.written[u] = w.get<std::uint32_t>();
        st.written_at = x.at("written_at").get<double>();
        st.previous = st.written;
        st.previous_at = st.written_at;
    }
    state_ = std::move(loaded);
}

} // namespace homeostat::engine::policy
