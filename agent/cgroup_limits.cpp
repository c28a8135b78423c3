#include "agent/cgroup_limits.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace homeostat::agent {
namespace {

std::optional<std::string> read_line(const std::string& path) {
    std::ifstream f(path);
    std::string line;
    if (!f || !std::getline(f, line)) return std::nullopt;
    return line;
}

// Unsigned value of a limit file; nullopt for "max", absent files and v1's "unlimited"
// (PAGE_COUNTER_MAX rounded to pages, ≈ 2^63).
std::optional<std::uint64_t> read_limit(const std::string& path) {
    auto s = read_line(path);
    if (!s || s->empty() || *s == "max") return std::nullopt;
    char* end = nullptr;
    long long v = std::strtoll(s->c_str(), &end, 10);
    if (end == s->c_str() || v < 0 || static_cast<unsigned long long>(v) >= (1ULL << 62)) return std::nullopt;
    return static_cast<std::uint64_t>(v);
}

} // namespace

std::string cgroup_dir(const std::string& root, const std::string& rel) {
    if (rel.empty() || rel == "/") return root;
    return root + (rel.front() == '/' ? "" : "/") + rel;
}

CgroupMounts CgroupMounts::from_mountinfo(const std::string& mountinfo) {
    CgroupMounts m;
    std::ifstream f(mountinfo);
    std::string line;
    while (std::getline(f, line)) {
        // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
        std::string id, parent, dev, root, mountpoint, fstype, source, superopts;
        pre >> id >> parent >> dev >> root >> mountpoint;
        post >> fstype >> source >> superopts;
        if (root != "/") continue; // a bind mount of a sub-tree: not the hierarchy's root
        if (fstype == "cgroup2" && m.v2.empty()) m.v2 = mountpoint;
        if (fstype != "cgroup") continue;
        std::istringstream opts(superopts);
        for (std::string o; std::getline(opts, o, ',');)
            if (o == "memory" || o == "cpu" || o == "cpuacct" || o == "pids") m.v1.try_emplace(o, mountpoint);
    }
    return m;
}

ProcessCgroups ProcessCgroups::parse(std::string_view text) {
    ProcessCgroups out;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        auto c1 = line.find(':'), c2 = line.find(':', c1 + 1);
        if (c1 == std::string_view::npos || c2 == std::string_view::npos) continue;
        std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
        std::string path(line.substr(c2 + 1));
        if (line.substr(0, c1) == "0" && controllers.empty()) {
            out.v2 = path;
            continue;
        }
        while (!controllers.empty()) { // "cpu,cpuacct"
            auto comma = controllers.find(',');
            out.v1.emplace(std::string(controllers.substr(0, comma)), path);
            if (comma == std::string_view::npos) break;
            controllers.remove_prefix(comma + 1);
        }
    }
    return out;
}

std::optional<exporters::Pressure> read_pressure(const std::string& path) {
    std::ifstream f(path);
    if (!f) return std::nullopt;
    exporters::Pressure p;
    bool any = false;
    std::string kind, a10, a60, a300, total;
    while (f >> kind >> a10 >> a60 >> a300 >> total) {
        auto val = [](const std::string& kv) { // "avg10=1.23"
            auto eq = kv.find('=');
            return eq == std::string::npos ? 0.0 : std::strtod(kv.c_str() + eq + 1, nullptr);
        };
        if (kind == "some") {
            p.some_avg10 = val(a10) / 100;
            p.some_avg60 = val(a60) / 100;
            p.some_total_us = static_cast<std::uint64_t>(val(total));
            any = true;
        } else if (kind == "full") {
            p.full_avg10 = val(a10) / 100;
            p.full_avg60 = val(a60) / 100;
            p.has_full = true;
        }
    }
    if (!any) return std::nullopt;
    return p;
}

