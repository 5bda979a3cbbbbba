//! `hopdump-tui-replay`: run the `hopdump trace --tui` view on a recorded stream of events
//! (JSON lines, see `hopdump_tui::replay`) — to look at a past trace again, to demo the view
//! without a cluster, and to drive the UI from tests through a pseudo-terminal.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

use hopdump_tui::replay::{self, ReplayLine};
use hopdump_tui::{TuiEvent, TuiOptions};

const USAGE: &str = "usage: hopdump-tui-replay [--speed X | --instant] [--packets N] FILE|-
Replays TuiEvents (one JSON object a line, {\"sleep_ms\":N} to pause) in the trace view.
A regular file is checked completely before the view starts; a pipe or - (stdin) is
followed line by line as it is written. Keys: Up/Down select a hop, Enter expands it,
PgUp/PgDn scroll, q/Esc/Ctrl-C quit. Exit 0 on quit, 2 on bad input.";

struct Args {
    path: String,
    speed: f64,
    packets: usize,
    panic_test: bool,
    panic_test_thread: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        path: String::new(),
        speed: 1.0,
        packets: TuiOptions::default().packets_per_hop,
        panic_test: false,
        panic_test_thread: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(s) = it.next() {
        match s.as_str() {
            "-h" | "--help" => return Err(USAGE.into()),
            "--instant" => a.speed = f64::INFINITY,
            "--speed" => {
                let v = it.next().ok_or("--speed needs a value")?;
                a.speed = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| *x > 0.0)
                    .ok_or(format!("--speed {v}: not a positive number"))?;
            }
            "--packets" => {
                let v = it.next().ok_or("--packets needs a value")?;
                a.packets = v
                    .parse()
                    .map_err(|_| format!("--packets {v}: not a count"))?;
            }
            // Tests only: enter TUI mode, draw, then panic — the terminal must come back.
            "--panic-test" => a.panic_test = true,
            // Tests only: another thread panics while the view runs.
            "--panic-test-thread" => a.panic_test_thread = true,
            _ if s.starts_with('-') && s != "-" => return Err(format!("unknown option {s}")),
            _ if a.path.is_empty() => a.path = s,
            _ => return Err(format!("unexpected argument {s}")),
        }
    }
    if a.path.is_empty() && !a.panic_test && !a.panic_test_thread {
        return Err("missing FILE (or - for stdin)".into());
    }
    Ok(a)
}

fn pause(d: Duration, speed: f64) {
    if speed.is_finite() {
        std::thread::sleep(d.div_f64(speed));
    }
}

/// Send a checked list; stop when the view is gone.
fn feed_all(lines: Vec<ReplayLine>, speed: f64, tx: Sender<TuiEvent>) {
    for l in lines {
        match l {
            ReplayLine::Sleep(d) => pause(d, speed),
            ReplayLine::Event(e) => {
                if tx.send(e).is_err() {
                    return;
                }
            }
        }
    }
}

/// Follow a stream line by line; a bad line becomes a note and ends the replay.
fn follow(input: Box<dyn Read + Send>, speed: f64, tx: Sender<TuiEvent>) {
    for (i, l) in BufReader::new(input).lines().enumerate() {
        let line = match l {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.send(TuiEvent::Note(format!("replay: read error: {e}")));
                return;
            }
        };
        match replay::parse_line(i + 1, &line) {
            Ok(None) => {}
            Ok(Some(ReplayLine::Sleep(d))) => pause(d, speed),
            Ok(Some(ReplayLine::Event(e))) => {
                if tx.send(e).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(TuiEvent::Note(format!("replay: {e}; stopped")));
                return;
            }
        }
    }
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hopdump-tui-replay: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<(), String> {
    let a = args()?;
    let opts = TuiOptions {
        packets_per_hop: a.packets,
        ..TuiOptions::default()
    };
    if a.panic_test {
        let mut s = hopdump_tui::term::Session::enter().map_err(|e| e.to_string())?;
        let app = hopdump_tui::App::new(opts);
        s.draw(&app).map_err(|e| e.to_string())?;
        panic!("deliberate panic inside the TUI (--panic-test)");
    }
    let (tx, rx) = channel();
    if a.panic_test_thread {
        std::thread::spawn(move || {
            let _ = tx.send(TuiEvent::Note("about to panic".into()));
            // Spin, so the panic lands as soon as the terminal is in TUI mode: right in the
            // middle of the session's setup if anything there could be cut in half.
            while !hopdump_tui::term::active() {
                std::thread::yield_now();
            }
            panic!("deliberate panic on the feeding thread (--panic-test-thread)");
        });
        return hopdump_tui::run(rx, &opts).map_err(|e| e.to_string());
    }
    let speed = a.speed;
    let p = Path::new(&a.path);
    if a.path != "-"
        && p.metadata()
            .map_err(|e| format!("{}: {e}", a.path))?
            .is_file()
    {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", a.path))?;
        let lines = replay::parse(&text).map_err(|e| format!("{}:{e}", a.path))?;
        std::thread::spawn(move || feed_all(lines, speed, tx));
    } else if a.path == "-" {
        if std::io::stdin().is_terminal() {
            return Err("- reads events from stdin: pipe them in".into());
        }
        std::thread::spawn(move || follow(Box::new(std::io::stdin()), speed, tx));
    } else {
        // A FIFO's open waits for its writer: do it on the feeder thread, the view runs now.
        let path = a.path.clone();
        std::thread::spawn(move || match File::open(&path) {
            Ok(f) => follow(Box::new(f), speed, tx),
            Err(e) => {
                let _ = tx.send(TuiEvent::Note(format!("replay: {path}: {e}")));
            }
        });
    }
    hopdump_tui::run(rx, &opts).map_err(|e| e.to_string())
}
