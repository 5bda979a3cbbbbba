//! Where frames go: tcpdump-style text, NDJSON, or a capture file. One renderer for both
//! `capture` and `read`, so their output is the same for the same packets.

use std::io::{self, Write};
use std::path::Path;
use std::rc::Rc;

use hopdump_capture::{CaptureWriter, FileFormat, WriterInterface};
use hopdump_wire::{LinkType, Printer, TextOptions};
use serde::Serialize;

use crate::cli::OutputArgs;
use crate::names::{PointNames, Tables};
use crate::timefmt::TimeFormat;

/// Schema of one `--json` line.
pub const RECORD_SCHEMA: &str = "hopdump.record/1";

/// One NDJSON line (`--json`): where and when a packet was seen, and everything decoded
/// from it. Fields: `schema` ("hopdump.record/1"), `point` (capture point label = pcapng
/// interface name), `ts_ns` (nanoseconds since the Unix epoch), `packet` (hopdump-wire's
/// `Packet`, schema "hopdump.packet/1": link type, lengths and decoded layers).
#[derive(Serialize)]
struct JsonRecord<'a> {
    schema: &'static str,
    point: &'a str,
    ts_ns: u64,
    packet: hopdump_wire::Packet,
}

/// A capture point or file interface as the renderer sees it.
pub struct Interface {
    pub label: String,
    pub description: String,
    pub linktype: u32,
    pub snaplen: u32,
    pub filter: Option<String>,
    pub ifnames: Vec<(u32, String)>,
}

struct Slot {
    label: String,
    link: LinkType,
    printer: Printer,
    names: PointNames,
}

enum Sink {
    Text,
    Json,
    File(Box<CaptureWriter>),
}

/// Renders frames from any number of interfaces into one output.
pub struct Renderer {
    sink: Sink,
    out: io::BufWriter<io::Stdout>,
    line: Vec<u8>,
    slots: Vec<Slot>,
    width: usize,
    prefix: bool,
    opts: TextOptions,
    tables: Rc<Tables>,
    time: TimeFormat,
    flush_each: bool,
}

impl Renderer {
    /// `interfaces` may be empty for files whose interfaces appear as they are read.
    pub fn new(
        args: &OutputArgs,
        interfaces: Vec<Interface>,
        flush_each: bool,
    ) -> anyhow::Result<Renderer> {
        let opts = TextOptions {
            verbose: args.verbose,
            link_header: args.link_header,
            quiet: args.quiet,
            numeric_hosts: args.numeric >= 1,
            numeric_ports: args.numeric >= 1,
            absolute_seq: args.absolute_seq,
        };
        let sink = match &args.write {
            Some(path) => Sink::File(Box::new(CaptureWriter::create(
                path,
                FileFormat::for_path(path),
            )?)),
            None if args.json => Sink::Json,
            None => Sink::Text,
        };
        let mut r = Renderer {
            sink,
            out: io::BufWriter::with_capacity(1 << 16, io::stdout()),
            line: Vec::with_capacity(4096),
            slots: Vec::new(),
            width: 0,
            prefix: false,
            opts,
            tables: Rc::new(Tables::load(args.numeric)),
            time: TimeFormat::new(args.timestamps, args.nano()),
            flush_each: flush_each || args.line_buffered || args.packet_buffered,
        };
        if let (Some(path), true) = (&args.write, interfaces.len() > 1)
            && FileFormat::for_path(path) == FileFormat::Pcap
        {
            {
                eprintln!(
                    "hopdump: warning: {} is classic pcap, which has no interface names: {} points are mixed in it (write .pcapng to keep them apart)",
                    describe(path),
                    interfaces.len()
                );
            }
        }
        for i in interfaces {
            r.add_interface(i)?;
        }
        Ok(r)
    }

    /// Register the next interface (index = number registered so far).
    pub fn add_interface(&mut self, i: Interface) -> anyhow::Result<()> {
        if let Sink::File(w) = &mut self.sink {
            w.add_interface(&WriterInterface {
                name: i.label.clone(),
                description: i.description.clone(),
                linktype: i.linktype,
                snaplen: i.snaplen,
                filter: i.filter.clone(),
            })?;
        }
        self.width = self.width.max(i.label.len());
        self.slots.push(Slot {
            link: LinkType::from_linktype(i.linktype),
            printer: Printer::new(self.opts.clone()),
            names: PointNames {
                tables: self.tables.clone(),
                ifnames: i.ifnames,
            },
            label: i.label,
        });
        self.prefix = self.slots.len() > 1;
        Ok(())
    }

    pub fn interface_count(&self) -> usize {
        self.slots.len()
    }

    /// Render one frame. An `Err` of kind BrokenPipe means the reader went away.
    pub fn frame(
        &mut self,
        iface: usize,
        ts_ns: u64,
        orig_len: u32,
        data: &[u8],
    ) -> anyhow::Result<()> {
        let Some(slot) = self.slots.get_mut(iface) else {
            anyhow::bail!("frame for unknown interface {iface}");
        };
        match &mut self.sink {
            Sink::File(w) => {
                w.write(iface, ts_ns, orig_len, data)?;
                if self.flush_each {
                    w.flush()?;
                }
                return Ok(());
            }
            Sink::Json => {
                let rec = JsonRecord {
                    schema: RECORD_SCHEMA,
                    point: &slot.label,
                    ts_ns,
                    packet: hopdump_wire::decode(slot.link, data, orig_len),
                };
                self.line.clear();
                serde_json::to_writer(&mut self.line, &rec)?;
            }
            Sink::Text => {
                self.line.clear();
                if self.prefix {
                    self.line.extend_from_slice(slot.label.as_bytes());
                    self.line
                        .extend(std::iter::repeat_n(b' ', self.width + 1 - slot.label.len()));
                }
                self.time.write(&mut self.line, ts_ns);
                slot.printer
                    .write(&mut self.line, slot.link, data, orig_len, &slot.names);
            }
        }
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Flush and close; for files, `stats` become pcapng interface statistics.
    pub fn finish(self, stats: Option<&[hopdump_capture::PointStats]>) -> anyhow::Result<()> {
        let Renderer { sink, mut out, .. } = self;
        if let Sink::File(w) = sink {
            w.finish(stats)?;
        }
        out.flush()?;
        Ok(())
    }
}

/// Is this error a closed pipe on our output (not a failure: the reader is done)?
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<hopdump_capture::CaptureError>()
                .is_some_and(|e| matches!(e, hopdump_capture::CaptureError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe))
    })
}

/// Describe a file-path output for messages.
pub fn describe(path: &Path) -> String {
    if path == Path::new("-") {
        "standard output".into()
    } else {
        path.display().to_string()
    }
}
