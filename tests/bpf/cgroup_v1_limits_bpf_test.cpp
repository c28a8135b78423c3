// cgroup v1 limits read from the real files (root). The test creates memory, cpu and pids
// cgroups beneath its own v1 cgroups (/proc/self/cgroup: the rule for tests), writes
// limits, reads them back through read_cgroup_limits() and removes the cgroups.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/cgroup_limits.h"

namespace homeostat::agent {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

class CgroupV1Limits : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(::geteuid(), 0u) << "this test needs root (it creates cgroups); CI runs it as root";
        mounts_ = CgroupMounts::from_mountinfo();
        own_ = ProcessCgroups::parse(slurp("/proc/self/cgroup"));
        name_ = "hs-limits-" + std::to_string(::getpid()) + ".service";
        for (const char* c : {"memory", "cpu", "pids"}) {
            ASSERT_TRUE(mounts_.v1.contains(c)) << "no v1 " << c << " hierarchy mounted: this host is not hybrid";
            ASSERT_TRUE(own_.v1.contains(c)) << "this process is in no v1 " << c << " cgroup";
            std::string rel = own_.v1.at(c) == "/" ? "/" + name_ : own_.v1.at(c) + "/" + name_;
            fs::path dir = fs::path(mounts_.v1.at(c)) / rel.substr(1);
            ASSERT_TRUE(fs::create_directory(dir)) << dir;
            made_.push_back(dir);
            test_.v1[c] = rel;
        }
        test_.v1["cpuacct"] = test_.v1["cpu"];
    }
    void TearDown() override {
        for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
            std::error_code ec;
            fs::remove(*it, ec); // rmdir: only the empty cgroup itself
            EXPECT_FALSE(ec) << "could not remove " << *it << ": " << ec.message();
        }
    }
    void write(const char* controller, const char* file, const std::string& value) {
        std::ofstream f(fs::path(mounts_.v1.at(controller)) / test_.v1.at(controller).substr(1) / file);
        f << value;
        f.close();
        ASSERT_TRUE(f) << "writing " << value << " to " << file;
    }

    CgroupMounts mounts_;
    ProcessCgroups own_, test_;
    std::string name_;
    std::vector<fs::path> made_;
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
