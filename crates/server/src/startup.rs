//! Building and running the HTTP application.
//!
//! [`Application::build`] picks the backend from the settings, binds the listener (port 0 picks
//! a free one; [`Application::port`] tells which) and assembles the routes. Nothing here reads
//! the environment: everything comes from [`Settings`].

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer, ResponseError as _};
use videoroom_core::clock::{Clock, SystemClock};
use videoroom_core::RoomBackend;
use videoroom_emulator::limits::{self, OverLimit, PerClient};
use videoroom_emulator::{guard, Emulator, EmulatorSettings};
use videoroom_twilio_adapter::TwilioAdapter;

use crate::access::{self, Access};
use crate::error::ApiError;
use crate::settings::{BackendKind, Settings};
use crate::telemetry;
use crate::video_token::{self, TokenState};
use crate::workshop::Workshop;

/// How long a stopping server waits for in-flight requests before closing them. Short, so a
/// Ctrl-C in a workshop is not held up by an open WebSocket.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where rooms live.
#[derive(Clone)]
pub enum Backend {
    /// The built-in emulator: its store holds the rooms, and its REST, control and signaling
    /// routes are served on this server's port.
    Emulator(Emulator),
    /// Any implementation of the port: the Twilio adapter, or a test double.
    Port(Arc<dyn RoomBackend>),
}

impl Backend {
    /// The backend the settings ask for.
    pub fn for_settings(settings: &Settings) -> anyhow::Result<Self> {
        match settings.backend {
            BackendKind::Emulator => Ok(Backend::Emulator(Emulator::new(emulator_settings(
                settings,
            )))),
            BackendKind::Twilio => {
                let config = settings.twilio_config().map_err(anyhow::Error::msg)?;
                let adapter = TwilioAdapter::new(config)?;
                Ok(Backend::Port(Arc::new(adapter)))
            }
        }
    }

    pub(crate) fn port(&self) -> Arc<dyn RoomBackend> {
        match self {
            Backend::Emulator(emulator) => emulator.backend(),
            Backend::Port(port) => Arc::clone(port),
        }
    }

    pub(crate) fn emulator(&self) -> Option<Emulator> {
        match self {
            Backend::Emulator(emulator) => Some(emulator.clone()),
            Backend::Port(_) => None,
        }
    }
}

/// The emulator's account is this server's: tokens minted here verify there, and official
/// client libraries authenticate with the same values.
pub fn emulator_settings(settings: &Settings) -> EmulatorSettings {
    let seeded = EmulatorSettings::seeded();
    let credentials = &settings.credentials;
    EmulatorSettings {
        account_sid: credentials.account_sid.clone(),
        auth_token: credentials
            .auth_token
            .clone()
            .unwrap_or_else(|| seeded.auth_token.clone()),
        api_keys: vec![credentials.api_key()],
        ad_hoc_rooms: settings.ad_hoc_rooms,
        media: media_settings(settings, &crate::tls::machine_addresses()),
        callbacks: videoroom_emulator::CallbackSettings {
            hosts: settings.callback_hosts.clone(),
            ..seeded.callbacks.clone()
        },
        ..seeded
    }
}

/// The media server's settings for this listener. Bound to all interfaces (`--lan`, or
/// `--host 0.0.0.0`) with no `media.advertise`, it advertises every LAN IPv4 address of the
/// machine (`lan_addresses`: phones reach it on the venue's network, whichever interface that
/// is) and 127.0.0.1 (a browser on this machine does not use a LAN address to reach itself
/// unless it must), one socket each; with no LAN address, loopback alone. Listing the
/// interfaces sends nothing anywhere.
pub(crate) fn media_settings(
    settings: &Settings,
    lan_addresses: &[std::net::IpAddr],
) -> videoroom_emulator::media::MediaSettings {
    let mut media = settings.media.clone();
    if media.advertise.is_empty() && settings.host.is_unspecified() {
        media.advertise = lan_addresses
            .iter()
            .copied()
            .filter(|ip| ip.is_ipv4() && !ip.is_loopback() && !ip.is_unspecified())
            .chain([std::net::IpAddr::from([127, 0, 0, 1])])
            .collect();
        media.advertise.dedup();
    }
    media.for_host(settings.host)
}

