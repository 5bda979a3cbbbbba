//! The trace view in a real pseudo-terminal: `hopdump-tui-replay` runs inside tmux (its own
//! server socket per test), events are written step by step into a FIFO, and the test reads
//! the screen with `capture-pane` until what it expects is there (a deadline, no fixed
//! sleeps): hops in order, counters moving, a drop, the verdict, a hop expanded, a resize, and
//! the terminal handed back intact on q, Ctrl-C, SIGTERM and a panic.
#![allow(clippy::unwrap_used)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hopdump_tui::TuiEvent;
use hopdump_tui::replay::{self, ReplayLine};

const BIN: &str = env!("CARGO_BIN_EXE_hopdump-tui-replay");
const DEADLINE: Duration = Duration::from_secs(30);

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/tui/nat_drop.jsonl")
}

fn fixture_events() -> Vec<TuiEvent> {
    let text = std::fs::read_to_string(fixture()).unwrap();
    replay::parse(&text)
        .unwrap()
        .into_iter()
        .filter_map(|l| match l {
            ReplayLine::Event(e) => Some(e),
            ReplayLine::Sleep(_) => None,
        })
        .collect()
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "hdtui-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One tmux server (own socket) with one 120x40 window running a plain `sh`.
struct Tmux {
    sock: String,
    /// The server's socket file (tmux leaves it behind when killed).
    path: String,
}

impl Tmux {
    fn start(name: &str, w: u16, h: u16) -> Tmux {
        let mut t = Tmux {
            sock: format!("hdtui-{}-{name}", std::process::id()),
            path: String::new(),
        };
        let o = Command::new("tmux")
            .args(["-L", &t.sock, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &w.to_string(), "-y", &h.to_string(), "-s", "main"])
            .arg("env -i PATH=/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 PS1='$ ' sh")
            .output()
            .unwrap_or_else(|e| panic!("tmux: {e} (scripts/setup installs it)"));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        t.path = t.format("#{socket_path}");
        t.wait_for("the shell's prompt", |s| s.contains('$'));
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.sock])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Type a command line into the shell.
    fn type_line(&self, line: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", line]);
        self.tmux(&["send-keys", "-t", "main", "Enter"]);
    }

    /// Start the replay with `args` from the shell; `tag` marks its `exit=N TAG` line.
    fn launch(&self, args: &str, tag: &str) {
        self.type_line(&format!("{BIN} {args}; echo exit=$? {tag}"));
    }

    fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "main"];
        a.extend_from_slice(keys);
        self.tmux(&a);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "main"])
    }

    fn format(&self, f: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "main", f])
            .trim()
            .to_string()
    }

    fn resize(&self, w: u16, h: u16) {
        self.tmux(&[
            "resize-window",
            "-t",
            "main",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
    }

    /// Poll the screen until `ok` holds; the screen then.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < DEADLINE,
                "waited {DEADLINE:?} for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    /// After the view quits: the shell is back with `exit=CODE TAG`, out of the alternate
    /// screen, cursor shown, and the tty in canonical mode with echo (raw mode undone).
    fn assert_restored(&self, code: i32, tag: &str) {
        let want = format!("exit={code} {tag}");
        self.wait_for(&want, |s| output_line(s, &want).is_some());
        assert_eq!(self.format("#{alternate_on}"), "0", "alternate screen left");
        // tmux applies the cursor-show sequence on its own schedule: on a loaded machine it can
        // land just after the exit line. Still required, within the same deadline.
        let t0 = Instant::now();
        while self.format("#{cursor_flag}") != "1" && t0.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(40));
        }
        assert_eq!(self.format("#{cursor_flag}"), "1", "cursor shown again");
        // `STTY-$((1+1))` prints `STTY-2 TAG`: the typed line never matches the output.
        self.type_line(&format!(
            "stty -a | tr ' ;' '\\n\\n' | grep -E -x -- '-?(icanon|echo|isig)' | tr '\\n' ' '; echo STTY-$((1+1)) {tag}"
        ));
        let end = format!("STTY-2 {tag}");
        let s = self.wait_for("stty's modes", |s| output_line(s, &end).is_some());
        assert_eq!(
            output_line(&s, &end).unwrap(),
            format!("isig icanon echo {end}"),
            "{s}"
        );
    }
}

