//! Shared test helpers: start the real application on a free port and talk HTTP to it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{json, Value};
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_core::token::{decode_unverified, ApiKey, TokenVerifier, VerifiedToken};
use videoroom_core::{
    AccountSid, ApiKeySid, BackendError, Room, RoomBackend, RoomKey, RoomPage, RoomQuery, RoomSpec,
};
use videoroom_emulator::{Emulator, EmulatorSettings};
use videoroom_server::settings::Overrides;
use videoroom_server::{Application, Backend, Settings};

/// A running application and a client for it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    /// Counts the calls that reached the backend (when the app runs over [`CountingBackend`]).
    pub backend: Option<Arc<CountingBackend>>,
    handle: ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent at once; there is no need to wait for it to complete.
        drop(self.handle.stop(false));
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(self.url(path_and_query))
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn post_json(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/video-token"))
            .json(body)
            .send()
            .await
            .expect("the server answers")
    }

    pub async fn post_form(&self, body: &str) -> reqwest::Response {
        self.client
            .post(self.url("/video-token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .expect("the server answers")
    }

    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Runs a built application in the background and returns a client for it.
    pub fn from_application(app: Application) -> Self {
        let port = app.port();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: client(),
            backend: None,
            handle,
        }
    }
}

/// A client that never uses a proxy: tests talk to loopback only.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}

/// Test settings: the defaults on a free port, plus `overrides`.
pub fn settings(overrides: Overrides) -> Settings {
    let overrides = Overrides {
        port: Some("0".into()),
        ..overrides
    };
    Settings::defaults_with(overrides).expect("test settings are valid")
}

/// The app in emulator mode over the emulator's store, with every backend call counted.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Overrides::default()).await
}

/// Like [`spawn_app`], with configuration overrides.
pub async fn spawn_app_with(overrides: Overrides) -> TestApp {
    spawn_app_with_latency(overrides, Duration::ZERO).await
}

/// Like [`spawn_app_with`], with every backend call taking at least `latency` (as a real
/// network would), so that concurrent requests overlap inside the backend.
pub async fn spawn_app_with_latency(overrides: Overrides, latency: Duration) -> TestApp {
    // The port over an emulator's store, reached through the emulator crate's API (the server
    // does not depend on the store's crate). Its background tasks are not started: the store
    // applies due transitions on every call.
    let emulator = Emulator::new(EmulatorSettings::seeded());
    let counting = Arc::new(CountingBackend::new(emulator.backend(), latency));
    let mut app = spawn_app_over(overrides, counting.clone()).await;
    app.backend = Some(counting);
    app
}

/// The app over any backend (a mockall mock, for instance).
pub async fn spawn_app_over(overrides: Overrides, backend: Arc<dyn RoomBackend>) -> TestApp {
    let app = Application::build_with_backend(settings(overrides), Backend::Port(backend))
        .await
        .expect("the application builds");
    TestApp::from_application(app)
}

/// A backend decorator that counts calls and can add latency.
pub struct CountingBackend {
    inner: Arc<dyn RoomBackend>,
    latency: Duration,
    pub creates: AtomicUsize,
    pub fetches: AtomicUsize,
}

impl CountingBackend {
    pub fn new(inner: Arc<dyn RoomBackend>, latency: Duration) -> Self {
        Self {
            inner,
            latency,
            creates: AtomicUsize::new(0),
            fetches: AtomicUsize::new(0),
        }
    }

    pub fn creates(&self) -> usize {
        self.creates.load(Ordering::SeqCst)
    }

    pub fn inner(&self) -> &Arc<dyn RoomBackend> {
        &self.inner
    }

    async fn wait(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

#[async_trait]
impl RoomBackend for CountingBackend {
    async fn create_room(&self, spec: &RoomSpec) -> Result<Room, BackendError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        self.wait().await;
        self.inner.create_room(spec).await
    }

    async fn fetch_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.wait().await;
        self.inner.fetch_room(key).await
    }

    async fn list_rooms(&self, query: &RoomQuery) -> Result<RoomPage, BackendError> {
        self.inner.list_rooms(query).await
    }

    async fn complete_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.inner.complete_room(key).await
    }
}

/// The seeded API key, as the emulator and `videoroom` use it when nothing is configured.
pub fn seeded_key() -> ApiKey {
    ApiKey {
        account_sid: AccountSid::parse(TEST_ACCOUNT_SID).expect("seeded account SID"),
        sid: ApiKeySid::parse(TEST_API_KEY_SID).expect("seeded API key SID"),
        secret: SecretString::from(TEST_API_KEY_SECRET),
    }
}

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Verifies a token with the seeded key, as Twilio's edge (and the emulator) would.
pub fn verify(token: &str) -> VerifiedToken {
    TokenVerifier::new(vec![seeded_key()])
        .verify(token, unix_now())
        .expect("the served token verifies with the configured API key")
}

/// The error code of a `{"error": {"code", "message"}}` body, after checking its shape.
pub async fn error_code(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.expect("an error body is JSON");
    assert!(
        content_type.starts_with("application/json"),
        "error content type is {content_type}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "the error has a message: {body}");
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code, body)
}

/// Snapshots a token's decoded header and claims with the time-dependent claims redacted
/// (`iat`, `exp`, and the issue time inside `jti`), so the snapshot holds exactly what does
/// not depend on when the test runs.
pub fn assert_token_snapshot(name: &str, token: &str) {
    let decoded = decode_unverified(token).expect("a served token decodes");
    let parts = json!({"header": decoded.header, "claims": decoded.claims});
    insta::assert_json_snapshot!(name, parts, {
        ".claims.iat" => "[iat]",
        ".claims.exp" => "[exp]",
        ".claims.jti" => insta::dynamic_redaction(|value, _| {
            // Keep the API key part of `jti` (`<key SID>-<iat>`), which must not change.
            let jti = value.as_str().unwrap_or_default();
            let key = jti.rsplit_once('-').map(|(key, _)| key).unwrap_or(jti);
            format!("{key}-[iat]")
        }),
    });
}
