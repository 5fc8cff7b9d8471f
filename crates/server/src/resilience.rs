//! How a token request gets its room when the upstream is slow, failing or down (issue 13).
//!
//! [`Rooms`] stands in front of core's single-flight [`RoomService`]:
//!
//! 1. a room looked up less than `twilio.cache_ttl` ago is served from the [`RoomCache`]
//!    without any upstream call;
//! 2. otherwise the lookup runs (one per room name at a time, the single flight), and transient
//!    failures that survive the adapter's own retries are tried again, with backoff and jitter,
//!    until the request's deadline (`token.deadline`);
//! 3. when the upstream still fails, or the circuit is open, a cached room at most
//!    `twilio.stale_if_error` past its TTL is served (stale-if-error);
//! 4. otherwise the answer is 503 JSON: `backend_timeout` at the deadline, or
//!    `backend_unavailable` with `Retry-After` while the circuit is open.
//!
//! The [`Breaker`] sits under the service, around every upstream call ([`GuardedBackend`]),
//! so it counts calls, not requests: thirty requests sharing one failed flight are one
//! failure, not thirty. After [`FAILURES_TO_OPEN`] calls in a row fail with the upstream
//! unavailable it opens: calls fail at once for [`OPEN_FOR`], then one probe call is let
//! through (half-open); its success closes the circuit, its failure opens it again. So a
//! stopped upstream costs clients nothing but a fast 503, and service returns by itself within
//! `OPEN_FOR` plus one call of the upstream coming back.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use rand::Rng as _;
use tokio::time::Instant;
use videoroom_core::{
    BackendError, Room, RoomBackend, RoomKey, RoomName, RoomPage, RoomQuery, RoomService, RoomSid,
    RoomSpec, RoomStatus,
};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Consecutive upstream calls that must fail (unavailable) before the circuit opens.
pub const FAILURES_TO_OPEN: u32 = 5;
/// How long an open circuit refuses calls before it lets one probe through.
pub const OPEN_FOR: Duration = Duration::from_secs(5);
/// The most room names the cache holds: names come from clients when `room.allow_param` is
/// on, and the cache must not become a way to fill the server's memory.
pub const MAX_CACHED_ROOMS: usize = 10_000;
/// The message of the error a refused call returns (the circuit is open).
const CIRCUIT_OPEN: &str = "the circuit is open after repeated upstream failures";

/// Where the circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    /// One probe call is allowed (or under way).
    HalfOpen,
    Open,
}

impl CircuitState {
    /// The value of the `videoroom_circuit_state` gauge.
    pub fn gauge(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::HalfOpen => "half-open",
            CircuitState::Open => "open",
        }
    }
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A circuit breaker over upstream calls (see the module documentation).
#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    failures_to_open: u32,
    open_for: Duration,
    /// When the last admitted call ended, and whether the upstream answered it: the idle
    /// probe's clock (`crate::idle_probe`).
    last: Mutex<Option<(Instant, bool)>>,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new(FAILURES_TO_OPEN, OPEN_FOR)
    }
}

