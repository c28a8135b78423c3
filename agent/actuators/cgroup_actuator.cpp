#include "agent/actuators/cgroup_actuator.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "agent/actuators/command.h"
#include "agent/actuators/file_ops.h"

namespace homeostat::agent::actuators {
namespace {

namespace fs = std::filesystem;
using engine::policy::Action;
using engine::policy::ActionKind;

constexpr const char* kSystemdKey = "systemd:"; // Change key "systemd:<unit>:<Property>"

struct Knob {
    const char* controller;
    const char* v2_file;
    const char* v1_file;
    const char* property;      // systemctl set-property name
    const char* show_property; // systemctl show name (CPUQuota is shown per second)
};

Result<Knob> knob_of(ActionKind k) {
    switch (k) {
    case ActionKind::cpu_quota:
        return Knob{"cpu", "cpu.max", "cpu.cfs_quota_us", "CPUQuota", "CPUQuotaPerSecUSec"};
    case ActionKind::cpu_weight: return Knob{"cpu", "cpu.weight", "cpu.shares", "CPUWeight", "CPUWeight"};
    case ActionKind::memory_high:
        return Knob{"memory", "memory.high", "memory.soft_limit_in_bytes", "MemoryHigh", "MemoryHigh"};
    case ActionKind::memory_max:
        return Knob{"memory", "memory.max", "memory.limit_in_bytes", "MemoryMax", "MemoryMax"};
    case ActionKind::pids_max: return Knob{"pids", "pids.max", "pids.max", "TasksMax", "TasksMax"};
    default: return Error{"the cgroup actuator does not handle this action kind"};
    }
}

bool is_memory(ActionKind k) {
    return k == ActionKind::memory_high || k == ActionKind::memory_max;
}

// Where apply() writes: a file, or a unit property.
struct Where {
    bool systemd = false;
    std::string unit;
    std::string dir, file; // file = dir + "/" + name
    bool v2 = false;
};

std::string allow_text(const std::vector<std::string>& list) {
    if (list.empty()) return "empty: nothing is writable";
    std::string s;
    for (const auto& p : list)
        s += (s.empty() ? "" : ", ") + p;
    return s;
}

Error gone(const std::string& dir, const std::string& service) {
    // "cgroup vanished" first: what the audit log and an operator grep for.
    return Error{"cgroup vanished: cgroup " + dir + " of service " + service +
                     " is gone (the service stopped or moved); nothing was changed",
                 ENOENT};
}

Result<Where> resolve(const Action& a, const ServiceTarget& t, const ActuatorConfig& cfg) {
    auto k = knob_of(a.kind);
    if (!k) return k.error();
    if (!t.systemd_unit.empty()) {
        if (std::find(cfg.unit_allow.begin(), cfg.unit_allow.end(), t.systemd_unit) == cfg.unit_allow.end())
            return Error{"refusing to change " + std::string(k->property) + " of unit " + t.systemd_unit +
                         " (service " + t.service + "): the unit is not in healing.cgroups.units (" +
                         allow_text(cfg.unit_allow) + ")"};
        return Where{true, t.systemd_unit, "", "", false};
    }
    Where w;
    if (!t.cgroup_v2_dir.empty() && fs::exists(t.cgroup_v2_dir + "/" + k->v2_file)) {
        w.dir = t.cgroup_v2_dir;
        w.v2 = true;
        w.file = w.dir + "/" + k->v2_file;
    } else if (auto it = t.v1_dirs.find(k->controller); it != t.v1_dirs.end() && !it->second.empty()) {
        w.dir = it->second;
        w.file = w.dir + "/" + k->v1_file;
    } else if (!t.cgroup_v2_dir.empty() && !fs::exists(t.cgroup_v2_dir)) {
        return gone(t.cgroup_v2_dir, t.service);
    } else {
        return Error{"service " + t.service + " has no cgroup with the " + k->controller + " controller (" +
                     (t.cgroup_v2_dir.empty() ? "no v2 cgroup" : t.cgroup_v2_dir + " has no " + k->v2_file) +
                     ", no v1 " + k->controller + " cgroup): " + k->v2_file + " cannot be set"};
    }
    if (!path_allowed(w.dir, cfg.cgroup_allow))
        return Error{"refusing to write " + w.file + ": cgroup " + w.dir + " of service " + t.service +
                     " is not beneath healing.cgroups.allow (" + allow_text(cfg.cgroup_allow) + ")"};
    if (!fs::exists(w.dir)) return gone(w.dir, t.service);
    if (!fs::exists(w.file))
        return Error{"cgroup " + w.dir + " of service " + t.service + " has no " +
                     fs::path(w.file).filename().string() + " (is the controller enabled?)"};
    return w;
}

std::string human_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4)
        b /= 1024, ++i;
    std::ostringstream o;
    o.precision(b < 10 && i > 0 ? 2 : 0);
    o << std::fixed << b << ' ' << units[i];
    return o.str();
}

