// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* hopdump-drops: the kernel half of `hopdump drops`.
 *
 * Runs on every skb:kfree_skb (a packet the kernel frees with a drop reason), reads the
 * packet's network and transport headers from the skb, keeps only the packets that match the
 * filter table user space compiled from a tcpdump-style expression and the netns set, and
 * sends one event per drop through a ring buffer. Two entry points with one body: a BTF-typed
 * tracepoint (tp_btf) and a raw tracepoint for kernels where tp_btf does not load; user space
 * loads exactly one of them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "drops.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hd_config);
} hd_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hd_event);
} hd_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HD_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} hd_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} hd_events SEC(".maps");

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

struct pkt {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
	__u8 family; /* 0 unknown, 4, 6 */
	__u8 proto;
	__u8 has_ports;
};

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&hd_counters, &idx);
	if (c)
		*c += 1;
}

static __always_inline __u8 byte_at(const struct hd_event *ev, __u32 off)
{
	return ev->hdr[off & (HD_HDR_BYTES - 1)];
}

/* Decode the copied header bytes; never reads past hdr_len. */
static __always_inline void parse(const struct hd_event *ev, struct pkt *p)
{
	__u32 len = ev->hdr_len;
	__u32 l4 = 0;
	__builtin_memset(p, 0, sizeof(*p));
	if (len < 1)
		return;
	__u8 version = ev->hdr[0] >> 4;
	if (version == 4 && len >= 20) {
		p->family = 4;
		p->proto = ev->hdr[9];
		__builtin_memcpy(&p->saddr[0], &ev->hdr[12], 4);
		__builtin_memcpy(&p->daddr[0], &ev->hdr[16], 4);
		__u16 frag = ((__u16)ev->hdr[6] << 8 | ev->hdr[7]) & 0x1fff;
		if (frag != 0)
			return; /* not the first fragment: no transport header */
		l4 = (ev->hdr[0] & 0x0f) * 4;
	} else if (version == 6 && len >= 40) {
		p->family = 6;
		__builtin_memcpy(p->saddr, &ev->hdr[8], 16);
		__builtin_memcpy(p->daddr, &ev->hdr[24], 16);
		__u8 nh = ev->hdr[6];
		l4 = 40;
		/* hop-by-hop, routing, destination options, fragment: a few, bounded */
		for (int i = 0; i < 4; i++) {
			if (nh != 0 && nh != 43 && nh != 60 && nh != 44)
				break;
			if (l4 + 8 > len)
				return;
			if (nh == 44) {
				__u16 off = ((__u16)byte_at(ev, l4 + 2) << 8 | byte_at(ev, l4 + 3)) & 0xfff8;
				nh = byte_at(ev, l4);
				l4 += 8;
				if (off != 0) {
					p->proto = nh;
					return;
				}
				continue;
			}
			__u32 ext = ((__u32)byte_at(ev, l4 + 1) + 1) * 8;
			nh = byte_at(ev, l4);
			l4 += ext;
		}
		p->proto = nh;
	} else {
		return;
	}
	if ((p->proto == 6 || p->proto == 17 || p->proto == 132) && l4 + 4 <= len) {
		p->has_ports = 1;
		p->sport = (__u16)byte_at(ev, l4) << 8 | byte_at(ev, l4 + 1);
		p->dport = (__u16)byte_at(ev, l4 + 2) << 8 | byte_at(ev, l4 + 3);
	}
}

static __always_inline bool net_match(const struct hd_term *t, const __u32 *a)
{
	return ((a[0] ^ t->addr[0]) & t->mask[0]) == 0 && ((a[1] ^ t->addr[1]) & t->mask[1]) == 0 &&
	       ((a[2] ^ t->addr[2]) & t->mask[2]) == 0 && ((a[3] ^ t->addr[3]) & t->mask[3]) == 0;
}

static __always_inline bool port_match(const struct hd_term *t, __u16 port)
{
	return port >= t->port_lo && port <= t->port_hi;
}

static __always_inline bool dir_combine(__u8 dir, bool s, bool d)
{
	switch (dir) {
	case HD_DIR_SRC:
		return s;
	case HD_DIR_DST:
		return d;
	case HD_DIR_AND:
		return s && d;
	default:
		return s || d;
	}
}

