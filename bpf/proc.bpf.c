// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Process and connection health: exec/fork/exit, OOM victims, TCP retransmits, resets
 * and failed connects. Only BTF-typed tracepoints (tp_btf): no tracefs needed, no
 * kprobes/fentry (this kernel has neither), and every hook here fires per process event
 * or per lost segment/reset, never per packet or per context switch.
 *
 * Why no sched_switch program: per-process CPU time is read by user space from
 * /proc/<pid>/stat of the processes it tracks (the kernel already accounts it exactly,
 * at every context switch, for free). What /proc cannot give after the fact is the CPU
 * of a process that has gone: the exit event carries the whole process's final
 * sum_exec_runtime, so a service's CPU counter loses nothing to short-lived processes.
 *
 * Each program is attached on its own; user space skips (with a warning) the ones whose
 * tracepoint this kernel lacks.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* In this object's BTF for the layout test (tests/bpf/abi_layout_test.cpp). */
const struct hs_proc_event *hs_abi_proc __attribute__((unused));
const struct hs_oom_event *hs_abi_oom __attribute__((unused));
const struct hs_tcp_event *hs_abi_tcp __attribute__((unused));

#define IPPROTO_TCP 6
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define TCP_TIME_WAIT 6
#define TCP_NEW_SYN_RECV 12

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} proc_events SEC(".maps");

/* Events lost to a full ring buffer (one per-CPU counter; user space sums). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} proc_drops SEC(".maps");

/* Who connect()ed a socket: learnt at SYN_SENT, in the caller's context. Retransmits
 * and resets run in softirq, where the current task is whoever was interrupted. */
struct tcp_owner {
	__u32 tgid;
	char comm[HS_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tcp_owner);
} tcp_owners SEC(".maps");

static __always_inline void count_drop(void)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&proc_drops, &k);

	if (v)
		(*v)++;
}

/* Never wake user space: it drains on its 100 ms timer and before every scrape, and
 * 1 MiB holds 16k events, far more than processes or resets produce in 100 ms. */
