// What the agent knows about itself at scrape time: plain data, filled by the agent and
// rendered by the exporters next to the engine's Snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace homeostat::exporters {

struct AgentStats {
    std::string version;      // e.g. "0.1.0"
    std::string git_rev;      // short commit, or "unknown"
    unsigned abi_version = 0; // HS_ABI_VERSION the agent was built against

    // Cumulative since start. Kinds and reasons are label values (abi::stat_name() names
    // for the kernel-side counters); duplicates are summed by the renderer.
    std::vector<std::pair<std::string, std::uint64_t>> events_by_kind;
    std::vector<std::pair<std::string, std::uint64_t>> dropped_by_reason;
    std::uint64_t unattributed_events = 0; // exchanges no service could be found for

    double start_time_seconds = 0; // unix time the daemon started
};

} // namespace homeostat::exporters
