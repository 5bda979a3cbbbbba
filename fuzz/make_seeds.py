#!/usr/bin/env python3
# Writes the seed corpora (fuzz/seeds/TARGET/) from the test fixtures and hand-built frames.
# Usage: python3 fuzz/make_seeds.py [--nft]   (--nft also converts the reference nft *text*
# dumps to JSON with the real `nft`, inside a throwaway network namespace made by `unshare -n`).
# The committed corpus (fuzz/corpus/) is these seeds merged with what the campaigns found,
# minimized with `-merge=1`; see README.md.
import glob
import os
import shutil
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")
REF = "/work/shared/reference"


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


MAC_A = bytes([0x02, 0x42, 0xAC, 0x11, 0x00, 0x02])
MAC_B = bytes([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
V4_A = bytes([203, 0, 113, 10])
V4_B = bytes([192, 168, 1, 240])
V6_A = bytes.fromhex("20010db8ffff00000000000000000010")
V6_B = bytes.fromhex("20010db8000100000000000000000240")


def eth(et, payload, dst=MAC_B, src=MAC_A):
    return dst + src + struct.pack("!H", et) + payload


def ipv4(proto, payload, src=V4_A, dst=V4_B, opts=b"", frag=0x4000, ttl=64):
    ihl = 5 + len(opts) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(opts) + len(payload), 0x1234, frag, ttl, proto, 0, src, dst) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ipv6(nh, payload, src=V6_A, dst=V6_B, hlim=64):
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, hlim) + src + dst + payload


def tcp(sport, dport, flags, seq=1000, ack=0, opts=b"", payload=b""):
    off = (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 64240, 0, 0) + opts + payload


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


SYN_OPTS = bytes.fromhex("020405b40402080a0000000100000000") + bytes.fromhex("01030307")
inner = eth(0x0800, ipv4(6, tcp(40000, 8080, 0x02, opts=SYN_OPTS), src=bytes([10, 244, 1, 5]), dst=bytes([10, 244, 2, 7])))

