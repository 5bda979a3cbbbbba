//! DNS and mDNS corpus: crafted queries and responses of every record type tcpdump decodes,
//! EDNS options, flags and opcodes, compression (good, forward, looping), bad label types,
//! lying counts and lengths, TCP with its length prefix, and responses cut at every byte.

use super::*;

/// Kubernetes-ish addresses: a pod and the cluster DNS service.
pub const POD: [u8; 4] = [10, 244, 1, 5];
pub const KUBE_DNS: [u8; 4] = [10, 96, 0, 10];

/// Wire form of a dotted name (`""` is the root).
pub fn name(n: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in n.split('.').filter(|l| !l.is_empty()) {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

/// Header: id, flags word and the four counts.
pub fn hdr(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v
}

/// A question: name bytes, type, class.
pub fn question(n: &[u8], t: u16, class: u16) -> Vec<u8> {
    let mut v = n.to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&class.to_be_bytes());
    v
}

/// A resource record: name bytes, type, class, ttl, rdata.
pub fn rr(n: &[u8], t: u16, class: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut v = n.to_vec();
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&class.to_be_bytes());
    v.extend_from_slice(&ttl.to_be_bytes());
    v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    v.extend_from_slice(rdata);
    v
}

/// An OPT record: UDP size, extended rcode, version, DO bit, options.
pub fn opt(size: u16, ext_rcode: u8, dnssec_ok: bool, options: &[u8]) -> Vec<u8> {
    let ttl = (u32::from(ext_rcode) << 24) | if dnssec_ok { 0x8000 } else { 0 };
    rr(&[0], 41, size, ttl, options)
}

/// One EDNS option.
pub fn eopt(code: u16, data: &[u8]) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    v
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Ethernet + IPv4 + UDP between two addresses.
pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut ip = V4::new(17);
    ip.src = src;
    ip.dst = dst;
    e(0x0800, &ip.build(&udp(&src, &dst, sport, dport, payload)))
}

fn query4(payload: &[u8]) -> Vec<u8> {
    udp4(POD, KUBE_DNS, 41000, 53, payload)
}

fn reply4(payload: &[u8]) -> Vec<u8> {
    udp4(KUBE_DNS, POD, 53, 41000, payload)
}

fn tcp_dns(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = Tcp::new(sport, dport, 0x18);
    (t.seq, t.ack) = if sport == 53 {
        (3_000_000, 2_000_000)
    } else {
        (2_000_000, 3_000_000)
    };
    let mut ip = V4::new(6);
    ip.src = src;
    ip.dst = dst;
    e(0x0800, &ip.build(&t.build(&src, &dst, payload)))
}

