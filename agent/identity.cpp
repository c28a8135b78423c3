#include "agent/identity.h"
#include "agent/proc_dir.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "events.hpp"

namespace homeostat::agent {
namespace {

bool is_hex(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string read_first_line(const std::string& path) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);
    return line;
}

// Visits the socket inodes among a process's open fds.
template <typename F>
void for_each_socket_inode(const std::string& proc, std::uint32_t pid, F&& f) {
    std::string dir = proc + "/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (!d) return;
    char buf[64];
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        ssize_t n = ::readlinkat(::dirfd(d), e->d_name, buf, sizeof buf - 1);
        if (n <= 9 || std::memcmp(buf, "socket:[", 8) != 0) continue;
        buf[n] = '\0';
        f(std::strtoull(buf + 8, nullptr, 10));
    }
    ::closedir(d);
}

// The address as /proc/net/tcp prints it: each 32-bit word of the network-order
// address printed as a native integer in hex, then ":PORT" in hex.
std::string proc_net_address(std::uint8_t family, const std::uint8_t (&addr)[16], std::uint16_t port) {
    char buf[64];
    std::uint32_t w[4];
    std::memcpy(w, addr, sizeof w);
    if (family == 10 /* AF_INET6 */)
        std::snprintf(buf, sizeof buf, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3], port);
    else
        std::snprintf(buf, sizeof buf, "%08X:%04X", w[0], port);
    return buf;
}

} // namespace

std::string printable_name(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size();) {
        const auto c = static_cast<unsigned char>(raw[i]);
        // Length of the sequence c starts, and the smallest code point it may encode
        // (overlong forms are invalid).
        const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
        bool ok = n != 0 && i + n <= raw.size();
        for (std::size_t k = 1; ok && k < n; ++k) {
            const auto cc = static_cast<unsigned char>(raw[i + k]);
            ok = (cc & 0xC0) == 0x80;
            cp = (cp << 6) | (cc & 0x3F);
        }
        static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
        ok = ok && cp >= kMin[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) && cp >= 0x20 && cp != 0x7F;
        if (ok) out.append(raw.substr(i, n));
        else out += '?';
        i += ok ? n : 1;
    }
    return out;
}

std::string service_from_cgroup_path(const std::string& path) {
    // Walk components from the leaf: the innermost unit or container wins.
    std::vector<std::string_view> parts;
    std::string_view p(path);
    while (!p.empty()) {
        auto slash = p.find('/');
        auto part = p.substr(0, slash);
        if (!part.empty()) parts.push_back(part);
        if (slash == std::string_view::npos) break;
        p.remove_prefix(slash + 1);
    }
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        std::string_view c = *it;
        // docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope
        for (std::string_view prefix : {"docker-", "cri-containerd-", "crio-", "libpod-"}) {
            if (c.starts_with(prefix) && c.ends_with(".scope")) {
                auto id = c.substr(prefix.size(), c.size() - prefix.size() - 6);
                if (id.size() >= 12 && is_hex(id)) return "container:" + std::string(id.substr(0, 12));
            }
        }
        // cgroupfs driver: /docker/<id>, /kubepods/.../<id>
        if (c.size() == 64 && is_hex(c)) return "container:" + std::string(c.substr(0, 12));
        if (c.ends_with(".service") && !c.starts_with("user@")) return printable_name(c);
    }
    return {};
}

ServiceResolver::ServiceResolver(std::string proc_root, std::string cgroup2_root)
    : proc_(std::move(proc_root)), cgroup2_(std::move(cgroup2_root)) {}

void ServiceResolver::scan_cgroups() {
    namespace fs = std::filesystem;
    last_cgroup_scan_ = Clock::now();
    std::error_code ec;
    fs::recursive_directory_iterator it(cgroup2_, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
        // Units and containers sit a few levels down; deeper trees are not walked.
        if (it.depth() > 8) it.disable_recursion_pending();
        if (!it->is_directory(ec)) continue;
        struct stat st;
        if (::stat(it->path().c_str(), &st) != 0) continue;
        std::string rel = it->path().string().substr(cgroup2_.size());
        cgroup_service_.try_emplace(st.st_ino, service_from_cgroup_path(rel));
    }
    if (cgroup_service_.size() > 65536) cgroup_service_.clear(); // bounded; rebuilt on demand
}

