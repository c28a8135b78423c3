#include "agent/endpoints_api.h"

#include <map>
#include <string>
#include <tuple>

namespace homeostat::agent {
namespace {

using Key = std::tuple<std::string, int, std::string, std::string, std::string, int>;

std::string peer_of(const std::string& address, std::uint16_t port) {
    if (address.empty()) return "";
    return address.find(':') != std::string::npos ? "[" + address + "]:" + std::to_string(port)
                                                   : address + ":" + std::to_string(port);
}

} // namespace

nlohmann::json endpoints_json(const engine::Snapshot& snap) {
    std::map<Key, nlohmann::json> out;
    auto entry = [&](const std::string& service, engine::Role role, const std::string& method,
                     const std::string& route, const std::string& peer_address, std::uint16_t peer_port) -> nlohmann::json& {
        auto& j = out[Key{service, static_cast<int>(role), method, route, peer_address, peer_port}];
        if (j.is_null()) {
            j = {{"service", service}, {"role", role == engine::Role::server ? "server" : "client"},
                 {"method", method}, {"route", route}, {"requests_total", 0}, {"errors_total", 0},
                 {"status", nlohmann::json::object()}, {"recent", nullptr}};
            if (role == engine::Role::client) j["peer"] = peer_of(peer_address, peer_port);
        }
        return j;
    };
    for (const auto& s : snap.series) {
        auto& j = entry(s.service, s.role, s.method, s.route, s.peer_address, s.peer_port);
        j["requests_total"] = j["requests_total"].get<std::uint64_t>() + s.latency.count;
        if (s.status >= 500) j["errors_total"] = j["errors_total"].get<std::uint64_t>() + s.latency.count;
        const std::string code = std::to_string(s.status);
        j["status"][code] = j["status"].value(code, std::uint64_t{0}) + s.latency.count;
    }
    for (const auto& q : snap.quantiles) {
        auto& j = entry(q.service, q.role, q.method, q.route, q.peer_address, q.peer_port);
        j["recent"] = {{"requests", q.count}, {"window_seconds", q.window_seconds},
                       {"rate", q.window_seconds > 0 ? static_cast<double>(q.count) / q.window_seconds : 0.0},
                       {"p50", q.p50}, {"p95", q.p95}, {"p99", q.p99}};
    }
    nlohmann::json list = nlohmann::json::array();
    for (auto& [k, j] : out) list.push_back(std::move(j));
    return {{"endpoints", std::move(list)}};
}

} // namespace homeostat::agent
