#include "agent/self_limits.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <spdlog/spdlog.h>

#include "agent/cgroup_limits.h"

namespace homeostat::agent {
namespace {

constexpr std::uint64_t kCfsPeriodUs = 100000;

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

// "" on success, else "PATH: strerror".
std::string write_text(const std::string& path, const std::string& value) {
    std::ofstream f(path, std::ios::out | std::ios::trunc);
    if (f) f << value;
    if (f) f.flush();
    if (!f) return path + ": " + std::strerror(errno ? errno : EIO);
    return {};
}

bool has_word(const std::string& text, const std::string& word) {
    std::istringstream in(text);
    for (std::string w; in >> w;)
        if (w == word) return true;
    return false;
}

std::string basename_of(const std::string& rel) {
    const auto slash = rel.rfind('/');
    return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

std::string human_bytes(std::uint64_t b) {
    if (b % (1ull << 30) == 0) return std::to_string(b >> 30) + " GiB";
    if (b % (1ull << 20) == 0) return std::to_string(b >> 20) + " MiB";
    return std::to_string(b) + " bytes";
}

// The child cgroup beneath `own_dir` (or own_dir itself when the daemon already runs in
// one of that name, e.g. a restart that inherited it). "" and `err` set on failure.
std::string enter_child(const std::string& own_dir, pid_t pid, SelfLimitsState& st, std::string& err) {
    const std::string dir =
        is_self_cgroup_name(basename_of(own_dir)) ? own_dir : own_dir + "/" + self_cgroup_name(pid);
    if (dir != own_dir) {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(own_dir, ec))
            if (e.is_directory(ec) && is_self_cgroup_name(e.path().filename().string()) && e.path() != dir)
                ::rmdir(e.path().c_str()); // a killed daemon's; EBUSY if a live one is inside

        if (::mkdir(dir.c_str(), 0755) == 0) st.created.push_back(dir);
        else if (errno == EEXIST) st.created.push_back(dir); // a leftover with our pid: reuse, remove at exit
        else {
            err = "cannot create " + dir + ": " + std::strerror(errno);
            return {};
        }
    }
    return dir;
}

std::string move_in(const std::string& own_dir, const std::string& dir, pid_t pid, SelfLimitsState& st) {
    if (auto e = write_text(dir + "/cgroup.procs", std::to_string(pid)); !e.empty()) return e;
    st.cgroups.push_back(dir);
    if (dir != own_dir) {
        st.return_procs.push_back(own_dir + "/cgroup.procs");
        st.moves.emplace_back(own_dir, dir);
    }
    return {};
}

void drop_created(SelfLimitsState& st, const std::string& dir) {
    for (auto it = st.created.begin(); it != st.created.end(); ++it)
        if (*it == dir) {
            ::rmdir(dir.c_str());
            st.created.erase(it);
            return;
        }
}

std::mutex g_mutex;
std::vector<std::pair<std::string, std::string>> g_moves; // (original dir, self dir)

} // namespace

std::string self_cgroup_name(pid_t pid) { return "homeostatd." + std::to_string(pid) + ".self"; }

bool is_self_cgroup_name(const std::string& name) {
    constexpr std::string_view pre = "homeostatd.", suf = ".self";
    if (name.size() <= pre.size() + suf.size() || !name.starts_with(pre) || !name.ends_with(suf)) return false;
    for (std::size_t i = pre.size(); i < name.size() - suf.size(); ++i)
        if (name[i] < '0' || name[i] > '9') return false;
    return true;
}

Result<std::uint64_t> parse_byte_size(const std::string& text) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    const std::string unit(end, text.data() + text.size());
    if (ec != std::errc() || end == text.data())
        return Error{"'" + text + "' is not a size (examples: 268435456, 256MiB, 1GiB)"};
    std::uint64_t mult = 0;
    if (unit.empty() || unit == "B") mult = 1;
    else if (unit == "K" || unit == "KiB") mult = 1ull << 10;
    else if (unit == "M" || unit == "MiB") mult = 1ull << 20;
    else if (unit == "G" || unit == "GiB") mult = 1ull << 30;
    else return Error{"'" + text + "' has no known unit (use KiB, MiB or GiB)"};
    if (n > (UINT64_MAX >> 2) / mult) return Error{"'" + text + "' is too large"};
    return n * mult;
}

Result<double> parse_cpu_quota(const std::string& text) {
    std::string num = text;
    const bool percent = !num.empty() && num.back() == '%';
    if (percent) num.pop_back();
    double v = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec != std::errc() || end != num.data() + num.size() || num.empty() || !std::isfinite(v) || v < 0)
        return Error{"'" + text + "' is not a CPU quota (examples: 50% of one core, 150%, or 0.5 cores)"};
    return percent ? v / 100.0 : v;
}