#[cfg(test)]
mod media_tests {
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    use super::media_settings;
    use crate::settings::{Settings, Sources};

    fn settings(env: &[(&str, &str)]) -> Settings {
        Sources {
            config_file: None,
            dotenv_file: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            overrides: Default::default(),
        }
        .load()
        .expect("valid settings")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a test address")
    }

    #[test]
    fn on_all_interfaces_group_media_is_advertised_on_every_lan_ipv4_address_and_loopback() {
        let lan = [
            ip("fd00::23"),
            ip("192.168.1.23"),
            ip("127.0.0.1"),
            ip("10.0.0.5"),
        ];
        let all = settings(&[("VIDEOROOM_HOST", "0.0.0.0")]);
        assert_eq!(
            media_settings(&all, &lan).advertise,
            [ip("192.168.1.23"), ip("10.0.0.5"), ip("127.0.0.1")]
        );
        // No LAN address at all (a machine offline): loopback, as before.
        assert_eq!(media_settings(&all, &[]).advertise, [ip("127.0.0.1")]);
        // Configured addresses always win, and a concrete host is its own address.
        let configured = settings(&[
            ("VIDEOROOM_HOST", "0.0.0.0"),
            ("VIDEOROOM_MEDIA_ADVERTISE", "10.0.0.5, 127.0.0.2"),
        ]);
        assert_eq!(
            media_settings(&configured, &lan).advertise,
            [ip("10.0.0.5"), ip("127.0.0.2")]
        );
        let loopback = settings(&[("VIDEOROOM_HOST", "127.0.0.1")]);
        assert_eq!(media_settings(&loopback, &lan).advertise, [ip("127.0.0.1")]);
    }
}

/// A bound, ready-to-run HTTP server.
pub struct Application {
    port: u16,
    server: Server,
    /// HTTPS: the certificate served, and the plain-HTTP redirect if asked for.
    lan: crate::lan::Listening,
    /// The media server's UDP addresses, in emulator mode with group rooms through it.
    media: Vec<std::net::SocketAddr>,
}

