// Loads and attaches the HTTP capture programs (bpf/http.bpf.c) and drains their ring
// buffer. Lifecycle (STYLE.md #5): open → configure rodata and map sizes → load →
// attach; everything is detached and freed by the destructor.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "agent/fd.h"
#include "agent/result.h"
#include "events.h"

struct http_bpf;
struct ring_buffer;
struct bpf_link;

namespace homeostat::agent {

struct CaptureOptions {
    std::string cgroup2_root;                 // where cgroup_skb programs attach
    std::size_t ringbuf_bytes = 8u << 20;     // power of two, ≥ page size
    std::uint64_t wakeup_bytes = 256u << 10;  // wake the reader early past this backlog
};

class Capture {
public:
    using Handler = std::function<void(std::span<const std::byte>)>;

    static Result<std::unique_ptr<Capture>> open(const CaptureOptions& opts, Handler handler);
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;

    // An fd that becomes readable when the ring buffer wants draining.
    int epoll_fd() const;
    // Drains what is there now; returns the number of records or a negative errno.
    int consume();
    // Like consume(), and also resets the readiness of epoll_fd().
    int poll();
    // Sums of the per-CPU hs_stats counters.
    std::array<std::uint64_t, HS_STAT__COUNT> stats() const;
    // Programs currently attached, for /healthz and logs.
    std::size_t attached() const { return links_.size(); }

private:
    Capture() = default;
    static int on_record(void* ctx, void* data, std::size_t size);

    http_bpf* skel_ = nullptr;
    ring_buffer* rb_ = nullptr;
    Fd cgroup_fd_;
    std::vector<bpf_link*> links_;
    Handler handler_;
};

// Installs libbpf's log callback into spdlog (warnings and above at info level; the rest
// at debug).
void route_libbpf_logs_to_spdlog();

} // namespace homeostat::agent