std::string integer(double v) {
    return std::to_string(static_cast<long long>(std::llround(v)));
}

// The value to write for a file target. `current` is the file's content (cpu.max keeps
// its period); v1 cpu quota reads the period beside it.
Result<std::string> file_value(const Action& a, const Where& w, const std::string& current) {
    double v = a.value;
    if (!std::isfinite(v)) return Error{"action value is not a number"};
    bool lift = v <= 0;
    switch (a.kind) {
    case ActionKind::cpu_quota: {
        long long period = 100000;
        if (w.v2) {
            std::istringstream in(current);
            std::string q;
            long long p = 0;
            if (in >> q >> p && p > 0) period = p;
        } else if (auto p = read_value(w.dir + "/cpu.cfs_period_us"); p && std::atoll(p->c_str()) > 0) {
            period = std::atoll(p->c_str());
        }
        long long quota = std::llround(v * static_cast<double>(period));
        if (!lift && quota < 1000)
            return Error{"cpu quota " + std::to_string(v) +
                         " cores is below the kernel's 1 ms per period minimum"};
        if (w.v2) return (lift ? std::string("max") : std::to_string(quota)) + " " + std::to_string(period);
        return lift ? std::string("-1") : std::to_string(quota);
    }
    case ActionKind::cpu_weight:
        if (v < 1 || v > 10000) return Error{"cpu weight " + std::to_string(v) + " is outside 1..10000"};
        return w.v2 ? integer(v) : std::to_string(std::max(2LL, std::llround(v * 1024 / 100)));
    case ActionKind::memory_high:
    case ActionKind::memory_max:
    case ActionKind::pids_max:
        if (lift) return std::string(w.v2 || a.kind == ActionKind::pids_max ? "max" : "-1");
        return integer(v);
    default: return Error{"the cgroup actuator does not handle this action kind"};
    }
}

// What the kernel should read back for `wrote`: memory is rounded down to pages, v1's
// "-1" reads as a huge number, v2's "max" for cpu.max reads with its period.
bool read_back_matches(ActionKind k, const std::string& wrote, const std::string& got) {
    if (wrote == got) return true;
    auto num = [](const std::string& s) { return std::strtold(s.c_str(), nullptr); };
    if (wrote == "-1" && num(got) >= 4.0e18L) return true;
    if (is_memory(k) && wrote != "max") {
        long double page = static_cast<long double>(::sysconf(_SC_PAGESIZE));
        return std::fabs(num(wrote) - num(got)) < page;
    }
    return false;
}

