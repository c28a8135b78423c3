// Ring-buffer records as the agent receives them: abi::decode<T> and to_string, then the
// record dispatch of both consumers, Pipeline::on_record (exchanges and listens into an
// Aggregator through a ServiceResolver) and ProcessHealth::on_record (process and TCP
// events), with the resolver and the /proc scan pointed at a small fake /proc.
//
// Input: records, each [u16 length][flags byte][length bytes]. With flag bit 0 the record's
// header is given a valid abi_version and the size of its kind, so most records reach the
// handlers instead of being dropped as malformed by the header check alone.
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "agent/pipeline.h"
#include "agent/process_health.h"
#include "engine/aggregator.h"
#include "events.hpp"

namespace fs = std::filesystem;
using namespace homeostat;

namespace {

fs::path g_proc;

// Service names, routes and process names end up in the JSON of /api/v1/anomalies,
// /api/v1/alerts and the alert payloads, whose dump() throws on invalid UTF-8.
void check_json_safe(const std::string& s) {
    (void)nlohmann::json(s).dump();
}

void fake_process(std::uint32_t pid, const std::string& comm, const std::string& cgroup) {
    const fs::path d = g_proc / std::to_string(pid);
    fs::create_directories(d / "fd");
    std::ofstream(d / "stat") << pid << " (" << comm << ") S 1 1 1 0 -1 4194560 0 0 0 0 7 3 0 0 20 0 1 0 "
                              << 100 + pid << " 1000000 250 0 0\n";
    std::ofstream(d / "comm") << comm << "\n";
    std::ofstream(d / "cgroup") << "0::" << cgroup << "\n";
    std::ofstream(d / "cmdline") << comm << '\0';
}

std::uint16_t size_of(std::uint16_t kind) {
    switch (kind) {
    case HS_EV_HTTP_EXCHANGE: return sizeof(hs_http_exchange);
    case HS_EV_LISTEN: return sizeof(hs_listen_event);
    case HS_EV_PROC_EXEC:
    case HS_EV_PROC_FORK:
    case HS_EV_PROC_EXIT: return sizeof(hs_proc_event);
    case HS_EV_OOM_KILL: return sizeof(hs_oom_event);
    case HS_EV_TCP: return sizeof(hs_tcp_event);
    default: return 0;
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off); // malformed records log; the fuzzer needs no noise
    g_proc = fs::temp_directory_path() / ("hs_fuzz_proc_" + std::to_string(::getpid()));
    fs::remove_all(g_proc);
    fs::create_directories(g_proc / "net");
    const char* header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
                         "timeout inode\n";
    std::ofstream(g_proc / "net" / "tcp") << header
        << "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0\n";
    std::ofstream(g_proc / "net" / "tcp6") << header;
    std::ofstream(g_proc / "stat") << "cpu  1 2 3 4\nbtime 1700000000\n";
    fake_process(100, "nginx", "/system.slice/nginx.service");
    fake_process(200, "python3", "/");
    std::atexit([] { std::error_code ec; fs::remove_all(g_proc, ec); });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    engine::Aggregator aggregator;
    agent::ServiceResolver resolver(g_proc.string());
    agent::Pipeline pipeline(aggregator, resolver);
    pipeline.ignore_self(200, 9464);
    agent::ProcessHealth health(resolver, agent::CgroupMounts{}, g_proc.string());

    std::vector<std::byte> record;
    std::size_t at = 0;
    while (at + 3 <= size) {
        const std::size_t len = std::min<std::size_t>(data[at] | (data[at + 1] << 8), 4096);
        const bool fix = data[at + 2] & 1;
        at += 3;
        const std::size_t n = std::min(len, size - at);
        // Ring-buffer records are 8-byte aligned; a fresh vector is at least that.
        record.assign(reinterpret_cast<const std::byte*>(data + at), reinterpret_cast<const std::byte*>(data + at + n));
        at += n;
        if (fix && record.size() >= sizeof(hs_event_header)) {
            hs_event_header h;
            std::memcpy(&h, record.data(), sizeof h);
            h.abi_version = HS_ABI_VERSION;
            h.size = size_of(h.kind);
            if (h.size > record.size()) record.resize(h.size);
            std::memcpy(record.data(), &h, sizeof h);
        }
        const std::span<const std::byte> bytes(record);
        if (auto ev = abi::decode<hs_http_exchange>(bytes, HS_EV_HTTP_EXCHANGE)) (void)abi::to_string(*ev);
        if (auto ev = abi::decode<hs_listen_event>(bytes, HS_EV_LISTEN)) (void)abi::to_string(*ev);
        if (!health.on_record(bytes)) pipeline.on_record(bytes);
    }
    const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    health.refresh(t0, std::chrono::milliseconds(0));
    for (const auto& h : health.snapshot()) {
        check_json_safe(h.service);
    }
    for (const auto& s : aggregator.snapshot(std::chrono::nanoseconds(std::chrono::hours(2))).series) {
        check_json_safe(s.service);
        check_json_safe(s.route);
    }
    return 0;
}
