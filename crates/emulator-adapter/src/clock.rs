//! Where the store's "now" comes from.
//!
//! Every rule of the lifecycle (timeouts, the 24-hour cap, participant durations) is computed
//! from timestamps read from a [`Clock`], never from timers, so a test can move a
//! [`ManualClock`] ten minutes ahead and see a room complete on the next operation, and the
//! emulator can move its [`OffsetClock`] from a control route without waiting.
//!
//! The [`Clock`] trait and [`SystemClock`] belong to core (`videoroom_core::clock`), so that
//! the token service and the emulator mint and check tokens on one notion of time; they are
//! re-exported here so the store's users can keep importing them from this crate. The
//! controllable clocks stay here, beside the store they drive.

use std::time::Duration;

use parking_lot::Mutex;
use time::OffsetDateTime;
pub use videoroom_core::clock::{Clock, SystemClock};

/// A clock that only moves when told to: for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// A clock stopped at 2026-01-01T09:00:00Z, a convenient fixed start for tests.
    pub fn fixed() -> Self {
        Self::new(time::macros::datetime!(2026-01-01 09:00:00 UTC))
    }

    /// Moves the clock to `at` (backwards too; the store never panics on a clock that goes back).
    pub fn set(&self, at: OffsetDateTime) {
        *self.now.lock() = at;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock();
        *now = now.saturating_add(time_duration(by));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock()
    }
}

/// The system clock plus an offset that only grows: the emulator's clock, which the control
/// route `/emulator/clock/advance` moves forward so timeouts can be demonstrated without waiting.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset: Mutex<Duration>,
}

impl OffsetClock {
    /// A clock equal to the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`; returns the total offset from the system clock.
    pub fn advance(&self, by: Duration) -> Duration {
        let mut offset = self.offset.lock();
        *offset = offset.saturating_add(by);
        *offset
    }

    /// How far ahead of the system clock this clock is.
    pub fn offset(&self) -> Duration {
        *self.offset.lock()
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc().saturating_add(time_duration(self.offset()))
    }
}

/// `t` in UTC with the fraction of a second dropped, as Twilio prints every timestamp.
pub fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    // Near the ends of the representable range a conversion can fail; the time is then kept
    // in its own offset rather than panicking.
    let utc = t.checked_to_offset(time::UtcOffset::UTC).unwrap_or(t);
    utc.replace_nanosecond(0).unwrap_or(utc)
}

/// Whole seconds from `start` to `end`, zero when the clock went backwards.
pub fn seconds_between(start: OffsetDateTime, end: OffsetDateTime) -> u64 {
    u64::try_from((end - start).whole_seconds()).unwrap_or(0)
}

pub(crate) fn time_duration(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::fixed();
        let start = clock.now();
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(600));
        assert_eq!(clock.now() - start, time::Duration::minutes(10));
    }

    #[test]
    fn an_offset_clock_runs_ahead_of_the_system_clock_by_what_it_was_advanced() {
        let clock = OffsetClock::new();
        assert_eq!(
            clock.advance(Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        assert_eq!(
            clock.advance(Duration::from_secs(30)),
            Duration::from_secs(90)
        );
        let ahead = clock.now() - OffsetDateTime::now_utc();
        assert!(ahead >= time::Duration::seconds(89), "ahead by {ahead}");
    }

    #[test]
    fn timestamps_are_truncated_to_whole_utc_seconds() {
        let t = time::macros::datetime!(2026-01-01 10:00:00.987 +02:00);
        assert_eq!(
            whole_seconds(t),
            time::macros::datetime!(2026-01-01 08:00:00 UTC)
        );
    }

    #[test]
    fn a_clock_that_went_backwards_gives_zero_seconds_not_a_panic() {
        let t = time::macros::datetime!(2026-01-01 10:00:00 UTC);
        assert_eq!(seconds_between(t, t - time::Duration::seconds(5)), 0);
        assert_eq!(seconds_between(t, t + time::Duration::seconds(5)), 5);
    }
}
