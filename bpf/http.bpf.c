// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/1.x exchange capture at packet level.
 *
 * Why packets: syscall tracepoints put every syscall of every task on the kernel's slow
 * path (≈ 4 % of a saturated nginx before any work, see shared/ENVIRONMENT.md), while
 * cgroup_skb programs on the cgroup v2 root run only for packets and cost ≈ 0.3 %.
 *
 * How: both programs see every TCP segment of every socket on the host, with skb->sk the
 * local socket. A connection becomes ours when a segment's payload starts with an HTTP
 * method: then a small state record is created in the socket's own storage (sk_storage,
 * freed with the socket; no global hash on the hot path). The direction of that first
 * request fixes the socket's role (arrived = server, left = client). The first response
 * segment in the opposite direction completes the exchange and one event goes to the
 * ring buffer; the next request on a keep-alive connection starts the next exchange.
 * Connections opened before the daemon started are picked up at their next request.
 *
 * Process ownership: sockets a process connect()s get an owner record (tgid, comm) from
 * the inet_sock_set_state tracepoint, which runs in that process's context (SYN_SENT).
 * Accepted sockets belong to whoever listens on the local port: user space knows that
 * from the listen events sent here and from /proc.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"
#include "http_parse.bpf.h"
#include "stats.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Referenced so that the ABI structs are in this object's BTF, where the layout test
 * (tests/bpf/abi_layout_test.cpp) compares them with the C++ side. */
const struct hs_http_exchange *hs_abi_exchange __attribute__((unused));
const struct hs_listen_event *hs_abi_listen __attribute__((unused));

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_LISTEN 10

#define hs_barrier_var(v) asm volatile("" : "+r"(v))

/* Ring buffer wake-ups cost a context switch each; user space drains on a 100 ms timer
 * anyway, so only wake it early when this much data is waiting. Set through rodata. */
const volatile __u64 wakeup_bytes = 256 * 1024;

enum hs_conn_state {
	HS_CONN_IDLE = 0,     /* between exchanges */
	HS_CONN_REQUEST = 1,  /* request seen, waiting for the response's status line */
	HS_CONN_RESPONSE = 2, /* response under way; the next request starts a new exchange */
	HS_CONN_IGNORE = 3,   /* upgraded (101) or otherwise not HTTP/1 any more */
};

#define HS_STATUS_LINE 12 /* "HTTP/1.1 200" */

/* Per-socket state. The scratch buffers are twice the bytes they keep so that a copy of
 * up to N bytes at a variable offset below N is provably in bounds for the verifier. */
struct hs_conn {
	__u64 cookie;    /* fixed for the socket's life: read once, not per exchange */
	__u64 cgroup_id;
	__u64 req_start_ns;
	__u64 resp_start_ns;
	__u64 req_bytes;
	__u32 next_seq[2]; /* [egress]: sequence number after the last segment seen */
	__u32 tgid;
	__u8 seq_valid[2];
	__u8 state;
	__u8 role;
	__u8 method;
	__u8 flags;
	__u16 path_len;   /* bytes of the request target collected in path[] */
	__u16 status_len; /* bytes of the status line collected in status_line[] */
	__u8 status_line[2 * HS_STATUS_LINE];
	char comm[HS_COMM_LEN];
	char path[2 * HS_PATH_MAX];
};

struct hs_owner {
	__u32 tgid;
	__u32 _pad;
	char comm[HS_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hs_conn);
} hs_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hs_owner);
} hs_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by user space before load */
} events SEC(".maps");

/* Wake the daemon when the backlog crosses a multiple of wakeup_bytes, not on every record
 * above it. A stalled consumer (SIGSTOP, a starved host) leaves the backlog above the
 * threshold, and a forced wake-up per record (an irq_work and a wake_up of the epoll
 * waiters each) is work on the served path that nobody can act on (docs/hardening.md).
 * A crossing missed in a race with another CPU (the
 * backlog counts records still being written) is made up at the next multiple or by the
 * daemon's drain timer. */
