// homeostatd: a thin main. Parses flags, runs the start-up checks, wires capture →
// pipeline → aggregator → exporters on one Asio io_context, and shuts down cleanly.
#include <time.h>

#include <boost/asio/io_context.hpp>
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
#include <iostream>

#include "agent/capture.h"
#include "agent/config.h"
#include "agent/health_monitor.h"
#include "agent/http_api.h"
#include "agent/identity.h"
#include "agent/pipeline.h"
#include "agent/system_checks.h"
#include "agent/version.h"
#include "engine/aggregator.h"
#include "events.hpp"
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
  --listen ADDR:PORT where /metrics, /healthz and /api/v1 listen (default 127.0.0.1:9464)
  --log-level LEVEL  trace, debug, info, warn, error (default info)
  --check-config     load and validate the configuration, then exit
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
    auto logger = spdlog::stderr_color_mt("homeostatd");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

    std::string config_path, listen_flag, level_flag;
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
    if (auto v = agent::validate(cfg); !v) return fail("configuration: " + v.error().message);
    if (check_only) {
        std::printf("%s: ok\n", config_path.empty() ? "built-in defaults" : config_path.c_str());
        return 0;
    }
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
    spdlog::info("homeostatd {} ({}) starting; config: {}", HOMEOSTAT_VERSION, HOMEOSTAT_GIT_REV,
                 config_path.empty() ? "built-in defaults" : config_path);

    if (auto r = agent::check_privileges(); !r) return fail(r.error().message);
    if (auto r = agent::check_btf(); !r) return fail(r.error().message);
    if (auto warn = agent::ensure_tracefs(); !warn.empty()) spdlog::warn("{}", warn);
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
                               {"undecodable", pc.malformed}};
        s.unattributed_events = pc.unattributed;
        s.start_time_seconds = start_time;
        return s;
    };

    asio::io_context io;

    agent::HttpRouter router = [&](const agent::HttpRequest& req) -> agent::HttpResponse {
        if (req.path == "/metrics") {
            capture.value()->consume(); // serve what the kernel has seen up to now
            return {200, std::string(exporters::kPrometheusContentType),
                    exporters::render_prometheus(aggregator.snapshot(monotonic_now()), agent_stats()) +
                        health.prometheus()};
        }
        if (req.path == "/api/v1/services")
            return {200, "application/json", health.services_json(aggregator.snapshot(monotonic_now()))};
        if (req.path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
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
                             {"undecodable", pc.malformed}}},
                {"unattributed_events", pc.unattributed},
                {"retransmits_skipped", k[HS_STAT_RETRANSMITS_SKIPPED]},
                {"unparsed_responses", k[HS_STAT_UNPARSED_RESPONSES]},
            };
            return {200, "application/json", j.dump(2) + "\n"};
        }
        if (req.path == "/")
            return {200, "text/plain; charset=utf-8",
                    "homeostatd " HOMEOSTAT_VERSION "\n  /metrics        Prometheus metrics\n"
                    "  /healthz        liveness\n  /api/v1/status  daemon status (JSON)\n"
                    "  /api/v1/services  per-service processes, limits, health (JSON)\n"};
        return {404, "text/plain; charset=utf-8", "not found: " + req.path + "\n"};
    };

    std::unique_ptr<agent::HttpApi> api;
    try {
        api = std::make_unique<agent::HttpApi>(io, cfg.listen, router);
        api->start();
    } catch (const std::exception& e) {
        return fail(std::string("API: ") + e.what());
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
            sweep_tick();
        });
    };
    sweep_tick();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        api->stop();
        drain.cancel();
        sweep.cancel();
        rb_fd.cancel();
        io.stop();
    });

    spdlog::info("ready: metrics at http://{}/metrics, status at http://{}/api/v1/status", cfg.listen, cfg.listen);
    io.run();

    capture.value()->consume();
    capture.value().reset(); // detaches every program before we exit
    spdlog::info("stopped; all programs detached");
    return 0;
}
