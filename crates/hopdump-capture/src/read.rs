//! Reading pcap and pcapng files as a stream of raw frames, with errors that name the byte offset.
//!
//! pcap-parser does the block parsing (both byte orders, micro/nanosecond pcap, multi-section
//! pcapng with per-interface time resolution); this module keeps the global interface table,
//! turns timestamps into nanoseconds and reports where a file stops making sense. Memory stays
//! bounded by the read buffer whatever the file size.

use std::fs::File;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use crate::error::{CaptureError, Result};

const READ_BUFFER: usize = 1 << 20;
/// Largest block we accept; bigger means the length field lies (libpcap caps records at 256 KiB).
const MAX_BLOCK: usize = 16 << 20;

/// One interface of a capture file (a pcap file has exactly one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInterface {
    /// pcapng if_name (hopdump writes the capture point's name here).
    pub name: Option<String>,
    pub description: Option<String>,
    pub linktype: u32,
    pub snaplen: u32,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_s: i64,
}

/// One record of a capture file.
#[derive(Clone, Copy, Debug)]
pub struct FileFrame<'a> {
    /// Index into the file's interface table (global across pcapng sections).
    pub iface: usize,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// Streaming reader over a pcap or pcapng file (or any byte stream, e.g. stdin).
pub struct FileReader {
    path: PathBuf,
    inner: Box<dyn PcapReaderIterator + Send>,
    interfaces: Vec<FileInterface>,
    /// Global interface index of each interface id of the current pcapng section.
    section: Vec<usize>,
    /// Bytes consumed so far: the offset of the next block.
    offset: u64,
    buffer: usize,
    /// Byte order and kind of the current section, to explain a block that cannot be read.
    big_endian: bool,
    ng: bool,
}

fn corrupt(path: &Path, offset: u64, detail: impl Into<String>) -> CaptureError {
    CaptureError::Corrupt {
        path: path.to_path_buf(),
        offset,
        detail: detail.into(),
    }
}

fn ts_units(resolution: u64, ticks: u64) -> u64 {
    if resolution == 1_000_000_000 {
        ticks
    } else if resolution == 1_000_000 {
        ticks.saturating_mul(1000)
    } else {
        ((ticks as u128 * 1_000_000_000) / resolution.max(1) as u128) as u64
    }
}

impl FileReader {
    /// Open a file by path (`-` reads standard input).
    pub fn open(path: &Path) -> Result<FileReader> {
        let io = |source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let input: Box<dyn Read + Send> = if path == Path::new("-") {
            Box::new(std::io::stdin())
        } else {
            Box::new(File::open(path).map_err(io)?)
        };
        Self::from_reader(path, input)
    }

    /// Read from any byte stream; `path` only names it in errors.
    pub fn from_reader(path: &Path, input: Box<dyn Read + Send>) -> Result<FileReader> {
        Self::from_reader_with_buffer(path, input, READ_BUFFER)
    }

    // Fuzzing entry (fuzz/): a small first buffer makes each run cheap and exercises growing.
    #[doc(hidden)]
    pub fn from_reader_with_buffer(
        path: &Path,
        input: Box<dyn Read + Send>,
        buffer: usize,
    ) -> Result<FileReader> {
        let buffer = buffer.clamp(64, READ_BUFFER);
        let path = path.to_path_buf();
        let inner = match pcap_parser::create_reader(buffer, input) {
            Ok(r) => r,
            Err(PcapError::Eof) => {
                return Err(CaptureError::Corrupt {
                    path,
                    offset: 0,
                    detail: "empty file: not a pcap or pcapng file".into(),
                });
            }
            Err(PcapError::Incomplete(_) | PcapError::UnexpectedEof) => {
                return Err(CaptureError::Corrupt {
                    path,
                    offset: 0,
                    detail: "file too short for a pcap or pcapng header".into(),
                });
            }
            Err(PcapError::HeaderNotRecognized) => {
                return Err(CaptureError::Corrupt {
                    path,
                    offset: 0,
                    detail: "not a pcap or pcapng file (unknown magic number)".into(),
                });
            }
            Err(e) => {
                return Err(CaptureError::Corrupt {
                    path,
                    offset: 0,
                    detail: format!("unreadable file header ({e:?})"),
                });
            }
        };
        Ok(FileReader {
            path,
            inner,
            interfaces: Vec::new(),
            section: Vec::new(),
            offset: 0,
            buffer,
            big_endian: false,
            ng: false,
        })
    }

