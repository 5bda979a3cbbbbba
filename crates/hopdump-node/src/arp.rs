//! Collecting ARP/NDP evidence about one IP in the calling thread's namespace: actively (send
//! who-has / neighbour solicitations and record every answer in a window) or passively (watch
//! who asks, who answers and who announces). Analysis is in `analysis::arp`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::analysis::arp::{ArpEvent, ArpEvidence, EventKind, Mode, NeighView, NodeHint};
use crate::error::{NodeError, Result};
use crate::frames::{self, ArpFrame, Ndp, mac_str};
use crate::rawsock::RawSock;
use crate::rtnl;

/// Every protocol (`ETH_P_ALL`).
const ETH_P_ALL: u16 = 0x0003;

/// What to do.
#[derive(Debug, Clone)]
pub struct ArpOptions {
    pub target: IpAddr,
    /// Interface to probe/watch on; None: the one with an address on the target's subnet.
    pub iface: Option<String>,
    pub mode: Mode,
    /// Active: the window for answers. Watch: how long to watch (None: until `stop`).
    pub duration: Option<Duration>,
    /// Active: how many requests to spread over the window.
    pub requests: u32,
    pub hints: Vec<NodeHint>,
    pub expect_iface: Option<String>,
    /// The namespace's name for error messages.
    pub netns_label: String,
}

