// Who is behind an exchange: pid → cgroup → service.
//
// A service is, in order of preference: the systemd unit of the process's cgroup
// ("nginx.service"), the container whose cgroup it is in ("container:3f2a9c1b7d4e"), or
// else its executable name plus the lowest TCP port it listens on ("nginx:8080"), or the
// bare executable name for a process that listens on nothing ("curl").
//
// Server-side exchanges arrive on accepted sockets, whose owner the kernel side does not
// see; they belong to whoever listens on the local port. That is learnt from listen
// events (BPF) and, for listeners older than the daemon, from /proc at start and at most
// once per second when an unknown port shows up.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <string_view>
#include <vector>

#include "events.h"

namespace homeostat::agent {

// Parses the systemd unit or container out of a cgroup path; empty if neither.
std::string service_from_cgroup_path(const std::string& path);

// `raw` with every byte that is not part of valid UTF-8, and every control character,
// replaced by '?'. Service names come from process names and cgroup directories, which
// any process may choose, and end up in JSON (/api/v1/anomalies, alert payloads: dump()
// throws on invalid UTF-8) and in metric labels.
std::string printable_name(std::string_view raw);

class ServiceResolver {
public:
    using Clock = std::chrono::steady_clock;

    // cgroup2_root: where the cgroup v2 hierarchy is mounted; empty disables naming
    // services from the socket's cgroup (then only /proc is used).
    explicit ServiceResolver(std::string proc_root = "/proc", std::string cgroup2_root = {});

    // Reads /proc/net/tcp{,6} and every process's fds: who listens on which port.
    void scan_listeners();

    void on_listen(const hs_listen_event& ev);

    // Service of an exchange; `attributed` is false when only a fallback name could be
    // given ("unknown:<port>", or the comm the kernel recorded).
    const std::string& service_for(const hs_http_exchange& ev, bool& attributed);

    // Service of a process; cached per pid until the process listens anew or exits.
    const std::string& service_for_pid(std::uint32_t tgid, std::string_view comm_hint = {});

    // Forgets a process's cached service: it exec'd a new image or its pid is new.
    void forget_pid(std::uint32_t tgid) { pid_service_.erase(tgid); }

    // Drops cached processes that no longer exist. Call every minute or so.
    void sweep();

    std::size_t listener_count() const { return port_owner_.size(); }

    // The systemd unit or container of a cgroup v2 id, or nullptr if the cgroup is
    // neither (e.g. the root). A cgroup's id is its directory's inode number.
    const std::string* service_for_cgroup(std::uint64_t cgroup_id);

private:
    void scan_cgroups();
    void refresh_listen_inodes();
    // Owner of a connection that existed before the daemon (no connect() seen): its
    // 4-tuple in /proc/net/tcp{,6} gives the inode, /proc/*/fd the process.
    std::optional<std::uint32_t> find_connection_owner(const hs_http_exchange& ev);
    std::optional<std::uint16_t> lowest_listen_port(std::uint32_t tgid);

    std::string proc_;
    std::string cgroup2_;
    // cgroup id → unit/container ("" when the cgroup is neither), from walking cgroup2_.
    std::unordered_map<std::uint64_t, std::string> cgroup_service_;
    Clock::time_point last_cgroup_scan_{};
    // LISTEN sockets by inode → port, from /proc/net/tcp{,6}.
    std::unordered_map<std::uint64_t, std::uint16_t> listen_inode_port_;
    Clock::time_point inodes_read_{};
    // Local port → a process listening on it.
    std::unordered_map<std::uint16_t, std::uint32_t> port_owner_;
    Clock::time_point last_full_scan_{};
    // Server-side service per local port, and per-process services.
    std::unordered_map<std::uint16_t, std::string> port_service_;
    std::unordered_map<std::uint32_t, std::string> pid_service_;
    // Client connections without a known owner, by socket cookie (bounded).
    std::unordered_map<std::uint64_t, std::string> cookie_service_;
    Clock::time_point last_owner_scan_{};
    std::string scratch_;
};

} // namespace homeostat::agent
