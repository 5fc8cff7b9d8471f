//! The signaling endpoint `/signaling`: the WebSocket server that the real, unmodified
//! twilio-video.js 2.x SDK connects to when `Twilio.Video.connect` is given
//! `wsServer: "ws://<emulator>/signaling"`.
//!
//! It speaks the transport handshake (hello/welcome, heartbeats both ways, bye) and the room
//! messages of peer-to-peer rooms: `ice`/`iced` (an empty ICE server list), `connect`/`connected`,
//! `update` (participants, published and subscribed tracks, peer-connection descriptions and ICE
//! relayed by id, `create-offer` so that every pair of participants gets one peer connection: a
//! full mesh), `disconnect`, `error` and `disconnected`. Tokens are verified with the emulator's
//! API keys; rooms, participants and tracks live in the [`Store`], so they show in the REST API
//! and fire status callbacks, and changes made over REST (completing a room, removing a
//! participant) reach the clients through the store's event stream.
//!
//! In peer-to-peer and go rooms it never looks inside SDP or ICE and relays no media (browsers
//! talk to each other directly). Group rooms go through the emulator's media server when one is
//! configured (`SignalingOptions::media`): each client's one peer connection is negotiated with
//! it (see `media.rs`). It does not resume sessions (`sync`): a client whose socket drops is
//! disconnected at once and told so if it tries to resume.

mod connection;
mod hub;
mod hubs;
mod media;
pub mod protocol;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use parking_lot::Mutex;
use tokio::sync::mpsc::UnboundedReceiver;
use videoroom_core::token::{ApiKey, TokenVerifier};
use videoroom_emulator_adapter::{CreateRoom, Store, StoreEvent};

pub use connection::close as close_codes;
use hub::{Hub, HubSettings};
use hubs::Hubs;

/// How the signaling endpoint behaves. [`Default`] is what a Twilio account does, with limits
/// generous for real clients and tight for broken ones.
#[derive(Debug, Clone)]
pub struct SignalingOptions {
    /// Whether connecting to a room name that has no in-progress room creates it (Twilio's
    /// "client-side room creation"). Off: such a connect fails with 53106.
    pub ad_hoc_rooms: bool,
    /// Template of rooms created ad hoc (type, caps…); its unique name is replaced.
    pub ad_hoc_template: CreateRoom,
    /// Upper bound of the negotiated heartbeat timeout (the SDK asks for 5 s).
    pub max_heartbeat: Duration,
    /// Lower bound of the negotiated heartbeat timeout, so a client cannot make the server
    /// send heartbeats in a tight loop.
    pub min_heartbeat: Duration,
    /// A client that sends nothing for three negotiated heartbeat timeouts is closed (3001), but
    /// never before this much silence: a browser throttles the timers of a tab hidden for a
    /// while to about one wake-up per minute, and a workshop attendee's second tab must not be
    /// dropped for that. A socket that really dies on loopback is closed by the OS at once.
    pub min_silence: Duration,
    /// How long a new socket may stay silent before its hello.
    pub hello_timeout: Duration,
    /// Largest frame accepted, bytes (an SDP offer is about 10 KB).
    pub max_frame_bytes: usize,
    /// Frames queued for one client before it counts as not reading and is disconnected.
    pub outgoing_queue: usize,
    /// Bytes queued for one client before it counts as not reading and is disconnected, so that
    /// large frames cannot pile up to `outgoing_queue` of them. At least one largest frame.
    pub outgoing_queue_bytes: usize,
    /// Bytes one client's updates may make the server queue for the other members at once…
    pub fanout_burst_bytes: usize,
    /// …and per second after that, before it is disconnected (1008) for making the server send
    /// too much. A participant's state goes to every other member, so without this one client
    /// could turn each frame it sends into one for everybody.
    pub fanout_bytes_per_second: usize,
    /// How long one frame may take to hand to the socket before the client counts as gone.
    pub send_timeout: Duration,
    /// Frames a client may send at once…
    pub flood_burst: u32,
    /// …and per second after that, before it is disconnected for flooding.
    pub flood_per_second: u32,
    /// `options.session_timeout` in `connected`, seconds.
    pub session_timeout_secs: u64,
    /// The media server group rooms go through; `None` serves them as a mesh, as
    /// peer-to-peer rooms always are.
    pub media: Option<Arc<crate::media::MediaPlane>>,
}

