#include "agent/process_health.h"
#include "agent/proc_dir.h"

#include <dirent.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "events.hpp"

namespace homeostat::agent {
namespace {

constexpr std::uint64_t kPfKthread = 0x00200000; // PF_KTHREAD in /proc/<pid>/stat flags
constexpr std::size_t kMaxServices = 4096;        // idle services beyond this are forgotten
constexpr double kLongRunningSeconds = 10;        // a clean exit after this long can be a restart

// Whole small file in one read (proc files are generated on read; no partial lines).
bool read_small(const std::string& path, std::string& out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return false;
    out.assign(buf, n);
    return true;
}

// Units and containers come from the cgroup, which exec does not change.
bool named_by_cgroup(const std::string& service) {
    return service.ends_with(".service") || service.starts_with("container:");
}

} // namespace

ProcessHealth::ProcessHealth(ServiceResolver& identity, CgroupMounts mounts, std::string proc_root)
    : identity_(identity), mounts_(std::move(mounts)), proc_(std::move(proc_root)) {
    if (long t = ::sysconf(_SC_CLK_TCK); t > 0) ticks_per_second_ = static_cast<double>(t);
    if (long p = ::sysconf(_SC_PAGESIZE); p > 0) page_size_ = static_cast<std::uint64_t>(p);
}

std::uint64_t ProcessHealth::boot_ticks() const {
    timespec ts{};
    ::clock_gettime(CLOCK_BOOTTIME, &ts); // the clock of /proc/<pid>/stat's starttime
    return static_cast<std::uint64_t>((ts.tv_sec + ts.tv_nsec / 1e9) * ticks_per_second_);
}

bool ProcessHealth::read_stat(std::uint32_t tgid, Proc& p, std::uint64_t* flags) {
    std::string s;
    if (!read_small(proc_ + "/" + std::to_string(tgid) + "/stat", s)) return false;
    // "pid (comm) S ppid ..." — comm may hold spaces and parentheses: cut at the last ')'.
    auto open = s.find('('), close = s.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) return false;
    p.comm = s.substr(open + 1, close - open - 1);
    const char* c = s.c_str() + close + 1;
    // Fields after ')': 0 state, 6 flags, 11 utime, 12 stime, 19 starttime, 21 rss (pages).
    std::uint64_t f[22] = {};
    for (int i = 0; i < 22 && *c; ++i) {
        while (*c == ' ') ++c;
        if (i == 0) { ++c; continue; } // state letter
        char* end = nullptr;
        f[i] = std::strtoull(c, &end, 10);
        if (end == c) return false;
        c = end;
    }
    if (flags) *flags = f[6];
    p.cpu = static_cast<double>(f[11] + f[12]) / ticks_per_second_;
    p.start_ticks = f[19];
    p.rss = f[21] * page_size_;
    return true;
}

ProcessHealth::Service& ProcessHealth::service(const std::string& name) {
    auto [it, added] = services_.try_emplace(name);
    if (added) it->second.h.service = name;
    return it->second;
}

ProcessHealth::Proc& ProcessHealth::join(std::uint32_t tgid, const std::string& name, const std::string& comm,
                                         double cpu_base) {
    Service& s = service(name);
    if (s.main == 0 || s.main_exited) {
        // The service's main process exited and nothing was left: this one replaces it.
        if (s.main_exited && s.live == 0) {
            ++s.h.restarts;
            spdlog::info("process health: service {} restarted (pid {})", name, tgid);
        }
        s.main = tgid;
        s.main_exited = false;
    }
    ++s.live;
    Proc& p = procs_[tgid];
    p.service = name;
    p.comm = comm;
    p.cpu = p.cpu_base = cpu_base;
    p.seen = generation_;
    return p;
}

