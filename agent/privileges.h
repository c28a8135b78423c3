// Least privilege (docs/hardening.md): once its programs are loaded and attached and its
// sockets are bound, homeostatd needs only a few capabilities; it drops the rest from
// all of its sets (bounding, permitted, effective, inheritable, ambient), so neither it
// nor a command it runs (reload, systemctl) can get them back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/result.h"

namespace homeostat::agent {

struct Config;

struct KeptCapability {
    int bit;            // CAP_* number
    std::string name;   // "CAP_SYS_PTRACE"
    std::string why;    // for the log and the docs
};

// What the running daemon still uses under `cfg`, decided from what it does after start
// (no BPF program is loaded or attached later: Capture and ProcCapture attach once, to
// the cgroup v2 root and to tracepoints; reading maps and ring buffers through their fds
// needs no capability).
std::vector<KeptCapability> capabilities_needed(const Config& cfg);

// The bit mask of `caps`.
std::uint64_t capability_mask(const std::vector<KeptCapability>& caps);

// Drops every capability outside `keep` from the bounding set (needs CAP_SETPCAP, which
// is dropped with the rest), clears the ambient and inheritable sets and lowers the
// permitted and effective sets to `keep` (intersected with what the process has).
Result<void> drop_capabilities(const std::vector<KeptCapability>& keep);

// The CapEff/CapPrm/CapBnd masks of this process, from /proc/self/status.
struct CapabilitySets {
    std::uint64_t effective = 0, permitted = 0, bounding = 0, inheritable = 0, ambient = 0;
};
CapabilitySets current_capabilities(const std::string& status_path = "/proc/self/status");

// "CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE" (known names; others as "cap_41").
std::string capability_names(std::uint64_t mask);

} // namespace homeostat::agent