std::string show_text(const std::string& v, ActionKind k) {
    if (!is_memory(k) || v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return v;
    long double n = std::strtold(v.c_str(), nullptr);
    if (n >= 4.0e18L) return v + " (unlimited)";
    return v + " (" + human_bytes(static_cast<double>(n)) + ")";
}

// --- systemd ---------------------------------------------------------------------------

std::vector<std::string> set_property_argv(const ActuatorConfig& cfg, const std::string& unit,
                                           const std::string& prop, const std::string& value) {
    return {cfg.systemctl, "set-property", "--runtime", unit, prop + "=" + value};
}

Result<std::string> unit_value(const Action& a, const Knob& k) {
    double v = a.value;
    if (!std::isfinite(v)) return Error{"action value is not a number"};
    bool lift = v <= 0;
    switch (a.kind) {
    case ActionKind::cpu_quota: return lift ? std::string() : integer(v * 100) + "%";
    case ActionKind::cpu_weight:
        if (v < 1 || v > 10000) return Error{"cpu weight " + std::to_string(v) + " is outside 1..10000"};
        return integer(v);
    default: (void)k; return lift ? std::string("infinity") : integer(v);
    }
}

// `systemctl show -p X --value` output as a value set-property accepts (for revert):
// CPUQuotaPerSecUSec "500ms" → "50%", "infinity" → "" (no quota); unset weight → "".
std::string assignable(const std::string& prop, const std::string& shown) {
    if (prop == "CPUQuota") {
        if (shown.empty() || shown == "infinity") return "";
        char* end = nullptr;
        double n = std::strtod(shown.c_str(), &end);
        std::string unit = end ? end : "";
        double us = unit == "us"    ? n
                    : unit == "ms"  ? n * 1e3
                    : unit == "s"   ? n * 1e6
                    : unit == "min" ? n * 6e7
                                    : n;
        return integer(us / 1e4) + "%";
    }
    if (prop == "CPUWeight" && (shown == "[not set]" || shown == "18446744073709551615")) return "";
    return shown;
}

Result<std::string> show_property(const ActuatorConfig& cfg, const std::string& unit, const Knob& k) {
    auto r =
        run_checked("reading " + std::string(k.show_property) + " of " + unit,
                    {cfg.systemctl, "show", unit, "-p", k.show_property, "--value"}, cfg.command_timeout);
    if (!r) return r.error();
    std::string v = r->output;
    while (!v.empty() && (v.back() == '\n' || v.back() == ' '))
        v.pop_back();
    return assignable(k.property, v);
}

std::string shown(const std::string& v) {
    return v.empty() ? "(default)" : v;
}

} // namespace

bool path_allowed(const std::string& dir, const std::vector<std::string>& prefixes) {
    std::error_code ec;
    fs::path d = fs::weakly_canonical(fs::path(dir), ec);
    if (ec || dir.empty() || dir.front() != '/') return false;
    for (const auto& p : prefixes) {
        if (p.empty() || p.front() != '/') continue; // relative prefixes admit nothing
        fs::path pre = fs::weakly_canonical(fs::path(p), ec);
        if (ec) continue;
        auto [pi, di] = std::mismatch(pre.begin(), pre.end(), d.begin(), d.end());
        // a trailing "/" in the prefix leaves an empty last component
        if (pi == pre.end() || (std::next(pi) == pre.end() && pi->empty())) return true;
    }
    return false;
}

ServiceTarget cgroup_target(const std::string& service, const CgroupMounts& mounts,
                            const ProcessCgroups& cg) {
    ServiceTarget t;
    t.service = service;
    if (!mounts.v2.empty() && !cg.v2.empty()) t.cgroup_v2_dir = cgroup_dir(mounts.v2, cg.v2);
    for (const auto& [controller, path] : cg.v1)
        if (auto m = mounts.v1.find(controller); m != mounts.v1.end())
            t.v1_dirs[controller] = cgroup_dir(m->second, path);
    return t;
}

Result<std::string> CgroupActuator::plan(const Action& a, const ServiceTarget& t) const {
    auto w = resolve(a, t, cfg_);
    if (!w) return w.error();
    auto k = knob_of(a.kind).value();
    if (w->systemd) {
        auto now = show_property(cfg_, w->unit, k);
        if (!now) return now.error();
        auto v = unit_value(a, k);
        if (!v) return v.error();
        return format_argv(set_property_argv(cfg_, w->unit, k.property, *v)) + " (" + k.property + " of " +
               t.service + ": " + shown(*now) + " → " + shown(*v) + ")";
    }
    auto cur = read_value(w->file);
    if (!cur) return fs::exists(w->dir) ? cur.error() : gone(w->dir, t.service);
    auto v = file_value(a, *w, *cur);
    if (!v) return v.error();
    return std::string(w->v2 ? "cgroup v2 " : "cgroup v1 ") + w->file + " of " + t.service + ": " +
           show_text(*cur, a.kind) + " → " + show_text(*v, a.kind);
}

