// homeostatd: a thin main. Parses flags, runs the start-up checks, wires capture →
// pipeline → aggregator → exporters on one Asio io_context, and shuts down cleanly.
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <cmath>
#include <iostream>
#include <optional>

#include "agent/alerting.h"
#include "agent/capture.h"
#include "agent/http_client.h"
#include "agent/store.h"
#include "agent/endpoints_api.h"
#include "agent/config.h"
#include "agent/detection.h"
#include "agent/healing.h"
#include "agent/health_monitor.h"
#include "agent/http_api.h"
#include "agent/identity.h"
#include "agent/pipeline.h"
#include "agent/privileges.h"
#include "agent/reload.h"
#include "agent/self_limits.h"
#include "agent/state_api.h"
#include "agent/system_checks.h"
#include "agent/timeline.h"
#include "agent/version.h"
#include "agent/web_ui.h"
#include "engine/aggregator.h"
#include "events.hpp"
#include "exporters/otlp_json.h"
#include "exporters/prometheus_text.h"

namespace asio = boost::asio;
using namespace homeostat;

namespace {

constexpr const char* kDefaultConfig = "/etc/homeostat/homeostat.yaml";

const char* kUsage = R"(usage: homeostatd [options]

Observes HTTP exchanges of every process on this host with eBPF and serves per-service,
per-endpoint figures on /metrics. Runs in the foreground; needs root.

options:
  --config FILE      YAML configuration (default: /etc/homeostat/homeostat.yaml if it
                     exists, else built-in defaults; see docs/configuration.md)
  --listen ADDR:PORT where the web page (/), /metrics, /healthz and /api/v1 listen
                     (default 127.0.0.1:9464)
  --state-dir DIR    where detector baselines are kept across restarts
                     (default /var/lib/homeostat)
  --api-socket PATH  the CLI's root-only unix socket (default /run/homeostat/api.sock;
                     "" for none)
  --record FILE      also write every HTTP exchange (with its service) to FILE, for
                     `homeostat replay FILE`; stops at --record-limit bytes
  --record-limit N   default 1073741824 (1 GiB)
  --log-level LEVEL  trace, debug, info, warn, error (default info)
  --check-config     load and validate the configuration, then exit

SIGHUP re-reads --config and applies what can change while running (log level,
detection thresholds, alerting, otlp, history retention); a bad file changes nothing.
  --version          print the version and exit
  -h, --help         this text
)";

std::chrono::nanoseconds monotonic_now() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts); // the clock bpf_ktime_get_ns() reads
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