fn prefixed(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

const QNAME: &str = "web.default.svc.cluster.local";

/// A response with something in every section (used for the cut-at-every-byte cases).
pub fn full_response() -> Vec<u8> {
    let soa = cat(&[
        &name("ns.dns.cluster.local"),
        &[0xc0, 0x1c],
        &2024u32.to_be_bytes(),
        &7200u32.to_be_bytes(),
        &1800u32.to_be_bytes(),
        &86400u32.to_be_bytes(),
        &30u32.to_be_bytes(),
    ]);
    cat(&[
        &hdr(0x1234, 0x8580, [1, 2, 1, 2]),
        &question(&name(QNAME), 1, 1),
        &rr(
            &[0xc0, 0x0c],
            5,
            1,
            30,
            &cat(&[&[3], b"api", &[0xc0, 0x10]]),
        ),
        &rr(&[0xc0, 0x3b], 1, 1, 3600, &[10, 96, 12, 34]),
        &rr(&[0xc0, 0x18], 6, 1, 60, &soa),
        &rr(&name("extra.local"), 28, 1, 5, &V6_A),
        &opt(1232, 0, true, &eopt(10, &[1, 2, 3, 4, 5, 6, 7, 8])),
    ])
}

/// Every DNS corpus packet (Ethernet link).
pub fn dns_cases() -> Vec<Case> {
    let l = LinkType::Ethernet;
    let mut c = Vec::new();
    let q = name(QNAME);
    let mut push = |n: &str, d: Vec<u8>| c.push(case(n, l, d));

    // Queries.
    push(
        "dns query a",
        query4(&cat(&[
            &hdr(0x1234, 0x0100, [1, 0, 0, 0]),
            &question(&q, 1, 1),
        ])),
    );
    push(
        "dns query aaaa edns",
        query4(&cat(&[
            &hdr(0xbeef, 0x0120, [1, 0, 0, 1]),
            &question(&q, 28, 1),
            &opt(1232, 0, false, &[]),
        ])),
    );
    push(
        "dns query no rd, cd, z bit",
        query4(&cat(&[
            &hdr(7, 0x0050, [1, 0, 0, 0]),
            &question(&name("example.com"), 15, 1),
        ])),
    );
    push(
        "dns query weird flags",
        query4(&cat(&[
            &hdr(8, 0x07cf, [1, 0, 0, 0]),
            &question(&name("example.com"), 2, 1),
        ])),
    );
    push(
        "dns query two questions",
        query4(&cat(&[
            &hdr(9, 0x0100, [2, 0, 0, 0]),
            &question(&q, 1, 1),
            &question(&[3, b'w', b'w', b'w', 0xc0, 0x10], 28, 1),
        ])),
    );
    push(
        "dns query zero questions",
        query4(&hdr(10, 0x0100, [0, 0, 0, 0])),
    );
    push(
        "dns query root ns",
        query4(&cat(&[
            &hdr(11, 0x0000, [1, 0, 0, 0]),
            &question(&[0], 2, 1),
        ])),
    );
    push(
        "dns query ptr",
        query4(&cat(&[
            &hdr(12, 0x0100, [1, 0, 0, 0]),
            &question(&name("34.12.96.10.in-addr.arpa"), 12, 1),
        ])),
    );
    push(
        "dns query srv any class chaos",
        query4(&cat(&[
            &hdr(13, 0x0100, [3, 0, 0, 0]),
            &question(&name("_http._tcp.web.default.svc.cluster.local"), 33, 255),
            &question(&name("version.bind"), 16, 3),
            &question(&name("x"), 65, 7),
        ])),
    );
    push(
        "dns query unknown types",
        query4(&cat(&[
            &hdr(14, 0x0100, [4, 0, 0, 0]),
            &question(&name("a"), 64, 1),
            &question(&name("b"), 256, 4),
            &question(&name("c"), 251, 1),
            &question(&name("d"), 65535, 1),
        ])),
    );
    push(
        "dns query odd characters",
        query4(&cat(&[
            &hdr(15, 0x0100, [1, 0, 0, 0]),
            &question(
                &cat(&[&[9], b"a b.c\\d\"e", &[4, 0x00, 0x7f, 0xff, 0x80], &[0]]),
                1,
                1,
            ),
        ])),
    );
    push(
        "dns query with answer and authority counts",
        query4(&cat(&[
            &hdr(16, 0x0100, [1, 1, 1, 0]),
            &question(&q, 1, 1),
            &rr(&[0xc0, 0x0c], 1, 1, 60, &[1, 2, 3, 4]),
            &rr(&[0xc0, 0x10], 2, 1, 60, &[2, b'n', b's', 0xc0, 0x10]),
        ])),
    );
    push(
        "dns notify",
        query4(&cat(&[
            &hdr(17, 0x2400, [1, 1, 0, 0]),
            &question(&name("cluster.local"), 6, 1),
            &rr(&[0xc0, 0x0c], 6, 1, 0, &[0, 0]),
        ])),
    );
    push(
        "dns update",
        query4(&cat(&[
            &hdr(18, 0x2800, [1, 0, 1, 0]),
            &question(&name("cluster.local"), 6, 1),
            &rr(&name("host.cluster.local"), 1, 254, 0, &[]),
        ])),
    );
    push(
        "dns inverse query",
        query4(&cat(&[
            &hdr(19, 0x0800, [0, 1, 0, 0]),
            &rr(&[0], 1, 1, 0, &[10, 0, 0, 1]),
        ])),
    );
    push(
        "dns inverse query counts",
        query4(&cat(&[
            &hdr(20, 0x0900, [1, 2, 0, 0]),
            &question(&name("x"), 1, 1),
        ])),
    );
    push(
        "dns status opcode 2",
        query4(&cat(&[
            &hdr(21, 0x1000, [1, 0, 0, 0]),
            &question(&name("x"), 1, 1),
        ])),
    );
    push(
        "dns opcode 15 response",
        reply4(&cat(&[
            &hdr(22, 0xf880, [1, 0, 0, 0]),
            &question(&name("x"), 1, 1),
        ])),
    );

    // Responses.
    push(
        "dns response a",
        reply4(&cat(&[
            &hdr(0x1234, 0x8500, [1, 1, 0, 0]),
            &question(&q, 1, 1),
            &rr(&[0xc0, 0x0c], 1, 1, 30, &[10, 96, 12, 34]),
        ])),
    );
    push("dns response all sections", reply4(&full_response()));
    push(
        "dns response nxdomain soa",
        reply4(&cat(&[
            &hdr(0x1234, 0x8583, [1, 0, 1, 0]),
            &question(&name("nope.default.svc.cluster.local"), 1, 1),
            &rr(
                &[0xc0, 0x1d],
                6,
                1,
                5,
                &cat(&[
                    &name("ns.dns.cluster.local"),
                    &name("hostmaster.cluster.local"),
                    &1_700_000_000u32.to_be_bytes(),
                    &7200u32.to_be_bytes(),
                    &1800u32.to_be_bytes(),
                    &86400u32.to_be_bytes(),
                    &5u32.to_be_bytes(),
                ]),
            ),
        ])),
    );
    for (rc, n) in [
        (1u16, "formerr"),
        (2, "servfail"),
        (5, "refused"),
        (9, "notauth"),
    ] {
        push(
            &format!("dns response rcode {n}"),
            reply4(&cat(&[
                &hdr(100 + rc, 0x8180 | rc, [1, 0, 0, 0]),
                &question(&name("x.example"), 1, 1),
            ])),
        );
    }
    for (ext, rc, n) in [
        (1u8, 0u16, "badvers"),
        (1, 1, "resp17"),
        (1, 5, "resp21"),
        (1, 7, "badcookie"),
        (255, 15, "resp4095"),
    ] {
        push(
            &format!("dns response extended rcode {n}"),
            reply4(&cat(&[
                &hdr(200, 0x8180 | rc, [1, 0, 0, 1]),
                &question(&name("x.example"), 1, 1),
                &opt(4096, ext, false, &[]),
            ])),
        );
    }
    push(
        "dns response tc ad aa no ra",
        reply4(&cat(&[
            &hdr(300, 0x8720, [1, 0, 0, 0]),
            &question(&name("big.example"), 16, 1),
        ])),
    );
    push(
        "dns response cname chain aaaa",
        udp4(
            KUBE_DNS,
            POD,
            53,
            41001,
            &cat(&[
                &hdr(301, 0x8180, [1, 3, 0, 0]),
                &question(&name("www.example.com"), 28, 1),
                &rr(
                    &[0xc0, 0x0c],
                    5,
                    1,
                    300,
                    &cat(&[&[3], b"cdn", &[0xc0, 0x10]]),
                ),
                &rr(&[0xc0, 0x2d], 5, 1, 60, &name("edge.cdn.example.net")),
                &rr(
                    &[0xc0, 0x3f],
                    28,
                    1,
                    20,
                    &[
                        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34,
                    ],
                ),
            ]),
        ),
    );
    push(
        "dns response ptr",
        reply4(&cat(&[
            &hdr(302, 0x8580, [1, 1, 0, 0]),
            &question(&name("34.12.96.10.in-addr.arpa"), 12, 1),
            &rr(
                &[0xc0, 0x0c],
                12,
                1,
                30,
                &name("web.default.svc.cluster.local"),
            ),
        ])),
    );
    push(
        "dns response srv",
        reply4(&cat(&[
            &hdr(303, 0x8580, [1, 2, 0, 1]),
            &question(&name("_http._tcp.web.default.svc.cluster.local"), 33, 1),
            &rr(
                &[0xc0, 0x0c],
                33,
                1,
                30,
                &cat(&[
                    &[0, 0, 0, 100, 0x1f, 0x90],
                    &name("web-0.web.default.svc.cluster.local"),
                ]),
            ),
            &rr(
                &[0xc0, 0x0c],
                33,
                1,
                30,
                &cat(&[&[0, 10, 0, 5, 0, 80], &[0xc0, 0x17]]),
            ),
            &rr(&[0xc0, 0x4c], 1, 1, 30, &[10, 244, 2, 7]),
        ])),
    );
    push(
        "dns response txt",
        reply4(&cat(&[
            &hdr(304, 0x8180, [1, 2, 0, 0]),
            &question(&name("example.com"), 16, 1),
            &rr(
                &[0xc0, 0x0c],
                16,
                1,
                300,
                &cat(&[&[10], b"v=spf1 -al", &[0], &[6], b"a\"b\\\x01\xfe"]),
            ),
            &rr(&[0xc0, 0x0c], 16, 1, 300, &[]),
        ])),
    );
    push(
        "dns response mx ns",
        reply4(&cat(&[
            &hdr(305, 0x8180, [1, 2, 2, 0]),
            &question(&name("example.com"), 255, 1),
            &rr(
                &[0xc0, 0x0c],
                15,
                1,
                300,
                &cat(&[&[0, 10], &name("mail.example.com")]),
            ),
            &rr(&[0xc0, 0x0c], 15, 1, 300, &cat(&[&[0, 20], &[0xc0, 0x0c]])),
            &rr(
                &[0xc0, 0x0c],
                2,
                1,
                172800,
                &cat(&[&[1], b"a", &[0xc0, 0x0c]]),
            ),
            &rr(
                &[0xc0, 0x0c],
                2,
                1,
                172800,
                &cat(&[&[1], b"b", &[0xc0, 0x0c]]),
            ),
        ])),
    );
    push(
        "dns response other types",
        reply4(&cat(&[
            &hdr(306, 0x8180, [1, 9, 0, 0]),
            &question(&name("t.example"), 255, 1),
            &rr(
                &[0xc0, 0x0c],
                13,
                1,
                1,
                &cat(&[&[3], b"x86", &[5], b"linux"]),
            ),
            &rr(&[0xc0, 0x0c], 10, 1, 1, &[1, 2, 3]),
            &rr(&[0xc0, 0x0c], 39, 1, 1, &name("d.example")),
            &rr(&[0xc0, 0x0c], 104, 1, 1, b"unspec ascii\x07"),
            &rr(
                &[0xc0, 0x0c],
                256,
                1,
                1,
                &cat(&[&[0, 10, 0, 1], b"https://x/"]),
            ),
            &rr(
                &[0xc0, 0x0c],
                38,
                1,
                1,
                &cat(&[&[64], &[0, 0, 0, 0, 0, 0, 0, 1], &name("p.example")]),
            ),
            &rr(&[0xc0, 0x0c], 38, 1, 1, &[0]),
            &rr(&[0xc0, 0x0c], 38, 1, 1, &cat(&[&[128], &name("q.example")])),
            &rr(&[0xc0, 0x0c], 38, 1, 1, &[200]),
        ])),
    );
    push(
        "dns response tsig class any",
        reply4(&cat(&[
            &hdr(307, 0x8180, [1, 1, 0, 1]),
            &question(&name("k.example"), 1, 1),
            &rr(&[0xc0, 0x0c], 1, 1, 1, &[192, 0, 2, 1]),
            &rr(
                &name("key.example"),
                250,
                255,
                0,
                &cat(&[
                    &name("hmac-sha256"),
                    &[0, 0, 0x65, 0x5f, 0x00, 0x00],
                    &300u16.to_be_bytes(),
                    &4u16.to_be_bytes(),
                    &[1, 2, 3, 4],
                    &307u16.to_be_bytes(),
                    &0u16.to_be_bytes(),
                    &0u16.to_be_bytes(),
                ]),
            ),
        ])),
    );
    push(
        "dns response classes",
        reply4(&cat(&[
            &hdr(308, 0x8180, [1, 3, 0, 0]),
            &question(&name("version.bind"), 16, 3),
            &rr(&[0xc0, 0x0c], 16, 3, 0, &cat(&[&[9], b"9.18.1-1a"])),
            &rr(&[0xc0, 0x0c], 1, 4, 32_230_861, &[1, 1, 1, 1]),
            &rr(&[0xc0, 0x0c], 1, 9, 0, &[2, 2, 2, 2]),
        ])),
    );
    push(
        "dns response two questions",
        reply4(&cat(&[
            &hdr(309, 0x8180, [2, 1, 0, 0]),
            &question(&name("a.example"), 1, 1),
            &question(&[1, b'b', 0xc0, 0x0e], 1, 1),
            &rr(&[0xc0, 0x0c], 1, 1, 9, &[9, 9, 9, 9]),
        ])),
    );
    push(
        "dns response no question",
        reply4(&cat(&[
            &hdr(310, 0x8180, [0, 1, 0, 0]),
            &rr(&name("a.example"), 1, 1, 9, &[9, 9, 9, 8]),
        ])),
    );

    // EDNS options.
    let ecs4 = eopt(8, &[0, 1, 24, 0, 10, 244, 1]);
    let ecs6 = eopt(8, &[0, 2, 56, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x12]);
    let opts = cat(&[
        &ecs4,
        &ecs6,
        &eopt(8, &[0, 3, 0, 0]),
        &eopt(8, &[0, 1, 32, 0, 1, 2, 3]),
        &eopt(8, &[0, 1]),
        &eopt(10, &[0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8]),
        &eopt(10, &[1; 24]),
        &eopt(10, &[1; 9]),
        &eopt(3, b""),
        &eopt(3, b"ns1"),
        &eopt(11, &[0, 25]),
        &eopt(11, &[1]),
        &eopt(9, &[0, 0, 0x0e, 0x10]),
        &eopt(9, &[0]),
        &eopt(12, &[0; 7]),
        &eopt(14, &[0x4f, 0x66, 0, 1]),
        &eopt(14, &[1]),
        &eopt(5, &[8, 13, 99]),
        &eopt(6, &[1, 2, 7]),
        &eopt(7, &[1, 2]),
        &eopt(13, &name("example.com")),
        &eopt(65001, &[0xde, 0xad]),
        &eopt(1, &[0, 1]),
    ]);
    push(
        "dns query edns options",
        query4(&cat(&[
            &hdr(400, 0x0100, [1, 0, 0, 1]),
            &question(&q, 1, 1),
            &opt(1232, 0, true, &opts),
        ])),
    );
    push(
        "dns response edns option cut",
        reply4(&cat(&[
            &hdr(401, 0x8180, [1, 0, 0, 1]),
            &question(&name("x"), 1, 1),
            &opt(512, 0, false, &[0, 10, 0, 8, 1, 2]),
        ])),
    );
    push(
        "dns response edns option past rdata",
        reply4(&cat(&[
            &hdr(402, 0x8180, [1, 0, 0, 2]),
            &question(&name("x"), 1, 1),
            &opt(512, 0, false, &[0, 3, 0, 8, 1, 2]),
            &rr(&name("y"), 1, 1, 0, &[1, 2, 3, 4]),
        ])),
    );

    // Names: compression, bad pointers, label types, long names.
    push(
        "dns forward pointer",
        reply4(&cat(&[
            &hdr(500, 0x8180, [1, 1, 0, 0]),
            &question(&[0xc0, 0x20], 1, 1),
            &rr(&[0xc0, 0x0c], 1, 1, 9, &[1, 1, 1, 1]),
            &name("later"),
        ])),
    );
    push(
        "dns pointer loop",
        query4(&cat(&[
            &hdr(501, 0x0100, [1, 0, 0, 0]),
            &question(&[1, b'a', 0xc0, 0x0c], 1, 1),
        ])),
    );
    push(
        "dns pointer to pointer",
        reply4(&cat(&[
            &hdr(502, 0x8180, [1, 2, 0, 0]),
            &question(&name("p.example"), 1, 1),
            &rr(&[1, b'q', 0xc0, 0x0c], 5, 1, 1, &[0xc0, 0x1b]),
            &rr(&[0xc0, 0x1b], 1, 1, 1, &[3, 3, 3, 3]),
        ])),
    );
    push(
        "dns pointer to root",
        reply4(&cat(&[
            &hdr(503, 0x8180, [1, 1, 0, 0]),
            &question(&[0], 2, 1),
            &rr(&[0xc0, 0x0c], 2, 1, 1, &cat(&[&[1], b"a", &[0xc0, 0x0c]])),
        ])),
    );
    push(
        "dns reserved label type",
        query4(&cat(&[
            &hdr(504, 0x0100, [1, 0, 0, 0]),
            &question(&[1, b'a', 0x80, 0], 1, 1),
        ])),
    );
    push(
        "dns unknown elt label",
        reply4(&cat(&[
            &hdr(505, 0x8180, [1, 1, 0, 0]),
            &question(&name("z"), 1, 1),
            &rr(&[0x42, 0], 1, 1, 1, &[1, 2, 3, 4]),
        ])),
    );
    push(
        "dns bit label",
        query4(&cat(&[
            &hdr(506, 0x0100, [3, 0, 0, 0]),
            &question(&[0x41, 12, 0xab, 0xcd, 3, b'a', b'r', b'p', 0], 12, 1),
            &question(&[0x41, 6, 0xfc, 0], 12, 1),
            &question(&[0x41, 3, 0xe0, 1, b'x', 0], 12, 1),
        ])),
    );
    push(
        "dns bit label 256",
        reply4(&cat(&[
            &hdr(507, 0x8180, [1, 1, 0, 0]),
            &question(&cat(&[&[0x41, 0], &[0x5a; 32], &[0]]), 12, 1),
            &rr(&[0xc0, 0x0c], 12, 1, 1, &name("b")),
        ])),
    );
    let label63 = [b'x'; 63];
    let long: Vec<u8> = cat(&[
        &[63],
        &label63,
        &[63],
        &label63,
        &[63],
        &label63,
        &[63],
        &label63,
        &[10],
        b"0123456789",
        &[0],
    ]);
    push(
        "dns name too long",
        query4(&cat(&[
            &hdr(508, 0x0100, [1, 0, 0, 0]),
            &question(&long, 1, 1),
        ])),
    );
    let exact: Vec<u8> = cat(&[
        &[63],
        &label63,
        &[63],
        &label63,
        &[63],
        &label63,
        &[62],
        &label63[..62],
        &[0],
    ]);
    push(
        "dns name 255",
        query4(&cat(&[
            &hdr(509, 0x0100, [1, 0, 0, 0]),
            &question(&exact, 1, 1),
        ])),
    );

    // Counts and lengths that lie.
    push(
        "dns query more questions than present",
        query4(&cat(&[
            &hdr(600, 0x0100, [3, 0, 0, 0]),
            &question(&q, 1, 1),
        ])),
    );
    push(
        "dns response more answers than present",
        reply4(&cat(&[
            &hdr(601, 0x8180, [1, 3, 2, 1]),
            &question(&name("x"), 1, 1),
            &rr(&[0xc0, 0x0c], 1, 1, 1, &[4, 4, 4, 4]),
        ])),
    );
    push(
        "dns response rdlength past end",
        reply4(&cat(&[
            &hdr(602, 0x8180, [1, 1, 0, 0]),
            &question(&name("x"), 1, 1),
            &[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 200, 1, 2, 3, 4],
        ])),
    );
    push(
        "dns response a short rdlength",
        reply4(&cat(&[
            &hdr(603, 0x8180, [1, 2, 0, 0]),
            &question(&name("x"), 1, 1),
            &rr(&[0xc0, 0x0c], 1, 1, 1, &[5, 5]),
            &rr(&[0xc0, 0x0c], 28, 1, 1, &[6; 4]),
        ])),
    );
    push(
        "dns response label past end",
        reply4(&cat(&[
            &hdr(604, 0x8180, [1, 1, 0, 0]),
            &question(&name("x"), 1, 1),
            &rr(&[0xc0, 0x0c], 5, 1, 1, &[40, b'a', b'b']),
        ])),
    );
    push(
        "dns response txt string past rdata",
        reply4(&cat(&[
            &hdr(605, 0x8180, [1, 2, 0, 0]),
            &question(&name("x"), 16, 1),
            &rr(&[0xc0, 0x0c], 16, 1, 1, &[5, b'a', b'b']),
            &rr(&[0xc0, 0x0c], 1, 1, 1, &[7, 7, 7, 7]),
        ])),
    );
    push("dns short message", query4(&[0x12, 0x34, 0x01, 0x00, 0]));
    push("dns empty payload", query4(&[]));
    push(
        "dns header only response",
        reply4(&hdr(606, 0x8180, [0, 0, 0, 0])),
    );
    let mut lying = udp4(
        POD,
        KUBE_DNS,
        41002,
        53,
        &cat(&[&hdr(607, 0x0100, [1, 0, 0, 0]), &question(&q, 1, 1)]),
    );
    let ulen = 8 + 12 + 4;
    lying[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&(ulen as u16).to_be_bytes());
    push("dns udp length shorter than message", lying);
    push(
        "dns beats vxlan port",
        udp4(
            POD,
            KUBE_DNS,
            4789,
            53,
            &cat(&[&hdr(608, 0x0100, [1, 0, 0, 0]), &question(&q, 1, 1)]),
        ),
    );
    push(
        "dns from port 53 to 53",
        udp4(
            POD,
            KUBE_DNS,
            53,
            53,
            &cat(&[&hdr(609, 0x0000, [1, 0, 0, 0]), &question(&q, 6, 1)]),
        ),
    );

    // IPv6 and mDNS.
    let mut v6q = cat(&[&hdr(0x0a0a, 0x0100, [1, 0, 0, 0]), &question(&q, 28, 1)]);
    push(
        "dns ipv6 query",
        e(0x86dd, &ip6(17, &udp(&V6_A, &V6_B, 50000, 53, &v6q))),
    );
    v6q = cat(&[
        &hdr(0x0a0a, 0x8180, [1, 1, 0, 0]),
        &question(&q, 28, 1),
        &rr(&[0xc0, 0x0c], 28, 1, 5, &V6_B),
    ]);
    push(
        "dns ipv6 response",
        e(
            0x86dd,
            &ip6_addrs(V6_B, V6_A, 17, &udp(&V6_B, &V6_A, 53, 50000, &v6q)),
        ),
    );
    let mdns6: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb];
    let mq = cat(&[
        &hdr(0, 0, [2, 0, 0, 0]),
        &question(&name("_hopdump._tcp.local"), 12, 0x8001),
        &question(&name("printer.local"), 1, 1),
    ]);
    push(
        "mdns query qu qm",
        e(
            0x86dd,
            &ip6_addrs(V6_A, mdns6, 17, &udp(&V6_A, &mdns6, 5353, 5353, &mq)),
        ),
    );
    let mr = cat(&[
        &hdr(0, 0x8400, [0, 3, 0, 1]),
        &rr(&name("printer.local"), 1, 0x8001, 120, &[192, 168, 1, 20]),
        &rr(
            &name("_ipp._tcp.local"),
            12,
            1,
            4500,
            &cat(&[&[7], b"printer", &[0xc0, 0x29]]),
        ),
        &rr(&[0xc0, 0x44], 16, 0x8001, 4500, &cat(&[&[4], b"rp=x"])),
        &opt(1440, 0, false, &[]),
    ]);
    push(
        "mdns response cache flush",
        udp4([192, 168, 1, 20], [224, 0, 0, 251], 5353, 5353, &mr),
    );
    push(
        "mdns opt with top bit class",
        udp4(
            [192, 168, 1, 20],
            [224, 0, 0, 251],
            5353,
            5353,
            &cat(&[&hdr(0, 0x8400, [0, 0, 0, 1]), &rr(&[0], 41, 0x85a0, 0, &[])]),
        ),
    );

    // TCP.
    let tq = cat(&[&hdr(0x7777, 0x0100, [1, 0, 0, 0]), &question(&q, 252, 1)]);
    push(
        "dns tcp query",
        tcp_dns(POD, KUBE_DNS, 45000, 53, &prefixed(&tq)),
    );
    push(
        "dns tcp response",
        tcp_dns(KUBE_DNS, POD, 53, 45000, &prefixed(&full_response())),
    );
    let two = cat(&[&prefixed(&tq), &prefixed(&tq)]);
    push(
        "dns tcp two messages",
        tcp_dns(POD, KUBE_DNS, 45001, 53, &two),
    );
    let big = prefixed(&full_response());
    push(
        "dns tcp message spans segments",
        tcp_dns(KUBE_DNS, POD, 53, 45002, &big[..40]),
    );
    push("dns tcp one byte", tcp_dns(POD, KUBE_DNS, 45003, 53, &[0]));
    push(
        "dns tcp short message",
        tcp_dns(POD, KUBE_DNS, 45004, 53, &prefixed(&[1, 2, 3])),
    );
    push(
        "dns tcp http port wins",
        tcp_dns(POD, KUBE_DNS, 80, 53, &prefixed(&tq)),
    );
    c.push(snapped(
        "dns tcp snapped in prefix",
        l,
        tcp_dns(POD, KUBE_DNS, 45005, 53, &prefixed(&tq)),
        14 + 20 + 20 + 1,
    ));
    c.push(snapped(
        "dns tcp snapped in question",
        l,
        tcp_dns(POD, KUBE_DNS, 45006, 53, &prefixed(&tq)),
        14 + 20 + 20 + 2 + 12 + 9,
    ));

    // ICMP error quoting a DNS query (tcpdump -v prints the quoted datagram).
    let mut quoted = V4::new(17);
    quoted.src = POD;
    quoted.dst = KUBE_DNS;
    let qd = quoted.build(&udp(
        &POD,
        &KUBE_DNS,
        41000,
        53,
        &cat(&[&hdr(0x1234, 0x0100, [1, 0, 0, 0]), &question(&q, 1, 1)]),
    ));
    let mut err = V4::new(1);
    err.src = KUBE_DNS;
    err.dst = POD;
    err.frag = 0;
    c.push(case(
        "dns icmp port unreachable full quote",
        l,
        e(0x0800, &err.build(&icmp(3, 3, [0; 4], &qd))),
    ));
    c.push(case(
        "dns icmp port unreachable 8 byte quote",
        l,
        e(0x0800, &err.build(&icmp(3, 3, [0; 4], &qd[..36]))),
    ));

    // Carried differently: flannel VXLAN, a padded minimum frame, IP fragments.
    let inner = query4(&cat(&[
        &hdr(0x5151, 0x0100, [1, 0, 0, 0]),
        &question(&q, 33, 1),
    ]));
    let mut vx = vxlan_hdr(1);
    vx.extend_from_slice(&inner);
    c.push(case(
        "dns inside flannel vxlan",
        l,
        udp4([192, 168, 0, 11], [192, 168, 0, 12], 40123, 8472, &vx),
    ));
    let mut padded = reply4(&hdr(0x5252, 0x8180, [0, 0, 0, 0]));
    padded.resize(60, 0xee);
    c.push(case("dns in padded frame", l, padded));
    let whole = udp(&KUBE_DNS, &POD, 53, 41003, &full_response());
    let mut f1 = V4::new(17);
    f1.src = KUBE_DNS;
    f1.dst = POD;
    f1.frag = 0x2000;
    f1.id = 999;
    c.push(case(
        "dns first fragment",
        l,
        e(0x0800, &f1.build(&whole[..96])),
    ));
    let mut f2 = f1.clone();
    f2.frag = 12;
    c.push(case(
        "dns second fragment",
        l,
        e(0x0800, &f2.build(&whole[96..])),
    ));

    // The same full response cut after every byte of the DNS message (UDP), and every third
    // byte over TCP and of an mDNS response.
    let full = reply4(&full_response());
    let start = 14 + 20 + 8;
    for cut in start..full.len() {
        c.push(snapped(
            &format!("dns response cut at {}", cut - start),
            l,
            full.clone(),
            cut,
        ));
    }
    let fq = query4(&cat(&[
        &hdr(0x4242, 0x0100, [1, 0, 0, 1]),
        &question(&q, 1, 1),
        &opt(1232, 0, true, &cat(&[&ecs4, &eopt(10, &[9; 8])])),
    ]));
    for cut in start..fq.len() {
        c.push(snapped(
            &format!("dns query cut at {}", cut - start),
            l,
            fq.clone(),
            cut,
        ));
    }
    let tfull = tcp_dns(KUBE_DNS, POD, 53, 45007, &prefixed(&full_response()));
    for cut in (14 + 20 + 20..tfull.len()).step_by(3) {
        c.push(snapped(
            &format!("dns tcp response cut at {cut}"),
            l,
            tfull.clone(),
            cut,
        ));
    }
    let mfull = udp4([192, 168, 1, 20], [224, 0, 0, 251], 5353, 5353, &mr);
    for cut in (start..mfull.len()).step_by(3) {
        c.push(snapped(
            &format!("mdns response cut at {cut}"),
            l,
            mfull.clone(),
            cut,
        ));
    }
    c
}
