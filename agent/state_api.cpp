#include "agent/state_api.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>

#include "agent/api_query.h"

namespace homeostat::agent {
namespace {

constexpr const char* kText = "text/plain; charset=utf-8";

HttpResponse no_store(const char* what) {
    return {503, kText, std::string("no state database: ") + what + "\n"};
}

HttpResponse json_response(const nlohmann::json& j) {
    return {200, "application/json", j.dump(2) + "\n"};
}

nlohmann::json parse_or_text(const std::string& s) {
    auto j = nlohmann::json::parse(s, nullptr, false);
    return j.is_discarded() ? nlohmann::json(s) : j;
}

} // namespace

nlohmann::json to_json(const ActionRecord& a) {
    return {{"id", a.id},          {"at", a.at},           {"updated_at", a.updated_at}, {"service", a.service},
            {"kind", a.kind},      {"rule", a.rule},       {"verdict", a.verdict},       {"summary", a.summary},
            {"reason", a.reason},  {"detail", parse_or_text(a.detail)}, {"anomaly_id", a.anomaly_id}};
}

nlohmann::json to_json(const TunedRecord& t) {
    return {{"id", t.id},           {"at", t.at},           {"service", t.service}, {"target", t.target},
            {"settings", parse_or_text(t.settings)}, {"applied", t.applied}, {"reason", t.reason}};
}

HttpResponse history_response(Store* store, const std::string& query, double now) {
    if (!store) return no_store("no history is kept");
    std::map<std::string, std::string> text;
    std::map<std::string, double> num;
    if (auto bad = parse_query(query, ",service,from,to,limit,", [](const std::string& k) { return k != "service"; },
                               text, num))
        return *bad;
    const std::string service = text["service"];
    const double from = num.count("from") ? num["from"] : now - 3600, to = num.count("to") ? num["to"] : now;
    const std::size_t limit = num.count("limit") ? static_cast<std::size_t>(std::min(num["limit"], 100000.0)) : 10000;
    auto rows = store->history(service, from, to, limit + 1);
    if (!rows) return {500, kText, rows.error().message + "\n"};
    nlohmann::json list = nlohmann::json::array();
    const bool truncated = rows.value().size() > limit;
    for (std::size_t i = 0; i < rows.value().size() && i < limit; ++i) {
        const auto& r = rows.value()[i];
        list.push_back({{"window_start", r.window_start}, {"window_seconds", r.window_seconds}, {"service", r.service},
                        {"role", r.role}, {"endpoint", r.endpoint}, {"requests", r.requests}, {"errors", r.errors},
                        {"p50", r.p50}, {"p95", r.p95}, {"p99", r.p99}});
    }
    nlohmann::json j = {{"from", from}, {"to", to}, {"service", service}, {"truncated", truncated},
                        {"rollups", std::move(list)}};
    return {200, "application/json", j.dump() + "\n"};
}

HttpResponse actions_response(Store* store, const std::string& query, const nlohmann::json& status) {
    if (!store) return no_store("no audit log is kept");
    std::map<std::string, std::string> text;
    std::map<std::string, double> num;
    if (auto bad = parse_query(query, ",service,limit,", [](const std::string& k) { return k == "limit"; }, text, num))
        return *bad;
    const std::size_t limit = num.count("limit") ? static_cast<std::size_t>(std::min(num["limit"], 10000.0)) : 200;
    auto rows = store->actions(text["service"], limit);
    if (!rows) return {500, kText, rows.error().message + "\n"};
    nlohmann::json list = nlohmann::json::array();
    for (const auto& a : rows.value()) list.push_back(to_json(a));
    return json_response({{"healing", status}, {"actions", std::move(list)}});
}

HttpResponse tuned_response(Store* store, const std::string& query, const nlohmann::json& recommendations) {
    if (!store) return no_store("no tuned settings are kept");
    std::map<std::string, std::string> text;
    std::map<std::string, double> num;
    if (auto bad = parse_query(query, ",service,history,", [](const std::string& k) { return k == "history"; }, text,
                               num))
        return *bad;
    const std::string service = text["service"];
    auto cur = store->tuned_current();
    if (!cur) return {500, kText, cur.error().message + "\n"};
    nlohmann::json list = nlohmann::json::array();
    for (const auto& t : cur.value())
        if (service.empty() || t.service == service) list.push_back(to_json(t));
    nlohmann::json recs = nlohmann::json::array();
    if (recommendations.is_array())
        for (const auto& r : recommendations)
            if (service.empty() || r.value("service", "") == service) recs.push_back(r);
    nlohmann::json j = {{"tuned", std::move(list)}, {"recommendations", std::move(recs)}};
    if (num.count("history")) {
        auto hist = store->tuned_history(service, static_cast<std::size_t>(std::min(num["history"], 10000.0)));
        if (!hist) return {500, kText, hist.error().message + "\n"};
        nlohmann::json h = nlohmann::json::array();
        for (const auto& t : hist.value()) h.push_back(to_json(t));
        j["history"] = std::move(h);
    }
    return json_response(j);
}

} // namespace homeostat::agent
