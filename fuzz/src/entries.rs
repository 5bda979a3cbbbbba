//! The fuzz entry points: one function per target, each taking untrusted bytes and driving one
//! parser (and what consumes its output) the way the binary does. The libFuzzer binaries in
//! `fuzz_targets/` call them, and `crates/hopdump/tests/fuzz_corpus.rs` compiles this same file
//! to replay every committed corpus and regression input in a normal `cargo test` (no engine).
//!
//! Every function must return normally for every input: a panic, an overflow (the fuzz build
//! and the test build both check arithmetic), a hang or an out-of-memory is a bug in the parser.
//! `agent` drives the agent's request decoding (hopdump-agent's `Call::decode`, all an
//! authenticated caller can make the agent parse).

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::ControlFlow;
use std::path::Path;

use hopdump_capture::FileReader;
use hopdump_node::analysis::arp::{ArpEvent, ArpEvidence, Mode};
use hopdump_node::{arp, ctnetlink, frames, netlink, rtnl};
use hopdump_rules::{Flow, NodeContext, NodeRules, Proto, explain, iptables, ipvs, nft};
use hopdump_wire::{LinkType, NoNames, Printer, TextOptions, decode, flow_key, write_text};

/// A fuzz entry point: any bytes in, must return normally.
pub type Entry = fn(&[u8]);

/// Every target, by the name of its corpus directory and its entry function.
pub const TARGETS: &[(&str, Entry)] = &[
    ("wire", wire),
    ("pcap", pcap),
    ("iptables", iptables),
    ("nft", nft),
    ("ipvs", ipvs),
    ("ctnetlink", ctnetlink),
    ("cttext", cttext),
    ("arp", arp),
    ("agent", agent),
];

/// The agent's request decoding. Byte 0 picks the path (every method, and some that are not);
/// the rest is the body. A decoded call must encode to a body that decodes to itself.
pub fn agent(data: &[u8]) {
    const PATHS: [&str; 14] = [
        "/v1/hello",
        "/v1/ns_info",
        "/v1/explain",
        "/v1/conntrack",
        "/v1/find_pod",
        "/v1/capture",
        "/v1/drops",
        "/v1/stop",
        "/v1/neighbours",
        "/v1/arp",
        "/v1/",
        "/v2/hello",
        "/v1/delete",
        "",
    ];
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let path = PATHS[usize::from(sel) % PATHS.len()];
    if let Ok(call) = hopdump_agent::Call::decode(path, body) {
        let again = hopdump_agent::Call::decode(&format!("/v1/{}", call.method()), &call.body());
        assert_eq!(
            again.ok().as_ref(),
            Some(&call),
            "re-encoded call decodes to itself"
        );
    }
}

const LINKS: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::Null,
    LinkType::Raw,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::Other(147),
];

/// Packet decoding and printing. Byte 0 chooses the link type (bits 0-2), the text options
/// (bits 3-4) and how `orig_len` relates to the captured length (bits 5-6); the rest is the
/// frame. Text (stateless and with the per-flow TCP sequence table), JSON and the flow key.
pub fn wire(data: &[u8]) {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(sel & 7)];
    let opts = match (sel >> 3) & 3 {
        0 => TextOptions::numeric(),
        1 => TextOptions {
            verbose: 2,
            link_header: true,
            ..TextOptions::numeric()
        },
        2 => TextOptions {
            quiet: true,
            verbose: 1,
            ..TextOptions::default()
        },
        _ => TextOptions {
            verbose: 1,
            absolute_seq: true,
            ..TextOptions::default()
        },
    };
    let caplen = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    let orig_len = match (sel >> 5) & 3 {
        0 => caplen,
        1 => caplen.saturating_add(1500),
        2 => caplen / 2,
        _ => u32::MAX,
    };
    let mut out = Vec::with_capacity(512);
    write_text(&mut out, link, frame, orig_len, &opts, &NoNames);
    let mut printer = Printer::new(opts);
    // Twice: the second time the TCP sequence table knows the flow (relative numbers).
    for _ in 0..2 {
        out.clear();
        printer.write(&mut out, link, frame, orig_len, &NoNames);
    }
    let _ = flow_key(link, frame);
    let packet = decode(link, frame, orig_len);
    let _ = serde_json::to_vec(&packet);
}

