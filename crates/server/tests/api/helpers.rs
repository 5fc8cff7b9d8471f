//! Shared test helpers: start the real application on a free port and talk HTTP to it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use serde_json::Value;
use videoroom_core::token::{TokenVerifier, VerifiedToken};
use videoroom_core::RoomBackend;
use videoroom_emulator::{Emulator, EmulatorSettings};
use videoroom_server::settings::Overrides;
use videoroom_server::{Application, Backend, Settings};
pub use videoroom_test_support::counting::CountingBackend;
pub use videoroom_test_support::seeded_key;

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
