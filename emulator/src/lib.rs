//! A local emulator of Twilio Video's network faces, over the in-memory store of
//! `videoroom-emulator-adapter`.
//!
//! [`Emulator`] serves Twilio's Video REST API under `/v1` (Rooms, Participants, PublishedTracks,
//! SubscribedTracks: form-encoded PascalCase requests, Twilio's JSON, paging envelope, error
//! bodies and HTTP Basic authentication), accepts the real twilio-video.js SDK at `/signaling`
//! (a WebSocket speaking the SDK's signaling subset, relaying peer-to-peer media negotiation
//! between browsers), delivers signed status callbacks, offers control routes
//! under `/emulator/...` for tests and demos (reset, clock, simulated participants, delivered
//! callbacks) and a live inspector page at `/emulator`. The official Twilio client libraries work
//! against it unchanged once their Video base URL points here.
//!
//! It deliberately does not emulate the rest of Twilio (compositions, other products) and
//! keeps nothing on disk but the recordings of group rooms' tracks (see [`recordings`]). It
//! serves the account in its [`EmulatorSettings`] and the further accounts of its seed, each
//! with a store (and a recorder) of its own ([`accounts`]). Rules about rooms live in the
//! store; this crate only translates HTTP.
//!
//! Whoever mounts it also mounts [`guard`] (the `Host` and `Origin` checks), as both binaries
//! do: the seeded credentials are public, so without it any web page could drive the emulator.
//!
//! ```no_run
//! use actix_web::middleware::from_fn;
//! use videoroom_emulator::guard::{self, AccessPolicy};
//! use videoroom_emulator::{Emulator, EmulatorSettings};
//! # async fn run() -> std::io::Result<()> {
//! let emulator = Emulator::new(EmulatorSettings::seeded());
//! emulator.start();
//! let app = emulator.clone();
//! let access = actix_web::web::Data::new(AccessPolicy::default());
//! actix_web::HttpServer::new(move || {
//!     let app = app.clone();
//!     actix_web::App::new()
//!         .app_data(access.clone())
//!         .wrap(from_fn(guard::check))
//!         .configure(move |cfg| app.configure(cfg))
//! })
//! .bind(("127.0.0.1", 3001))?
//! .run()
//! .await
//! # }
//! ```

pub mod accounts;
pub mod auth;
pub mod body;
pub mod callbacks;
mod control;
pub mod error;
pub mod faults;
mod gauges;
pub mod guard;
pub mod health;
mod inspector;
pub mod limits;
pub mod media;
pub mod paging;
pub mod params;
pub mod program_lookup;
pub mod recordings;
pub mod resources;
mod rest;
pub mod sdk;
pub mod seed;
pub mod settings;
pub mod signaling;
pub mod telemetry;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use parking_lot::Mutex;
use videoroom_core::clock::Clock;
use videoroom_core::RoomBackend;
use videoroom_emulator_adapter::{EmulatorBackend, OffsetClock, Store};

pub use callbacks::{Delivery, DeliveryState};
pub use error::ApiError;
pub use settings::{CallbackSettings, EmulatorSettings, SettingsError};

/// How often the lifecycle ticker applies due timeouts. The store also applies them lazily on
/// every call, so this only decides how soon `room-ended` callbacks go out for idle rooms.
const TICK_INTERVAL: Duration = Duration::from_secs(1);

