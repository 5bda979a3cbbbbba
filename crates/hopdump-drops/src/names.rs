//! Network-namespace inodes → the names people use: `host` for the initial namespace, the
//! `ip netns` name for /run/netns/* and `netns:INODE` for the rest (e.g. a pod's sandbox).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The initial network namespace's inode: fixed by the kernel (`PROC_NET_INIT_INO` in
/// include/linux/proc_ns.h), so it is known even where /proc/1 is not readable.
pub const INIT_NET_INODE: u32 = 0xEFFF_FFF9;

/// Inode of a namespace file (/run/netns/NAME, /proc/PID/ns/net).
pub fn netns_inode(path: &Path) -> std::io::Result<u32> {
    std::fs::metadata(path).map(|m| m.ino() as u32)
}

/// A cache of namespace names, rescanned when an unknown inode shows up.
#[derive(Clone, Debug, Default)]
pub struct NetnsNames {
    names: HashMap<u32, String>,
    scanned: bool,
}

impl NetnsNames {
    /// Reads /proc/1/ns/net (`host`) and /run/netns/*.
    pub fn scan() -> NetnsNames {
        let mut n = NetnsNames::default();
        n.rescan();
        n
    }

    fn rescan(&mut self) {
        self.names.insert(INIT_NET_INODE, "host".into());
        if let Ok(ino) = netns_inode(Path::new("/proc/1/ns/net")) {
            self.names.insert(ino, "host".into());
        }
        if let Ok(dir) = std::fs::read_dir("/run/netns") {
            for e in dir.flatten() {
                if let (Ok(ino), Some(name)) = (netns_inode(&e.path()), e.file_name().to_str()) {
                    self.names.entry(ino).or_insert_with(|| name.to_string());
                }
            }
        }
        self.scanned = true;
    }

    /// Names a namespace the caller already knows (e.g. `pid:4242` from --netns).
    pub fn insert(&mut self, ino: u32, name: &str) {
        self.names.insert(ino, name.to_string());
    }

    /// The name of `ino` (0 = unknown namespace).
    pub fn name(&mut self, ino: u32) -> String {
        if ino == 0 {
            return "?".into();
        }
        if !self.names.contains_key(&ino) {
            self.rescan();
        }
        self.names
            .get(&ino)
            .cloned()
            .unwrap_or_else(|| format!("netns:{ino}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_namespace_is_host() {
        let mut n = NetnsNames::scan();
        assert_eq!(n.name(INIT_NET_INODE), "host");
        if let Ok(ino) = netns_inode(Path::new("/proc/1/ns/net")) {
            assert_eq!(n.name(ino), "host");
        }
        assert_eq!(n.name(0), "?");
        n.insert(7, "pid:1");
        assert_eq!(n.name(7), "pid:1");
        assert_eq!(n.name(u32::MAX), format!("netns:{}", u32::MAX));
    }
}