impl Breaker {
    pub fn new(failures_to_open: u32, open_for: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            failures_to_open: failures_to_open.max(1),
            open_for,
            last: Mutex::new(None),
        }
    }

    /// Whether a call may go out now; `Err` carries how long until one may.
    pub fn admit(&self) -> Result<(), Duration> {
        let mut state = self.state.lock();
        match &mut *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } => {
                let now = Instant::now();
                if now >= *until {
                    *state = State::HalfOpen { probing: true };
                    Ok(())
                } else {
                    Err(*until - now)
                }
            }
            State::HalfOpen { probing } => {
                if *probing {
                    // The probe decides soon; a second later the circuit is closed or open.
                    Err(Duration::from_secs(1))
                } else {
                    *probing = true;
                    Ok(())
                }
            }
        }
    }

    /// Records the outcome of an admitted call: `true` when the upstream answered (even with
    /// a refusal), `false` when it was unavailable.
    pub fn record(&self, upstream_answered: bool) {
        *self.last.lock() = Some((Instant::now(), upstream_answered));
        let mut state = self.state.lock();
        *state = match (&*state, upstream_answered) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.failures_to_open => {
                State::Closed {
                    failures: failures + 1,
                }
            }
            (_, false) => {
                tracing::warn!(
                    open_for_secs = self.open_for.as_secs(),
                    "upstream unavailable: circuit open, token requests fail fast until a probe succeeds"
                );
                State::Open {
                    until: Instant::now() + self.open_for,
                }
            }
        };
    }

    /// When the last admitted call ended, and whether the upstream answered it.
    pub fn last_outcome(&self) -> Option<(Instant, bool)> {
        *self.last.lock()
    }

    pub fn state(&self) -> CircuitState {
        match &*self.state.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if Instant::now() >= *until => CircuitState::HalfOpen,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// How long until a call may be tried, when the circuit refuses calls now.
    pub fn retry_after(&self) -> Option<Duration> {
        match &*self.state.lock() {
            State::Open { until } => Some(until.saturating_duration_since(Instant::now())),
            State::HalfOpen { probing: true } => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

/// The backend port with the [`Breaker`] and the upstream-call metrics around every call.
pub struct GuardedBackend {
    inner: Arc<dyn RoomBackend>,
    breaker: Arc<Breaker>,
    metrics: Arc<Metrics>,
}

impl GuardedBackend {
    pub fn new(inner: Arc<dyn RoomBackend>, breaker: Arc<Breaker>, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            breaker,
            metrics,
        }
    }

    async fn call<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        if self.breaker.admit().is_err() {
            self.metrics.upstream_call(operation, "circuit_open");
            return Err(BackendError::Unavailable(CIRCUIT_OPEN.into()));
        }
        // A call dropped before it ends (its requests all reached their deadline) counts as a
        // failure: otherwise a half-open circuit would wait for ever for its probe.
        let mut pending = Pending {
            breaker: &self.breaker,
            done: false,
        };
        let result = call.await;
        pending.done = true;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(BackendError::NotFound) => "not_found",
            Err(BackendError::RoomExists) => "room_exists",
            Err(BackendError::RateLimited { .. }) => "rate_limited",
            Err(BackendError::Unauthorized) => "unauthorized",
            Err(BackendError::Invalid { .. }) => "invalid",
            Err(BackendError::Unavailable(_)) => "unavailable",
            Err(BackendError::Other(_)) => "error",
        };
        self.metrics.upstream_call(operation, outcome);
        self.breaker
            .record(!matches!(result, Err(BackendError::Unavailable(_))));
        result
    }
}

#[async_trait]
impl RoomBackend for GuardedBackend {
    async fn create_room(&self, spec: &RoomSpec) -> Result<Room, BackendError> {
        self.call("create_room", self.inner.create_room(spec)).await
    }

    async fn fetch_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.call("fetch_room", self.inner.fetch_room(key)).await
    }

    async fn list_rooms(&self, query: &RoomQuery) -> Result<RoomPage, BackendError> {
        self.call("list_rooms", self.inner.list_rooms(query)).await
    }

    async fn complete_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.call("complete_room", self.inner.complete_room(key))
            .await
    }
}

struct Pending<'a> {
    breaker: &'a Breaker,
    done: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.record(false);
        }
    }
}

struct Entry {
    /// Shared with the requests it serves: a warm token request takes a reference, not a copy
    /// of the room's strings.
    room: Arc<Room>,
    stored: Instant,
}

/// Rooms by name, as last looked up, for `ttl` (fresh) and `stale` longer (stale-if-error).
///
/// Warm reads go through a per-thread snapshot ([`SNAPSHOT`]): each actix worker keeps its own
/// copy of the rooms it served, valid while the cache's `generation` has not moved. Every
/// change (put, evict, the eviction of a full cache) moves it under the lock, so a snapshot
/// never serves a room the shared map no longer has. Measured, the shared path (the mutex and
/// the `Arc` counter, both cache lines bouncing between the two workers at every request) was
/// a tenth of the warm token path's extra CPU; a snapshot read touches only the worker's own
/// lines and one shared, read-only counter.
pub struct RoomCache {
    ttl: Duration,
    stale: Duration,
    entries: Mutex<HashMap<RoomName, Entry>>,
    /// Which cache a thread's snapshot belongs to (tests run several servers in one process).
    id: u64,
    /// Moved by every change of `entries`, under its lock.
    generation: AtomicU64,
}

/// A worker's copy of the rooms it read from one [`RoomCache`] at one generation.
struct Snapshot {
    cache: u64,
    generation: u64,
    rooms: HashMap<RoomName, Entry>,
}

thread_local! {
    static SNAPSHOT: RefCell<Snapshot> = RefCell::new(Snapshot {
        cache: 0,
        generation: 0,
        rooms: HashMap::new(),
    });
}

/// Ids of caches, from 1 (0 is no cache in a fresh snapshot).
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