static __always_inline __u64 hs_ringbuf_flags(void)
{
	const __u64 rec = (sizeof(struct hs_http_exchange) + 8 + 7) & ~7ULL; /* + BPF_RINGBUF_HDR_SZ, 8-aligned */
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	if (wakeup_bytes == 0)
		return BPF_RB_FORCE_WAKEUP; /* every record, as asked */
	if (avail < wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	if (avail < rec || avail / wakeup_bytes != (avail - rec) / wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Where the TCP payload starts and how long it is; 0 if the segment is not TCP. */
struct hs_seg {
	__u32 off;
	__u32 len;
	__u32 seq;
};

/* Header fields through bpf_skb_load_bytes(): for the rare skb whose headers are not in
 * its linear part. */
static __always_inline int hs_parse_segment_slow(struct __sk_buff *skb, struct hs_seg *seg)
{
	__u32 ip_len;
	__u8 b;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, 0, &b, 1))
			return 0;
		ip_len = (b & 0x0f) * 4;
	} else {
		if (bpf_skb_load_bytes(skb, 6, &b, 1) || b != IPPROTO_TCP)
			return 0;
		ip_len = 40;
	}
	if (bpf_skb_load_bytes(skb, ip_len + 4, &seg->seq, 4) || bpf_skb_load_bytes(skb, ip_len + 12, &b, 1))
		return 0;
	seg->seq = bpf_ntohl(seg->seq);
	seg->off = ip_len + (b >> 4) * 4;
	seg->len = skb->len > seg->off ? skb->len - seg->off : 0;
	return 1;
}

/* The socket is TCP, so the packet is: only where the payload starts is needed. Direct
 * packet reads of the headers cost a few instructions; each helper call costs more than
 * all of them together, and this runs for every segment on the host, ACKs included. */
static __always_inline int hs_parse_segment(struct __sk_buff *skb, struct hs_seg *seg)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct tcphdr *th;
	__u32 ip_len;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > data_end)
			return hs_parse_segment_slow(skb, seg);
		ip_len = ip->ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > data_end)
			return hs_parse_segment_slow(skb, seg);
		/* Extension headers before TCP are not followed: rare for TCP in practice. */
		if (ip6->nexthdr != IPPROTO_TCP)
			return 0;
		ip_len = 40;
	} else {
		return 0;
	}
	th = data + ip_len;
	if ((void *)(th + 1) > data_end)
		return hs_parse_segment_slow(skb, seg);
	seg->seq = bpf_ntohl(th->seq);
	seg->off = ip_len + th->doff * 4;
	seg->len = skb->len > seg->off ? skb->len - seg->off : 0;
	return 1;
}

/* Appends up to `want` bytes of this segment's payload, starting `skip` bytes in, to
 * buf at *have (which stays below max). Used for the request target and status line. */
static __always_inline void hs_collect(struct __sk_buff *skb, const struct hs_seg *seg,
				       __u32 skip, char *buf, __u16 *have, __u32 max)
{
	__u64 h = *have;
	__u64 n;

	if (h >= max || skip >= seg->len)
		return;
	n = max - h;
	if (n > seg->len - skip)
		n = seg->len - skip;
	/* Restate the bounds on the very registers the helper call uses: without the
	 * barriers clang folds the checks into one on a copy and the verifier loses them. */
	hs_barrier_var(h);
	if (h >= max)
		return;
	hs_barrier_var(n);
	if (n > max)
		return;
	hs_barrier_var(n);
	if (n == 0)
		return;
	if (bpf_skb_load_bytes(skb, seg->off + skip, buf + h, n))
		return;
	*have = h + n;
}

static __always_inline void hs_start_request(struct __sk_buff *skb, struct hs_conn *c,
					     const struct hs_seg *seg, __u8 method, __u32 mlen)
{
	c->state = HS_CONN_REQUEST;
	c->method = method;
	c->req_start_ns = bpf_ktime_get_ns();
	c->req_bytes = seg->len;
	c->path_len = 0;
	c->status_len = 0;
	c->flags &= HS_XF_OWNER_KNOWN;
	hs_collect(skb, seg, mlen + 1, c->path, &c->path_len, HS_PATH_MAX);
}

