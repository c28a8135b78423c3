#include "cli/top.h"

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>

#include "cli/endpoints.h"
#include "cli/tables.h"

namespace homeostat::cli {
namespace {

using nlohmann::json;

double dropped_total(const json& status) {
    double n = 0;
    if (status.is_object() && status.contains("dropped") && status["dropped"].is_object())
        for (const auto& [k, v] : status["dropped"].items())
            if (v.is_number()) n += v.get<double>();
    return n;
}

double exchanges(const json& status) {
    if (!status.is_object() || !status.contains("events")) return 0;
    return status["events"].value("http_exchange", 0.0);
}

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// Raw-ish terminal (no line buffering, no echo; Ctrl-C still signals) while top runs,
// restored however it ends.
class TerminalMode {
public:
    TerminalMode() {
        if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios raw = saved_;
        raw.c_lflag &= ~(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    ~TerminalMode() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    TerminalMode(const TerminalMode&) = delete;
    TerminalMode& operator=(const TerminalMode&) = delete;
    bool active() const { return active_; }

private:
    termios saved_{};
    bool active_ = false;
};

// Waits up to `seconds`; true when the user asked to quit (q, Q, or a signal).
bool wait_or_quit(double seconds, bool read_keys) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!g_stop) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{STDIN_FILENO, POLLIN, 0};
        const int n = ::poll(&p, read_keys ? 1 : 0, static_cast<int>(left.count()));
        if (n > 0 && (p.revents & POLLIN)) {
            char c = 0;
            if (::read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q')) return true;
        }
    }
    return true;
}

} // namespace

std::string top_frame(const TopDocuments& now, const TopDocuments* previous, double elapsed,
                      std::size_t service_rows_shown, std::size_t endpoint_rows_shown) {
    std::string out;
    char line[512];
    const auto& st = now.status;
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char clock[16];
    std::strftime(clock, sizeof clock, "%H:%M:%S", &tm);
    std::snprintf(line, sizeof line, "homeostat top - %s  homeostatd %s, up %.0f s, %d programs attached\n", clock,
                  st.value("version", "?").c_str(), st.value("uptime_seconds", 0.0), st.value("programs_attached", 0));
    out += line;
    const double ex = exchanges(st), drops = dropped_total(st);
    std::string rate = "-", new_drops = "";
    if (previous && previous->status.is_object() && elapsed > 0) {
        rate = format_rate(std::max(0.0, ex - exchanges(previous->status)) / elapsed);
        const double d = drops - dropped_total(previous->status);
        if (d > 0) new_drops = " (+" + format_count(d) + ")";
    }
    std::snprintf(line, sizeof line, "events: %s HTTP exchanges, %s   dropped: %s%s   unattributed: %s\n\n",
                  format_count(ex).c_str(), rate.c_str(), format_count(drops).c_str(), new_drops.c_str(),
                  format_count(st.value("unattributed_events", 0.0)).c_str());
    out += line;

    // Per service: the request rate and worst p99 over the recent windows (server side).
    const auto rows = endpoint_rows(now.endpoints);
    std::map<std::string, std::pair<double, double>> recent; // service -> (rate, p99)
    for (const auto& r : rows)
        if (r.role == "server") {
            auto& [rt, p99] = recent[r.service];
            rt += r.rate;
            if (r.recent_requests > 0) p99 = std::max(p99, r.p99);
        }
    Table services({{"SERVICE", false, 32}, {"PROCS", true}, {"RATE", true}, {"ERR%", true}, {"P99", true},
                    {"CPU", true}, {"CPU%", true}, {"RSS", true}, {"MEM%", true}});
    // Busiest first, like top(1): HTTP rate, then CPU; the quiet tail is summed up.
    std::vector<const json*> list;
    if (now.services.is_object() && now.services.contains("services") && now.services["services"].is_array())
        for (const auto& s : now.services["services"]) list.push_back(&s);
    auto rate_of = [&](const json* s) {
        const auto it = recent.find(s->value("service", ""));
        return it == recent.end() ? 0.0 : it->second.first;
    };
    auto cpu_of = [](const json* s) { return s->value("cpu", json::object()).value("usage_cores", 0.0); };
    std::stable_sort(list.begin(), list.end(), [&](const json* a, const json* b) {
        if (rate_of(a) != rate_of(b)) return rate_of(a) > rate_of(b);
        return cpu_of(a) > cpu_of(b);
    });
    for (const json* sp : list) {
        if (service_rows_shown && services.size() >= service_rows_shown) break;
        const json& s = *sp;
        const std::string name = s.value("service", "?");
        const auto& http = s.value("http", json::object());
        const double req = http.value("requests", 0.0), err = http.value("errors", 0.0);
        const auto it = recent.find(name);
        const auto& cpu = s.value("cpu", json::object());
        const auto& mem = s.value("memory", json::object());
        auto ratio = [](const json& v) { return v.is_number() ? format_percent(v.get<double>()) : std::string("-"); };
        char cores[16];
        std::snprintf(cores, sizeof cores, "%.2f", cpu.value("usage_cores", 0.0));
        services.add({name, std::to_string(s.value("processes", json::array()).size()),
                      it == recent.end() ? "-" : format_rate(it->second.first),
                      req > 0 ? format_percent(err / req) : "-",
                      it == recent.end() || it->second.second <= 0 ? "-" : format_seconds(it->second.second), cores,
                      ratio(cpu.value("quota_utilisation", json())), format_bytes(mem.value("resident_bytes", 0.0)),
                      ratio(mem.value("limit_utilisation", json()))});
    }
    out += services.size() ? services.render() : "no services seen yet\n";
    if (list.size() > services.size()) out += "... " + std::to_string(list.size() - services.size()) + " quieter services\n";
    out += "\n";
    out += rows.empty() ? "no HTTP endpoints seen yet\n" : endpoints_table(rows, endpoint_rows_shown);
    return out;
}

int top_command(const Fetch& fetch, const std::vector<std::string>& args) {
    double interval = 2;
    long iterations = 0; // 0: until q / Ctrl-C
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--interval" && i + 1 < args.size()) {
            auto v = parse_duration(args[++i]);
            if (!v || *v < 0.1) {
                std::fprintf(stderr, "homeostat top: --interval wants a duration of at least 100ms, such as 2s\n");
                return 2;
            }
            interval = *v;
        } else if (args[i] == "--iterations" && i + 1 < args.size()) {
            char* end = nullptr;
            iterations = std::strtol(args[++i].c_str(), &end, 10);
            if (*end != '\0' || iterations <= 0) {
                std::fprintf(stderr, "homeostat top: --iterations wants a positive count\n");
                return 2;
            }
        } else {
            std::fprintf(stderr, "homeostat top: unexpected argument '%s'\n", args[i].c_str());
            return 2;
        }
    }
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    const bool screen = ::isatty(STDOUT_FILENO);
    TerminalMode term;
    std::optional<TopDocuments> previous;
    auto previous_at = std::chrono::steady_clock::now();
    int rc = 0;
    for (long frame = 0; !g_stop && (iterations == 0 || frame < iterations); ++frame) {
        if (frame > 0 && wait_or_quit(interval, term.active())) break;
        TopDocuments docs;
        std::string error;
        for (auto [path, doc] : {std::pair{"/api/v1/status", &docs.status}, std::pair{"/api/v1/services", &docs.services},
                                 std::pair{"/api/v1/endpoints", &docs.endpoints}}) {
            auto j = fetch_json(fetch, path);
            if (!j) { error = j.error().message; break; }
            *doc = std::move(j.value());
        }
        const auto at = std::chrono::steady_clock::now();
        std::string text = error.empty() ? top_frame(docs, previous ? &*previous : nullptr,
                                                     std::chrono::duration<double>(at - previous_at).count())
                                         : "homeostat top: " + error + "\n";
        if (!error.empty()) rc = 1;
        else previous = std::move(docs), previous_at = at;
        // On a terminal: home + clear, like top(1); piped: frames one after another.
        std::fputs(screen ? "\x1b[H\x1b[2J" : (frame > 0 ? "\n" : ""), stdout);
        std::fputs(text.c_str(), stdout);
        if (screen && iterations == 0) std::fputs("\n(q to quit)", stdout);
        std::fflush(stdout);
    }
    if (screen) std::fputs("\n", stdout);
    return rc;
}

} // namespace homeostat::cli
