//! hopdump: the binary. Parses arguments, wires the crates together, renders, sets exit codes.
//!
//! Exit codes: 0 done (or the reader of our output went away), 1 a problem was found
//! (diagnostic commands), 2 hopdump itself failed — always with a one-line message.

mod cli;
mod cmd_agent;
mod cmd_arp;
mod cmd_bundle;
mod cmd_capture;
mod cmd_check;
mod cmd_conntrack;
mod cmd_demo;
mod cmd_drops;
mod cmd_monitor;
mod cmd_read;
mod cmd_rules;
mod cmd_trace;
mod names;
mod node_state;
mod render;
mod report_file;
mod timefmt;
mod trace;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Capture(args) => cmd_capture::run(args),
        cli::Command::Read(args) => cmd_read::run(args),
        cli::Command::Rules(cli::RulesCommand::Explain(args)) => cmd_rules::explain(args),
        cli::Command::Drops(args) => cmd_drops::run(args),
        cli::Command::Arp(args) => cmd_arp::run(args),
        cli::Command::Conntrack(args) => cmd_conntrack::run(args),
        cli::Command::Check(args) => cmd_check::run(args),
        cli::Command::Trace(args) => cmd_trace::run(args),
        cli::Command::Agent(args) => cmd_agent::run(args),
        cli::Command::Demo(args) => cmd_demo::run(args),
        cli::Command::Bundle(cmd_bundle::BundleCommand::Collect(args)) => cmd_bundle::collect(args),
        cli::Command::Diagnose(args) => cmd_bundle::diagnose(args),
        cli::Command::Completions { shell } => {
            // Into a buffer first: the generator panics on a closed pipe.
            let mut cmd = <cli::Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "hopdump", &mut buf);
            std::io::Write::write_all(&mut std::io::stdout(), &buf)
                .map(|_| ExitCode::SUCCESS)
                .map_err(anyhow::Error::from)
        }
        cli::Command::Man => {
            let cmd = <cli::Cli as clap::CommandFactory>::command();
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .and_then(|_| std::io::Write::write_all(&mut std::io::stdout(), &buf))
                .map(|_| ExitCode::SUCCESS)
                .map_err(anyhow::Error::from)
        }
        cli::Command::Monitor(args) => cmd_monitor::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) if render::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes joined by ": ".
            eprintln!("hopdump: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(2)
        }
    }
}