Result<Change> CgroupActuator::apply(const Action& a, const ServiceTarget& t) {
    auto w = resolve(a, t, cfg_);
    if (!w) return w.error();
    auto k = knob_of(a.kind).value();
    Change c;
    c.kind = a.kind;
    if (w->systemd) {
        auto before = show_property(cfg_, w->unit, k);
        if (!before) return before.error();
        auto v = unit_value(a, k);
        if (!v) return v.error();
        auto argv = set_property_argv(cfg_, w->unit, k.property, *v);
        if (auto r = run_checked("setting " + std::string(k.property) + " of " + w->unit, argv,
                                 cfg_.command_timeout);
            !r)
            return r.error();
        auto after = show_property(cfg_, w->unit, k);
        std::string key = kSystemdKey + w->unit + ":" + k.property;
        c.before[key] = *before;
        c.after[key] = after ? *after : *v;
        c.commands.push_back(format_argv(argv));
        c.summary = std::string(k.property) + " of " + t.service + " (" + w->unit + "): " + shown(*before) +
                    " → " + shown(c.after[key]);
        return c;
    }
    auto before = read_value(w->file);
    if (!before) return fs::exists(w->dir) ? before.error() : gone(w->dir, t.service);
    auto v = file_value(a, *w, *before);
    if (!v) return v.error();
    if (auto r = write_value(w->file, *v); !r)
        return fs::exists(w->dir) ? r.error() : gone(w->dir, t.service);
    auto after = read_value(w->file);
    if (!after) return fs::exists(w->dir) ? after.error() : gone(w->dir, t.service);
    if (!read_back_matches(a.kind, *v, *after)) {
        write_value(w->file, *before); // best effort: leave it as it was
        return Error{"wrote " + *v + " to " + w->file + " but it reads back " + *after + "; restored " +
                     *before};
    }
    c.before[w->file] = *before;
    c.after[w->file] = *after;
    c.summary = fs::path(w->file).filename().string() + " of " + t.service + ": " +
                show_text(*before, a.kind) + " → " + show_text(*after, a.kind);
    return c;
}

Result<void> CgroupActuator::revert(const Change& c, const ServiceTarget& t) {
    std::string failures;
    for (const auto& [key, value] : c.before) {
        if (key.rfind(kSystemdKey, 0) == 0) {
            std::string rest = key.substr(std::string(kSystemdKey).size());
            auto colon = rest.rfind(':');
            std::string unit = rest.substr(0, colon), prop = rest.substr(colon + 1);
            if (std::find(cfg_.unit_allow.begin(), cfg_.unit_allow.end(), unit) == cfg_.unit_allow.end()) {
                failures += "; refusing to change unit " + unit + ": not in healing.cgroups.units";
                continue;
            }
            auto r = run_checked("restoring " + prop + " of " + unit,
                                 set_property_argv(cfg_, unit, prop, value), cfg_.command_timeout);
            if (!r) failures += "; " + r.error().message;
            continue;
        }
        std::string dir = fs::path(key).parent_path().string();
        if (!path_allowed(dir, cfg_.cgroup_allow)) {
            failures += "; refusing to write " + key + ": not beneath healing.cgroups.allow";
        } else if (!fs::exists(dir)) {
            failures += "; " + gone(dir, t.service).message;
        } else if (auto r = write_value(key, value); !r) {
            failures += "; " + r.error().describe();
        }
    }
    if (!failures.empty()) return Error{"reverting \"" + c.summary + "\" failed" + failures};
    return {};
}

} // namespace homeostat::agent::actuators
