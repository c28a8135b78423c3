// homeostat: the command-line client of a running homeostatd (and offline tools).
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/config.h"
#include "agent/detection.h"
#include "agent/recording.h"
#include "agent/fd.h"
#include "agent/result.h"
#include "agent/version.h"
#include "engine/detect/csv_series.h"
#include "engine/detect/ensemble.h"
#include "cli/endpoints.h"
#include "cli/recommendations.h"
#include "cli/report.h"
#include "cli/top.h"
#include "events.h"

using namespace homeostat;

namespace {

const char* kUsage = R"(usage: homeostat [--addr HOST:PORT] COMMAND

commands:
  status               the daemon's status (events, drops, uptime)
  anomalies            open and recent anomalies with their evidence
  alerts               firing and resolved alerts, receivers, deliveries waiting
  actions [SERVICE]    the healing audit log: every candidate action, what was done
                       (or would have been, in dry-run) and why, verification, rollbacks
  tuned [SERVICE]      the current tuned settings per service and upstream, and the
                       CPU/memory limit recommendations per service
  services             per-service processes, CPU, memory, limits, restarts, OOM kills,
                       TCP trouble and HTTP summary (--json: the API's document)
  endpoints [SERVICE]  per endpoint: requests, rate, error %, 404s, p50/p95/p99, busiest first
  top [--interval 2s] [--iterations N]
                       live view of the daemon, services and busiest endpoints (q quits)
  report [--since 1h] [--cpu-warning 0.7] [--cpu-critical 0.9] [--memory-warning 0.8]
         [--memory-critical 0.95] [--latency-warning 500ms] [--latency-critical 1s]
                       usage-pattern report: dominant endpoints (scrapes, health checks),
                       404s and 5xx, slowest endpoints, CPU and memory; each with advice
  metrics              the daemon's /metrics text
  config check FILE    validate a homeostatd configuration file
  replay FILE [--config CONFIG]
                       run a recording (homeostatd --record FILE) through the engine
                       and live detection, and print the anomaly timeline; windows,
                       warm-up and thresholds come from CONFIG (default: built-in)
  detect --input SERIES.csv [--output SCORES.csv] [--detector NAME]
                       score a `timestamp,value` CSV offline with the live detectors
                       (default: ensemble); writes `timestamp,anomaly_score` to
                       SCORES.csv, or stdout without --output or with --output -
  version              print the version

The CLI talks to the daemon's root-only unix socket /run/homeostat/api.sock (--socket
PATH, $HOMEOSTAT_SOCKET; the daemon's api_socket) when it exists, else to --addr.
--addr HOST:PORT (or unix:PATH) defaults to 127.0.0.1:9464 (the daemon's default --listen).
--token-file FILE (or $HOMEOSTAT_TOKEN_FILE): the daemon's api_token_file, when it has one.
--json prints machine-readable output where a command has it.
)";

// A tiny HTTP/1.0 GET: the API is on loopback and answers small documents.
// The daemon's API token, when it wants one (--token-file, or $HOMEOSTAT_TOKEN_FILE).
std::string g_token;

// The daemon's root-only unix socket (its api_socket); "unix:PATH" as an --addr.
constexpr const char* kDefaultSocket = "/run/homeostat/api.sock";

// A connected socket to `addr`: "unix:PATH" or HOST:PORT.
Result<Fd> connect_to(const std::string& addr) {
    timeval tv{10, 0};
    if (addr.rfind("unix:", 0) == 0) {
        const std::string path = addr.substr(5);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        if (path.size() >= sizeof sun.sun_path) return Error{"socket path too long: " + path};
        std::memcpy(sun.sun_path, path.data(), path.size());
        Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun) != 0) {
            const int err = errno;
            return Error{"cannot reach homeostatd at " + addr + ": " + std::strerror(err) +
                             (err == EACCES ? " (the socket is root-only: sudo homeostat, or --addr HOST:PORT)"
                                            : " (is it running? start it with: sudo homeostatd)"),
                         err};
        }
        return fd;
    }
    auto colon = addr.rfind(':');
    if (colon == std::string::npos) return Error{"--addr must be HOST:PORT or unix:PATH, got '" + addr + "'"};
    std::string host = addr.substr(0, colon), port = addr.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
        return Error{"cannot resolve " + addr + ": " + ::gai_strerror(rc)};
    Fd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc = ::connect(fd.get(), res->ai_addr, res->ai_addrlen);
    ::freeaddrinfo(res);
    if (rc != 0)
        return Error{"cannot reach homeostatd at " + addr + ": " + std::strerror(errno) +
                     " (is it running? start it with: sudo homeostatd)", errno};
    return fd;
}