impl Default for SignalingOptions {
    fn default() -> Self {
        Self {
            ad_hoc_rooms: true,
            ad_hoc_template: CreateRoom::default(),
            max_heartbeat: Duration::from_secs(5),
            min_heartbeat: Duration::from_secs(1),
            min_silence: Duration::from_secs(75),
            hello_timeout: Duration::from_secs(10),
            max_frame_bytes: 256 * 1024,
            outgoing_queue: 256,
            outgoing_queue_bytes: 1024 * 1024,
            fanout_burst_bytes: 8 * 1024 * 1024,
            fanout_bytes_per_second: 2 * 1024 * 1024,
            send_timeout: Duration::from_secs(5),
            flood_burst: 300,
            flood_per_second: 100,
            session_timeout_secs: 30,
            media: None,
        }
    }
}

/// A hub and the events of its store, until [`Signaling::start`] joins them.
type HubEvents = (Arc<Hub>, UnboundedReceiver<StoreEvent>);

/// The signaling endpoint. Cheap to clone; all clones share the same hubs (one per account).
#[derive(Clone, Debug)]
pub struct Signaling {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    hubs: Hubs,
    options: SignalingOptions,
    /// Each hub's store events, subscribed at construction so that no store event is missed
    /// before [`Signaling::start`].
    events: Mutex<Option<Vec<HubEvents>>>,
    started: AtomicBool,
    next_connection: AtomicU64,
    /// Connection tasks still running, joined or not: each holds its socket and its queue.
    open: Arc<AtomicUsize>,
}

impl Signaling {
    /// A signaling endpoint over `store`, accepting tokens that `verifier` accepts.
    pub fn new(store: Arc<Store>, verifier: TokenVerifier, options: SignalingOptions) -> Self {
        Self::build(vec![(store, verifier, Vec::new())], options)
    }

    /// A signaling endpoint for several accounts, each given as its store and its API keys:
    /// a client joins the rooms of the account whose key signed its token (see `hubs.rs`).
    /// `first` also answers tokens of no known key, refusing them.
    pub fn for_accounts(
        first: (Arc<Store>, Vec<ApiKey>),
        others: Vec<(Arc<Store>, Vec<ApiKey>)>,
        options: SignalingOptions,
    ) -> Self {
        let accounts = std::iter::once(first)
            .chain(others)
            .map(|(store, keys)| {
                let sids = keys.iter().map(|k| k.sid.as_str().to_owned()).collect();
                (store, TokenVerifier::new(keys), sids)
            })
            .collect();
        Self::build(accounts, options)
    }

