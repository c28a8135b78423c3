// `homeostat tuned`: the recommender's part of GET /api/v1/tuned ("recommendations":
// CPU and memory limits per service, docs/healing.md) as a table.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace homeostat::cli {

// SERVICE, CPU (recommended cores, and the usage now), MEMORY (recommended, and now),
// FROM (histogram, or the floor after an OOM kill), SAMPLES, OOM kills. "" when empty.
std::string recommendations_table(const nlohmann::json& recommendations);

} // namespace homeostat::cli