Result<std::string> http_get(const std::string& addr, const std::string& path) {
    auto connected = connect_to(addr);
    if (!connected) return connected.error();
    Fd fd = std::move(connected.value());
    const std::string host = addr.rfind("unix:", 0) == 0 ? std::string("localhost") : addr;
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n";
    if (!g_token.empty()) req += "Authorization: Bearer " + g_token + "\r\n";
    req += "\r\n";
    if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
        return Error{"sending to " + addr + ": " + std::strerror(errno), errno};
    std::string resp;
    char buf[16384];
    for (ssize_t n; (n = ::recv(fd.get(), buf, sizeof buf, 0)) > 0;) resp.append(buf, n);
    auto body = resp.find("\r\n\r\n");
    const bool http1 = resp.compare(0, 9, "HTTP/1.1 ") == 0 || resp.compare(0, 9, "HTTP/1.0 ") == 0;
    if (!http1 || body == std::string::npos)
        return Error{"unexpected answer from " + addr + path};
    int status = std::atoi(resp.c_str() + 9);
    if (status == 401)
        return Error{addr + path + " wants the daemon's API token: --token-file FILE (or $HOMEOSTAT_TOKEN_FILE)"};
    if (status != 200) return Error{addr + path + " answered HTTP " + std::to_string(status)};
    return resp.substr(body + 4);
}

int print_status(const std::string& addr, bool json) {
    auto body = http_get(addr, "/api/v1/status");
    if (!body) { std::fprintf(stderr, "homeostat: %s\n", body.error().message.c_str()); return 1; }
    if (json) { std::fputs(body.value().c_str(), stdout); return 0; }
    auto j = nlohmann::json::parse(body.value(), nullptr, false);
    if (j.is_discarded()) { std::fprintf(stderr, "homeostat: the daemon's status is not JSON\n"); return 1; }
    std::printf("homeostatd %s (%s), up %.0f s, API on %s\n", j.value("version", "?").c_str(),
                j.value("git_rev", "?").c_str(), j.value("uptime_seconds", 0.0), j.value("listen", "?").c_str());
    std::printf("capture:   %d programs attached to %s\n", j.value("programs_attached", 0),
                j.value("cgroup2_root", "?").c_str());
    std::printf("events:    %llu HTTP exchanges, %llu listen\n",
                (unsigned long long)j["events"].value("http_exchange", 0ULL), (unsigned long long)j["events"].value("listen", 0ULL));
    unsigned long long dropped = 0;
    for (auto& [k, v] : j["dropped"].items()) dropped += v.get<unsigned long long>();
    std::printf("dropped:   %llu%s\n", dropped, dropped ? "  (see /metrics homeostat_events_dropped_total)" : "");
    std::printf("unattributed exchanges: %llu\n", (unsigned long long)j.value("unattributed_events", 0ULL));
    return 0;
}

