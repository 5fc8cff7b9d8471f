//! The upstream side of [`crate::startup`], kept apart so that file stays about routes: the
//! metrics, the circuit breaker around the backend port, the room cache and the routes that
//! read them (`/metrics`, `/readyz`, `/twilio/status-callback`).

use std::sync::Arc;

use actix_web::web;
use videoroom_core::{RoomBackend, RoomService};

use crate::metrics::{Metrics, Sources};
use crate::resilience::{Breaker, GuardedBackend, RoomCache, Rooms};
use crate::settings::{BackendKind, Settings};
use crate::startup::Backend;
use crate::status_callback::{self, CallbackState};

/// What the routes share about the upstream.
#[derive(Clone)]
pub struct Upstream {
    pub metrics: Arc<Metrics>,
    pub sources: web::Data<Sources>,
    breaker: Arc<Breaker>,
    port: Arc<dyn RoomBackend>,
    /// `None` in emulator mode (its store is in-process: nothing to spare) or with
    /// `twilio.cache_ttl = 0`.
    cache: Option<Arc<RoomCache>>,
    callback: Option<web::Data<CallbackState>>,
}

impl Upstream {
    pub fn new(settings: &Settings, backend: &Backend) -> Self {
        let metrics = Arc::new(Metrics::new());
        let breaker = Arc::new(Breaker::default());
        let twilio = settings.backend == BackendKind::Twilio;
        let port: Arc<dyn RoomBackend> = Arc::new(GuardedBackend::new(
            backend.port(),
            breaker.clone(),
            metrics.clone(),
        ));
        let cache = (twilio && !settings.upstream.cache_ttl.is_zero()).then(|| {
            Arc::new(RoomCache::new(
                settings.upstream.cache_ttl,
                settings.upstream.stale_if_error,
            ))
        });
        // Settings refuse a public URL in twilio mode without an auth token; in emulator mode
        // the emulator's own token signs.
        let callback = match (
            twilio,
            settings.upstream.status_callback_url(),
            &settings.credentials.auth_token,
        ) {
            (true, Some(url), Some(auth_token)) => Some(web::Data::new(CallbackState {
                url,
                auth_token: auth_token.clone(),
                cache: cache.clone(),
            })),
            _ => None,
        };
        // An idle instance asks the upstream itself, so `/readyz` follows it without traffic.
        if twilio && !settings.upstream.idle_probe.is_zero() {
            crate::idle_probe::spawn(&port, &breaker, settings.upstream.idle_probe);
        }
        let sources = web::Data::new(Sources {
            metrics: metrics.clone(),
            breaker: breaker.clone(),
            adapter_retries: twilio.then(|| {
                Box::new(videoroom_twilio_adapter::retry::retries_total)
                    as Box<dyn Fn() -> u64 + Send + Sync>
            }),
            emulator: backend.emulator(),
        });
        Self {
            metrics,
            sources,
            breaker,
            port,
            cache,
            callback,
        }
    }

    /// The token requests' way to their room; `guard` may put more in front of the guarded
    /// port (the access control's room-creation cap).
    pub fn rooms(
        &self,
        settings: &Settings,
        guard: impl FnOnce(Arc<dyn RoomBackend>) -> Arc<dyn RoomBackend>,
    ) -> Rooms {
        let callback_url = self
            .callback
            .as_ref()
            .and_then(|_| settings.upstream.status_callback_url());
        Rooms::new(
            RoomService::new(guard(self.port.clone()), settings.room.room_type)
                .with_status_callback(callback_url),
            self.cache.clone(),
            self.breaker.clone(),
            settings.upstream.deadline,
            settings.backend == BackendKind::Twilio,
            self.metrics.clone(),
        )
    }

    /// `/metrics`, `/readyz`, and `/twilio/status-callback` when a public URL is set.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.service(web::resource("/metrics").route(web::get().to(crate::metrics::metrics)))
            .service(web::resource("/readyz").route(web::get().to(crate::resilience::readyz)));
        if let Some(callback) = &self.callback {
            status_callback::configure(callback.clone(), cfg);
        }
    }
}
