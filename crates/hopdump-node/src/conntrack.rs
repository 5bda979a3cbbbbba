//! Reading and deleting conntrack entries of the calling thread's namespace over ctnetlink, and
//! the sysctls that say how to read them (accounting on or off, timeouts).

use std::collections::BTreeMap;

use crate::ctnetlink::{self, CtEntry};
use crate::error::{NodeError, Result};
use crate::netlink::NlSocket;

/// Every entry of both families.
pub fn dump() -> Result<Vec<CtEntry>> {
    let mut s = NlSocket::open(libc::NETLINK_NETFILTER, "netfilter")?;
    let (ty, flags, payload) = ctnetlink::dump_request(libc::AF_UNSPEC as u8);
    let msgs = s.request(ty, flags, &payload, "dump conntrack table")?;
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs.iter().filter(|m| ctnetlink::is_entry(m.msg_type)) {
        out.push(ctnetlink::parse_entry(&m.payload)?);
    }
    Ok(out)
}

/// Delete exactly `e` (tuple, zone and id). Ok(false) when it was already gone.
pub fn delete(e: &CtEntry) -> Result<bool> {
    let mut s = NlSocket::open(libc::NETLINK_NETFILTER, "netfilter")?;
    let (ty, flags, payload) = ctnetlink::delete_request(e);
    match s.request(ty, flags, &payload, "delete conntrack entry") {
        Ok(_) => Ok(true),
        Err(NodeError::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// (accounting on, timeout sysctls without the `nf_conntrack_` prefix) of the calling
/// thread's namespace; missing files are left out.
pub fn sysctls() -> (bool, BTreeMap<String, u32>) {
    let dir = std::path::Path::new("/proc/sys/net/netfilter");
    let read = |name: &str| -> Option<u32> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let accounting = read("nf_conntrack_acct").is_some_and(|v| v != 0);
    let mut timeouts = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(short) = name.strip_prefix("nf_conntrack_")
                && short.contains("timeout")
                && let Some(v) = read(&name)
            {
                timeouts.insert(short.to_string(), v);
            }
        }
    }
    (accounting, timeouts)
}
