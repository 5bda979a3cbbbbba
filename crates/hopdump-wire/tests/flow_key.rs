//! `flow_key` finds the innermost IP packet through tunnels, with the fields the trace engine
//! correlates on.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use hopdump_wire::{LinkType, flow_key};

fn key(name: &str) -> Option<hopdump_wire::FlowKey> {
    let cases = common::all_cases();
    let c = cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    flow_key(c.link, &c.data)
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

#[test]
fn plain_tcp() {
    let k = key("tcp syn").expect("key");
    assert_eq!(
        (k.src, k.dst, k.proto, k.sport, k.dport),
        (v4(common::V4_A), v4(common::V4_B), 6, 43512, 8080)
    );
    assert_eq!(k.ip_id, Some(0x1c46));
    assert_eq!(k.tcp_seq, Some(3_908_710_133));
    assert_eq!(k.tunnel_vni, None);
}

#[test]
fn vxlan_and_geneve_decapsulate() {
    let k = key("vxlan 4789 tcp").expect("key");
    assert_eq!(
        (k.src, k.dst, k.dport, k.tunnel_vni),
        (v4([10, 244, 1, 5]), v4([10, 244, 2, 7]), 80, Some(1))
    );
    let k = key("flannel vxlan 8472 icmp").expect("key");
    assert_eq!((k.proto, k.sport, k.tunnel_vni), (1, 1, Some(1)));
    let k = key("geneve tcp with option").expect("key");
    assert_eq!(
        (k.dst, k.dport, k.tunnel_vni),
        (v4([10, 244, 2, 7]), 80, Some(42))
    );
    let k = key("geneve ipv4 payload").expect("key");
    assert_eq!((k.proto, k.tunnel_vni), (1, Some(256)));
}

#[test]
fn ip_in_ip_decapsulates() {
    let k = key("ipip").expect("key");
    assert_eq!((k.proto, k.sport, k.dport), (6, 5555, 6666));
    let k = key("ipv6 in ipv4").expect("key");
    assert_eq!(k.proto, 58);
    assert!(k.src.is_ipv6());
}

#[test]
fn fragments_and_other_links() {
    let k = key("ipv4 last fragment").expect("key");
    assert_eq!((k.proto, k.sport, k.dport, k.ip_id), (17, 0, 0, Some(4321)));
    let k = key("ipv6 first fragment").expect("key");
    assert_eq!((k.proto, k.sport, k.ip_id), (17, 6000, Some(12345)));
    assert_eq!(key("sll2 lo in").map(|k| k.dport), Some(30080));
    assert_eq!(key("null ipv6 swapped").map(|k| k.proto), Some(58));
    assert_eq!(key("raw ipv4").map(|k| k.sport), Some(1000));
    assert_eq!(key("arp request"), None);
    assert_eq!(flow_key(LinkType::Other(147), &[0x45; 40]), None);
}
