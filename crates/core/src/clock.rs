//! Where "now" comes from, for every crate of the workspace.
//!
//! Rules that depend on time (token lifetimes, room timeouts, the 24-hour cap) take the time
//! as an argument or read it from a [`Clock`] they were given, never from the operating system
//! directly, so a test or the emulator's control route can move time without waiting. The
//! trait is defined here, once, so that the token service and the emulator agree on the clock
//! tokens are minted and checked on.
//!
//! [`SystemClock::now`] is the single place where core touches the outside world: reading the
//! system clock is a pure, non-blocking read with no network or file I/O, and keeping it next
//! to the trait means no other crate needs to define a clock of its own. Everything else in
//! core stays free of I/O. Controllable clocks (a manual clock for tests, the emulator's
//! offset clock) live with the store that they serve and implement this trait.

use time::OffsetDateTime;

/// A source of the current time. Implementations must be cheap and never block.
pub trait Clock: Send + Sync + 'static {
    /// The current time. Consumers that show it as Twilio does truncate it to whole seconds
    /// in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_the_current_utc_time() {
        let before = OffsetDateTime::now_utc();
        let now = SystemClock.now();
        let after = OffsetDateTime::now_utc();
        assert!(
            before <= now && now <= after,
            "{before} <= {now} <= {after}"
        );
        assert_eq!(now.offset(), time::UtcOffset::UTC);
    }

    #[test]
    fn a_clock_can_be_shared_as_a_trait_object() {
        let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(SystemClock);
        assert!(clock.now().year() >= 2024);
    }
}
