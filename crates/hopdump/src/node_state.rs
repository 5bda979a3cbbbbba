//! Reading a node's packet-filter state, live from a network namespace (read-only tools run
//! inside it) or from files saved earlier, into `hopdump-rules`' model.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use hopdump_capture::Netns;
use hopdump_rules::{NodeContext, NodeRules, iptables, ipvs, nft};

/// Where the rules come from.
pub struct Sources<'a> {
    pub netns: &'a Netns,
    pub iptables_files: &'a [std::path::PathBuf],
    pub nft_file: Option<&'a Path>,
    pub ipvs_file: Option<&'a Path>,
    pub ipset_file: Option<&'a Path>,
}

/// What was read, for the report header.
#[derive(Default)]
pub struct Loaded {
    pub rules: NodeRules,
    pub ctx: NodeContext,
    pub notes: Vec<String>,
}

/// Run `f` on a thread inside `netns`; processes it spawns live there too.
pub fn in_netns<T: Send + 'static>(
    netns: &Netns,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let netns = netns.clone();
    std::thread::spawn(move || -> Result<T> {
        hopdump_capture::netns::enter_ns(&netns, "rules")?;
        Ok(f())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("worker thread panicked"))?
}

/// Run a tool; None when it is not installed, Err with its stderr when it fails.
fn tool(args: &[&str]) -> Option<std::result::Result<String, String>> {
    match Command::new(args[0]).args(&args[1..]).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(e.to_string())),
        Ok(o) if o.status.success() => Some(Ok(String::from_utf8_lossy(&o.stdout).into_owned())),
        Ok(o) => Some(Err(String::from_utf8_lossy(&o.stderr).trim().to_string())),
    }
}

