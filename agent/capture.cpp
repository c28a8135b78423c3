#include "agent/capture.h"

#include <fcntl.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <vector>

#include "agent/fault_injection.h"
#include "http.skel.h"

namespace homeostat::agent {

namespace {

int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
    char buf[1024];
    int n = std::vsnprintf(buf, sizeof buf, fmt, args);
    std::string_view msg(buf, n > 0 ? std::min<std::size_t>(n, sizeof buf - 1) : 0);
    while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
    if (level == LIBBPF_WARN)
        spdlog::warn("libbpf: {}", msg);
    else
        spdlog::debug("libbpf: {}", msg);
    return 0;
}

Error bpf_error(std::string what, int err) {
    err = err < 0 ? -err : err;
    std::string hint;
    if (err == EPERM || err == EACCES)
        hint = " (homeostatd needs root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)";
    else if (err == ENOENT || err == ESRCH)
        hint = " (the kernel lacks this hook; see docs/architecture.md for what capture needs)";
    return Error{what + ": " + std::strerror(err) + hint, err};
}

} // namespace

void route_libbpf_logs_to_spdlog() { libbpf_set_print(libbpf_log); }

Result<std::unique_ptr<Capture>> Capture::open(const CaptureOptions& opts, Handler handler) {
    std::unique_ptr<Capture> c(new Capture());
    c->handler_ = std::move(handler);

    c->skel_ = http_bpf__open();
    if (!c->skel_) return bpf_error("opening the BPF object", errno);

    c->skel_->rodata->wakeup_bytes = opts.wakeup_bytes;
    if (int err = bpf_map__set_max_entries(c->skel_->maps.events, opts.ringbuf_bytes))
        return bpf_error("sizing the ring buffer to " + std::to_string(opts.ringbuf_bytes) + " bytes", err);

    if (drill_breaks_bpf("http"))
        bpf_program__set_flags(c->skel_->progs.hs_sock_state,
                               bpf_program__flags(c->skel_->progs.hs_sock_state) | kDrillUnknownProgFlag);
    if (int err = http_bpf__load(c->skel_))
        return bpf_error("loading the BPF programs into the kernel (run with --log-level debug for the verifier log)", err);

    c->cgroup_fd_ = Fd(::open(opts.cgroup2_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!c->cgroup_fd_.valid())
        return Error{"opening the cgroup v2 root " + opts.cgroup2_root + ": " + std::strerror(errno), errno};

    auto attach = [&](bpf_link* link, const std::string& what) -> Result<void> {
        if (!link) return bpf_error("attaching " + what, errno);
        c->links_.push_back(link);
        return {};
    };
    for (auto [prog, what] : {std::pair{c->skel_->progs.hs_ingress, "cgroup_skb/ingress"},
                              std::pair{c->skel_->progs.hs_egress, "cgroup_skb/egress"}})
        if (auto r = attach(bpf_program__attach_cgroup(prog, c->cgroup_fd_.get()),
                            std::string(what) + " to " + opts.cgroup2_root);
            !r)
            return r.error();
    if (auto r = attach(bpf_program__attach(c->skel_->progs.hs_sock_state), "tracepoint tp_btf/inet_sock_set_state");
        !r)
        return r.error();

    c->rb_ = ring_buffer__new(bpf_map__fd(c->skel_->maps.events), &Capture::on_record, c.get(), nullptr);
    if (!c->rb_) return bpf_error("creating the ring buffer reader", errno);
    return c;
}

Capture::~Capture() {
    if (rb_) ring_buffer__free(rb_);
    for (bpf_link* l : links_) bpf_link__destroy(l);
    if (skel_) http_bpf__destroy(skel_);
}

int Capture::on_record(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Capture*>(ctx);
    self->handler_(std::span(static_cast<const std::byte*>(data), size));
    return 0;
}

int Capture::epoll_fd() const { return ring_buffer__epoll_fd(rb_); }

int Capture::consume() { return ring_buffer__consume(rb_); }

int Capture::poll() { return ring_buffer__poll(rb_, 0); }

std::array<std::uint64_t, HS_STAT__COUNT> Capture::stats() const {
    std::array<std::uint64_t, HS_STAT__COUNT> out{};
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return out;
    std::vector<std::uint64_t> per_cpu(ncpu);
    int fd = bpf_map__fd(skel_->maps.hs_stats);
    for (std::uint32_t i = 0; i < HS_STAT__COUNT; ++i) {
        if (bpf_map_lookup_elem(fd, &i, per_cpu.data()) != 0) continue;
        for (auto v : per_cpu) out[i] += v;
    }
    return out;
}

} // namespace homeostat::agent
