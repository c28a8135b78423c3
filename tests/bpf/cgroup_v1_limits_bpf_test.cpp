// cgroup v1 limits read from the real files (root). The test creates memory, cpu and pids
// cgroups beneath its own v1 cgroups (/proc/self/cgroup: the rule for tests), writes
// limits, reads them back through read_cgroup_limits() and removes the cgroups.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/cgroup_limits.h"
#include "tests/bpf/child_cgroups.h"

namespace homeostat::agent {
namespace {

namespace fs = std::filesystem;

class CgroupV1Limits : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(::geteuid(), 0u) << "this test needs root (it creates cgroups); CI runs it as root";
        ASSERT_TRUE(
            cg_.create("hs-limits-" + std::to_string(::getpid()) + ".service", {"memory", "cpu", "pids"}));
        test_ = cg_.child;
        test_.v1["cpuacct"] = test_.v1["cpu"];
    }
    void TearDown() override { EXPECT_TRUE(cg_.remove()); }
    void write(const char* controller, const char* file, const std::string& value) {
        std::ofstream f(fs::path(cg_.dir(controller)) / file);
        f << value;
        f.close();
        ASSERT_TRUE(f) << "writing " << value << " to " << file;
    }

    testing::ChildCgroups cg_;
    ProcessCgroups test_;
    const CgroupMounts& mounts_ = cg_.mounts;
};

TEST_F(CgroupV1Limits, LimitsAndUsageFromTheRealFiles) {
    write("memory", "memory.limit_in_bytes", std::to_string(96u << 20));
    write("cpu", "cpu.cfs_period_us", "100000");
    write("cpu", "cpu.cfs_quota_us", "25000");
    write("pids", "pids.max", "42");
    auto l = read_cgroup_limits(mounts_, test_);
    EXPECT_EQ(l.source, "v1"); // the v2 hierarchy here has no controllers
    EXPECT_EQ(l.memory_path, test_.v1.at("memory"));
    ASSERT_TRUE(l.memory_limit_bytes);
    EXPECT_EQ(*l.memory_limit_bytes, 96u << 20);
    ASSERT_TRUE(l.memory_usage_bytes); // 0 for an empty cgroup, but the file is read
    ASSERT_TRUE(l.cpu_quota_cores);
    EXPECT_DOUBLE_EQ(*l.cpu_quota_cores, 0.25);
    EXPECT_EQ(l.pids_max.value_or(0), 42u);
    EXPECT_EQ(l.pids_current.value_or(99), 0u);
}

TEST_F(CgroupV1Limits, DefaultsMeanUnlimited) {
    auto l = read_cgroup_limits(mounts_, test_);
    EXPECT_FALSE(l.memory_limit_bytes) << "v1's 'unlimited' (PAGE_COUNTER_MAX) is no limit";
    EXPECT_FALSE(l.cpu_quota_cores) << "cfs_quota_us -1 is no quota";
    EXPECT_FALSE(l.pids_max) << "pids.max 'max' is no limit";
}

} // namespace
} // namespace homeostat::agent
