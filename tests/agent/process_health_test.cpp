// ProcessHealth against a fake /proc and synthetic BPF events (the structs of events.h):
// roll-up into services, CPU and RSS, restarts, exits, OOM kills and TCP counters.
#include "agent/process_health.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace homeostat::agent {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class ProcessHealthTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("hs_fakeproc_" + std::to_string(::getpid()));
        fs::remove_all(root_);
        fs::create_directories(root_);
    }
    void TearDown() override { fs::remove_all(root_); }

    // A process with utime+stime ticks of CPU, rss pages resident, in cgroup `cg`.
    void add(std::uint32_t pid, const std::string& comm, std::uint64_t ticks, std::uint64_t rss_pages,
             const std::string& cg, std::uint64_t flags = 0x400100) {
        fs::path d = root_ / std::to_string(pid);
        fs::create_directories(d);
        std::ofstream(d / "stat") << pid << " (" << comm << ") S 1 1 1 0 -1 " << flags << " 0 0 0 0 " << ticks
                                  << " 0 0 0 20 0 1 0 1 1000000 " << rss_pages << " 0 0\n";
        std::ofstream(d / "comm") << comm << "\n";
        std::ofstream(d / "cgroup") << "0::" << cg << "\n";
    }
    void remove(std::uint32_t pid) { fs::remove_all(root_ / std::to_string(pid)); }

    template <typename T>
    void send(ProcessHealth& h, T ev, std::uint16_t kind) {
        ev.hdr.kind = kind;
        ev.hdr.size = sizeof ev;
        ev.hdr.abi_version = HS_ABI_VERSION;
        ASSERT_TRUE(h.on_record(std::as_bytes(std::span(&ev, 1))));
    }
    hs_proc_event proc(std::uint32_t pid, const char* comm, std::uint32_t exit_code = 0, std::uint64_t cpu_ns = 0) {
        hs_proc_event e{};
        e.tgid = pid;
        e.exit_code = exit_code;
        e.cpu_ns = cpu_ns;
        std::strncpy(e.comm, comm, sizeof e.comm - 1);
        return e;
    }
    const exporters::ServiceHealth* find(const std::vector<exporters::ServiceHealth>& v, const std::string& s) {
        for (const auto& h : v)
            if (h.service == s) return &h;
        return nullptr;
    }
    void refresh(ProcessHealth& h) { h.refresh(now_ += std::chrono::seconds(2), std::chrono::milliseconds(0)); }

    fs::path root_;
    Clock::time_point now_ = Clock::now();
};

TEST_F(ProcessHealthTest, RollsProcessesUpIntoServicesWithCpuAndRss) {
    const double tick = ::sysconf(_SC_CLK_TCK), page = ::sysconf(_SC_PAGESIZE);
    add(100, "web", 250, 1000, "/system.slice/web.service");
    add(101, "web", 50, 500, "/system.slice/web.service");
    add(102, "kworker/0:1", 0, 0, "/", 0x00200040); // kernel thread: ignored
    ServiceResolver id(root_.string());
    ProcessHealth h(id, CgroupMounts{}, root_.string());
    refresh(h);
    auto snap = h.snapshot();
    ASSERT_EQ(snap.size(), 1u);
    const auto* web = find(snap, "web.service");
    ASSERT_NE(web, nullptr);
    EXPECT_EQ(web->processes.size(), 2u);
    EXPECT_DOUBLE_EQ(web->cpu_seconds_total, 300 / tick);
    EXPECT_EQ(web->resident_memory_bytes, static_cast<std::uint64_t>(1500 * page));
    // CPU keeps counting a process after it exits (its final time from the exit event).
    remove(101);
    send(h, proc(101, "web", 0, static_cast<std::uint64_t>(1e9)), HS_EV_PROC_EXIT);
    refresh(h);
    web = find(snap = h.snapshot(), "web.service");
    EXPECT_DOUBLE_EQ(web->cpu_seconds_total, 250 / tick + 1.0);
    EXPECT_EQ(web->exits, 1u);
    EXPECT_EQ(web->restarts, 0u); // not the main process
}

TEST_F(ProcessHealthTest, KilledMainProcessFollowedByANewOneIsOneRestart) {
    add(200, "app", 10, 10, "/system.slice/app.service");
    ServiceResolver id(root_.string());
    ProcessHealth h(id, CgroupMounts{}, root_.string());
    refresh(h);
    remove(200);
    send(h, proc(200, "app", 9 /* SIGKILL */), HS_EV_PROC_EXIT);
    add(201, "app", 0, 10, "/system.slice/app.service");
    send(h, proc(201, "app"), HS_EV_PROC_EXEC);
    refresh(h);
    auto snap = h.snapshot();
    const auto* app = find(snap, "app.service");
    ASSERT_NE(app, nullptr);
    EXPECT_EQ(app->restarts, 1u);
    EXPECT_EQ(app->exits_failed, 1u);
    ASSERT_EQ(app->processes.size(), 1u);
    EXPECT_TRUE(app->processes[0].main);
}

