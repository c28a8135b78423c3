#include "agent/proc_capture.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "agent/fault_injection.h"
#include "proc.skel.h"

namespace homeostat::agent {

Result<std::unique_ptr<ProcCapture>> ProcCapture::open(Handler handler) {
    std::unique_ptr<ProcCapture> c(new ProcCapture());
    c->handler_ = std::move(handler);
    c->skel_ = proc_bpf__open();
    if (!c->skel_) return Error{std::string("opening the process BPF object: ") + std::strerror(errno), errno};

    // A tp_btf program whose tracepoint is missing fails the whole load, so probe the
    // kernel's BTF first and leave such programs out.
    struct Hook {
        bpf_program* prog;
        const char* tracepoint;
        const char* lost; // what goes unobserved without it, for the warning
    };
    const Hook hooks[] = {
        {c->skel_->progs.hs_exec, "sched_process_exec", "exec events"},
        {c->skel_->progs.hs_fork, "sched_process_fork", "new processes between /proc scans"},
        {c->skel_->progs.hs_exit, "sched_process_exit", "process exits and crash signals"},
        {c->skel_->progs.hs_oom, "mark_victim", "OOM kills"},
        {c->skel_->progs.hs_tcp_retransmit, "tcp_retransmit_skb", "TCP retransmits"},
        {c->skel_->progs.hs_tcp_send_reset, "tcp_send_reset", "TCP resets sent"},
        {c->skel_->progs.hs_tcp_receive_reset, "tcp_receive_reset", "TCP resets received"},
        {c->skel_->progs.hs_tcp_state, "inet_sock_set_state", "TCP connection states"},
    };
    btf* vmlinux = btf__load_vmlinux_btf();
    for (const Hook& h : hooks) {
        std::string type = std::string("btf_trace_") + h.tracepoint;
        if (vmlinux && btf__find_by_name_kind(vmlinux, type.c_str(), BTF_KIND_TYPEDEF) > 0) continue;
        bpf_program__set_autoload(h.prog, false);
        c->missing_.push_back(h.tracepoint);
        spdlog::warn("process health: this kernel has no {} tracepoint; {} are not observed (their figures stay "
                     "at zero)", h.tracepoint, h.lost);
    }
    btf__free(vmlinux);
    // A drill: the kernel refuses this program, so the load fails.
    for (const Hook& h : hooks)
        if (bpf_program__autoload(h.prog) && drill_breaks_bpf(h.tracepoint))
            bpf_program__set_flags(h.prog, bpf_program__flags(h.prog) | kDrillUnknownProgFlag);

    if (int err = proc_bpf__load(c->skel_))
        return Error{std::string("loading the process BPF programs: ") + std::strerror(-err), -err};
    for (const Hook& h : hooks) {
        if (!bpf_program__autoload(h.prog)) continue;
        bpf_link* link = bpf_program__attach(h.prog);
        if (!link) {
            c->missing_.push_back(h.tracepoint);
            spdlog::warn("process health: attaching tp_btf/{} failed: {}; {} are not observed", h.tracepoint,
                         std::strerror(errno), h.lost);
            continue;
        }
        c->links_.push_back(link);
    }
    c->rb_ = ring_buffer__new(bpf_map__fd(c->skel_->maps.proc_events), &ProcCapture::on_record, c.get(), nullptr);
    if (!c->rb_) return Error{std::string("creating the process ring buffer reader: ") + std::strerror(errno), errno};
    return c;
}

ProcCapture::~ProcCapture() {
    if (rb_) ring_buffer__free(rb_);
    for (bpf_link* l : links_) bpf_link__destroy(l);
    if (skel_) proc_bpf__destroy(skel_);
}

int ProcCapture::on_record(void* ctx, void* data, std::size_t size) {
    static_cast<ProcCapture*>(ctx)->handler_(std::span(static_cast<const std::byte*>(data), size));
    return 0;
}

int ProcCapture::consume() { return ring_buffer__consume(rb_); }

std::uint64_t ProcCapture::drops() const {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return 0;
    std::vector<std::uint64_t> per_cpu(ncpu);
    std::uint32_t key = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.proc_drops), &key, per_cpu.data()) != 0) return 0;
    std::uint64_t sum = 0;
    for (auto v : per_cpu) sum += v;
    return sum;
}

} // namespace homeostat::agent