impl Application {
    /// Builds the application with the backend the settings name.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let backend = Backend::for_settings(&settings)?;
        Self::build_with_backend(settings, backend).await
    }

    /// Builds the application over a given backend (tests pass doubles here).
    pub async fn build_with_backend(settings: Settings, backend: Backend) -> anyhow::Result<Self> {
        access::check_exposure(&settings)?;
        let listener = TcpListener::bind((settings.host, settings.port)).map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}:{}: {e}; choose another port with --port or PORT (0 picks a free one)",
                settings.host,
                settings.port
            )
        })?;
        let port = listener.local_addr()?.port();
        // The certificate is read or made before anything starts, so a bad file stops the
        // start-up with its name rather than failing every connection later.
        let tls = crate::lan::certificate(&settings)?;

        let emulator = backend.emulator();
        let clock: Arc<dyn Clock> = match &emulator {
            Some(emulator) => emulator.clock(),
            None => Arc::new(SystemClock),
        };
        let access_control = Access::new(&settings.access);
        let upstream = crate::startup_upstream::Upstream::new(&settings, &backend);
        let tokens = web::Data::new(TokenState {
            // The room-creation cap counts the creations that reach the (guarded) upstream.
            rooms: upstream.rooms(&settings, |port| access_control.guard_backend(port)),
            metrics: upstream.metrics.clone(),
            signer: settings.token_signer()?,
            room: settings.room.clone(),
            clock,
            access: access_control,
        });
        let health = web::Data::new(Health {
            backend: settings.backend,
        });
        if let Some(emulator) = &emulator {
            emulator.start();
        }
        // Bound before listening, so a media address that cannot be bound stops the start-up
        // with the settings to change, and the banner can show where media goes.
        let media = match emulator.as_ref().and_then(Emulator::media_addrs) {
            Some(Ok(addrs)) => addrs,
            Some(Err(err)) => anyhow::bail!(
                "{err}; set media.advertise (VIDEOROOM_MEDIA_ADVERTISE) or media.udp_port \
                 (VIDEOROOM_MEDIA_UDP_PORT), or media.mode = mesh"
            ),
            None => Vec::new(),
        };
        // The attendees' page and the twilio-video.js it loads: served locally with the
        // emulator, from Twilio's CDN otherwise (see `workshop.rs`).
        let workshop = Workshop::new(settings.workshop_page(), emulator.is_some(), &settings.sdk);
        workshop.start();
        // Host and Origin checks on every route, in both modes (a rebound page could mint
        // tokens against real Twilio too); see `videoroom_emulator::guard`.
        let access = web::Data::new(settings.access_policy());
        let access_for_redirect = access.clone();

        // One set of counters for every worker: a client's connections are counted wherever
        // they land.
        let per_client = PerClient::with_refusal(settings.limits, refuse_over_limit);
        let cors = !settings.allowed_origins.is_empty();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(access.clone())
                .app_data(per_client.clone())
                .wrap(from_fn(guard::check))
                .wrap(from_fn(limits::limit_per_client))
                .wrap(from_fn(telemetry::echo_request_id))
                .wrap(telemetry::request_logging())
                .wrap(from_fn(crate::metrics::record))
                .app_data(upstream.sources.clone())
                .configure(|cfg| upstream.configure(cfg))
                .app_data(tokens.clone())
                .app_data(health.clone())
                .app_data(extractor_errors::json())
                .app_data(extractor_errors::form())
                .app_data(extractor_errors::query())
                .app_data(extractor_errors::path())
                .service(
                    access::with_cors(
                        web::resource("/video-token")
                            .wrap(from_fn(guard::cors))
                            .route(web::get().to(video_token::get))
                            .route(web::post().to(video_token::post)),
                        cors,
                    )
                    .default_service(web::to(token_method_not_allowed)),
                )
                .service(
                    web::resource("/healthz")
                        .route(web::get().to(healthz))
                        .default_service(web::to(health_method_not_allowed)),
                )
                // In emulator mode, the emulator's REST (/v1), control and inspector
                // (/emulator) and signaling (/signaling) routes share this port.
                .configure(|cfg| {
                    if let Some(emulator) = &emulator {
                        emulator.configure(cfg);
                    }
                })
                .configure(|cfg| workshop.configure(cfg))
                .default_service(web::to(not_found))
        })
        // Sockets of clients that stop reading are closed by the kernel (see the function).
        .on_connect(crate::lan::on_connect);
        let server = match &tls {
            Some(served) => server.listen_rustls_0_23(listener, served.config.clone())?,
            None => server.listen(listener)?,
        }
        .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs())
        .shutdown_signal(shutdown_signal())
        .run();
        let lan = crate::lan::Listening::start(&settings, port, tls, access_for_redirect)?;
        Ok(Self {
            port,
            server,
            lan,
            media,
        })
    }

    /// The port actually bound (useful when the settings asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the server listens with besides its port: the certificate's fingerprint and the
    /// plain-HTTP redirect port, when HTTPS is on.
    pub fn listening(&self) -> &crate::lan::Listening {
        &self.lan
    }

    /// The media server's UDP addresses, when group rooms go through it (else empty).
    pub fn media_addrs(&self) -> &[std::net::SocketAddr] {
        &self.media
    }

    /// A handle to stop the server (gracefully or not) from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped by SIGINT/SIGTERM or a [`ServerHandle`]; in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.lan.run_beside(self.server).await
    }
}

