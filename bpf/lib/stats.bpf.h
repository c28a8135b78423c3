/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Per-CPU loss and activity counters (enum hs_stat); user space sums the CPUs. */
#ifndef HOMEOSTAT_STATS_BPF_H
#define HOMEOSTAT_STATS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_STAT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} hs_stats SEC(".maps");

static __always_inline void hs_stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&hs_stats, &idx);

	if (v)
		(*v)++;
}

#endif