/// The addresses of the calling thread's namespace.
fn local_addrs() -> Vec<IpAddr> {
    let mut v = Vec::new();
    // SAFETY: getifaddrs allocates a list we walk read-only and free with freeifaddrs.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) != 0 {
            return v;
        }
        let mut p = list;
        while !p.is_null() {
            let a = (*p).ifa_addr;
            if !a.is_null() {
                match (*a).sa_family as i32 {
                    libc::AF_INET => {
                        let sin = a as *const libc::sockaddr_in;
                        v.push(IpAddr::from(
                            u32::from_be((*sin).sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = a as *const libc::sockaddr_in6;
                        v.push(IpAddr::from((*sin6).sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    v
}

struct LiveDump {
    xt: Vec<(String, std::result::Result<String, String>)>,
    nft: Option<std::result::Result<String, String>>,
    ipvs: Option<std::result::Result<String, String>>,
    ipset: Option<std::result::Result<String, String>>,
    addrs: Vec<IpAddr>,
    routes: Vec<(ipnet::IpNet, String)>,
}

/// Routes of the main table as `ip -j route` prints them: `dst` ("default" or a prefix), `dev`.
fn parse_routes(json: &str, v6: bool) -> Vec<(ipnet::IpNet, String)> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|r| {
            let dev = r.get("dev")?.as_str()?.to_string();
            let dst = r.get("dst")?.as_str()?;
            let net = if dst == "default" {
                if v6 {
                    "::/0".parse().ok()?
                } else {
                    "0.0.0.0/0".parse().ok()?
                }
            } else {
                hopdump_rules::flow::parse_net(dst)?
            };
            Some((net, dev))
        })
        .collect()
}

fn read_live(netns: &Netns, ipv6: bool) -> Result<LiveDump> {
    in_netns(netns, move || {
        let mut xt = Vec::new();
        let tools: &[&str] = if ipv6 {
            &["ip6tables-nft-save", "ip6tables-legacy-save"]
        } else {
            &["iptables-nft-save", "iptables-legacy-save"]
        };
        for t in tools {
            if let Some(r) = tool(&[t, "-c"]) {
                xt.push((t.to_string(), r));
            }
        }
        if xt.is_empty() {
            let t = if ipv6 {
                "ip6tables-save"
            } else {
                "iptables-save"
            };
            if let Some(r) = tool(&[t, "-c"]) {
                xt.push((t.to_string(), r));
            }
        }
        LiveDump {
            xt,
            nft: tool(&["nft", "-j", "list", "ruleset"]),
            ipvs: tool(&["ipvsadm-save", "-n"]),
            ipset: tool(&["ipset", "save"]),
            addrs: local_addrs(),
            routes: match tool(&[
                "ip",
                if ipv6 { "-6" } else { "-4" },
                "-j",
                "route",
                "show",
                "table",
                "main",
            ]) {
                Some(Ok(j)) => parse_routes(&j, ipv6),
                _ => Vec::new(),
            },
        }
    })
}

/// nft JSON from a file holding either `nft -j list ruleset` or `nft list ruleset` text. Text is
/// loaded by the real nft into a private, unnamed network namespace that disappears with the
/// thread, then listed as JSON — nothing on the host is touched.
fn nft_json(path: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if text.trim_start().starts_with('{') {
        return Ok(text);
    }
    let path = path.to_path_buf();
    std::thread::spawn(move || -> Result<String> {
        // SAFETY: unshare only affects this thread's namespaces.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            bail!(
                "{} is nft text: converting it needs a scratch network namespace (root / CAP_SYS_ADMIN: {}); or give `nft -j list ruleset` output instead",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        let p = path.to_string_lossy().into_owned();
        match tool(&["nft", "-f", &p]) {
            None => bail!("{} is nft text and `nft` is not installed to read it; give `nft -j list ruleset` output instead", path.display()),
            Some(Err(e)) => bail!("nft cannot load {}: {}", path.display(), e.lines().next().unwrap_or("")),
            Some(Ok(_)) => {}
        }
        match tool(&["nft", "-j", "list", "ruleset"]) {
            Some(Ok(j)) => Ok(j),
            _ => bail!("nft could not list {} as JSON", path.display()),
        }
    })
    .join()
    .map_err(|_| anyhow::anyhow!("nft conversion thread panicked"))?
}

/// Load rules from files, or live when no file is given.
pub fn load(src: &Sources<'_>, ipv6: bool, local_ips: &[IpAddr]) -> Result<Loaded> {
    let mut out = Loaded::default();
    let offline =
        !src.iptables_files.is_empty() || src.nft_file.is_some() || src.ipvs_file.is_some();
    if offline {
        for f in src.iptables_files {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            let name = f.display().to_string();
            let d = iptables::parse(&name, &text)?;
            out.notes.push(format!(
                "{name}: {} ({} rules)",
                d.backend.name(),
                d.rule_count()
            ));
            out.rules.xt.push(d);
        }
        if let Some(f) = src.nft_file {
            let rs = nft::parse(&f.display().to_string(), &nft_json(f)?)?;
            out.notes.push(format!(
                "{}: nftables ({} rules)",
                f.display(),
                rs.rule_count()
            ));
            out.rules.nft.push(rs);
        }
        if let Some(f) = src.ipvs_file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            let v = ipvs::parse_ipvs(&f.display().to_string(), &text)?;
            out.notes.push(format!(
                "{}: IPVS ({} virtual servers)",
                f.display(),
                v.services.len()
            ));
            out.rules.ipvs = Some(v);
        }
        if let Some(f) = src.ipset_file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            out.rules.ipsets = ipvs::parse_ipsets(&text);
        }
        out.ctx = NodeContext {
            local_addrs: local_ips.to_vec(),
            local_known: !local_ips.is_empty(),
            out_iface: None,
            routes: Vec::new(),
        };
        return Ok(out);
    }
    let live = read_live(src.netns, ipv6)?;
    let mut any = false;
    for (tool_name, r) in live.xt {
        match r {
            Ok(text) => {
                let mut d = iptables::parse_string(&tool_name, text)?;
                if d.backend == iptables::Backend::Unknown {
                    d.backend = if tool_name.contains("legacy") {
                        iptables::Backend::Legacy
                    } else {
                        iptables::Backend::Nft
                    };
                }
                out.notes
                    .push(format!("{tool_name}: {} rules", d.rule_count()));
                any = true;
                out.rules.xt.push(d);
            }
            Err(e) => out.notes.push(format!(
                "{tool_name} failed: {}",
                e.lines().next().unwrap_or("")
            )),
        }
    }
    match live.nft {
        Some(Ok(j)) => {
            let rs = nft::parse("nft -j list ruleset", &j)?;
            out.notes.push(format!("nft: {} rules", rs.rule_count()));
            any = true;
            out.rules.nft.push(rs);
        }
        Some(Err(e)) => out
            .notes
            .push(format!("nft failed: {}", e.lines().next().unwrap_or(""))),
        None => out.notes.push("nft is not installed".into()),
    }
    if let Some(Ok(text)) = live.ipvs {
        let v = ipvs::parse_ipvs("ipvsadm-save -n", &text)?;
        if !v.services.is_empty() {
            out.notes
                .push(format!("ipvsadm: {} virtual servers", v.services.len()));
            out.rules.ipvs = Some(v);
        }
    }
    if let Some(Ok(text)) = live.ipset {
        out.rules.ipsets = ipvs::parse_ipsets(&text);
    }
    if !any {
        bail!(
            "could not read any packet filter rules in {} (need iptables-save/nft and CAP_NET_ADMIN: run as root)",
            src.netns
        );
    }
    let mut addrs = live.addrs;
    addrs.extend_from_slice(local_ips);
    out.ctx = NodeContext {
        local_known: true,
        local_addrs: addrs,
        out_iface: None,
        routes: live.routes,
    };
    Ok(out)
}
