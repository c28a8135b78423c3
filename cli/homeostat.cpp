// homeostat: the command-line client of a running homeostatd (and offline tools).
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <string>

#include "agent/config.h"
#include "agent/fd.h"
#include "agent/result.h"
#include "agent/version.h"
#include "events.h"

using namespace homeostat;

namespace {

const char* kUsage = R"(usage: homeostat [--addr HOST:PORT] COMMAND

commands:
  status               the daemon's status (events, drops, uptime)
  services             per-service processes, CPU, memory, limits, restarts, OOM kills,
                       TCP trouble and HTTP summary (--json: the API's document)
  metrics              the daemon's /metrics text
  config check FILE    validate a homeostatd configuration file
  version              print the version

--addr defaults to 127.0.0.1:9464 (the daemon's default --listen).
--json prints machine-readable output where a command has it.
)";

// A tiny HTTP/1.0 GET: the API is on loopback and answers small documents.
Result<std::string> http_get(const std::string& addr, const std::string& path) {
    auto colon = addr.rfind(':');
    if (colon == std::string::npos) return Error{"--addr must be HOST:PORT, got '" + addr + "'"};
    std::string host = addr.substr(0, colon), port = addr.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
        return Error{"cannot resolve " + addr + ": " + ::gai_strerror(rc)};
    Fd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval tv{10, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc = ::connect(fd.get(), res->ai_addr, res->ai_addrlen);
    ::freeaddrinfo(res);
    if (rc != 0)
        return Error{"cannot reach homeostatd at " + addr + ": " + std::strerror(errno) +
                     " (is it running? start it with: sudo homeostatd)", errno};
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + addr + "\r\n\r\n";
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

} // namespace

int main(int argc, char** argv) {
    std::string addr = "127.0.0.1:9464";
    bool json = false;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--addr" && i + 1 < argc) addr = argv[++i];
        else if (a == "--json") json = true;
        else if (a == "-h" || a == "--help") { std::fputs(kUsage, stdout); return 0; }
        else args.push_back(a);
    }
    if (args.empty()) { std::fputs(kUsage, stderr); return 2; }
    const std::string& cmd = args[0];
    if (cmd == "version") {
        std::printf("homeostat %s (%s, abi %d)\n", HOMEOSTAT_VERSION, HOMEOSTAT_GIT_REV, HS_ABI_VERSION);
        return 0;
    }
    if (cmd == "status") return print_status(addr, json);
    if (cmd == "services") return print_services(addr, json);
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