PACKETS = {
    "tcp_syn": eth(0x0800, ipv4(6, tcp(40000, 80, 0x02, opts=SYN_OPTS))),
    "tcp_synack": eth(0x0800, ipv4(6, tcp(80, 40000, 0x12, seq=5000, ack=1001), src=V4_B, dst=V4_A)),
    "tcp_http": eth(0x0800, ipv4(6, tcp(40000, 80, 0x18, seq=1001, ack=5001, opts=bytes.fromhex("0101080a0000000200000001"), payload=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))),
    "tcp_rst": eth(0x0800, ipv4(6, tcp(80, 40000, 0x14, seq=0, ack=1001), src=V4_B, dst=V4_A)),
    "udp_dns": eth(0x0800, ipv4(17, udp(40000, 53, bytes.fromhex("12340100000100000000000003777777076578616d706c6503636f6d0000010001")))),
    # A response with a compression pointer, CNAME + A, and an EDNS OPT record.
    "udp_dns_resp": eth(0x0800, ipv4(17, udp(53, 40000, bytes.fromhex(
        "1234818000010002000000010377777707657861"
        "6d706c6503636f6d0000010001c00c0005000100"
        "00012c0006036f6e65c010c02d00010001000000"
        "3c00045db8d82200002904d0000080000000")), src=V4_B, dst=V4_A)),
    "tcp_dns": eth(0x0800, ipv4(6, tcp(40000, 53, 0x18, seq=1001, ack=5001, payload=struct.pack("!H", 33) + bytes.fromhex("12340100000100000000000003777777076578616d706c6503636f6d00001c0001")))),
    "mdns": eth(0x0800, ipv4(17, udp(5353, 5353, bytes.fromhex("000084000000000100000000055f68747470045f746370056c6f63616c00000c800100001194000c096d792d736572766572c00c")), dst=bytes([224, 0, 0, 251]))),
    "icmp_echo": eth(0x0800, ipv4(1, struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"abcdefgh")),
    "icmp_unreach": eth(0x0800, ipv4(1, struct.pack("!BBHI", 3, 3, 0, 0) + ipv4(17, udp(40000, 53, b"q"))[:28], src=V4_B, dst=V4_A)),
    "icmp_toobig": eth(0x0800, ipv4(1, struct.pack("!BBHHH", 3, 4, 0, 0, 1400) + ipv4(6, tcp(40000, 80, 0x10))[:48], src=V4_B, dst=V4_A)),
    "ipv4_opts_frag": eth(0x0800, ipv4(17, udp(1, 2, b"x" * 16), opts=bytes([0x94, 0x04, 0, 0]), frag=0x2001)),
    "vlan": eth(0x8100, struct.pack("!HH", 100, 0x0800) + ipv4(6, tcp(40000, 443, 0x02))),
    "qinq": eth(0x88A8, struct.pack("!HH", 10, 0x8100) + struct.pack("!HH", 20, 0x0800) + ipv4(17, udp(5, 6, b"hi"))),
    "arp_req": eth(0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + MAC_A + V4_A + b"\0" * 6 + V4_B, dst=b"\xff" * 6),
    "arp_reply": eth(0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + MAC_B + V4_B + MAC_A + V4_A),
    "ipv6_tcp": eth(0x86DD, ipv6(6, tcp(40000, 443, 0x02, opts=SYN_OPTS))),
    "ipv6_ext": eth(0x86DD, ipv6(0, bytes([44, 0, 1, 4, 0, 0, 0, 0]) + bytes([17, 0, 0, 1, 0, 0, 0, 9]) + udp(7, 8, b"frag"))),
    "icmpv6_echo": eth(0x86DD, ipv6(58, struct.pack("!BBHHH", 128, 0, 0, 1, 1) + b"ping")),
    "icmpv6_ns": eth(0x86DD, ipv6(58, struct.pack("!BBHI", 135, 0, 0, 0) + V6_B + bytes([1, 1]) + MAC_A, dst=bytes.fromhex("ff0200000000000000000001ff000240"), hlim=255)),
    "icmpv6_na": eth(0x86DD, ipv6(58, struct.pack("!BBHI", 136, 0, 0, 0x60000000) + V6_B + bytes([2, 1]) + MAC_B, src=V6_B, dst=V6_A, hlim=255)),
    "icmpv6_toobig": eth(0x86DD, ipv6(58, struct.pack("!BBHI", 2, 0, 0, 1280) + ipv6(6, tcp(40000, 443, 0x10))[:60], src=V6_B, dst=V6_A)),
    "vxlan": eth(0x0800, ipv4(17, udp(51000, 4789, struct.pack("!II", 0x08000000, 1 << 8) + inner), src=bytes([192, 168, 1, 11]), dst=bytes([192, 168, 1, 12]))),
    "geneve": eth(0x0800, ipv4(17, udp(51000, 6081, struct.pack("!BBHI", 1, 0, 0x6558, 5 << 8) + struct.pack("!HBB", 0x0102, 3, 1) + b"\0" * 4 + inner), src=bytes([192, 168, 1, 11]), dst=bytes([192, 168, 1, 12]))),
}

# selector byte of the wire target: bits 0-2 link (0 Ethernet, 1 Null, 2 Raw, 3 SLL, 4 SLL2, 5 IPv4, 6 IPv6)
RAW = {
    "null_v4": (1, struct.pack("<I", 2) + ipv4(6, tcp(40000, 80, 0x02))),
    "raw_v6": (2, ipv6(17, udp(546, 547, b"dhcp"))),
    "sll_v4": (3, struct.pack("!HHH", 0, 1, 6) + MAC_A + b"\0\0" + struct.pack("!H", 0x0800) + ipv4(17, udp(1, 2, b"x"))),
    "sll2_v4": (4, struct.pack("!HHIHBB", 0x0800, 0, 3, 1, 0, 6) + MAC_A + b"\0\0" + ipv4(6, tcp(40000, 80, 0x02))),
    "ipv4_link": (5, ipv4(1, struct.pack("!BBHHH", 0, 0, 0, 7, 1))),
    "ipv6_link": (6, ipv6(58, struct.pack("!BBHHH", 129, 0, 0, 1, 1))),
}