static __always_inline bool term_match(const struct hd_term *t, const struct pkt *p)
{
	switch (t->kind) {
	case HD_T_TRUE:
		return true;
	case HD_T_FAMILY:
		return p->family == t->family;
	case HD_T_PROTO:
		return p->family != 0 && p->proto == t->proto &&
		       (t->family == 0 || t->family == p->family);
	case HD_T_NET:
		if (p->family != t->family)
			return false;
		return dir_combine(t->dir, net_match(t, p->saddr), net_match(t, p->daddr));
	case HD_T_PORT:
		if (!p->has_ports)
			return false;
		if (t->proto != 0 && t->proto != p->proto)
			return false;
		return dir_combine(t->dir, port_match(t, p->sport), port_match(t, p->dport));
	}
	return false;
}

static __always_inline bool filter_match(const struct hd_config *cfg, const struct pkt *p)
{
	__u32 n = cfg->nclauses;
	if (n == 0)
		return true;
	for (int c = 0; c < HD_MAX_CLAUSES; c++) {
		if (c >= n)
			break;
		const struct hd_clause *cl = &cfg->clauses[c];
		__u32 nt = cl->nterms;
		bool all = true;
		for (int i = 0; i < HD_MAX_TERMS; i++) {
			if (i >= nt)
				break;
			const struct hd_term *t = &cl->terms[i];
			bool r = term_match(t, p);
			if (t->negate)
				r = !r;
			if (!r) {
				all = false;
				break;
			}
		}
		if (all)
			return true;
	}
	return false;
}

static __always_inline int handle(struct sk_buff *skb, void *location, __u32 reason)
{
	__u32 zero = 0;
	count(HD_C_SEEN);
	struct hd_config *cfg = bpf_map_lookup_elem(&hd_config, &zero);
	if (!cfg || !cfg->enabled)
		return 0;
	if (reason == cfg->reason_consumed)
		return 0;

	__u16 protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	bool is_ip = protocol == ETH_P_IP || protocol == ETH_P_IPV6;
	if (!is_ip && reason == cfg->reason_not_specified && !cfg->keep_noise) {
		count(HD_C_NOISE);
		return 0;
	}

	struct hd_event *ev = bpf_map_lookup_elem(&hd_scratch, &zero);
	if (!ev)
		return 0;
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	__u32 netns = 0;
	if (dev) {
		netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
		ev->ifindex = BPF_CORE_READ(dev, ifindex);
		bpf_probe_read_kernel_str(ev->ifname, sizeof(ev->ifname), &dev->name);
		ev->has_dev = 1;
	} else {
		struct sock *sk = BPF_CORE_READ(skb, sk);
		if (sk)
			netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
		ev->ifindex = 0;
		ev->ifname[0] = 0;
		ev->has_dev = 0;
	}

	__u32 nns = cfg->nnetns;
	if (nns > 0) {
		bool found = false;
		for (int i = 0; i < HD_MAX_NETNS; i++) {
			if (i >= nns)
				break;
			if (cfg->netns[i] == netns) {
				found = true;
				break;
			}
		}
		if (!found) {
			count(HD_C_FILTERED);
			return 0;
		}
	}

	ev->ts_ns = bpf_ktime_get_ns();
	ev->location = (__u64)location;
	ev->reason = reason;
	ev->netns = netns;
	ev->skb_len = BPF_CORE_READ(skb, len);
	ev->protocol = protocol;
	ev->hdr_len = 0;
	if (is_ip) {
		__u16 nh = BPF_CORE_READ(skb, network_header);
		__u32 tail = BPF_CORE_READ(skb, tail);
		unsigned char *head = BPF_CORE_READ(skb, head);
		if (nh != (__u16)~0U && head && tail > nh) {
			__u32 n = tail - nh;
			if (n > HD_HDR_BYTES)
				n = HD_HDR_BYTES;
			/* A fixed-size read keeps the verifier simple; the skb head allocation
			 * extends past `tail` (skb_shared_info follows `end`), and hdr_len says
			 * how much of it is packet. */
			if (bpf_probe_read_kernel(ev->hdr, HD_HDR_BYTES, head + nh) == 0)
				ev->hdr_len = n;
		}
	}

	struct pkt p;
	parse(ev, &p);
	if (!filter_match(cfg, &p)) {
		count(HD_C_FILTERED);
		return 0;
	}
	if (bpf_ringbuf_output(&hd_events, ev, sizeof(*ev), 0) != 0)
		count(HD_C_RINGBUF_FULL);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(hd_kfree_btf, struct sk_buff *skb, void *location, int reason)
{
	return handle(skb, location, (__u32)reason);
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(hd_kfree_raw, struct sk_buff *skb, void *location, int reason)
{
	return handle(skb, location, (__u32)reason);
}
