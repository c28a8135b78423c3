#include "cli/endpoints.h"

#include <algorithm>
#include <cstdio>

#include "cli/tables.h"

namespace homeostat::cli {

std::vector<EndpointRow> endpoint_rows(const nlohmann::json& doc, const std::string& service) {
    std::vector<EndpointRow> rows;
    if (!doc.is_object() || !doc.contains("endpoints") || !doc["endpoints"].is_array()) return rows;
    for (const auto& e : doc["endpoints"]) {
        EndpointRow r;
        r.service = e.value("service", "");
        if (!service.empty() && r.service != service) continue;
        r.role = e.value("role", "");
        r.method = e.value("method", "");
        r.route = e.value("route", "");
        r.peer = e.value("peer", "");
        r.requests_total = e.value("requests_total", 0.0);
        r.errors_total = e.value("errors_total", 0.0);
        if (e.contains("status") && e["status"].is_object()) r.not_found_total = e["status"].value("404", 0.0);
        if (const auto& rec = e.value("recent", nlohmann::json()); rec.is_object()) {
            r.recent_requests = rec.value("requests", 0.0);
            r.window_seconds = rec.value("window_seconds", 0.0);
            r.rate = rec.value("rate", 0.0);
            r.p50 = rec.value("p50", -1.0);
            r.p95 = rec.value("p95", -1.0);
            r.p99 = rec.value("p99", -1.0);
        }
        rows.push_back(std::move(r));
    }
    std::stable_sort(rows.begin(), rows.end(), [](const EndpointRow& a, const EndpointRow& b) {
        if (a.rate != b.rate) return a.rate > b.rate;
        return a.requests_total > b.requests_total;
    });
    return rows;
}

std::string endpoints_table(const std::vector<EndpointRow>& rows, std::size_t limit) {
    Table t({{"SERVICE", false, 32}, {"ROLE"}, {"METHOD"}, {"ROUTE", false, 40}, {"REQUESTS", true},
             {"RATE", true}, {"ERR%", true}, {"404", true}, {"P50", true}, {"P95", true}, {"P99", true}});
    for (const auto& r : rows) {
        if (limit && t.size() >= limit) break;
        const bool recent = r.recent_requests > 0;
        t.add({r.service, r.role, r.method, r.role == "client" && !r.peer.empty() ? r.route + " -> " + r.peer : r.route,
               format_count(r.requests_total), format_rate(r.rate),
               r.requests_total > 0 ? format_percent(r.errors_total / r.requests_total) : "-",
               format_count(r.not_found_total), recent ? format_seconds(r.p50) : "-",
               recent ? format_seconds(r.p95) : "-", recent ? format_seconds(r.p99) : "-"});
    }
    return t.render();
}

int endpoints_command(const Fetch& fetch, const std::vector<std::string>& args, bool json) {
    if (args.size() > 2) { std::fprintf(stderr, "homeostat endpoints: at most one SERVICE\n"); return 2; }
    const std::string service = args.size() > 1 ? args[1] : "";
    auto doc = fetch_json(fetch, "/api/v1/endpoints");
    if (!doc) { std::fprintf(stderr, "homeostat: %s\n", doc.error().message.c_str()); return 1; }
    const auto rows = endpoint_rows(doc.value(), service);
    if (json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& e : doc.value()["endpoints"])
            if (service.empty() || e.value("service", "") == service) list.push_back(e);
        std::printf("%s\n", nlohmann::json{{"endpoints", list}}.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return 0;
    }
    if (rows.empty()) {
        std::printf(service.empty() ? "no HTTP endpoints seen yet\n" : "no HTTP endpoints seen for %s\n", service.c_str());
        return 0;
    }
    std::fputs(endpoints_table(rows).c_str(), stdout);
    const double window = rows.front().window_seconds;
    std::printf("REQUESTS, ERR%% (5xx) and 404 count since the daemon started; RATE and P50-P99 over the last %.0f s\n",
                window);
    return 0;
}

} // namespace homeostat::cli