def wire():
    for i, (name, p) in enumerate(PACKETS.items()):
        put("wire", name, bytes([(i * 8) & 0x18]) + p)
        put("wire", name + "_v", bytes([0x08]) + p)
    for name, (sel, p) in RAW.items():
        put("wire", name, bytes([sel]) + p)


def pcap_file(big=False, nano=False, linktype=1, pkts=()):
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)
    for i, p in enumerate(pkts):
        out += struct.pack(e + "IIII", 1700000000 + i, 123456, len(p), len(p) + (i % 2)) + p
    return out


def opt(code, val, e):
    pad = (4 - len(val) % 4) % 4
    return struct.pack(e + "HH", code, len(val)) + val + b"\0" * pad


def block(btype, body, e):
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def pcapng(big=False, sections=1, pkts=()):
    e = ">" if big else "<"
    out = b""
    for s in range(sections):
        out += block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + opt(4, b"hopdump", e) + opt(0, b"", e), e)
        out += block(1, struct.pack(e + "HHI", 1, 0, 262144) + opt(2, b"node1/eth0", e) + opt(3, b"host=node1 netns=- ifindex=2", e) + opt(9, bytes([9]), e) + opt(14, struct.pack(e + "q", 1), e) + opt(0, b"", e), e)
        out += block(1, struct.pack(e + "HHI", 276, 0, 65535) + opt(2, b"any", e) + opt(9, bytes([0x86]), e) + opt(0, b"", e), e)
        for i, p in enumerate(pkts):
            ts = 1700000000123456789 + i
            pad = (4 - len(p) % 4) % 4
            out += block(6, struct.pack(e + "IIIII", i % 2 if s == 0 else 0, ts >> 32, ts & 0xFFFFFFFF, len(p), len(p)) + p + b"\0" * pad + opt(2, struct.pack(e + "I", 1), e) + opt(0, b"", e), e)
        p = pkts[0] if pkts else b""
        out += block(3, struct.pack(e + "I", len(p)) + p + b"\0" * ((4 - len(p) % 4) % 4), e)
        out += block(5, struct.pack(e + "III", 0, 0, 0) + opt(4, struct.pack(e + "Q", 10), e) + opt(5, struct.pack(e + "Q", 1), e) + opt(0, b"", e), e)
        out += block(4, struct.pack(e + "HH", 1, 8) + V4_B + b"lb\0\0" + struct.pack(e + "HH", 0, 0), e)
    return out


def pcaps():
    ps = list(PACKETS.values())[:4]
    put("pcap", "le_micro", pcap_file(pkts=ps))
    put("pcap", "be_nano", pcap_file(big=True, nano=True, pkts=ps[:2]))
    put("pcap", "raw_link", pcap_file(linktype=101, pkts=[RAW["raw_v6"][1]]))
    put("pcap", "ng_le", pcapng(pkts=ps))
    put("pcap", "ng_be", pcapng(big=True, pkts=ps[:2]))
    put("pcap", "ng_two_sections", pcapng(sections=2, pkts=ps[:1]))
    put("pcap", "header_only", pcap_file())
    put("pcap", "truncated", pcapng(pkts=ps)[:150])


