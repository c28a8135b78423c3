// The state database under a long synthetic run: per-window rollups for many endpoints,
// pruned to the retention as the daemon does (every minute of simulated time). Prints the
// database size (file + WAL) as simulated time passes: it must level off once the
// retention is reached, and stay there.
//
//   ./build/bench/store_retention [--days 3] [--endpoints 200] [--window 10] [--retention-hours 24]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "agent/store.h"

using namespace homeostat;

namespace {

std::uint64_t size_of(const std::filesystem::path& p) {
    std::error_code ec;
    std::uint64_t total = 0;
    for (const char* suffix : {"", "-wal", "-shm"}) {
        auto n = std::filesystem::file_size(p.string() + suffix, ec);
        if (!ec) total += n;
    }
    return total;
}

} // namespace

int main(int argc, char** argv) {
    double days = 3, window = 10, retention_h = 24;
    int endpoints = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--days")) days = std::atof(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--endpoints")) endpoints = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--window")) window = std::atof(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--retention-hours")) retention_h = std::atof(argv[i + 1]);
        else {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    const auto dir = std::filesystem::temp_directory_path() / ("homeostat-retention-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    auto store = agent::Store::open(dir / "homeostat.db");
    if (!store) {
        std::fprintf(stderr, "%s\n", store.error().message.c_str());
        return 1;
    }
    auto& s = *store.value();
    const double t0 = 1.7e9, end = t0 + days * 86400, retention = retention_h * 3600;
    std::vector<agent::Rollup> rows(static_cast<std::size_t>(endpoints));
    for (int e = 0; e < endpoints; ++e) {
        rows[e].service = "svc" + std::to_string(e % 20);
        rows[e].role = "server";
        rows[e].endpoint = "GET /api/v1/items/{id}/part" + std::to_string(e);
        rows[e].window_seconds = window;
    }
    std::printf("%d endpoints, %.0f s windows, retention %.0f h, %.1f simulated days\n", endpoints, window,
                retention_h, days);
    std::printf("%10s %12s %14s %16s\n", "sim_hours", "rows_kept", "db_bytes", "ms_per_window");
    double next_report = t0, last_prune = t0;
    double spent_ms = 0;
    std::uint64_t windows = 0, peak = 0, at_retention = 0;
    for (double t = t0; t < end; t += window) {
        for (auto& r : rows) {
            r.window_start = t;
            r.requests = 100 + static_cast<std::int64_t>(windows % 7);
            r.errors = static_cast<std::int64_t>(windows % 3);
            r.p50 = 0.004;
            r.p95 = 0.011;
            r.p99 = 0.02;
        }
        const auto a = std::chrono::steady_clock::now();
        if (auto r = s.add_rollups(rows); !r) {
            std::fprintf(stderr, "%s\n", r.error().message.c_str());
            return 1;
        }
        if (t - last_prune >= 60) { // the daemon's sweep: once a minute
            s.prune_rollups(t - retention);
            last_prune = t;
        }
        spent_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count();
        ++windows;
        const auto bytes = size_of(dir / "homeostat.db");
        peak = std::max<std::uint64_t>(peak, bytes);
        if (t - t0 <= retention) at_retention = bytes;
        if (t >= next_report) {
            const auto kept = s.history("", t - retention - window, t, 100000000).value().size();
            std::printf("%10.1f %12zu %14llu %16.3f\n", (t - t0) / 3600, kept, (unsigned long long)bytes,
                        spent_ms / static_cast<double>(windows));
            next_report += 6 * 3600;
        }
    }
    std::printf("peak %llu bytes; at the end of the first retention period %llu bytes; peak / that = %.3f\n",
                (unsigned long long)peak, (unsigned long long)at_retention,
                static_cast<double>(peak) / static_cast<double>(at_retention));
    std::filesystem::remove_all(dir);
    return 0;
}
