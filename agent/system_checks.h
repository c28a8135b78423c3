// Start-up checks that turn "the kernel said EPERM" into "here is what to do".
#pragma once

#include <string>
#include <vector>

#include "agent/result.h"

namespace homeostat::agent {

// Root, or the capabilities capture needs (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN).
Result<void> check_privileges();

// Kernel BTF (CO-RE relocations and tp_btf need it).
Result<void> check_btf(const std::string& path = "/sys/kernel/btf/vmlinux");

// Mounts tracefs at /sys/kernel/tracing if nothing is mounted there. Returns a warning
// message (empty if fine): classic tracepoints need it, the current capture does not.
std::string ensure_tracefs();

// Empty when bpffs is mounted at /sys/fs/bpf; else a note that the daemon needs none and
// how to mount it for inspection (bpftool).
std::string bpffs_note();

// The mount point of the cgroup v2 hierarchy: "/sys/fs/cgroup" on unified hosts,
// "/sys/fs/cgroup/unified" on hybrid ones.
Result<std::string> find_cgroup2_root(const std::string& mountinfo = "/proc/self/mountinfo");

} // namespace homeostat::agent
