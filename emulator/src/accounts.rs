//! Several accounts in one emulator, as a multi-tenant app (or one using subaccounts) needs in
//! CI: the first account is the configured one, and each `[[accounts]]` entry of a seed file
//! adds one (see [`crate::seed`]).
//!
//! Each account has a store of its own (and its own status callbacks, signed with its own auth
//! token), so it sees only its own rooms, participants, tracks, rules, settings, composition
//! hooks and callbacks, exactly as on Twilio, and no handler can forget to filter: there is
//! nothing of another account in the store it reads. The store was written for one account
//! and keeps no account field; one store per account keeps it that way. Room, participant and
//! track SIDs are 128 random bits, so they are unique across accounts too, and a SID of
//! another account in a URL is simply unknown: 20404, as Twilio answers.
//!
//! Handlers take `web::Data<Emulator>` as before; [`resolve`], the innermost middleware of the
//! `/v1` and `/emulator` scopes, makes that the emulator as the request's account sees it (its
//! settings, its store, its callbacks), chosen by the user name of the request's HTTP Basic
//! credentials (an Account SID, or an API key SID of that account). The handler then checks the
//! password against that account as it always did, so credentials of account A act as A, and
//! a request with no or unknown credentials sees the first account and is refused (20003).

use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use parking_lot::Mutex;
use tokio::sync::mpsc::UnboundedReceiver;
use videoroom_emulator_adapter::{OffsetClock, Store, StoreEvent};

use crate::callbacks::Callbacks;
use crate::media::MediaPlane;
use crate::recordings::Recordings;
use crate::{Emulator, EmulatorSettings};

/// One account: its settings (credentials, seed), its store, its recorder and its callbacks.
pub(crate) struct Account {
    /// The emulator's settings with this account's SID, auth token, API keys and seed.
    pub(crate) settings: EmulatorSettings,
    pub(crate) store: Arc<Store>,
    pub(crate) callbacks: Arc<Callbacks>,
    /// What this account's group rooms record, through the media server all accounts share.
    pub(crate) recordings: Arc<Recordings>,
    /// The store's events, subscribed at creation so that nothing before
    /// [`Emulator::start`] is lost; taken by the first `start`.
    pub(crate) events: Mutex<Option<UnboundedReceiver<StoreEvent>>>,
}

impl Account {
    pub(crate) fn new(
        settings: EmulatorSettings,
        clock: &Arc<OffsetClock>,
        media: Option<Arc<MediaPlane>>,
    ) -> Self {
        let store = Arc::new(
            Store::with_callback_hosts(clock.clone(), settings.callbacks.hosts.clone())
                .with_retention(settings.retention),
        );
        let events = store.subscribe();
        let callbacks = Arc::new(Callbacks::new(
            settings.callbacks.clone(),
            settings.account_sid.as_str().to_owned(),
            settings.auth_token.clone(),
        ));
        let recordings = Arc::new(Recordings::new(
            Arc::clone(&store),
            media,
            settings.media.recordings_dir.clone(),
        ));
        Self {
            settings,
            store,
            callbacks,
            recordings,
            events: Mutex::new(Some(events)),
        }
    }

    /// Whether `user` (an HTTP Basic user name) names this account or one of its API keys.
    pub(crate) fn owns(&self, user: &str) -> bool {
        self.settings.account_sid.as_str() == user
            || self
                .settings
                .api_keys
                .iter()
                .any(|k| k.sid.as_str() == user)
    }
}

/// The settings of each account: `settings` itself (the first account), then one copy per
/// `[[accounts]]` entry of its seed with that account's credentials and rooms.
pub(crate) fn settings_of_each(settings: &EmulatorSettings) -> Vec<EmulatorSettings> {
    let others = settings
        .seed
        .accounts()
        .iter()
        .map(|other| EmulatorSettings {
            account_sid: other.sid.clone(),
            auth_token: other.auth_token.clone(),
            api_keys: other.api_keys.clone(),
            seed: other.seed(settings.seed.source.clone()),
            ..settings.clone()
        });
    std::iter::once(settings.clone()).chain(others).collect()
}

/// Middleware: the `web::Data<Emulator>` handlers extract becomes the emulator of the account
/// the request's credentials name (see the module doc). Without a scope's emulator, or with a
/// user name of no account, the request goes on unchanged.
pub async fn resolve(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let view = req
        .app_data::<web::Data<Emulator>>()
        .and_then(|emulator| emulator.for_user(&crate::auth::basic_user(req.request())?));
    if let Some(view) = view {
        // Containers added later are searched first, so this one wins over the scope's.
        let mut data = Extensions::new();
        data.insert(web::Data::new(view));
        req.add_data_container(Rc::new(data));
    }
    next.call(req).await
}
