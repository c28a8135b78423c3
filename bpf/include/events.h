/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one ABI between the BPF programs (bpf/ *.bpf.c files) and homeostatd.
 *
 * Plain C, fixed-size, explicitly padded records. The BPF side includes this after
 * vmlinux.h; user space includes it through its C++ twin events.hpp, which checks sizes
 * and offsets with static_asserts and decodes ring-buffer bytes. A field added on one
 * side only fails the build (events.hpp) and the BTF layout test (tests/bpf).
 * Bump HS_ABI_VERSION on any layout change.
 */
#ifndef HOMEOSTAT_EVENTS_H
#define HOMEOSTAT_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define HS_ABI_VERSION 1

/* Bytes of the request line kept after "METHOD ": enough for most routes; longer
 * paths are cut and flagged HS_XF_PATH_TRUNCATED. A power of two keeps the verifier's
 * bounds checks cheap. */
#define HS_PATH_MAX 128
#define HS_COMM_LEN 16

enum hs_event_kind {
	HS_EV_HTTP_EXCHANGE = 1, /* one finished request/response head pair */
	HS_EV_LISTEN = 2,        /* a process started listening on a TCP port */
	HS_EV_PROC_EXEC = 3,     /* hs_proc_event: a process image was replaced (bpf/proc.bpf.c) */
	HS_EV_PROC_FORK = 4,     /* hs_proc_event: a new process (not a thread) */
	HS_EV_PROC_EXIT = 5,     /* hs_proc_event: the last thread of a process exited */
	HS_EV_OOM_KILL = 6,      /* hs_oom_event: the kernel chose an OOM victim */
	HS_EV_TCP = 7,           /* hs_tcp_event: retransmit, reset or failed connect */
};

enum hs_tcp_kind {
	HS_TCP_RETRANSMIT = 1,
	HS_TCP_RESET_SENT = 2,
	HS_TCP_RESET_RECEIVED = 3,
	HS_TCP_CONNECT_FAILED = 4, /* SYN_SENT -> CLOSE */
};

enum hs_role {
	HS_ROLE_SERVER = 1, /* request arrived on the socket, response left it */
	HS_ROLE_CLIENT = 2, /* request left the socket, response arrived */
};

enum hs_http_method {
	HS_M_UNKNOWN = 0,
	HS_M_GET,
	HS_M_HEAD,
	HS_M_POST,
	HS_M_PUT,
	HS_M_DELETE,
	HS_M_PATCH,
	HS_M_OPTIONS,
	HS_M_CONNECT,
	HS_M_TRACE,
	HS_M__COUNT,
};

enum hs_exchange_flags {
	HS_XF_PATH_TRUNCATED = 1 << 0, /* path[] filled up: the target is whole only if a space ends it inside */
	HS_XF_OWNER_KNOWN = 1 << 1,    /* tgid/comm were learnt in process context */
	HS_XF_HTTP10 = 1 << 2,         /* response version HTTP/1.0 */
};

/* Indexes of the per-CPU counters in the hs_stats map; user space sums them. */
/* Only what user space cannot count itself: events it receives are counted there. */
enum hs_stat {
	HS_STAT_RINGBUF_DROPS = 0,  /* events lost: ring buffer full */
	HS_STAT_STORAGE_FAILS,      /* socket storage could not be created */
	HS_STAT_RETRANSMITS_SKIPPED,/* duplicate TCP segments ignored */
	HS_STAT_UNPARSED_RESPONSES, /* a response that did not start with "HTTP/1." */
	HS_STAT__COUNT,
};

/* Common header of every ring-buffer record. */
struct hs_event_header {
	__u16 kind;        /* enum hs_event_kind */
	__u16 size;        /* sizeof the whole record */
	__u32 abi_version; /* HS_ABI_VERSION */
	__u64 ktime_ns;    /* bpf_ktime_get_ns() of the event (for exchanges: resp_start_ns) */
};

