//! `hopdump read`: a capture file through the same filter and renderer as live capture.

use std::ops::ControlFlow;
use std::process::ExitCode;

use hopdump_capture::{FileReader, OfflineFilter};

use crate::cli::ReadArgs;
use crate::render::{Interface, Renderer, is_broken_pipe};

pub fn run(args: ReadArgs) -> anyhow::Result<ExitCode> {
    let mut filter = match args.out.filter_expr()? {
        Some(expr) => Some(OfflineFilter::new(&expr)?),
        None => None,
    };
    let mut reader = FileReader::open(&args.file)?;
    let mut renderer = Renderer::new(&args.out, Vec::new(), false)?;
    // As tcpdump -r: SLL2 interface indexes are named from this host's current namespace.
    let local_ifnames = hopdump_capture::netns::interfaces();
    let limit = args.out.count.unwrap_or(u64::MAX);
    let mut shown = 0u64;
    let mut failure: Option<anyhow::Error> = None;
    let read = reader.for_each(|ifaces, f| {
        // Interfaces appear as the file describes them.
        while renderer.interface_count() < ifaces.len() {
            let i = &ifaces[renderer.interface_count()];
            let n = renderer.interface_count();
            let label = i.name.clone().unwrap_or_else(|| format!("if{n}"));
            if let Err(e) = renderer.add_interface(Interface {
                label,
                description: i.description.clone().unwrap_or_default(),
                linktype: i.linktype,
                snaplen: i.snaplen,
                filter: filter.as_ref().map(|f| f.expr().to_string()),
                ifnames: local_ifnames.clone(),
            }) {
                failure = Some(e);
                return ControlFlow::Break(());
            }
        }
        let linktype = ifaces[f.iface].linktype;
        if let Some(flt) = filter.as_mut() {
            match flt.matches(linktype, f.data, f.orig_len) {
                Ok(true) => {}
                Ok(false) => return ControlFlow::Continue(()),
                Err(e) => {
                    failure = Some(e.into());
                    return ControlFlow::Break(());
                }
            }
        }
        if let Err(e) = renderer.frame(f.iface, f.ts_ns, f.orig_len, f.data) {
            failure = Some(e);
            return ControlFlow::Break(());
        }
        shown += 1;
        if shown >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    // Whatever was decoded before a fault is flushed before the fault is reported.
    let finished = renderer.finish(None);
    if let Some(e) = failure {
        return Err(e);
    }
    if let Err(e) = finished {
        if is_broken_pipe(&e) {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e);
    }
    read?;
    Ok(ExitCode::SUCCESS)
}
