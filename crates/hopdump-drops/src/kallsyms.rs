//! Kernel addresses → `symbol+0xoff` from /proc/kallsyms (nearest lower text symbol).

use std::path::Path;

use crate::error::{DropsError, Result};

/// Sorted text symbols of the running kernel (and its modules).
#[derive(Clone, Debug, Default)]
pub struct Kallsyms {
    syms: Vec<(u64, String)>,
}

impl Kallsyms {
    /// Reads /proc/kallsyms. Without privilege the kernel shows zero addresses
    /// (kptr_restrict); then nothing is symbolised and [`Kallsyms::is_empty`] is true.
    pub fn load() -> Result<Kallsyms> {
        Self::from_file(Path::new("/proc/kallsyms"))
    }

    /// Reads a kallsyms-format file.
    pub fn from_file(path: &Path) -> Result<Kallsyms> {
        let text = std::fs::read_to_string(path).map_err(|source| DropsError::Read {
            path: path.into(),
            source,
        })?;
        Ok(Self::parse(&text))
    }

    /// Parses `ADDR TYPE NAME [\[MODULE\]]` lines; keeps text symbols (t/T/w/W).
    pub fn parse(text: &str) -> Kallsyms {
        let mut syms: Vec<(u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let addr = u64::from_str_radix(it.next()?, 16).ok()?;
                let ty = it.next()?;
                let name = it.next()?;
                if addr == 0 || !matches!(ty, "t" | "T" | "w" | "W") {
                    return None;
                }
                Some((addr, name.to_string()))
            })
            .collect();
        syms.sort_unstable_by_key(|(a, _)| *a);
        Kallsyms { syms }
    }

    /// True when no symbol with a real address is known.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// `name+0xoff` of the nearest symbol at or below `addr`.
    pub fn resolve(&self, addr: u64) -> Option<String> {
        let i = self.syms.partition_point(|(a, _)| *a <= addr);
        let (base, name) = self.syms.get(i.checked_sub(1)?)?;
        Some(format!("{name}+{:#x}", addr - base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
ffffffff81000000 T _stext
ffffffff81a00000 T nf_hook_slow
ffffffff81a000f0 t nf_hook_slow_list
ffffffff81a00100 d some_data
ffffffff81b00000 T ip_rcv_finish_core
ffffffffc0001000 t vxlan_rcv\t[vxlan]
";

    #[test]
    fn nearest_lower_symbol_with_offset() {
        let k = Kallsyms::parse(SAMPLE);
        assert_eq!(k.resolve(0xffffffff81a0009e).unwrap(), "nf_hook_slow+0x9e");
        assert_eq!(k.resolve(0xffffffff81a00000).unwrap(), "nf_hook_slow+0x0");
        // data symbols are not candidates
        assert_eq!(
            k.resolve(0xffffffff81a00104).unwrap(),
            "nf_hook_slow_list+0x14"
        );
        assert_eq!(k.resolve(0xffffffffc0001010).unwrap(), "vxlan_rcv+0x10");
        assert!(k.resolve(0x1000).is_none());
    }

    #[test]
    fn zeroed_addresses_give_no_symbols() {
        let k = Kallsyms::parse("0000000000000000 T nf_hook_slow\n0000000000000000 T x\n");
        assert!(k.is_empty());
        assert!(k.resolve(0xffffffff81a0009e).is_none());
    }
}