/* One HTTP/1.x exchange, submitted when the first bytes of its response are seen. */
struct hs_http_exchange {
	struct hs_event_header hdr;
	__u64 req_start_ns;  /* first request byte seen on the socket (ktime) */
	__u64 resp_start_ns; /* first response byte seen on the socket (ktime) */
	__u64 cgroup_id;     /* cgroup v2 id of the socket */
	__u64 sock_cookie;   /* bpf_get_socket_cookie(): stable id of the connection */
	__u64 req_bytes;     /* request payload bytes seen before the response began */
	__u32 tgid;          /* owning process if learnt (HS_XF_OWNER_KNOWN), else 0 */
	__u16 status;        /* HTTP status code, 0 if unparsable */
	__u8 method;         /* enum hs_http_method */
	__u8 role;           /* enum hs_role */
	__u8 flags;          /* enum hs_exchange_flags */
	__u8 family;         /* AF_INET (2) or AF_INET6 (10) */
	__u16 path_len;      /* bytes valid in path[] */
	__u16 local_port;    /* host byte order */
	__u16 remote_port;   /* host byte order */
	__u8 local_addr[16]; /* network byte order; IPv4 in the first 4 bytes */
	__u8 remote_addr[16];
	char comm[HS_COMM_LEN]; /* owner's comm if HS_XF_OWNER_KNOWN */
	/* Raw bytes after "METHOD ": the request target and whatever followed it in the
	 * first packets (" HTTP/1.1\r\n..."); user space cuts it at the first space. */
	char path[HS_PATH_MAX];
};

/* A socket entered TCP_LISTEN; tells user space which process serves a port. */
struct hs_listen_event {
	struct hs_event_header hdr;
	__u64 cgroup_id;
	__u32 tgid;
	__u16 port;   /* host byte order */
	__u8 family;  /* AF_INET or AF_INET6 */
	__u8 _pad0;
	char comm[HS_COMM_LEN];
};

/* Process life cycle (exec, fork, exit). */
struct hs_proc_event {
	struct hs_event_header hdr;
	__u64 cgroup_id; /* cgroup v2 id of the process */
	__u64 cpu_ns;    /* exit only: on-CPU time of the whole process (all threads), ns */
	__u32 tgid;
	__u32 ppid;      /* tgid of the parent */
	__u32 exit_code; /* exit only: wait(2) status: (code << 8) | signal */
	__u32 _pad0;
	char comm[HS_COMM_LEN];
};

/* The OOM killer marked a victim (oom:mark_victim). */
struct hs_oom_event {
	struct hs_event_header hdr;
	__u64 cgroup_id; /* cgroup v2 id of the victim */
	__u64 memcg_id;  /* id (kernfs inode) of the victim's memory cgroup: v1 memory hierarchy
	                    on hybrid hosts, the v2 cgroup otherwise; 0 if unknown */
	__u64 rss_pages; /* victim's anon + file + shmem resident pages at the kill */
	__u32 tgid;
	__u32 uid;
	char comm[HS_COMM_LEN];
};

/* A TCP health event on a socket (enum hs_tcp_kind). These fire per lost segment or per
 * reset, not per packet: rare enough for the ring buffer. */
struct hs_tcp_event {
	struct hs_event_header hdr;
	__u64 cgroup_id;   /* cgroup v2 id of the socket, 0 if it was not a full socket */
	__u32 tgid;        /* process that connect()ed the socket, 0 if not known */
	__u16 local_port;  /* host byte order */
	__u16 remote_port; /* host byte order */
	__u8 kind;         /* enum hs_tcp_kind */
	__u8 family;
	__u16 segs;        /* retransmit: TCP segments resent (a TSO skb carries several); else 1 */
	__u8 _pad0[4];
	char comm[HS_COMM_LEN]; /* owner's comm if tgid != 0 */
};

#endif /* HOMEOSTAT_EVENTS_H */
