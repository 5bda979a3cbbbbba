#!/usr/bin/env python3
# Turns a real `hopdump trace --json` report (and the text of `hopdump read -r` on the trace's
# `-w` pcapng, optional) into a replay of the TUI's events, as `hopdump trace --tui` would
# have sent them: the plan, the armed window, counters rising to the report's final values in
# four steps with the packets and kernel drops of each step, notes, then the verdict.
#
#   make_replay.py REPORT.json [PACKETS.txt] > replay.jsonl
#
# PACKETS.txt: `hopdump read -r trace.pcapng -e`-style lines whose first field is the hop's
# interface label (`node/iface`, the pcapng if_name hopdump writes); other lines are skipped.
import json
import sys


def main():
    report = json.load(open(sys.argv[1]))
    packets = {}
    if len(sys.argv) > 2:
        for line in open(sys.argv[2]):
            line = line.rstrip("\n")
            label, _, rest = line.partition(" ")
            rest = rest.strip()
            if "/" in label and rest:
                packets.setdefault(label, []).append(rest)

    out = []

    def ev(obj):
        out.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))

    def sleep(ms):
        out.append(json.dumps({"sleep_ms": ms}))

    t = report["target"]
    ip = t["ip"] if ":" not in t["ip"] else "[%s]" % t["ip"]
    ann = (report.get("announcer") or {}).get("node") or "none"
    title = "%s:%d/%s from %s — announcer %s" % (
        ip, t["port"], t["proto"], report.get("client") or "?", ann)
    hops = [{"node": h["node"], "iface": h["iface"], "role": h["role"]} for h in report["hops"]]
    out.append("# made by tests/scenarios/tui/make_replay.py from a real trace; see README.md")
    ev({"planned": {"title": title, "hops": hops}})
    for r in report.get("arp_responders", []):
        ev({"note": "arp: %s answered for %s (%s, %d frames)" % (
            r.get("node") or "?", t["ip"], r["mac"], r["frames"])})
    for e in report.get("endpoints", []):
        ev({"note": "endpoint %s:%d on %s" % (e["ip"], e["port"], e.get("node") or "?")})
    sleep(300)
    ev({"armed": {"window_ms": 3000}})
    steps = 4
    probes = report.get("probes", [])
    drops = []
    for d in report.get("drops", []):
        drops += [{"node": d["node"], "iface": d.get("iface"), "reason": d["reason"],
                   "location": d["location"], "count": 1}] * d["count"]
    for step in range(1, steps + 1):
        sleep(450)
        for p in probes[(step - 1) * len(probes) // steps: step * len(probes) // steps]:
            ev({"note": "probe %s sport %d: %s (%d ms)" % (p["kind"], p["sport"], p["result"], p["ms"])})
        for i, h in enumerate(report["hops"]):
            name = "%s/%s" % (h["node"], h["iface"])
            lines = packets.get(name, [])
            for line in lines[(step - 1) * len(lines) // steps: step * len(lines) // steps]:
                ev({"packet": {"hop": i, "line": line}})
            s = h["seen"]
            ev({"counts": {"hop": i, "counts": {
                "forward": s["probes_in"] * step // steps,
                "forward_large": s["probes_large"] * step // steps,
                "replies": s["replies"] * step // steps,
                "rst": s["rst"] * step // steps,
                "icmp": (s["icmp_unreachable"] + s["icmp_too_big"]) * step // steps}}})
        for d in drops[(step - 1) * len(drops) // steps: step * len(drops) // steps]:
            ev({"drop": d})
    ev({"note": "window closed; reading rules, conntrack and MTUs on every node"})
    for m in report.get("missing", []):
        ev({"note": "not observed: " + m})
    sleep(400)
    ev({"verdict": report})
    print("\n".join(out))


main()
