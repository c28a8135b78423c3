#include "agent/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "agent/config.h"

namespace homeostat::agent {
namespace {

constexpr int kMaxCap = 63;

const char* cap_name(int bit) {
    static const char* names[] = {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
    return bit >= 0 && bit < static_cast<int>(sizeof names / sizeof *names) ? names[bit] : nullptr;
}

int last_cap() {
    std::ifstream f("/proc/sys/kernel/cap_last_cap");
    int n = -1;
    if (f >> n && n >= 0 && n <= kMaxCap) return n;
    return CAP_LAST_CAP;
}

} // namespace

std::vector<KeptCapability> capabilities_needed(const Config& cfg) {
    std::vector<KeptCapability> out = {
        // ServiceResolver and ProcessHealth read /proc/<pid>/fd (mode 0500, the process's
        // user), resolve its socket links and read /proc/<pid>/io for every process, all
        // the time: a listening port finds its service this way.
        {CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", "list /proc/<pid>/fd of every user's processes"},
        {CAP_SYS_PTRACE, "CAP_SYS_PTRACE", "read /proc/<pid>/fd links and /proc/<pid>/io of every user's processes"},
    };
    // Healing that acts (not dry-run) and may send a signal: a restart by signal or a
    // config-file reload by signal, to processes of other users. Writing root-owned
    // cgroup and config files, running commands and systemctl need no capability.
    const auto& h = cfg.healing;
    const auto& g = h.policy.guardrails;
    bool signals = false;
    for (const auto& r : h.actuators.restarts)
        if (r.method == actuators::RestartMethod::signal) signals = true; // a rule may enable restarts
    for (const auto& f : h.actuators.files)
        if (f.reload_signal != 0) signals = true;
    if (cfg.detection_enabled && h.policy.enabled && !g.dry_run && signals)
        out.push_back({CAP_KILL, "CAP_KILL", "healing: restart or reload by signal, processes of other users"});
    return out;
}

std::uint64_t capability_mask(const std::vector<KeptCapability>& caps) {
    std::uint64_t m = 0;
    for (const auto& c : caps) m |= 1ull << c.bit;
    return m;
}

Result<void> drop_capabilities(const std::vector<KeptCapability>& keep) {
    const std::uint64_t want = capability_mask(keep);
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return Error{"clearing the ambient capabilities", errno};
    // The bounding set first: PR_CAPBSET_DROP needs CAP_SETPCAP, which goes below.
    for (int bit = 0; bit <= last_cap(); ++bit) {
        if (want & (1ull << bit)) continue;
        if (::prctl(PR_CAPBSET_READ, bit, 0, 0, 0) != 1) continue;
        if (::prctl(PR_CAPBSET_DROP, bit, 0, 0, 0) != 0)
            return Error{std::string("dropping ") + (cap_name(bit) ? cap_name(bit) : "a capability") +
                             " from the bounding set (needs CAP_SETPCAP; in a systemd unit add it to "
                             "CapabilityBoundingSet=, the daemon drops it itself)",
                         errno};
    }
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &hdr, data) != 0) return Error{"reading the capability sets (capget)", errno};
    const std::uint64_t have = data[0].permitted | (std::uint64_t{data[1].permitted} << 32);
    const std::uint64_t next = have & want;
    for (int i = 0; i < 2; ++i) {
        data[i].effective = data[i].permitted = static_cast<std::uint32_t>(next >> (32 * i));
        data[i].inheritable = 0;
    }
    if (::syscall(SYS_capset, &hdr, data) != 0) return Error{"lowering the capability sets (capset)", errno};
    return {};
}

CapabilitySets current_capabilities(const std::string& status_path) {
    CapabilitySets s;
    std::ifstream f(status_path);
    std::string line;
    auto field = [&](const char* key, std::uint64_t& out) {
        if (line.rfind(key, 0) == 0) out = std::stoull(line.substr(std::string(key).size()), nullptr, 16);
    };
    while (std::getline(f, line)) {
        field("CapInh:", s.inheritable);
        field("CapPrm:", s.permitted);
        field("CapEff:", s.effective);
        field("CapBnd:", s.bounding);
        field("CapAmb:", s.ambient);
    }
    return s;
}

std::string capability_names(std::uint64_t mask) {
    std::string out;
    for (int bit = 0; bit <= kMaxCap; ++bit) {
        if (!(mask & (1ull << bit))) continue;
        const char* n = cap_name(bit);
        out += (out.empty() ? "" : ", ") + (n ? std::string(n) : "cap_" + std::to_string(bit));
    }
    return out.empty() ? "none" : out;
}

} // namespace homeostat::agent
