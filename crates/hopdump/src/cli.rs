//! Command-line grammar: tcpdump's flags with tcpdump's meaning, as subcommands of hopdump.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "hopdump",
    version,
    about = "Find where LoadBalancer traffic dies: capture at every hop at once, tcpdump-compatible",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Capture live at one or more points (interfaces in any network namespace) at once.
    #[command(after_help = "Examples:
  hopdump capture -i eth0 -i cni0 -i pod=pid:4242/eth0 -w hops.pcapng 'host 198.51.100.240 or port 8080'
  hopdump capture -i node1/eth0 -i node2/eth0 -c 20 -nn tcp")]
    Capture(CaptureArgs),
    /// Read a pcap or pcapng file, filter and print it like `tcpdump -r`.
    Read(ReadArgs),
    /// What the node's packet filter (iptables, nftables, IPVS) does to a flow.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Kernel packet drops with the kernel's reason and location (eBPF, filtered in the kernel).
    Drops(DropsArgs),
    /// Who answers ARP (IPv6: neighbour discovery) for an IP: every reply, announcements,
    /// MAC changes; findings for no reply, several MACs, flapping.
    Arp(ArpArgs),
    /// The conntrack table over netlink: NAT explained (which pod), stale entries, safe delete.
    Conntrack(ConntrackArgs),
    /// The cluster's view of a LoadBalancer service, checked: LB IP, endpoints, MetalLB
    /// speakers and announcer, strictARP, NetworkPolicies; each ✘ with its fix.
    Check(crate::cmd_check::CheckArgs),
    /// Where LoadBalancer traffic dies, and why: plan the path, capture every hop at once,
    /// probe, follow packets through NAT, read rules/conntrack/drops, print the verdict.
    #[command(after_help = "Examples:
  hopdump trace 198.51.100.240:80 --node node1=local --node node2=netns:node2
  hopdump trace svc/web -n shop --agent-ca ca.pem --agent-token-file token
  hopdump trace 198.51.100.240:80 --node n1=agent:198.51.100.11:7443 --node n2=agent:198.51.100.12:7443 \\
      --agent-ca ca.pem --agent-token-file token -w path.pcapng --report path.html
  hopdump trace '[2001:db8::f0]:53/udp' --node n1=local --no-probe --duration 10s")]
    Trace(TraceArgs),
    /// The per-node agent (a DaemonSet in a cluster): serves `trace` its node's captures,
    /// drops, rules, conntrack and state over authenticated TLS. `agent init DIR` makes
    /// the credentials.
    Agent(crate::cmd_agent::AgentArgs),
    /// The main job on a machine with no cluster: build a lab scenario in network namespaces
    /// (root), trace it, show the verdict, write the HTML report and pcapng, tear it down.
    Demo(crate::cmd_demo::DemoArgs),
    /// Offline bundles: `bundle collect` packs a trace's evidence, capture and each node's
    /// raw state into one .tar.gz for a colleague.
    #[command(subcommand)]
    Bundle(crate::cmd_bundle::BundleCommand),
    /// The verdict from a bundle alone: offline, no privilege needed.
    Diagnose(crate::cmd_bundle::DiagnoseArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print hopdump's man page (roff) to stdout: `hopdump man > /usr/local/share/man/man1/hopdump.1`.
    Man,
    /// Probe LB endpoints (tcp/udp/http/https) from the client's side every interval: latency,
    /// success, Prometheus /metrics, and a webhook alert (with a trace verdict) on failure.
    Monitor(Box<crate::cmd_monitor::MonitorArgs>),
}

