//! Writing capture files: pcapng with one interface block per capture point, or classic pcap.
//!
//! Files are created mode 0600 (captures hold other people's traffic), buffered, and always
//! closed valid: `finish` writes per-interface statistics and flushes; dropping an unfinished
//! writer still flushes what was written.

use std::borrow::Cow;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::interface_statistics::{
    InterfaceStatisticsBlock, InterfaceStatisticsOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::{DataLink, Endianness};

use crate::error::{CaptureError, Result};
use crate::live::PointStats;

/// Which file format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    PcapNg,
    Pcap,
}

impl FileFormat {
    /// pcapng unless the name ends in `.pcap` (as the issue and tcpdump users expect).
    pub fn for_path(path: &Path) -> FileFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("pcap") => FileFormat::Pcap,
            _ => FileFormat::PcapNg,
        }
    }
}

/// An interface to describe in the file.
#[derive(Clone, Debug)]
pub struct WriterInterface {
    /// Written as if_name: the capture point, e.g. `node1/cni0`.
    pub name: String,
    /// Written as if_description: where the point is (host, netns, interface).
    pub description: String,
    pub linktype: u32,
    pub snaplen: u32,
    /// The capture filter, written as if_filter? Kept in the description for tools that show it.
    pub filter: Option<String>,
}

/// Classic pcap magic for nanosecond timestamps, in the writer's byte order.
const PCAP_MAGIC_NANO: u32 = 0xa1b2_3c4d;

/// The file under the buffer, counting the bytes it accepted: after a failed write (disk
/// full) the file is cut back to the last block that reached it whole.
struct Tracked {
    out: Box<dyn Write + Send>,
    accepted: u64,
}

impl Write for Tracked {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.accepted += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

enum Inner {
    Ng(PcapNgWriter<BufWriter<Tracked>>),
    /// Classic pcap is a 24-byte header and 16-byte record headers; written directly
    /// (pcap-file's writer cannot flush without being consumed).
    Legacy(BufWriter<Tracked>),
}

impl Inner {
    fn tracked(&self) -> &Tracked {
        match self {
            Inner::Ng(w) => w.get_ref().get_ref(),
            Inner::Legacy(w) => w.get_ref(),
        }
    }
}

/// A capture file being written.
pub struct CaptureWriter {
    path: PathBuf,
    inner: Option<Inner>,
    /// Link type of each interface added.
    linktypes: Vec<u32>,
    first_ts: Option<u64>,
    last_ts: u64,
    /// The output file (not for stdout), to cut it back to a block boundary after an error.
    file: Option<std::fs::File>,
    /// Bytes handed to the buffer in whole blocks so far.
    logical: u64,
    /// Ends of recent whole blocks; the first is at or below what the file accepted.
    boundaries: std::collections::VecDeque<u64>,
}

fn open_output(path: &Path) -> std::io::Result<(Box<dyn Write + Send>, Option<std::fs::File>)> {
    if path == Path::new("-") {
        return Ok((Box::new(std::io::stdout()), None));
    }
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    let handle = f.try_clone().ok();
    Ok((Box::new(f), handle))
}

impl CaptureWriter {
    /// Create `path` (`-` for standard output); interfaces are added with `add_interface`
    /// before the frames that use them.
    pub fn create(path: &Path, format: FileFormat) -> Result<CaptureWriter> {
        let (out, file) = open_output(path).map_err(|source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::with_output(path, out, file, format)
    }

    /// Write to any byte stream (e.g. an agent's response to the CLI); `name` only names
    /// it in errors.
    pub fn to_writer(
        name: &Path,
        out: Box<dyn Write + Send>,
        format: FileFormat,
    ) -> Result<CaptureWriter> {
        Self::with_output(name, out, None, format)
    }

    fn with_output(
        path: &Path,
        out: Box<dyn Write + Send>,
        file: Option<std::fs::File>,
        format: FileFormat,
    ) -> Result<CaptureWriter> {
        let buf = BufWriter::with_capacity(1 << 20, Tracked { out, accepted: 0 });
        let inner = match format {
            // The classic header needs the link type: written with the first interface.
            FileFormat::Pcap => Inner::Legacy(buf),
            FileFormat::PcapNg => {
                let shb = SectionHeaderBlock {
                    endianness: Endianness::native(),
                    major_version: 1,
                    minor_version: 0,
                    section_length: -1,
                    options: vec![
                        SectionHeaderOption::UserApplication(Cow::Owned(format!(
                            "hopdump {}",
                            env!("CARGO_PKG_VERSION")
                        ))),
                        SectionHeaderOption::OS(Cow::Borrowed("Linux")),
                    ],
                };
                let w = PcapNgWriter::with_section_header(buf, shb).map_err(|e| {
                    CaptureError::Format {
                        path: path.to_path_buf(),
                        detail: e.to_string(),
                    }
                })?;
                Inner::Ng(w)
            }
        };
        let mut w = CaptureWriter {
            path: path.to_path_buf(),
            inner: Some(inner),
            linktypes: Vec::new(),
            first_ts: None,
            last_ts: 0,
            file,
            logical: 0,
            boundaries: std::collections::VecDeque::new(),
        };
        // The section header is the first whole block.
        let header = match &w.inner {
            Some(Inner::Ng(ng)) => ng.get_ref().buffer().len() as u64,
            _ => 0,
        };
        w.block_done(header);
        Ok(w)
    }

    /// Record that `n` more bytes (one or more whole blocks) were handed to the buffer.
    fn block_done(&mut self, n: u64) {
        self.logical += n;
        self.boundaries.push_back(self.logical);
        let accepted = self.inner.as_ref().map_or(0, |i| i.tracked().accepted);
        while self.boundaries.len() > 1 && self.boundaries[1] <= accepted {
            self.boundaries.pop_front();
        }
    }

    /// After a failed write: drop what is buffered and cut the file back to the last whole
    /// block it received, so it stays readable (tshark, Wireshark) with every packet before.
    fn salvage(&mut self, e: std::io::Error) -> CaptureError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader left: nothing to repair, and not a failure of ours.
            self.inner = None;
            return CaptureError::Io {
                path: self.path.clone(),
                source: e,
            };
        }
        let accepted = self.inner.as_ref().map_or(0, |i| i.tracked().accepted);
        // Discard the buffer without writing it: it holds at most a partial tail.
        match self.inner.take() {
            Some(Inner::Ng(w)) => drop(w.into_inner().into_parts()),
            Some(Inner::Legacy(w)) => drop(w.into_parts()),
            None => {}
        }
        let keep = self
            .boundaries
            .iter()
            .rev()
            .find(|&&b| b <= accepted)
            .copied()
            .unwrap_or(0);
        let detail = match &self.file {
            Some(f) if f.set_len(keep).is_ok() => {
                format!(
                    "{e}; the file was cut back to its last whole packet ({keep} bytes) and stays readable"
                )
            }
            _ => e.to_string(),
        };
        CaptureError::Format {
            path: self.path.clone(),
            detail,
        }
    }

