// Cgroups a kernel test creates beneath its own v1 cgroups (/proc/self/cgroup: the rule
// for tests, never elsewhere), removed (rmdir) by remove() or at destruction.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/cgroup_limits.h"

namespace homeostat::agent::testing {

inline std::string slurp(const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

class ChildCgroups {
public:
    ChildCgroups()
        : mounts(CgroupMounts::from_mountinfo()), own(ProcessCgroups::parse(slurp("/proc/self/cgroup"))) {}
    ~ChildCgroups() { remove(); }

    // mkdir <controller mount>/<own path>/<name> for each controller; child.v1 gets the paths.
    ::testing::AssertionResult create(const std::string& name, const std::vector<std::string>& controllers) {
        for (const auto& c : controllers) {
            if (!mounts.v1.contains(c))
                return ::testing::AssertionFailure()
                       << "no v1 " << c << " hierarchy mounted: this host is not hybrid";
            if (!own.v1.contains(c))
                return ::testing::AssertionFailure() << "this process is in no v1 " << c << " cgroup";
            std::string rel = own.v1.at(c) == "/" ? "/" + name : own.v1.at(c) + "/" + name;
            std::filesystem::path d = std::filesystem::path(mounts.v1.at(c)) / rel.substr(1);
            std::error_code ec;
            if (!std::filesystem::create_directory(d, ec))
                return ::testing::AssertionFailure() << "cannot create " << d << ": " << ec.message();
            made_.push_back(d);
            child.v1[c] = rel;
        }
        return ::testing::AssertionSuccess();
    }
    std::string dir(const std::string& controller) const {
        return cgroup_dir(mounts.v1.at(controller), child.v1.at(controller));
    }

    // rmdir, newest first: only the (empty) cgroups this test made.
    ::testing::AssertionResult remove() {
        std::string failed;
        for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
            std::error_code ec;
            std::filesystem::remove(*it, ec);
            if (ec) failed += " " + it->string() + ": " + ec.message();
        }
        made_.clear();
        if (!failed.empty()) return ::testing::AssertionFailure() << "could not remove" << failed;
        return ::testing::AssertionSuccess();
    }

    CgroupMounts mounts;
    ProcessCgroups own, child;

private:
    std::vector<std::filesystem::path> made_;
};

} // namespace homeostat::agent::testing