static __always_inline void hs_emit(struct hs_conn *c, struct bpf_sock *sk, __u16 status, __u8 http10)
{
	struct hs_http_exchange *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		hs_stat_inc(HS_STAT_RINGBUF_DROPS);
		return;
	}
	e->hdr.kind = HS_EV_HTTP_EXCHANGE;
	e->hdr.size = sizeof(*e);
	e->hdr.abi_version = HS_ABI_VERSION;
	e->hdr.ktime_ns = c->resp_start_ns;
	e->req_start_ns = c->req_start_ns;
	e->resp_start_ns = c->resp_start_ns;
	e->cgroup_id = c->cgroup_id;
	e->sock_cookie = c->cookie;
	e->req_bytes = c->req_bytes;
	e->tgid = c->tgid;
	e->status = status;
	e->method = c->method;
	e->role = c->role;
	e->flags = c->flags | (http10 ? HS_XF_HTTP10 : 0);
	if (c->path_len >= HS_PATH_MAX)
		e->flags |= HS_XF_PATH_TRUNCATED;
	e->family = sk->family;
	e->path_len = c->path_len;
	e->local_port = sk->src_port;
	e->remote_port = bpf_ntohs(sk->dst_port);
	__builtin_memset(e->local_addr, 0, sizeof(e->local_addr));
	__builtin_memset(e->remote_addr, 0, sizeof(e->remote_addr));
	if (sk->family == AF_INET6) {
		__u32 *l = (__u32 *)e->local_addr, *r = (__u32 *)e->remote_addr;

		l[0] = sk->src_ip6[0];
		l[1] = sk->src_ip6[1];
		l[2] = sk->src_ip6[2];
		l[3] = sk->src_ip6[3];
		r[0] = sk->dst_ip6[0];
		r[1] = sk->dst_ip6[1];
		r[2] = sk->dst_ip6[2];
		r[3] = sk->dst_ip6[3];
	} else {
		*(__u32 *)e->local_addr = sk->src_ip4;
		*(__u32 *)e->remote_addr = sk->dst_ip4;
	}
	__builtin_memcpy(e->comm, c->comm, HS_COMM_LEN);
	__builtin_memcpy(e->path, c->path, HS_PATH_MAX);
	bpf_ringbuf_submit(e, hs_ringbuf_flags());
}

/* A new socket's first request: create its state, learn its owner if connect() told us. */
static __always_inline struct hs_conn *hs_track(struct __sk_buff *skb, struct bpf_sock *sk, int egress)
{
	struct hs_conn *c;
	struct hs_owner *o;

	c = bpf_sk_storage_get(&hs_conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!c) {
		hs_stat_inc(HS_STAT_STORAGE_FAILS);
		return 0;
	}
	c->role = egress ? HS_ROLE_CLIENT : HS_ROLE_SERVER;
	c->cookie = bpf_get_socket_cookie(skb);
	c->cgroup_id = bpf_skb_cgroup_id(skb);
	o = bpf_sk_storage_get(&hs_owners, sk, 0, 0);
	if (o) {
		c->tgid = o->tgid;
		__builtin_memcpy(c->comm, o->comm, HS_COMM_LEN);
		c->flags |= HS_XF_OWNER_KNOWN;
	}
	return c;
}