std::string show_time(double unix_seconds) {
    if (unix_seconds <= 0) return "-";
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

int print_anomalies(const std::string& addr, bool json) {
    auto body = http_get(addr, "/api/v1/anomalies");
    if (!body) { std::fprintf(stderr, "homeostat: %s\n", body.error().message.c_str()); return 1; }
    if (json) { std::fputs(body.value().c_str(), stdout); return 0; }
    auto j = nlohmann::json::parse(body.value(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) { std::fprintf(stderr, "homeostat: the daemon's answer is not JSON\n"); return 1; }
    if (!j.value("enabled", false)) { std::printf("detection is off (detection.enabled: false)\n"); return 0; }
    const auto& list = j["anomalies"];
    if (list.empty()) {
        std::printf("no anomalies; %llu series watched (each learns for %llu windows of %.0f s first)\n",
                    (unsigned long long)j.value("series", 0ULL), (unsigned long long)j.value("warmup_windows", 0ULL),
                    j.value("window_seconds", 0.0));
        return 0;
    }
    std::printf("%-5s %-9s %-9s %-14s %-24s %-32s %-13s %-11s %-11s %s\n", "ID", "STATE", "SEVERITY", "TYPE",
                "SERVICE", "ENDPOINT", "SIGNAL", "OBSERVED", "EXPECTED", "STARTED / RESOLVED");
    for (const auto& a : list) {
        const std::string signal = a.value("signal", "");
        const auto& ev = a["at_open"];
        const bool open = a.value("state", "") == "open";
        std::string when = show_time(a.value("started_at", 0.0));
        if (!open) when += " / " + show_time(a.value("resolved_at", 0.0));
        std::printf("%-5llu %-9s %-9s %-14s %-24s %-32s %-13s %-11s %-11s %s\n",
                    (unsigned long long)a.value("id", 0ULL), a.value("state", "").c_str(),
                    a.value("severity", "").c_str(), a.value("type", "").c_str(), a.value("service", "").c_str(),
                    a.value("endpoint", "").c_str(), signal.c_str(), engine::detect::format_value(signal, ev.value("observed", 0.0)).c_str(),
                    engine::detect::format_value(signal, ev.value("expected", 0.0)).c_str(), when.c_str());
    }
    std::printf("%llu open; %llu series watched; OBSERVED/EXPECTED are from the window the anomaly opened in\n",
                (unsigned long long)j.value("open", 0ULL), (unsigned long long)j.value("series", 0ULL));
    return 0;
}

int print_alerts(const std::string& addr, bool json) {
    auto body = http_get(addr, "/api/v1/alerts");
    if (!body) { std::fprintf(stderr, "homeostat: %s\n", body.error().message.c_str()); return 1; }
    if (json) { std::fputs(body.value().c_str(), stdout); return 0; }
    auto j = nlohmann::json::parse(body.value(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) { std::fprintf(stderr, "homeostat: the daemon's answer is not JSON\n"); return 1; }
    if (!j.value("enabled", false)) {
        std::printf("no alert receivers configured (alerting.receivers, see docs/alerts.md); "
                    "anomalies: homeostat anomalies\n");
        return 0;
    }
    std::printf("%-9s %-17s %-9s %-24s %-28s %-20s %s\n", "STATUS", "FINGERPRINT", "SEVERITY", "ALERT", "SERVICE",
                "STARTED", "SUMMARY");
    for (const auto& a : j["alerts"]) {
        const auto& l = a["labels"];
        std::printf("%-9s %-17s %-9s %-24s %-28s %-20s %s\n", a.value("status", "").c_str(),
                    a.value("fingerprint", "").c_str(), l.value("severity", "").c_str(), l.value("alertname", "").c_str(),
                    l.value("service", "").c_str(), a.value("starts_at", "").substr(0, 19).c_str(),
                    a["annotations"].value("summary", "").c_str());
    }
    std::printf("\n%llu firing; %lld deliveries waiting, %llu in flight; receivers:",
                (unsigned long long)j.value("firing", 0ULL), (long long)j.value("pending_deliveries", 0LL),
                (unsigned long long)j.value("in_flight", 0ULL));
    for (const auto& r : j["receivers"])
        std::printf(" %s (%s, %s%s)", r.value("name", "").c_str(), r.value("type", "").c_str(),
                    r.value("url", "").c_str(), r.value("signed", false) ? ", signed" : "");
    std::printf("\n");
    return 0;
}

int replay(const std::vector<std::string>& args, bool json) {
    std::string file, config_path;
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--config" && i + 1 < args.size()) config_path = args[++i];
        else if (file.empty()) file = args[i];
        else { std::fprintf(stderr, "homeostat replay: unexpected argument '%s'\n", args[i].c_str()); return 2; }
    }
    if (file.empty()) { std::fprintf(stderr, "homeostat replay: which recording? (homeostat replay FILE)\n"); return 2; }
    agent::Config cfg;
    if (!config_path.empty()) {
        auto c = agent::load_config(config_path);
        if (!c) { std::fprintf(stderr, "%s\n", c.error().message.c_str()); return 1; }
        cfg = c.value();
    }
    auto reader = agent::RecordReader::open(file);
    if (!reader) { std::fprintf(stderr, "homeostat replay: %s\n", reader.error().message.c_str()); return 1; }
    auto& rd = *reader.value();

    engine::AggregatorConfig acfg;
    acfg.window = cfg.window;
    acfg.windows_kept = cfg.windows_kept;
    acfg.max_routes_per_service = cfg.max_routes_per_service;
    engine::Aggregator aggregator(acfg);
    std::unique_ptr<agent::Detection> detection;
    const double offset_s = static_cast<double>(rd.unix_minus_monotonic_ns()) / 1e9;
    auto unix_of = [&](std::chrono::nanoseconds t) { return static_cast<double>(t.count()) / 1e9 + offset_s; };

    std::uint64_t exchanges = 0, opened = 0, resolved = 0;
    auto print = [&](const engine::detect::Anomaly& a) {
        (a.open ? opened : resolved)++;
        if (json) {
            auto j = engine::detect::to_json(a);
            j["event"] = a.open ? "opened" : "resolved";
            std::printf("%s\n", j.dump().c_str());
            return;
        }
        const auto& e = a.open ? a.at_open : a.evidence;
        std::printf("%s  %-8s #%-4llu %-14s %-8s %-24s %-32s %s observed %s, expected %s\n",
                    show_time(a.open ? a.opened_at : a.resolved_at).c_str(), a.open ? "OPEN" : "RESOLVED",
                    (unsigned long long)a.id, a.type.c_str(), std::string(engine::detect::severity_name(a.severity)).c_str(),
                    a.service.c_str(), a.endpoint.c_str(), a.signal.c_str(), engine::detect::format_value(a.signal, e.observed).c_str(),
                    engine::detect::format_value(a.signal, e.expected).c_str());
    };
    std::chrono::nanoseconds first{0}, last{0};
    while (auto r = rd.next()) {
        const std::chrono::nanoseconds t(r->event.resp_start_ns);
        if (!detection) {
            first = t;
            agent::DetectionOptions o;
            o.live = cfg.detection;
            o.grace = std::chrono::nanoseconds(0); // no ring buffer to wait for
            o.log_changes = false;
            detection = std::make_unique<agent::Detection>(o, aggregator, t);
        }
        // Windows that closed before this exchange are observed first, as live.
        for (const auto& a : detection->tick(t, unix_of(t))) print(a);
        aggregator.record(r->service, r->event, t);
        last = std::max(last, t);
        ++exchanges;
    }
    if (detection) {
        // The last window is closed by the end of the recording.
        const auto end = std::chrono::nanoseconds((aggregator.window_of(last) + 1) * cfg.window.count());
        for (const auto& a : detection->tick(end, unix_of(end))) print(a);
    }
    const double windows = exchanges ? static_cast<double>((last - first).count()) / static_cast<double>(cfg.window.count()) : 0;
    if (json)
        std::printf("{\"event\":\"summary\",\"exchanges\":%llu,\"opened\":%llu,\"resolved\":%llu,\"error\":%s}\n",
                    (unsigned long long)exchanges, (unsigned long long)opened, (unsigned long long)resolved,
                    nlohmann::json(rd.error()).dump().c_str());
    else
        std::printf("replayed %llu exchanges over %.0f windows of %.0f s: %llu anomalies opened, %llu resolved\n",
                    (unsigned long long)exchanges, windows, std::chrono::duration<double>(cfg.window).count(),
                    (unsigned long long)opened, (unsigned long long)resolved);
    if (!rd.error().empty()) {
        std::fprintf(stderr, "homeostat replay: %s; replayed what came before\n", rd.error().c_str());
        return 1;
    }
    return 0;
}

// Offline scoring: exactly the code the daemon runs live (engine/detect/csv_series.h).
// Exit 2 for a usage error (unknown detector, missing --input), 1 for a bad file.
int detect(const std::vector<std::string>& args) {
    std::string input, output = "-", detector = "ensemble";
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--input" && i + 1 < args.size()) input = args[++i];
        else if (args[i] == "--output" && i + 1 < args.size()) output = args[++i];
        else if (args[i] == "--detector" && i + 1 < args.size()) detector = args[++i];
        else { std::fprintf(stderr, "homeostat detect: unexpected argument '%s'\n", args[i].c_str()); return 2; }
    }
    if (!engine::detect::make_detector(detector)) {
        std::string known;
        for (auto n : engine::detect::detector_names()) known += (known.empty() ? "" : ", ") + std::string(n);
        std::fprintf(stderr, "homeostat detect: unknown detector '%s' (valid: %s)\n", detector.c_str(), known.c_str());
        return 2;
    }
    if (input.empty()) { std::fprintf(stderr, "homeostat detect: which series? (--input SERIES.csv)\n"); return 2; }
    std::ifstream in(input, std::ios::binary);
    if (!in) { std::fprintf(stderr, "homeostat detect: cannot read %s: %s\n", input.c_str(), std::strerror(errno)); return 1; }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) { std::fprintf(stderr, "homeostat detect: reading %s failed\n", input.c_str()); return 1; }
    std::vector<engine::detect::CsvRow> rows;
    try {
        rows = engine::detect::parse_csv(text.str());
    } catch (const engine::detect::CsvError& e) {
        // "FILE:LINE: what", the form editors and compilers use.
        std::string what = e.what();
        const std::string prefix = "line " + std::to_string(e.line()) + ": ";
        if (what.rfind(prefix, 0) == 0) what = what.substr(prefix.size());
        std::fprintf(stderr, "homeostat detect: %s:%zu: %s\n", input.c_str(), e.line(), what.c_str());
        return 1;
    }
    const std::string out = engine::detect::format_scores(rows, engine::detect::score_series(rows, detector));
    if (output == "-") {
        if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
            std::fprintf(stderr, "homeostat detect: writing to stdout: %s\n", std::strerror(errno));
            return 1;
        }
        return 0;
    }
    std::ofstream of(output, std::ios::binary | std::ios::trunc);
    if (!of) { std::fprintf(stderr, "homeostat detect: cannot write %s: %s\n", output.c_str(), std::strerror(errno)); return 1; }
    of << out;
    of.close();
    if (!of) { std::fprintf(stderr, "homeostat detect: writing %s failed\n", output.c_str()); return 1; }
    return 0;
}

