/* hopdump-drops: the layout shared by the BPF program and user space (mirrored in src/abi.rs).
 * Plain C types, explicit padding, little-endian host order except where a field says "network
 * order". Change both sides together. */
#ifndef HOPDUMP_DROPS_H
#define HOPDUMP_DROPS_H

#define HD_MAX_CLAUSES 8
#define HD_MAX_TERMS 8
#define HD_MAX_NETNS 16
#define HD_HDR_BYTES 128

/* term kinds: one primitive of the filter expression */
#define HD_T_TRUE 0   /* always true (an empty expression) */
#define HD_T_FAMILY 1 /* ip (family 4) / ip6 (family 6) */
#define HD_T_PROTO 2  /* L4 protocol number (tcp=6, udp=17, icmp=1, icmpv6=58) */
#define HD_T_NET 3    /* address/prefix (host = full-length prefix) */
#define HD_T_PORT 4   /* port range (tcp/udp/sctp only) */

/* direction of a host/net/port term */
#define HD_DIR_ANY 0
#define HD_DIR_SRC 1
#define HD_DIR_DST 2
#define HD_DIR_AND 3 /* "src and dst" */

struct hd_term {
	__u8 kind;
	__u8 negate;
	__u8 dir;
	__u8 family;   /* 4 or 6 for NET/FAMILY */
	__u8 proto;    /* PROTO */
	__u8 _pad;
	__u16 port_lo; /* PORT, host order, inclusive */
	__u16 port_hi;
	__u16 _pad2;
	__u32 addr[4]; /* NET: address bytes in network order (IPv4: the first 4 bytes) */
	__u32 mask[4]; /* NET: prefix mask bytes in network order */
};

struct hd_clause {
	__u32 nterms;
	__u32 _pad;
	struct hd_term terms[HD_MAX_TERMS];
};

struct hd_config {
	__u32 nclauses;   /* 0: match everything; otherwise OR of clauses (each an AND of terms) */
	__u32 nnetns;     /* 0: every namespace; otherwise only these netns inodes */
	__u32 netns[HD_MAX_NETNS];
	__u32 reason_consumed;      /* SKB_CONSUMED from BTF (never reported) */
	__u32 reason_not_specified; /* SKB_DROP_REASON_NOT_SPECIFIED from BTF */
	__u32 keep_noise;           /* 1: report NOT_SPECIFIED drops of non-IP packets too */
	__u32 enabled;              /* 0 until user space has written the config */
	struct hd_clause clauses[HD_MAX_CLAUSES];
};

/* counters (per CPU array index) */
#define HD_C_SEEN 0        /* kfree_skb hits */
#define HD_C_FILTERED 1    /* rejected by the filter or netns set */
#define HD_C_NOISE 2       /* NOT_SPECIFIED non-IP drops hidden */
#define HD_C_RINGBUF_FULL 3 /* events lost: ring buffer full */
#define HD_C_MAX 4

struct hd_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u64 location;   /* kernel address that freed the skb */
	__u32 reason;     /* enum skb_drop_reason */
	__u32 netns;      /* netns inode of skb->dev (or of the socket) */
	__u32 ifindex;    /* skb->dev->ifindex, 0 if none */
	__u32 skb_len;
	__u16 protocol;   /* skb->protocol, host order */
	__u16 hdr_len;    /* bytes valid in hdr[] */
	__u8 has_dev;
	__u8 _pad[3];
	char ifname[16];
	__u8 hdr[HD_HDR_BYTES]; /* the packet from its network header on */
};

#endif
