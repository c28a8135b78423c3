#include "cli/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <set>

#include "cli/endpoints.h"
#include "cli/tables.h"

namespace homeostat::cli {
namespace {

using nlohmann::json;

std::string route_of(const std::string& endpoint) {
    const auto sp = endpoint.find(' ');
    return sp == std::string::npos ? endpoint : endpoint.substr(sp + 1);
}

bool is_scrape_route(const std::string& route) {
    return route == "/metrics" || route == "/prometheus" || route == "/actuator/prometheus" ||
           route == "/federate" || route == "/stats/prometheus";
}

std::string pct(double ratio) {
    char buf[32];
    std::snprintf(buf, sizeof buf, ratio >= 0.1 ? "%.0f %%" : "%.1f %%", ratio * 100);
    return buf;
}

std::string severity_of(double v, double warning, double critical) {
    return v >= critical ? "critical" : v >= warning ? "warning" : "";
}

int severity_rank(const std::string& s) { return s == "critical" ? 0 : s == "warning" ? 1 : 2; }

double number(const json& j, const char* key) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return std::nan("");
    return j[key].get<double>();
}

// Requests per (service, endpoint) over the period: from the history rollups when they
// have any, else the daemon's totals. Latency: the worst of the rollups' windows and the
// recent windows (endpoints document).
std::map<std::pair<std::string, std::string>, EndpointUsage> usage(const ReportInput& in, std::string& source) {
    std::map<std::pair<std::string, std::string>, EndpointUsage> out;
    if (in.history.is_object() && in.history.contains("rollups") && in.history["rollups"].is_array())
        for (const auto& r : in.history["rollups"]) {
            if (r.value("role", "") != "server") continue;
            auto& u = out[{r.value("service", ""), r.value("endpoint", "")}];
            u.service = r.value("service", "");
            u.endpoint = r.value("endpoint", "");
            const double n = r.value("requests", 0.0);
            u.requests += n;
            if (n > 0) {
                u.p95 = std::max(u.p95, r.value("p95", -1.0));
                u.p99 = std::max(u.p99, r.value("p99", -1.0));
            }
        }
    source = out.empty() ? "since daemon start" : "history";
    const bool totals = out.empty();
    for (const auto& e : endpoint_rows(in.endpoints)) {
        if (e.role != "server") continue;
        auto& u = out[{e.service, e.name()}];
        u.service = e.service;
        u.endpoint = e.name();
        if (totals) u.requests += e.requests_total;
        // The windows still open are in no rollup yet: their latency counts too.
        if (e.recent_requests > 0) u.p95 = std::max(u.p95, e.p95), u.p99 = std::max(u.p99, e.p99);
    }
    return out;
}

void traffic_findings(Report& r, const ReportThresholds& t) {
    std::map<std::string, double> overhead;
    std::map<std::string, std::vector<std::string>> overhead_routes;
    std::set<std::string> overhead_flagged;
    std::map<std::string, int> endpoints_of;
    for (const auto& u : r.traffic) endpoints_of[u.service]++;
    for (const auto& u : r.traffic) {
        if (u.monitoring) {
            overhead[u.service] += u.share;
            overhead_routes[u.service].push_back(u.endpoint);
        }
        // A service with one route is all that route: nothing to say about its share.
        if (u.share < t.dominant_share || u.requests <= 0 || endpoints_of[u.service] < 2) continue;
        Finding f{.kind = "dominant_endpoint", .severity = u.monitoring ? "warning" : "info", .service = u.service,
                  .endpoint = u.endpoint, .value = u.share, .threshold = t.dominant_share};
        f.summary = u.endpoint + " is " + pct(u.share) + " of " + u.service + "'s requests (" +
                    format_count(u.requests) + ")";
        const std::string route = route_of(u.endpoint);
        if (is_scrape_route(route))
            f.recommendation = "metrics scraping dominates: scrape less often (scrape_interval 15s → 60s), "
                               "or exclude it from the scrape targets that do not need it";
        else if (u.monitoring)
            f.recommendation = "health checks dominate: probe less often (e.g. periodSeconds 10 → 30), "
                               "let one checker probe instead of every client, and keep the handler cheap";
        else
            f.recommendation = "this route is where optimising pays most: cache its answer "
                               "(Cache-Control / a response cache) or batch its callers' requests";
        if (u.monitoring) overhead_flagged.insert(u.service);
        r.findings.push_back(std::move(f));
    }
    for (const auto& [service, share] : overhead) {
        if (share < t.overhead_share || overhead_flagged.contains(service)) continue;
        std::string routes;
        for (const auto& e : overhead_routes[service]) routes += (routes.empty() ? "" : ", ") + e;
        r.findings.push_back({.kind = "monitoring_overhead", .severity = "warning", .service = service,
                              .value = share, .threshold = t.overhead_share,
                              .summary = "metrics scraping and health checks are " + pct(share) + " of " + service +
                                         "'s requests (" + routes + ")",
                              .recommendation = "scrape and probe less often (scrape_interval 15s → 60s, "
                                                "periodSeconds 10 → 30) or exclude them from request accounting"});
    }
}

void status_findings(Report& r, const ReportInput& in, const ReportThresholds& t) {
    if (!in.endpoints.is_object() || !in.endpoints.contains("endpoints")) return;
    std::map<std::string, double> service_requests;
    for (const auto& e : endpoint_rows(in.endpoints))
        if (e.role == "server") service_requests[e.service] += e.requests_total;
    for (const auto& e : endpoint_rows(in.endpoints)) {
        if (e.role != "server" || e.requests_total <= 0) continue;
        const std::string name = e.name();
        if (e.not_found_total > 0) {
            const double of_endpoint = e.not_found_total / e.requests_total;
            const double of_service = e.not_found_total / std::max(1.0, service_requests[e.service]);
            Finding f{.kind = "not_found", .severity = of_service >= t.error_warning ? "warning" : "info",
                      .service = e.service, .endpoint = name, .value = e.not_found_total};
            f.summary = name + " answered 404 " + format_count(e.not_found_total) + " times (" + pct(of_endpoint) +
                        " of its requests) since the daemon started";
            if (route_of(name).find("favicon") != std::string::npos)
                f.recommendation = "serve a favicon (a static file, or 204 No Content) so browsers stop asking";
            else if (of_endpoint >= 0.99)
                f.recommendation = "nothing serves this route: fix the callers' URL, or add the route "
                                   "(or a redirect) if clients rely on it";
            else
                f.recommendation = "some lookups miss: check the ids and links callers use, and cache the "
                                   "negative answer if the same misses repeat";
            r.findings.push_back(std::move(f));
        }
        if (e.errors_total > 0) {
            const double ratio = e.errors_total / e.requests_total;
            std::string codes;
            if (const auto* list = &in.endpoints["endpoints"]; list->is_array())
                for (const auto& j : *list)
                    if (j.value("service", "") == e.service && j.value("role", "") == "server" &&
                        j.value("method", "") == e.method && j.value("route", "") == e.route && j.contains("status"))
                        for (const auto& [code, n] : j["status"].items())
                            if (code >= "500" && code.size() == 3)
                                codes += (codes.empty() ? "" : ", ") + code + ": " + format_count(n.get<double>());
            const std::string sev = severity_of(ratio, t.error_warning, t.error_critical);
            r.findings.push_back(
                {.kind = "server_errors", .severity = sev.empty() ? "info" : sev, .service = e.service, .endpoint = name,
                 .value = ratio, .threshold = t.error_warning,
                 .summary = name + " answered 5xx " + format_count(e.errors_total) + " of " +
                            format_count(e.requests_total) + " times (" + pct(ratio) + "; " + codes +
                            ") since the daemon started",
                 .recommendation = "read " + e.service + "'s logs for this route (homeostat anomalies shows when it "
                                   "started); if upstreams retry it, cap their retries so errors do not multiply load"});
        }
    }
}

std::string timeout_for(double p99) {
    // 1.5 × p99, rounded up to a tenth of a second: room for the tail, not for a hang.
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", std::ceil(p99 * 1.5 * 10) / 10);
    return buf;
}

void latency_findings(Report& r, const ReportThresholds& t) {
    for (const auto& u : r.slowest) {
        const std::string sev = severity_of(u.p99, t.latency_warning, t.latency_critical);
        if (sev.empty()) continue;
        r.findings.push_back(
            {.kind = "slow_endpoint", .severity = sev, .service = u.service, .endpoint = u.endpoint, .value = u.p99,
             .threshold = sev == "critical" ? t.latency_critical : t.latency_warning,
             .summary = u.endpoint + " on " + u.service + ": p99 " + format_seconds(u.p99) + " (p95 " +
                        format_seconds(u.p95) + ")",
             .recommendation = "find where the time goes (a missing index, an uncached lookup, a slow upstream): "
                               "add an index / cache, or set a timeout of " + timeout_for(u.p99) + " upstream"});
    }
}

void resource_findings(Report& r, const ReportInput& in, const ReportThresholds& t) {
    if (!in.services.is_object() || !in.services.contains("services") || !in.services["services"].is_array()) return;
    for (const auto& s : in.services["services"]) {
        const std::string name = s.value("service", "");
        const json& lim = s.value("limits", json::object());
        const double used = number(s.value("cpu", json::object()), "usage_cores");
        const double quota = number(lim, "cpu_quota_cores");
        if (std::isfinite(used)) {
            const bool has_quota = std::isfinite(quota) && quota > 0;
            const double of = has_quota ? quota : in.host_cpus;
            if (of > 0) {
                const double u = used / of;
                if (const auto sev = severity_of(u, t.cpu_warning, t.cpu_critical); !sev.empty()) {
                    char used_s[64];
                    std::snprintf(used_s, sizeof used_s, "%.2f of %.2f cores", used, of);
                    r.findings.push_back(
                        {.kind = "cpu", .severity = sev, .service = name, .value = u,
                         .threshold = sev == "critical" ? t.cpu_critical : t.cpu_warning,
                         .summary = name + " at " + pct(u) + (has_quota ? " of its CPU quota (" : " of the host's CPUs (") +
                                    used_s + ")",
                         .recommendation = has_quota ? "raise cpu.max (cpu.cfs_quota_us on cgroup v1) or scale out; "
                                                       "throttling shows as latency first"
                                                     : "scale out or move it to a bigger host, and give it a CPU "
                                                       "quota so it cannot starve its neighbours"});
                }
            }
        }
        const double rss = number(s.value("memory", json::object()), "resident_bytes");
        const double limit = number(lim, "memory_limit_bytes");
        if (std::isfinite(rss) && std::isfinite(limit) && limit > 0) {
            const double u = rss / limit;
            if (const auto sev = severity_of(u, t.memory_warning, t.memory_critical); !sev.empty())
                r.findings.push_back(
                    {.kind = "memory", .severity = sev, .service = name, .value = u,
                     .threshold = sev == "critical" ? t.memory_critical : t.memory_warning,
                     .summary = name + " at " + pct(u) + " of its memory limit (" + format_bytes(rss) + " of " +
                                format_bytes(limit) + ")",
                     .recommendation = "raise memory.max (memory.limit_in_bytes on cgroup v1) before the OOM killer "
                                       "acts, or bound what grows (cache sizes, pools)"});
        }
    }
}

} // namespace

