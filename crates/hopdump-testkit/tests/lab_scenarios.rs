//! Every named scenario (what `up` builds) builds; healthy ones answer and broken ones do not
//! answer a small GET (their full self-checks are in lab_healthy.rs and lab_faults.rs).

mod common;

use std::time::Duration;

use common::{OK_WAIT, lab_allowed};
use hopdump_testkit::Lab;
use hopdump_testkit::lab::fault::Fault;
use hopdump_testkit::lab::scenario::Scenario;
use hopdump_testkit::lab::{Http, Spec};

/// Enough to tell "no answer" from an answer inside one lab (no retransmission needed).
const SHORT_WAIT: Duration = Duration::from_millis(600);

fn check(s: Scenario) {
    let c = s
        .build(Lab::new().expect("lab"), Spec::default())
        .unwrap_or_else(|e| panic!("{}: {e:#}", s.name()));
    match s {
        Scenario::Healthy(_) => {
            let got = c.http(Http::Small, false, OK_WAIT).expect("probe");
            assert!(got.is_ok(), "{}: {got:?}", s.name());
        }
        // Small requests pass these by design (or depend on which MAC won the ARP race).
        Scenario::Fault(Fault::MtuBlackhole | Fault::UdpConntrackStale | Fault::SplitBrain) => {}
        Scenario::Fault(_) => {
            let got = c.http(Http::Small, false, SHORT_WAIT).expect("probe");
            assert!(!got.is_ok(), "{}: small GET still works", s.name());
        }
    }
}

#[test]
fn every_healthy_scenario_builds_and_answers() {
    if !lab_allowed() {
        return;
    }
    for s in Scenario::all()
        .into_iter()
        .filter(|s| matches!(s, Scenario::Healthy(_)))
    {
        check(s);
    }
}

#[test]
fn every_fault_scenario_builds_broken() {
    if !lab_allowed() {
        return;
    }
    for s in Scenario::all()
        .into_iter()
        .filter(|s| matches!(s, Scenario::Fault(_)))
    {
        check(s);
    }
}