/// The screen line that ends with `end` (without a prompt typed-ahead output may follow).
fn output_line(screen: &str, end: &str) -> Option<String> {
    screen
        .lines()
        .map(|l| l.trim_end().trim_start_matches("$ ").to_string())
        .find(|l| l.ends_with(end))
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.sock, "kill-server"])
            .output();
        if self.path.contains(&self.sock) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The FIFO the replay follows; opened for writing once the replay opened it for reading.
struct Feed {
    w: std::fs::File,
}

impl Feed {
    fn open(path: &Path) -> Feed {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(OpenOptions::new().write(true).open(p));
        });
        let w = rx
            .recv_timeout(DEADLINE)
            .expect("the replay never opened its FIFO")
            .unwrap();
        Feed { w }
    }

    fn send(&mut self, ev: &TuiEvent) {
        writeln!(self.w, "{}", serde_json::to_string(ev).unwrap()).unwrap();
        self.w.flush().unwrap();
    }
}

fn mkfifo(dir: &Path) -> PathBuf {
    let p = dir.join("events");
    let o = Command::new("mkfifo").arg(&p).output().unwrap();
    assert!(o.status.success());
    p
}

fn line_with<'a>(screen: &'a str, needle: &str) -> Option<(usize, &'a str)> {
    screen.lines().enumerate().find(|(_, l)| l.contains(needle))
}

fn hop_row_has(screen: &str, hop: &str, words: &[&str]) -> bool {
    // The hop table's row (the drops panel names hops too, but after the table).
    line_with(screen, &format!(" {hop} ")).is_some_and(|(_, l)| words.iter().all(|w| l.contains(w)))
}