# Campaigns run with -max_len=4096 (a 17 KB dump costs 5x more per run and its mutations
# mostly break the JSON): big dumps become several small, still valid, pieces.
def xt_chunks(name, text):
    """iptables-save text cut per table into pieces of at most 25 rule lines."""
    for ti, part in enumerate(text.split("\n*")):
        lines = [l for l in part.split("\n") if l and not l.startswith("#") and l != "COMMIT"]
        if not lines:
            continue
        head = "*" + lines[0].lstrip("*")
        decl = [l for l in lines[1:] if l.startswith(":")]
        rules = [l for l in lines[1:] if not l.startswith(":")]
        for ci in range(0, max(len(rules), 1), 25):
            body = "\n".join([head] + (decl if ci == 0 else []) + rules[ci:ci + 25] + ["COMMIT", ""])
            put("iptables", "%s_%d_%d" % (name, ti, ci // 25), body[:4096])


def nft_chunks(name, text):
    """nft -j JSON cut into rulesets of the metainfo and tables plus at most 12 other items."""
    import json
    items = json.loads(text)["nftables"]
    head = [i for i in items if "metainfo" in i or "table" in i]
    rest = [i for i in items if i not in head]
    for ci in range(0, max(len(rest), 1), 12):
        doc = json.dumps({"nftables": head + rest[ci:ci + 12]}, separators=(",", ":"))
        if len(doc) <= 4096:
            put("nft", "%s_%d" % (name, ci // 12), doc)


def rules(nft_text):
    scen = os.path.join(ROOT, "tests", "scenarios", "rules")
    for f in glob.glob(os.path.join(scen, "*.iptables")) + [os.path.join(scen, "k8s-upstream-iptables.txt")]:
        xt_chunks(os.path.basename(f).split(".")[0], open(f).read())
    for f in sorted(glob.glob(os.path.join(REF, "0[1-4]*_iptables_*.txt"))):
        # the reference files hold several dumps with prose around them: keep each dump
        text = open(f).read()
        for i, chunk in enumerate(text.split("\n*")[1:]):
            xt_chunks("%s_%d" % (os.path.basename(f)[:3], i), "*" + chunk.split("\nCOMMIT")[0] + "\nCOMMIT\n")
    for f in glob.glob(os.path.join(scen, "*.nft.json")):
        nft_chunks(os.path.basename(f).split(".")[0], open(f).read())
    shutil.copy(os.path.join(scen, "ipvs-three-services.ipvsadm"), os.path.join(OUT, "ipvs", "ipvsadm"))
    shutil.copy(os.path.join(scen, "ipvs-three-services.ipset"), os.path.join(OUT, "ipvs", "ipset"))
    put("ipvs", "both", open(os.path.join(scen, "ipvs-three-services.ipvsadm")).read() + "\n--ipset--\n" + open(os.path.join(scen, "ipvs-three-services.ipset")).read())
    put("ipvs", "ln", "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\nTCP  192.168.1.240:80 rr persistent 10800\n  -> 10.244.1.12:8080             Masq    1      0          0\nUDP  [2001:db8:1::240]:53 rr\n  -> [2001:db8:2::7]:53           Masq    1      0          0\n")
    if nft_text:
        for f in [os.path.join(scen, "three-services.nft")] + sorted(glob.glob(os.path.join(REF, "0[78]*_nft_*.txt"))):
            try:
                j = subprocess.run(["unshare", "-n", "sh", "-c", "nft -f \"$0\" && nft -j list ruleset", f], capture_output=True, timeout=30)
            except Exception as e:  # noqa: BLE001
                print("nft:", f, e, file=sys.stderr)
                continue
            if j.returncode == 0 and j.stdout.strip():
                nft_chunks("text_" + os.path.basename(f)[:3], j.stdout.decode())
            else:
                print("nft could not load", f, j.stderr.decode()[:200], file=sys.stderr)


def nla(t, v, nested=False):
    n = 4 + len(v)
    return struct.pack("=HH", n, t | (0x8000 if nested else 0)) + v + b"\0" * ((4 - n % 4) % 4)


def ct_tuple(src, dst, proto, sport, dport, v6=False):
    ip = nla(3 if v6 else 1, src) + nla(4 if v6 else 2, dst)
    if proto in (1, 58):
        pr = nla(1, bytes([proto])) + nla(4, struct.pack("!H", 7)) + nla(5, bytes([8])) + nla(6, bytes([0]))
    else:
        pr = nla(1, bytes([proto])) + nla(2, struct.pack("!H", sport)) + nla(3, struct.pack("!H", dport))
    return nla(1, ip, True) + nla(2, pr, True) + nla(3, struct.pack("!H", 0))


def ct_entry(family, orig, reply, tcp_state=None, seq=1):
    body = bytes([family, 0]) + struct.pack("!H", 0)
    body += nla(1, orig, True) + nla(2, reply, True)
    body += nla(3, struct.pack("!I", 0x1BE))
    if tcp_state is not None:
        body += nla(4, nla(1, nla(1, bytes([tcp_state])) + nla(4, bytes([7])), True), True)
    body += nla(7, struct.pack("!I", 117)) + nla(8, struct.pack("!I", 0)) + nla(12, struct.pack("!I", 0xDEADBEEF)) + nla(11, struct.pack("!I", 1))
    body += nla(9, nla(1, struct.pack("!Q", 5)) + nla(2, struct.pack("!Q", 300)), True) + nla(10, nla(1, struct.pack("!Q", 4)) + nla(2, struct.pack("!Q", 900)), True)
    body += nla(18, struct.pack("!H", 0))
    return struct.pack("=IHHII", 16 + len(body), (1 << 8) | 0, 2, seq, 0) + body


def ctnl():
    pod = bytes([10, 244, 2, 7])
    node = bytes([192, 168, 1, 11])
    tcp_e = ct_entry(2, ct_tuple(V4_A, V4_B, 6, 40000, 80), ct_tuple(pod, V4_A, 6, 8080, 40000), tcp_state=3)
    udp_e = ct_entry(2, ct_tuple(V4_A, V4_B, 17, 40000, 53), ct_tuple(pod, node, 17, 53, 61000), seq=2)
    icmp_e = ct_entry(2, ct_tuple(V4_A, V4_B, 1, 0, 0), ct_tuple(V4_B, V4_A, 1, 0, 0), seq=3)
    v6_e = ct_entry(10, ct_tuple(V6_A, V6_B, 6, 40000, 443, True), ct_tuple(V6_B, V6_A, 6, 443, 40000, True), tcp_state=1)
    done = struct.pack("=IHHII", 20, 3, 2, 4, 0) + struct.pack("=i", 0)
    err = struct.pack("=IHHII", 36, 2, 0, 5, 0) + struct.pack("=i", -1) + b"\0" * 16
    put("ctnetlink", "tcp_dnat", tcp_e)
    put("ctnetlink", "udp_masq", udp_e)
    put("ctnetlink", "icmp", icmp_e)
    put("ctnetlink", "ipv6", v6_e)
    put("ctnetlink", "dump", tcp_e + udp_e + icmp_e + v6_e + done)
    put("ctnetlink", "error", err)
    # rtnetlink link and neighbour messages (the crate's other codec)
    ifinfo = struct.pack("=BBHiII", 0, 0, 1, 2, 0x1043, 0) + nla(3, b"eth0\0") + nla(1, MAC_A) + nla(4, struct.pack("=I", 1500))
    put("ctnetlink", "rtm_link", struct.pack("=IHHII", 16 + len(ifinfo), 16, 2, 6, 0) + ifinfo)
    nd = struct.pack("=BBHiHBB", 2, 0, 0, 2, 2, 0, 1) + nla(1, V4_B) + nla(2, MAC_B)
    put("ctnetlink", "rtm_neigh", struct.pack("=IHHII", 16 + len(nd), 28, 2, 7, 0) + nd)


def arp():
    for k in ["arp_req", "arp_reply", "icmpv6_ns", "icmpv6_na"]:
        put("arp", k, PACKETS[k])
    grat = eth(0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + MAC_B + V4_B + b"\xff" * 6 + V4_B, dst=b"\xff" * 6)
    put("arp", "gratuitous", grat)
    una = eth(0x86DD, ipv6(58, struct.pack("!BBHI", 136, 0, 0, 0x20000000) + V6_B + bytes([2, 1]) + MAC_B, src=V6_B, dst=bytes.fromhex("ff020000000000000000000000000001"), hlim=255))
    put("arp", "unsolicited_na", una)


def cttext():
    # Every entry line of tests/scenarios/conntrack/formats.txt (the reference's formats), one
    # seed each, plus the whole file (comments, summary and the truncated line included).
    path = os.path.join(ROOT, "tests", "scenarios", "conntrack", "formats.txt")
    with open(path) as f:
        text = f.read()
    put("cttext", "all", text)
    n = 0
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            put("cttext", "line%02d" % n, line + "\n")
            n += 1


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    for t in ["wire", "pcap", "iptables", "nft", "ipvs", "ctnetlink", "cttext", "arp"]:
        os.makedirs(os.path.join(OUT, t), exist_ok=True)
    wire()
    pcaps()
    rules("--nft" in sys.argv)
    ctnl()
    cttext()
    arp()
    for t in sorted(os.listdir(OUT)):
        print(t, len(os.listdir(os.path.join(OUT, t))))


main()