void ProcessHealth::leave(std::uint32_t tgid, bool exited, double final_cpu, std::uint32_t exit_code) {
    auto it = procs_.find(tgid);
    if (it == procs_.end()) return;
    Proc p = std::move(it->second);
    procs_.erase(it);
    Service& s = service(p.service);
    if (s.live > 0) --s.live;
    s.dead_cpu += std::max(final_cpu, p.cpu) - p.cpu_base;
    if (exited) {
        ++s.h.exits;
        if (exit_code != 0) ++s.h.exits_failed;
    }
    if (s.main != tgid) return;
    // A restart is a main process that failed (non-zero code, signal) or had been running
    // a while, followed by a new one. A short command that finished cleanly (curl, grep)
    // followed by another run of it is not a restart.
    const double lived = p.start_ticks == 0 ? 0 : (boot_ticks() - p.start_ticks) / ticks_per_second_;
    const bool counts = exited && (exit_code != 0 || lived >= kLongRunningSeconds);
    // The oldest remaining process of the service becomes its main one.
    std::uint32_t heir = 0;
    std::uint64_t oldest = UINT64_MAX;
    for (const auto& [pid, q] : procs_)
        if (q.service == p.service && q.start_ticks < oldest) heir = pid, oldest = q.start_ticks;
    s.main = heir;
    s.main_exited = heir == 0 && counts;
}

std::string ProcessHealth::service_of_event(std::uint32_t tgid, std::uint64_t cgroup_id, const char* comm) {
    if (auto it = procs_.find(tgid); it != procs_.end()) return it->second.service;
    if (const std::string* s = identity_.service_for_cgroup(cgroup_id)) return *s;
    return identity_.service_for_pid(tgid, abi::field_str(comm, HS_COMM_LEN));
}

bool ProcessHealth::on_record(std::span<const std::byte> bytes) {
    hs_event_header h{};
    if (bytes.size() < sizeof h) return false;
    std::memcpy(&h, bytes.data(), sizeof h);
    switch (h.kind) {
    case HS_EV_PROC_EXEC:
    case HS_EV_PROC_FORK:
    case HS_EV_PROC_EXIT:
        if (auto ev = abi::decode<hs_proc_event>(bytes, h.kind)) on_proc(*ev);
        else ++malformed_;
        break;
    case HS_EV_OOM_KILL:
        if (auto ev = abi::decode<hs_oom_event>(bytes, h.kind)) on_oom(*ev);
        else ++malformed_;
        break;
    case HS_EV_TCP:
        if (auto ev = abi::decode<hs_tcp_event>(bytes, h.kind)) on_tcp(*ev);
        else ++malformed_;
        break;
    default: return false;
    }
    ++events_;
    return true;
}

void ProcessHealth::on_proc(const hs_proc_event& ev) {
    const std::string comm(abi::field_str(ev.comm, sizeof ev.comm));
    switch (ev.hdr.kind) {
    // Fork and exec are the busy path on build hosts (thousands a second): no /proc
    // reads for a fork, and none for an exec inside a unit or container. CPU and RSS
    // come with the next scan; processes gone before it cost only these events.
    case HS_EV_PROC_FORK: {
        identity_.forget_pid(ev.tgid); // a reused pid
        if (procs_.contains(ev.tgid)) return;
        // Same cgroup, comm and inherited sockets as its parent: the same service.
        auto parent = procs_.find(ev.ppid);
        std::string name = parent != procs_.end() ? parent->second.service
                                                  : service_of_event(ev.tgid, ev.cgroup_id, ev.comm);
        join(ev.tgid, name, comm, 0).start_ticks = boot_ticks();
        return;
    }
    case HS_EV_PROC_EXEC: {
        auto it = procs_.find(ev.tgid);
        if (it != procs_.end() && named_by_cgroup(it->second.service)) {
            it->second.comm = comm; // exec keeps the cgroup, hence the unit or container
            return;
        }
        identity_.forget_pid(ev.tgid); // the name may hold the old comm
        std::string name = identity_.service_for_pid(ev.tgid, comm);
        if (it != procs_.end() && it->second.service == name) {
            it->second.comm = comm;
            return;
        }
        double cpu = 0;
        std::uint64_t start = boot_ticks();
        if (it != procs_.end()) {
            cpu = it->second.cpu;
            start = it->second.start_ticks;
            leave(ev.tgid, false, cpu, 0); // exec'd into another service: moved, not exited
        }
        join(ev.tgid, name, comm, cpu).start_ticks = start;
        return;
    }
    case HS_EV_PROC_EXIT: {
        const double cpu = static_cast<double>(ev.cpu_ns) / 1e9;
        if (!procs_.contains(ev.tgid)) // born and gone between two scans
            join(ev.tgid, service_of_event(ev.tgid, ev.cgroup_id, ev.comm), comm, 0);
        leave(ev.tgid, true, cpu, ev.exit_code);
        identity_.forget_pid(ev.tgid);
        return;
    }
    }
}