/// A client over its connection cap: in Twilio's format on the emulator's surfaces (`/v1`,
/// `/emulator`, `/signaling`), as every other error of theirs; in ours elsewhere.
fn refuse_over_limit(req: &HttpRequest, over: OverLimit) -> HttpResponse {
    let path = req.path();
    let twilio_surface = over.kind == limits::Kind::Signaling
        || path == "/v1"
        || path.starts_with("/v1/")
        || path == "/emulator"
        || path.starts_with("/emulator/");
    if twilio_surface {
        over.twilio_response()
    } else {
        ApiError::TooManyRequests { limit: over.limit }.error_response()
    }
}

struct Health {
    backend: BackendKind,
}

async fn healthz(health: web::Data<Health>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "backend": health.backend.as_str(),
    }))
}

async fn token_method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed {
        method: shown_method(&req),
        allow: "GET, POST",
    })
}

async fn health_method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed {
        method: shown_method(&req),
        allow: "GET",
    })
}

fn shown_method(req: &HttpRequest) -> String {
    req.method().as_str().chars().take(20).collect()
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path: String = req
        .path()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    Err(ApiError::NotFound(path))
}

/// A future that resolves on SIGINT (Ctrl-C) or SIGTERM. actix's own handling stops abruptly
/// on SIGINT; here both signals start a graceful stop, so in-flight requests finish.
///
/// The handlers are installed when this function is called, not when the future is first
/// polled, so a signal that arrives right after the banner is printed is not lost (nor fatal).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (interrupt, terminate) => {
                    tracing::warn!(
                        interrupt = interrupt.is_ok(),
                        terminate = terminate.is_ok(),
                        "cannot listen for both SIGINT and SIGTERM; falling back to Ctrl-C only"
                    );
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("stopping: finishing in-flight requests");
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("stopping: finishing in-flight requests");
        }
    }
}

/// Error handlers for actix's own extractors, so any route that uses them (now or later)
/// answers malformed input with our JSON error instead of actix's plain-text 400.
mod extractor_errors {
    use actix_web::error::{
        Error, JsonPayloadError, PathError, QueryPayloadError, UrlencodedError,
    };
    use actix_web::{web, HttpRequest};

    use crate::error::ApiError;

    pub fn json() -> web::JsonConfig {
        web::JsonConfig::default()
            .limit(crate::error::MAX_BODY_BYTES)
            .error_handler(|e: JsonPayloadError, _: &HttpRequest| -> Error {
                match e {
                    JsonPayloadError::OverflowKnownLength { .. }
                    | JsonPayloadError::Overflow { .. } => ApiError::PayloadTooLarge.into(),
                    JsonPayloadError::ContentType => {
                        ApiError::UnsupportedMediaType("(expected application/json)".into()).into()
                    }
                    other => {
                        ApiError::MalformedBody(format!("the JSON body is invalid: {other}")).into()
                    }
                }
            })
    }

    pub fn form() -> web::FormConfig {
        web::FormConfig::default()
            .limit(crate::error::MAX_BODY_BYTES)
            .error_handler(|e: UrlencodedError, _: &HttpRequest| -> Error {
                match e {
                    UrlencodedError::Overflow { .. } | UrlencodedError::UnknownLength => {
                        ApiError::PayloadTooLarge.into()
                    }
                    UrlencodedError::ContentType => ApiError::UnsupportedMediaType(
                        "(expected application/x-www-form-urlencoded)".into(),
                    )
                    .into(),
                    other => {
                        ApiError::MalformedBody(format!("the form body is invalid: {other}")).into()
                    }
                }
            })
    }

    pub fn query() -> web::QueryConfig {
        web::QueryConfig::default().error_handler(
            |e: QueryPayloadError, _: &HttpRequest| -> Error {
                ApiError::MalformedBody(format!("the query string is invalid: {e}")).into()
            },
        )
    }

    pub fn path() -> web::PathConfig {
        web::PathConfig::default().error_handler(|e: PathError, _: &HttpRequest| -> Error {
            ApiError::MalformedBody(format!("the path is invalid: {e}")).into()
        })
    }
}