/// How far the emulator's clock may run ahead of the real one: ten years. Every timestamp then
/// stays a date Twilio writes (four-digit years) and every timeout still has room to fire; an
/// offset that reached year 9999 saturated the timestamp arithmetic and stopped every timer
/// until restart.
pub const MAX_CLOCK_OFFSET: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A clock advance refused because it would take the clock past [`MAX_CLOCK_OFFSET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the emulator's clock may run at most {} seconds ahead of the real clock and is already {} \
     seconds ahead, so it can move at most {} more; restart the emulator to start again from the \
     real time",
    MAX_CLOCK_OFFSET.as_secs(),
    .offset.as_secs(),
    MAX_CLOCK_OFFSET.saturating_sub(*.offset).as_secs()
)]
pub struct ClockLimit {
    /// How far ahead the clock already is.
    pub offset: Duration,
}

/// The emulated Twilio accounts: their stores, the HTTP routes and the background tasks.
/// Cloning is cheap and every clone is the same emulator. A value is the emulator as one
/// account sees it ([`Emulator::settings`], [`Emulator::store`] and [`Emulator::deliveries`]
/// are that account's): the first account's from [`Emulator::new`], another's from
/// [`Emulator::account`].
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
    account: Arc<accounts::Account>,
}

struct Inner {
    /// Every account, the first (configured) one first.
    accounts: Vec<Arc<accounts::Account>>,
    clock: Arc<OffsetClock>,
    /// The `/signaling` endpoint, one per emulator so that every HTTP worker shares its rooms.
    signaling: signaling::Signaling,
    /// The media server of group rooms; `None` in mesh mode.
    media: Option<Arc<media::MediaPlane>>,
    started: AtomicBool,
    /// Held while the clock is checked against its cap and moved, so that two concurrent
    /// advances cannot both pass the check.
    advancing: Mutex<()>,
    /// Faults injected on the REST face (see [`faults`]).
    faults: faults::Faults,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("settings", &self.account.settings)
            .field("store", &self.account.store)
            .finish()
    }
}

impl Emulator {
    /// An emulator with an empty store on the system clock (movable forward with
    /// `POST /emulator/clock/advance`). Nothing runs until [`Emulator::start`].
    pub fn new(settings: EmulatorSettings) -> Self {
        let clock = Arc::new(OffsetClock::new());
        // One media server for every account: media is keyed by room and participant SIDs,
        // which are unique across accounts.
        let media = media::MediaPlane::for_settings(&settings.media);
        let accounts: Vec<Arc<accounts::Account>> = accounts::settings_of_each(&settings)
            .into_iter()
            .map(|settings| Arc::new(accounts::Account::new(settings, &clock, media.clone())))
            .collect();
        let each = |account: &Arc<accounts::Account>| {
            (
                Arc::clone(&account.store),
                account.settings.api_keys.clone(),
            )
        };
        let signaling = signaling::Signaling::for_accounts(
            each(&accounts[0]),
            accounts[1..].iter().map(each).collect(),
            signaling::SignalingOptions {
                ad_hoc_rooms: settings.ad_hoc_rooms,
                media: media.clone(),
                ..signaling::SignalingOptions::default()
            },
        );
        let account = Arc::clone(&accounts[0]);
        Self {
            inner: Arc::new(Inner {
                accounts,
                clock,
                signaling,
                media,
                started: AtomicBool::new(false),
                advancing: Mutex::new(()),
                faults: faults::Faults::default(),
            }),
            account,
        }
    }

    /// The emulator as the account `sid` (an Account SID) sees it, if it serves that account.
    pub fn account(&self, sid: &str) -> Option<Emulator> {
        let account = self
            .inner
            .accounts
            .iter()
            .find(|a| a.settings.account_sid.as_str() == sid)?;
        Some(self.with_account(account))
    }

    fn with_account(&self, account: &Arc<accounts::Account>) -> Emulator {
        Self {
            inner: Arc::clone(&self.inner),
            account: Arc::clone(account),
        }
    }

    /// The SIDs of the accounts the emulator serves, the first (configured) one first.
    pub fn account_sids(&self) -> Vec<String> {
        self.inner
            .accounts
            .iter()
            .map(|a| a.settings.account_sid.as_str().to_owned())
            .collect()
    }

    /// The emulator as the account that `user` (an Account SID or an API key SID) names sees
    /// it; see [`accounts::resolve`].
    pub(crate) fn for_user(&self, user: &str) -> Option<Emulator> {
        let account = self.inner.accounts.iter().find(|a| a.owns(user))?;
        Some(self.with_account(account))
    }

    /// The settings the emulator runs with, with this account's credentials and seed.
    pub fn settings(&self) -> &EmulatorSettings {
        &self.account.settings
    }

    /// This account's store: the single source of truth for its rooms, participants and tracks.
    pub fn store(&self) -> Arc<Store> {
        Arc::clone(&self.account.store)
    }

    /// The time the emulator runs on (the system clock plus what the control route advanced).
    /// Whoever mints tokens for this emulator reads this clock, so that tokens and the
    /// signaling that checks them agree on "now" after the clock was moved.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    /// The emulator's movable clock itself, for the control routes and the inspector (which
    /// show its offset) and for tests that move it without applying what became due.
    pub fn offset_clock(&self) -> Arc<OffsetClock> {
        Arc::clone(&self.inner.clock)
    }

    /// The token service's port over this emulator's store.
    pub fn backend(&self) -> Arc<dyn RoomBackend> {
        Arc::new(EmulatorBackend::new(self.store()))
    }

    /// The media server's UDP addresses (bound now if they were not yet), for a banner; `None`
    /// in mesh mode, an error naming the settings to change when one cannot bind.
    pub fn media_addrs(&self) -> Option<Result<Vec<std::net::SocketAddr>, String>> {
        self.inner.media.as_ref().map(|plane| plane.local_addrs())
    }

    /// The media server, for the inspector; `None` in mesh mode.
    pub fn media_plane(&self) -> Option<Arc<media::MediaPlane>> {
        self.inner.media.clone()
    }

    /// This account's recorder of group rooms' tracks.
    pub fn recordings(&self) -> Arc<recordings::Recordings> {
        Arc::clone(&self.account.recordings)
    }

    /// Every status callback delivery of this account remembered, oldest first, with its
    /// outcome.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.account.callbacks.deliveries()
    }

    /// Mounts the emulator's routes: `/v1/...` (Twilio's REST API), `/emulator/...` (control
    /// routes and the inspector) and `/signaling` (the WebSocket twilio-video.js connects to).
    /// Each face is one call below, so the standalone binary and `videoroom` mount the same set.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        rest::configure(self, cfg);
        rest::configure_media_downloads(self, cfg);
        control::configure(self, cfg);
        self.inner.signaling.configure(cfg);
    }

    /// Spawns the background tasks on the current tokio (or actix) runtime: the lifecycle
    /// ticker (every second, applies timeouts) and status callback delivery. Later calls do
    /// nothing. Called outside a runtime, it logs an error and starts nothing.
    pub fn start(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::error!(
                "Emulator::start must be called inside a tokio runtime; nothing started"
            );
            return;
        }
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let accounts = self.inner.accounts.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(TICK_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                for account in &accounts {
                    account.store.tick();
                    account.recordings.poll();
                }
            }
        });

        self.inner.signaling.start();
        for account in &self.inner.accounts {
            if let Some(mut events) = account.events.lock().take() {
                let callbacks = Arc::clone(&account.callbacks);
                let recordings = Arc::clone(&account.recordings);
                tokio::spawn(async move {
                    while let Some(event) = events.recv().await {
                        recordings.on_event(&event);
                        callbacks.enqueue(&event);
                    }
                });
            }
        }
    }

    /// Resets the emulator, every account of it: every room, participant and track, and the
    /// callback logs; then the seed's rooms (if any) are created again.
    pub fn reset(&self) {
        for account in &self.inner.accounts {
            account.store.reset();
            account.recordings.poll();
            account.callbacks.clear();
        }
        // The seed was applied to empty stores when the emulator started, so applying it to
        // the empty stores again does the same; a failure here would be a bug, reported loudly.
        if let Err(err) = self.apply_seed() {
            tracing::error!(error = %err, "the seed could not be applied again after a reset");
        }
    }

    /// Creates the seed's rooms, participants and tracks ([`EmulatorSettings::seed`]) in the
    /// store of the account each belongs to; the standalone binary calls it once before
    /// serving, [`Emulator::reset`] after every reset. Returns how many rooms it created.
    pub fn apply_seed(&self) -> Result<usize, seed::SeedError> {
        let mut created = 0;
        for account in &self.inner.accounts {
            created += account.settings.seed.apply(&account.store)?;
        }
        Ok(created)
    }

    /// Moves the emulator's clock forward and applies whatever became due. Refused, with the
    /// clock unchanged, when the clock would end up more than [`MAX_CLOCK_OFFSET`] ahead.
    pub fn advance_clock(
        &self,
        by: Duration,
    ) -> Result<videoroom_emulator_adapter::TickReport, ClockLimit> {
        {
            let _advancing = self.inner.advancing.lock();
            let offset = self.inner.clock.offset();
            if offset.saturating_add(by) > MAX_CLOCK_OFFSET {
                return Err(ClockLimit { offset });
            }
            self.inner.clock.advance(by);
        }
        // Every account's store runs on the one clock; the report is this account's.
        let mut report = None;
        for account in &self.inner.accounts {
            let tick = account.store.tick();
            if Arc::ptr_eq(account, &self.account) {
                report = Some(tick);
            }
        }
        Ok(report.expect("an emulator's account is one of its accounts"))
    }
}