    /// Interfaces seen so far (grows as pcapng IDBs are read).
    pub fn interfaces(&self) -> &[FileInterface] {
        &self.interfaces
    }

    /// Byte offset of the next unread block.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Call `f` with every frame in file order until the end, `ControlFlow::Break`, or an
    /// error. On an error every frame before it has already been passed to `f`.
    pub fn for_each(
        &mut self,
        mut f: impl FnMut(&[FileInterface], FileFrame<'_>) -> ControlFlow<()>,
    ) -> Result<()> {
        loop {
            self.check_ng_block_len()?;
            let (consumed, flow) = match self.inner.next() {
                Ok((consumed, block)) => {
                    let flow = match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            self.big_endian = h.is_bigendian();
                            self.ng = false;
                            // As libpcap (sf-pcap.c): 2.0 to 2.4, and the 543.0 some
                            // writers put there; 1.x is archaic, 2.5+ and 3.x do not exist.
                            if !matches!((h.version_major, h.version_minor), (2, 0..=4) | (543, 0))
                            {
                                return Err(corrupt(
                                    &self.path,
                                    self.offset,
                                    format!(
                                        "pcap format version {}.{} is not supported (2.0 to 2.4 are)",
                                        h.version_major, h.version_minor
                                    ),
                                ));
                            }
                            self.interfaces.push(FileInterface {
                                name: None,
                                description: None,
                                // The high bits carry the FCS length (libpcap's LT_LINKTYPE).
                                linktype: h.network.0 as u32 & 0xffff,
                                snaplen: h.snaplen,
                                resolution: if h.is_nanosecond_precision() {
                                    1_000_000_000
                                } else {
                                    1_000_000
                                },
                                offset_s: 0,
                            });
                            self.section = vec![self.interfaces.len() - 1];
                            ControlFlow::Continue(())
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let Some(&iface) = self.section.first() else {
                                return Err(corrupt(
                                    &self.path,
                                    self.offset,
                                    "packet record before the file header",
                                ));
                            };
                            let res = self.interfaces[iface].resolution;
                            let frac = if res == 1_000_000_000 {
                                b.ts_usec as u64
                            } else {
                                b.ts_usec as u64 * 1000
                            };
                            if b.caplen as usize > MAX_BLOCK {
                                return Err(corrupt(
                                    &self.path,
                                    self.offset,
                                    format!("record claims {} captured bytes", b.caplen),
                                ));
                            }
                            f(
                                &self.interfaces,
                                FileFrame {
                                    iface,
                                    ts_ns: b.ts_sec as u64 * 1_000_000_000 + frac,
                                    orig_len: b.origlen,
                                    data: b.data,
                                },
                            )
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                            self.big_endian = shb.big_endian();
                            self.ng = true;
                            self.section.clear();
                            ControlFlow::Continue(())
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            let Some(resolution) = idb.ts_resolution() else {
                                return Err(corrupt(
                                    &self.path,
                                    self.offset,
                                    format!(
                                        "interface block with invalid if_tsresol {:#x}",
                                        idb.if_tsresol
                                    ),
                                ));
                            };
                            self.interfaces.push(FileInterface {
                                name: idb.if_name().and_then(|r| r.ok()).map(str::to_string),
                                description: idb
                                    .if_description()
                                    .and_then(|r| r.ok())
                                    .map(str::to_string),
                                linktype: idb.linktype.0 as u32,
                                snaplen: idb.snaplen,
                                resolution,
                                offset_s: idb.ts_offset(),
                            });
                            self.section.push(self.interfaces.len() - 1);
                            ControlFlow::Continue(())
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let Some(&iface) = self.section.get(epb.if_id as usize) else {
                                return Err(corrupt(
                                    &self.path,
                                    self.offset,
                                    format!(
                                        "packet block for interface {} which was never described",
                                        epb.if_id
                                    ),
                                ));
                            };
                            let i = &self.interfaces[iface];
                            let ticks = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                            let ts_ns = ts_units(i.resolution, ticks)
                                .saturating_add_signed(i.offset_s.saturating_mul(1_000_000_000));
                            f(
                                &self.interfaces,
                                FileFrame {
                                    iface,
                                    ts_ns,
                                    orig_len: epb.origlen,
                                    data: epb.packet_data(),
                                },
                            )
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            let Some(&iface) = self.section.first() else {
                                return Err(corrupt(
                                    &self.path,
                                    self.offset,
                                    "simple packet block before any interface block",
                                ));
                            };
                            f(
                                &self.interfaces,
                                FileFrame {
                                    iface,
                                    ts_ns: 0,
                                    orig_len: spb.origlen,
                                    data: spb.packet_data(),
                                },
                            )
                        }
                        // Statistics, name resolution, custom blocks: nothing to show per packet.
                        PcapBlockOwned::NG(_) => ControlFlow::Continue(()),
                    };
                    (consumed, flow)
                }
                Err(PcapError::Eof) => return Ok(()),
                Err(PcapError::Incomplete(_)) => {
                    self.refill()?;
                    continue;
                }
                Err(PcapError::BufferTooSmall) => {
                    if self.buffer >= MAX_BLOCK {
                        return Err(corrupt(
                            &self.path,
                            self.offset,
                            format!(
                                "block larger than {} MiB (length field corrupt?)",
                                MAX_BLOCK >> 20
                            ),
                        ));
                    }
                    self.buffer *= 2;
                    if !self.inner.grow(self.buffer) {
                        return Err(corrupt(&self.path, self.offset, "cannot grow read buffer"));
                    }
                    self.refill()?;
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    let detail = self.explain_incomplete(self.inner.data());
                    return Err(corrupt(&self.path, self.offset, detail));
                }
                Err(PcapError::ReadError) => {
                    return Err(corrupt(&self.path, self.offset, "read error"));
                }
                Err(PcapError::HeaderNotRecognized) => {
                    return Err(corrupt(
                        &self.path,
                        self.offset,
                        "unrecognised block header",
                    ));
                }
                Err(PcapError::NomError(_, kind)) | Err(PcapError::OwnedNomError(_, kind)) => {
                    return Err(corrupt(
                        &self.path,
                        self.offset,
                        format!("corrupt block ({kind:?})"),
                    ));
                }
            };
            self.inner.consume(consumed);
            self.offset += consumed as u64;
            if flow.is_break() {
                return Ok(());
            }
        }
    }

    /// Why the bytes left at the end cannot be a block: the length they claim vs what is there.
    fn explain_incomplete(&self, rest: &[u8]) -> String {
        let word = |at: usize| -> Option<u32> {
            let b: [u8; 4] = rest.get(at..at + 4)?.try_into().ok()?;
            Some(if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        let have = rest.len();
        if self.ng {
            match word(4) {
                Some(len) if len < 12 || len % 4 != 0 => {
                    format!(
                        "block length {len} is invalid (must be at least 12 and a multiple of 4)"
                    )
                }
                // The block is whole: a length inside its body is what lies.
                Some(len) if len as usize <= have => match (word(0), word(20)) {
                    (Some(6), Some(caplen)) if caplen > len.saturating_sub(32) => format!(
                        "packet block claims {caplen} captured bytes but its {len}-byte block holds at most {}",
                        len.saturating_sub(32)
                    ),
                    (ty, _) => format!(
                        "block of type {:#x} ({len} bytes) is corrupt inside (a length in its body does not fit)",
                        ty.unwrap_or(0)
                    ),
                },
                Some(len) => format!(
                    "block claims {len} bytes but only {have} remain (file truncated, or garbage after the last block)"
                ),
                None => format!("file truncated: {have} bytes left, too few for a block header"),
            }
        } else {
            match word(8) {
                Some(caplen) => format!(
                    "record claims {caplen} captured bytes but only {} remain after its header (file truncated, or a corrupt length)",
                    have.saturating_sub(16)
                ),
                None => format!("file truncated: {have} bytes left, too few for a record header"),
            }
        }
    }

    /// pcap-parser 0.17 subtracts 12 from a pcapng block's length after checking it only
    /// against the block type's own header size, which is smaller for some types: a length
    /// under 12 underflows there (a panic with overflow checks, a 4 GiB "needed" without).
    /// Reject it here, before pcap-parser sees it.
    fn check_ng_block_len(&self) -> Result<()> {
        let d = self.inner.data();
        let (Some(ty), Some(len)) = (d.get(0..4), d.get(4..8)) else {
            return Ok(());
        };
        let big_endian = if ty == [0x0a, 0x0d, 0x0d, 0x0a] {
            // A section header: its own byte-order magic decides.
            match d.get(8..12) {
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => true,
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => false,
                _ => return Ok(()),
            }
        } else if self.ng {
            self.big_endian
        } else {
            return Ok(());
        };
        let len = [len[0], len[1], len[2], len[3]];
        let len = if big_endian {
            u32::from_be_bytes(len)
        } else {
            u32::from_le_bytes(len)
        };
        if len < 12 {
            return Err(corrupt(
                &self.path,
                self.offset,
                format!("pcapng block length {len} (a block is at least 12 bytes)"),
            ));
        }
        Ok(())
    }

    fn refill(&mut self) -> Result<()> {
        if self.inner.refill().is_err() {
            return Err(corrupt(
                &self.path,
                self.offset,
                "read error while refilling buffer",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_le(nano: bool, records: &[(&[u8], u32)]) -> Vec<u8> {
        let mut v = Vec::new();
        let magic: u32 = if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        v.extend_from_slice(&magic.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        for (i, (data, orig)) in records.iter().enumerate() {
            v.extend_from_slice(&(100 + i as u32).to_le_bytes());
            v.extend_from_slice(&7u32.to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&orig.to_le_bytes());
            v.extend_from_slice(data);
        }
        v
    }

    type Frames = Vec<(usize, u64, Vec<u8>)>;

    fn read_all(bytes: Vec<u8>) -> (Frames, Result<()>) {
        let mut out = Vec::new();
        let r = FileReader::from_reader(Path::new("mem"), Box::new(std::io::Cursor::new(bytes)))
            .and_then(|mut r| {
                r.for_each(|_, f| {
                    out.push((f.iface, f.ts_ns, f.data.to_vec()));
                    ControlFlow::Continue(())
                })
            });
        (out, r)
    }

    /// A pcapng section in either byte order: SHB, one IDB named `name` (tsresol µs unless
    /// `nano`), one EPB with `data` at `ts` units.
    fn pcapng_section(be: bool, name: &str, nano: bool, ts: u64, data: &[u8]) -> Vec<u8> {
        let u32b = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let u16b = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let block = |ty: u32, body: Vec<u8>| {
            let len = (12 + body.len()) as u32;
            let mut b = Vec::new();
            b.extend_from_slice(&u32b(ty));
            b.extend_from_slice(&u32b(len));
            b.extend_from_slice(&body);
            b.extend_from_slice(&u32b(len));
            b
        };
        let mut shb = Vec::new();
        shb.extend_from_slice(&u32b(0x1a2b_3c4d));
        shb.extend_from_slice(&u16b(1));
        shb.extend_from_slice(&u16b(0));
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        let mut idb = Vec::new();
        idb.extend_from_slice(&u16b(1)); // Ethernet
        idb.extend_from_slice(&u16b(0));
        idb.extend_from_slice(&u32b(65535));
        let mut opt = |code: u16, val: &[u8]| {
            idb.extend_from_slice(&u16b(code));
            idb.extend_from_slice(&u16b(val.len() as u16));
            idb.extend_from_slice(val);
            idb.extend(std::iter::repeat_n(0, (4 - val.len() % 4) % 4));
        };
        opt(2, name.as_bytes());
        if nano {
            opt(9, &[9]);
        }
        opt(0, &[]);
        let mut epb = Vec::new();
        epb.extend_from_slice(&u32b(0));
        epb.extend_from_slice(&u32b((ts >> 32) as u32));
        epb.extend_from_slice(&u32b(ts as u32));
        epb.extend_from_slice(&u32b(data.len() as u32));
        epb.extend_from_slice(&u32b(data.len() as u32));
        epb.extend_from_slice(data);
        epb.extend(std::iter::repeat_n(0, (4 - data.len() % 4) % 4));
        let mut out = block(0x0a0d_0d0a, shb);
        out.extend(block(1, idb));
        out.extend(block(6, epb));
        out
    }

    #[test]
    fn pcapng_both_byte_orders_and_sections() {
        // A little-endian section (µs) followed by a big-endian one (ns): two interfaces.
        let mut bytes = pcapng_section(
            false,
            "node1/eth0",
            false,
            1_700_000_000_000_001,
            b"frame-one!",
        );
        bytes.extend(pcapng_section(
            true,
            "node2/cni0",
            true,
            1_700_000_000_000_000_002,
            b"frame-two",
        ));
        let mut names = Vec::new();
        let mut got = Vec::new();
        let mut r =
            FileReader::from_reader(Path::new("mem"), Box::new(std::io::Cursor::new(bytes)))
                .unwrap();
        r.for_each(|ifs, f| {
            names = ifs
                .iter()
                .map(|i| i.name.clone().unwrap_or_default())
                .collect();
            got.push((f.iface, f.ts_ns, f.data.to_vec()));
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(names, ["node1/eth0", "node2/cni0"]);
        assert_eq!(
            got[0],
            (0, 1_700_000_000_000_001_000, b"frame-one!".to_vec())
        );
        assert_eq!(
            got[1],
            (1, 1_700_000_000_000_000_002, b"frame-two".to_vec())
        );
    }

    #[test]
    fn micro_and_nano_timestamps() {
        let (f, r) = read_all(pcap_le(false, &[(b"abcd", 4)]));
        r.unwrap();
        assert_eq!(f[0].1, 100_000_007_000);
        let (f, r) = read_all(pcap_le(true, &[(b"abcd", 4)]));
        r.unwrap();
        assert_eq!(f[0].1, 100_000_000_007);
    }

    #[test]
    fn truncated_record_names_offset_and_keeps_earlier_frames() {
        let mut bytes = pcap_le(false, &[(b"first", 5), (b"second!", 7)]);
        bytes.truncate(bytes.len() - 3);
        let (f, r) = read_all(bytes);
        assert_eq!(f.len(), 1, "the intact record is still delivered");
        let e = r.unwrap_err().to_string();
        // 24-byte header + 16 + 5 bytes of the first record.
        assert!(e.contains("byte offset 45"), "{e}");
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn garbage_is_not_a_capture_file() {
        let (_, r) = read_all(b"this is not a capture file at all".to_vec());
        let e = r.unwrap_err().to_string();
        assert!(e.contains("byte offset 0"), "{e}");
    }

    #[test]
    fn lying_caplen_is_an_error_not_an_allocation() {
        let mut bytes = pcap_le(false, &[(b"x", 1)]);
        // Overwrite caplen of the record with a huge value.
        bytes[24 + 8..24 + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let (_, r) = read_all(bytes);
        let e = r.unwrap_err().to_string();
        assert!(e.contains("byte offset 24"), "{e}");
    }

    /// Fuzz (pcap): a pcapng block (here of an unknown type) claiming a length of 8
    /// underflowed `len - 12` inside pcap-parser 0.17.
    #[test]
    fn regression_pcapng_block_len_below_12() {
        let mut f = Vec::new();
        // Big-endian section header block, 28 bytes.
        f.extend_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d]);
        f.extend_from_slice(&[0, 1, 0, 0]);
        f.extend_from_slice(&[0xff; 8]);
        f.extend_from_slice(&[0, 0, 0, 28]);
        // A custom block claiming 8 bytes.
        f.extend_from_slice(&[0x80, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 8]);
        f.extend_from_slice(&[0; 16]);
        let mut r =
            FileReader::from_reader(Path::new("t.pcapng"), Box::new(std::io::Cursor::new(f)))
                .unwrap();
        let e = r.for_each(|_, _| ControlFlow::Continue(())).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("block length 8") && msg.contains("28"),
            "{msg}"
        );
    }
}
