//! Cluster-scale cost of `rules explain`: parsing kube-proxy's dump for 10,000 LoadBalancer
//! Services (≈100k rules) and walking one flow through it.

mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use hopdump_rules::{Flow, NodeContext, NodeRules, explain, iptables};
use support::kube_dump::{kube_proxy_dump, lb_ip};

fn bench(c: &mut Criterion) {
    let dump = kube_proxy_dump(10_000);
    let mut g = c.benchmark_group("rules-10k-services");
    g.sample_size(10);
    g.bench_function("parse iptables-save", |b| {
        b.iter(|| iptables::parse("bench", &dump).map(|d| d.rule_count()))
    });
    let rules = NodeRules {
        xt: vec![iptables::parse("bench", &dump).expect("valid dump")],
        ..Default::default()
    };
    let ctx = NodeContext {
        local_addrs: vec!["198.51.100.11".parse().expect("ip")],
        local_known: true,
        out_iface: None,
        routes: Vec::new(),
    };
    // The last service: its rule is at the end of KUBE-SERVICES, the worst case for the walk.
    let flow = Flow::parse(&format!("{}:80", lb_ip(9_999)), None).expect("flow");
    g.bench_function("explain one flow", |b| {
        b.iter(|| explain(&rules, &flow, &ctx).outcome.targets.len())
    });
    g.bench_function("parse + explain", |b| {
        b.iter(|| {
            let rules = NodeRules {
                xt: vec![iptables::parse("bench", &dump).expect("valid dump")],
                ..Default::default()
            };
            explain(&rules, &flow, &ctx).outcome.targets.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
