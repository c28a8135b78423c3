// `homeostat top`: a live view like top(1): daemon status, services, busiest endpoints,
// redrawn every --interval until q / Ctrl-C (or --iterations N frames, for scripts).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/fetch.h"

namespace homeostat::cli {

struct TopDocuments {
    nlohmann::json status, services, endpoints; // /api/v1/status, /services, /endpoints
};

// One frame (no screen control codes). `previous` is the last frame's documents (null
// status on the first frame), `elapsed_seconds` the time between them: events/s and new
// drops come from their difference. Services busiest first (HTTP rate, then CPU), at most
// `service_rows`; endpoints by rate, at most `endpoint_rows` (0: all).
std::string top_frame(const TopDocuments& now, const TopDocuments* previous, double elapsed_seconds,
                      std::size_t service_rows = 15, std::size_t endpoint_rows = 10);

// homeostat top [--interval 2s] [--iterations N]
int top_command(const Fetch& fetch, const std::vector<std::string>& args);

} // namespace homeostat::cli
