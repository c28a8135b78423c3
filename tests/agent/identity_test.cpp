// Identity against a fake /proc tree: the same files the kernel would show.
#include "agent/identity.h"
#include "agent/system_checks.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/testing/event_generator.h"

using namespace homeostat::agent;
namespace fs = std::filesystem;

namespace {

TEST(ServiceFromCgroup, SystemdUnit) {
    EXPECT_EQ(service_from_cgroup_path("/system.slice/nginx.service"), "nginx.service");
    EXPECT_EQ(service_from_cgroup_path("/system.slice/nginx.service/worker"), "nginx.service");
}

TEST(ServiceFromCgroup, Containers) {
    const std::string id = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e";
    EXPECT_EQ(service_from_cgroup_path("/system.slice/docker-" + id + ".scope"), "container:3f2a9c1b7d4e");
    EXPECT_EQ(service_from_cgroup_path("/docker/" + id), "container:3f2a9c1b7d4e");
    EXPECT_EQ(service_from_cgroup_path("/kubepods.slice/kubepods-burstable.slice/cri-containerd-" + id + ".scope"),
              "container:3f2a9c1b7d4e");
    EXPECT_EQ(service_from_cgroup_path("/kubepods/burstable/pod1234/" + id), "container:3f2a9c1b7d4e");
}

TEST(ServiceFromCgroup, NothingKnown) {
    EXPECT_EQ(service_from_cgroup_path("/"), "");
    EXPECT_EQ(service_from_cgroup_path(""), "");
    EXPECT_EQ(service_from_cgroup_path("/user.slice/user-0.slice/session-3.scope"), "");
    EXPECT_EQ(service_from_cgroup_path("/user.slice/user-1000.slice/user@1000.service"), "");
    EXPECT_EQ(service_from_cgroup_path("/docker-nothex.scope"), "");
}

class FakeProc : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("homeostat-proc-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        fs::create_directories(root_ / "net");
        // Two listeners: 127.0.0.1:8080 (inode 1001) and [::]:9090 (inode 1002); one
        // established connection (inode 1003) that must be ignored.
        std::ofstream(root_ / "net/tcp")
            << "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            << "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0 100 0 0 10 0\n"
            << "   1: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0 20 4 30 10 -1\n";
        std::ofstream(root_ / "net/tcp6")
            << "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            << "   0: 00000000000000000000000000000000:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0 100 0 0 10 0\n";
    }
    void TearDown() override { fs::remove_all(root_); }

    void process(int pid, const std::string& comm, const std::string& cgroup, std::vector<int> socket_inodes) {
        fs::path p = root_ / std::to_string(pid);
        fs::create_directories(p / "fd");
        std::ofstream(p / "comm") << comm << "\n";
        std::ofstream(p / "cgroup") << cgroup;
        int fd = 3;
        for (int inode : socket_inodes)
            fs::create_symlink("socket:[" + std::to_string(inode) + "]", p / "fd" / std::to_string(fd++));
        fs::create_symlink("/dev/null", p / "fd" / std::to_string(fd++));
    }

    fs::path root_;
};

hs_http_exchange server_exchange(std::uint16_t local_port) {
    hs_http_exchange e{};
    e.hdr.kind = HS_EV_HTTP_EXCHANGE;
    e.role = HS_ROLE_SERVER;
    e.local_port = local_port;
    return e;
}

TEST_F(FakeProc, ServerExchangeBelongsToTheListener) {
    process(100, "nginx", "0::/\n", {1001, 1003});
    ServiceResolver r(root_.string());
    r.scan_listeners();
    EXPECT_EQ(r.listener_count(), 1u);
    bool attributed = false;
    EXPECT_EQ(r.service_for(server_exchange(8080), attributed), "nginx:8080");
    EXPECT_TRUE(attributed);
}

TEST_F(FakeProc, LowestListeningPortNamesTheService) {
    process(200, "api", "0::/\n", {1002, 1001});
    ServiceResolver r(root_.string());
    EXPECT_EQ(r.service_for_pid(200), "api:8080");
}

TEST_F(FakeProc, SystemdUnitWinsOverName) {
    process(300, "nginx", "0::/system.slice/nginx.service\n", {1001});
    ServiceResolver r(root_.string());
    EXPECT_EQ(r.service_for_pid(300), "nginx.service");
}