    /// Describe the next interface (its index is the number added before it).
    pub fn add_interface(&mut self, i: &WriterInterface) -> Result<()> {
        let r = match &mut self.inner {
            Some(Inner::Ng(w)) => {
                let mut options = vec![
                    InterfaceDescriptionOption::IfName(Cow::Owned(i.name.clone())),
                    InterfaceDescriptionOption::IfDescription(Cow::Owned(i.description.clone())),
                    // EPB timestamps are written in nanoseconds.
                    InterfaceDescriptionOption::IfTsResol(9),
                ];
                if let Some(f) = &i.filter {
                    // if_filter: first byte 0 = libpcap filter string.
                    let mut v = vec![0u8];
                    v.extend_from_slice(f.as_bytes());
                    options.push(InterfaceDescriptionOption::IfFilter(Cow::Owned(v)));
                }
                let idb = InterfaceDescriptionBlock {
                    linktype: DataLink::from(i.linktype),
                    snaplen: i.snaplen,
                    options,
                };
                w.write_pcapng_block(idb)
            }
            Some(Inner::Legacy(w)) => match self.linktypes.first() {
                Some(&first) if first != i.linktype => {
                    return Err(CaptureError::Format {
                        path: self.path.clone(),
                        detail: format!(
                            "a classic pcap file holds one link type, but {} has link type {} and an earlier point {}; write .pcapng instead",
                            i.name, i.linktype, first
                        ),
                    });
                }
                Some(_) => Ok(0),
                None => {
                    let mut h = Vec::with_capacity(24);
                    h.extend_from_slice(&PCAP_MAGIC_NANO.to_ne_bytes());
                    h.extend_from_slice(&2u16.to_ne_bytes());
                    h.extend_from_slice(&4u16.to_ne_bytes());
                    h.extend_from_slice(&[0; 8]);
                    h.extend_from_slice(&i.snaplen.to_ne_bytes());
                    h.extend_from_slice(&i.linktype.to_ne_bytes());
                    w.write_all(&h)
                        .map(|()| 24)
                        .map_err(pcap_file::PcapError::IoError)
                }
            },
            None => Ok(0),
        };
        let n = match r {
            Ok(n) => n,
            Err(pcap_file::PcapError::IoError(e)) => return Err(self.salvage(e)),
            Err(e) => return Err(self.err(e)),
        };
        self.linktypes.push(i.linktype);
        self.block_done(n as u64);
        Ok(())
    }

