//! The versioned JSON schema of a decoded packet (`hopdump.packet/1`): owned, serde types that
//! the `--json` NDJSON output and its consumers share. Field names are a contract.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// Schema identifier written in every [`Packet`].
pub const PACKET_SCHEMA: &str = "hopdump.packet/1";

/// One decoded packet.
///
/// `layers` lists headers outermost first. Tunnels simply continue the list: after a `vxlan`
/// or `geneve` layer (or an `ipv4`/`ipv6` layer whose protocol is 4 or 41) come the inner
/// packet's layers. Decoding stops at the first header that does not fit in the captured
/// bytes; `truncated` then names it (tcpdump's protocol name: `ether`, `vlan`, `arp`, `ip`,
/// `ip6`, `tcp`, `udp`, `icmp`, `icmp6`, `vxlan`, `geneve`, `domain`, `sll`, `sll2`, `null`).
/// A `dns` layer follows the `udp` or `tcp` layer of port 53 (and UDP 5353, mDNS) when the
/// message is at least a header long; over TCP only when the segment holds exactly one
/// length-prefixed message, as tcpdump decodes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packet {
    /// Always [`PACKET_SCHEMA`].
    pub schema: String,
    /// pcap LINKTYPE_ number of the capture.
    pub linktype: u32,
    /// Bytes captured.
    pub caplen: u32,
    /// Bytes on the wire.
    pub len: u32,
    /// Headers, outermost first.
    pub layers: Vec<Layer>,
    /// The layer whose header ran past the captured bytes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

/// One protocol header. Serialised with a `"layer"` tag naming the variant (`"eth"`, `"tcp"`...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "layer", rename_all = "snake_case")]
pub enum Layer {
    /// BSD loopback header.
    Null(NullLayer),
    /// Linux cooked capture header (SLL or SLL2).
    Sll(SllLayer),
    /// Ethernet II header.
    Eth(EthLayer),
    /// One 802.1Q / 802.1ad tag.
    Vlan(VlanLayer),
    /// ARP packet.
    Arp(ArpLayer),
    /// IPv4 header.
    Ipv4(Ipv4Layer),
    /// IPv6 header with its extension headers.
    Ipv6(Ipv6Layer),
    /// TCP header.
    Tcp(TcpLayer),
    /// UDP header.
    Udp(UdpLayer),
    /// ICMP message.
    Icmp(IcmpLayer),
    /// ICMPv6 message.
    Icmpv6(Icmpv6Layer),
    /// VXLAN header (UDP 4789 or flannel's 8472).
    Vxlan(VxlanLayer),
    /// Geneve header.
    Geneve(GeneveLayer),
    /// DNS or mDNS message.
    Dns(DnsLayer),
    /// A protocol this crate does not decode.
    Unknown(UnknownLayer),
}

/// BSD loopback header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NullLayer {
    /// Address family (2 = IPv4; 24, 28, 30 = IPv6).
    pub family: u32,
}

/// Linux cooked capture header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SllLayer {
    /// 1 for SLL (LINKTYPE 113), 2 for SLL2 (276).
    pub version: u8,
    /// Packet type: 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us.
    pub packet_type: u16,
    /// tcpdump's name for `packet_type`: `In`, `B`, `M`, `P`, `Out` or `?`.
    pub direction: String,
    /// ARPHRD_ hardware type.
    pub hatype: u16,
    /// Link-layer source address, colon hex.
    pub addr: String,
    /// Protocol (ethertype).
    pub protocol: u16,
    /// Interface index (SLL2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifindex: Option<u32>,
}

/// Ethernet II header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthLayer {
    /// Source MAC, `aa:bb:cc:dd:ee:ff`.
    pub src: String,
    /// Destination MAC.
    pub dst: String,
    /// Type field (the first one; VLAN tags follow as `vlan` layers).
    pub ethertype: u16,
}

/// One VLAN tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanLayer {
    /// Tag protocol identifier (0x8100, 0x88a8, ...).
    pub tpid: u16,
    /// VLAN id.
    pub vid: u16,
    /// Priority code point.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// Type field after the tag.
    pub ethertype: u16,
}

/// ARP packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpLayer {
    /// Hardware type (1 = Ethernet).
    pub htype: u16,
    /// Protocol type (0x0800 = IPv4).
    pub ptype: u16,
    /// Operation code.
    pub op: u16,
    /// `request`, `reply`, `reverse_request`, `reverse_reply`, `inverse_request`, `inverse_reply` or `unknown`.
    pub operation: String,
    /// Sender hardware address, colon hex.
    pub sender_mac: String,
    /// Sender IPv4 address (when the protocol is IPv4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_ip: Option<Ipv4Addr>,
    /// Target hardware address, colon hex.
    pub target_mac: String,
    /// Target IPv4 address (when the protocol is IPv4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ip: Option<Ipv4Addr>,
}

