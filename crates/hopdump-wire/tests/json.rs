//! JSON contract: `decode` output round-trips through serde, and the documented field names
//! are what a consumer sees.

mod common;

use hopdump_wire::{Layer, LinkType, PACKET_SCHEMA, Packet, decode};
use serde_json::Value;

fn find<'a>(c: &'a [common::Case], name: &str) -> &'a common::Case {
    c.iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no corpus case {name}"))
}

#[test]
fn every_corpus_packet_round_trips() {
    for c in common::all_cases() {
        let p = decode(c.link, &c.data, c.orig_len);
        assert_eq!(p.schema, PACKET_SCHEMA);
        let s = serde_json::to_string(&p).expect("serialise");
        let back: Packet =
            serde_json::from_str(&s).unwrap_or_else(|e| panic!("[{}] {e}: {s}", c.name));
        assert_eq!(back, p, "[{}]", c.name);
    }
}

#[test]
fn tcp_syn_field_names() {
    let cases = common::all_cases();
    let c = find(&cases, "tcp syn");
    let v: Value = serde_json::to_value(decode(c.link, &c.data, c.orig_len)).expect("json");
    assert_eq!(v["schema"], "hopdump.packet/1");
    assert_eq!(v["linktype"], 1);
    assert_eq!(v["layers"][0]["layer"], "eth");
    assert_eq!(v["layers"][0]["src"], "02:42:ac:11:00:02");
    assert_eq!(v["layers"][0]["ethertype"], 0x0800);
    let ip = &v["layers"][1];
    assert_eq!(ip["layer"], "ipv4");
    assert_eq!(ip["src"], "10.244.1.5");
    assert_eq!(ip["dst"], "198.51.100.240");
    assert_eq!(ip["ttl"], 64);
    assert_eq!(ip["id"], 0x1c46);
    assert_eq!(ip["flags"]["df"], true);
    assert_eq!(ip["frag_offset"], 0);
    assert_eq!(ip["proto"], 6);
    assert_eq!(ip["checksum_ok"], true);
    let tcp = &v["layers"][2];
    assert_eq!(tcp["layer"], "tcp");
    assert_eq!(tcp["sport"], 43512);
    assert_eq!(tcp["dport"], 8080);
    assert_eq!(tcp["seq"], 3_908_710_133u32);
    assert_eq!(tcp["flags"], "S");
    assert_eq!(tcp["flag_bits"]["syn"], true);
    assert_eq!(tcp["flag_bits"]["ack"], false);
    assert_eq!(tcp["win"], 64240);
    assert_eq!(tcp["payload_len"], 0);
    assert_eq!(
        tcp["options"][0],
        serde_json::json!({"kind": "mss", "value": 1460})
    );
    assert_eq!(tcp["options"][1], serde_json::json!({"kind": "sack_ok"}));
    assert_eq!(
        tcp["options"][2],
        serde_json::json!({"kind": "timestamp", "val": 671516, "ecr": 0})
    );
    assert_eq!(
        tcp["options"][4],
        serde_json::json!({"kind": "wscale", "shift": 7})
    );
    assert!(v.get("truncated").is_none());
}

#[test]
fn vxlan_inner_packet_follows_the_tunnel_layer() {
    let cases = common::all_cases();
    let c = find(&cases, "flannel vxlan 8472 icmp");
    let p = decode(c.link, &c.data, c.orig_len);
    let names: Vec<&str> = p
        .layers
        .iter()
        .map(|l| match l {
            Layer::Eth(_) => "eth",
            Layer::Ipv4(_) => "ipv4",
            Layer::Udp(_) => "udp",
            Layer::Vxlan(_) => "vxlan",
            Layer::Icmp(_) => "icmp",
            _ => "other",
        })
        .collect();
    assert_eq!(
        names,
        ["eth", "ipv4", "udp", "vxlan", "eth", "ipv4", "icmp"]
    );
    let v: Value = serde_json::to_value(&p).expect("json");
    assert_eq!(
        v["layers"][3],
        serde_json::json!({"layer": "vxlan", "flags": 8, "vni": 1, "udp_port": 8472})
    );
    assert_eq!(v["layers"][6]["type"], 8);
    assert_eq!(v["layers"][6]["kind"], "echo_request");
    assert_eq!(v["layers"][6]["id"], 1);
}

