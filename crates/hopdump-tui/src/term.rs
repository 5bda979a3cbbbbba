//! The terminal loop: raw mode + alternate screen for exactly as long as a [`Session`] lives
//! (restored on drop, on panic and on SIGINT/SIGTERM/SIGHUP), events from the channel and
//! keys from the terminal fed to the [`App`], redrawn when something changed.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{
    BeginSynchronizedUpdate, Clear, ClearType, EndSynchronizedUpdate, EnterAlternateScreen,
    LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute, queue};

use crate::app::{App, Key, Phase, TuiOptions};
use crate::event::TuiEvent;
use crate::ui;

/// The terminal is in TUI mode (the panic hook restores it only then).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// A panic restored the terminal under the loop's feet and its message is out: the loop
/// must stop (its frames go nowhere since the restore).
static PANICKED: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Longest wait for a key before looking at the channel again.
const POLL: Duration = Duration::from_millis(40);
/// Redraw at least this often while the capture window's clock is running.
const CLOCK: Duration = Duration::from_millis(200);
/// First size of the frame buffer (it grows if a frame needs more).
const FRAME_BUF: usize = 64 * 1024;
/// Events taken from the channel before the screen is redrawn (a flood cannot starve keys).
const BATCH: usize = 5000;

/// The terminal is in TUI mode right now (anything printed to stdout/stderr would land on the
/// view: send a [`TuiEvent::Note`] instead).
pub fn active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}

fn restore() {
    // Under stdout's lock, so no frame is half written around it (see `FrameWriter`).
    let mut out = io::stdout().lock();
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(out, LeaveAlternateScreen, cursor::Show);
    }
}

/// The terminal's writer: a frame stays in memory until `flush` and leaves in one write (the
/// terminal never shows half of it); once the terminal is restored, frames are thrown away,
/// so a panic in the middle of a draw cannot write over the shell when unwinding.
pub struct FrameWriter {
    buf: Vec<u8>,
}

impl Write for FrameWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut out = io::stdout().lock();
        let r = if ACTIVE.load(Ordering::SeqCst) {
            out.write_all(&self.buf).and_then(|()| out.flush())
        } else {
            Ok(())
        };
        self.buf.clear();
        r
    }
}

/// The terminal in TUI mode: raw, alternate screen, cursor hidden. Dropping it (or a panic
/// anywhere in the process while it lives) puts the terminal back as it was.
pub struct Session {
    pub terminal: Terminal<CrosstermBackend<FrameWriter>>,
    signals: Vec<signal_hook::SigId>,
    /// Set by SIGINT, SIGTERM or SIGHUP while the session lives.
    pub stop: Arc<AtomicBool>,
    /// Set by SIGWINCH: the terminal changed size.
    pub winch: Arc<AtomicBool>,
}

impl Session {
    /// Enter TUI mode. Fails (and leaves the terminal alone) when stdout is not a terminal.
    pub fn enter() -> io::Result<Session> {
        if !io::stdout().is_terminal() {
            return Err(io::Error::other(
                "the TUI needs a terminal on stdout (use --json or the text output instead)",
            ));
        }
        HOOK.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let was_active = ACTIVE.load(Ordering::SeqCst);
                if was_active {
                    restore();
                }
                prev(info);
                // Only now: the loop, seeing it, returns and the process may exit — before
                // the message above was printed it would cut it off or print across it.
                if was_active {
                    PANICKED.store(true, Ordering::SeqCst);
                }
            }));
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut signals = Vec::new();
        for sig in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            signals.push(signal_hook::flag::register(sig, stop.clone())?);
        }
        let winch = Arc::new(AtomicBool::new(false));
        signals.push(signal_hook::flag::register(
            signal_hook::consts::SIGWINCH,
            winch.clone(),
        )?);
        let session = Session {
            // Built before raw mode: any failure from here on restores through Drop.
            terminal: Terminal::new(CrosstermBackend::new(FrameWriter {
                buf: Vec::with_capacity(FRAME_BUF),
            }))?,
            signals,
            stop,
            winch,
        };
        PANICKED.store(false, Ordering::SeqCst);
        {
            // Raw mode, ACTIVE and the escape sequences all under stdout's lock: a panic on
            // another thread (its hook restores under the same lock) sees the terminal either
            // as it was or wholly in TUI mode, never in between — raw mode without ACTIVE
            // would print its message in raw mode and keep the view running. The screen is
            // cleared here, not with `Terminal::clear`, which asks the terminal for the cursor
            // position and waits for the answer: a restore meanwhile turns echo back on, the
            // answer lands on the shell and the wait fails.
            let mut out = io::stdout().lock();
            enable_raw_mode()?;
            ACTIVE.store(true, Ordering::SeqCst);
            execute!(
                out,
                EnterAlternateScreen,
                Clear(ClearType::All),
                cursor::Hide
            )?;
        }
        Ok(session)
    }

    /// Draw one frame, inside a synchronized update (terminals that know mode 2026 show it
    /// at once; the others ignore it).
    pub fn draw(&mut self, app: &App) -> io::Result<()> {
        queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        self.terminal.draw(|f| ui::draw(f, app))?;
        execute!(self.terminal.backend_mut(), EndSynchronizedUpdate)
    }

    /// A panic (on any thread) restored the terminal: drawing now would write over the shell.
    pub fn panicked(&self) -> bool {
        PANICKED.load(Ordering::SeqCst)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        restore();
        for id in self.signals.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

enum Input {
    Ready,
    Idle,
    HungUp,
}

/// Wait up to `timeout` for a key on the terminal (stdout's tty: the one the view is on; a
/// tty's input is readable through any of its descriptors). Waiting here rather than in
/// crossterm's poll keeps an idle view asleep (its tty source busy-polls the last
/// millisecond of every timeout) and sees a hang-up (the SSH session, tmux pane or window
/// gone), after which crossterm would read nothing forever. SIGWINCH interrupts the wait.
fn wait_for_input(timeout: Duration) -> Input {
    let mut p = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd that lives across the call.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    if n <= 0 {
        return Input::Idle; // timeout, or EINTR (a signal: the loop looks at its flags)
    }
    if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        Input::HungUp
    } else if p.revents & libc::POLLIN != 0 {
        Input::Ready
    } else {
        Input::Idle
    }
}