/// IPv4 flag bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv4Flags {
    /// Don't fragment.
    pub df: bool,
    /// More fragments.
    pub mf: bool,
    /// The reserved (evil) bit.
    pub reserved: bool,
}

/// One IPv4 option.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv4Option {
    /// Option type byte.
    pub kind: u8,
    /// Option data (after type and length), lowercase hex.
    pub data: String,
}

/// IPv4 header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv4Layer {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Header length in bytes.
    pub header_len: u8,
    /// Type-of-service byte (DSCP << 2 | ECN).
    pub tos: u8,
    /// Total length field.
    pub len: u16,
    /// Identification.
    pub id: u16,
    /// Flag bits.
    pub flags: Ipv4Flags,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    /// Time to live.
    pub ttl: u8,
    /// Protocol number.
    pub proto: u8,
    /// Header checksum field.
    pub checksum: u16,
    /// Whether the header checksum verifies.
    pub checksum_ok: bool,
    /// Options, in order.
    pub options: Vec<Ipv4Option>,
}

/// One IPv6 extension header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Ext {
    /// `hop_by_hop`, `routing`, `fragment` or `dest_opts`.
    pub kind: String,
    /// Next header after this one.
    pub next_header: u8,
    /// Length in bytes.
    pub len: u16,
    /// Fragment offset in bytes (fragment header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frag_offset: Option<u16>,
    /// More-fragments bit (fragment header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_fragments: Option<bool>,
    /// Identification (fragment header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frag_id: Option<u32>,
    /// Routing type (routing header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_type: Option<u8>,
    /// Segments left (routing header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments_left: Option<u8>,
}

/// IPv6 header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Layer {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label.
    pub flow_label: u32,
    /// Payload length field.
    pub payload_len: u16,
    /// Next header of the fixed header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Extension headers, in order.
    pub ext_headers: Vec<Ipv6Ext>,
}

/// TCP flag bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpFlags {
    /// FIN
    pub fin: bool,
    /// SYN
    pub syn: bool,
    /// RST
    pub rst: bool,
    /// PSH
    pub psh: bool,
    /// ACK
    pub ack: bool,
    /// URG
    pub urg: bool,
    /// ECE
    pub ece: bool,
    /// CWR
    pub cwr: bool,
}

/// One TCP option. Serialised with a `"kind"` tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TcpOpt {
    /// End of option list.
    Eol,
    /// No-operation.
    Nop,
    /// Maximum segment size.
    Mss {
        /// Bytes.
        value: u16,
    },
    /// Window scale.
    Wscale {
        /// Shift count.
        shift: u8,
    },
    /// SACK permitted.
    SackOk,
    /// Selective acknowledgment blocks `[left, right]`.
    Sack {
        /// Blocks.
        blocks: Vec<[u32; 2]>,
    },
    /// Timestamps.
    Timestamp {
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
    /// Another option.
    Other {
        /// Option kind byte.
        code: u8,
        /// Data, lowercase hex.
        data: String,
    },
    /// A length that does not fit; the rest of the options are not decoded.
    Malformed {
        /// Option kind byte.
        code: u8,
    },
}

/// TCP header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpLayer {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number (absolute).
    pub seq: u32,
    /// Acknowledgment number (absolute).
    pub ack: u32,
    /// Header length in bytes.
    pub header_len: u8,
    /// Flags as tcpdump prints them between the brackets (`S`, `S.`, `P.`, `none`...).
    pub flags: String,
    /// Flags as booleans.
    pub flag_bits: TcpFlags,
    /// Window.
    pub win: u16,
    /// Checksum field.
    pub checksum: u16,
    /// Urgent pointer.
    pub urg_ptr: u16,
    /// Options, in order.
    pub options: Vec<TcpOpt>,
    /// Payload bytes according to the IP length (not just what was captured).
    pub payload_len: u32,
}

/// UDP header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpLayer {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Length field (header included).
    pub len: u16,
    /// Checksum field (0 = none).
    pub checksum: u16,
    /// Payload bytes according to the length field.
    pub payload_len: u32,
}

/// The header of the datagram an ICMP error quotes: enough to find the original packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quoted {
    /// Original source.
    pub src: IpAddr,
    /// Original destination.
    pub dst: IpAddr,
    /// Original protocol.
    pub proto: u8,
    /// Original IPv4 id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_id: Option<u16>,
    /// Original TTL / hop limit (as it arrived where the error was generated).
    pub ttl: u8,
    /// Original total length (IPv4) or payload length (IPv6).
    pub len: u16,
    /// Original source port (TCP/UDP), when quoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    /// Original destination port (TCP/UDP), when quoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dport: Option<u16>,
    /// Original TCP sequence number, when quoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_seq: Option<u32>,
}

