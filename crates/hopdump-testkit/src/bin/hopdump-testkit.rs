//! `hopdump-testkit`: the test kit from the command line, for benchmarks and labs built by
//! hand: `gen-pcap` writes a synthetic capture, `blast` sends frames out of an interface fast.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use hopdump_testkit::blast::{BlastOptions, Mode, blast};
use hopdump_testkit::r#gen::{Format, write_capture};

#[derive(Parser, Debug)]
#[command(
    name = "hopdump-testkit",
    version,
    about = "hopdump's test kit: capture generator and packet blaster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a synthetic MetalLB/Kubernetes capture (TCP to the LB IP and to pods, DNAT/SNAT,
    /// VLAN, VXLAN, DNS, mDNS, ARP), streamed in constant memory, the same for the same seed.
    GenPcap(GenArgs),
    /// Send UDP frames out of an interface (in a netns) at a target rate, with AF_PACKET
    /// sendmmsg batches; prints what was sent.
    Blast(BlastArgs),
    /// Lab scenarios: `up SCENARIO [--prefix P]`, `down`, `list`.
    #[command(flatten)]
    Lab(hopdump_testkit::lab::cli::LabCommand),
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    Pcap,
    Pcapng,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ModeArg {
    Mmsg,
    Ring,
}

#[derive(Args, Debug)]
struct GenArgs {
    /// Number of packets.
    #[arg(long, default_value_t = 2_000_000)]
    packets: u64,
    /// Output file, `-` for standard output.
    #[arg(long)]
    out: PathBuf,
    /// File format: classic pcap (microseconds) or pcapng.
    #[arg(long, value_enum, default_value = "pcap")]
    format: FormatArg,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args, Debug)]
struct BlastArgs {
    /// Network namespace to send from: `ip netns` name or path to a netns file.
    #[arg(long)]
    netns: Option<String>,
    /// Interface to send out of.
    #[arg(long)]
    iface: String,
    /// Frames per second; 0 for as fast as possible.
    #[arg(long, default_value_t = 0)]
    pps: u64,
    /// How long to send.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Frame length in bytes as the capture sees it (no FCS), 42..=1514.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Frames per sendmmsg call.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Distinct UDP flows (source ports) cycled through.
    #[arg(long, default_value_t = 256)]
    flows: u16,
    /// How frames reach the kernel: sendmmsg batches, or a PACKET_TX_RING (slower on a
    /// veth, which copies the ring's pages).
    #[arg(long, value_enum, default_value = "mmsg")]
    mode: ModeArg,
    /// Sending threads, each with its own socket and an equal share of --pps.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Destination MAC (default: one nobody owns, so the receiver drops frames cheaply).
    #[arg(long)]
    dst_mac: Option<String>,
    /// Source IPv4 address of the frames.
    #[arg(long)]
    src_ip: Option<std::net::Ipv4Addr>,
    /// Destination IPv4 address of the frames (UDP port 9, discard).
    #[arg(long)]
    dst_ip: Option<std::net::Ipv4Addr>,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        bail!("bad MAC address {s}");
    }
    for (d, p) in mac.iter_mut().zip(parts) {
        *d = u8::from_str_radix(p, 16).with_context(|| format!("bad MAC address {s}"))?;
    }
    Ok(mac)
}

fn gen_pcap(a: &GenArgs) -> Result<()> {
    let format = match a.format {
        FormatArg::Pcap => Format::Pcap,
        FormatArg::Pcapng => Format::Pcapng,
    };
    let start = Instant::now();
    let sink: Box<dyn Write> = if a.out.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&a.out)
                .with_context(|| format!("cannot create {}", a.out.display()))?,
        )
    };
    let out = BufWriter::with_capacity(1 << 20, sink);
    let s = write_capture(out, a.packets, a.seed, format)
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    let t = start.elapsed().as_secs_f64();
    eprintln!(
        "gen-pcap: wrote {} packets ({} bytes) to {} in {:.2} s ({:.2} Mpps)",
        s.packets,
        s.file_bytes,
        a.out.display(),
        t,
        s.packets as f64 / t.max(1e-9) / 1e6
    );
    Ok(())
}

fn run_blast(a: &BlastArgs) -> Result<()> {
    let mut o = BlastOptions {
        netns: a.netns.clone(),
        iface: a.iface.clone(),
        pps: a.pps,
        duration: Duration::from_secs_f64(a.seconds.max(0.0)),
        size: a.size,
        batch: a.batch,
        flows: a.flows,
        threads: a.threads,
        mode: match a.mode {
            ModeArg::Ring => Mode::Ring,
            ModeArg::Mmsg => Mode::Mmsg,
        },
        ..BlastOptions::default()
    };
    if let Some(m) = &a.dst_mac {
        o.dst_mac = parse_mac(m)?;
    }
    if let Some(ip) = a.src_ip {
        o.src_ip = ip.octets();
    }
    if let Some(ip) = a.dst_ip {
        o.dst_ip = ip.octets();
    }
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
    let r = blast(&o, &STOP)?;
    println!("{r}");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match &cli.command {
        Command::GenPcap(a) => gen_pcap(a),
        Command::Blast(a) => run_blast(a),
        Command::Lab(c) => hopdump_testkit::lab::cli::run(c),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hopdump-testkit: {e:#}");
            ExitCode::from(2)
        }
    }
}