bool is_monitoring_route(const std::string& route) {
    static const std::set<std::string> health = {"/health", "/healthz", "/ready", "/readyz", "/live", "/livez",
                                                 "/alive", "/status", "/ping", "/health/live", "/health/ready",
                                                 "/actuator/health"};
    return is_scrape_route(route) || health.contains(route);
}

Report analyze_usage(const ReportInput& in, const ReportThresholds& t) {
    Report r;
    r.since_seconds = in.since_seconds;
    auto per_endpoint = usage(in, r.traffic_source);
    std::map<std::string, double> per_service;
    for (const auto& [k, u] : per_endpoint) per_service[u.service] += u.requests;
    for (auto& [k, u] : per_endpoint) {
        u.share = per_service[u.service] > 0 ? u.requests / per_service[u.service] : 0;
        u.monitoring = is_monitoring_route(route_of(u.endpoint));
        r.total_requests += u.requests;
        if (u.requests > 0) r.traffic.push_back(u);
        if (u.p99 >= 0) r.slowest.push_back(u);
    }
    std::stable_sort(r.traffic.begin(), r.traffic.end(),
                     [](const EndpointUsage& a, const EndpointUsage& b) { return a.requests > b.requests; });
    std::stable_sort(r.slowest.begin(), r.slowest.end(),
                     [](const EndpointUsage& a, const EndpointUsage& b) { return a.p99 > b.p99; });
    traffic_findings(r, t);
    status_findings(r, in, t);
    latency_findings(r, t);
    resource_findings(r, in, t);
    std::stable_sort(r.findings.begin(), r.findings.end(), [](const Finding& a, const Finding& b) {
        return severity_rank(a.severity) < severity_rank(b.severity);
    });
    return r;
}

