//! `hopdump trace` argument handling without a lab: bad targets and nodes fail with exit 2
//! and one line naming what is wrong.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let probe_timeout = |d| {
        vec![
            "trace",
            "198.51.100.240:80",
            "--node",
            "n1=local",
            "--probe-timeout",
            d,
        ]
    };
    for (args, says) in [
        (vec!["trace", "nope", "--node", "n1=local"], "IP:PORT"),
        (
            vec!["trace", "198.51.100.240:80/sctp", "--node", "n1=local"],
            "tcp or udp",
        ),
        (vec!["trace", "198.51.100.240:80"], "--node"),
        (
            vec!["trace", "198.51.100.240:80", "--node", "n1"],
            "NAME=netns:NS",
        ),
        (
            vec!["trace", "198.51.100.240:80", "--node", "n1=agent:x"],
            "agent address must be IP:PORT",
        ),
        (
            vec![
                "trace",
                "198.51.100.240:80",
                "--node",
                "n1=agent:192.0.2.1:7443",
                "--agent-ca",
                "/nonexistent/ca.pem",
            ],
            "/nonexistent/ca.pem",
        ),
        (
            vec![
                "trace",
                "198.51.100.240:80",
                "--node",
                "n1=local",
                "--client",
                "x",
            ],
            "netns:NS",
        ),
        (
            probe_timeout("0"),
            "--probe-timeout: duration \"0\" must be positive",
        ),
        (
            probe_timeout("soon"),
            "--probe-timeout: cannot read duration \"soon\"",
        ),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains(says), "{args:?}: {e}");
    }
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let o = run(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let s = String::from_utf8_lossy(&o.stdout);
        for sub in ["trace", "agent", "capture", "demo"] {
            assert!(s.contains(sub), "{shell} completion names {sub}");
        }
    }
    let o = run(&["man"]);
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.starts_with(".ie") && s.contains(".TH hopdump 1"),
        "{}",
        &s[..80]
    );
    // Examples in --help.
    let o = run(&["trace", "--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("Examples:"));
}