#[test]
fn icmp_error_quotes_the_original_flow() {
    let cases = common::all_cases();
    let c = find(&cases, "icmp need to frag");
    let v: Value = serde_json::to_value(decode(c.link, &c.data, c.orig_len)).expect("json");
    let icmp = &v["layers"][2];
    assert_eq!(icmp["layer"], "icmp");
    assert_eq!(icmp["kind"], "unreachable");
    assert_eq!(icmp["code"], 4);
    assert_eq!(icmp["mtu"], 1400);
    assert_eq!(icmp["quoted"]["src"], "10.244.1.5");
    assert_eq!(icmp["quoted"]["dst"], "198.51.100.240");
    assert_eq!(icmp["quoted"]["proto"], 6);
    assert_eq!(icmp["quoted"]["sport"], 43512);
    assert_eq!(icmp["quoted"]["dport"], 8080);
    assert_eq!(icmp["quoted"]["tcp_seq"], 1_000_000);
}

#[test]
fn truncation_names_the_layer() {
    let cases = common::all_cases();
    for (name, layer) in [
        ("tcp snapped in options", "tcp"),
        ("ethernet snapped", "ether"),
        ("802.1q snapped", "vlan"),
        ("ipv4 snapped header", "ip"),
        ("ipv6 snapped header", "ip6"),
        ("arp snapped", "arp"),
        ("sll snapped", "sll"),
        ("sll2 snapped", "sll2"),
    ] {
        let c = find(&cases, name);
        let p = decode(c.link, &c.data, c.orig_len);
        assert_eq!(p.truncated.as_deref(), Some(layer), "[{name}]");
    }
    let c = find(&cases, "unknown ethertype");
    let v: Value = serde_json::to_value(decode(c.link, &c.data, c.orig_len)).expect("json");
    assert_eq!(
        v["layers"][1],
        serde_json::json!({"layer": "unknown", "of": "ethertype", "value": 0x1234, "len": 35})
    );
}

#[test]
fn ipv6_extension_headers_and_neighbor_discovery() {
    let cases = common::all_cases();
    let c = find(&cases, "ipv6 first fragment");
    let v: Value = serde_json::to_value(decode(c.link, &c.data, c.orig_len)).expect("json");
    assert_eq!(v["layers"][1]["ext_headers"][0]["kind"], "fragment");
    assert_eq!(v["layers"][1]["ext_headers"][0]["frag_id"], 12345);
    assert_eq!(v["layers"][1]["ext_headers"][0]["more_fragments"], true);
    assert_eq!(v["layers"][2]["layer"], "udp");
    let c = find(&cases, "icmp6 neighbor solicitation");
    let v: Value = serde_json::to_value(decode(c.link, &c.data, c.orig_len)).expect("json");
    assert_eq!(v["layers"][2]["layer"], "icmpv6");
    assert_eq!(v["layers"][2]["type"], 135);
    assert_eq!(v["layers"][2]["target"], "2001:db8::1");
}

#[test]
fn linktype_is_recorded() {
    let p = decode(LinkType::LinuxSll2, &[], 0);
    assert_eq!(p.linktype, 276);
    assert_eq!(p.truncated.as_deref(), Some("sll2"));
}

#[test]
fn dns_layer_follows_udp_and_tcp() {
    let cases = common::all_cases();
    let c = find(&cases, "dns query a");
    let v: Value = serde_json::to_value(decode(c.link, &c.data, c.orig_len)).expect("json");
    let d = &v["layers"][3];
    assert_eq!(d["layer"], "dns");
    assert_eq!(d["id"], 0x1234);
    assert_eq!(d["response"], false);
    assert_eq!(d["flags"], 0x0100);
    assert_eq!(
        d["questions"][0],
        serde_json::json!({"name": "web.default.svc.cluster.local.", "type": "A", "class": 1})
    );
    assert_eq!(d["answers"], serde_json::json!([]));

    let c = find(&cases, "dns response all sections");
    let v: Value = serde_json::to_value(decode(c.link, &c.data, c.orig_len)).expect("json");
    let d = &v["layers"][3];
    assert_eq!(d["response"], true);
    assert_eq!(d["rcode"], 0);
    assert_eq!(
        [&d["qdcount"], &d["ancount"], &d["nscount"], &d["arcount"]],
        [1, 2, 1, 2]
    );
    assert_eq!(
        d["answers"],
        serde_json::json!([
            {"name": "web.default.svc.cluster.local.", "type": "CNAME", "class": 1, "ttl": 30,
             "data": "api.default.svc.cluster.local."},
            {"name": "api.default.svc.cluster.local.", "type": "A", "class": 1, "ttl": 3600,
             "data": "10.96.12.34"},
        ])
    );
    assert!(v.get("truncated").is_none());

    let c = find(&cases, "dns tcp response");
    let p = decode(c.link, &c.data, c.orig_len);
    assert!(matches!(p.layers.last(), Some(Layer::Dns(d)) if d.answers.len() == 2));
}

