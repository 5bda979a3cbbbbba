//! Name lookups for printing without -n/-nn: /etc/hosts, /etc/services and interface indexes.
//!
//! hopdump never sends DNS queries: a diagnostic tool on a broken network must not hang on
//! resolvers or add traffic. Only the local files are read, once, at start.

use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;

/// Tables shared by every capture point.
#[derive(Default)]
pub struct Tables {
    hosts: HashMap<IpAddr, String>,
    tcp: HashMap<u16, String>,
    udp: HashMap<u16, String>,
}

impl Tables {
    /// Load what the `-n` count asks for: 0 → hosts and ports; with -n or -nn tcpdump 4.99
    /// prints numbers for both, so nothing is loaded.
    pub fn load(numeric: u8) -> Tables {
        let mut t = Tables::default();
        if numeric > 0 {
            return t;
        }
        if let Ok(text) = std::fs::read_to_string("/etc/hosts") {
            for line in text.lines() {
                let mut words = line.split('#').next().unwrap_or("").split_whitespace();
                if let (Some(ip), Some(name)) = (words.next(), words.next())
                    && let Ok(ip) = ip.parse()
                {
                    t.hosts.entry(ip).or_insert_with(|| name.to_string());
                }
            }
        }
        {
            if let Ok(text) = std::fs::read_to_string("/etc/services") {
                for line in text.lines() {
                    let mut words = line.split('#').next().unwrap_or("").split_whitespace();
                    let (Some(name), Some(pp)) = (words.next(), words.next()) else {
                        continue;
                    };
                    let Some((port, proto)) = pp.split_once('/') else {
                        continue;
                    };
                    let Ok(port) = port.parse::<u16>() else {
                        continue;
                    };
                    let map = match proto {
                        "tcp" => &mut t.tcp,
                        "udp" => &mut t.udp,
                        _ => continue,
                    };
                    map.entry(port).or_insert_with(|| name.to_string());
                }
            }
        }
        t
    }
}

/// Names as seen from one capture point (interface indexes are per network namespace).
pub struct PointNames {
    pub tables: Rc<Tables>,
    pub ifnames: Vec<(u32, String)>,
}

impl hopdump_wire::Names for PointNames {
    fn host(&self, ip: IpAddr) -> Option<&str> {
        self.tables.hosts.get(&ip).map(String::as_str)
    }
    fn port(&self, tcp: bool, port: u16) -> Option<&str> {
        let map = if tcp {
            &self.tables.tcp
        } else {
            &self.tables.udp
        };
        map.get(&port).map(String::as_str)
    }
    fn ifname(&self, ifindex: u32) -> Option<&str> {
        self.ifnames
            .iter()
            .find(|(i, _)| *i == ifindex)
            .map(|(_, n)| n.as_str())
    }
}
