//! Issue 13: fewer upstream calls (room cache, status callbacks), resilience (deadline,
//! stale-if-error, circuit breaker, `/readyz`) and `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use videoroom_core::credentials::{
    TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID, TEST_AUTH_TOKEN,
};
use videoroom_core::{BackendError, Room, RoomBackend, RoomKey, RoomPage, RoomQuery, RoomSpec};
use videoroom_emulator::{DeliveryState, Emulator, EmulatorSettings};
use videoroom_server::settings::{Overrides, Sources};
use videoroom_server::{Application, Backend, Settings};
use videoroom_test_support::serve::{self, ServedEmulator};

use crate::helpers::{error_code, CountingBackend, TestApp};

/// A backend that can be switched to "unavailable" (as a stopped upstream) and slowed down,
/// counting the calls that reach it.
struct Switchable {
    inner: Arc<dyn RoomBackend>,
    down: AtomicBool,
    delay_ms: AtomicUsize,
    calls: AtomicUsize,
}

impl Switchable {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: Emulator::new(EmulatorSettings::seeded()).backend(),
            down: AtomicBool::new(false),
            delay_ms: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        })
    }

    async fn gate(&self) -> Result<(), BackendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay_ms.load(Ordering::SeqCst) as u64;
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(BackendError::Unavailable("connection refused".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl RoomBackend for Switchable {
    async fn create_room(&self, spec: &RoomSpec) -> Result<Room, BackendError> {
        self.gate().await?;
        self.inner.create_room(spec).await
    }
    async fn fetch_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.gate().await?;
        self.inner.fetch_room(key).await
    }
    async fn list_rooms(&self, query: &RoomQuery) -> Result<RoomPage, BackendError> {
        self.gate().await?;
        self.inner.list_rooms(query).await
    }
    async fn complete_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.gate().await?;
        self.inner.complete_room(key).await
    }
}