/// ICMP message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcmpLayer {
    /// Type.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// Code.
    pub code: u8,
    /// `echo_request`, `echo_reply`, `unreachable`, `source_quench`, `redirect`,
    /// `time_exceeded`, `param_problem` or `other`.
    pub kind: String,
    /// Checksum field.
    pub checksum: u16,
    /// Echo identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u16>,
    /// Echo sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u16>,
    /// Next-hop MTU (fragmentation needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Gateway (redirect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// The quoted datagram of an error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted: Option<Quoted>,
}

/// ICMPv6 message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Icmpv6Layer {
    /// Type.
    #[serde(rename = "type")]
    pub icmp_type: u8,
    /// Code.
    pub code: u8,
    /// Checksum field.
    pub checksum: u16,
    /// Echo identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u16>,
    /// Echo sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u16>,
    /// MTU (packet too big).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Target address (neighbor solicitation / advertisement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Ipv6Addr>,
    /// The quoted datagram of an error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted: Option<Quoted>,
}

/// VXLAN header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VxlanLayer {
    /// Flags byte (0x08 = VNI valid).
    pub flags: u8,
    /// VXLAN network identifier.
    pub vni: u32,
    /// The UDP port it was recognised on (4789, or 8472 for flannel).
    pub udp_port: u16,
}

/// Geneve header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneveLayer {
    /// Version.
    pub version: u8,
    /// OAM bit.
    pub oam: bool,
    /// Critical-options bit.
    pub critical: bool,
    /// Payload protocol (ethertype; 0x6558 = Ethernet).
    pub protocol: u16,
    /// Virtual network identifier.
    pub vni: u32,
    /// Options length in bytes.
    pub options_len: u16,
}

/// DNS message: header fields, questions and answers (authority and additional records are
/// only counted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsLayer {
    /// Message id.
    pub id: u16,
    /// QR bit: a response.
    pub response: bool,
    /// Opcode (0 query, 1 inverse query, 2 status, 4 notify, 5 update).
    pub opcode: u8,
    /// Response code, extended by the OPT record's upper 8 bits when there is one
    /// (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, 16 BADVERS, ...).
    pub rcode: u16,
    /// The flags word as sent (AA 0x0400, TC 0x0200, RD 0x0100, RA 0x0080, AD 0x0020,
    /// CD 0x0010, header rcode in the low 4 bits).
    pub flags: u16,
    /// Question count from the header.
    pub qdcount: u16,
    /// Answer count from the header.
    pub ancount: u16,
    /// Authority count from the header.
    pub nscount: u16,
    /// Additional count from the header.
    pub arcount: u16,
    /// The questions that were captured and well formed, in order.
    pub questions: Vec<DnsQuestion>,
    /// The answer records that were captured and well formed, in order.
    pub answers: Vec<DnsRecord>,
}

/// One DNS question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsQuestion {
    /// Name in master-file form with its trailing dot (`.` for the root; `\.`, `\\` and
    /// `\DDD` escapes).
    pub name: String,
    /// tcpdump's type name (`A`, `AAAA`, `SRV`, ...; `Type65` when it has none).
    #[serde(rename = "type")]
    pub qtype: String,
    /// Class (1 = IN; mDNS sets the top bit to ask for a unicast reply).
    pub class: u16,
}

/// One DNS resource record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Owner name, as in [`DnsQuestion::name`].
    pub name: String,
    /// tcpdump's type name.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Class (mDNS sets the top bit to flush caches).
    pub class: u16,
    /// Time to live, seconds.
    pub ttl: u32,
    /// The data in master-file form: the address (`A`, `AAAA`), the name (`CNAME`, `NS`,
    /// `PTR`, `DNAME`), `preference name` (`MX`), `priority weight port target` (`SRV`),
    /// quoted strings (`TXT`), `mname rname serial refresh retry expire minimum` (`SOA`);
    /// lowercase hex for other types or data that does not parse.
    pub data: String,
}

/// A protocol this crate does not decode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownLayer {
    /// What the number is: `ethertype`, `llc_length`, `ip_proto`, `ip_version`, `null_family`,
    /// `geneve_protocol`, `sll_protocol` or `linktype`.
    pub of: String,
    /// The number.
    pub value: u32,
    /// Bytes left (captured) from here on.
    pub len: u32,
}