/// An address of the namespace: (interface, address, prefix length).
fn addresses() -> Vec<(String, IpAddr, u8)> {
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
            let m = (*p).ifa_netmask;
            if !a.is_null() && !(*p).ifa_name.is_null() {
                let name = std::ffi::CStr::from_ptr((*p).ifa_name)
                    .to_string_lossy()
                    .into_owned();
                match i32::from((*a).sa_family) {
                    libc::AF_INET => {
                        let sin = a as *const libc::sockaddr_in;
                        let ip = Ipv4Addr::from(u32::from_be((*sin).sin_addr.s_addr));
                        let prefix = if m.is_null() {
                            32
                        } else {
                            let mm = m as *const libc::sockaddr_in;
                            u32::from_be((*mm).sin_addr.s_addr).count_ones() as u8
                        };
                        v.push((name, IpAddr::V4(ip), prefix));
                    }
                    libc::AF_INET6 => {
                        let sin6 = a as *const libc::sockaddr_in6;
                        let ip = Ipv6Addr::from((*sin6).sin6_addr.s6_addr);
                        let prefix = if m.is_null() {
                            128
                        } else {
                            let mm = m as *const libc::sockaddr_in6;
                            (*mm)
                                .sin6_addr
                                .s6_addr
                                .iter()
                                .map(|b| b.count_ones() as u8)
                                .sum()
                        };
                        v.push((name, IpAddr::V6(ip), prefix));
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

fn in_subnet(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn is_link_local(ip: &Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What one frame says about the target: (kind, MAC claimed or asker's MAC, Ethernet source,
/// asker's IP).
pub type Classified = (EventKind, [u8; 6], [u8; 6], Option<IpAddr>);

/// Classify one received frame with respect to `target`.
pub fn classify(frame: &[u8], target: IpAddr) -> Option<Classified> {
    match target {
        IpAddr::V4(t) => {
            let a: ArpFrame = frames::parse_arp(frame)?;
            if a.spa == t && a.tpa == t {
                Some((EventKind::Gratuitous, a.sha, a.eth_src, None))
            } else if a.op == 1 && a.tpa == t {
                Some((
                    EventKind::Request,
                    a.sha,
                    a.eth_src,
                    Some(IpAddr::V4(a.spa)),
                ))
            } else if a.op == 2 && a.spa == t {
                Some((EventKind::Reply, a.sha, a.eth_src, None))
            } else {
                None
            }
        }
        IpAddr::V6(t) => match frames::parse_ndp(frame)? {
            Ndp::Solicitation {
                eth_src,
                src,
                target,
                lladdr,
            } if target == t => Some((
                EventKind::Request,
                lladdr.unwrap_or(eth_src),
                eth_src,
                (!src.is_unspecified()).then_some(IpAddr::V6(src)),
            )),
            Ndp::Advertisement {
                eth_src,
                target,
                lladdr,
                solicited,
                ..
            } if target == t => Some((
                if solicited {
                    EventKind::Reply
                } else {
                    EventKind::UnsolicitedNa
                },
                lladdr.unwrap_or(eth_src),
                eth_src,
                None,
            )),
            _ => None,
        },
    }
}

/// Probe or watch per `opts`. `ready` is called once the socket listens (with the interface
/// chosen); `on_event` sees each event as it arrives (live output). Stops early when `stop`
/// is set (Ctrl-C).
pub fn collect(
    opts: &ArpOptions,
    stop: &AtomicBool,
    ready: impl FnOnce(&str),
    mut on_event: impl FnMut(&ArpEvent),
) -> Result<ArpEvidence> {
    let links = rtnl::links()?;
    let addrs = addresses();
    let iface = match &opts.iface {
        Some(i) => i.clone(),
        None => addrs
            .iter()
            .find(|(n, a, p)| n != "lo" && in_subnet(*a, *p, opts.target))
            .map(|(n, _, _)| n.clone())
            .ok_or_else(|| NodeError::NoRoute {
                what: format!(
                    "no interface in {} has an address on {}'s subnet: give one with -i (interfaces there: {})",
                    opts.netns_label,
                    opts.target,
                    links.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            })?,
    };
    let link = links
        .iter()
        .find(|l| l.name == iface)
        .ok_or_else(|| NodeError::NoInterface {
            name: iface.clone(),
            netns: opts.netns_label.clone(),
            known: links
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let mac = link.mac.ok_or_else(|| NodeError::NoRoute {
        what: format!("{iface} has no Ethernet address: ARP/NDP need an Ethernet interface"),
    })?;
    let on_iface: Vec<(IpAddr, u8)> = addrs
        .iter()
        .filter(|(n, _, _)| *n == iface)
        .map(|(_, a, p)| (*a, *p))
        .collect();
    let watch = opts.mode == Mode::Watch;
    let (proto, request): (u16, Option<Vec<u8>>) = match opts.target {
        IpAddr::V4(t) => {
            let src = on_iface
                .iter()
                .filter_map(|(a, p)| match a {
                    IpAddr::V4(v) => Some((*v, in_subnet(*a, *p, opts.target))),
                    IpAddr::V6(_) => None,
                })
                .max_by_key(|(_, same)| *same)
                .map(|(a, _)| a)
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            (frames::ETH_P_ARP, Some(frames::arp_request(mac, src, t)))
        }
        IpAddr::V6(t) => {
            let src = on_iface
                .iter()
                .filter_map(|(a, _)| match a {
                    IpAddr::V6(v) => Some(*v),
                    IpAddr::V4(_) => None,
                })
                .max_by_key(is_link_local);
            let req = match (watch, src) {
                (true, _) => None,
                (false, Some(s)) => Some(frames::ns_frame(mac, s, t)),
                (false, None) => {
                    return Err(NodeError::NoRoute {
                        what: format!(
                            "{iface} has no IPv6 address to send a neighbour solicitation from"
                        ),
                    });
                }
            };
            (frames::ETH_P_IPV6, req)
        }
    };
    // Watching sees replies to other askers only in promiscuous mode; IPv6 solicitations go
    // to multicast groups we have not joined, so probing IPv6 needs it too.
    let promisc = watch || opts.target.is_ipv6();
    // The kernel copies frames its host sends only to ETH_P_ALL sockets: a watcher needs
    // them (its own host's requests), so it listens to everything and keeps ARP/NDP.
    let listen = if watch { ETH_P_ALL } else { proto };
    let sock = RawSock::open(&iface, link.index, listen, promisc)?;
    ready(&iface);

    let start = Instant::now();
    let window = opts.duration;
    let requests = if watch { 0 } else { opts.requests.max(1) };
    let mut sent = 0u32;
    let mut events = Vec::new();
    let mut buf = vec![0u8; 4096];
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    loop {
        let elapsed = start.elapsed();
        if stop.load(Ordering::Relaxed) || window.is_some_and(|w| elapsed >= w) {
            break;
        }
        if sent < requests {
            let due = window.map_or(Duration::ZERO, |w| w * sent / requests);
            if elapsed >= due
                && let Some(frame) = &request
            {
                sock.send(frame)?;
                sent += 1;
                let e = ArpEvent {
                    t_ms: ms(start.elapsed()),
                    unix_ms: unix_ms(),
                    kind: EventKind::Request,
                    ours: true,
                    mac: mac_str(&mac),
                    eth_src: mac_str(&mac),
                    sender_ip: None,
                };
                on_event(&e);
                events.push(e);
            }
        }
        let left = window.map_or(Duration::from_millis(50), |w| w.saturating_sub(elapsed));
        let wait = left
            .min(Duration::from_millis(20))
            .max(Duration::from_millis(1));
        if let Some(n) = sock.recv(
            &mut buf,
            i32::try_from(wait.as_millis()).unwrap_or(20),
            watch,
        )? && let Some((kind, claimed, eth_src, sender_ip)) = classify(&buf[..n], opts.target)
        {
            let e = ArpEvent {
                t_ms: ms(start.elapsed()),
                unix_ms: unix_ms(),
                kind,
                ours: false,
                mac: mac_str(&claimed),
                eth_src: mac_str(&eth_src),
                sender_ip,
            };
            on_event(&e);
            events.push(e);
        }
    }
    let duration_ms = ms(start.elapsed());
    let neighbours = rtnl::neighbours().unwrap_or_default();
    Ok(ArpEvidence {
        target: opts.target,
        iface: iface.clone(),
        iface_mac: mac_str(&mac),
        mode: opts.mode,
        duration_ms,
        events,
        local_links: links
            .iter()
            .filter_map(|l| l.mac.map(|m| (l.name.clone(), mac_str(&m))))
            .filter(|(_, m)| m != "00:00:00:00:00:00")
            .collect(),
        neighbours: neighbours
            .iter()
            .map(|n| NeighView {
                ip: n.ip,
                mac: mac_str(&n.mac),
                iface: links
                    .iter()
                    .find(|l| l.index == n.ifindex)
                    .map(|l| l.name.clone())
                    .unwrap_or_default(),
            })
            .collect(),
        hints: opts.hints.clone(),
        expect_iface: opts.expect_iface.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_subnet(ip("198.51.100.10"), 24, ip("198.51.100.240")));
        assert!(!in_subnet(ip("198.51.100.10"), 24, ip("198.51.101.1")));
        assert!(in_subnet(ip("10.0.0.1"), 0, ip("1.2.3.4")));
        assert!(in_subnet(
            ip("2001:db8:100::10"),
            64,
            ip("2001:db8:100::f0")
        ));
        assert!(!in_subnet(ip("2001:db8:100::10"), 64, ip("198.51.100.1")));
    }

    #[test]
    fn frames_are_classified_against_the_target() {
        let t = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 240));
        let me = [2, 0xc1, 0, 0, 0, 0x10];
        let req = frames::arp_request(
            me,
            Ipv4Addr::new(198, 51, 100, 10),
            Ipv4Addr::new(198, 51, 100, 240),
        );
        let (k, m, _, s) = classify(&req, t).unwrap();
        assert_eq!((k, m), (EventKind::Request, me));
        assert_eq!(s, Some("198.51.100.10".parse().unwrap()));
        let mut grat = frames::arp_request(
            me,
            Ipv4Addr::new(198, 51, 100, 240),
            Ipv4Addr::new(198, 51, 100, 240),
        );
        assert_eq!(classify(&grat, t).unwrap().0, EventKind::Gratuitous);
        grat[21] = 2;
        assert_eq!(classify(&grat, t).unwrap().0, EventKind::Gratuitous);
        let other = frames::arp_request(
            me,
            Ipv4Addr::new(198, 51, 100, 10),
            Ipv4Addr::new(198, 51, 100, 1),
        );
        assert_eq!(classify(&other, t), None);
        let t6: Ipv6Addr = "2001:db8::f0".parse().unwrap();
        let mut na = frames::ns_frame(me, "fe80::1".parse().unwrap(), t6);
        assert_eq!(classify(&na, IpAddr::V6(t6)).unwrap().0, EventKind::Request);
        na[54] = 136;
        assert_eq!(
            classify(&na, IpAddr::V6(t6)).unwrap().0,
            EventKind::UnsolicitedNa
        );
        na[58] = 0x40;
        assert_eq!(classify(&na, IpAddr::V6(t6)).unwrap().0, EventKind::Reply);
    }
}
