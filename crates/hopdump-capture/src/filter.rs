//! tcpdump filter expressions applied in user space to frames read from files.
//!
//! libpcap compiles the expression (exactly tcpdump's semantics) for the file's link type and
//! its own BPF interpreter runs it, with the packet's real wire length so `len`/`greater`
//! behave as in tcpdump even on truncated captures. One program per link type, compiled on
//! first use (a pcapng file may mix link types).

use std::ffi::c_uint;

use crate::error::{CaptureError, Result};

unsafe extern "C" {
    /// libpcap's BPF interpreter (pcap/bpf.h).
    fn bpf_filter(
        pc: *const pcap::BpfInstruction,
        p: *const u8,
        wirelen: c_uint,
        buflen: c_uint,
    ) -> c_uint;
}

/// A filter expression compiled lazily for each link type it meets.
pub struct OfflineFilter {
    expr: String,
    programs: Vec<(u32, pcap::BpfProgram)>,
}

impl OfflineFilter {
    /// Check the expression compiles (for Ethernet) so errors surface before reading.
    pub fn new(expr: &str) -> Result<OfflineFilter> {
        let mut f = OfflineFilter {
            expr: expr.to_string(),
            programs: Vec::new(),
        };
        f.program(1)?;
        Ok(f)
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    fn program(&mut self, linktype: u32) -> Result<usize> {
        if let Some(i) = self.programs.iter().position(|(l, _)| *l == linktype) {
            return Ok(i);
        }
        let err = |e: pcap::Error| CaptureError::Filter {
            expr: self.expr.clone(),
            detail: e.to_string(),
        };
        let dead = pcap::Capture::dead(pcap::Linktype(linktype as i32)).map_err(err)?;
        let prog = dead.compile(&self.expr, true).map_err(err)?;
        self.programs.push((linktype, prog));
        Ok(self.programs.len() - 1)
    }

    /// Does the frame match? An expression that cannot apply to this link type is an error.
    pub fn matches(&mut self, linktype: u32, data: &[u8], orig_len: u32) -> Result<bool> {
        let i = match self.programs.first() {
            Some((l, _)) if *l == linktype => 0,
            _ => self.program(linktype)?,
        };
        let insns = self.programs[i].1.get_instructions();
        if insns.is_empty() {
            return Ok(false);
        }
        // SAFETY: `insns` is a valid program produced by pcap_compile and `data` is readable
        // for `data.len()` bytes; bpf_filter never reads past buflen.
        let r = unsafe {
            bpf_filter(
                insns.as_ptr(),
                data.as_ptr(),
                orig_len.max(data.len() as u32),
                data.len() as c_uint,
            )
        };
        Ok(r != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_ipv4_udp(dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 14 + 20 + 8];
        p[12] = 0x08;
        p[14] = 0x45;
        p[14 + 9] = 17;
        p[14 + 12..14 + 16].copy_from_slice(&[198, 51, 100, 10]);
        p[14 + 16..14 + 20].copy_from_slice(&[198, 51, 100, 240]);
        p[34 + 2..34 + 4].copy_from_slice(&dport.to_be_bytes());
        p
    }

    #[test]
    fn tcpdump_semantics() {
        let mut f = OfflineFilter::new("udp and dst host 198.51.100.240 and port 53").unwrap();
        assert!(f.matches(1, &eth_ipv4_udp(53), 42).unwrap());
        assert!(!f.matches(1, &eth_ipv4_udp(80), 42).unwrap());
        // Precedence: `or` and `and` are left-associative with equal precedence in pcap.
        let mut f = OfflineFilter::new("tcp or udp and port 80").unwrap();
        assert!(!f.matches(1, &eth_ipv4_udp(53), 42).unwrap());
    }

    #[test]
    fn wire_length_is_used_for_len_filters() {
        let mut f = OfflineFilter::new("greater 1000").unwrap();
        let p = eth_ipv4_udp(53);
        assert!(f.matches(1, &p, 1500).unwrap(), "truncated 1500-byte frame");
        assert!(!f.matches(1, &p, 42).unwrap());
    }

    #[test]
    fn bad_expression_is_an_error() {
        let e = OfflineFilter::new("port nonsense")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bad filter expression"), "{e}");
    }
}
