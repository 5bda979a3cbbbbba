//! The up/down state of one target, with hysteresis: `fail_after` consecutive failures take it
//! down, `recover_after` consecutive successes bring it back. Pure: results and times in,
//! transitions out.

use std::collections::VecDeque;

/// Probes counted by [`Tracker::success_ratio`].
pub const RATIO_WINDOW: usize = 100;

/// A target's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not enough probes yet to say (no success, fewer than `fail_after` failures).
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// A change worth an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Up or unknown → down.
    WentDown,
    /// Down → up.
    Recovered,
}

/// The state machine and the counters the alerts report.
#[derive(Debug, Clone)]
pub struct Tracker {
    fail_after: u32,
    recover_after: u32,
    health: Health,
    consecutive_failures: u32,
    consecutive_successes: u32,
    /// Start of the current run of failures (or successes), Unix ms.
    streak_since_ms: u64,
    /// When the current state was entered, Unix ms.
    state_since_ms: Option<u64>,
    last_error: Option<String>,
    recent: VecDeque<bool>,
}

impl Tracker {
    /// `fail_after` and `recover_after` are at least 1.
    pub fn new(fail_after: u32, recover_after: u32) -> Tracker {
        Tracker {
            fail_after: fail_after.max(1),
            recover_after: recover_after.max(1),
            health: Health::Unknown,
            consecutive_failures: 0,
            consecutive_successes: 0,
            streak_since_ms: 0,
            state_since_ms: None,
            last_error: None,
            recent: VecDeque::with_capacity(RATIO_WINDOW),
        }
    }

    /// Record one probe result at `now_ms`; returns the transition it caused, if any.
    pub fn observe(&mut self, ok: bool, error: Option<&str>, now_ms: u64) -> Option<Transition> {
        if self.recent.len() == RATIO_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(ok);
        if ok {
            if self.consecutive_successes == 0 {
                self.streak_since_ms = now_ms;
            }
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
            match self.health {
                Health::Unknown => {
                    // The first success says up; there is nothing to recover from.
                    self.enter(Health::Up, now_ms);
                    None
                }
                Health::Down if self.consecutive_successes >= self.recover_after => {
                    self.enter(Health::Up, self.streak_since_ms);
                    Some(Transition::Recovered)
                }
                _ => None,
            }
        } else {
            if self.consecutive_failures == 0 {
                self.streak_since_ms = now_ms;
            }
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
            self.last_error = Some(error.unwrap_or("failed").to_string());
            if self.health != Health::Down && self.consecutive_failures >= self.fail_after {
                self.enter(Health::Down, self.streak_since_ms);
                return Some(Transition::WentDown);
            }
            None
        }
    }

    fn enter(&mut self, h: Health, since_ms: u64) {
        self.health = h;
        self.state_since_ms = Some(since_ms);
    }

    pub fn health(&self) -> Health {
        self.health
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// When the current state began: for down, the first failure of the run that took it
    /// down; for up, the first success of the run that brought it up.
    pub fn since_ms(&self) -> Option<u64> {
        self.state_since_ms
    }

    /// The most recent failure's error (kept after recovery, for the recovery alert).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Successes / probes over the last [`RATIO_WINDOW`] probes, and how many were counted.
    pub fn success_ratio(&self) -> (f64, u32) {
        let n = self.recent.len();
        if n == 0 {
            return (0.0, 0);
        }
        let ok = self.recent.iter().filter(|&&b| b).count();
        (ok as f64 / n as f64, n as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &mut Tracker, seq: &str) -> Vec<(usize, Transition)> {
        seq.chars()
            .enumerate()
            .filter_map(|(i, c)| {
                t.observe(c == '+', Some("refused"), 1000 * i as u64)
                    .map(|x| (i, x))
            })
            .collect()
    }

    #[test]
    fn goes_down_after_n_consecutive_failures_only() {
        let mut t = Tracker::new(3, 1);
        assert_eq!(t.health(), Health::Unknown);
        assert!(run(&mut t, "+--+--+").is_empty(), "never 3 in a row");
        assert_eq!(t.health(), Health::Up);
        let mut t = Tracker::new(3, 1);
        assert_eq!(run(&mut t, "++---"), vec![(4, Transition::WentDown)]);
        assert_eq!(t.health(), Health::Down);
        // `since` is the first failure of the run, not the alert.
        assert_eq!(t.since_ms(), Some(2000));
        assert_eq!(t.consecutive_failures(), 3);
        assert_eq!(t.last_error(), Some("refused"));
        // Staying down does not alert again.
        let mut more = Tracker::new(3, 1);
        assert_eq!(run(&mut more, "------").len(), 1);
    }

    #[test]
    fn unknown_goes_down_without_ever_being_up() {
        let mut t = Tracker::new(2, 1);
        assert_eq!(run(&mut t, "--"), vec![(1, Transition::WentDown)]);
    }

    #[test]
    fn recovery_needs_recover_after_successes() {
        let mut t = Tracker::new(1, 2);
        assert_eq!(
            run(&mut t, "+-+-++"),
            vec![(1, Transition::WentDown), (5, Transition::Recovered)]
        );
        assert_eq!(t.health(), Health::Up);
        assert_eq!(t.since_ms(), Some(4000));
        assert_eq!(t.consecutive_failures(), 0);
        assert_eq!(
            t.last_error(),
            Some("refused"),
            "kept for the recovery alert"
        );
    }

    #[test]
    fn first_success_is_up_without_a_transition() {
        let mut t = Tracker::new(3, 3);
        assert!(run(&mut t, "+").is_empty());
        assert_eq!(t.health(), Health::Up);
    }

    #[test]
    fn ratio_counts_a_bounded_window() {
        let mut t = Tracker::new(3, 1);
        assert_eq!(t.success_ratio(), (0.0, 0));
        run(&mut t, "++-+");
        assert_eq!(t.success_ratio(), (0.75, 4));
        for _ in 0..RATIO_WINDOW {
            t.observe(false, None, 0);
        }
        assert_eq!(t.success_ratio(), (0.0, RATIO_WINDOW as u32));
        assert_eq!(t.last_error(), Some("failed"));
    }
}