impl RoomCache {
    pub fn new(ttl: Duration, stale: Duration) -> Self {
        Self {
            ttl,
            stale,
            entries: Mutex::new(HashMap::new()),
            id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
        }
    }

    /// The room, if looked up less than the TTL ago.
    pub fn fresh(&self, name: &RoomName) -> Option<Arc<Room>> {
        SNAPSHOT.with(|snapshot| {
            let mut snapshot = snapshot.borrow_mut();
            if snapshot.cache == self.id
                && snapshot.generation == self.generation.load(Ordering::Acquire)
            {
                if let Some(entry) = snapshot.rooms.get(name) {
                    return (entry.stored.elapsed() < self.ttl).then(|| Arc::clone(&entry.room));
                }
            }
            let entries = self.entries.lock();
            let generation = self.generation.load(Ordering::Acquire);
            if snapshot.cache != self.id || snapshot.generation != generation {
                snapshot.cache = self.id;
                snapshot.generation = generation;
                snapshot.rooms.clear();
            }
            let entry = entries.get(name)?;
            // The worker's own copy of the room, so its `Arc` counter is the worker's alone.
            let own = Entry {
                room: Arc::new(Room::clone(&entry.room)),
                stored: entry.stored,
            };
            let fresh = (own.stored.elapsed() < self.ttl).then(|| Arc::clone(&own.room));
            snapshot.rooms.insert(name.clone(), own);
            fresh
        })
    }

    /// Marks a change of `entries`; called with its lock held.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The room, if looked up less than TTL + stale-if-error ago.
    pub fn stale(&self, name: &RoomName) -> Option<Arc<Room>> {
        let entries = self.entries.lock();
        let entry = entries.get(name)?;
        (entry.stored.elapsed() < self.ttl + self.stale).then(|| Arc::clone(&entry.room))
    }

    /// Remembers an in-progress room; any other status drops the name instead (a completed
    /// room must never be handed out again).
    pub fn put(&self, name: &RoomName, room: &Arc<Room>) {
        let mut entries = self.entries.lock();
        if room.status != RoomStatus::InProgress {
            entries.remove(name);
            self.changed();
            return;
        }
        if entries.len() >= MAX_CACHED_ROOMS && !entries.contains_key(name) {
            let keep = self.ttl + self.stale;
            entries.retain(|_, e| e.stored.elapsed() < keep);
            self.changed();
            if entries.len() >= MAX_CACHED_ROOMS {
                return;
            }
        }
        entries.insert(
            name.clone(),
            Entry {
                room: Arc::clone(room),
                stored: Instant::now(),
            },
        );
        self.changed();
    }

    /// Forgets `name`.
    pub fn evict(&self, name: &RoomName) {
        let mut entries = self.entries.lock();
        entries.remove(name);
        self.changed();
    }