/// `--backend twilio` settings on a free port (the seeded account, upstream at `base_url`),
/// with room choice on and the extra variables given.
fn twilio_settings(base_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut env: std::collections::BTreeMap<String, String> = [
        ("ACCOUNT_SID", TEST_ACCOUNT_SID),
        ("API_KEY", TEST_API_KEY_SID),
        ("API_SECRET", TEST_API_KEY_SECRET),
        ("TWILIO_VIDEO_BASE_URL", base_url),
        ("VIDEOROOM_ALLOW_ROOM_PARAM", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Sources {
        env,
        overrides: Overrides {
            backend: Some("twilio".into()),
            port: Some("0".into()),
            ..Overrides::default()
        },
        ..Sources::default()
    }
    .load()
    .expect("valid twilio settings")
}

async fn app_over(settings: Settings, backend: Arc<dyn RoomBackend>) -> TestApp {
    TestApp::from_application(
        Application::build_with_backend(settings, Backend::Port(backend))
            .await
            .expect("the application builds"),
    )
}

async fn token(app: &TestApp, room: &str) -> (u16, Value) {
    let response = app
        .get(&format!("/video-token?identity=alice&room={room}"))
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_warm_token_request_makes_no_upstream_call() {
    let counting = Arc::new(CountingBackend::new(
        Emulator::new(EmulatorSettings::seeded()).backend(),
        Duration::ZERO,
    ));
    let app = app_over(twilio_settings("http://127.0.0.1:9", &[]), counting.clone()).await;
    let (status, first) = token(&app, "Warm").await;
    assert_eq!(status, 200, "{first}");
    let calls = counting.fetches() + counting.creates();
    for _ in 0..20 {
        let (status, body) = token(&app, "Warm").await;
        assert_eq!(status, 200);
        assert_eq!(body["roomSid"], first["roomSid"]);
    }
    assert_eq!(
        counting.fetches() + counting.creates(),
        calls,
        "warm requests are served from the cache"
    );

    // With the cache off, every request looks the room up again.
    let counting = Arc::new(CountingBackend::new(
        Emulator::new(EmulatorSettings::seeded()).backend(),
        Duration::ZERO,
    ));
    let settings = twilio_settings("http://127.0.0.1:9", &[("VIDEOROOM_ROOM_CACHE_TTL", "0")]);
    let app = app_over(settings, counting.clone()).await;
    token(&app, "Cold").await;
    let before = counting.fetches();
    token(&app, "Cold").await;
    assert_eq!(counting.fetches(), before + 1);
}

#[tokio::test]
async fn a_cached_room_is_served_while_the_upstream_fails_then_the_circuit_opens() {
    let backend = Switchable::new();
    let settings = twilio_settings(
        "http://127.0.0.1:9",
        &[
            ("VIDEOROOM_ROOM_CACHE_TTL", "1"),
            ("VIDEOROOM_TOKEN_DEADLINE", "2"),
        ],
    );
    let app = app_over(settings, backend.clone()).await;
    let (status, first) = token(&app, "Stale").await;
    assert_eq!(status, 200);
    backend.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Past its TTL, within stale-if-error: the cached room, although the upstream is down.
    let (status, stale) = token(&app, "Stale").await;
    assert_eq!(status, 200, "{stale}");
    assert_eq!(stale["roomSid"], first["roomSid"]);

    // A room never seen: 503, and the upstream failures open the circuit.
    let started = Instant::now();
    let (status, code, body) = error_code(app.get("/video-token?identity=a&room=New").await).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "within the deadline"
    );
    assert_eq!(status, 503, "{body}");
    assert!(
        code == "backend_unavailable" || code == "backend_timeout",
        "{body}"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);

    // While the circuit is open, requests fail at once without reaching the upstream.
    let calls = backend.calls.load(Ordering::SeqCst);
    let started = Instant::now();
    let response = app.get("/video-token?identity=a&room=Other").await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(response.status().as_u16(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    assert_eq!(backend.calls.load(Ordering::SeqCst), calls);

    // The upstream returns: service recovers by itself after the open period.
    backend.down.store(false, Ordering::SeqCst);
    let back = Instant::now();
    loop {
        let (status, _) = token(&app, "Other").await;
        if status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "recovered within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
}

#[tokio::test]
async fn a_slow_upstream_gets_a_503_at_the_deadline() {
    let backend = Switchable::new();
    backend.delay_ms.store(3000, Ordering::SeqCst);
    let settings = twilio_settings("http://127.0.0.1:9", &[("VIDEOROOM_TOKEN_DEADLINE", "1")]);
    let app = app_over(settings, backend).await;
    let started = Instant::now();
    let (status, code, body) = error_code(app.get("/video-token?identity=a&room=Slow").await).await;
    let took = started.elapsed();
    assert_eq!((status, code.as_str()), (503, "backend_timeout"), "{body}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(1800),
        "{took:?}"
    );
}

/// A free loopback port, for a setting that must name the server's own address before it
/// binds.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

async fn wait_for_delivery(emulator: &Emulator, event: &str) -> DeliveryState {
    let started = Instant::now();
    loop {
        let found = emulator
            .deliveries()
            .into_iter()
            .find(|d| d.event == event && d.state != DeliveryState::Pending);
        if let Some(delivery) = found {
            return delivery.state;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {event} delivery"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_signed_room_ended_callback_from_the_emulator_drops_the_cached_room() {
    let ServedEmulator { emulator, served } = serve::emulator(EmulatorSettings::seeded(), 1);
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let mut settings = twilio_settings(
        &served.base,
        &[
            ("VIDEOROOM_PUBLIC_URL", public_url.as_str()),
            ("AUTH_TOKEN", TEST_AUTH_TOKEN),
        ],
    );
    settings.port = port;
    let app = TestApp::from_application(Application::build(settings).await.unwrap());

    let (status, first) = token(&app, "Ending").await;
    assert_eq!(status, 200, "{first}");
    let sid = first["roomSid"].as_str().unwrap();
    let room = emulator
        .store()
        .fetch_room(&RoomKey::parse(sid).unwrap())
        .unwrap();
    assert_eq!(
        room.status_callback.as_deref(),
        Some(format!("{public_url}/twilio/status-callback").as_str()),
        "the room was created with our callback"
    );
    emulator
        .store()
        .complete_room(&RoomKey::parse(sid).unwrap())
        .unwrap();
    assert_eq!(
        wait_for_delivery(&emulator, "room-ended").await,
        DeliveryState::Delivered,
        "the server accepts the emulator's signed callback"
    );
    // The cache (30 s) would still hand out the ended room; the callback dropped it.
    let (status, second) = token(&app, "Ending").await;
    assert_eq!(status, 200);
    assert_ne!(
        second["roomSid"], first["roomSid"],
        "a new room, not the ended one"
    );
    served.stop(false).await;
}

#[tokio::test]
async fn unsigned_or_forged_callbacks_are_refused_and_change_nothing() {
    let counting = Arc::new(CountingBackend::new(
        Emulator::new(EmulatorSettings::seeded()).backend(),
        Duration::ZERO,
    ));
    let settings = twilio_settings(
        "http://127.0.0.1:9",
        &[
            ("VIDEOROOM_PUBLIC_URL", "http://127.0.0.1:1"),
            ("AUTH_TOKEN", TEST_AUTH_TOKEN),
        ],
    );
    let app = app_over(settings, counting.clone()).await;
    let (_, first) = token(&app, "Kept").await;
    let sid = first["roomSid"].as_str().unwrap().to_owned();
    let form = vec![
        ("RoomName".to_owned(), "Kept".to_owned()),
        ("RoomSid".to_owned(), sid.clone()),
        ("StatusCallbackEvent".to_owned(), "room-ended".to_owned()),
    ];
    let body = serde_urlencoded::to_string(&form).unwrap();
    let signed_with =
        |key: &str, url: &str| videoroom_emulator::callbacks::signature(key, url, &form);
    // The emulator (the backend here) accepts loopback callback URLs only.
    let url = "http://127.0.0.1:1/twilio/status-callback";
    for signature in [
        None,
        Some(signed_with("not-the-auth-token", url)),
        Some(signed_with(
            TEST_AUTH_TOKEN,
            "https://elsewhere.test/twilio/status-callback",
        )),
        Some("".to_owned()),
    ] {
        let mut request = app
            .client
            .post(app.url("/twilio/status-callback"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone());
        if let Some(signature) = &signature {
            request = request.header("x-twilio-signature", signature);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "{signature:?}");
        let (_, again) = token(&app, "Kept").await;
        assert_eq!(again["roomSid"], first["roomSid"], "the cached room stays");
    }
    // The genuine signature is accepted and evicts the room.
    let response = app
        .client
        .post(app.url("/twilio/status-callback"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signed_with(TEST_AUTH_TOKEN, url))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let fetches = counting.fetches();
    token(&app, "Kept").await;
    assert_eq!(
        counting.fetches(),
        fetches + 1,
        "looked up again after eviction"
    );
}

#[test]
fn a_public_url_in_twilio_mode_needs_the_auth_token() {
    let err = Sources {
        env: [
            ("ACCOUNT_SID", TEST_ACCOUNT_SID),
            ("API_KEY", TEST_API_KEY_SID),
            ("API_SECRET", TEST_API_KEY_SECRET),
            ("VIDEOROOM_PUBLIC_URL", "https://tokens.example.test"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        overrides: Overrides {
            backend: Some("twilio".into()),
            ..Overrides::default()
        },
        ..Sources::default()
    }
    .load()
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("VIDEOROOM_PUBLIC_URL") && err.contains("AUTH_TOKEN"),
        "{err}"
    );
}

#[tokio::test]
async fn metrics_count_tokens_cache_and_upstream_calls_for_local_scrapers_only() {
    let counting = Arc::new(CountingBackend::new(
        Emulator::new(EmulatorSettings::seeded()).backend(),
        Duration::ZERO,
    ));
    let app = app_over(twilio_settings("http://127.0.0.1:9", &[]), counting).await;
    for _ in 0..3 {
        token(&app, "Counted").await;
    }
    let response = app.get("/metrics").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    for line in [
        "videoroom_tokens_minted_total 3",
        "videoroom_room_cache_total{result=\"hit\"} 2",
        "videoroom_room_cache_total{result=\"miss\"} 1",
        "videoroom_upstream_calls_total{operation=\"fetch_room\",outcome=\"not_found\"} 1",
        "videoroom_upstream_calls_total{operation=\"create_room\",outcome=\"ok\"} 1",
        "videoroom_circuit_state 0",
        "videoroom_http_request_duration_seconds_count{route=\"/video-token\",status=\"200\"} 3",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    assert!(!text.contains(TEST_API_KEY_SECRET));
    // Through a proxy (a forwarding header), /metrics does not exist.
    let proxied = app
        .client
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status().as_u16(), 404);
}

#[tokio::test]
async fn metrics_in_emulator_mode_show_rooms_participants_and_signaling() {
    let app = TestApp::from_application(
        Application::build(crate::helpers::settings(Overrides::default()))
            .await
            .unwrap(),
    );
    token(&app, "Gauged").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "videoroom_emulator_rooms{status=\"in-progress\"} 1",
        "videoroom_emulator_participants{status=\"connected\"} 0",
        "videoroom_emulator_signaling_connections 0",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
}

/// The hostile-request table's rows for `/twilio/status-callback` (issue 13, "Hostile input"):
/// each request must be refused with a 4xx, and the cached room must stay cached (the next token
/// request makes no upstream call). Only a body signed with the auth token over the configured
/// URL, exactly as sent, may evict a room.
#[tokio::test]
async fn hostile_status_callbacks_get_a_4xx_and_evict_nothing() {
    let counting = Arc::new(CountingBackend::new(
        Emulator::new(EmulatorSettings::seeded()).backend(),
        Duration::ZERO,
    ));
    let settings = twilio_settings(
        "http://127.0.0.1:9",
        &[
            ("VIDEOROOM_PUBLIC_URL", "http://127.0.0.1:1"),
            ("AUTH_TOKEN", TEST_AUTH_TOKEN),
        ],
    );
    let app = app_over(settings, counting.clone()).await;
    let (_, first) = token(&app, "Kept").await;
    let sid = first["roomSid"].as_str().unwrap().to_owned();
    let url = "http://127.0.0.1:1/twilio/status-callback";
    let form = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut form = vec![
            ("RoomName".to_owned(), "Kept".to_owned()),
            ("RoomSid".to_owned(), sid.clone()),
            ("StatusCallbackEvent".to_owned(), "room-ended".to_owned()),
        ];
        form.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        form
    };
    let sign = |form: &[(String, String)], url: &str| {
        videoroom_emulator::callbacks::signature(TEST_AUTH_TOKEN, url, form)
    };
    let genuine = form(&[]);
    let genuine_body = serde_urlencoded::to_string(&genuine).unwrap();
    let genuine_signature = sign(&genuine, url);

    // The last character before the `=` of a base64 HMAC-SHA1 (20 bytes) carries 4 bits of the
    // signature and 2 bits of padding; `A` and `E` differ in a signature bit. (This used to look
    // at the `=` itself, so a signature whose character there was already `A` was sent
    // unchanged, about one run in sixteen, and the verifier rightly accepted it.)
    fn one_character_changed(signature: &str) -> String {
        let at = signature.len() - 2;
        let replacement = if &signature[at..at + 1] == "A" {
            "E"
        } else {
            "A"
        };
        let mut changed = signature.to_owned();
        changed.replace_range(at..at + 1, replacement);
        assert_ne!(changed, signature, "the changed signature differs");
        changed
    }
    // (name, method, path and query, content type, signature, body)
    type Row = (
        &'static str,
        &'static str,
        String,
        &'static str,
        Option<String>,
        Vec<u8>,
    );
    let form_type = "application/x-www-form-urlencoded";
    let mut rows: Vec<Row> = vec![
        ("GET instead of POST", "GET", "/twilio/status-callback".into(), form_type, Some(genuine_signature.clone()), Vec::new()),
        ("PUT instead of POST", "PUT", "/twilio/status-callback".into(), form_type, Some(genuine_signature.clone()), genuine_body.clone().into_bytes()),
        ("no signature", "POST", "/twilio/status-callback".into(), form_type, None, genuine_body.clone().into_bytes()),
        ("empty signature", "POST", "/twilio/status-callback".into(), form_type, Some(String::new()), genuine_body.clone().into_bytes()),
        ("signed with another key", "POST", "/twilio/status-callback".into(), form_type, Some(videoroom_emulator::callbacks::signature("not-the-auth-token", url, &genuine)), genuine_body.clone().into_bytes()),
        ("signed for another URL", "POST", "/twilio/status-callback".into(), form_type, Some(sign(&genuine, "https://elsewhere.test/twilio/status-callback")), genuine_body.clone().into_bytes()),
        ("signature truncated by one character", "POST", "/twilio/status-callback".into(), form_type, Some(genuine_signature[..genuine_signature.len() - 1].to_owned()), genuine_body.clone().into_bytes()),
        ("signature with one character changed", "POST", "/twilio/status-callback".into(), form_type, Some(one_character_changed(&genuine_signature)), genuine_body.clone().into_bytes()),
        ("a 1,000-character signature", "POST", "/twilio/status-callback".into(), form_type, Some("A".repeat(1000)), genuine_body.clone().into_bytes()),
        ("the genuine signature over an added parameter", "POST", "/twilio/status-callback".into(), form_type, Some(genuine_signature.clone()), serde_urlencoded::to_string(form(&[("RoomStatus", "completed")])).unwrap().into_bytes()),
        ("the genuine signature over a duplicated RoomSid", "POST", "/twilio/status-callback".into(), form_type, Some(genuine_signature.clone()), format!("{genuine_body}&RoomSid=RM00000000000000000000000000000000").into_bytes()),
        ("the genuine signature with the body moved to the query", "POST", format!("/twilio/status-callback?{genuine_body}"), form_type, Some(genuine_signature.clone()), Vec::new()),
        ("the genuine signature over a percent-encoded NUL", "POST", "/twilio/status-callback".into(), form_type, Some(genuine_signature.clone()), format!("{genuine_body}%00").into_bytes()),
        ("the body as JSON", "POST", "/twilio/status-callback".into(), "application/json", Some(genuine_signature.clone()), serde_json::json!({"RoomName": "Kept", "RoomSid": sid, "StatusCallbackEvent": "room-ended"}).to_string().into_bytes()),
        ("a traversal on the route", "POST", "/twilio/../twilio/status-callback/..%2f..%2fmetrics".into(), form_type, Some(genuine_signature.clone()), genuine_body.clone().into_bytes()),
        ("invalid UTF-8 in the body", "POST", "/twilio/status-callback".into(), form_type, Some(genuine_signature.clone()), [genuine_body.as_bytes(), b"&RoomName=\xff\xfe"].concat()),
    ];
    // A body far larger than any callback.
    rows.push((
        "a 2 MiB body",
        "POST",
        "/twilio/status-callback".into(),
        form_type,
        Some(genuine_signature.clone()),
        vec![b'a'; 2 << 20],
    ));
    assert!(rows.len() >= 15);

    for (name, method, target, content_type, signature, body) in rows {
        let mut request = app
            .client
            .request(method.parse().unwrap(), app.url(&target))
            .header("content-type", content_type)
            .body(body);
        if let Some(signature) = &signature {
            request = request.header("x-twilio-signature", signature);
        }
        let status = request.send().await.map(|r| r.status().as_u16());
        assert!(
            matches!(status, Ok(400..=499)),
            "{name}: expected a 4xx, got {status:?}"
        );
        let fetches = counting.fetches();
        let (_, again) = token(&app, "Kept").await;
        assert_eq!(
            again["roomSid"], first["roomSid"],
            "{name}: the cached room stays"
        );
        assert_eq!(
            counting.fetches(),
            fetches,
            "{name}: the room is still cached"
        );
    }
}
