//! Where the I/O thread's time goes, for finding what makes the forwarding latency's tail
//! (issue 11's media bench at 16 participants). Off unless `VIDEOROOM_MEDIA_PROFILE` is set in
//! the environment; then each I/O thread prints to stderr, when it stops, how long its turns
//! took (one turn: what one wake-up of the loop read, up to the last datagram it caused to be
//! sent), how much of that the thread spent waiting for a CPU, and the slowest turns one by
//! one. Off, it costs the loop one branch a turn and a few counter increments.

use std::fmt::Write as _;
use std::time::Duration;

/// The variable that turns the profile on (any value).
pub(crate) const VARIABLE: &str = "VIDEOROOM_MEDIA_PROFILE";

/// What one turn of the I/O loop did, counted by [`crate::forward::Core`] and the loop.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TurnCounts {
    /// Datagrams read.
    pub reads: u32,
    /// Datagrams sent (counted only while profiling).
    pub sends: u32,
    /// Connections polled because they had input or were written to.
    pub polls_touched: u32,
    /// Connections polled because their timer was due.
    pub polls_timer: u32,
    /// Frames handed over by publishers' connections.
    pub frames: u32,
    /// Statistics events (str0m's per-m-line reports).
    pub stats_events: u32,
    /// Microseconds of the turn the thread was runnable but waited for a CPU (Linux).
    pub waited_us: u32,
    /// Microseconds spent sending, waits for a CPU inside included.
    pub send_us: u32,
}

/// How long this thread has waited for a CPU so far (the second field of its schedstat; zero
/// where there is none).
pub(crate) fn run_delay() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// The turns of one I/O thread.
pub(crate) struct LoopProfile {
    /// Each turn that did something: its time from taking the lock to the last send, in
    /// microseconds, and its counts.
    turns: Vec<(u32, TurnCounts)>,
}

/// Turns at least this long are listed one by one (the first [`LISTED`]).
const SLOW_TURN: Duration = Duration::from_millis(2);
const LISTED: usize = 20;

impl LoopProfile {
    pub(crate) fn from_env() -> Option<LoopProfile> {
        std::env::var_os(VARIABLE).map(|_| LoopProfile::new())
    }

    fn new() -> LoopProfile {
        LoopProfile {
            turns: Vec::with_capacity(1 << 16),
        }
    }

    /// Keeps a turn, unless it only woke up to find nothing to do.
    pub(crate) fn record(&mut self, busy: Duration, counts: TurnCounts) {
        if counts.reads == 0 && counts.sends == 0 && counts.polls_timer == 0 {
            return;
        }
        let micros = u32::try_from(busy.as_micros()).unwrap_or(u32::MAX);
        self.turns.push((micros, counts));
    }

    /// The report printed when the thread stops.
    pub(crate) fn summary(&self, name: &str) -> String {
        let mut out = String::new();
        if self.turns.is_empty() {
            let _ = writeln!(out, "{name}: no turns");
            return out;
        }
        let sorted = |f: &dyn Fn(&(u32, TurnCounts)) -> u32| {
            let mut v: Vec<u32> = self.turns.iter().map(f).collect();
            v.sort_unstable();
            v
        };
        let describe = |v: &[u32]| {
            let pct = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
            format!(
                "p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, max {} us",
                pct(0.5),
                pct(0.9),
                pct(0.99),
                pct(0.999),
                v[v.len() - 1]
            )
        };
        let busy = sorted(&|(us, _)| *us);
        let own = sorted(&|(us, c)| us.saturating_sub(c.waited_us));
        let total = |f: &dyn Fn(&TurnCounts) -> u32| -> u64 {
            self.turns.iter().map(|(_, c)| u64::from(f(c))).sum()
        };
        let _ = writeln!(
            out,
            "{name}: {} turns, {:.1} ms in all; per turn {}",
            busy.len(),
            busy.iter().map(|&us| u64::from(us)).sum::<u64>() as f64 / 1000.0,
            describe(&busy)
        );
        let _ = writeln!(
            out,
            "{name}: without the waits for a CPU inside turns ({:.1} ms in all): per turn {}",
            total(&|c| c.waited_us) as f64 / 1000.0,
            describe(&own)
        );
        let _ = writeln!(
            out,
            "{name}: {} reads, {} frames, {} polls ({} for a timer), {} sends ({:.1} ms), {} statistics events",
            total(&|c| c.reads),
            total(&|c| c.frames),
            total(&|c| c.polls_touched + c.polls_timer),
            total(&|c| c.polls_timer),
            total(&|c| c.sends),
            total(&|c| c.send_us) as f64 / 1000.0,
            total(&|c| c.stats_events),
        );
        let slow: Vec<_> = self
            .turns
            .iter()
            .filter(|(us, _)| Duration::from_micros(u64::from(*us)) >= SLOW_TURN)
            .collect();
        let _ = writeln!(out, "{name}: {} turns of {SLOW_TURN:?} or more", slow.len());
        for (us, c) in slow.iter().take(LISTED) {
            let _ = writeln!(out, "  {us} us: {c:?}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_tells_the_waits_apart_from_the_work() {
        let mut profile = LoopProfile::new();
        let frame = TurnCounts {
            reads: 1,
            sends: 30,
            polls_touched: 16,
            frames: 1,
            ..TurnCounts::default()
        };
        for _ in 0..99 {
            profile.record(Duration::from_micros(300), frame);
        }
        // A turn preempted for 4 ms: slow, but not by its own work.
        let preempted = TurnCounts {
            waited_us: 4000,
            ..frame
        };
        profile.record(Duration::from_micros(4300), preempted);
        // Nothing read, sent or due: not a turn.
        profile.record(Duration::from_micros(5), TurnCounts::default());

        let summary = profile.summary("t");
        assert!(summary.contains("t: 100 turns"), "{summary}");
        assert!(summary.contains("max 4300 us"), "{summary}");
        assert!(
            summary.contains("(4.0 ms in all): per turn p50 300 us, p90 300 us, p99 300 us, p99.9 300 us, max 300 us"),
            "{summary}"
        );
        assert!(
            summary.contains("100 reads, 100 frames, 1600 polls (0 for a timer), 3000 sends"),
            "{summary}"
        );
        assert!(summary.contains("t: 1 turns of 2ms or more"), "{summary}");
        assert!(summary.contains("  4300 us: "), "{summary}");
    }
}