SelfLimitsHost SelfLimitsHost::current() {
    SelfLimitsHost h;
    h.pid = ::getpid();
    if (const char* id = std::getenv("INVOCATION_ID")) h.invocation_id = id;
    return h;
}

nlohmann::json SelfLimitsState::to_json() const {
    nlohmann::json j = {{"mode", mode}, {"applied", applied}, {"detail", detail}, {"cgroups", cgroups}};
    j["memory_max_bytes"] = memory_max_bytes ? nlohmann::json(memory_max_bytes) : nlohmann::json(nullptr);
    j["cpu_quota_cores"] = cpu_quota_cores > 0 ? nlohmann::json(cpu_quota_cores) : nlohmann::json(nullptr);
    return j;
}

SelfLimitsState apply_self_limits(const SelfLimitsConfig& config, const SelfLimitsHost& host) {
    SelfLimitsState st;
    const pid_t pid = host.pid ? host.pid : ::getpid();
    if (!config.enabled) {
        st.mode = "off";
        st.detail = "self_limits.enabled is false: the daemon runs without limits of its own";
        return st;
    }
    if (config.memory_max_bytes == 0 && config.cpu_quota_cores <= 0) {
        st.mode = "off";
        st.detail = "self_limits sets neither memory_max nor cpu_quota";
        return st;
    }
    const auto mounts = CgroupMounts::from_mountinfo(host.mountinfo);
    const auto cg = ProcessCgroups::parse(read_text(host.proc_cgroup));

    // A systemd unit: the unit file's limits (MemoryMax=, CPUQuota=) bound the daemon, and
    // systemd owns the cgroup (a child made here would fight its bookkeeping).
    const std::string unit_path = !cg.v2.empty() ? cg.v2 : cg.v1.count("memory") ? cg.v1.at("memory") : "";
    const std::string unit = basename_of(unit_path);
    if (!host.invocation_id.empty() && unit.size() > 8 && unit.ends_with(".service")) {
        st.mode = "systemd";
        st.detail = "running in systemd unit " + unit + ": its MemoryMax= and CPUQuota= bound the daemon "
                    "(packaging/homeostatd.service); no cgroup of its own is made";
        return st;
    }

    std::vector<std::string> done, problems;
    // cgroup v2 with controllers: memory.max and cpu.max in a child, if the daemon's own
    // cgroup delegates them (cgroup.subtree_control). A v2 cgroup that has processes
    // cannot start delegating without moving them all, which is not the daemon's call.
    const std::string v2_dir = !mounts.v2.empty() && !cg.v2.empty() ? cgroup_dir(mounts.v2, cg.v2) : "";
    const std::string v2_controllers = v2_dir.empty() ? "" : read_text(v2_dir + "/cgroup.controllers");
    const bool want_mem = config.memory_max_bytes > 0, want_cpu = config.cpu_quota_cores > 0;
    if (!v2_controllers.empty() && (has_word(v2_controllers, "memory") || has_word(v2_controllers, "cpu"))) {
        st.mode = "cgroup v2";
        const std::string subtree = read_text(v2_dir + "/cgroup.subtree_control");
        const bool in_self = is_self_cgroup_name(basename_of(v2_dir));
        const bool mem_ok = want_mem && (in_self ? has_word(v2_controllers, "memory") : has_word(subtree, "memory"));
        const bool cpu_ok = want_cpu && (in_self ? has_word(v2_controllers, "cpu") : has_word(subtree, "cpu"));
        if (!mem_ok && !cpu_ok) {
            st.detail = "not applied: the daemon's cgroup " + v2_dir + " does not delegate memory or cpu to "
                        "children (cgroup.subtree_control); run it in a unit with MemoryMax= and CPUQuota=";
            return st;
        }
        std::string err;
        const std::string dir = enter_child(v2_dir, pid, st, err);
        if (dir.empty()) {
            st.detail = "not applied: " + err;
            return st;
        }
        if (mem_ok) {
            if (auto e = write_text(dir + "/memory.max", std::to_string(config.memory_max_bytes)); e.empty()) {
                st.memory_max_bytes = config.memory_max_bytes;
                done.push_back("memory.max " + human_bytes(config.memory_max_bytes));
            } else problems.push_back(e);
        }
        if (cpu_ok) {
            const auto quota = static_cast<std::uint64_t>(std::llround(config.cpu_quota_cores * kCfsPeriodUs));
            if (auto e = write_text(dir + "/cpu.max", std::to_string(quota) + " " + std::to_string(kCfsPeriodUs));
                e.empty()) {
                st.cpu_quota_cores = config.cpu_quota_cores;
                done.push_back("cpu.max " + std::to_string(quota) + "/" + std::to_string(kCfsPeriodUs) + " us");
            } else problems.push_back(e);
        }
        if (done.empty() || !move_in(v2_dir, dir, pid, st).empty()) {
            if (!done.empty()) problems.push_back("cannot move into " + dir);
            drop_created(st, dir);
            st.memory_max_bytes = 0;
            st.cpu_quota_cores = 0;
            done.clear();
        }
    } else {
        // cgroup v1: one child per controller hierarchy (memory, cpu), each beneath the
        // daemon's own cgroup in that hierarchy.
        st.mode = "cgroup v1";
        struct Want {
            const char* controller;
            bool wanted;
        };
        for (const Want w : {Want{"memory", want_mem}, Want{"cpu", want_cpu}}) {
            if (!w.wanted) continue;
            if (!mounts.v1.count(w.controller) || !cg.v1.count(w.controller)) {
                problems.push_back(std::string("no v1 ") + w.controller + " hierarchy");
                continue;
            }
            const std::string own = cgroup_dir(mounts.v1.at(w.controller), cg.v1.at(w.controller));
            std::string err;
            const std::string dir = enter_child(own, pid, st, err);
            if (dir.empty()) {
                problems.push_back(err);
                continue;
            }
            std::string e;
            std::string what;
            if (std::string(w.controller) == "memory") {
                e = write_text(dir + "/memory.limit_in_bytes", std::to_string(config.memory_max_bytes));
                what = "memory.limit_in_bytes " + human_bytes(config.memory_max_bytes);
            } else {
                const auto quota = static_cast<std::uint64_t>(std::llround(config.cpu_quota_cores * kCfsPeriodUs));
                e = write_text(dir + "/cpu.cfs_period_us", std::to_string(kCfsPeriodUs));
                if (e.empty()) e = write_text(dir + "/cpu.cfs_quota_us", std::to_string(quota));
                what = "cpu.cfs_quota_us " + std::to_string(quota) + "/" + std::to_string(kCfsPeriodUs) + " us";
            }
            if (e.empty()) e = move_in(own, dir, pid, st);
            if (!e.empty()) {
                problems.push_back(e);
                drop_created(st, dir);
                continue;
            }
            if (std::string(w.controller) == "memory") st.memory_max_bytes = config.memory_max_bytes;
            else st.cpu_quota_cores = config.cpu_quota_cores;
            done.push_back(what + " in " + dir);
        }
    }
    st.applied = !done.empty();
    std::string text;
    for (const auto& d : done) text += (text.empty() ? "" : "; ") + d;
    std::string why;
    for (const auto& p : problems) why += (why.empty() ? "" : "; ") + p;
    if (st.applied) st.detail = "applied " + text + (why.empty() ? "" : " (not applied: " + why + ")");
    else {
        st.mode = "none";
        st.detail = "not applied: " + (why.empty() ? std::string("no usable cgroup controller") : why);
    }
    return st;
}