double unix_now() {
    timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int fail(const std::string& what) {
    spdlog::critical("{}", what);
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    // Everything the daemon creates (state database, spool, backups, the API socket) is
    // its own: nobody else reads it unless a mode is set on purpose.
    ::umask(077);
    auto logger = spdlog::stderr_color_mt("homeostatd");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

    std::string config_path, listen_flag, level_flag, state_dir_flag, record_path;
    std::optional<std::string> socket_flag;
    std::uint64_t record_limit = 1ull << 30;
    bool check_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* name) -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "homeostatd: %s needs a value\n%s", name, kUsage);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--config") config_path = value("--config");
        else if (a == "--listen") listen_flag = value("--listen");
        else if (a == "--log-level") level_flag = value("--log-level");
        else if (a == "--state-dir") state_dir_flag = value("--state-dir");
        else if (a == "--api-socket") socket_flag = value("--api-socket");
        else if (a == "--record") record_path = value("--record");
        else if (a == "--record-limit") {
            const std::string v = value("--record-limit");
            char* end = nullptr;
            record_limit = std::strtoull(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || record_limit < 4096) {
                std::fprintf(stderr, "homeostatd: --record-limit needs a byte count of at least 4096, got '%s'\n", v.c_str());
                return 2;
            }
        }
        else if (a == "--check-config") check_only = true;
        else if (a == "--version") { std::printf("homeostatd %s (%s, abi %d)\n", HOMEOSTAT_VERSION, HOMEOSTAT_GIT_REV, HS_ABI_VERSION); return 0; }
        else if (a == "-h" || a == "--help") { std::fputs(kUsage, stdout); return 0; }
        else { std::fprintf(stderr, "homeostatd: unknown option '%s'\n%s", a.c_str(), kUsage); return 2; }
    }

    agent::Config cfg;
    if (config_path.empty() && std::filesystem::exists(kDefaultConfig)) config_path = kDefaultConfig;
    if (!config_path.empty()) {
        auto loaded = agent::load_config(config_path);
        if (!loaded) return fail("configuration: " + loaded.error().message);
        cfg = loaded.value();
    }
    if (!listen_flag.empty()) cfg.listen = listen_flag;
    if (!level_flag.empty()) cfg.log_level = level_flag;
    if (!state_dir_flag.empty()) cfg.state_dir = state_dir_flag;
    if (socket_flag) cfg.api_socket = *socket_flag;
    if (auto v = agent::validate(cfg); !v) return fail("configuration: " + v.error().message);
    if (check_only) {
        std::printf("%s: ok\n", config_path.empty() ? "built-in defaults" : config_path.c_str());
        return 0;
    }
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
    spdlog::info("homeostatd {} ({}) starting; config: {}", HOMEOSTAT_VERSION, HOMEOSTAT_GIT_REV,
                 config_path.empty() ? "built-in defaults" : config_path);

    if (auto r = agent::check_privileges(); !r) return fail(r.error().message);
    // Before anything heavy (BPF loading, the verifier): the daemon's own box from the start.
    agent::SelfLimitsGuard self_limits(cfg.self_limits, agent::SelfLimitsHost::current());
    if (auto r = agent::check_btf(); !r) return fail(r.error().message);
    if (auto warn = agent::ensure_tracefs(); !warn.empty()) spdlog::warn("{}", warn);
    if (auto note = agent::bpffs_note(); !note.empty()) spdlog::info("{}", note);
    if (cfg.cgroup2_root.empty()) {
        auto root = agent::find_cgroup2_root();
        if (!root) return fail(root.error().message);
        cfg.cgroup2_root = root.value();
    }

    agent::ServiceResolver identity("/proc", cfg.cgroup2_root);
    identity.scan_listeners();

    engine::AggregatorConfig acfg;
    acfg.window = cfg.window;
    acfg.windows_kept = cfg.windows_kept;
    acfg.max_routes_per_service = cfg.max_routes_per_service;
    engine::Aggregator aggregator(acfg);
    agent::Pipeline pipeline(aggregator, identity);
    agent::HealthMonitor health(identity); // process and connection health (issue 3)
    if (auto colon = cfg.listen.rfind(':'); colon != std::string::npos)
        pipeline.ignore_self(static_cast<std::uint32_t>(::getpid()),
                             static_cast<std::uint16_t>(std::atoi(cfg.listen.c_str() + colon + 1)));
    std::unique_ptr<agent::Recorder> recorder;
    if (!record_path.empty()) {
        const auto offset = static_cast<std::int64_t>(unix_now() * 1e9) - monotonic_now().count();
        auto r = agent::Recorder::open(record_path, record_limit, offset);
        if (!r) return fail("--record: " + r.error().message);
        recorder = std::move(r.value());
        pipeline.set_recorder(recorder.get());
        spdlog::info("recording every HTTP exchange to {} (at most {} bytes)", record_path, record_limit);
    }

    // The state database: detector baselines, alert spool and per-window history. Without it (a read-only
    // disk, say) the daemon still observes and detects; alerting needs it.
    std::unique_ptr<agent::Store> store;
    if (!cfg.state_dir.empty()) {
        auto db = agent::Store::open(std::filesystem::path(cfg.state_dir) / "homeostat.db");
        if (db) {
            store = std::move(db.value());
            if (auto pruned = store->prune_rollups(unix_now() - cfg.history_retention_seconds); !pruned)
                spdlog::warn("history: {}", pruned.error().message);
        } else if (!cfg.alerting.receivers.empty()) {
            return fail("alerting: " + db.error().message);
        } else {
            spdlog::warn("{}; no history is kept (the daemon goes on observing)", db.error().message);
        }
    }
    std::unique_ptr<agent::Detection> detection;
    if (cfg.detection_enabled) {
        agent::DetectionOptions dopts;
        dopts.live = cfg.detection;
        dopts.grace = cfg.drain_interval + std::chrono::milliseconds(200);
        dopts.store = store.get();
        detection = std::make_unique<agent::Detection>(dopts, aggregator, monotonic_now());
        detection->load_state();
        spdlog::info("detection: on; {} windows of {} s to learn each series; state in {}", cfg.detection.warmup,
                     std::chrono::duration<double>(cfg.window).count(),
                     store ? store->path().string() : "(not kept)");
    } else {
        spdlog::info("detection: off (detection.enabled: false)");
    }

    agent::route_libbpf_logs_to_spdlog();
    agent::CaptureOptions copts;
    copts.cgroup2_root = cfg.cgroup2_root;
    copts.ringbuf_bytes = cfg.ringbuf_bytes;
    auto capture = agent::Capture::open(copts, [&](std::span<const std::byte> b) { pipeline.on_record(b); });
    if (!capture) return fail("capture: " + capture.error().describe());
    spdlog::info("capture: {} programs attached (cgroup_skb ingress/egress on {}, tp_btf/inet_sock_set_state); "
                 "{} listening ports known",
                 capture.value()->attached(), cfg.cgroup2_root, identity.listener_count());
    health.start();

    const double start_time = unix_now();
    auto agent_stats = [&] {
        exporters::AgentStats s;
        s.version = HOMEOSTAT_VERSION;
        s.git_rev = HOMEOSTAT_GIT_REV;
        s.abi_version = HS_ABI_VERSION;
        const auto& pc = pipeline.counters();
        s.events_by_kind = {{"http_exchange", pc.exchanges}, {"listen", pc.listens}};
        auto k = capture.value()->stats();
        s.dropped_by_reason = {{"ringbuf_full", k[HS_STAT_RINGBUF_DROPS]},
                               {"socket_storage_full", k[HS_STAT_STORAGE_FAILS]},
                               {"undecodable", pc.malformed},
                               // exchanges of new series past AggregatorConfig::max_series (20 000)
                               {"series_limit", aggregator.series_overflowed()}};
        s.unattributed_events = pc.unattributed;
        s.start_time_seconds = start_time;
        return s;
    };

    asio::io_context io;
    if (cfg.alerting.instance.empty()) { // this host's name in alerts and OTLP resources
        char host[256] = {};
        ::gethostname(host, sizeof host - 1);
        cfg.alerting.instance = host;
    }

    // Every observed window: the web page's timeline (in memory) and the history (on disk).
    std::unique_ptr<agent::Timeline> timeline;
    if (detection) {
        timeline = std::make_unique<agent::Timeline>();
        detection->add_window_sink([&](const agent::Detection::ObservedWindow& w) {
            timeline->add_window(w.endpoints, w.services, w.start_unix, w.seconds);
        });
    }
    if (store && detection) {
        detection->add_window_sink([&](const agent::Detection::ObservedWindow& w) {
            std::vector<agent::Rollup> rows;
            rows.reserve(w.endpoints.size());
            for (const auto& e : w.endpoints)
                rows.push_back({w.start_unix, w.seconds, e.service, e.role == engine::Role::server ? "server" : "client",
                                engine::detect::endpoint_label(e), static_cast<std::int64_t>(e.count),
                                static_cast<std::int64_t>(e.errors), e.p50, e.p95, e.p99});
            // Said once when it starts failing (a full disk fails every window) and once when it recovers.
            static std::string last_error;
            if (auto r = store->add_rollups(rows); !r) {
                if (r.error().message != last_error)
                    spdlog::error("history: {}; windows are not kept until this is fixed (the daemon goes on)",
                                  r.error().message);
                last_error = r.error().message;
            } else if (!last_error.empty()) {
                spdlog::info("history: windows are kept again");
                last_error.clear();
            }
        });
    }
    std::unique_ptr<agent::HttpClient> http_client;
    std::unique_ptr<agent::Alerting> alerting;
    if (!cfg.alerting.receivers.empty()) {
        if (!detection) return fail("configuration: alerting.receivers need detection.enabled: true");
        http_client = std::make_unique<agent::HttpClient>(io);
        alerting = std::make_unique<agent::Alerting>(cfg.alerting, *store, *http_client,
                                                     "http://" + cfg.listen + "/api/v1/anomalies");
        auto pending = store->pending();
        spdlog::info("alerting: {} receiver(s); spool {} with {} pending deliveries", cfg.alerting.receivers.size(),
                     store->path().string(), pending ? pending.value() : -1);
    }

    // Healing: decisions on this thread, everything that touches the host on its worker.
    std::unique_ptr<agent::Healing> healing;
    if (detection && cfg.healing.policy.enabled) {
        const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
        healing = std::make_unique<agent::Healing>(
            cfg.healing, store.get(), [&io](std::function<void()> f) { asio::post(io, std::move(f)); },
            cores > 0 ? static_cast<double>(cores) : 1.0);
        healing->load_state();
        healing->on_action([&](const std::string& service, const std::string& type, const std::string& text) {
            if (alerting) alerting->on_action(service, type, text, unix_now());
        });
        const auto& g = cfg.healing.policy.guardrails;
        spdlog::info("healing: on ({}), {} rule(s), {}{}; may write: {} cgroup prefix(es), {} unit(s), {} file(s), "
                     "{} restart method(s)",
                     cfg.healing.source, cfg.healing.policy.rules.size(),
                     g.dry_run ? "dry-run (nothing is changed on the host, every decision is logged)" : "acting",
                     !g.dry_run && !g.restarts_enabled ? ", restarts in dry-run" : "",
                     cfg.healing.actuators.cgroup_allow.size(), cfg.healing.actuators.unit_allow.size(),
                     cfg.healing.actuators.files.size(), cfg.healing.actuators.restarts.size());
    } else {
        spdlog::info("healing: off{}", detection ? " (healing.enabled: false)" : " (needs detection)");
    }

    std::string api_token;
    if (!cfg.api_token_file.empty()) {
        auto t = agent::read_api_token(cfg.api_token_file);
        if (!t) return fail(t.error().message);
        api_token = t.value();
        spdlog::info("API: a token is required for everything but /healthz and the web page's files");
    }
    auto authorized = [&](const agent::HttpRequest& req) {
        if (api_token.empty()) return true;
        const std::string want = "Bearer " + api_token;
        // Constant time: the comparison does not tell how much of a guess was right.
        if (req.authorization.size() != want.size()) return false;
        unsigned char diff = 0;
        for (std::size_t i = 0; i < want.size(); ++i) diff |= static_cast<unsigned char>(req.authorization[i] ^ want[i]);
        return diff == 0;
    };

    std::uint64_t reloads = 0, reloads_refused = 0; // SIGHUP, below
    std::string last_reload_error;
    agent::HttpRouter router = [&](const agent::HttpRequest& req) -> agent::HttpResponse {
        if (req.path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
        if (auto page = agent::web_ui_response(req.path)) return *page; // no data in it: no token
        if (!authorized(req))
            return {401, "text/plain; charset=utf-8", "this endpoint wants Authorization: Bearer <token> "
                                                     "(the daemon's api_token_file)\n"};
        if (req.path == "/metrics") {
            capture.value()->consume(); // serve what the kernel has seen up to now
            std::optional<exporters::DetectionStats> ds;
            if (detection) {
                ds.emplace();
                ds->scores = detection->monitor().scores();
                ds->types = engine::detect::live_anomaly_types();
                for (const auto& a : detection->monitor().anomalies())
                    if (a.open) ds->open_by_type.emplace_back(a.type, 1);
            }
            return {200, std::string(exporters::kPrometheusContentType),
                    exporters::render_prometheus(aggregator.snapshot(monotonic_now()), agent_stats(),
                                                 ds ? &*ds : nullptr) +
                        health.prometheus() + (healing ? healing->strategies().prometheus(unix_now()) : "")};
        }
        if (req.path == "/api/v1/services")
            return {200, "application/json", health.services_json(aggregator.snapshot(monotonic_now()))};
        if (req.path == "/api/v1/endpoints") {
            capture.value()->consume(); // as /metrics: what the kernel has seen up to now
            return {200, "application/json",
                    agent::endpoints_json(aggregator.snapshot(monotonic_now()))
                            .dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
        }
        if (req.path == "/api/v1/history") return agent::history_response(store.get(), req.query, unix_now());
        if (req.path == "/api/v1/actions")
            return agent::actions_response(store.get(), req.query,
                                           healing ? healing->status() : nlohmann::json{{"enabled", false}});
        if (req.path == "/api/v1/tuned")
            return agent::tuned_response(store.get(), req.query,
                                         healing ? healing->strategies().recommendations(unix_now()) : nullptr);
        if (req.path == "/api/v1/timeline") return agent::timeline_response(timeline.get(), req.query);
        if (req.path == "/api/v1/alerts") {
            nlohmann::json j = alerting ? alerting->to_json() : nlohmann::json{{"alerts", nlohmann::json::array()}};
            j["enabled"] = alerting != nullptr;
            return {200, "application/json", j.dump(2) + "\n"};
        }
        if (req.path == "/api/v1/anomalies") {
            nlohmann::json j = detection ? detection->to_json() : nlohmann::json{{"enabled", false}};
            if (detection) j["enabled"] = true;
            return {200, "application/json", j.dump(2) + "\n"};
        }
        if (req.path == "/api/v1/status") {
            const auto& pc = pipeline.counters();
            auto k = capture.value()->stats();
            nlohmann::json j = {
                {"version", HOMEOSTAT_VERSION}, {"git_rev", HOMEOSTAT_GIT_REV}, {"abi_version", HS_ABI_VERSION},
                {"uptime_seconds", unix_now() - start_time}, {"listen", cfg.listen},
                {"cgroup2_root", cfg.cgroup2_root}, {"programs_attached", capture.value()->attached()},
                {"listening_ports_known", identity.listener_count()},
                {"events", {{"http_exchange", pc.exchanges}, {"listen", pc.listens}}},
                {"dropped", {{"ringbuf_full", k[HS_STAT_RINGBUF_DROPS]},
                             {"socket_storage_full", k[HS_STAT_STORAGE_FAILS]},
                             {"undecodable", pc.malformed},
                             {"series_limit", aggregator.series_overflowed()}}},
                {"unattributed_events", pc.unattributed},
                {"self_limits", self_limits.state().to_json()},
                {"own_exchanges_ignored", pc.own},
                {"retransmits_skipped", k[HS_STAT_RETRANSMITS_SKIPPED]},
                {"unparsed_responses", k[HS_STAT_UNPARSED_RESPONSES]},
                {"config", {{"file", config_path.empty() ? "built-in defaults" : config_path},
                            {"reloads", reloads}, {"reloads_refused", reloads_refused},
                            {"last_reload_error", last_reload_error}}},
            };
            return {200, "application/json", j.dump(2) + "\n"};
        }
        if (req.path == "/api/v1" || req.path == "/api/v1/")
            return {200, "text/plain; charset=utf-8",
                    "homeostatd " HOMEOSTAT_VERSION "\n  /               the web page\n"
                    "  /metrics        Prometheus metrics\n"
                    "  /healthz        liveness\n  /api/v1/status  daemon status (JSON)\n"
                    "  /api/v1/anomalies  open and recent anomalies with their evidence (JSON)\n"
                    "  /api/v1/alerts  alerts, receivers and pending deliveries (JSON)\n"
                    "  /api/v1/services  per-service processes, limits, health (JSON)\n"
                    "  /api/v1/endpoints  every endpoint: totals per status, recent rate and latency (JSON)\n"
                    "  /api/v1/history  per-window rollups per endpoint (JSON)\n"
                    "  /api/v1/actions  the healing audit log (JSON)\n"
                    "  /api/v1/tuned  tuned settings and resource recommendations per service (JSON)\n"
                    "  /api/v1/timeline?service=NAME  the last windows of a service, for charts (JSON)\n"};
        return {404, "text/plain; charset=utf-8", "not found: " + req.path + "\n"};
    };

    std::unique_ptr<agent::HttpApi> api;
    try {
        api = std::make_unique<agent::HttpApi>(io, cfg.listen, router);
        api->start();
    } catch (const std::exception& e) {
        return fail(std::string("API: ") + e.what());
    }
    // The CLI's socket: root-only by its modes, so `homeostat` needs no port or token file.
    std::unique_ptr<agent::HttpApi> cli_api;
    if (!cfg.api_socket.empty()) {
        try {
            cli_api = std::make_unique<agent::HttpApi>(io, agent::HttpApi::UnixSocket{cfg.api_socket}, router);
            cli_api->start();
        } catch (const std::exception& e) {
            spdlog::warn("API socket: {}; the CLI needs --url http://{} instead", e.what(), cfg.listen);
        }
    }

    // Drain the ring buffer when the kernel wakes us (backlog past wakeup_bytes) and on
    // a timer otherwise: per-event wake-ups would cost a context switch per request.
    asio::posix::stream_descriptor rb_fd(io, ::dup(capture.value()->epoll_fd()));
    std::function<void()> wait_ring = [&] {
        rb_fd.async_wait(asio::posix::descriptor_base::wait_read, [&](const boost::system::error_code& ec) {
            if (ec) return;
            // poll(), not consume(): the epoll fd stays readable until epoll_wait runs.
            capture.value()->poll();
            wait_ring();
        });
    };
    wait_ring();

    asio::steady_timer drain(io);
    std::function<void()> tick = [&] {
        drain.expires_after(cfg.drain_interval);
        drain.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            capture.value()->consume();
            if (recorder) recorder->flush();
            health.poll();
            tick();
        });
    };
    tick();

    asio::steady_timer sweep(io);
    std::function<void()> sweep_tick = [&] {
        sweep.expires_after(std::chrono::seconds(60));
        sweep.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            identity.sweep();
            if (store) {
                if (auto r = store->prune_rollups(unix_now() - cfg.history_retention_seconds); !r)
                    spdlog::warn("history: {}", r.error().message);
                if (auto r = store->prune(unix_now() - cfg.history_retention_seconds); !r)
                    spdlog::warn("alerting: {}", r.error().message);
            }
            sweep_tick();
        });
    };
    sweep_tick();

    // Detection: each window as soon as it has closed (plus a grace period for events
    // still in the ring buffer), and the state to disk now and then.
    asio::steady_timer detect_timer(io), save_timer(io);
    std::function<void()> detect_tick = [&] {
        detect_timer.expires_after(detection->next_due(monotonic_now()));
        detect_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            capture.value()->consume();
            const auto totals = health.totals();
            const auto observed_before = detection->monitor().last_window();
            auto changes = detection->tick(monotonic_now(), unix_now(), &totals);
            if (alerting && !changes.empty()) alerting->on_changes(changes, unix_now());
            if (healing && detection->monitor().last_window() != observed_before) {
                const auto w = detection->monitor().last_window();
                auto healing_alerts = healing->evaluate(detection->monitor().anomalies(), health.others(),
                                                        aggregator.window_stats(w),
                                                        std::chrono::duration<double>(cfg.window).count(), unix_now());
                if (alerting && !healing_alerts.empty()) alerting->on_changes(healing_alerts, unix_now());
            }
            detect_tick();
        });
    };
    std::function<void()> save_tick = [&] {
        save_timer.expires_after(cfg.detection_save_interval);
        save_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            detection->save_state(unix_now());
            if (healing) healing->save_state(unix_now());
            save_tick();
        });
    };
    if (detection) {
        detect_tick();
        save_tick();
    }
    // Deliveries due (retries, resends) start from here; new alerts go out at once.
    asio::steady_timer alert_timer(io);
    std::function<void()> alert_tick = [&] {
        alert_timer.expires_after(std::chrono::seconds(1));
        alert_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            alerting->pump(unix_now());
            alert_tick();
        });
    };
    if (alerting) alert_tick();

    // OTLP push: best effort, the counts are cumulative, so the next push makes up for a
    // lost one; failures are logged when they start and when they stop.
    asio::steady_timer otlp_timer(io);
    std::unique_ptr<agent::HttpClient> otlp_client;
    std::string otlp_error;
    bool otlp_running = false;
    std::function<void()> otlp_tick = [&] {
        otlp_running = true;
        otlp_timer.expires_after(cfg.otlp_interval);
        otlp_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            if (cfg.otlp_endpoint.empty()) { // a reload turned it off
                otlp_running = false;
                return;
            }
            capture.value()->consume();
            exporters::OtlpResource res;
            res.host_name = cfg.alerting.instance;
            res.scope_version = HOMEOSTAT_VERSION;
            res.start_unix_ns = static_cast<std::uint64_t>(start_time * 1e9);
            res.now_unix_ns = static_cast<std::uint64_t>(unix_now() * 1e9);
            agent::HttpClientRequest req;
            req.url = cfg.otlp_endpoint;
            while (!req.url.empty() && req.url.back() == '/') req.url.pop_back();
            req.url += "/v1/metrics";
            req.headers["Content-Type"] = "application/json";
            req.body = exporters::otlp_metrics_json(aggregator.snapshot(monotonic_now()), res).dump();
            req.timeout = std::min<std::chrono::milliseconds>(cfg.otlp_interval, std::chrono::seconds(10));
            otlp_client->send(std::move(req), [&](agent::HttpClientResponse r) {
                const std::string err = r.status >= 200 && r.status < 300 ? ""
                                        : r.status ? "HTTP " + std::to_string(r.status) : r.error;
                if (err != otlp_error) {
                    if (err.empty()) spdlog::info("otlp: pushing to {} again", agent::redacted_url(cfg.otlp_endpoint));
                    else spdlog::warn("otlp: push to {} failed: {}", agent::redacted_url(cfg.otlp_endpoint), err);
                }
                otlp_error = err;
            });
            otlp_tick();
        });
    };
    auto start_otlp = [&] {
        if (cfg.otlp_endpoint.empty() || otlp_running) return;
        if (!otlp_client) otlp_client = std::make_unique<agent::HttpClient>(io);
        spdlog::info("otlp: pushing metrics to {} every {} s", agent::redacted_url(cfg.otlp_endpoint),
                     std::chrono::duration<double>(cfg.otlp_interval).count());
        otlp_tick();
    };
    start_otlp();

    // SIGHUP: re-read the file and apply what can change while running; a bad file changes
    // nothing. Handled on this thread between other work, so a storm of SIGHUPs is a
    // series of reloads, never two at once.
    asio::signal_set hup(io, SIGHUP);
    std::function<void()> wait_hup = [&] {
        hup.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec) return;
            if (config_path.empty()) {
                spdlog::info("SIGHUP: running on built-in defaults (no config file): nothing to reload");
                return wait_hup();
            }
            auto loaded = agent::load_config(config_path);
            if (loaded) {
                if (!listen_flag.empty()) loaded.value().listen = listen_flag;
                if (!level_flag.empty()) loaded.value().log_level = level_flag;
                if (!state_dir_flag.empty()) loaded.value().state_dir = state_dir_flag;
                if (socket_flag) loaded.value().api_socket = *socket_flag;
            }
            if (!loaded) {
                spdlog::error("SIGHUP: {} was not applied, the running configuration stays:\n{}", config_path,
                              loaded.error().message);
                ++reloads_refused;
                last_reload_error = loaded.error().message;
                return wait_hup();
            }
            auto plan = agent::plan_reload(cfg, std::move(loaded.value()));
            if (!plan.next.alerting.receivers.empty() && (!store || !detection)) {
                last_reload_error = "alerting.receivers need detection and the state database";
                spdlog::error("SIGHUP: {} was not applied, the running configuration stays: {}", config_path,
                              last_reload_error);
                ++reloads_refused;
                return wait_hup();
            }
            try {
                if (detection) detection->reconfigure(plan.next.detection);
            } catch (const std::exception& e) {
                spdlog::error("SIGHUP: {} was not applied, the running configuration stays: {}", config_path, e.what());
                ++reloads_refused;
                last_reload_error = e.what();
                return wait_hup();
            }
            cfg = std::move(plan.next);
            spdlog::set_level(spdlog::level::from_str(cfg.log_level));
            if (alerting) alerting->reconfigure(cfg.alerting);
            else if (!cfg.alerting.receivers.empty()) {
                http_client = std::make_unique<agent::HttpClient>(io);
                alerting = std::make_unique<agent::Alerting>(cfg.alerting, *store, *http_client,
                                                             "http://" + cfg.listen + "/api/v1/anomalies");
                alert_tick();
            }
            start_otlp();
            auto join = [](const std::vector<std::string>& v) {
                std::string out;
                for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
                return out.empty() ? std::string("nothing") : out;
            };
            ++reloads;
            last_reload_error.clear();
            spdlog::info("SIGHUP: reloaded {}; changed: {}", config_path, join(plan.applied));
            if (!plan.needs_restart.empty())
                spdlog::warn("SIGHUP: {} changed in {} but only take effect at a restart; running with the old values",
                             join(plan.needs_restart), config_path);
            wait_hup();
        });
    };
    wait_hup();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        api->stop();
        if (cli_api) cli_api->stop();
        drain.cancel();
        sweep.cancel();
        detect_timer.cancel();
        save_timer.cancel();
        alert_timer.cancel();
        otlp_timer.cancel();
        hup.cancel();
        rb_fd.cancel();
        io.stop();
    });

    // Everything is loaded, attached and bound: keep only what the running daemon uses.
    if (cfg.drop_capabilities) {
        const auto keep = agent::capabilities_needed(cfg);
        if (auto r = agent::drop_capabilities(keep); !r) return fail("privileges: " + r.error().describe());
        std::string why;
        for (const auto& k : keep) why += (why.empty() ? "" : "; ") + k.name + ": " + k.why;
        spdlog::info("privileges: capabilities dropped; kept {} ({})",
                     agent::capability_names(agent::current_capabilities().effective), why);
    } else {
        spdlog::warn("privileges: drop_capabilities is false: running with every capability it started with ({})",
                     agent::capability_names(agent::current_capabilities().effective));
    }

    spdlog::info("ready: web page at http://{}/, metrics at http://{}/metrics, status at http://{}/api/v1/status",
                 cfg.listen, cfg.listen, cfg.listen);
    io.run();

    capture.value()->consume();
    capture.value().reset(); // detaches every program before we exit
    if (detection && store && detection->save_state(unix_now()))
        spdlog::info("detection: state saved");
    if (healing) {
        healing->save_state(unix_now());
        healing.reset(); // waits for an action in progress (bounded by healing.command_timeout)
    }
    if (recorder) {
        recorder->flush();
        spdlog::info("recorded {} exchanges to {}", recorder->records(), record_path);
    }
    spdlog::info("stopped; all programs detached");
    return 0;
}