void ProcessHealth::on_oom(const hs_oom_event& ev) {
    // The memory cgroup: v1 memory hierarchy on hybrid hosts, else the v2 cgroup. A unit
    // or container named by it wins: the victim may be gone before /proc was read.
    auto mem = mounts_.v1.find("memory");
    std::string path = find_cgroup_by_id(mem != mounts_.v1.end() ? mem->second : mounts_.v2, ev.memcg_id);
    std::string name = service_from_cgroup_path(path);
    Service& s = service(name.empty() ? service_of_event(ev.tgid, ev.cgroup_id, ev.comm) : name);
    ++s.h.oom_kills;
    s.h.last_oom_cgroup = path;
    spdlog::warn("process health: OOM kill of {} (pid {}, {} MiB resident) in memory cgroup {}, service {}",
                 abi::field_str(ev.comm, sizeof ev.comm), ev.tgid, ev.rss_pages * page_size_ >> 20,
                 path.empty() ? "?" : path, s.h.service);
}

void ProcessHealth::on_tcp(const hs_tcp_event& ev) {
    std::string name;
    if (ev.tgid != 0) {
        name = service_of_event(ev.tgid, ev.cgroup_id, ev.comm);
    } else {
        // Accepted sockets belong to whoever listens on the local port, as for HTTP.
        hs_http_exchange x{};
        x.cgroup_id = ev.cgroup_id;
        x.role = HS_ROLE_SERVER;
        x.local_port = ev.local_port;
        bool attributed = false;
        name = identity_.service_for(x, attributed);
        if (!attributed) name = "unknown"; // never one series per ephemeral port
    }
    if (spdlog::should_log(spdlog::level::debug))
        spdlog::debug("process health: tcp {} pid {} cgroup {} port {}->{} service {}", abi::tcp_kind_name(ev.kind),
                      ev.tgid, ev.cgroup_id, ev.local_port, ev.remote_port, name);
    auto& h = service(name).h;
    switch (ev.kind) {
    case HS_TCP_RETRANSMIT: h.tcp_retransmits += ev.segs ? ev.segs : 1; break;
    case HS_TCP_RESET_SENT: ++h.tcp_resets_sent; break;
    case HS_TCP_RESET_RECEIVED: ++h.tcp_resets_received; break;
    case HS_TCP_CONNECT_FAILED: ++h.tcp_connect_failures; break;
    }
}

void ProcessHealth::refresh_limits(Service& s) {
    if (s.main == 0) return; // keep what was read while it ran
    std::string text;
    if (!read_small(proc_ + "/" + std::to_string(s.main) + "/cgroup", text)) return;
    s.cgroup_text = text;
    s.h.cgroup = read_cgroup_limits(mounts_, ProcessCgroups::parse(text));
}