exporters::CgroupLimits read_cgroup_limits(const CgroupMounts& mounts, const ProcessCgroups& cg) {
    exporters::CgroupLimits out;
    out.v2_path = cg.v2;
    bool used_v1 = false, used_v2 = false;
    const std::string v2dir = mounts.v2.empty() || cg.v2.empty() ? "" : cgroup_dir(mounts.v2, cg.v2);
    auto v1dir = [&](const char* controller) -> std::string {
        auto m = mounts.v1.find(controller);
        auto p = cg.v1.find(controller);
        return m == mounts.v1.end() || p == cg.v1.end() ? "" : cgroup_dir(m->second, p->second);
    };
    auto exists = [](const std::string& p) { return !p.empty() && std::filesystem::exists(p); };
    if (!v2dir.empty()) out.dirs["v2"] = v2dir;
    for (const char* c : {"cpu", "memory", "pids"})
        if (std::string d = v1dir(c); !d.empty()) out.dirs[c] = d;

    // Memory: v2 when the memory controller is enabled there (memory.max exists).
    if (exists(v2dir + "/memory.max")) {
        used_v2 = true;
        out.memory_limit_bytes = read_limit(v2dir + "/memory.max");
        out.memory_high_bytes = read_limit(v2dir + "/memory.high");
        out.memory_usage_bytes = read_limit(v2dir + "/memory.current");
    } else if (std::string d = v1dir("memory"); exists(d + "/memory.limit_in_bytes")) {
        used_v1 = true;
        out.memory_path = cg.v1.at("memory");
        out.memory_limit_bytes = read_limit(d + "/memory.limit_in_bytes");
        // v1's memory.high: what healing's memory_high writes (docs/healing-actuators.md).
        out.memory_high_bytes = read_limit(d + "/memory.soft_limit_in_bytes");
        out.memory_usage_bytes = read_limit(d + "/memory.usage_in_bytes");
    }

    // CPU quota: v2 "cpu.max" is "<quota|max> <period>"; v1 has two files, -1 = none.
    if (exists(v2dir + "/cpu.max")) {
        used_v2 = true;
        if (auto s = read_line(v2dir + "/cpu.max")) {
            std::istringstream in(*s);
            std::string quota;
            double period = 0;
            if (in >> quota >> period && quota != "max" && period > 0)
                out.cpu_quota_cores = std::strtod(quota.c_str(), nullptr) / period;
        }
    } else if (std::string d = v1dir("cpu"); exists(d + "/cpu.cfs_quota_us")) {
        used_v1 = true;
        auto quota = read_limit(d + "/cpu.cfs_quota_us"); // "-1" → nullopt
        auto period = read_limit(d + "/cpu.cfs_period_us");
        if (quota && period && *period > 0) out.cpu_quota_cores = static_cast<double>(*quota) / *period;
    }

    // CPU weight on the v2 scale (1..10000, default 100); v1 shares (default 1024) map onto it.
    if (exists(v2dir + "/cpu.weight")) {
        if (auto w = read_limit(v2dir + "/cpu.weight")) out.cpu_weight = static_cast<double>(*w);
    } else if (std::string d = v1dir("cpu"); exists(d + "/cpu.shares")) {
        if (auto s = read_limit(d + "/cpu.shares")) out.cpu_weight = static_cast<double>(*s) * 100 / 1024;
    }

    if (exists(v2dir + "/pids.max")) {
        used_v2 = true;
        out.pids_max = read_limit(v2dir + "/pids.max");
        out.pids_current = read_limit(v2dir + "/pids.current");
    } else if (std::string d = v1dir("pids"); exists(d + "/pids.max")) {
        used_v1 = true;
        out.pids_max = read_limit(d + "/pids.max");
        out.pids_current = read_limit(d + "/pids.current");
    }

    // PSI files are core v2 files: present without controllers, absent at the root.
    if (!v2dir.empty()) {
        out.cpu_pressure = read_pressure(v2dir + "/cpu.pressure");
        out.memory_pressure = read_pressure(v2dir + "/memory.pressure");
    }
    out.source = used_v1 && used_v2 ? "v1+v2" : used_v1 ? "v1" : used_v2 ? "v2" : "";
    return out;
}

std::string find_cgroup_by_id(const std::string& root, std::uint64_t id) {
    namespace fs = std::filesystem;
    if (root.empty() || id == 0) return {};
    struct stat st;
    if (::stat(root.c_str(), &st) == 0 && st.st_ino == id) return "/";
    std::error_code ec;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
        if (it.depth() > 10) it.disable_recursion_pending();
        if (!it->is_directory(ec)) continue;
        if (::stat(it->path().c_str(), &st) == 0 && st.st_ino == id)
            return it->path().string().substr(root.size());
    }
    return {};
}

} // namespace homeostat::agent