TEST_F(FakeProc, HybridHostUnitFromTheV1SystemdLine) {
    process(301, "nginx", "1:name=systemd:/system.slice/web.service\n0::/\n", {});
    ServiceResolver r(root_.string());
    EXPECT_EQ(r.service_for_pid(301), "web.service");
}

TEST_F(FakeProc, PureClientIsItsName) {
    process(400, "curl", "0::/\n", {1003});
    ServiceResolver r(root_.string());
    EXPECT_EQ(r.service_for_pid(400), "curl");
}

TEST_F(FakeProc, ListenEventTeachesAPortWithoutProc) {
    process(500, "node", "0::/\n", {});
    ServiceResolver r(root_.string());
    hs_listen_event ev{};
    ev.tgid = 500;
    ev.port = 3000;
    std::memcpy(ev.comm, "node", 4);
    r.on_listen(ev);
    bool attributed = false;
    EXPECT_EQ(r.service_for(server_exchange(3000), attributed), "node");
    EXPECT_TRUE(attributed);
}

TEST_F(FakeProc, UnknownPortKeepsTheDataUnderAFallbackName) {
    ServiceResolver r(root_.string());
    bool attributed = true;
    EXPECT_EQ(r.service_for(server_exchange(4444), attributed), "unknown:4444");
    EXPECT_FALSE(attributed);
}

TEST_F(FakeProc, ClientOfAVanishedProcessUsesTheKernelsComm) {
    ServiceResolver r(root_.string());
    hs_http_exchange e{};
    e.role = HS_ROLE_CLIENT;
    e.flags = HS_XF_OWNER_KNOWN;
    e.tgid = 999;
    std::memcpy(e.comm, "wrk", 3);
    bool attributed = false;
    EXPECT_EQ(r.service_for(e, attributed), "wrk");
    EXPECT_TRUE(attributed);
}

TEST(PrintableName, KeepsUtf8AndReplacesEverythingElse) {
    EXPECT_EQ(printable_name("nginx"), "nginx");
    EXPECT_EQ(printable_name("\xd1\x81\xd0\xb5\xd1\x80\xd0\xb2\xd0\xb5\xd1\x80"), "\xd1\x81\xd0\xb5\xd1\x80\xd0\xb2\xd0\xb5\xd1\x80"); // Cyrillic
    EXPECT_EQ(printable_name("\xf0\x9f\x94\xa5hot"), "\xf0\x9f\x94\xa5hot");                                       // 4 bytes
    EXPECT_EQ(printable_name("\xff" "bad\x01\x7f"), "?bad??");
    EXPECT_EQ(printable_name("cut\xd1"), "cut?");            // a sequence cut by the 16-byte comm
    EXPECT_EQ(printable_name("\xc0\xaf"), "??");             // overlong '/'
    EXPECT_EQ(printable_name("\xed\xa0\x80"), "???");        // a UTF-16 surrogate
    EXPECT_EQ(printable_name("\xf4\x90\x80\x80"), "????");  // beyond U+10FFFF
}

// Found by fuzz_events (docs/hardening.md): a process can name itself anything
// (prctl(PR_SET_NAME)); its raw bytes became the service name, and the JSON of
// /api/v1/anomalies and of every alert payload about it threw on dump().
TEST_F(FakeProc, ServiceNamesFromProcessNamesAreValidUtf8) {
    process(600, "\xff\xfe" "evil\x1b[2J", "0::/\n", {});
    ServiceResolver r(root_.string());
    const std::string from_proc = r.service_for_pid(600);
    EXPECT_EQ(from_proc, "??evil?[2J");
    EXPECT_NO_THROW((void)nlohmann::json(from_proc).dump());

    hs_http_exchange e{}; // a client that exited before we looked: the kernel's comm
    e.role = HS_ROLE_CLIENT;
    e.flags = HS_XF_OWNER_KNOWN;
    e.tgid = 998;
    std::memcpy(e.comm, "py\xc3", 3);
    bool attributed = false;
    const std::string from_event = r.service_for(e, attributed);
    EXPECT_EQ(from_event, "py?");
    EXPECT_NO_THROW((void)nlohmann::json(from_event).dump());

    EXPECT_EQ(service_from_cgroup_path("/system.slice/a\xff" "b.service"), "a?b.service");
}