    fn build(
        accounts: Vec<(Arc<Store>, TokenVerifier, Vec<String>)>,
        options: SignalingOptions,
    ) -> Self {
        let settings = HubSettings {
            ad_hoc_template: options
                .ad_hoc_rooms
                .then(|| options.ad_hoc_template.clone()),
            session_timeout_secs: options.session_timeout_secs,
            media: options.media.clone(),
        };
        let mut hubs = Vec::new();
        let mut keys = Vec::new();
        let mut events = Vec::new();
        for (store, verifier, sids) in accounts {
            let receiver = store.subscribe();
            let hub = Arc::new(Hub::new(store, verifier, settings.clone()));
            events.push((Arc::clone(&hub), receiver));
            hubs.push(hub);
            keys.push(sids);
        }
        Self {
            inner: Arc::new(Inner {
                hubs: Hubs::new(hubs, keys),
                options,
                events: Mutex::new(Some(events)),
                started: AtomicBool::new(false),
                next_connection: AtomicU64::new(1),
                open: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }

    /// Mounts `GET /signaling`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let signaling = self.clone();
        cfg.route(
            "/signaling",
            web::get().to(move |req: HttpRequest, body: web::Payload| {
                let signaling = signaling.clone();
                async move { signaling.upgrade(&req, body) }
            }),
        );
    }

    /// Starts the task that applies REST-side changes (room completed, participant removed) to
    /// the connected clients. Idempotent. Outside a tokio runtime it logs an error and does
    /// nothing; the first WebSocket connection starts it too, so no event is ever lost.
    pub fn start(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::error!("Signaling::start must be called inside a tokio runtime; the first WebSocket connection will start it");
            return;
        }
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(events) = self.inner.events.lock().take() else {
            return;
        };
        for (hub, mut events) in events {
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    hub.on_store_event(&event);
                }
            });
        }
    }

    /// A participant's subscribe rules changed (REST): its client and the media server
    /// follow them. Room SIDs are unique across accounts, so only the hub of the room's
    /// account finds it; the others have nothing to do.
    pub fn subscriptions_changed(
        &self,
        room: &videoroom_core::RoomSid,
        participant: &videoroom_core::ParticipantSid,
    ) {
        for hub in self.inner.hubs.all() {
            hub.subscriptions_changed(room, participant);
        }
    }

    /// Participants connected over signaling right now, all rooms (of every account) together.
    pub fn connected_count(&self) -> usize {
        self.inner
            .hubs
            .all()
            .iter()
            .map(|hub| hub.connected_count())
            .sum()
    }

    /// WebSocket connections whose task is still running, joined or not. A client the server
    /// dropped (for not reading, flooding, a bad frame) leaves this count within the close
    /// timeout, whatever that client does.
    pub fn open_connections(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }

    fn upgrade(
        &self,
        req: &HttpRequest,
        body: web::Payload,
    ) -> Result<HttpResponse, actix_web::Error> {
        self.start();
        let (response, session, stream) = actix_ws::handle(req, body)?;
        let id = self.inner.next_connection.fetch_add(1, Ordering::Relaxed);
        let open = OpenConnection::count(&self.inner.open);
        let task = connection::run(
            self.inner.hubs.clone(),
            self.inner.options.clone(),
            id,
            session,
            stream,
        );
        actix_web::rt::spawn(async move {
            task.await;
            drop(open);
        });
        Ok(response)
    }
}

/// How long data the server sends may sit unacknowledged, or unsent behind a peer's closed
/// receive window, before the kernel gives the connection up (`TCP_USER_TIMEOUT`).
///
/// A client that stops reading is dropped by its connection task within
/// [`SignalingOptions::send_timeout`], but the socket itself belongs to actix-web, which waits
/// for the peer to take the bytes already written before it closes: a client that never reads
/// would keep it, and what is buffered for it, for as long as it likes. A live browser
/// acknowledges within milliseconds, even in a throttled background tab (its network process
/// keeps reading), so this only ever ends connections that are already dead or hostile.
pub const UNREAD_DATA_TIMEOUT: Duration = Duration::from_secs(15);

/// Register with `HttpServer::on_connect`: applies [`UNREAD_DATA_TIMEOUT`] to each accepted TCP
/// connection (on Linux; elsewhere the option does not exist and nothing is set), so that the
/// socket of a client that stops reading is closed and its buffers freed.
pub fn on_connect(connection: &dyn std::any::Any, _data: &mut actix_web::dev::Extensions) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        if let Err(err) =
            socket2::SockRef::from(stream).set_tcp_user_timeout(Some(UNREAD_DATA_TIMEOUT))
        {
            tracing::debug!(error = %err, "cannot set TCP_USER_TIMEOUT on an accepted connection");
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = connection;
}

/// One running connection task in [`Signaling::open_connections`], uncounted when dropped (so a
/// task that panics is uncounted too).
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn count(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        Self(open.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
