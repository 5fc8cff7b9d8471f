//! `/readyz` on an idle instance (issue 13): the instance asks the upstream itself when no
//! token request has lately.
//!
//! `/readyz` reports the circuit breaker's state ([`crate::resilience::Breaker`]), and the
//! breaker learns only from upstream calls. Without traffic, an instance whose Twilio became
//! unreachable would stay "ready" for ever, and one whose circuit opened would never make the
//! probe call that closes it again, so it would stay "unavailable" after Twilio came back. So,
//! in twilio mode, a task makes one cheap authenticated call (list one in-progress room) through
//! the same guarded port as the token requests, whenever the last upstream outcome is older
//! than `twilio.idle_probe`:
//!
//! - after a success (or the start), at most one call per `twilio.idle_probe` (default 10 s),
//!   and none at all while token requests keep the outcome fresh;
//! - after a failure, one a second at most (never more often than the interval allows), so the
//!   [`crate::resilience::FAILURES_TO_OPEN`] failures in a row that open the circuit come within
//!   seconds, not minutes;
//! - while the circuit is open, none: the first call after the open period is the breaker's
//!   half-open probe, whose success makes the instance ready again.
//!
//! The call goes through the breaker and the metrics like any other
//! (`videoroom_upstream_calls_total{operation="list_rooms"}`). The task holds only weak
//! references, so it ends when the application is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;
use videoroom_core::{RoomBackend, RoomQuery};

use crate::resilience::Breaker;

/// How often the task looks at the last outcome. Looking costs one lock; the upstream is called
/// only when [`due`] says so.
const TICK: Duration = Duration::from_secs(1);
/// The soonest a failed probe is repeated.
const AFTER_FAILURE: Duration = Duration::from_secs(1);
/// The longest one probe call may take before it counts as failed (the adapter's own retries
/// included): an upstream that slow is not one to send clients to.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a probe is due at `now`, given the last upstream outcome (when, and whether the
/// upstream answered) and whether the circuit refuses calls now.
pub(crate) fn due(
    (at, answered): (Instant, bool),
    circuit_refusing: bool,
    now: Instant,
    every: Duration,
) -> bool {
    if circuit_refusing {
        return false;
    }
    let wait = if answered {
        every
    } else {
        every.min(AFTER_FAILURE)
    };
    now.saturating_duration_since(at) >= wait
}

/// Starts the probing task on the current runtime (see the module documentation).
pub(crate) fn spawn(port: &Arc<dyn RoomBackend>, breaker: &Arc<Breaker>, every: Duration) {
    let port = Arc::downgrade(port);
    let breaker = Arc::downgrade(breaker);
    tokio::spawn(run(port, breaker, every));
}

async fn run(port: Weak<dyn RoomBackend>, breaker: Weak<Breaker>, every: Duration) {
    // Before any call, the start counts as a success: the circuit starts closed, and the first
    // probe of an instance nobody uses comes one interval after its start, so a benchmark or a
    // test that counts upstream calls from the start sees only its own.
    let started = Instant::now();
    loop {
        tokio::time::sleep(TICK.min(every)).await;
        let (Some(port), Some(breaker)) = (port.upgrade(), breaker.upgrade()) else {
            return;
        };
        // An open circuit past its period says "retry after zero": that call is the probe.
        let refusing = breaker.retry_after().is_some_and(|d| !d.is_zero());
        let last = breaker.last_outcome().unwrap_or((started, true));
        if !due(last, refusing, Instant::now(), every) {
            continue;
        }
        let query = RoomQuery {
            page_size: Some(1),
            ..RoomQuery::default()
        };
        // The outcome is recorded by the guarded port; a call cut by the timeout counts as a
        // failure there.
        match tokio::time::timeout(PROBE_TIMEOUT, port.list_rooms(&query)).await {
            Ok(Ok(_)) => tracing::debug!("idle probe: the upstream answered"),
            Ok(Err(error)) => tracing::debug!(%error, "idle probe: the upstream failed"),
            Err(_) => tracing::debug!("idle probe: the upstream did not answer in time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_is_due_after_the_interval_sooner_after_a_failure_and_never_while_refusing() {
        let every = Duration::from_secs(10);
        let t0 = Instant::now();
        let ok = (t0, true);
        assert!(
            !due(ok, true, t0 + every, every),
            "the open circuit decides"
        );
        assert!(!due(ok, false, t0 + Duration::from_secs(9), every));
        assert!(due(ok, false, t0 + every, every));
        let failed = (t0, false);
        assert!(!due(failed, false, t0 + Duration::from_millis(500), every));
        assert!(due(failed, false, t0 + AFTER_FAILURE, every));
        assert!(!due(failed, true, t0 + every, every));
    }
}