#[test]
fn live_trace_fills_in_expands_resizes_and_quits_clean() {
    let evs = fixture_events();
    let Some(TuiEvent::Planned { title, hops }) = evs.first().cloned() else {
        panic!("the fixture starts with the plan")
    };
    let verdict = evs
        .iter()
        .find(|e| matches!(e, TuiEvent::Verdict(_)))
        .cloned()
        .unwrap();
    let TuiEvent::Verdict(report) = &verdict else {
        unreachable!()
    };
    let failing = report.verdict.hop.clone().unwrap();
    let fi = hops.iter().position(|h| h.name() == failing).unwrap();
    let names: Vec<String> = hops.iter().map(|h| h.name()).collect();

    let dir = Scratch::new("live");
    let fifo = mkfifo(&dir.0);
    let t = Tmux::start("live", 120, 40);
    t.launch(&fifo.display().to_string(), "live");
    let mut feed = Feed::open(&fifo);
    t.wait_for("the view", |s| s.contains("planning…"));
    assert_eq!(t.format("#{alternate_on}"), "1");

    // The plan: every hop, in path order.
    feed.send(&TuiEvent::Planned {
        title: title.clone(),
        hops: hops.clone(),
    });
    // Every check of a step sits in the poll's condition: a capture may catch a frame half
    // drawn, the next one will not.
    t.wait_for("the hops, in path order, under the title", |s| {
        let rows: Option<Vec<usize>> = names
            .iter()
            .map(|n| line_with(s, &format!(" {n} ")).map(|(i, _)| i))
            .collect();
        rows.is_some_and(|r| r.windows(2).all(|w| w[0] < w[1]))
            && s.lines().next().is_some_and(|l| l.contains(&title[..20]))
    });

    // Armed, then counters that move.
    feed.send(&TuiEvent::Armed { window_ms: 60_000 });
    t.wait_for("the capture clock", |s| s.contains("capturing"));
    let counts = |forward| hopdump_tui::HopCounters {
        forward,
        ..Default::default()
    };
    feed.send(&TuiEvent::Counts {
        hop: fi,
        counts: counts(7),
    });
    t.wait_for("7 probes in", |s| {
        hop_row_has(s, &failing, &[" 7 ", "no reply"])
    });
    feed.send(&TuiEvent::Counts {
        hop: fi,
        counts: counts(12),
    });
    t.wait_for("12 probes in", |s| hop_row_has(s, &failing, &[" 12 "]));

    // A kernel drop as it happens, and packets for the expanded view.
    let (node, iface) = failing.split_once('/').unwrap();
    for _ in 0..3 {
        feed.send(&TuiEvent::Drop {
            node: node.into(),
            iface: Some(iface.into()),
            reason: "NETFILTER_DROP".into(),
            location: "nf_hook_slow+0x9f".into(),
            count: 1,
        });
    }
    t.wait_for("the drop", |s| {
        s.contains("Kernel drops (3)") && s.contains("NETFILTER_DROP") && s.contains("×3")
    });
    feed.send(&TuiEvent::Packet {
        hop: fi,
        line: "12:00:00.000001 IP 198.51.100.10.40001 > 10.244.2.2.8080: Flags [S], seq 1".into(),
    });
    feed.send(&TuiEvent::Note("probes: sent 6 TCP SYN".into()));
    t.wait_for("the note", |s| s.contains("probes: sent 6 TCP SYN"));

    // The verdict panel; the failing hop says so.
    feed.send(&verdict);
    let code = report.verdict.code.clone();
    t.wait_for("the verdict panel under the drops, the hop in red", |s| {
        s.contains(&format!("✘ {code} on"))
            && s.contains("press q to quit")
            && hop_row_has(s, &failing, &["dies here"])
            && line_with(s, "Verdict").map(|l| l.0) > line_with(s, "Kernel drops").map(|l| l.0)
    });

    // Expand the failing hop: its packets, its drops and the verdict's evidence.
    for _ in 0..fi {
        t.keys(&["Down"]);
    }
    t.keys(&["Enter"]);
    let evidence = report.verdict.evidence.first().unwrap().clone();
    t.wait_for("the expanded hop: packets, drops, evidence", |s| {
        s.contains(&format!(" {failing} — "))
            && s.contains("packets (1 seen, last 1 kept)")
            && s.contains("Flags [S], seq 1")
            && s.contains("kernel drop: NETFILTER_DROP at nf_hook_slow+0x9f ×3")
            && s.contains(&evidence[..evidence.len().min(60)])
            && line_with(s, "▶").is_some_and(|(_, l)| l.contains(&failing))
    });
    t.keys(&["Left"]);
    t.wait_for("the hop folded", |s| !s.contains("packets (1 seen"));

    // Narrower: the layout follows the new width (borders end at column 80; fewer columns).
    t.resize(80, 30);
    t.wait_for("the 80-column layout", |s| {
        s.lines()
            .find(|l| l.contains("Hops (path order)"))
            .is_some_and(|l| l.chars().count() == 80)
            && s.lines().all(|l| l.chars().count() <= 80)
            && line_with(s, "probes in").is_some_and(|(_, l)| !l.contains("role"))
            && hop_row_has(s, &failing, &["dies here"])
    });

    // q: exit 0, the shell and a sane tty are back.
    t.keys(&["q"]);
    t.assert_restored(0, "live");
}

#[test]
fn the_recorded_fixture_replays_to_its_verdict_and_ctrl_c_quits() {
    let evs = fixture_events();
    let Some(TuiEvent::Verdict(report)) =
        evs.iter().rev().find(|e| matches!(e, TuiEvent::Verdict(_)))
    else {
        panic!("the fixture ends with a verdict")
    };
    let t = Tmux::start("fixture", 120, 40);
    t.launch(&format!("--speed 4 {}", fixture().display()), "fixture");
    // Every hop, the drop and the verdict on one screen (a poll may catch a frame half drawn).
    let head = format!("✘ {} on", report.verdict.code);
    t.wait_for("the verdict", |s| {
        s.contains("press q to quit")
            && s.contains(&head)
            && s.contains("NETFILTER_DROP")
            && report
                .hops
                .iter()
                .all(|h| s.contains(&format!(" {}/{} ", h.node, h.iface)))
    });
    t.keys(&["C-c"]);
    t.assert_restored(0, "fixture");
}

