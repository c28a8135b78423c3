// Failure drills (docs/hardening.md): HOMEOSTAT_TEST_BREAK_BPF=name[,name...] makes the
// kernel refuse the named BPF programs (a program flag no kernel knows: EINVAL from
// bpf(BPF_PROG_LOAD)), so tests reach the real failure paths. Names: "http" (the required HTTP capture) or a
// process-health tracepoint ("mark_victim", "sched_process_exit", ...). Unset: nothing.
#pragma once

#include <cstdlib>
#include <string_view>

namespace homeostat::agent {

// A BPF_F_* program flag bit no kernel defines: the kernel answers EINVAL at load.
inline constexpr unsigned kDrillUnknownProgFlag = 1u << 30;

inline bool drill_breaks_bpf(std::string_view name) {
    const char* env = std::getenv("HOMEOSTAT_TEST_BREAK_BPF");
    if (!env) return false;
    std::string_view list(env);
    while (!list.empty()) {
        const auto comma = list.find(',');
        if (list.substr(0, comma) == name) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

} // namespace homeostat::agent