/// pcap/pcapng file reading: every frame and interface until the end or the first error.
pub fn pcap(data: &[u8]) {
    let input = Box::new(Cursor::new(data.to_vec()));
    let Ok(mut reader) = FileReader::from_reader_with_buffer(Path::new("fuzz"), input, 4096) else {
        return;
    };
    let mut n = 0usize;
    let _ = reader.for_each(|ifaces, f| {
        let i = &ifaces[f.iface];
        n = n.wrapping_add(f.data.len() ^ i.snaplen as usize ^ f.orig_len as usize);
        ControlFlow::Continue(())
    });
    let _ = (reader.offset(), reader.interfaces().len(), n);
}

/// The node context and flows the rule targets explain: an LB IP (IPv4, TCP) and an IPv6 one
/// with nothing known about the node (more flows cost runs, not coverage).
fn flows() -> [(Flow, NodeContext); 2] {
    let ctx = NodeContext {
        local_addrs: vec![IpAddr::V4(Ipv4Addr::new(192, 168, 1, 11))],
        local_known: true,
        out_iface: None,
        routes: Vec::new(),
    };
    let v4 = Flow {
        src: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)),
        sport: 40000,
        dst: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 240)),
        dport: 80,
        proto: Proto::Tcp,
        in_iface: None,
    };
    let v6 = Flow {
        src: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0x10)),
        sport: 40000,
        dst: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x240)),
        dport: 443,
        proto: Proto::Udp,
        in_iface: None,
    };
    [(v4, ctx), (v6, NodeContext::default())]
}

fn explain_all(rules: &NodeRules) {
    let _ = rules.warnings();
    for (flow, ctx) in flows() {
        let e = explain(rules, &flow, &ctx);
        // The JSON of an explanation is derived serialisation of strings, numbers and options
        // (serde_json writes a non-finite float as null): nothing in it can fail, and under
        // coverage instrumentation it was 60% of every run. The corpus replay in `cargo test`
        // (built without `--cfg fuzzing`) still serialises every committed input.
        #[cfg(not(fuzzing))]
        let _ = serde_json::to_writer(std::io::sink(), &e);
        #[cfg(fuzzing)]
        let _ = e;
    }
}

/// iptables-save text (either backend, with or without counters): parse, then force the lazy
/// per-rule parsing of every rule and walk the flows through it.
pub fn iptables(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(dump) = iptables::parse("fuzz", &text) else {
        return;
    };
    for t in &dump.tables {
        for c in &t.chains {
            for r in &c.rules {
                let _ = (r.matches().len(), r.target(), r.counters(), r.comment());
                let _ = r.excludes_dst(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 240)));
            }
        }
    }
    let _ = dump.rule_count();
    explain_all(&NodeRules {
        xt: vec![dump],
        ..Default::default()
    });
}

/// `nft -j list ruleset` JSON: parse (which renders every rule back to nft syntax), render
/// every set element, and walk the flows.
pub fn nft(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rs) = nft::parse("fuzz", text) else {
        return;
    };
    for t in &rs.tables {
        for s in t.sets.values() {
            for (k, v, _) in &s.elems {
                let _ = nft::render(k);
                if let Some(v) = v {
                    let _ = nft::render(v);
                }
            }
        }
        for c in &t.chains {
            for r in &c.rules {
                for e in &r.exprs {
                    let _ = nft::render(e);
                }
            }
        }
    }
    let _ = rs.rule_count();
    explain_all(&NodeRules {
        nft: vec![rs],
        ..Default::default()
    });
}

/// `ipvsadm-save -n` / `ipvsadm -Ln` and `ipset save` text. The input is parsed as both (a
/// line of `\n--ipset--\n` splits it when present) and walked with an IPVS-mode dump.
pub fn ipvs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (ipvs_text, ipset_text) = text
        .split_once("\n--ipset--\n")
        .unwrap_or((text.as_ref(), text.as_ref()));
    let sets = ipvs::parse_ipsets(ipset_text);
    let Ok(v) = ipvs::parse_ipvs("fuzz", ipvs_text) else {
        return;
    };
    for (flow, _) in flows() {
        let _ = v.find(flow.proto, flow.dst, flow.dport);
    }
    explain_all(&NodeRules {
        ipvs: Some(v),
        ipsets: sets,
        ..Default::default()
    });
}