TEST_F(ProcessHealthTest, ShortCleanCommandRunAgainIsNoRestart) {
    ServiceResolver id(root_.string());
    ProcessHealth h(id, CgroupMounts{}, root_.string());
    for (std::uint32_t pid : {300u, 301u, 302u}) {
        send(h, proc(pid, "curl"), HS_EV_PROC_EXEC); // gone before /proc was read
        send(h, proc(pid, "curl", 0), HS_EV_PROC_EXIT);
    }
    refresh(h);
    auto snap = h.snapshot();
    const auto* curl = find(snap, "curl");
    ASSERT_NE(curl, nullptr);
    EXPECT_EQ(curl->restarts, 0u);
    EXPECT_EQ(curl->exits, 3u);
}

TEST_F(ProcessHealthTest, CrashLoopCountsEachRestart) {
    ServiceResolver id(root_.string());
    ProcessHealth h(id, CgroupMounts{}, root_.string());
    for (std::uint32_t pid : {400u, 401u, 402u}) {
        send(h, proc(pid, "crashy"), HS_EV_PROC_EXEC);
        send(h, proc(pid, "crashy", 1 << 8 /* exit(1) */), HS_EV_PROC_EXIT);
    }
    refresh(h);
    EXPECT_EQ(find(h.snapshot(), "crashy")->restarts, 2u);
}

TEST_F(ProcessHealthTest, OomAndTcpEventsCountForTheOwnersService) {
    add(500, "db", 1, 1, "/system.slice/db.service");
    ServiceResolver id(root_.string());
    ProcessHealth h(id, CgroupMounts{}, root_.string());
    refresh(h);
    hs_oom_event oom{};
    oom.tgid = 500;
    std::strcpy(oom.comm, "db");
    send(h, oom, HS_EV_OOM_KILL);
    for (std::uint8_t kind : {HS_TCP_RETRANSMIT, HS_TCP_RETRANSMIT, HS_TCP_RESET_SENT, HS_TCP_RESET_RECEIVED,
                              HS_TCP_CONNECT_FAILED}) {
        hs_tcp_event t{};
        t.tgid = 500;
        t.kind = kind;
        send(h, t, HS_EV_TCP);
    }
    hs_tcp_event anon{}; // accepted socket on a port nobody is known to listen on
    anon.kind = HS_TCP_RETRANSMIT;
    anon.local_port = 40000;
    send(h, anon, HS_EV_TCP);
    refresh(h);
    auto snap = h.snapshot();
    const auto* db = find(snap, "db.service");
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->oom_kills, 1u);
    EXPECT_EQ(db->tcp_retransmits, 2u);
    EXPECT_EQ(db->tcp_resets_sent, 1u);
    EXPECT_EQ(db->tcp_resets_received, 1u);
    EXPECT_EQ(db->tcp_connect_failures, 1u);
    ASSERT_NE(find(snap, "unknown"), nullptr); // never "unknown:<ephemeral port>"
    EXPECT_EQ(find(snap, "unknown")->tcp_retransmits, 1u);
}

TEST_F(ProcessHealthTest, ExecIntoAnotherServiceMovesTheProcessWithoutCountingTwice) {
    add(600, "sh", 100, 1, "/");
    ServiceResolver id(root_.string());
    ProcessHealth h(id, CgroupMounts{}, root_.string());
    refresh(h);
    add(600, "worker", 150, 1, "/");
    send(h, proc(600, "worker"), HS_EV_PROC_EXEC);
    refresh(h);
    auto snap = h.snapshot();
    const double tick = ::sysconf(_SC_CLK_TCK);
    EXPECT_DOUBLE_EQ(find(snap, "sh")->cpu_seconds_total, 100 / tick);
    EXPECT_DOUBLE_EQ(find(snap, "worker")->cpu_seconds_total, 50 / tick);
    EXPECT_EQ(find(snap, "sh")->exits, 0u);
}

TEST_F(ProcessHealthTest, UndecodableRecordsAreCountedNotApplied) {
    ServiceResolver id(root_.string());
    ProcessHealth h(id, CgroupMounts{}, root_.string());
    hs_proc_event e = proc(1, "x");
    e.hdr.kind = HS_EV_PROC_EXIT;
    e.hdr.size = 12; // wrong
    e.hdr.abi_version = HS_ABI_VERSION;
    EXPECT_TRUE(h.on_record(std::as_bytes(std::span(&e, 1))));
    EXPECT_EQ(h.malformed(), 1u);
    hs_event_header other{HS_EV_HTTP_EXCHANGE, 16, HS_ABI_VERSION, 0};
    EXPECT_FALSE(h.on_record(std::as_bytes(std::span(&other, 1))));
}

} // namespace
} // namespace homeostat::agent
