//! When a failed request may be sent again, and how long to wait first.
//!
//! Policy (one place, so it can be read and reviewed as a whole):
//!
//! | request                         | 429 | 5xx | connect error | timeout / other transport |
//! |---------------------------------|-----|-----|---------------|---------------------------|
//! | GET (fetch, list)               | yes | yes | yes           | yes                       |
//! | complete by SID                 | yes | yes | yes           | yes                       |
//! | create, complete by unique name | yes | no  | yes           | no                        |
//!
//! A GET changes nothing. A 429 was not processed (Twilio documents 20429,
//! [`TOO_MANY_REQUESTS`](videoroom_core::twilio_codes::TOO_MANY_REQUESTS), as safe to retry),
//! and a connect error means the request never left this machine. A create that got a 5xx or
//! timed out may have made the room, and repeating it would turn that success into "Room
//! exists" (53113). Completing a room is idempotent in effect but not in answer: when a first
//! attempt did complete the room and its answer was lost, the repeat is refused with 53112
//! (room not in progress). By SID the adapter then fetches the room and answers with it, so
//! the repeat is safe; by unique name the completed room can no longer be addressed (Twilio
//! resolves names of in-progress rooms only), so it is not repeated.
//!
//! Waits grow exponentially from the initial backoff (doubling, capped at the maximum) with
//! "equal jitter": half the step is fixed and half random, so that a class's worth of clients
//! retrying together spread out, yet every wait is at least half its step. A `Retry-After`
//! longer than that wins. All attempts and waits of one call fit in the retry budget: a wait
//! that would end past it is not started, and each attempt's timeout is cut to what remains.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rand::Rng as _;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Attempts repeated by every adapter of this process, for the token service's metrics.
static RETRIES: AtomicU64 = AtomicU64::new(0);

/// How many attempts the adapters of this process have repeated so far (a retry is counted
/// when its wait starts).
pub fn retries_total() -> u64 {
    RETRIES.load(Ordering::Relaxed)
}

pub(crate) fn count_retry() {
    RETRIES.fetch_add(1, Ordering::Relaxed);
}

/// How much a request may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Safe to repeat after any failure (GET; completion by SID).
    Always,
    /// Repeated only when the server cannot have acted on it (429, connect error).
    OnlyIfUnprocessed,
}

/// What an attempt's failure was, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// HTTP 429 or code [`TOO_MANY_REQUESTS`](videoroom_core::twilio_codes::TOO_MANY_REQUESTS).
    Throttled,
    /// HTTP 5xx.
    ServerError,
    /// The connection was never established (DNS, refused, TLS, connect timeout).
    Connect,
    /// The request may have reached the server (timeout, reset, truncated answer).
    Transport,
}

impl Repeat {
    pub(crate) fn allows(self, failure: Failure) -> bool {
        match (self, failure) {
            (Repeat::Always, _) => true,
            (Repeat::OnlyIfUnprocessed, Failure::Throttled | Failure::Connect) => true,
            (Repeat::OnlyIfUnprocessed, Failure::ServerError | Failure::Transport) => false,
        }
    }
}

/// The step of the `retry`-th retry (0-based): `initial * 2^retry`, capped at `max`.
pub(crate) fn backoff_step(initial: Duration, max: Duration, retry: u32) -> Duration {
    let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

/// The wait before the `retry`-th retry: half the step plus a random part of the other half.
pub(crate) fn jittered(step: Duration) -> Duration {
    let half = step / 2;
    let span = u64::try_from((step - half).as_millis()).unwrap_or(u64::MAX);
    let random = rand::rng().random_range(0..=span);
    half + Duration::from_millis(random)
}

/// The delay a `Retry-After` header asks for: delta-seconds or an HTTP date (RFC 9110's
/// `HTTP-date`, read by `httpdate` in all three of its historical forms).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    // A date already past asks for no wait at all.
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn steps_double_from_the_initial_backoff_up_to_the_cap() {
        let ms = Duration::from_millis;
        let steps: Vec<_> = (0..6).map(|n| backoff_step(ms(250), ms(4000), n)).collect();
        assert_eq!(
            steps,
            [ms(250), ms(500), ms(1000), ms(2000), ms(4000), ms(4000)]
        );
        assert_eq!(backoff_step(ms(250), ms(4000), u32::MAX), ms(4000));
    }

    #[test]
    fn jittered_waits_stay_between_half_the_step_and_the_step() {
        let step = Duration::from_millis(1000);
        let waits: Vec<_> = (0..200).map(|_| jittered(step)).collect();
        assert!(
            waits.iter().all(|w| *w >= step / 2 && *w <= step),
            "{waits:?}"
        );
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(
            distinct.len() > 10,
            "waits should be spread out, got {distinct:?}"
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Duration::ZERO),
            "a past date means now"
        );
        let value = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&value).expect("header"));
        let wait = retry_after(&headers).expect("a date");
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn a_create_is_repeated_only_when_twilio_cannot_have_made_the_room() {
        let create = Repeat::OnlyIfUnprocessed;
        assert!(create.allows(Failure::Throttled));
        assert!(create.allows(Failure::Connect));
        assert!(!create.allows(Failure::ServerError));
        assert!(!create.allows(Failure::Transport));
        for f in [
            Failure::Throttled,
            Failure::ServerError,
            Failure::Connect,
            Failure::Transport,
        ] {
            assert!(Repeat::Always.allows(f));
        }
    }
}
