// Reads a service's cgroup limits and usage, cgroup v1 and v2 file names alike, and PSI.
// All roots are injectable: unit tests point them at fixture trees that mimic cgroupfs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "exporters/service_health.h"

namespace homeostat::agent {

struct CgroupMounts {
    std::string v2;                          // "" if no cgroup2 mount
    std::map<std::string, std::string> v1;   // controller ("memory", "cpu", "pids") → mount dir

    // From /proc/self/mountinfo: cgroup2 and the v1 hierarchies with their controllers.
    static CgroupMounts from_mountinfo(const std::string& mountinfo = "/proc/self/mountinfo");
};

// A process's memberships, parsed from /proc/<pid>/cgroup.
struct ProcessCgroups {
    std::string v2;                        // path of "0::" line; "" if none
    std::map<std::string, std::string> v1; // controller → path

    static ProcessCgroups parse(std::string_view proc_pid_cgroup);
};

// The directory of cgroup path `rel` ("/a/b", from /proc/<pid>/cgroup) under mount `root`.
std::string cgroup_dir(const std::string& root, const std::string& rel);

// Parses a PSI file ("some avg10=1.00 avg60=... total=...\nfull ..."); nullopt if absent.
std::optional<exporters::Pressure> read_pressure(const std::string& path);

// Limits and usage: v2 files where the v2 cgroup has them (controllers enabled), else the
// v1 controller hierarchies. PSI from the v2 cgroup.
exporters::CgroupLimits read_cgroup_limits(const CgroupMounts& mounts, const ProcessCgroups& cg);

// Path (relative to root) of the cgroup directory whose inode is `id`, or "" if none.
std::string find_cgroup_by_id(const std::string& root, std::uint64_t id);

} // namespace homeostat::agent
