// The daemon's own cgroup (agent/self_limits.h) against fake cgroupfs trees: v1 (as on
// this machine), v2 with and without delegated controllers, a systemd unit. The real v1
// hierarchy is exercised by tests/e2e/test_self_limits.py.
#include "agent/self_limits.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/config.h"

namespace homeostat::agent {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
    std::ifstream f(p);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

void put(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
}

class FakeCgroupfs : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("hs-self-limits-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        fs::create_directories(root_ / "memory/test");
        fs::create_directories(root_ / "cpu,cpuacct/test");
        fs::create_directories(root_ / "unified/test");
        put(root_ / "mountinfo",
            "30 25 0:26 / " + (root_ / "memory").string() + " rw,nosuid - cgroup cgroup rw,memory\n" +
                "31 25 0:27 / " + (root_ / "cpu,cpuacct").string() + " rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n" +
                "32 25 0:28 / " + (root_ / "unified").string() + " rw,nosuid - cgroup2 cgroup2 rw\n");
        host_.mountinfo = (root_ / "mountinfo").string();
        host_.proc_cgroup = (root_ / "proc-cgroup").string();
        host_.pid = 4242;
        put(host_.proc_cgroup, "5:memory:/test\n4:cpu,cpuacct:/test\n0::/test\n");
    }
    void TearDown() override { fs::remove_all(root_); }

    fs::path root_;
    SelfLimitsHost host_;
};