static __always_inline int hs_handle(struct __sk_buff *skb, int egress)
{
	struct bpf_sock *sk = skb->sk;
	struct hs_seg seg = {};
	struct hs_conn *c;
	__u8 head[HS_STATUS_LINE];
	__u32 mlen = 0;
	__u8 method;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != IPPROTO_TCP)
		return 1;
	if (!hs_parse_segment(skb, &seg) || seg.len == 0)
		return 1;

	c = bpf_sk_storage_get(&hs_conns, sk, 0, 0);
	if (!c) {
		/* Untracked socket: the common case for non-HTTP traffic, kept to one load. */
		if (seg.len < 8 || bpf_skb_load_bytes(skb, seg.off, head, 8))
			return 1;
		method = hs_parse_method(head, &mlen);
		if (method == HS_M_UNKNOWN)
			return 1;
		c = hs_track(skb, sk, egress);
		if (!c)
			return 1;
		c->seq_valid[egress] = 1;
		c->next_seq[egress] = seg.seq + seg.len;
		hs_start_request(skb, c, &seg, method, mlen);
		return 1;
	}
	if (c->state == HS_CONN_IGNORE)
		return 1;

	/* Retransmitted segments carry bytes already seen: skip them so an exchange is
	 * neither restarted nor completed twice. Sequence arithmetic wraps. */
	if (c->seq_valid[egress & 1] && (__s32)(seg.seq - c->next_seq[egress & 1]) < 0) {
		if ((__s32)(seg.seq + seg.len - c->next_seq[egress & 1]) <= 0) {
			hs_stat_inc(HS_STAT_RETRANSMITS_SKIPPED);
			return 1;
		}
	}
	c->seq_valid[egress & 1] = 1;
	c->next_seq[egress & 1] = seg.seq + seg.len;

	if ((c->role == HS_ROLE_CLIENT) == !!egress) {
		/* Request direction. */
		if (c->state == HS_CONN_REQUEST) {
			/* More of the same request: a head split over segments, or its body. */
			c->req_bytes += seg.len;
			hs_collect(skb, &seg, 0, c->path, &c->path_len, HS_PATH_MAX);
			return 1;
		}
		if (seg.len < 8 || bpf_skb_load_bytes(skb, seg.off, head, 8))
			return 1;
		method = hs_parse_method(head, &mlen);
		if (method != HS_M_UNKNOWN)
			hs_start_request(skb, c, &seg, method, mlen);
		return 1;
	}

	/* Response direction: only the status line of a pending request matters. */
	if (c->state != HS_CONN_REQUEST)
		return 1;
	if (c->status_len == 0)
		c->resp_start_ns = bpf_ktime_get_ns();
	hs_collect(skb, &seg, 0, (char *)c->status_line, &c->status_len, HS_STATUS_LINE);
	if (c->status_len < HS_STATUS_LINE)
		return 1; /* status line split over segments: wait for the rest */

	__u8 http10 = 0;
	__u16 status = hs_parse_status(c->status_line, &http10);

	if (status == 0) {
		hs_stat_inc(HS_STAT_UNPARSED_RESPONSES);
		c->state = HS_CONN_IDLE;
		return 1;
	}
	if (status >= 100 && status < 200 && status != 101) {
		/* Interim response (100 Continue, 103 Early Hints): the final one follows. */
		c->status_len = 0;
		return 1;
	}
	hs_emit(c, sk, status, http10);
	c->state = status == 101 ? HS_CONN_IGNORE : HS_CONN_RESPONSE;
	return 1;
}

SEC("cgroup_skb/ingress")
int hs_ingress(struct __sk_buff *skb)
{
	return hs_handle(skb, 0);
}

SEC("cgroup_skb/egress")
int hs_egress(struct __sk_buff *skb)
{
	return hs_handle(skb, 1);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(hs_sock_state, struct sock *sk, int oldstate, int newstate)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;

	if (newstate == TCP_SYN_SENT) {
		/* connect() in the caller's context: remember who owns the socket. */
		struct hs_owner *o;

		o = bpf_sk_storage_get(&hs_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!o) {
			hs_stat_inc(HS_STAT_STORAGE_FAILS);
			return 0;
		}
		o->tgid = id >> 32;
		bpf_get_current_comm(o->comm, sizeof(o->comm));
		return 0;
	}

	if (newstate == TCP_LISTEN) {
		struct hs_listen_event *e;

		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			hs_stat_inc(HS_STAT_RINGBUF_DROPS);
			return 0;
		}
		e->hdr.kind = HS_EV_LISTEN;
		e->hdr.size = sizeof(*e);
		e->hdr.abi_version = HS_ABI_VERSION;
		e->hdr.ktime_ns = bpf_ktime_get_ns();
		e->cgroup_id = bpf_get_current_cgroup_id();
		e->tgid = id >> 32;
		e->port = sk->__sk_common.skc_num;
		e->family = sk->__sk_common.skc_family;
		e->_pad0 = 0;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		/* Rare and wanted at once: a listener must be known before its first request. */
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	}
	return 0;
}
