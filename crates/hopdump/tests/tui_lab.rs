//! `hopdump trace --tui` on a real lab fault, driven through a pseudo-terminal (tmux): the
//! hops fill in, the verdict panel appears, a hop expands to its packets, `q` quits with the
//! terminal restored and the text verdict printed after it.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::process::Command;
use std::time::{Duration, Instant};

use hopdump_testkit::lab::fault::Fault;
use hopdump_testkit::lab::{Cluster, Spec};

struct Tmux {
    sock: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.sock]);
        c
    }
    fn pane(&self) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn keys(&self, k: &[&str]) {
        self.cmd()
            .args(["send-keys", "-t", "t"])
            .args(k)
            .status()
            .unwrap();
    }
    fn wait(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let p = self.pane();
            if f(&p) {
                return p;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "waiting for {what}:\n{p}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

#[test]
fn trace_tui_shows_hops_verdict_and_quits_cleanly() {
    if !lab_allowed() {
        return;
    }
    require("tmux");
    let mut c = Cluster::build(Fault::ForwardDrop.spec(Spec::default())).unwrap();
    Fault::ForwardDrop.inject(&mut c).unwrap();
    let mut line = format!(
        "{} trace {}:80/tcp --tui --client netns:{}",
        env!("CARGO_BIN_EXE_hopdump"),
        c.lb(false),
        c.lab().ns("client")
    );
    for n in &c.nodes {
        line.push_str(&format!(" --node {}=netns:{}", n.name, c.lab().ns(&n.ns)));
    }
    line.push_str("; echo EXIT=$?; sleep 60");
    let t = Tmux {
        sock: format!("hdtui{}", std::process::id()),
    };
    let ok = t
        .cmd()
        .args([
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "140",
            "-y",
            "45",
            "sh",
            "-c",
            &line,
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    // Hops in path order, then the verdict panel.
    let p = t.wait("hops", |p| {
        p.contains("node1/eth0") && p.contains("client/eth0")
    });
    assert!(p.find("client/eth0").unwrap() < p.find("node1/eth0").unwrap());
    t.wait("verdict", |p| p.contains("firewall_drop"));
    // Expand the announcer's uplink: its packets show.
    t.keys(&["Down"]);
    t.keys(&["Enter"]);
    t.wait("expanded hop", |p| p.contains("Flags [S]"));
    // Quit: the shell's echo follows, after the text verdict printed on the restored screen.
    t.keys(&["q"]);
    let p = t.wait("exit", |p| p.contains("EXIT="));
    assert!(p.contains("EXIT=1"), "{p}");
    assert!(p.contains("VERDICT: firewall_drop"), "{p}");
}