std::vector<std::string> release_self_limits(SelfLimitsState& state, pid_t pid) {
    {
        std::lock_guard lock(g_mutex);
        g_moves.clear();
    }
    for (const auto& procs : state.return_procs) write_text(procs, std::to_string(pid ? pid : ::getpid()));
    std::vector<std::string> left;
    for (const auto& dir : state.created)
        if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) left.push_back(dir + ": " + std::strerror(errno));
    state.created.clear();
    state.return_procs.clear();
    return left;
}

SelfLimitsGuard::SelfLimitsGuard(const SelfLimitsConfig& config, const SelfLimitsHost& host)
    : state_(apply_self_limits(config, host)) {
    register_self_limits(state_);
    if (state_.applied) spdlog::info("self limits: {} ({})", state_.detail, state_.mode);
    else if (state_.mode == "off" || state_.mode == "systemd") spdlog::info("self limits: {}", state_.detail);
    else spdlog::warn("self limits: {}; the daemon runs unbounded", state_.detail);
}

SelfLimitsGuard::~SelfLimitsGuard() {
    for (const auto& left : release_self_limits(state_, 0))
        spdlog::warn("self limits: cannot remove {} (a process the daemon started may still be in it)", left);
}

void register_self_limits(const SelfLimitsState& state) {
    std::lock_guard lock(g_mutex);
    g_moves = state.moves;
}

SelfLimitsSpawn::SelfLimitsSpawn() {
    g_mutex.lock();
    const std::string tid = std::to_string(::gettid());
    for (const auto& [original, self] : g_moves) {
        if (::access((original + "/tasks").c_str(), F_OK) == 0 && write_text(original + "/tasks", tid).empty())
            moved_.emplace_back(original, self);
        else
            not_moved_.push_back(original);
    }
}

void SelfLimitsSpawn::spawned(pid_t child) {
    if (child > 0)
        for (const auto& original : not_moved_) write_text(original + "/cgroup.procs", std::to_string(child));
}

SelfLimitsSpawn::~SelfLimitsSpawn() {
    const std::string tid = std::to_string(::gettid());
    for (const auto& [original, self] : moved_) write_text(self + "/tasks", tid);
    g_mutex.unlock();
}

} // namespace homeostat::agent
