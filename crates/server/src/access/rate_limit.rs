//! Rate limits: a token bucket per client, and a cap on the rooms the whole server creates.
//!
//! | Limit | Key | Default (twilio / emulator) | Over it |
//! |---|---|---|---|
//! | token requests per client | the bearer `sub` when one verified, else the client address (an IPv6 address by its /64, which one host can rotate through) | burst 120, then 120 per minute / off | 429 `rate_limited`, `Retry-After` |
//! | rooms created per minute | the server | 60 / off | 429 `room_creation_limited`, `Retry-After`, no upstream call |
//!
//! The burst is generous because a class behind one NAT shares one address and joins at once;
//! the sustained rate is what keeps a script from minting tokens or guessing a passcode. Every
//! request counts, refused ones included, so a passcode guesser is slowed like anyone else.
//! The room cap protects the owner's account (Twilio's own limits are per account, see the REST
//! reference): it is checked where a room is about to be created, in [`CappedBackend`], so a
//! request for an existing room is never refused by it.
//!
//! Both use `governor`'s GCRA, the standard token-bucket limiter of the Rust ecosystem: one
//! atomic compare-and-swap per check, no lock, no timer task. The per-client map is pruned of
//! keys whose bucket is full again every [`PRUNE_EVERY`] checks, so its memory is bounded by the
//! clients of the last minutes, not by every address ever seen.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;
use videoroom_core::port::{BackendError, RoomBackend, RoomKey, RoomPage, RoomQuery};
use videoroom_core::{Identity, Room, RoomSpec};

/// How many checks pass between two prunings of the per-client map.
const PRUNE_EVERY: u64 = 4096;

/// Whom a request is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 address, or the /64 network of an IPv6 one.
    Address(IpAddr),
    /// The identity a bearer JWT vouched for: a user behind a shared address has their own
    /// bucket.
    Subject(Identity),
}

impl ClientKey {
    pub fn address(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                ClientKey::Address(IpAddr::V6(network.into()))
            }
            v4 => ClientKey::Address(v4),
        }
    }
}

/// The per-client token buckets.
pub struct ClientLimiter {
    buckets: DefaultKeyedRateLimiter<ClientKey>,
    checks: AtomicU64,
}

impl ClientLimiter {
    /// `burst` requests at once, then `per_minute` a minute.
    pub fn new(burst: NonZeroU32, per_minute: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            buckets: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one request from `key`'s bucket, or says how long until one is there.
    pub fn check(&self, key: &ClientKey) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.buckets.retain_recent();
            self.buckets.shrink_to_fit();
        }
        self.buckets
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// How many clients the limiter holds a bucket for (the pruning's test reads it).
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// The server-wide cap on room creations.
pub struct CreationCap {
    limiter: DefaultDirectRateLimiter,
    /// Until when the cap refuses, as last seen: how the handler tells the cap's refusal from
    /// the upstream's own 429, since both come out of the room service as
    /// [`BackendError::RateLimited`].
    refusing_until: Mutex<Option<std::time::Instant>>,
}

impl CreationCap {
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::direct(Quota::per_minute(per_minute)),
            refusing_until: Mutex::new(None),
        }
    }

    fn take(&self) -> Result<(), Duration> {
        self.limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            *self.refusing_until.lock() = Some(std::time::Instant::now() + wait);
            wait
        })
    }

    /// How long the cap still refuses, if it is refusing now.
    pub fn refusing(&self) -> Option<Duration> {
        let until = (*self.refusing_until.lock())?;
        until
            .checked_duration_since(std::time::Instant::now())
            .filter(|left| !left.is_zero())
    }
}

/// The backend port with [`CreationCap`] in front of `create_room`; every other call passes
/// through untouched.
pub struct CappedBackend {
    inner: Arc<dyn RoomBackend>,
    cap: Arc<CreationCap>,
}

impl CappedBackend {
    pub fn new(inner: Arc<dyn RoomBackend>, cap: Arc<CreationCap>) -> Self {
        Self { inner, cap }
    }
}

#[async_trait]
impl RoomBackend for CappedBackend {
    async fn create_room(&self, spec: &RoomSpec) -> Result<Room, BackendError> {
        if let Err(wait) = self.cap.take() {
            tracing::warn!(
                room = ?spec.unique_name,
                "refused to create a room: the server's cap on room creations per minute (limits.room_creations) is reached"
            );
            // A refusal, not a throttling upstream: the token service must not wait and try
            // again (as it does when Twilio answers 429), so it is a rejected request with
            // Twilio's 429 code, which `Access::backend_error` turns into a 429 answer.
            let _ = wait;
            return Err(BackendError::Invalid {
                code: videoroom_core::twilio_codes::TOO_MANY_REQUESTS,
                message: "the server's cap on room creations per minute is reached".into(),
            });
        }
        self.inner.create_room(spec).await
    }

    async fn fetch_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.inner.fetch_room(key).await
    }

    async fn list_rooms(&self, query: &RoomQuery) -> Result<RoomPage, BackendError> {
        self.inner.list_rooms(query).await
    }

    async fn complete_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.inner.complete_room(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("a non-zero test value")
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_while_others_are_served() {
        let limiter = ClientLimiter::new(nz(3), nz(60));
        let alice = ClientKey::address(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..3 {
            assert!(limiter.check(&alice).is_ok());
        }
        let wait = limiter.check(&alice).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limiter
            .check(&ClientKey::address(IpAddr::from([10, 0, 0, 2])))
            .is_ok());
    }

    #[test]
    fn an_ipv6_host_cannot_escape_its_bucket_by_changing_address_within_its_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::address(a), ClientKey::address(b));
        assert_ne!(ClientKey::address(a), ClientKey::address(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(
            ClientKey::address(mapped),
            ClientKey::address(IpAddr::from([10, 0, 0, 1]))
        );
    }

    #[test]
    fn clients_whose_bucket_is_full_again_are_forgotten_so_memory_stays_bounded() {
        // One request a millisecond: a bucket is full again a millisecond after its request.
        let limiter = ClientLimiter::new(nz(1), nz(60_000));
        for last in 0..100u8 {
            let _ = limiter.check(&ClientKey::address(IpAddr::from([10, 0, 1, last])));
        }
        assert_eq!(limiter.tracked(), 100);
        std::thread::sleep(Duration::from_millis(50));
        let busy = ClientKey::address(IpAddr::from([10, 0, 2, 1]));
        for _ in 0..PRUNE_EVERY {
            let _ = limiter.check(&busy);
        }
        assert!(
            limiter.tracked() < 10,
            "{} clients still tracked after pruning",
            limiter.tracked()
        );
    }

    #[test]
    fn the_creation_cap_refuses_past_its_count_and_says_so() {
        let cap = CreationCap::new(nz(2));
        assert!(cap.take().is_ok());
        assert!(cap.take().is_ok());
        assert_eq!(cap.refusing(), None);
        let wait = cap.take().unwrap_err();
        assert!(wait > Duration::ZERO);
        assert!(cap.refusing().is_some());
    }
}