/// Translate a crossterm key; `None` for keys the view ignores and for releases.
pub fn key(k: KeyEvent) -> Option<Key> {
    if k.kind == KeyEventKind::Release {
        return None;
    }
    if k.modifiers.contains(KeyModifiers::CONTROL) {
        return match k.code {
            KeyCode::Char('c') | KeyCode::Char('C') => Some(Key::CtrlC),
            _ => None,
        };
    }
    Some(match k.code {
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Char(c) => Key::Char(c),
        _ => return None,
    })
}

/// Runs the UI until the user quits (q, Esc or Ctrl-C — at any time; after the verdict the
/// footer says "press q"), or a signal (SIGINT/SIGTERM/SIGHUP) arrives. Returning drops `rx`:
/// the sender's next `send` fails, which is the trace's cue to stop if it still runs. Nothing
/// else may write to stdout or stderr while this runs (send a [`TuiEvent::Note`] instead).
/// An error: no terminal on stdout, the terminal failed, or another thread panicked.
pub fn run(rx: Receiver<TuiEvent>, opts: &TuiOptions) -> io::Result<()> {
    run_to_end(rx, opts).map(|_| ())
}

/// How the view ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The user quit after the verdict, or after the trace hung up.
    Done,
    /// The user quit while the trace was still running.
    Early,
    /// SIGINT, SIGTERM or SIGHUP, or the terminal hung up (SSH session or window closed).
    Signal,
}

/// [`run`], telling how it ended (e.g. to stop the trace or pick an exit code).
pub fn run_to_end(rx: Receiver<TuiEvent>, opts: &TuiOptions) -> io::Result<Ending> {
    let mut opts = opts.clone();
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        opts.monochrome = true;
    }
    let mut app = App::new(opts);
    let mut session = Session::enter()?;
    let started = Instant::now();
    let mut connected = true;
    let mut dirty = true;
    let mut drawn = started;
    loop {
        app.tick(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        let mut taken = 0;
        while connected && taken < BATCH {
            match rx.try_recv() {
                Ok(ev) => {
                    app.apply(ev);
                    dirty = true;
                    taken += 1;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    connected = false;
                    app.sender_gone();
                    dirty = true;
                }
            }
        }
        if session.panicked() {
            return Err(io::Error::other("a thread panicked; the TUI stopped"));
        }
        if session.stop.load(Ordering::SeqCst) {
            return Ok(Ending::Signal);
        }
        let clock = matches!(app.phase, Phase::Capturing { .. }) && drawn.elapsed() >= CLOCK;
        if dirty || clock {
            session.draw(&app)?;
            dirty = false;
            drawn = Instant::now();
        }
        if app.quit {
            return Ok(match app.phase {
                Phase::Done | Phase::Ended => Ending::Done,
                _ => Ending::Early,
            });
        }
        let wait = if taken >= BATCH { Duration::ZERO } else { POLL };
        match wait_for_input(wait) {
            Input::HungUp => return Ok(Ending::Signal),
            Input::Idle => {}
            Input::Ready => {
                // crossterm reads and parses what is there (1 ms: with a zero timeout its
                // tty source does not read at all).
                while event::poll(Duration::from_millis(1))? {
                    match event::read()? {
                        Event::Key(k) => {
                            if let Some(k) = key(k) {
                                app.on_key(k);
                                dirty = true;
                            }
                        }
                        Event::Resize(..) => dirty = true,
                        _ => {}
                    }
                }
            }
        }
        if session.winch.swap(false, Ordering::SeqCst) {
            dirty = true; // the next draw reads the new size
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_translate_and_ctrl_c_quits() {
        let k = |code, m| key(KeyEvent::new(code, m));
        assert_eq!(
            k(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Key::CtrlC)
        );
        assert_eq!(
            k(KeyCode::Char('q'), KeyModifiers::NONE),
            Some(Key::Char('q'))
        );
        assert_eq!(k(KeyCode::Enter, KeyModifiers::NONE), Some(Key::Enter));
        assert_eq!(k(KeyCode::Char('x'), KeyModifiers::CONTROL), None);
        assert_eq!(k(KeyCode::F(1), KeyModifiers::NONE), None);
        let mut rel = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        rel.kind = KeyEventKind::Release;
        assert_eq!(key(rel), None);
    }
}
