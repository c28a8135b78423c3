// Kernel test (root): loads bpf/proc.bpf.c, starts real child processes and checks every
// field of the exec, fork and exit events they cause. Other processes on the host are
// filtered out by pid.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/cgroup_limits.h"
#include "agent/proc_capture.h"
#include "events.hpp"

using namespace homeostat;

namespace {

std::vector<hs_proc_event> g_events;

class ProcCaptureTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ASSERT_EQ(::geteuid(), 0u) << "this kernel test must run as root (it loads BPF programs); "
                                      "CI runs as root, so a failure here is a real failure";
        auto c = agent::ProcCapture::open([](std::span<const std::byte> b) {
            hs_event_header h{};
            std::memcpy(&h, b.data(), sizeof h);
            if (auto e = homeostat::abi::decode<hs_proc_event>(b, h.kind)) g_events.push_back(*e);
        });
        ASSERT_TRUE(c.ok()) << c.error().describe();
        EXPECT_EQ(c.value()->missing(), std::vector<std::string>{}) << "this kernel has every hook";
        capture_ = c.value().release();
    }
    static void TearDownTestSuite() {
        delete capture_;
        capture_ = nullptr;
    }
    void SetUp() override {
        ASSERT_NE(capture_, nullptr);
        capture_->consume();
        g_events.clear();
    }
    // Events of one pid, after draining.
    std::vector<hs_proc_event> events_of(pid_t pid) {
        capture_->consume();
        std::vector<hs_proc_event> out;
        for (const auto& e : g_events)
            if (e.tgid == static_cast<std::uint32_t>(pid)) out.push_back(e);
        return out;
    }
    // The cgroup v2 id of this process: the inode of its cgroup directory.
    static std::uint64_t own_cgroup2_id() {
        auto m = agent::CgroupMounts::from_mountinfo();
        std::ifstream f("/proc/self/cgroup");
        std::string text((std::istreambuf_iterator<char>(f)), {});
        auto cg = agent::ProcessCgroups::parse(text);
        struct stat st;
        std::string dir = m.v2 + (cg.v2 == "/" ? "" : cg.v2);
        return ::stat(dir.c_str(), &st) == 0 ? st.st_ino : 0;
    }
    static agent::ProcCapture* capture_;
};
agent::ProcCapture* ProcCaptureTest::capture_ = nullptr;

TEST_F(ProcCaptureTest, ForkExecExitWithCodeAndCpu) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // Burn ~200 ms of CPU, then exec a shell that exits with 3.
        timespec t0, t;
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        do ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 200000000L);
        ::execl("/bin/sh", "sh", "-c", "exit 3", nullptr);
        ::_exit(127);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 3);
    auto ev = events_of(child);
    ASSERT_EQ(ev.size(), 3u) << "fork, exec, exit";
    const std::uint64_t cg = own_cgroup2_id();
    ASSERT_NE(cg, 0u);
    EXPECT_EQ(ev[0].hdr.kind, HS_EV_PROC_FORK);
    EXPECT_EQ(ev[1].hdr.kind, HS_EV_PROC_EXEC);
    EXPECT_EQ(ev[2].hdr.kind, HS_EV_PROC_EXIT);
    for (const auto& e : ev) {
        EXPECT_EQ(e.hdr.size, sizeof(hs_proc_event));
        EXPECT_EQ(e.hdr.abi_version, static_cast<std::uint32_t>(HS_ABI_VERSION));
        EXPECT_GT(e.hdr.ktime_ns, 0u);
        EXPECT_EQ(e.ppid, static_cast<std::uint32_t>(::getpid()));
        EXPECT_EQ(e.cgroup_id, cg);
        EXPECT_EQ(e._pad0, 0u);
    }
    EXPECT_LE(ev[0].hdr.ktime_ns, ev[1].hdr.ktime_ns);
    EXPECT_LE(ev[1].hdr.ktime_ns, ev[2].hdr.ktime_ns);
    EXPECT_EQ(ev[0].cpu_ns, 0u);
    EXPECT_EQ(ev[0].exit_code, 0u);
    EXPECT_EQ(homeostat::abi::field_str(ev[1].comm, sizeof ev[1].comm), "sh");
    EXPECT_EQ(homeostat::abi::field_str(ev[2].comm, sizeof ev[2].comm), "sh");
    EXPECT_EQ(ev[2].exit_code, 3u << 8) << "wait(2) status of exit(3)";
    EXPECT_GE(ev[2].cpu_ns, 200000000u) << "the child burnt 200 ms before exec";
    EXPECT_LT(ev[2].cpu_ns, 2000000000u);
}

TEST_F(ProcCaptureTest, KilledBySignal) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::pause();
        ::_exit(0);
    }
    ::usleep(50000);
    ASSERT_EQ(::kill(child, SIGTERM), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status));
    auto ev = events_of(child);
    ASSERT_EQ(ev.size(), 2u) << "fork, exit";
    EXPECT_EQ(ev[1].hdr.kind, HS_EV_PROC_EXIT);
    EXPECT_EQ(ev[1].exit_code & 0x7f, static_cast<std::uint32_t>(SIGTERM));
    EXPECT_EQ(ev[1].exit_code >> 8, 0u);
}

TEST_F(ProcCaptureTest, ThreadsAreNeitherForksNorExits) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // Two threads start and end inside the child: still one process, one exit.
        std::thread a([] { ::usleep(10000); }), b([] { ::usleep(20000); });
        a.join();
        b.join();
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    auto ev = events_of(child);
    ASSERT_EQ(ev.size(), 2u) << "fork, exit: no event for the threads";
    EXPECT_EQ(ev[0].hdr.kind, HS_EV_PROC_FORK);
    EXPECT_EQ(ev[1].hdr.kind, HS_EV_PROC_EXIT);
    EXPECT_EQ(ev[1].exit_code, 0u);
}

} // namespace