    /// Forgets the room named `name` if it is the room `sid` (a callback about an old room
    /// must not drop the newer room that took its name). Says whether it did.
    pub fn evict_room(&self, name: &RoomName, sid: &RoomSid) -> bool {
        let mut entries = self.entries.lock();
        match entries.get(name) {
            Some(entry) if entry.room.sid == *sid => {
                entries.remove(name);
                self.changed();
                true
            }
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The room of a token request: cache, single flight, retries within the deadline,
/// stale-if-error and the circuit (see the module documentation).
pub struct Rooms {
    service: RoomService,
    /// `None` when caching is off (emulator mode, or `twilio.cache_ttl = 0`).
    cache: Option<Arc<RoomCache>>,
    breaker: Arc<Breaker>,
    deadline: Duration,
    /// Whether transient failures are tried again until the deadline: in twilio mode. The
    /// emulator's store is in-process and never fails transiently, and a test double that
    /// fails once must see one call.
    retry: bool,
    metrics: Arc<Metrics>,
}

impl Rooms {
    pub fn new(
        service: RoomService,
        cache: Option<Arc<RoomCache>>,
        breaker: Arc<Breaker>,
        deadline: Duration,
        retry: bool,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            service,
            cache,
            breaker,
            deadline,
            retry,
            metrics,
        }
    }

    /// The in-progress room named `name`, found or created (see the module documentation).
    pub async fn find_or_create(&self, name: &RoomName) -> Result<Arc<Room>, ApiError> {
        if let Some(room) = self.cache.as_ref().and_then(|c| c.fresh(name)) {
            self.metrics.cache("hit");
            return Ok(room);
        }
        if self.cache.is_some() {
            self.metrics.cache("miss");
        }
        // With a stale room to fall back on, one lookup (with the adapter's own retries) is
        // enough: the client is better served by the stale room now than by waiting out the
        // deadline for a fresh one.
        let has_stale = self.cache.as_ref().is_some_and(|c| c.stale(name).is_some());
        let looked_up =
            tokio::time::timeout(self.deadline, self.look_up(name, self.retry && !has_stale)).await;
        let error = match looked_up {
            Ok(Ok(room)) => {
                let room = Arc::new(room);
                if let Some(cache) = &self.cache {
                    cache.put(name, &room);
                }
                return Ok(room);
            }
            Ok(Err(error)) => {
                if !transient(&error) {
                    // The upstream answered, and not with this room: whatever was cached for
                    // the name is no longer to be trusted.
                    if let Some(cache) = &self.cache {
                        cache.evict(name);
                    }
                    return Err(error.into());
                }
                Some(error)
            }
            Err(_elapsed) => None,
        };
        if let Some(room) = self.cache.as_ref().and_then(|c| c.stale(name)) {
            self.metrics.cache("stale");
            tracing::warn!(room = %name, "upstream failing: serving the cached room (stale-if-error)");
            return Ok(room);
        }
        if let Some(retry_after) = self.breaker.retry_after() {
            if let Some(error) = &error {
                tracing::warn!(error = %error, "backend request failed");
            }
            return Err(ApiError::CircuitOpen { retry_after });
        }
        match error {
            Some(error) => Err(error.into()),
            None => {
                tracing::warn!(room = %name, deadline_secs = self.deadline.as_secs(), "token request reached its deadline waiting for the upstream");
                Err(ApiError::BackendTimeout(self.deadline))
            }
        }
    }

    /// Find-or-create, tried again after transient failures while the circuit admits calls.
    /// The caller's deadline bounds the whole.
    async fn look_up(&self, name: &RoomName, retry: bool) -> Result<Room, BackendError> {
        let mut attempt = 0u32;
        loop {
            match self.service.find_or_create(name).await {
                Err(error)
                    if retry && transient(&error) && self.breaker.retry_after().is_none() =>
                {
                    // A create answered 5xx may have made the room: the next round fetches
                    // first, and a 53113 on creating again is followed by a fetch, so
                    // repeating the whole lookup is safe.
                    let wait = match &error {
                        BackendError::RateLimited {
                            retry_after: Some(hint),
                        } => *hint,
                        _ => jittered_backoff(attempt),
                    };
                    self.metrics.retry();
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    pub fn cache(&self) -> Option<&Arc<RoomCache>> {
        self.cache.as_ref()
    }
}

/// Whether waiting could help: the upstream was unreachable, failing or throttling.
fn transient(error: &BackendError) -> bool {
    matches!(
        error,
        BackendError::Unavailable(_) | BackendError::RateLimited { .. }
    )
}

/// 100 ms doubling up to 1.6 s, with "equal jitter" (half fixed, half random), so that many
/// requests retrying together spread out.
fn jittered_backoff(attempt: u32) -> Duration {
    let step = Duration::from_millis(100) * 2u32.pow(attempt.min(4));
    let half = step / 2;
    let span = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(rand::rng().random_range(0..=span))
}

/// `GET /readyz`: 200 while the circuit is closed; 503 with `Retry-After` while it is open or
/// waiting on its probe, so a load balancer sends clients to another instance. (`/healthz`
/// stays 200 throughout: the process is fine, its upstream is not.) The state follows the
/// token requests' upstream calls and, on an idle instance in twilio mode, the idle probe's
/// (`crate::idle_probe`, every `twilio.idle_probe`).
pub async fn readyz(
    sources: actix_web::web::Data<crate::metrics::Sources>,
) -> actix_web::HttpResponse {
    let state = sources.breaker.state();
    let body = serde_json::json!({
        "status": if state == CircuitState::Closed { "ready" } else { "unavailable" },
        "backend": if state == CircuitState::Closed { "available" } else { "unavailable" },
        "circuit": state.as_str(),
    });
    if state == CircuitState::Closed {
        return actix_web::HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(body);
    }
    let secs = sources
        .breaker
        .retry_after()
        .map_or(1, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
        .max(1);
    actix_web::HttpResponse::ServiceUnavailable()
        .insert_header(("cache-control", "no-store"))
        .insert_header(("retry-after", secs))
        .json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_circuit_opens_after_consecutive_failures_and_closes_after_a_good_probe() {
        let breaker = Breaker::new(3, Duration::from_millis(200));
        for _ in 0..2 {
            assert!(breaker.admit().is_ok());
            breaker.record(false);
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.record(true);
        for _ in 0..3 {
            breaker.record(false);
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        let wait = breaker.admit().expect_err("an open circuit refuses");
        assert!(wait <= Duration::from_millis(200) && wait > Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(210)).await;
        assert!(breaker.admit().is_ok(), "one probe after the open period");
        assert!(breaker.admit().is_err(), "only one probe at a time");
        breaker.record(false);
        assert_eq!(
            breaker.state(),
            CircuitState::Open,
            "a failed probe reopens"
        );
        tokio::time::sleep(Duration::from_millis(210)).await;
        assert!(breaker.admit().is_ok());
        breaker.record(true);
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert!(breaker.admit().is_ok());
    }

    fn room(name: &str, n: u128, status: RoomStatus) -> Arc<Room> {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        Arc::new(Room {
            sid: RoomSid::from_u128(n),
            unique_name: name.to_owned(),
            status,
            room_type: videoroom_core::RoomType::Group,
            max_participants: 50,
            date_created: at,
            date_updated: at,
            end_time: None,
            duration: None,
            empty_room_timeout: 5,
            unused_room_timeout: 5,
        })
    }

    /// A worker's snapshot must follow every change of the shared map: a room read once (and
    /// so copied into the snapshot) is gone after an eviction, replaced after a newer room
    /// takes its name, gone after it ends, and two caches on one thread never share rooms.
    #[test]
    fn the_per_worker_snapshot_follows_every_change() {
        let name = RoomName::parse("Standup").expect("a valid room name");
        let ttl = Duration::from_secs(60);
        let cache = RoomCache::new(ttl, Duration::from_secs(60));
        assert!(cache.fresh(&name).is_none());
        cache.put(&name, &room("Standup", 1, RoomStatus::InProgress));
        for _ in 0..2 {
            // The second read is served by the snapshot.
            assert_eq!(
                cache.fresh(&name).expect("cached").sid,
                RoomSid::from_u128(1)
            );
        }
        cache.evict(&name);
        assert!(cache.fresh(&name).is_none(), "evicted (404, 53118)");
        cache.put(&name, &room("Standup", 1, RoomStatus::InProgress));
        assert!(cache.fresh(&name).is_some());
        cache.put(&name, &room("Standup", 2, RoomStatus::InProgress));
        assert_eq!(
            cache.fresh(&name).expect("cached").sid,
            RoomSid::from_u128(2),
            "the newer room that took the name"
        );
        assert!(cache.evict_room(&name, &RoomSid::from_u128(2)));
        assert!(
            cache.fresh(&name).is_none(),
            "evicted by a room-ended callback"
        );
        cache.put(&name, &room("Standup", 3, RoomStatus::InProgress));
        assert!(cache.fresh(&name).is_some());
        cache.put(&name, &room("Standup", 3, RoomStatus::Completed));
        assert!(
            cache.fresh(&name).is_none(),
            "a completed room is never served"
        );

        let other = RoomCache::new(ttl, Duration::from_secs(60));
        cache.put(&name, &room("Standup", 4, RoomStatus::InProgress));
        assert!(cache.fresh(&name).is_some());
        assert!(other.fresh(&name).is_none(), "another cache's snapshot");
        other.put(&name, &room("Standup", 5, RoomStatus::InProgress));
        assert_eq!(
            other.fresh(&name).expect("cached").sid,
            RoomSid::from_u128(5)
        );
        assert_eq!(
            cache.fresh(&name).expect("cached").sid,
            RoomSid::from_u128(4)
        );
    }

    #[test]
    fn a_snapshot_entry_expires_with_the_ttl() {
        let name = RoomName::parse("Standup").expect("a valid room name");
        let cache = RoomCache::new(Duration::from_millis(50), Duration::from_secs(60));
        cache.put(&name, &room("Standup", 1, RoomStatus::InProgress));
        assert!(cache.fresh(&name).is_some());
        assert!(cache.fresh(&name).is_some(), "from the snapshot");
        std::thread::sleep(Duration::from_millis(80));
        assert!(cache.fresh(&name).is_none(), "past the TTL");
        assert!(
            cache.stale(&name).is_some(),
            "still there for stale-if-error"
        );
    }

    #[test]
    fn backoff_is_jittered_and_bounded() {
        for attempt in 0..10 {
            let wait = jittered_backoff(attempt);
            let step = Duration::from_millis(100) * 2u32.pow(attempt.min(4));
            assert!(wait >= step / 2 && wait <= step, "{attempt}: {wait:?}");
        }
    }
}