// "12.3M" style sizes keep the table narrow.
std::string human_bytes(double b) {
    const char* units[] = {"B", "K", "M", "G", "T"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, ++u;
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.1f%s", b, units[u]);
    return buf;
}

int print_services(const std::string& addr, bool json) {
    auto body = http_get(addr, "/api/v1/services");
    if (!body) { std::fprintf(stderr, "homeostat: %s\n", body.error().message.c_str()); return 1; }
    if (json) { std::fputs(body.value().c_str(), stdout); return 0; }
    auto j = nlohmann::json::parse(body.value(), nullptr, false);
    if (j.is_discarded() || !j.contains("services")) { std::fprintf(stderr, "homeostat: unexpected /api/v1/services answer\n"); return 1; }
    auto num = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : -1.0; };
    std::printf("%-32s %5s %8s %7s %9s %9s %8s %4s %4s %7s %7s %8s %8s\n", "SERVICE", "PROCS", "CPU_S", "CORES",
                "RSS", "MEM_LIMIT", "CPU_QUOTA", "RST", "OOM", "RETRANS", "RESETS", "CONNFAIL", "HTTP_REQ");
    for (const auto& s : j["services"]) {
        const auto& lim = s["limits"];
        double mem_limit = num(lim["memory_limit_bytes"]), quota = num(lim["cpu_quota_cores"]);
        char quota_s[16] = "-";
        if (quota >= 0) std::snprintf(quota_s, sizeof quota_s, "%.2f", quota);
        const auto& tcp = s["tcp"];
        std::printf("%-32s %5zu %8.2f %7.2f %9s %9s %8s %4llu %4llu %7llu %7llu %8llu %8llu\n",
                    s.value("service", "?").substr(0, 32).c_str(), s["processes"].size(),
                    s["cpu"].value("seconds_total", 0.0), s["cpu"].value("usage_cores", 0.0),
                    human_bytes(s["memory"].value("resident_bytes", 0.0)).c_str(),
                    mem_limit < 0 ? "-" : human_bytes(mem_limit).c_str(), quota_s,
                    (unsigned long long)s.value("restarts", 0ULL), (unsigned long long)s.value("oom_kills", 0ULL),
                    (unsigned long long)tcp.value("retransmits", 0ULL),
                    (unsigned long long)(tcp.value("resets_sent", 0ULL) + tcp.value("resets_received", 0ULL)),
                    (unsigned long long)tcp.value("connect_failures", 0ULL),
                    (unsigned long long)s["http"].value("requests", 0ULL));
    }
    return 0;
}