/// Where a service's objects come from (svc/NAME): the API server or files. Shared by
/// `trace`, `check` and `monitor`.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Namespace of svc/NAME (like kubectl -n).
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        default_value = "default"
    )]
    pub namespace: String,
    /// Read the cluster's objects from `kubectl get … -o json|yaml` files or a
    /// `kubectl cluster-info dump` tree instead of the API server.
    #[arg(long = "from-dir", value_name = "DIR")]
    pub from_dir: Option<PathBuf>,
    /// kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl ClusterArgs {
    /// The cluster's objects: from `--from-dir`, else live (with speakers' logs if `logs`).
    pub fn load(&self, logs: bool) -> anyhow::Result<hopdump_kube::ClusterView> {
        Ok(match &self.from_dir {
            Some(dir) => hopdump_kube::load_dir(dir)?,
            None => hopdump_kube::load_live(&hopdump_kube::LiveOptions {
                kubeconfig: self.kubeconfig.clone(),
                context: self.context.clone(),
                logs,
            })?,
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct TraceArgs {
    /// The LoadBalancer service: IP:PORT[/tcp|/udp] (IPv6: [IP]:PORT), or svc/NAME (with -n,
    /// resolved from the cluster: --from-dir, --kubeconfig/--context or in-cluster config).
    pub target: String,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// A node: NAME=netns:NS (a network namespace on this host), NAME=local, or
    /// NAME=agent:IP:PORT (its `hopdump agent`; see --agent-ca) (repeatable).
    #[arg(long = "node", value_name = "NAME=netns:NS|local|agent:IP:PORT")]
    pub nodes: Vec<String>,
    /// Where probes are sent from and the client side is captured: netns:NS (default: here).
    #[arg(long, value_name = "netns:NS")]
    pub client: Option<String>,
    /// Do not send probes; only watch real traffic.
    #[arg(long = "no-probe")]
    pub no_probe: bool,
    /// Observation window (default 3s): seconds or with a unit (500ms, 3s).
    #[arg(long, value_name = "D")]
    pub duration: Option<String>,
    /// How long each probe waits to connect, and then for its answer (default 1.5s): raise
    /// it for slow links or heavily loaded pods, where a late answer is not a lost one.
    #[arg(long, value_name = "D", env = "HOPDUMP_PROBE_TIMEOUT")]
    pub probe_timeout: Option<String>,
    /// Write everything captured to a pcapng file, one interface per hop (`node/iface`).
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Print the versioned JSON document (hopdump.trace/v1) instead of text.
    #[arg(long)]
    pub json: bool,
    /// CA certificate that signed the agents' certificates (ca.pem of `hopdump agent init`).
    #[arg(long = "agent-ca", value_name = "FILE", env = "HOPDUMP_AGENT_CA")]
    pub agent_ca: Option<PathBuf>,
    /// File holding the agents' bearer token.
    #[arg(
        long = "agent-token-file",
        value_name = "FILE",
        env = "HOPDUMP_AGENT_TOKEN_FILE"
    )]
    pub agent_token_file: Option<PathBuf>,
    /// Client certificate for agents that use mutual TLS (with --agent-key).
    #[arg(long = "agent-cert", value_name = "FILE")]
    pub agent_cert: Option<PathBuf>,
    /// Key of --agent-cert.
    #[arg(long = "agent-key", value_name = "FILE")]
    pub agent_key: Option<PathBuf>,
    /// How long an agent may take to answer a call before its node is unobserved (default 15s).
    #[arg(long = "agent-timeout", value_name = "D")]
    pub agent_timeout: Option<String>,
    /// Show the trace live in the terminal (hops filling in, counters, kernel drops, the
    /// verdict panel; arrows/Enter expand a hop, q quits); the text verdict follows.
    #[arg(long)]
    pub tui: bool,
    /// Also write the verdict, the path diagram and the evidence as one self-contained HTML
    /// file (created 0600).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

impl TraceArgs {
    pub fn agent_creds(&self) -> crate::trace::remote::AgentCreds {
        crate::trace::remote::AgentCreds {
            ca: self.agent_ca.clone(),
            token_file: self.agent_token_file.clone(),
            cert: self.agent_cert.clone(),
            key: self.agent_key.clone(),
            timeout: self
                .agent_timeout
                .as_deref()
                .and_then(|d| crate::cmd_arp::parse_duration(d).ok()),
        }
    }
}

#[derive(Args, Debug)]
pub struct ArpArgs {
    /// The IP to ask for, e.g. the LoadBalancer IP (IPv4: ARP; IPv6: neighbour solicitation).
    pub ip: std::net::IpAddr,
    /// Network namespace to probe from: an `ip netns` name, pid:N, or a path (default: this one).
    #[arg(long, value_name = "NS")]
    pub netns: Option<String>,
    /// Interface to probe on (default: the one with an address on the IP's subnet).
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub iface: Option<String>,
    /// Listen only: who asks, who answers, gratuitous ARPs / unsolicited NAs, MAC changes.
    #[arg(long)]
    pub watch: bool,
    /// Answer window (active, default 2s) or how long to watch (default: until Ctrl-C):
    /// seconds, or with a unit (500ms, 3s, 1m).
    #[arg(long, value_name = "D")]
    pub duration: Option<String>,
    /// Requests to spread over the window (active mode).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub count: u32,
    /// Name a MAC: NAME=MAC or NAME/IFACE=MAC (repeatable), e.g. --node node1=02:6e:00:00:00:01.
    #[arg(long = "node", value_name = "NAME[/IFACE]=MAC")]
    pub nodes: Vec<String>,
    /// The interface the announcer should answer from (checked against --node NAME/IFACE hints).
    #[arg(long = "expect-iface", value_name = "IFACE")]
    pub expect_iface: Option<String>,
    /// Write this file once the socket is listening (scripts and tests never sleep).
    #[arg(long = "ready-file", value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// Print the versioned JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ConntrackArgs {
    /// Network namespace whose table to read: an `ip netns` name, pid:N, or a path.
    #[arg(long, value_name = "NS")]
    pub netns: Option<String>,
    /// Only entries whose original destination is IP[:PORT] (IPv6: [IP]:PORT), e.g. the LB IP.
    #[arg(long, value_name = "IP[:PORT]")]
    pub dst: Option<String>,
    /// Only this protocol (tcp, udp, sctp, icmp).
    #[arg(long, value_name = "PROTO")]
    pub proto: Option<String>,
    /// Only entries found stale.
    #[arg(long)]
    pub stale: bool,
    /// Delete the matching entries (needs --yes; without it, show what would be deleted).
    #[arg(long)]
    pub delete: bool,
    /// Really delete.
    #[arg(long)]
    pub yes: bool,
    /// Print the versioned JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Read the table from a saved file instead of the kernel (`-` for stdin):
    /// `/proc/net/nf_conntrack`, `conntrack -L` (any -o), or `conntrack -E` lines.
    #[arg(long, short = 'r', value_name = "FILE", conflicts_with_all = ["netns", "delete"])]
    pub file: Option<std::path::PathBuf>,
    /// With --file: the node's `iptables-save` output, to say which endpoints its Services
    /// have now (stale entries); repeat for both backends.
    #[arg(long, value_name = "FILE", requires = "file")]
    pub iptables_save: Vec<std::path::PathBuf>,
    /// With --file: the node's `nft -j list ruleset` (or `nft list ruleset`) output.
    #[arg(long, value_name = "FILE", requires = "file")]
    pub nft: Option<std::path::PathBuf>,
    /// With --file: the node's `ipvsadm-save -n` output (IPVS mode).
    #[arg(long, value_name = "FILE", requires = "file")]
    pub ipvs: Option<std::path::PathBuf>,
    /// With --file and --ipvs: the node's `ipset save` output.
    #[arg(long, value_name = "FILE", requires = "ipvs")]
    pub ipset: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Walk one flow through the node's rules in kernel order and explain every rule that
    /// touches it, who wrote it, and the outcome (DNAT targets, ACCEPT, DROP, REJECT, no match).
    Explain(ExplainArgs),
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Destination: IP:PORT[/tcp|/udp|/sctp] (IPv6: [IP]:PORT), e.g. the LoadBalancer IP.
    #[arg(long, value_name = "IP:PORT[/PROTO]")]
    pub dst: String,
    /// Source IP[:PORT] of the client (default 203.0.113.10:40000).
    #[arg(long, value_name = "IP[:PORT]")]
    pub src: Option<String>,
    /// Interface the packet arrives on (for -i / iifname matches).
    #[arg(long = "in", value_name = "IFACE")]
    pub in_iface: Option<String>,
    /// Network namespace to read live: an `ip netns` name, pid:N, or a path (default: this one).
    #[arg(long, value_name = "NS")]
    pub netns: Option<String>,
    /// `iptables-save [-c]` output (either backend; repeat for both).
    #[arg(long = "iptables-save", value_name = "FILE")]
    pub iptables_save: Vec<PathBuf>,
    /// `nft -j list ruleset` (or `nft list ruleset`) output.
    #[arg(long, value_name = "FILE")]
    pub nft: Option<PathBuf>,
    /// `ipvsadm-save -n` or `ipvsadm -Ln` output.
    #[arg(long, value_name = "FILE")]
    pub ipvs: Option<PathBuf>,
    /// `ipset save` or `ipset list` output (IPVS mode keys its rules on ipsets).
    #[arg(long, value_name = "FILE")]
    pub ipset: Option<PathBuf>,
    /// An address of the node (addrtype LOCAL, fib type local, INPUT vs FORWARD); repeatable.
    /// Read from the namespace when reading live.
    #[arg(long = "local-ip", value_name = "IP")]
    pub local_ip: Vec<std::net::IpAddr>,
    /// Print the versioned JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Output flags shared by `capture` and `read`, with tcpdump's meaning.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Don't convert addresses and ports to names (-n, -nn). hopdump never queries DNS: names
    /// come from /etc/hosts and /etc/services only.
    #[arg(short = 'n', action = clap::ArgAction::Count)]
    pub numeric: u8,
    /// Verbose: -v, -vv (IP header fields, checksums).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print the link-level header (MAC addresses, ethertype).
    #[arg(short = 'e')]
    pub link_header: bool,
    /// Quiet: less protocol information.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Timestamps: -t none, -tt epoch seconds, -ttt delta from previous, -tttt date and time,
    /// -ttttt delta from first.
    #[arg(short = 't', action = clap::ArgAction::Count)]
    pub timestamps: u8,
    /// Print sequence numbers as absolute, not relative.
    #[arg(short = 'S', long = "absolute-tcp-sequence-numbers")]
    pub absolute_seq: bool,
    /// Timestamp precision printed: micro (default) or nano.
    #[arg(long = "time-stamp-precision", value_parser = ["micro", "nano"], default_value = "micro")]
    pub precision: String,
    /// Same as --time-stamp-precision=nano.
    #[arg(long)]
    pub nano: bool,
    /// Exit after N packets.
    #[arg(short = 'c')]
    pub count: Option<u64>,
    /// Write packets to FILE instead of printing them: pcapng, or classic pcap if FILE ends
    /// in .pcap; `-` for standard output.
    #[arg(short = 'w')]
    pub write: Option<PathBuf>,
    /// Print one JSON object per packet (NDJSON) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Flush output after every packet (-l line-buffered, -U packet-buffered).
    #[arg(short = 'l')]
    pub line_buffered: bool,
    #[arg(short = 'U')]
    pub packet_buffered: bool,
    /// Read the filter expression from FILE.
    #[arg(short = 'F')]
    pub filter_file: Option<PathBuf>,
    /// Filter expression in tcpdump (pcap-filter) syntax.
    #[arg(trailing_var_arg = true, allow_hyphen_values = false)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// Capture point, repeatable: [LABEL=][NETNS/]IFACE where NETNS is an `ip netns` name,
    /// pid:PID (that process's netns) or an absolute path to a netns file; IFACE may be `any`.
    /// Examples: -i eth0  -i node1/cni0  -i pid:4242/eth0  -i pod=pid:4242/eth0.
    /// Default: any.
    #[arg(short = 'i', value_name = "POINT")]
    pub points: Vec<String>,
    /// Bytes to keep of each packet (0 = 262144).
    #[arg(short = 's', default_value_t = 262_144)]
    pub snaplen: u32,
    /// Don't put interfaces into promiscuous mode.
    #[arg(short = 'p')]
    pub no_promisc: bool,
    /// Kernel capture buffer per point, in KiB.
    #[arg(short = 'B')]
    pub buffer_kib: Option<u32>,
    /// Write this file once every point is capturing (for scripts and tests).
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// After opening the capture sockets (and the -w file), drop root and run as USER (like
    /// tcpdump -Z): a parser bug can then not act with root's rights.
    #[arg(short = 'Z', value_name = "USER")]
    pub user: Option<String>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// File to read (pcap or pcapng; `-` for standard input).
    #[arg(short = 'r', value_name = "FILE", required = true)]
    pub file: PathBuf,
    #[command(flatten)]
    pub out: OutputArgs,
}

impl OutputArgs {
    /// The filter expression from -F or the trailing words, if any.
    pub fn filter_expr(&self) -> anyhow::Result<Option<String>> {
        let expr = match &self.filter_file {
            Some(f) => {
                let text = std::fs::read_to_string(f)
                    .map_err(|e| anyhow::anyhow!("cannot read filter file {}: {e}", f.display()))?;
                // tcpdump ignores comments starting with '#' in -F files.
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            None => self.filter.join(" "),
        };
        let expr = expr.trim().to_string();
        Ok((!expr.is_empty()).then_some(expr))
    }

    pub fn nano(&self) -> bool {
        self.nano || self.precision == "nano"
    }
}

/// `hopdump drops`: kernel packet drops with reasons (eBPF on skb:kfree_skb).
#[derive(Args, Debug)]
pub struct DropsArgs {
    /// Only drops in this network namespace (repeatable): an `ip netns` name, pid:N or a path.
    #[arg(long, value_name = "NS")]
    pub netns: Vec<String>,
    /// Stop after this long: seconds, or with a unit (500ms, 3s, 1m).
    #[arg(long, value_name = "D")]
    pub duration: Option<String>,
    /// Stop after N drops.
    #[arg(short = 'c', value_name = "N")]
    pub count: Option<u64>,
    /// Print one JSON object per drop (schema hopdump.drops/1).
    #[arg(long)]
    pub json: bool,
    /// Write this file once the tracer is attached (scripts and tests never sleep).
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// Also show NOT_SPECIFIED drops of non-IP packets (netlink and the like), hidden by default.
    #[arg(long)]
    pub all: bool,
    /// Allow changing kernel state: the tracefs fallback when eBPF is unavailable.
    #[arg(long)]
    pub yes: bool,
    /// Use the tracefs fallback even when eBPF works (needs --yes).
    #[arg(long)]
    pub tracefs: bool,
    /// Filter expression (tcpdump subset: host, net, port, portrange, src/dst, ip, ip6, tcp,
    /// udp, sctp, icmp, icmp6, proto, and/or/not, parentheses), evaluated in the kernel.
    #[arg(trailing_var_arg = true)]
    pub filter: Vec<String>,
}