TEST_F(FakeProc, ClientConnectionOlderThanTheDaemonIsFoundByItsAddresses) {
    process(700, "python3", "0::/\n", {1003}); // holds 127.0.0.1:54321 → 127.0.0.1:8080
    ServiceResolver r(root_.string());
    hs_http_exchange e{};
    e.role = HS_ROLE_CLIENT;
    e.family = 2;
    const std::uint8_t lo[4] = {127, 0, 0, 1};
    std::memcpy(e.local_addr, lo, 4);
    std::memcpy(e.remote_addr, lo, 4);
    e.local_port = 54321;
    e.remote_port = 8080;
    e.sock_cookie = 77;
    bool attributed = false;
    EXPECT_EQ(r.service_for(e, attributed), "python3");
    EXPECT_TRUE(attributed);
    // Cached by cookie: found again without another /proc walk (which is rate-limited).
    fs::remove_all(root_ / "700");
    EXPECT_EQ(r.service_for(e, attributed), "python3");
    // A connection nobody holds keeps a fallback name.
    e.sock_cookie = 78;
    e.local_port = 1;
    EXPECT_EQ(r.service_for(e, attributed), "unknown");
    EXPECT_FALSE(attributed);
}

TEST_F(FakeProc, SweepForgetsExitedProcesses) {
    process(600, "py", "0::/\n", {});
    ServiceResolver r(root_.string());
    EXPECT_EQ(r.service_for_pid(600), "py");
    fs::remove_all(root_ / "600");
    process(600, "other", "0::/\n", {}); // pid reused after the sweep
    EXPECT_EQ(r.service_for_pid(600), "py"); // still cached
    fs::remove_all(root_ / "600");
    r.sweep();
    process(600, "other", "0::/\n", {});
    EXPECT_EQ(r.service_for_pid(600), "other");
}

TEST(Cgroup2Root, FoundInMountinfo) {
    fs::path p = fs::temp_directory_path() / ("homeostat-mountinfo-" + std::to_string(::getpid()));
    std::ofstream(p) << "25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw\n"
                        "33 25 0:28 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro,mode=755\n"
                        "34 33 0:29 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw,nsdelegate\n";
    auto r = find_cgroup2_root(p.string());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r.value(), "/sys/fs/cgroup/unified");
    std::ofstream(p) << "25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw\n";
    auto none = find_cgroup2_root(p.string());
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("mount -t cgroup2"), std::string::npos);
    fs::remove(p);
}

} // namespace

namespace {
TEST(SystemChecks, MissingBtfSaysWhatTheKernelNeeds) {
    auto r = homeostat::agent::check_btf("/nonexistent/btf/vmlinux");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("CONFIG_DEBUG_INFO_BTF=y"), std::string::npos) << r.error().message;
    EXPECT_TRUE(homeostat::agent::check_btf("/sys/kernel/btf/vmlinux").ok() ||
                !std::filesystem::exists("/sys/kernel/btf/vmlinux"));
}
} // namespace

namespace {
// A cgroup id is its cgroup2 directory's inode: a fake tree stands in for cgroupfs.
TEST(CgroupIdentity, UnitAndContainerComeFromTheSocketsCgroup) {
    fs::path root = fs::temp_directory_path() / ("homeostat-cg-" + std::to_string(::getpid()));
    const std::string id = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e";
    fs::create_directories(root / "system.slice/nginx.service");
    fs::create_directories(root / ("system.slice/docker-" + id + ".scope"));
    fs::create_directories(root / "user.slice/session-1.scope");
    auto ino = [&](const fs::path& p) { struct stat st; ::stat(p.c_str(), &st); return static_cast<std::uint64_t>(st.st_ino); };

    ServiceResolver r("/nonexistent-proc", root.string());
    hs_http_exchange e{};
    e.role = HS_ROLE_SERVER;
    e.local_port = 80;
    bool attributed = false;
    e.cgroup_id = ino(root / "system.slice/nginx.service");
    EXPECT_EQ(r.service_for(e, attributed), "nginx.service");
    EXPECT_TRUE(attributed);
    e.cgroup_id = ino(root / ("system.slice/docker-" + id + ".scope"));
    EXPECT_EQ(r.service_for(e, attributed), "container:3f2a9c1b7d4e");
    // Neither a unit nor a container: falls back to the listener (none here).
    e.cgroup_id = ino(root / "user.slice/session-1.scope");
    EXPECT_EQ(r.service_for(e, attributed), "unknown:80");
    EXPECT_FALSE(attributed);
    EXPECT_EQ(r.service_for_cgroup(ino(root)), nullptr);
    fs::remove_all(root);
}
} // namespace
