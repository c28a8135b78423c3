// Loads bpf/proc.bpf.c (process life cycle, OOM victims, TCP health) and drains its
// ring buffer. Every hook is optional: one the kernel lacks is skipped with a warning
// and listed in missing(), so the daemon keeps running with what it has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "agent/result.h"

struct proc_bpf;
struct ring_buffer;
struct bpf_link;

namespace homeostat::agent {

class ProcCapture {
public:
    using Handler = std::function<void(std::span<const std::byte>)>;

    static Result<std::unique_ptr<ProcCapture>> open(Handler handler);
    ~ProcCapture();
    ProcCapture(const ProcCapture&) = delete;
    ProcCapture& operator=(const ProcCapture&) = delete;

    int consume();                  // drains what is there; records or negative errno
    std::uint64_t drops() const;    // events lost to a full ring buffer
    std::size_t attached() const { return links_.size(); }
    const std::vector<std::string>& missing() const { return missing_; } // hooks skipped

private:
    ProcCapture() = default;
    static int on_record(void* ctx, void* data, std::size_t size);

    proc_bpf* skel_ = nullptr;
    ring_buffer* rb_ = nullptr;
    std::vector<bpf_link*> links_;
    std::vector<std::string> missing_;
    Handler handler_;
};

} // namespace homeostat::agent