json to_json(const Report& r) {
    auto usage_json = [](const EndpointUsage& u) {
        return json{{"service", u.service}, {"endpoint", u.endpoint}, {"requests", u.requests}, {"share", u.share},
                    {"monitoring", u.monitoring}, {"p95", u.p95 < 0 ? json(nullptr) : json(u.p95)},
                    {"p99", u.p99 < 0 ? json(nullptr) : json(u.p99)}};
    };
    json traffic = json::array(), slowest = json::array(), findings = json::array();
    for (const auto& u : r.traffic) traffic.push_back(usage_json(u));
    for (const auto& u : r.slowest) slowest.push_back(usage_json(u));
    for (const auto& f : r.findings)
        findings.push_back({{"kind", f.kind}, {"severity", f.severity}, {"service", f.service},
                            {"endpoint", f.endpoint}, {"value", f.value}, {"threshold", f.threshold},
                            {"summary", f.summary}, {"recommendation", f.recommendation}});
    return {{"since_seconds", r.since_seconds}, {"traffic_source", r.traffic_source},
            {"total_requests", r.total_requests}, {"traffic", traffic}, {"slowest", slowest},
            {"findings", findings}};
}

std::string report_text(const Report& r) {
    std::string out;
    char head[160];
    std::snprintf(head, sizeof head, "usage report: %s requests over %s\n\n", format_count(r.total_requests).c_str(),
                  r.traffic_source == "history" ? ("the last " + format_seconds(r.since_seconds)).c_str()
                                                : "the daemon's lifetime (no history kept yet)");
    out += head;
    out += "traffic (server side, share of the service's requests):\n";
    Table traffic({{"SERVICE", false, 32}, {"ENDPOINT", false, 48}, {"REQUESTS", true}, {"SHARE", true}, {""}});
    for (const auto& u : r.traffic) {
        if (traffic.size() >= 10) break;
        traffic.add({u.service, u.endpoint, format_count(u.requests), format_percent(u.share),
                     u.monitoring ? "monitoring" : ""});
    }
    out += r.traffic.empty() ? "  no HTTP requests seen\n" : traffic.render();
    if (!r.slowest.empty()) {
        out += "\nslowest (worst window):\n";
        Table slow({{"SERVICE", false, 32}, {"ENDPOINT", false, 48}, {"REQUESTS", true}, {"P95", true}, {"P99", true}});
        for (const auto& u : r.slowest) {
            if (slow.size() >= 5) break;
            slow.add({u.service, u.endpoint, format_count(u.requests), format_seconds(u.p95), format_seconds(u.p99)});
        }
        out += slow.render();
    }
    out += "\nfindings:\n";
    if (r.findings.empty()) out += "  nothing stands out\n";
    for (const auto& f : r.findings) out += "  [" + f.severity + "] " + f.summary + "\n      → " + f.recommendation + "\n";
    return out;
}

