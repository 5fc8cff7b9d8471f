//! A real emulator on a loopback port, a client that speaks to it as Twilio's libraries do, and
//! a callback receiver the tests control.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use parking_lot::Mutex;
use serde_json::Value;
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
use videoroom_emulator::guard::AccessPolicy;
use videoroom_emulator::limits::ConnectionLimits;
use videoroom_emulator::{Delivery, Emulator, EmulatorSettings};
use videoroom_test_support::serve::{self, Front, Served, ServedEmulator};

pub struct TestEmulator {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub emulator: Emulator,
    pub client: reqwest::Client,
    /// Stops accepting when the test emulator is dropped.
    _served: Served,
}

pub async fn spawn() -> TestEmulator {
    spawn_with(EmulatorSettings::seeded()).await
}

pub async fn spawn_with(settings: EmulatorSettings) -> TestEmulator {
    spawn_behind(settings, Front::default()).await
}

/// An emulator behind the Host/Origin guard with `policy`, mounted as both binaries mount it.
pub async fn spawn_guarded(settings: EmulatorSettings, policy: AccessPolicy) -> TestEmulator {
    let front = Front {
        access: Some(policy),
        ..Front::default()
    };
    spawn_behind(settings, front).await
}

/// An emulator behind the per-client connection caps when `limits` are given, as the
/// binaries serve it.
pub async fn spawn_capped(
    settings: EmulatorSettings,
    limits: Option<ConnectionLimits>,
) -> TestEmulator {
    let front = Front {
        limits,
        ..Front::default()
    };
    spawn_behind(settings, front).await
}

async fn spawn_behind(settings: EmulatorSettings, front: Front) -> TestEmulator {
    let ServedEmulator { emulator, served } = serve::emulator_behind(settings, 1, front);
    TestEmulator {
        base: served.base.clone(),
        emulator,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        _served: served,
    }
}

impl TestEmulator {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET with the account's credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
            .send()
            .await
            .unwrap()
    }

    /// A GET of an absolute URL (a `next_page_url`, a `url` field) with the account's credentials.
    pub async fn get_absolute(&self, url: &str) -> reqwest::Response {
        self.client
            .get(url)
            .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
            .send()
            .await
            .unwrap()
    }

    /// A form POST with the account's credentials.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A POST with a raw body and the account's credentials.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a room and returns its JSON; panics unless the answer is 201.
    pub async fn create_room(&self, form: &[(&str, &str)]) -> Value {
        let res = self.post("/v1/Rooms", form).await;
        assert_eq!(res.status(), 201, "create room {form:?}");
        res.json().await.unwrap()
    }

    /// Adds a simulated participant through the control route; returns its JSON.
    pub async fn join(&self, room: &str, identity: &str) -> Value {
        let res = self
            .post(
                &format!("/emulator/rooms/{room}/participants"),
                &[("Identity", identity)],
            )
            .await;
        assert_eq!(res.status(), 201, "join {identity} to {room}");
        res.json().await.unwrap()
    }

    /// Waits until the recorded deliveries satisfy `done`, or fails after 10 seconds.
    pub async fn wait_for_deliveries(&self, done: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        for _ in 0..200 {
            let deliveries = self.emulator.deliveries();
            if done(&deliveries) {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "deliveries did not reach the expected state: {:#?}",
            self.emulator.deliveries()
        );
    }
}

/// Asserts a Twilio error body with the given status and code; returns the body.
pub async fn assert_twilio_error(res: reqwest::Response, status: u16, code: u64) -> Value {
    assert_eq!(res.status().as_u16(), status, "HTTP status");
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["more_info"],
        format!("https://www.twilio.com/docs/errors/{code}"),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message", "more_info", "status"], "{body}");
    body
}

/// One request a callback receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query as sent.
    pub uri: String,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

/// How a receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    Ok,
    /// 500 to every request.
    Fail,
    /// Never answers (within any test's patience).
    Hang,
}

/// An HTTP server on a loopback port recording every request it gets.
pub struct Receiver {
    pub base: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Stops accepting when the receiver is dropped.
    _served: Served,
}

pub fn receiver(behaviour: Behaviour) -> Receiver {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    let served = serve::serve(1, move |cfg| {
        let log = Arc::clone(&log);
        cfg.default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let log = Arc::clone(&log);
            async move {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                log.lock().push(Received {
                    method: req.method().to_string(),
                    uri: req.uri().to_string(),
                    signature: header("X-Twilio-Signature"),
                    content_type: header("Content-Type"),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                match behaviour {
                    Behaviour::Ok => HttpResponse::Ok().finish(),
                    Behaviour::Fail => HttpResponse::InternalServerError().finish(),
                    Behaviour::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        HttpResponse::Ok().finish()
                    }
                }
            }
        }));
    });
    Receiver {
        base: served.base.clone(),
        received,
        _served: served,
    }
}

impl Receiver {
    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().clone()
    }
}
