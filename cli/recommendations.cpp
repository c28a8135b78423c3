#include "cli/recommendations.h"

#include <cstdio>

#include "cli/tables.h"

namespace homeostat::cli {
namespace {

std::string cores(double c) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", c);
    return b;
}

} // namespace

std::string recommendations_table(const nlohmann::json& recs) {
    if (!recs.is_array() || recs.empty()) return "";
    Table t({{"SERVICE", false, 32},
             {"CPU", true},
             {"CPU NOW", true},
             {"MEMORY", true},
             {"MEMORY NOW", true},
             {"FROM"},
             {"SAMPLES", true},
             {"OOM", true}});
    for (const auto& r : recs) {
        const auto cur = r.value("current", nlohmann::json::object());
        const bool has_cur = cur.is_object() && !cur.empty();
        t.add({r.value("service", "?"), cores(r.value("cpu_cores", 0.0)),
               has_cur ? cores(cur.value("cpu_cores", 0.0)) : "-", format_bytes(r.value("memory_bytes", 0.0)),
               has_cur ? format_bytes(cur.value("memory_bytes", 0.0)) : "-",
               r.value("memory_from", "") == "oom_floor" ? "oom floor" : "usage",
               format_count(r.value("samples", 0.0)), has_cur ? format_count(cur.value("oom_kills", 0.0)) : "-"});
    }
    return t.render();
}

} // namespace homeostat::cli