TEST_F(FakeCgroupfs, V1ChildPerControllerWithLimitsAndTheDaemonInIt) {
    SelfLimitsConfig c; // defaults: 256 MiB, 50 % of a core
    auto st = apply_self_limits(c, host_);
    EXPECT_EQ(st.mode, "cgroup v1");
    EXPECT_TRUE(st.applied) << st.detail;
    const fs::path mem = root_ / "memory/test/homeostatd.4242.self", cpu = root_ / "cpu,cpuacct/test/homeostatd.4242.self";
    EXPECT_EQ(slurp(mem / "memory.limit_in_bytes"), "268435456");
    EXPECT_EQ(slurp(mem / "cgroup.procs"), "4242");
    EXPECT_EQ(slurp(cpu / "cpu.cfs_period_us"), "100000");
    EXPECT_EQ(slurp(cpu / "cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(slurp(cpu / "cgroup.procs"), "4242");
    EXPECT_EQ(st.memory_max_bytes, 256u << 20);
    EXPECT_DOUBLE_EQ(st.cpu_quota_cores, 0.5);
    EXPECT_NE(st.detail.find("memory.limit_in_bytes 256 MiB"), std::string::npos) << st.detail;
    auto j = st.to_json();
    EXPECT_EQ(j["mode"], "cgroup v1");
    EXPECT_EQ(j["cgroups"].size(), 2u);

    // A command the daemon starts is born in the original cgroups: on v1 the spawning
    // thread steps out (tasks) for the spawn and back in afterwards.
    register_self_limits(st);
    put(root_ / "memory/test/tasks", "");
    put(root_ / "cpu,cpuacct/test/tasks", "");
    const std::string tid = std::to_string(::gettid());
    {
        SelfLimitsSpawn outside;
        EXPECT_EQ(slurp(root_ / "memory/test/tasks"), tid);
        EXPECT_EQ(slurp(root_ / "cpu,cpuacct/test/tasks"), tid);
        outside.spawned(777); // moved with the thread: nothing to do for the child
    }
    EXPECT_EQ(slurp(mem / "tasks"), tid);
    EXPECT_EQ(slurp(cpu / "tasks"), tid);
    EXPECT_EQ(slurp(root_ / "memory/test/cgroup.procs"), "");

    // At exit the daemon goes back too; the directories are removed (here they hold
    // regular files, so rmdir fails and says so; on cgroupfs it succeeds).
    auto left = release_self_limits(st, 4242);
    EXPECT_EQ(slurp(root_ / "memory/test/cgroup.procs"), "4242");
    EXPECT_EQ(left.size(), 2u);
    {
        SelfLimitsSpawn outside; // unregistered by release: a no-op
        outside.spawned(778);
    }
    EXPECT_EQ(slurp(root_ / "memory/test/cgroup.procs"), "4242");
}

TEST_F(FakeCgroupfs, EmptyLeftoversOfKilledDaemonsAreRemovedOthersKept) {
    fs::create_directories(root_ / "memory/test/homeostatd.17.self");   // empty: a killed daemon's
    put(root_ / "memory/test/homeostatd.18.self/cgroup.procs", "18");  // not empty: rmdir fails
    fs::create_directories(root_ / "memory/test/other.self");          // not ours
    auto st = apply_self_limits({}, host_);
    EXPECT_TRUE(st.applied) << st.detail;
    EXPECT_FALSE(fs::exists(root_ / "memory/test/homeostatd.17.self"));
    EXPECT_TRUE(fs::exists(root_ / "memory/test/homeostatd.18.self"));
    EXPECT_TRUE(fs::exists(root_ / "memory/test/other.self"));
    EXPECT_TRUE(is_self_cgroup_name("homeostatd.4242.self"));
    EXPECT_FALSE(is_self_cgroup_name("homeostatd..self"));
    EXPECT_FALSE(is_self_cgroup_name("homeostatd.x.self"));
}

TEST_F(FakeCgroupfs, V2DelegatedControllersGiveMemoryMaxAndCpuMax) {
    put(root_ / "unified/test/cgroup.controllers", "cpuset cpu io memory pids\n");
    put(root_ / "unified/test/cgroup.subtree_control", "cpu memory\n");
    SelfLimitsConfig c;
    c.memory_max_bytes = 128u << 20;
    c.cpu_quota_cores = 1.5;
    auto st = apply_self_limits(c, host_);
    EXPECT_EQ(st.mode, "cgroup v2");
    EXPECT_TRUE(st.applied) << st.detail;
    const fs::path d = root_ / "unified/test/homeostatd.4242.self";
    EXPECT_EQ(slurp(d / "memory.max"), "134217728");
    EXPECT_EQ(slurp(d / "cpu.max"), "150000 100000");
    EXPECT_EQ(slurp(d / "cgroup.procs"), "4242");
    EXPECT_FALSE(fs::exists(root_ / "memory/test/homeostatd.4242.self")); // v1 not touched
    // v2 has no per-thread moves here: the child is moved right after the spawn.
    register_self_limits(st);
    {
        SelfLimitsSpawn outside;
        outside.spawned(779);
    }
    EXPECT_EQ(slurp(root_ / "unified/test/cgroup.procs"), "779");
    release_self_limits(st, 4242);
}

TEST_F(FakeCgroupfs, V2WithoutDelegationIsReportedNotForced) {
    put(root_ / "unified/test/cgroup.controllers", "cpu memory pids\n");
    put(root_ / "unified/test/cgroup.subtree_control", "\n");
    auto st = apply_self_limits({}, host_);
    EXPECT_FALSE(st.applied);
    EXPECT_NE(st.detail.find("cgroup.subtree_control"), std::string::npos) << st.detail;
    EXPECT_FALSE(fs::exists(root_ / "unified/test/homeostatd.4242.self"));
    EXPECT_TRUE(st.created.empty());
}

TEST_F(FakeCgroupfs, SystemdUnitBoundsTheDaemonAndNothingIsCreated) {
    put(host_.proc_cgroup, "0::/system.slice/homeostatd.service\n");
    host_.invocation_id = "0123456789abcdef";
    auto st = apply_self_limits({}, host_);
    EXPECT_EQ(st.mode, "systemd");
    EXPECT_FALSE(st.applied);
    EXPECT_NE(st.detail.find("homeostatd.service"), std::string::npos);
    EXPECT_FALSE(fs::exists(root_ / "unified/system.slice"));
}

TEST_F(FakeCgroupfs, OffAndMissingHierarchiesSaySo) {
    SelfLimitsConfig off;
    off.enabled = false;
    EXPECT_EQ(apply_self_limits(off, host_).mode, "off");
    put(host_.mountinfo, "");
    auto st = apply_self_limits({}, host_);
    EXPECT_FALSE(st.applied);
    EXPECT_EQ(st.mode, "none");
    EXPECT_NE(st.detail.find("no v1 memory hierarchy"), std::string::npos) << st.detail;
}

TEST(SelfLimitsParse, SizesAndQuotas) {
    EXPECT_EQ(parse_byte_size("256MiB").value(), 256u << 20);
    EXPECT_EQ(parse_byte_size("1GiB").value(), 1u << 30);
    EXPECT_EQ(parse_byte_size("64K").value(), 64u << 10);
    EXPECT_EQ(parse_byte_size("1048576").value(), 1u << 20);
    EXPECT_FALSE(parse_byte_size("256MB"));
    EXPECT_FALSE(parse_byte_size("lots"));
    EXPECT_FALSE(parse_byte_size("99999999999999999GiB"));
    EXPECT_DOUBLE_EQ(parse_cpu_quota("50%").value(), 0.5);
    EXPECT_DOUBLE_EQ(parse_cpu_quota("150%").value(), 1.5);
    EXPECT_DOUBLE_EQ(parse_cpu_quota("0.25").value(), 0.25);
    EXPECT_FALSE(parse_cpu_quota("-5%"));
    EXPECT_FALSE(parse_cpu_quota("half"));
}

TEST(SelfLimitsConfigKeys, ParsedAndChecked) {
    auto c = load_config_text("self_limits:\n  memory_max: 96MiB\n  cpu_quota: 25%\n", "f.yaml");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c.value().self_limits.memory_max_bytes, 96u << 20);
    EXPECT_DOUBLE_EQ(c.value().self_limits.cpu_quota_cores, 0.25);
    EXPECT_TRUE(c.value().self_limits.enabled);
    auto off = load_config_text("self_limits:\n  enabled: false\n", "f.yaml");
    ASSERT_TRUE(off);
    EXPECT_FALSE(off.value().self_limits.enabled);
    auto small = load_config_text("self_limits:\n  memory_max: 1MiB\n", "f.yaml");
    ASSERT_FALSE(small);
    EXPECT_NE(small.error().message.find("f.yaml:2:"), std::string::npos) << small.error().message;
    EXPECT_NE(small.error().message.find("at least 32MiB"), std::string::npos);
    auto bad = load_config_text("self_limits:\n  cpu_quota: lots\n", "f.yaml");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("self_limits.cpu_quota"), std::string::npos);
}

} // namespace
} // namespace homeostat::agent