#[test]
fn dns_record_data_and_rcodes() {
    let cases = common::all_cases();
    let answers = |name: &str| -> Vec<(String, String)> {
        let c = find(&cases, name);
        let p = decode(c.link, &c.data, c.orig_len);
        match p.layers.last() {
            Some(Layer::Dns(d)) => d
                .answers
                .iter()
                .map(|a| (a.rtype.clone(), a.data.clone()))
                .collect(),
            other => panic!("[{name}] last layer {other:?}"),
        }
    };
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        answers("dns response srv"),
        [
            s("SRV", "0 100 8080 web-0.web.default.svc.cluster.local."),
            s("SRV", "10 5 80 web.default.svc.cluster.local."),
        ]
    );
    assert_eq!(
        answers("dns response mx ns"),
        [s("MX", "10 mail.example.com."), s("MX", "20 example.com.")]
    );
    assert_eq!(
        answers("dns response txt"),
        [
            s("TXT", r#""v=spf1 -al" "" "a\"b\\\001\254""#),
            s("TXT", "")
        ]
    );
    assert_eq!(
        answers("dns response cname chain aaaa")[2],
        s("AAAA", "2001:db8::1234")
    );
    assert_eq!(answers("dns response other types")[1], s("NULL", "010203"));

    let c = find(&cases, "dns response nxdomain soa");
    let p = decode(c.link, &c.data, c.orig_len);
    assert!(matches!(p.layers.last(), Some(Layer::Dns(d)) if d.rcode == 3 && d.answers.is_empty()));
    let c = find(&cases, "dns response extended rcode badvers");
    let p = decode(c.link, &c.data, c.orig_len);
    assert!(matches!(p.layers.last(), Some(Layer::Dns(d)) if d.rcode == 16));
    let c = find(&cases, "mdns query qu qm");
    let p = decode(c.link, &c.data, c.orig_len);
    assert!(
        matches!(p.layers.last(), Some(Layer::Dns(d)) if d.questions[0].class == 0x8001 && d.questions[0].qtype == "PTR")
    );
}

#[test]
fn dns_truncation_and_malformed_names() {
    let cases = common::all_cases();
    let c = find(&cases, "dns response cut at 70");
    let p = decode(c.link, &c.data, c.orig_len);
    assert_eq!(p.truncated.as_deref(), Some("domain"));
    assert!(
        matches!(p.layers.last(), Some(Layer::Dns(d)) if d.questions.len() == 1 && d.answers.len() == 1)
    );
    let c = find(&cases, "dns response cut at 5");
    let p = decode(c.link, &c.data, c.orig_len);
    assert_eq!(p.truncated.as_deref(), Some("domain"));
    assert!(matches!(p.layers.last(), Some(Layer::Udp(_))));
    // A forward pointer is refused: the question is dropped, nothing was cut.
    let c = find(&cases, "dns forward pointer");
    let p = decode(c.link, &c.data, c.orig_len);
    assert!(p.truncated.is_none());
    assert!(matches!(p.layers.last(), Some(Layer::Dns(d)) if d.questions.is_empty()));
    // Too short to be DNS: no layer, as tcpdump prints it invalid.
    let c = find(&cases, "dns short message");
    let p = decode(c.link, &c.data, c.orig_len);
    assert!(matches!(p.layers.last(), Some(Layer::Udp(_))));
    // TCP: a message spanning segments is not decoded.
    let c = find(&cases, "dns tcp message spans segments");
    let p = decode(c.link, &c.data, c.orig_len);
    assert!(matches!(p.layers.last(), Some(Layer::Tcp(_))));
}