#[test]
fn esc_quits_before_the_trace_ends_and_sigterm_restores_too() {
    let dir = Scratch::new("early");
    let fifo = mkfifo(&dir.0);
    let t = Tmux::start("early", 100, 30);
    t.launch(&fifo.display().to_string(), "esc");
    let _feed = Feed::open(&fifo);
    t.wait_for("the view", |s| s.contains("planning…"));
    t.keys(&["Escape"]);
    t.assert_restored(0, "esc");

    let fifo2 = dir.0.join("events2");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo2)
            .status()
            .unwrap()
            .success()
    );
    t.launch(&fifo2.display().to_string(), "term");
    let _feed2 = Feed::open(&fifo2);
    t.wait_for("the view", |s| s.contains("planning…"));
    let shell: u32 = t.format("#{pane_pid}").parse().unwrap();
    let pid = child_of(shell);
    let st = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    t.assert_restored(0, "term");
}

#[test]
fn a_terminal_that_goes_away_ends_the_view_instead_of_spinning() {
    // Regression: crossterm's default input loop spins at 100% CPU forever on a hung-up tty
    // (read returns EIO or 0), so the view never noticed the SSH session or pane was gone.
    let dir = Scratch::new("hangup");
    let fifo = mkfifo(&dir.0);
    let t = Tmux::start("hangup", 100, 30);
    t.launch(&fifo.display().to_string(), "hangup");
    let _feed = Feed::open(&fifo);
    t.wait_for("the view", |s| s.contains("planning…"));
    let shell: u32 = t.format("#{pane_pid}").parse().unwrap();
    let pid = child_of(shell);
    drop(t); // kill-server: the pane's pty closes under the view
    let t0 = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if state.contains(") Z ") {
            break; // exited; not reaped yet
        }
        if t0.elapsed() > DEADLINE {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the view outlived its terminal by {DEADLINE:?}: {state}");
        }
        std::thread::sleep(Duration::from_millis(40));
    }
}

/// The one child process of `parent` (the view started by the pane's shell).
fn child_of(parent: u32) -> u32 {
    let t0 = Instant::now();
    loop {
        let kids = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(k) = kids.split_whitespace().next() {
            return k.parse().unwrap();
        }
        assert!(t0.elapsed() < DEADLINE, "no child of {parent}");
        std::thread::sleep(Duration::from_millis(40));
    }
}

#[test]
fn a_panic_inside_the_view_hands_back_a_clean_terminal() {
    let t = Tmux::start("panic", 100, 30);
    t.launch("--panic-test", "panic");
    let s = t.wait_for("the panic message", |s| s.contains("deliberate panic"));
    assert!(
        !s.contains("Hops (path order)"),
        "the view's screen is gone:\n{s}"
    );
    t.assert_restored(101, "panic");
}

#[test]
fn a_panic_on_another_thread_stops_the_view_and_hands_back_the_terminal() {
    let t = Tmux::start("thread-panic", 100, 30);
    t.launch("--panic-test-thread", "tpanic");
    t.wait_for("the panic and the one-line error", |s| {
        s.contains("deliberate panic on the feeding thread")
            && s.contains("hopdump-tui-replay: a thread panicked; the TUI stopped")
    });
    t.assert_restored(2, "tpanic");
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn bad_input_is_one_line_and_exit_2_without_touching_the_terminal() {
    let dir = Scratch::new("bad");
    let bad = dir.0.join("bad.jsonl");
    std::fs::write(&bad, "{\"note\":\"fine\"}\n{\"armed\":{\"window\":3}}\n").unwrap();
    for (args, want) in [
        (
            vec![bad.to_str().unwrap()],
            ":line 2: unknown field `window`",
        ),
        (
            vec!["/nonexistent/x.jsonl"],
            "/nonexistent/x.jsonl: No such file",
        ),
        (
            vec!["--speed", "0", "x"],
            "--speed 0: not a positive number",
        ),
        (vec!["--bogus"], "unknown option --bogus"),
        (vec![], "missing FILE"),
    ] {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    // A good file but no terminal: refused before anything is written.
    let o = run(&[fixture().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs a terminal"));
    assert!(o.stdout.is_empty());
}