/// A saved conntrack table (`/proc/net/nf_conntrack`, `conntrack -L`/`-E` lines) as
/// `conntrack --file` reads it: every line that parses must describe itself consistently,
/// and the analysis runs over the entries.
pub fn cttext(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Ok(e) = hopdump_node::cttext::parse_line(line) {
            assert_eq!(
                e.family == 2,
                e.orig.src.is_ipv4(),
                "family matches the addresses"
            );
            let _ = (e.state(), e.flags(), e.dnat_to(), e.snat_to());
            let _ = hopdump_node::analysis::conntrack::entry_line(&e);
        }
    }
    if let Ok(entries) = hopdump_node::cttext::parse(&text) {
        use hopdump_node::analysis::conntrack::{Current, ServiceNow, service_key};
        // Each DNATed service now sends to the first entry's pod (so some entries are stale),
        // or to nothing (odd ones).
        let services = entries
            .iter()
            .filter_map(service_key)
            .enumerate()
            .map(|(i, (proto, dst, dport))| ServiceNow {
                proto,
                dst,
                dport,
                current: if i % 2 == 0 {
                    Current::Dnat {
                        endpoints: entries
                            .first()
                            .map(|e| (e.reply.src, e.reply.sport))
                            .into_iter()
                            .collect(),
                    }
                } else {
                    Current::NoDnat {
                        summary: String::new(),
                    }
                },
            })
            .collect();
        let ev = hopdump_node::analysis::conntrack::ConntrackEvidence {
            entries,
            services,
            accounting: false,
            timeouts: Default::default(),
        };
        let _ = hopdump_node::analysis::conntrack::verdicts(&ev);
        let _ = hopdump_node::analysis::conntrack::findings(&ev);
    }
}

/// A netlink datagram as a ctnetlink dump answers it: split into messages, every message
/// decoded as a conntrack entry (and as rtnetlink link/neighbour, the other codec of the
/// crate); the whole input is also tried as one bare message payload.
pub fn ctnetlink(data: &[u8]) {
    let use_entry = |e: &ctnetlink::CtEntry| {
        let _ = (e.state(), e.flags(), e.dnat_to(), e.snat_to());
        let _ = (
            ctnetlink::proto_name(e.orig.proto),
            ctnetlink::delete_request(e),
        );
    };
    if let Ok(msgs) = netlink::split(data) {
        for m in &msgs {
            let _ = ctnetlink::is_entry(m.msg_type);
            let _ = netlink::error_code(&m.payload);
            if let Ok(e) = ctnetlink::parse_entry(&m.payload) {
                use_entry(&e);
            }
            let _ = rtnl::parse_link(&m.payload);
            let _ = rtnl::parse_neigh(&m.payload);
        }
    }
    if let Ok(e) = ctnetlink::parse_entry(data) {
        use_entry(&e);
    }
    for (_, v) in netlink::attrs(data) {
        for _ in netlink::attrs(v) {}
    }
}

/// One received frame of `arp` (ARP or NDP): classified against the addresses it names and a
/// fixed one, then the resulting events run through the pure findings.
pub fn arp(data: &[u8]) {
    let mut targets = vec![
        IpAddr::V4(Ipv4Addr::new(192, 168, 1, 240)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x240)),
    ];
    if let Some(a) = frames::parse_arp(data) {
        let _ = a.is_gratuitous();
        targets.extend([IpAddr::V4(a.spa), IpAddr::V4(a.tpa)]);
    }
    if let Some(n) = frames::parse_ndp(data) {
        match n {
            frames::Ndp::Solicitation { target, .. }
            | frames::Ndp::Advertisement { target, .. } => {
                targets.push(IpAddr::V6(target));
            }
        }
    }
    for target in targets {
        let Some((kind, mac, eth_src, sender_ip)) = arp::classify(data, target) else {
            continue;
        };
        let event = ArpEvent {
            t_ms: 1,
            unix_ms: 1_700_000_000_000,
            kind,
            ours: false,
            mac: frames::mac_str(&mac),
            eth_src: frames::mac_str(&eth_src),
            sender_ip,
        };
        let ev = ArpEvidence {
            target,
            iface: "eth0".into(),
            iface_mac: "02:00:00:00:00:01".into(),
            mode: Mode::Watch,
            duration_ms: 1000,
            events: vec![event.clone(), event],
            local_links: vec![("eth0".into(), "02:00:00:00:00:01".into())],
            neighbours: Vec::new(),
            hints: Vec::new(),
            expect_iface: Some("eth0".into()),
        };
        let _ = hopdump_node::analysis::arp::findings(&ev);
    }
}
