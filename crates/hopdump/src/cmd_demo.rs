//! `hopdump demo [SCENARIO]`: the main job on a machine with no cluster. Builds one of the
//! lab's MetalLB-L2 + kube-proxy scenarios in network namespaces (root), runs `trace` on it
//! exactly as a user would on nodes, shows the verdict, writes the HTML report and the pcapng,
//! and tears the lab down (also on Ctrl-C: the lab's namespaces are removed on drop).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Parser};
use hopdump_testkit::lab::scenario::Scenario;
use hopdump_testkit::lab::{Cluster, Spec};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Scenario to build (see --list); a broken one shows a verdict worth reading.
    #[arg(default_value = "forward-drop")]
    pub scenario: String,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Where to write the HTML report.
    #[arg(long, value_name = "FILE.html", default_value = "hopdump-demo.html")]
    pub report: PathBuf,
    /// Where to write the capture of every hop (one pcapng interface per hop).
    #[arg(
        short = 'w',
        value_name = "FILE",
        default_value = "hopdump-demo.pcapng"
    )]
    pub write: PathBuf,
    /// Show the trace in the live terminal view.
    #[arg(long)]
    pub tui: bool,
}

fn trace_args(c: &Cluster, scenario: &str, a: &DemoArgs) -> Result<crate::cli::TraceArgs> {
    let target = if scenario == "udp-conntrack-stale" {
        format!("{}:9000/udp", c.lb(false))
    } else {
        format!("{}:80/tcp", c.lb(false))
    };
    let mut argv: Vec<String> = vec![
        "hopdump".into(),
        "trace".into(),
        target,
        "--client".into(),
        format!("netns:{}", c.lab().ns("client")),
        "--report".into(),
        a.report.display().to_string(),
        "-w".into(),
        a.write.display().to_string(),
    ];
    for n in &c.nodes {
        argv.push("--node".into());
        argv.push(format!("{}=netns:{}", n.name, c.lab().ns(&n.ns)));
    }
    if a.tui {
        argv.push("--tui".into());
    }
    match crate::cli::Cli::try_parse_from(argv)?.command {
        crate::cli::Command::Trace(t) => Ok(t),
        _ => bail!("internal: demo built a non-trace command"),
    }
}

pub fn run(a: crate::cmd_demo::DemoArgs) -> Result<ExitCode> {
    if a.list {
        for s in Scenario::all() {
            println!("{:<30} {}", s.name(), s.describe());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let scenario = Scenario::from_name(&a.scenario)?;
    if !hopdump_testkit::is_root() {
        bail!("demo builds network namespaces: run it as root (sudo hopdump demo)");
    }
    eprintln!(
        "building scenario {}: {} (network namespaces, removed on exit)",
        scenario.name(),
        scenario.describe()
    );
    let lab = hopdump_testkit::netns::Lab::new()?;
    let cluster = scenario.build(lab, Spec::default())?;
    eprintln!(
        "LB IP {} announced by {}; nodes {}; running: hopdump trace …",
        cluster.lb(false),
        cluster.announcing().join(", "),
        cluster
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let client = cluster.lab().ns("client");
    eprintln!(
        "namespaces {}* (removed on exit)",
        client.strip_suffix("client").unwrap_or(&client)
    );
    let args = trace_args(&cluster, scenario.name(), &a)?;
    // The demo did its job whatever the verdict; exit 2 only if it could not run.
    crate::cmd_trace::run(args)?;
    drop(cluster);
    eprintln!(
        "\nreport: {} (open it in a browser)   capture: {} (open it in Wireshark)",
        a.report.display(),
        a.write.display()
    );
    Ok(ExitCode::SUCCESS)
}