void ProcessHealth::refresh(std::chrono::steady_clock::time_point now, std::chrono::milliseconds min_interval) {
    if (last_refresh_ != std::chrono::steady_clock::time_point{} && now - last_refresh_ < min_interval) return;
    last_refresh_ = now;
    ++generation_;
    for_each_pid(proc_, [&](std::uint32_t pid) {
        auto it = procs_.find(pid);
        if (it != procs_.end()) {
            Proc& p = it->second;
            if (!read_stat(pid, p)) return;
            p.seen = generation_;
            // Listening on a port (or a new cgroup) can change the name; move it then.
            std::string name = identity_.service_for_pid(pid, p.comm);
            if (name != p.service && name != "unknown") {
                Proc copy = p;
                leave(pid, false, copy.cpu, 0);
                Proc& q = join(pid, name, copy.comm, copy.cpu);
                q.rss = copy.rss;
                q.start_ticks = copy.start_ticks;
            }
            return;
        }
        Proc fresh;
        std::uint64_t flags = 0;
        if (!read_stat(pid, fresh, &flags) || (flags & kPfKthread)) return;
        std::string name = identity_.service_for_pid(pid, fresh.comm);
        Proc& p = join(pid, name, fresh.comm, 0);
        p.cpu = fresh.cpu;
        p.rss = fresh.rss;
        p.start_ticks = fresh.start_ticks;
    });
    // Gone without an exit event (lost, or not drained yet is impossible: the caller
    // drains first): its last sample is all we know.
    std::vector<std::uint32_t> gone;
    for (const auto& [pid, p] : procs_)
        if (p.seen != generation_) gone.push_back(pid);
    for (auto pid : gone) leave(pid, true, 0, 0);

    // One pass over processes, then one over services: O(processes + services).
    std::unordered_map<std::string, double> live_cpu_of;
    for (auto& [name, s] : services_) {
        s.h.processes.clear();
        s.h.resident_memory_bytes = 0;
    }
    for (const auto& [pid, p] : procs_) {
        Service& s = service(p.service);
        live_cpu_of[p.service] += p.cpu - p.cpu_base;
        s.h.resident_memory_bytes += p.rss;
        s.h.processes.push_back({pid, p.comm, p.cpu, p.rss, pid == s.main});
    }
    for (auto& [name, s] : services_) {
        auto& h = s.h;
        const double live_cpu = live_cpu_of.contains(name) ? live_cpu_of.at(name) : 0.0;
        std::sort(h.processes.begin(), h.processes.end(), [](auto& a, auto& b) { return a.pid < b.pid; });
        h.cpu_seconds_total = std::max(h.cpu_seconds_total, s.dead_cpu + live_cpu); // never goes back
        const double dt = std::chrono::duration<double>(now - s.last_cpu_at).count();
        if (s.last_cpu_at == std::chrono::steady_clock::time_point{}) {
            s.last_cpu_at = now;
            s.last_cpu_total = h.cpu_seconds_total;
        } else if (dt >= 1.0) {
            h.cpu_usage_cores = (h.cpu_seconds_total - s.last_cpu_total) / dt;
            s.last_cpu_at = now;
            s.last_cpu_total = h.cpu_seconds_total;
        }
        refresh_limits(s);
        h.cpu_quota_utilisation.reset();
        h.memory_limit_utilisation.reset();
        if (h.cgroup.cpu_quota_cores && *h.cgroup.cpu_quota_cores > 0)
            h.cpu_quota_utilisation = h.cpu_usage_cores / *h.cgroup.cpu_quota_cores;
        if (h.cgroup.memory_limit_bytes && *h.cgroup.memory_limit_bytes > 0 && h.cgroup.memory_usage_bytes)
            h.memory_limit_utilisation =
                static_cast<double>(*h.cgroup.memory_usage_bytes) / *h.cgroup.memory_limit_bytes;
    }
    if (services_.size() > kMaxServices)
        std::erase_if(services_, [](const auto& kv) {
            const auto& h = kv.second.h;
            return kv.second.live == 0 && h.restarts == 0 && h.oom_kills == 0 && h.tcp_retransmits == 0 &&
                   h.tcp_resets_sent == 0 && h.tcp_resets_received == 0 && h.tcp_connect_failures == 0;
        });
}

std::vector<exporters::ServiceHealth> ProcessHealth::snapshot() const {
    std::vector<exporters::ServiceHealth> out;
    out.reserve(services_.size());
    for (const auto& [name, s] : services_) out.push_back(s.h);
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.service < b.service; });
    return out;
}

} // namespace homeostat::agent