// GET `path`, then either print the JSON or hand the parsed document to `table`.
int print_document(const std::string& addr, const std::string& path, bool json,
                   void (*table)(const nlohmann::json&)) {
    auto body = http_get(addr, path);
    if (!body) { std::fprintf(stderr, "homeostat: %s\n", body.error().message.c_str()); return 1; }
    if (json) { std::fputs(body.value().c_str(), stdout); return 0; }
    auto j = nlohmann::json::parse(body.value(), nullptr, false);
    if (j.is_discarded()) { std::fprintf(stderr, "homeostat: %s is not JSON\n", path.c_str()); return 1; }
    table(j);
    return 0;
}

std::string query_service(const std::vector<std::string>& args) {
    return args.size() > 1 ? "?service=" + args[1] : "";
}

void actions_table(const nlohmann::json& j) {
    const auto& h = j["healing"];
    std::printf("healing: %s%s\n", h.value("enabled", false) ? "enabled" : "disabled",
                h.value("dry_run", true) ? " (dry-run: nothing is changed on the host)" : "");
    if (j["actions"].empty()) { std::printf("no actions recorded\n"); return; }
    std::printf("%-19s %-24s %-12s %-14s %-16s %s\n", "WHEN", "SERVICE", "KIND", "VERDICT", "RULE", "WHAT / WHY");
    for (const auto& a : j["actions"]) {
        std::printf("%-19s %-24s %-12s %-14s %-16s %s\n", show_time(a.value("at", 0.0)).c_str(),
                    a.value("service", "?").substr(0, 24).c_str(), a.value("kind", "?").c_str(),
                    a.value("verdict", "?").c_str(), a.value("rule", "").substr(0, 16).c_str(),
                    a.value("summary", "").c_str());
        if (const auto reason = a.value("reason", ""); !reason.empty()) std::printf("%78s%s\n", "", reason.c_str());
    }
}

