#include "agent/system_checks.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace homeostat::agent {

Result<void> check_privileges() {
    if (::geteuid() == 0) return {};
    std::ifstream f("/proc/self/status");
    std::string line;
    unsigned long long eff = 0;
    while (std::getline(f, line))
        if (line.rfind("CapEff:", 0) == 0) eff = std::stoull(line.substr(7), nullptr, 16);
    constexpr int CAP_NET_ADMIN = 12, CAP_PERFMON = 38, CAP_BPF = 39;
    std::string missing;
    for (auto [bit, name] : {std::pair{CAP_BPF, "CAP_BPF"}, {CAP_PERFMON, "CAP_PERFMON"}, {CAP_NET_ADMIN, "CAP_NET_ADMIN"}})
        if (!(eff & (1ULL << bit))) missing += std::string(missing.empty() ? "" : ", ") + name;
    if (missing.empty()) return {};
    return Error{"homeostatd must run as root (or with " + missing +
                 "): it loads eBPF programs into the kernel. Try: sudo homeostatd", EPERM};
}

Result<void> check_btf(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return {};
    return Error{"kernel BTF not found at " + path +
                 ": homeostat needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian, Ubuntu, "
                 "Fedora and RHEL kernels have it since 2020-2021)", errno};
}

std::string ensure_tracefs() {
    constexpr const char* dir = "/sys/kernel/tracing";
    constexpr long TRACEFS_MAGIC = 0x74726163;
    struct statfs sf;
    if (::statfs(dir, &sf) == 0 && sf.f_type == TRACEFS_MAGIC) return {};
    if (::mount("tracefs", dir, "tracefs", 0, nullptr) == 0) return {};
    return std::string("could not mount tracefs at ") + dir + ": " + std::strerror(errno) +
           " (classic tracepoints will be unavailable; mount it with: mount -t tracefs tracefs " + dir + ")";
}

std::string bpffs_note() {
    constexpr const char* dir = "/sys/fs/bpf";
    constexpr long BPF_FS_MAGIC = 0xcafe4a11;
    struct statfs sf;
    if (::statfs(dir, &sf) == 0 && sf.f_type == BPF_FS_MAGIC) return {};
    return std::string("bpffs is not mounted at ") + dir +
           ": homeostat pins nothing and needs none (for bpftool's view of pinned objects: "
           "mount -t bpf bpf " + dir + ")";
}

Result<std::string> find_cgroup2_root(const std::string& mountinfo) {
    std::ifstream f(mountinfo);
    if (!f) return Error{"cannot read " + mountinfo + ": " + std::strerror(errno), errno};
    std::string line;
    while (std::getline(f, line)) {
        // id parent major:minor root mount-point options [optional fields] - fstype source super
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream tail(line.substr(dash + 3));
        std::string fstype;
        tail >> fstype;
        if (fstype != "cgroup2") continue;
        std::istringstream head(line.substr(0, dash));
        std::string id, parent, dev, root, mount_point;
        head >> id >> parent >> dev >> root >> mount_point;
        if (root == "/") return mount_point;
    }
    return Error{"no cgroup v2 hierarchy is mounted: HTTP capture attaches to its root. Mount one, "
                 "e.g.: mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified",
                 ENOENT};
}

} // namespace homeostat::agent
