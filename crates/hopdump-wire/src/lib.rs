//! Packet decoding and tcpdump-compatible printing for hopdump: no I/O, no allocation per
//! packet beyond the caller's output buffer.
//!
//! Three entry points over the same per-protocol parsers (one file per protocol, each with
//! a checked view over `&[u8]`):
//!
//! * [`write_text`] / [`Printer`] — the line tcpdump 4.99.3 prints after its timestamp, byte
//!   for byte, for the flags in [`TextOptions`] (`-n`/`-nn`, `-e`, `-v`, `-vv`, `-q`, `-S`).
//! * [`decode`] — an owned, serde view of every field ([`Packet`], schema [`PACKET_SCHEMA`])
//!   for NDJSON output.
//! * [`flow_key`] — the innermost 5-tuple plus IP id / TCP seq / VNI, without allocating, to
//!   follow a packet across tunnels and DNAT.
//!
//! # What matches tcpdump and what does not
//!
//! Matched byte for byte (and checked against the installed tcpdump by
//! `tests/golden_tcpdump.rs`): Ethernet, 802.1Q/QinQ, ARP, IPv4 (options, fragments,
//! checksums), IPv6 (hop-by-hop, routing, fragment and destination-options headers), TCP
//! (flags, relative or absolute seq/ack, all common options, checksums), UDP, ICMP (echo,
//! unreachable, need-to-frag, time exceeded, redirect, `-v` quoted datagram), ICMPv6 (echo,
//! errors, packet too big, neighbor/router discovery, MLD), VXLAN (UDP 4789), flannel's UDP
//! 8472 (which tcpdump 4.99 prints as OTV — same header, same inner frame), Geneve (6081),
//! IP-in-IP, IPv6-in-IPv4, SLL, SLL2, Null/loopback, raw IP, HTTP request/status lines
//! (TCP 80/8080) and DNS/mDNS (UDP/TCP 53, UDP 5353: every record type and EDNS option
//! tcpdump decodes, `-v`/`-vv`/`-vvv` sections and TTLs); truncated and malformed packets end
//! in tcpdump's `[|proto]`, `(invalid)` or `bad-len` markers.
//!
//! Not reproduced (they print a plainer line than tcpdump): other application-layer decoders
//! that tcpdump picks by port (NTP, DHCP, SNMP, NFS, SSH, ... — their UDP lines read
//! `UDP, length N` and their TCP lines stop after `length N`), other ethertypes tcpdump knows
//! (LLDP, MPLS, PPPoE, 802.3/LLC, MACsec — printed as the hex dump tcpdump uses for unknown
//! types), other IP protocols (IGMP, GRE, SCTP, ESP, ... — printed as `ip-proto-N LEN`),
//! MPTCP/TFO option details, ATM/Frame-Relay ARP, host names from DNS (names come only from
//! [`Names`]). [`write_text`] is stateless and so prints absolute sequence numbers (tcpdump
//! `-S`); use [`Printer`] for tcpdump's default relative numbers.

pub mod arp;
mod checksum;
mod decode;
pub mod dns;
pub mod ethernet;
mod field;
mod flow;
pub mod geneve;
mod http;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
mod link;
mod packet;
mod print;
pub mod sll;
mod tables;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use decode::decode;
pub use field::Truncated;
pub use flow::{FlowKey, flow_key};
pub use link::{LinkType, null_family};
pub use packet::*;
pub use print::{Printer, TcpSeqTable, write_text};

/// Name lookups the printer may use when the numeric flags are off. The binary implements
/// it (from /etc/hosts, /etc/services, `if_indextoname`); [`NoNames`] answers nothing.
pub trait Names {
    /// Host name for an address (used unless `numeric_hosts`).
    fn host(&self, ip: std::net::IpAddr) -> Option<&str> {
        let _ = ip;
        None
    }
    /// Service name for a port (used unless `numeric_ports`).
    fn port(&self, tcp: bool, port: u16) -> Option<&str> {
        let _ = (tcp, port);
        None
    }
    /// Interface name for an index (SLL2 captures; tcpdump prints `?` when unknown).
    fn ifname(&self, ifindex: u32) -> Option<&str> {
        let _ = ifindex;
        None
    }
}

/// The [`Names`] that knows no names.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoNames;

impl Names for NoNames {}

/// The tcpdump flags the text output follows.
#[derive(Clone, Debug, Default)]
pub struct TextOptions {
    /// `-v` = 1, `-vv` = 2, `-vvv` = 3 (which only adds DNS record TTLs).
    pub verbose: u8,
    /// `-e`: print the link-level header.
    pub link_header: bool,
    /// `-q`: less protocol detail.
    pub quiet: bool,
    /// `-n`: no host names (tcpdump's `-n` also implies `numeric_ports`).
    pub numeric_hosts: bool,
    /// No port names (`-n`/`-nn` set both).
    pub numeric_ports: bool,
    /// `-S`: absolute TCP sequence numbers in [`Printer`] ([`write_text`] is always absolute).
    pub absolute_seq: bool,
}

impl TextOptions {
    /// tcpdump `-nn`: numbers for hosts and ports, everything else default.
    pub fn numeric() -> Self {
        TextOptions {
            numeric_hosts: true,
            numeric_ports: true,
            ..Default::default()
        }
    }
}