const std::string* ServiceResolver::service_for_cgroup(std::uint64_t cgroup_id) {
    if (cgroup2_.empty() || cgroup_id == 0) return nullptr;
    auto it = cgroup_service_.find(cgroup_id);
    if (it == cgroup_service_.end() && Clock::now() - last_cgroup_scan_ > std::chrono::seconds(1)) {
        scan_cgroups();
        it = cgroup_service_.find(cgroup_id);
    }
    if (it == cgroup_service_.end() || it->second.empty()) return nullptr;
    return &it->second;
}

void ServiceResolver::refresh_listen_inodes() {
    listen_inode_port_.clear();
    for (const char* file : {"/net/tcp", "/net/tcp6"}) {
        std::ifstream f(proc_ + file);
        std::string line;
        std::getline(f, line); // header
        while (std::getline(f, line)) {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            std::istringstream in(line);
            std::string sl, local, remote, st, txrx, trwhen, retr, uid, timeout;
            std::uint64_t inode = 0;
            if (!(in >> sl >> local >> remote >> st >> txrx >> trwhen >> retr >> uid >> timeout >> inode)) continue;
            if (st != "0A") continue; // TCP_LISTEN
            auto colon = local.rfind(':');
            if (colon == std::string::npos || inode == 0) continue;
            auto port = static_cast<std::uint16_t>(std::strtoul(local.c_str() + colon + 1, nullptr, 16));
            listen_inode_port_[inode] = port;
        }
    }
    inodes_read_ = Clock::now();
}

void ServiceResolver::scan_listeners() {
    refresh_listen_inodes();
    std::size_t before = port_owner_.size();
    for_each_pid(proc_, [&](std::uint32_t pid) {
        for_each_socket_inode(proc_, pid, [&](std::uint64_t inode) {
            auto it = listen_inode_port_.find(inode);
            if (it != listen_inode_port_.end()) port_owner_.try_emplace(it->second, pid);
        });
    });
    last_full_scan_ = Clock::now();
    spdlog::debug("identity: {} listening ports known ({} new from /proc)", port_owner_.size(),
                  port_owner_.size() - before);
}

void ServiceResolver::on_listen(const hs_listen_event& ev) {
    port_owner_[ev.port] = ev.tgid;
    port_service_.erase(ev.port);
    pid_service_.erase(ev.tgid); // its lowest listening port may have changed
    inodes_read_ = {};           // the new listener is not in our inode table yet
    spdlog::debug("identity: {} (pid {}) listens on port {}",
                  abi::field_str(ev.comm, sizeof ev.comm), ev.tgid, ev.port);
}

std::optional<std::uint16_t> ServiceResolver::lowest_listen_port(std::uint32_t tgid) {
    if (Clock::now() - inodes_read_ > std::chrono::seconds(1)) refresh_listen_inodes();
    std::optional<std::uint16_t> best;
    for_each_socket_inode(proc_, tgid, [&](std::uint64_t inode) {
        auto it = listen_inode_port_.find(inode);
        if (it != listen_inode_port_.end() && (!best || it->second < *best)) best = it->second;
    });
    return best;
}

const std::string& ServiceResolver::service_for_pid(std::uint32_t tgid, std::string_view comm_hint) {
    if (auto it = pid_service_.find(tgid); it != pid_service_.end()) return it->second;
    const std::string base = proc_ + "/" + std::to_string(tgid);
    std::string service;
    {
        std::ifstream f(base + "/cgroup");
        std::string line;
        while (service.empty() && std::getline(f, line)) {
            // "0::/system.slice/nginx.service" (v2) or "1:name=systemd:/system.slice/..." (v1)
            auto second = line.find(':', line.find(':') + 1);
            if (second != std::string::npos) service = service_from_cgroup_path(line.substr(second + 1));
        }
    }
    if (service.empty()) {
        std::string comm = read_first_line(base + "/comm");
        if (comm.empty()) {
            // The process is gone already; the kernel's record of its name is all we have.
            // Not cached: a later process may reuse the pid.
            scratch_ = comm_hint.empty() ? "unknown" : printable_name(comm_hint);
            return scratch_;
        }
        service = printable_name(comm);
        if (auto port = lowest_listen_port(tgid)) service += ":" + std::to_string(*port);
    }
    if (pid_service_.size() > 65536) pid_service_.clear(); // bounded; rebuilt on demand
    return pid_service_.emplace(tgid, std::move(service)).first->second;
}