static __always_inline __u64 rb_flags(void)
{
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void *reserve(__u64 size, __u16 kind)
{
	struct hs_event_header *h = bpf_ringbuf_reserve(&proc_events, size, 0);

	if (!h) {
		count_drop();
		return 0;
	}
	h->kind = kind;
	h->size = size;
	h->abi_version = HS_ABI_VERSION;
	h->ktime_ns = bpf_ktime_get_ns();
	return h;
}

static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

static __always_inline void proc_event(struct task_struct *t, __u16 kind, __u64 cpu_ns, __u32 exit_code)
{
	struct hs_proc_event *e = reserve(sizeof(*e), kind);

	if (!e)
		return;
	e->cgroup_id = task_cgroup_id(t);
	e->cpu_ns = cpu_ns;
	e->tgid = BPF_CORE_READ(t, tgid);
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	e->exit_code = exit_code;
	e->_pad0 = 0;
	BPF_CORE_READ_STR_INTO(&e->comm, t, comm);
	bpf_ringbuf_submit(e, rb_flags());
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(hs_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	proc_event(p, HS_EV_PROC_EXEC, 0, 0);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(hs_fork, struct task_struct *parent, struct task_struct *child)
{
	/* New threads share the tgid: only new processes are interesting. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	proc_event(child, HS_EV_PROC_FORK, 0, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(hs_exit, struct task_struct *p, bool group_dead)
{
	/* One event per process: when its last thread goes. Threads that exited earlier
	 * already added their runtime to signal->sum_sched_runtime. */
	if (!group_dead)
		return 0;
	__u64 cpu = BPF_CORE_READ(p, signal, sum_sched_runtime) + BPF_CORE_READ(p, se.sum_exec_runtime);
	proc_event(p, HS_EV_PROC_EXIT, cpu, BPF_CORE_READ(p, exit_code));
	return 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(hs_oom, struct task_struct *task, uid_t uid)
{
	struct hs_oom_event *e = reserve(sizeof(*e), HS_EV_OOM_KILL);
	int memory_id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

	if (!e)
		return 0;
	e->cgroup_id = task_cgroup_id(task);
	e->memcg_id = 0;
	if (memory_id >= 0 && memory_id < CGROUP_SUBSYS_COUNT) {
		struct cgroup_subsys_state *css = BPF_CORE_READ(task, cgroups, subsys[memory_id]);

		if (css)
			e->memcg_id = BPF_CORE_READ(css, cgroup, kn, id);
	}
	e->rss_pages = 0;
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	if (mm) {
		/* MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES: per-CPU counters; the summed
		 * "count" is approximate by up to the per-CPU batch, fine for a report. */
		for (int i = 0; i < 3; i++)
			e->rss_pages += BPF_CORE_READ(mm, rss_stat[i].count);
	}
	e->tgid = BPF_CORE_READ(task, tgid);
	e->uid = uid;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	bpf_ringbuf_submit(e, rb_flags());
	return 0;
}

static __always_inline void tcp_event(const struct sock *sk, __u8 kind, __u16 segs)
{
	struct hs_tcp_event *e;
	struct tcp_owner *o = 0;
	__u8 state;

	if (!sk)
		return;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e = reserve(sizeof(*e), HS_EV_TCP);
	if (!e)
		return;
	e->cgroup_id = 0;
	e->tgid = 0;
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	__builtin_memset(e->_pad0, 0, sizeof(e->_pad0));
	e->segs = segs;
	/* Time-wait and request socks are smaller structs: only the common part is valid. */
	if (state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV) {
		e->cgroup_id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
		o = bpf_sk_storage_get(&tcp_owners, (void *)sk, 0, 0);
		if (o) {
			e->tgid = o->tgid;
			__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
		}
	}
	e->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	/* A socket being closed has already given its port back (inet_num = 0); the
	 * source port it used is still in inet_sport. */
	if (!e->local_port && state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV)
		e->local_port = __builtin_bswap16(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	e->remote_port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->kind = kind;
	bpf_ringbuf_submit(e, rb_flags());
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(hs_tcp_retransmit, const struct sock *sk, const struct sk_buff *skb, int err)
{
	__u16 segs = 1;

	/* err < 0: nothing was built or sent (busy, no memory), the kernel does not count
	 * it either. err > 0 is a qdisc verdict (NET_XMIT_DROP...): the segment was resent
	 * and counted in RetransSegs / total_retrans, then dropped on the way out. */
	if (err < 0)
		return 0;
	/* tcp_skb_pcount(): TCP_SKB_CB(skb)->tcp_gso_segs, 8 bytes into skb->cb. The kernel's
	 * total_retrans counts segments, so do we. */
	if (skb && bpf_probe_read_kernel(&segs, sizeof(segs), (const char *)skb->cb + 8) == 0 && segs == 0)
		segs = 1;
	tcp_event(sk, HS_TCP_RETRANSMIT, segs);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(hs_tcp_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	/* sk is NULL for a reset answering a segment no socket wanted (a closed port): no
	 * local service to charge, so it is not counted. */
	tcp_event(sk, HS_TCP_RESET_SENT, 1);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(hs_tcp_receive_reset, struct sock *sk)
{
	tcp_event(sk, HS_TCP_RESET_RECEIVED, 1);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(hs_tcp_state, struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT) {
		struct tcp_owner *o = bpf_sk_storage_get(&tcp_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

		if (o) {
			o->tgid = bpf_get_current_pid_tgid() >> 32;
			bpf_get_current_comm(o->comm, sizeof(o->comm));
		}
		return 0;
	}
	if (oldstate == TCP_SYN_SENT && newstate == TCP_CLOSE)
		tcp_event(sk, HS_TCP_CONNECT_FAILED, 1);
	return 0;
}
