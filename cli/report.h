// `homeostat report`: a usage-pattern report from the daemon's API documents: which
// endpoints dominate traffic (metrics scraping and health checks called out), 404s and
// 5xx, the slowest endpoints, CPU and memory against thresholds; every finding with a
// concrete recommendation. analyze_usage() is pure (documents in, findings out); the
// command only fetches and prints.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/fetch.h"

namespace homeostat::cli {

struct ReportThresholds {
    // Utilisation of the CPU quota (else of the host's CPUs) and of the memory limit.
    double cpu_warning = 0.7, cpu_critical = 0.9;
    double memory_warning = 0.8, memory_critical = 0.95;
    // One endpoint's share of its service's requests; monitoring and health routes together.
    double dominant_share = 0.3, overhead_share = 0.2;
    // p99 latency, seconds.
    double latency_warning = 0.5, latency_critical = 1.0;
    // 5xx share of an endpoint's requests (any 5xx is at least "info").
    double error_warning = 0.01, error_critical = 0.05;
};

struct ReportInput {
    nlohmann::json endpoints; // GET /api/v1/endpoints
    nlohmann::json history;   // GET /api/v1/history?from=now-since; null when the daemon keeps none
    nlohmann::json services;  // GET /api/v1/services
    double since_seconds = 3600;
    double host_cpus = 0; // CPUs that services without a quota compete for (0: unknown)
};

struct Finding {
    std::string kind;     // dominant_endpoint, monitoring_overhead, not_found, server_errors,
                          // slow_endpoint, cpu, memory
    std::string severity; // critical, warning, info
    std::string service, endpoint; // endpoint: "METHOD /route", empty for service findings
    double value = 0;     // the share, ratio, seconds or utilisation the finding is about
    double threshold = 0; // what it was compared with (0 when none)
    std::string summary, recommendation;
};

struct EndpointUsage {
    std::string service, endpoint;
    double requests = 0;
    double share = 0; // of the service's server requests
    bool monitoring = false; // a metrics-scrape or health-check route
    double p95 = -1, p99 = -1; // worst window over the period; -1: unknown
};

struct Report {
    double since_seconds = 0;
    std::string traffic_source; // "history" (rollups over --since) or "since daemon start"
    double total_requests = 0;
    std::vector<EndpointUsage> traffic; // by requests, descending
    std::vector<EndpointUsage> slowest; // by p99, descending (those with latency figures)
    std::vector<Finding> findings;      // critical first
};

// True for routes that scrapers and probes call: /metrics, /health, /healthz, /ready, ...
bool is_monitoring_route(const std::string& route);

Report analyze_usage(const ReportInput& in, const ReportThresholds& t = {});

nlohmann::json to_json(const Report& r);
std::string report_text(const Report& r);

// homeostat report [--since 1h] [--cpu-warning X] [--cpu-critical X] [--memory-warning X]
//                  [--memory-critical X] [--latency-warning S] [--latency-critical S]
int report_command(const Fetch& fetch, const std::vector<std::string>& args, bool json, double host_cpus);

} // namespace homeostat::cli
