//! Drop-reason names read from the running kernel's BTF (`enum skb_drop_reason`), never from a
//! table compiled into hopdump: reasons are added in every kernel release.

use std::collections::HashMap;
use std::path::Path;

use libbpf_rs::btf::Btf;
use libbpf_rs::btf::types::Enum;

use crate::error::{DropsError, Result};

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const PREFIX: &str = "SKB_DROP_REASON_";

/// Code → name of every `enum skb_drop_reason` value.
#[derive(Clone, Debug, Default)]
pub struct Reasons {
    names: HashMap<u32, String>,
}

impl Reasons {
    /// From the running kernel.
    pub fn from_kernel() -> Result<Reasons> {
        Self::from_btf_file(Path::new(VMLINUX_BTF))
    }

    /// From a BTF file (raw BTF such as /sys/kernel/btf/vmlinux, or an ELF with .BTF).
    pub fn from_btf_file(path: &Path) -> Result<Reasons> {
        let btf = Btf::from_path(path).map_err(|e| DropsError::Btf {
            path: path.into(),
            why: e.to_string(),
        })?;
        let Some(e) = btf.type_by_name::<Enum<'_>>("skb_drop_reason") else {
            return Err(DropsError::Btf {
                path: path.into(),
                why: "no `enum skb_drop_reason` (kernel older than 5.17?)".into(),
            });
        };
        let members = e.iter().filter_map(|m| {
            let name = m.name?.to_str()?;
            Some((m.value as u32, name))
        });
        Ok(Self::from_members(members))
    }

    /// From (value, enumerator name) pairs as BTF lists them.
    pub fn from_members<'a>(members: impl IntoIterator<Item = (u32, &'a str)>) -> Reasons {
        let mut names = HashMap::new();
        for (v, n) in members {
            // SKB_DROP_REASON_MAX and subsystem masks are markers, not reasons.
            if n == "SKB_DROP_REASON_MAX" || n.starts_with("SKB_DROP_REASON_SUBSYS") {
                continue;
            }
            let short = n.strip_prefix(PREFIX).unwrap_or(n);
            names.entry(v).or_insert_with(|| short.to_string());
        }
        Reasons { names }
    }

    /// The name without the `SKB_DROP_REASON_` prefix (`NETFILTER_DROP`), or `reason#N`.
    pub fn name(&self, code: u32) -> String {
        self.names
            .get(&code)
            .cloned()
            .unwrap_or_else(|| format!("reason#{code}"))
    }

    /// The code of a name (with or without the prefix).
    pub fn code(&self, name: &str) -> Option<u32> {
        let short = name.strip_prefix(PREFIX).unwrap_or(name);
        self.names
            .iter()
            .find(|(_, n)| n.as_str() == short)
            .map(|(c, _)| *c)
    }

    /// How many reasons the kernel knows.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no reason is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal raw BTF blob with one 4-byte enum, laid out as the kernel does.
    fn btf_blob(enum_name: &str, members: &[(&str, i32)]) -> Vec<u8> {
        let mut strings = vec![0u8];
        let mut add = |s: &str| {
            let off = strings.len() as u32;
            strings.extend_from_slice(s.as_bytes());
            strings.push(0);
            off
        };
        let name_off = add(enum_name);
        let offs: Vec<(u32, i32)> = members.iter().map(|(n, v)| (add(n), *v)).collect();
        let mut types = Vec::new();
        types.extend_from_slice(&name_off.to_le_bytes());
        let info: u32 = (6 << 24) | members.len() as u32; // BTF_KIND_ENUM, vlen
        types.extend_from_slice(&info.to_le_bytes());
        types.extend_from_slice(&4u32.to_le_bytes()); // size
        for (o, v) in offs {
            types.extend_from_slice(&o.to_le_bytes());
            types.extend_from_slice(&v.to_le_bytes());
        }
        let mut b = Vec::new();
        b.extend_from_slice(&0xeb9fu16.to_le_bytes());
        b.push(1); // version
        b.push(0); // flags
        b.extend_from_slice(&24u32.to_le_bytes()); // hdr_len
        b.extend_from_slice(&0u32.to_le_bytes()); // type_off
        b.extend_from_slice(&(types.len() as u32).to_le_bytes());
        b.extend_from_slice(&(types.len() as u32).to_le_bytes()); // str_off
        b.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        b.extend_from_slice(&types);
        b.extend_from_slice(&strings);
        b
    }

    #[test]
    fn parses_enum_from_a_btf_blob() {
        let blob = btf_blob(
            "skb_drop_reason",
            &[
                ("SKB_NOT_DROPPED_YET", 0),
                ("SKB_CONSUMED", 1),
                ("SKB_DROP_REASON_NOT_SPECIFIED", 2),
                ("SKB_DROP_REASON_NETFILTER_DROP", 12),
                ("SKB_DROP_REASON_MAX", 13),
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btf");
        std::fs::write(&path, blob).unwrap();
        let r = Reasons::from_btf_file(&path).unwrap();
        assert_eq!(r.name(12), "NETFILTER_DROP");
        assert_eq!(r.name(1), "SKB_CONSUMED");
        assert_eq!(r.name(13), "reason#13");
        assert_eq!(r.code("SKB_DROP_REASON_NOT_SPECIFIED"), Some(2));
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn missing_enum_is_an_error() {
        let blob = btf_blob("other", &[("A", 1)]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btf");
        std::fs::write(&path, blob).unwrap();
        let e = Reasons::from_btf_file(&path).unwrap_err().to_string();
        assert!(e.contains("skb_drop_reason"), "{e}");
    }

    #[test]
    fn running_kernel_has_the_reasons_we_test_for() {
        let r = Reasons::from_kernel().unwrap();
        for n in [
            "NETFILTER_DROP",
            "IP_RPFILTER",
            "NOT_SPECIFIED",
            "SKB_CONSUMED",
        ] {
            assert!(r.code(n).is_some(), "{n} not in the kernel's BTF");
        }
        assert!(r.len() > 50);
    }
}