int report_command(const Fetch& fetch, const std::vector<std::string>& args, bool json_out, double host_cpus) {
    ReportInput in;
    in.host_cpus = host_cpus;
    ReportThresholds t;
    const std::map<std::string, double*> ratios = {
        {"--cpu-warning", &t.cpu_warning},       {"--cpu-critical", &t.cpu_critical},
        {"--memory-warning", &t.memory_warning}, {"--memory-critical", &t.memory_critical},
        {"--dominant-share", &t.dominant_share}, {"--error-warning", &t.error_warning},
        {"--error-critical", &t.error_critical}};
    const std::map<std::string, double*> durations = {{"--since", &in.since_seconds},
                                                      {"--latency-warning", &t.latency_warning},
                                                      {"--latency-critical", &t.latency_critical}};
    for (std::size_t i = 1; i < args.size(); ++i) {
        const bool has_value = i + 1 < args.size();
        if (auto r = ratios.find(args[i]); r != ratios.end() && has_value) {
            char* end = nullptr;
            const double v = std::strtod(args[i + 1].c_str(), &end);
            if (*end != '\0' || !(v > 0)) {
                std::fprintf(stderr, "homeostat report: %s wants a ratio such as 0.8, got '%s'\n", args[i].c_str(),
                             args[i + 1].c_str());
                return 2;
            }
            *r->second = v;
            ++i;
        } else if (auto d = durations.find(args[i]); d != durations.end() && has_value) {
            auto v = parse_duration(args[i + 1]);
            if (!v || *v <= 0) {
                std::fprintf(stderr, "homeostat report: %s wants a duration such as 1h or 500ms, got '%s'\n",
                             args[i].c_str(), args[i + 1].c_str());
                return 2;
            }
            *d->second = *v;
            ++i;
        } else {
            std::fprintf(stderr, "homeostat report: unexpected argument '%s'\n", args[i].c_str());
            return 2;
        }
    }
    if (t.cpu_warning > t.cpu_critical || t.memory_warning > t.memory_critical ||
        t.latency_warning > t.latency_critical || t.error_warning > t.error_critical) {
        std::fprintf(stderr, "homeostat report: a warning threshold is above its critical one\n");
        return 2;
    }
    auto endpoints = fetch_json(fetch, "/api/v1/endpoints");
    auto services = fetch_json(fetch, "/api/v1/services");
    for (const auto* r : {&endpoints, &services})
        if (!*r) { std::fprintf(stderr, "homeostat: %s\n", r->error().message.c_str()); return 1; }
    in.endpoints = endpoints.value();
    in.services = services.value();
    // The daemon keeps history only with a state database and detection on; without it
    // (503) the report falls back to the totals since the daemon started.
    char query[96];
    std::snprintf(query, sizeof query, "/api/v1/history?from=%.0f&limit=100000",
                  std::max(0.0, static_cast<double>(std::time(nullptr)) - in.since_seconds));
    if (auto h = fetch_json(fetch, query)) in.history = h.value();
    const Report r = analyze_usage(in, t);
    if (json_out) std::printf("%s\n", to_json(r).dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    else std::fputs(report_text(r).c_str(), stdout);
    return 0;
}

} // namespace homeostat::cli
