// cgroup v2 parsing against a fixture tree that mimics cgroupfs (tests/agent/fixtures/
// cgroup2); v1 is tested against the real hierarchy in tests/bpf/cgroup_v1_limits_bpf_test.
#include "agent/cgroup_limits.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace homeostat::agent {
namespace {

const std::string kFixture = std::string(HOMEOSTAT_SOURCE_DIR) + "/tests/agent/fixtures/cgroup2";

TEST(CgroupLimits, V2FilesGiveLimitsUsageAndPressure) {
    CgroupMounts m{.v2 = kFixture, .v1 = {}};
    auto l = read_cgroup_limits(m, ProcessCgroups::parse("0::/system.slice/web.service\n"));
    EXPECT_EQ(l.source, "v2");
    EXPECT_EQ(l.v2_path, "/system.slice/web.service");
    ASSERT_TRUE(l.memory_limit_bytes);
    EXPECT_EQ(*l.memory_limit_bytes, 512u << 20);
    EXPECT_FALSE(l.memory_high_bytes); // "max"
    EXPECT_EQ(l.memory_usage_bytes.value_or(0), 483183820u);
    ASSERT_TRUE(l.cpu_quota_cores);
    EXPECT_DOUBLE_EQ(*l.cpu_quota_cores, 1.5);
    EXPECT_EQ(l.pids_max.value_or(0), 128u);
    EXPECT_EQ(l.pids_current.value_or(0), 17u);
    ASSERT_TRUE(l.memory_pressure);
    EXPECT_DOUBLE_EQ(l.memory_pressure->some_avg10, 0.125);
    EXPECT_DOUBLE_EQ(l.memory_pressure->full_avg10, 0.02);
    ASSERT_TRUE(l.cpu_pressure);
    EXPECT_DOUBLE_EQ(l.cpu_pressure->some_avg10, 0.95);
    EXPECT_EQ(l.cpu_pressure->some_total_us, 9999u);
    ASSERT_EQ(l.dirs.size(), 1u); // no v1 hierarchies in this layout
    EXPECT_EQ(l.dirs.at("v2"), std::string(kFixture) + "/system.slice/web.service");
}

TEST(CgroupLimits, DirectoriesOfEachHierarchyForActuators) {
    CgroupMounts m{.v2 = "/sys/fs/cgroup/unified", .v1 = {{"cpu", "/sys/fs/cgroup/cpu,cpuacct"},
                                                          {"memory", "/sys/fs/cgroup/memory"}}};
    auto l = read_cgroup_limits(m, ProcessCgroups::parse("4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/d\n"));
    EXPECT_EQ(l.dirs.at("v2"), "/sys/fs/cgroup/unified/d");
    EXPECT_EQ(l.dirs.at("cpu"), "/sys/fs/cgroup/cpu,cpuacct/c");
    EXPECT_EQ(l.dirs.at("memory"), "/sys/fs/cgroup/memory/a/b");
    EXPECT_FALSE(l.dirs.count("pids")); // no pids hierarchy
}

TEST(CgroupLimits, V2MaxMeansNoLimit) {
    CgroupMounts m{.v2 = kFixture, .v1 = {}};
    auto l = read_cgroup_limits(m, ProcessCgroups::parse("0::/system.slice/db.service\n"));
    EXPECT_FALSE(l.memory_limit_bytes);
    EXPECT_EQ(l.memory_high_bytes.value_or(0), 1u << 30);
    EXPECT_FALSE(l.cpu_quota_cores);
    EXPECT_FALSE(l.pids_max);
    EXPECT_FALSE(l.cpu_pressure); // file absent
}

// A v1 memory cgroup (a directory that mimics it): the soft limit is the memory_high
// that healing raises and lowers, so the planner must see it.
TEST(CgroupLimits, V1SoftLimitIsMemoryHigh) {
    const auto root = std::filesystem::temp_directory_path() / ("cgv1_" + std::to_string(::getpid()));
    std::filesystem::create_directories(root / "a");
    std::ofstream(root / "a/memory.limit_in_bytes") << (256u << 20) << "\n";
    std::ofstream(root / "a/memory.soft_limit_in_bytes") << (192u << 20) << "\n";
    std::ofstream(root / "a/memory.usage_in_bytes") << (100u << 20) << "\n";
    CgroupMounts m{.v2 = "", .v1 = {{"memory", root.string()}}};
    auto l = read_cgroup_limits(m, ProcessCgroups::parse("4:memory:/a\n"));
    EXPECT_EQ(l.memory_limit_bytes.value_or(0), 256u << 20);
    EXPECT_EQ(l.memory_high_bytes.value_or(0), 192u << 20);
    EXPECT_EQ(l.memory_usage_bytes.value_or(0), 100u << 20);
    std::ofstream(root / "a/memory.soft_limit_in_bytes") << "9223372036854771712\n"; // none set
    EXPECT_FALSE(read_cgroup_limits(m, ProcessCgroups::parse("4:memory:/a\n")).memory_high_bytes);
    std::filesystem::remove_all(root);
}

// The CPU weight on the v2 scale: v2 cpu.weight as is, v1 cpu.shares × 100 ÷ 1024; the
// v2 file wins where the v2 cgroup has the cpu controller.
TEST(CgroupLimits, CpuWeightFromV2WeightOrV1Shares) {
    const auto root = std::filesystem::temp_directory_path() / ("cgw_" + std::to_string(::getpid()));
    std::filesystem::create_directories(root / "cpu/a");
    std::filesystem::create_directories(root / "v2/b");
    std::ofstream(root / "cpu/a/cpu.shares") << "512\n";
    CgroupMounts m{.v2 = (root / "v2").string(), .v1 = {{"cpu", (root / "cpu").string()}}};
    auto l = read_cgroup_limits(m, ProcessCgroups::parse("2:cpu,cpuacct:/a\n0::/b\n"));
    EXPECT_DOUBLE_EQ(l.cpu_weight.value_or(0), 50);
    std::ofstream(root / "v2/b/cpu.weight") << "300\n";
    l = read_cgroup_limits(m, ProcessCgroups::parse("2:cpu,cpuacct:/a\n0::/b\n"));
    EXPECT_DOUBLE_EQ(l.cpu_weight.value_or(0), 300);
    EXPECT_FALSE(read_cgroup_limits(m, ProcessCgroups::parse("0::/none\n")).cpu_weight);
    std::filesystem::remove_all(root);
}

TEST(CgroupLimits, MissingCgroupGivesNothing) {
    CgroupMounts m{.v2 = kFixture, .v1 = {}};
    auto l = read_cgroup_limits(m, ProcessCgroups::parse("0::/no/such.service\n"));
    EXPECT_EQ(l.source, "");
    EXPECT_FALSE(l.memory_limit_bytes);
    EXPECT_FALSE(l.cpu_quota_cores);
}

TEST(CgroupLimits, ParsesHybridMembership) {
    auto cg = ProcessCgroups::parse("9:name=systemd:/\n4:memory:/a/b\n2:cpu,cpuacct:/c\n8:pids:/\n0::/x.service\n");
    EXPECT_EQ(cg.v2, "/x.service");
    EXPECT_EQ(cg.v1.at("memory"), "/a/b");
    EXPECT_EQ(cg.v1.at("cpu"), "/c");
    EXPECT_EQ(cg.v1.at("cpuacct"), "/c");
    EXPECT_EQ(cg.v1.at("pids"), "/");
}

TEST(CgroupLimits, MountsFromMountinfo) {
    auto file = std::filesystem::temp_directory_path() / ("mountinfo_" + std::to_string(::getpid()));
    std::ofstream(file)
        << "30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
           "31 25 0:27 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n"
           "32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct\n"
           "33 25 0:29 /sub /mnt/pids rw shared:13 - cgroup cgroup rw,pids\n";
    auto m = CgroupMounts::from_mountinfo(file);
    std::filesystem::remove(file);
    EXPECT_EQ(m.v2, "/sys/fs/cgroup/unified");
    EXPECT_EQ(m.v1.at("memory"), "/sys/fs/cgroup/memory");
    EXPECT_EQ(m.v1.at("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_FALSE(m.v1.contains("pids")); // a bind mount of a sub-tree is not the root
}

TEST(CgroupLimits, HostPressureWithoutFullLine) {
    auto file = std::filesystem::temp_directory_path() / ("psi_" + std::to_string(::getpid()));
    std::ofstream(file) << "some avg10=0.50 avg60=0.25 avg300=0.00 total=42\n";
    auto p = read_pressure(file);
    std::filesystem::remove(file);
    ASSERT_TRUE(p);
    EXPECT_DOUBLE_EQ(p->some_avg10, 0.005);
    EXPECT_FALSE(p->has_full);
    EXPECT_FALSE(read_pressure("/nonexistent/psi"));
}

TEST(CgroupLimits, FindsCgroupByInode) {
    struct stat st;
    ASSERT_EQ(::stat((kFixture + "/system.slice/web.service").c_str(), &st), 0);
    EXPECT_EQ(find_cgroup_by_id(kFixture, st.st_ino), "/system.slice/web.service");
    EXPECT_EQ(find_cgroup_by_id(kFixture, 1), "");
}

} // namespace
} // namespace homeostat::agent
