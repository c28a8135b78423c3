#include "engine/policy/action.h"

#include <array>
#include <utility>

namespace homeostat::engine::policy {
namespace {

// One table for both directions, so a kind added to the enum only needs one line here.
constexpr std::array<std::pair<ActionKind, const char*>, 7> kNames = {{
    {ActionKind::cpu_quota, "cpu_quota"},
    {ActionKind::cpu_weight, "cpu_weight"},
    {ActionKind::memory_high, "memory_high"},
    {ActionKind::memory_max, "memory_max"},
    {ActionKind::pids_max, "pids_max"},
    {ActionKind::config_file, "config_file"},
    {ActionKind::restart, "restart"},
}};

} // namespace

const char* to_string(ActionKind k) {
    for (const auto& [kind, name] : kNames)
        if (kind == k) return name;
    return "unknown";
}

bool parse_action_kind(const std::string& name, ActionKind& out) {
    for (const auto& [kind, n] : kNames) {
        if (name == n) {
            out = kind;
            return true;
        }
    }
    return false;
}

} // namespace homeostat::engine::policy