const std::string& ServiceResolver::service_for(const hs_http_exchange& ev, bool& attributed) {
    attributed = true;
    // The socket's cgroup names systemd units and containers directly, and keeps apart
    // containers that listen on the same port in their own network namespaces.
    if (const std::string* s = service_for_cgroup(ev.cgroup_id)) return *s;
    if (ev.role == HS_ROLE_SERVER) {
        if (auto it = port_service_.find(ev.local_port); it != port_service_.end()) return it->second;
        auto owner = port_owner_.find(ev.local_port);
        if (owner == port_owner_.end() && Clock::now() - last_full_scan_ > std::chrono::seconds(1)) {
            scan_listeners();
            owner = port_owner_.find(ev.local_port);
        }
        if (owner != port_owner_.end()) {
            std::string s = service_for_pid(owner->second);
            if (s != "unknown") return port_service_.emplace(ev.local_port, std::move(s)).first->second;
        }
        attributed = false;
        scratch_ = "unknown:" + std::to_string(ev.local_port);
        return scratch_;
    }
    if (ev.flags & HS_XF_OWNER_KNOWN)
        return service_for_pid(ev.tgid, abi::field_str(ev.comm, sizeof ev.comm));
    if (auto it = cookie_service_.find(ev.sock_cookie); it != cookie_service_.end()) return it->second;
    if (auto owner = find_connection_owner(ev)) {
        std::string s = service_for_pid(*owner);
        if (cookie_service_.size() > 65536) cookie_service_.clear();
        return cookie_service_.emplace(ev.sock_cookie, std::move(s)).first->second;
    }
    attributed = false;
    scratch_ = "unknown";
    return scratch_;
}

std::optional<std::uint32_t> ServiceResolver::find_connection_owner(const hs_http_exchange& ev) {
    // A full /proc walk costs milliseconds: at most one a second.
    if (Clock::now() - last_owner_scan_ < std::chrono::seconds(1)) return std::nullopt;
    last_owner_scan_ = Clock::now();
    const std::string local = proc_net_address(ev.family, ev.local_addr, ev.local_port);
    const std::string remote = proc_net_address(ev.family, ev.remote_addr, ev.remote_port);
    std::uint64_t inode = 0;
    for (const char* file : {"/net/tcp", "/net/tcp6"}) {
        std::ifstream f(proc_ + file);
        std::string line, sl, l, r;
        std::getline(f, line);
        while (inode == 0 && std::getline(f, line)) {
            std::istringstream in(line);
            std::string st, txrx, trwhen, retr, uid, timeout;
            std::uint64_t ino = 0;
            if ((in >> sl >> l >> r >> st >> txrx >> trwhen >> retr >> uid >> timeout >> ino) && l == local &&
                r == remote)
                inode = ino;
        }
    }
    if (inode == 0) return std::nullopt;
    std::optional<std::uint32_t> owner;
    for_each_pid(proc_, [&](std::uint32_t pid) {
        if (owner) return;
        for_each_socket_inode(proc_, pid, [&](std::uint64_t i) {
            if (i == inode) owner = pid;
        });
    });
    return owner;
}

void ServiceResolver::sweep() {
    cookie_service_.clear();  // closed connections' cookies are never seen again
    cgroup_service_.clear();  // removed cgroups' ids are never reused, but memory is bounded
    std::erase_if(pid_service_, [&](const auto& kv) {
        return ::access((proc_ + "/" + std::to_string(kv.first)).c_str(), F_OK) != 0;
    });
    std::erase_if(port_owner_, [&](const auto& kv) {
        return ::access((proc_ + "/" + std::to_string(kv.second)).c_str(), F_OK) != 0;
    });
    // Port services are rebuilt from owners on demand.
    std::erase_if(port_service_, [&](const auto& kv) { return !port_owner_.contains(kv.first); });
}

} // namespace homeostat::agent