    fn err(&self, e: pcap_file::PcapError) -> CaptureError {
        match e {
            pcap_file::PcapError::IoError(source) => CaptureError::Io {
                path: self.path.clone(),
                source,
            },
            other => CaptureError::Format {
                path: self.path.clone(),
                detail: other.to_string(),
            },
        }
    }

    /// Append one frame captured at interface `iface`.
    pub fn write(&mut self, iface: usize, ts_ns: u64, orig_len: u32, data: &[u8]) -> Result<()> {
        if iface >= self.linktypes.len() {
            return Err(CaptureError::Format {
                path: self.path.clone(),
                detail: format!("frame for interface {iface}, which was not added"),
            });
        }
        self.first_ts.get_or_insert(ts_ns);
        self.last_ts = ts_ns;
        let timestamp = Duration::from_nanos(ts_ns);
        let r = match &mut self.inner {
            Some(Inner::Ng(w)) => w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: iface as u32,
                timestamp,
                original_len: orig_len,
                data: Cow::Borrowed(data),
                options: Vec::new(),
            }),
            Some(Inner::Legacy(w)) => {
                let mut h = [0u8; 16];
                h[0..4].copy_from_slice(&((ts_ns / 1_000_000_000) as u32).to_ne_bytes());
                h[4..8].copy_from_slice(&((ts_ns % 1_000_000_000) as u32).to_ne_bytes());
                h[8..12].copy_from_slice(&(data.len() as u32).to_ne_bytes());
                h[12..16].copy_from_slice(&orig_len.to_ne_bytes());
                w.write_all(&h)
                    .and_then(|()| w.write_all(data))
                    .map(|()| 16 + data.len())
                    .map_err(pcap_file::PcapError::IoError)
            }
            None => Ok(0),
        };
        match r {
            Ok(n) => {
                self.block_done(n as u64);
                Ok(())
            }
            Err(pcap_file::PcapError::IoError(e)) => Err(self.salvage(e)),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Push buffered frames to the file (for readers following it live).
    pub fn flush(&mut self) -> Result<()> {
        let r = match &mut self.inner {
            Some(Inner::Ng(w)) => w.get_mut().flush(),
            Some(Inner::Legacy(w)) => w.flush(),
            None => Ok(()),
        };
        match r {
            Ok(()) => Ok(()),
            // A closed pipe is the reader leaving, not a damaged file.
            Err(source) if source.kind() == std::io::ErrorKind::BrokenPipe => {
                Err(CaptureError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
            Err(e) => Err(self.salvage(e)),
        }
    }

    /// Write per-interface statistics (pcapng) and flush. The file is valid without this too.
    pub fn finish(mut self, stats: Option<&[PointStats]>) -> Result<()> {
        if let (Some(Inner::Ng(w)), Some(stats)) = (&mut self.inner, stats) {
            let end = self.last_ts;
            for (i, s) in stats.iter().enumerate().take(self.linktypes.len()) {
                let isb = InterfaceStatisticsBlock {
                    interface_id: i as u32,
                    timestamp: end,
                    options: vec![
                        InterfaceStatisticsOption::IsbStartTime(self.first_ts.unwrap_or(end)),
                        InterfaceStatisticsOption::IsbEndTime(end),
                        InterfaceStatisticsOption::IsbIfRecv(s.received),
                        InterfaceStatisticsOption::IsbOsDrop(s.dropped),
                        InterfaceStatisticsOption::IsbIfDrop(s.if_dropped),
                        InterfaceStatisticsOption::IsbUsrDeliv(s.captured),
                    ],
                };
                match w.write_pcapng_block(isb) {
                    Ok(n) => {
                        self.logical += n as u64;
                        self.boundaries.push_back(self.logical);
                    }
                    Err(pcap_file::PcapError::IoError(e)) => return Err(self.salvage(e)),
                    Err(e) => return Err(self.err(e)),
                }
            }
        }
        self.flush()?;
        self.inner = None;
        Ok(())
    }
}

impl Drop for CaptureWriter {
    fn drop(&mut self) {
        // Best effort: whatever was written stays readable even on an error path.
        let _ = self.flush();
    }
}
