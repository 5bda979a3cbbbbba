//! Read-only by default, proven on a lab cluster: the state of every lab namespace (rules of
//! every backend, sysctls, routes and rules, links/addresses/MTUs, long-lived conntrack
//! entries) is snapshotted, the real binary's diagnostic subcommands run against it without
//! `--yes` (including a conntrack delete, which must stay a dry run), and the state must be
//! unchanged afterwards; a failure prints the diff.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use hopdump_testkit::lab::topology::{CLIENT4, CLIENT6, LB4};
use hopdump_testkit::lab::{Cluster, Spec};

/// A source address no probe uses (documentation range) for the conntrack entry the test
/// plants, so it cannot be confused with the probes' own flows.
const PLANTED_SRC: &str = "192.0.2.77";
const PLANTED_SPORT: &str = "41077";

/// Run `args` inside network namespace `ns` (full name); a tool that fails or is missing is
/// part of the snapshot as its error text (it must fail the same way afterwards).
fn ns_run(ns: &str, args: &[&str]) -> String {
    match Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => format!(
            "<{} failed: {}>",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("<{} not run: {e}>", args[0]),
    }
}

/// Replace every `[packets:bytes]` counter with `[]`.
fn strip_xt_counters(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        match rest[i..].find(']') {
            Some(j)
                if rest[i + 1..i + j]
                    .split(':')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
            {
                out.push_str("[]");
                rest = &rest[i + j + 1..];
            }
            _ => {
                out.push('[');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// iptables-save output without comments (dates) and counters.
fn xt_save(ns: &str, tool: &str) -> String {
    ns_run(ns, &[tool])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(strip_xt_counters)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Words that follow `key` in a line are dropped (lifetimes, timeouts, counters).
fn drop_values(line: &str, keys: &[&str]) -> String {
    let mut out = Vec::new();
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if keys.contains(&w) {
            words.next();
        } else if !(w.starts_with("packets=") || w.starts_with("bytes=") || w == "tentative") {
            out.push(w);
        }
    }
    out.join(" ")
}

/// Conntrack entries that live longer than the test (timeout > 300 s), without timeouts,
/// counters and use counts, without any flow of the probes (from the client) and without the
/// kernel's multicast membership reports.
fn conntrack(ns: &str, family: &str) -> String {
    let probes = [CLIENT4.to_string(), CLIENT6.to_string()];
    let mut lines: Vec<String> = ns_run(ns, &["conntrack", "-L", "-f", family])
        .lines()
        .filter(|l| {
            let timeout: u64 = l
                .split_whitespace()
                .nth(2)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            // The kernel's own IGMP/MLD reports (multicast group joins of new interfaces)
            // come and go on their own; they are not state anyone set.
            let multicast = l.contains("dst=224.0.0.") || l.contains("dst=ff02:");
            timeout > 300
                && !multicast
                && !probes
                    .iter()
                    .any(|p| l.contains(&format!("src={p} ")) || l.contains(&format!("dst={p} ")))
        })
        .map(|l| {
            let mut w: Vec<&str> = l.split_whitespace().collect();
            w.remove(2);
            w.retain(|x| !x.starts_with("use="));
            drop_values(&w.join(" "), &[])
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

/// Everything hopdump could change, per namespace, normalised.
fn snapshot(c: &Cluster) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    for ns in c.lab().namespaces() {
        let mut put = |what: &str, text: String| {
            s.insert(format!("{ns} {what}"), text);
        };
        for tool in [
            "iptables-save",
            "iptables-legacy-save",
            "ip6tables-save",
            "ip6tables-legacy-save",
        ] {
            put(tool, xt_save(ns, tool));
        }
        // -s: stateless (no counters, quotas or set element timeouts).
        put(
            "nft -s list ruleset",
            ns_run(ns, &["nft", "-s", "list", "ruleset"]),
        );
        let sysctl: Vec<String> = ns_run(ns, &["sysctl", "-a", "-r", "^net\\."])
            .lines()
            .filter(|l| !l.contains("nf_conntrack_count"))
            .map(str::to_string)
            .collect();
        assert!(
            sysctl
                .iter()
                .any(|l| l.starts_with("net.ipv4.ip_forward ="))
                && sysctl.iter().any(|l| l.contains(".rp_filter ="))
                && sysctl.iter().any(|l| l.contains(".arp_ignore ="))
                && sysctl.iter().any(|l| l.contains(".arp_announce ="))
                && sysctl
                    .iter()
                    .any(|l| l.starts_with("net.ipv6.conf.all.forwarding =")),
            "{ns}: sysctl snapshot incomplete"
        );
        put("sysctl net.*", sysctl.join("\n"));
        for (what, args) in [
            ("ip route", &["ip", "route", "show", "table", "all"][..]),
            (
                "ip -6 route",
                &["ip", "-6", "route", "show", "table", "all"][..],
            ),
            ("ip rule", &["ip", "rule"][..]),
            ("ip -6 rule", &["ip", "-6", "rule"][..]),
            ("ip link", &["ip", "-o", "link", "show"][..]),
            ("ip addr", &["ip", "-o", "addr", "show"][..]),
        ] {
            let text = ns_run(ns, args)
                .lines()
                .map(|l| drop_values(l, &["expires", "valid_lft", "preferred_lft"]))
                .collect::<Vec<_>>()
                .join("\n");
            put(what, text);
        }
        put("conntrack ipv4", conntrack(ns, "ipv4"));
        put("conntrack ipv6", conntrack(ns, "ipv6"));
    }
    s
}

/// Lines only before / only after, per part that changed.
fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for k in keys {
        let (b, a) = (
            before.get(k).map(String::as_str).unwrap_or("<absent>"),
            after.get(k).map(String::as_str).unwrap_or("<absent>"),
        );
        if a == b {
            continue;
        }
        let bl: BTreeSet<&str> = b.lines().collect();
        let al: BTreeSet<&str> = a.lines().collect();
        out.push_str(&format!("--- {k}\n"));
        for l in bl.difference(&al) {
            out.push_str(&format!("-{l}\n"));
        }
        for l in al.difference(&bl) {
            out.push_str(&format!("+{l}\n"));
        }
        if bl == al {
            out.push_str("(same lines, different order or repetition)\n");
        }
    }
    out
}

/// Run hopdump; exit 0 (healthy) and 1 (a problem found) are both fine, 2 is a failure.
fn run_ok(what: &str, args: &[String]) -> String {
    let o = hopdump().args(args).output().unwrap();
    let code = o.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{what}: hopdump {} exited {code}: {}",
        args.join(" "),
        stderr(&o)
    );
    stdout(&o)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn diagnostics_change_nothing_in_any_lab_namespace() {
    if !lab_allowed() {
        return;
    }
    let c = Cluster::build(Spec::default()).unwrap();
    let lb = c.lb(false).to_string();
    assert_eq!(lb, LB4.to_string());
    let client = c.lab().ns("client");
    // A long-lived, DNATed entry in every node's table for the delete to find.
    for n in &c.nodes {
        let pod = c
            .pods
            .iter()
            .find(|p| p.node == n.name)
            .unwrap_or(&c.pods[0]);
        let pod_ip = pod.ip4.to_string();
        c.exec(
            &n.ns,
            &[
                "conntrack",
                "-I",
                "-p",
                "tcp",
                "-s",
                PLANTED_SRC,
                "-d",
                &lb,
                "--sport",
                PLANTED_SPORT,
                "--dport",
                "80",
                "-r",
                &pod_ip,
                "-q",
                PLANTED_SRC,
                "--reply-port-src",
                "8080",
                "--reply-port-dst",
                PLANTED_SPORT,
                "--state",
                "ESTABLISHED",
                "-u",
                "SEEN_REPLY,ASSURED",
                "-t",
                "3600",
            ],
        )
        .unwrap();
    }

    let before = snapshot(&c);
    // The snapshot is itself read-only and stable (no volatile value slipped in).
    let again = snapshot(&c);
    assert!(
        before == again,
        "two snapshots without hopdump differ:\n{}",
        diff(&before, &again)
    );
    for n in &c.nodes {
        let ct = &before[&format!("{} conntrack ipv4", c.lab().ns(&n.ns))];
        assert!(ct.contains(PLANTED_SRC), "planted entry missing: {ct}");
    }

    // trace: captures at every hop, probes, BPF drops, rules, conntrack, ARP.
    let mut args = strings(&["trace", &format!("{lb}:80/tcp"), "--json", "--client"]);
    args.push(format!("netns:{client}"));
    for n in &c.nodes {
        args.push("--node".into());
        args.push(format!("{}=netns:{}", n.name, c.lab().ns(&n.ns)));
    }
    run_ok("trace", &args);

    for n in &c.nodes {
        let ns = c.lab().ns(&n.ns);
        // rules explain, live from the node's namespace.
        run_ok(
            "rules explain",
            &strings(&[
                "rules",
                "explain",
                "--dst",
                &format!("{lb}:80"),
                "--netns",
                &ns,
                "--json",
            ]),
        );
        // conntrack list, then a delete without --yes: a dry run that names what it would do.
        run_ok("conntrack", &strings(&["conntrack", "--netns", &ns]));
        let out = run_ok(
            "conntrack --delete",
            &strings(&[
                "conntrack",
                "--netns",
                &ns,
                "--dst",
                &format!("{lb}:80"),
                "--delete",
            ]),
        );
        assert!(
            out.contains("would delete") && out.contains("nothing changed"),
            "delete without --yes must be a dry run: {out}"
        );
    }
    // arp: active probe and a short watch from the client.
    run_ok(
        "arp",
        &strings(&["arp", &lb, "--netns", &client, "--duration", "1s", "--json"]),
    );
    run_ok(
        "arp --watch",
        &strings(&[
            "arp",
            &lb,
            "--netns",
            &client,
            "--watch",
            "--duration",
            "500ms",
        ]),
    );
    // drops: loads BPF for a moment, filtered to the lab.
    let mut args = strings(&["drops", "--duration", "1s", "--json"]);
    for ns in c.lab().namespaces() {
        args.push("--netns".into());
        args.push(ns.clone());
    }
    run_ok("drops", &args);
    // capture: promiscuous mode on a node's uplink must be undone.
    let node_if = format!("{}/eth0", c.lab().ns(&c.nodes[0].ns));
    run_ok(
        "capture",
        &strings(&[
            "capture",
            "-i",
            &node_if,
            "--duration",
            "1",
            "-c",
            "5",
            "-nn",
        ]),
    );

    let after = snapshot(&c);
    assert!(
        before == after,
        "hopdump changed state without --yes:\n{}",
        diff(&before, &after)
    );
}