void tuned_table(const nlohmann::json& j) {
    const std::string recs = cli::recommendations_table(j.value("recommendations", nlohmann::json::array()));
    if (j["tuned"].empty()) std::printf("no tuned settings yet\n");
    else std::printf("%-19s %-24s %-22s %-8s %s\n", "SINCE", "SERVICE", "TARGET", "APPLIED", "SETTINGS");
    for (const auto& t : j["tuned"])
        std::printf("%-19s %-24s %-22s %-8s %s\n", show_time(t.value("at", 0.0)).c_str(),
                    t.value("service", "?").substr(0, 24).c_str(), t.value("target", "").substr(0, 22).c_str(),
                    t.value("applied", false) ? "yes" : "no", t["settings"].dump().c_str());
    std::printf("\n%s", recs.empty() ? "no resource recommendations yet\n"
                                     : ("resource recommendations (healing.recommender):\n" + recs).c_str());
}

} // namespace

int main(int argc, char** argv) {
    std::string addr = "127.0.0.1:9464";
    std::string socket_path = std::getenv("HOMEOSTAT_SOCKET") ? std::getenv("HOMEOSTAT_SOCKET") : kDefaultSocket;
    bool addr_given = false;
    std::string token_file = std::getenv("HOMEOSTAT_TOKEN_FILE") ? std::getenv("HOMEOSTAT_TOKEN_FILE") : "";
    bool json = false;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--addr" && i + 1 < argc) { addr = argv[++i]; addr_given = true; }
        else if (a == "--socket" && i + 1 < argc) socket_path = argv[++i];
        else if (a == "--token-file" && i + 1 < argc) token_file = argv[++i];
        else if (a == "--json") json = true;
        else if (a == "-h" || a == "--help") { std::fputs(kUsage, stdout); return 0; }
        else args.push_back(a);
    }
    if (args.empty()) { std::fputs(kUsage, stderr); return 2; }
    // The socket when it is there (also when it is not ours to open: the error then says
    // why), TCP otherwise or when asked for.
    if (struct stat st{}; !addr_given && !socket_path.empty() && ::stat(socket_path.c_str(), &st) == 0)
        addr = "unix:" + socket_path;
    else if (!addr_given && !socket_path.empty() && errno == EACCES)
        addr = "unix:" + socket_path; // the directory is root-only: say so rather than try TCP
    if (!token_file.empty()) {
        auto t = agent::read_api_token(token_file);
        if (!t) { std::fprintf(stderr, "homeostat: %s\n", t.error().message.c_str()); return 1; }
        g_token = t.value();
    }
    const std::string& cmd = args[0];
    if (cmd == "version") {
        std::printf("homeostat %s (%s, abi %d)\n", HOMEOSTAT_VERSION, HOMEOSTAT_GIT_REV, HS_ABI_VERSION);
        return 0;
    }
    if (cmd == "status") return print_status(addr, json);
    if (cmd == "anomalies") return print_anomalies(addr, json);
    if (cmd == "alerts") return print_alerts(addr, json);
    if (cmd == "replay") return replay(args, json);
    if (cmd == "actions") return print_document(addr, "/api/v1/actions" + query_service(args), json, actions_table);
    if (cmd == "tuned") return print_document(addr, "/api/v1/tuned" + query_service(args), json, tuned_table);
    if (cmd == "detect") return detect(args);
    if (cmd == "services") return print_services(addr, json);
    const cli::Fetch fetch = [&addr](const std::string& path) { return http_get(addr, path); };
    if (cmd == "endpoints") return cli::endpoints_command(fetch, args, json);
    if (cmd == "top") return cli::top_command(fetch, args);
    if (cmd == "report") return cli::report_command(fetch, args, json, std::thread::hardware_concurrency());
    if (cmd == "metrics") {
        auto body = http_get(addr, "/metrics");
        if (!body) { std::fprintf(stderr, "homeostat: %s\n", body.error().message.c_str()); return 1; }
        std::fputs(body.value().c_str(), stdout);
        return 0;
    }
    if (cmd == "config" && args.size() == 3 && args[1] == "check") {
        auto c = agent::load_config(args[2]);
        if (!c) { std::fprintf(stderr, "%s\n", c.error().message.c_str()); return 1; }
        std::printf("%s: ok\n", args[2].c_str());
        return 0;
    }
    std::fprintf(stderr, "homeostat: unknown command '%s'\n%s", cmd.c_str(), kUsage);
    return 2;
}
