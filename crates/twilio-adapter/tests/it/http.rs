//! The adapter against a scripted HTTP server on loopback (wiremock's) that answers as Twilio
//! does, including when Twilio is throttling, failing, slow or gone.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{json, Value};
use url::Url;
use videoroom_core::{
    AccountSid, ApiKeySid, BackendError, RoomBackend, RoomKey, RoomName, RoomQuery, RoomSid,
    RoomSpec, RoomStatus, RoomType,
};
use videoroom_twilio_adapter::{CheckError, TwilioAdapter, TwilioConfig, Unreachable};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "sEcReT-that-must-never-be-shown-42";

fn account() -> AccountSid {
    AccountSid::from_u128(0xACC)
}

fn key() -> ApiKeySid {
    ApiKeySid::from_u128(0x5EC)
}

fn room_sid(n: u128) -> RoomSid {
    RoomSid::from_u128(n)
}

// --- A scripted stand-in for Twilio ---------------------------------------------------------

#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    fn error(status: u16, code: u32, message: &str) -> Self {
        Self::json(
            status,
            json!({
                "code": code,
                "message": message,
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
                "status": status
            }),
        )
    }

    fn throttled(retry_after: &str) -> Self {
        Self::error(429, 20429, "Too many requests").with_header("retry-after", retry_after)
    }

    fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    body: String,
    authorization: String,
    content_type: String,
    accept: String,
    at: Instant,
}

/// The replies still to give, in order, and what was seen so far.
#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

/// Answers every request with the next scripted reply. One wiremock responder over an ordered
/// queue rather than one mock per reply: the tests script a sequence of answers to the same
/// request (a 429, then a 200), and record when each request arrived, for the retry tests.
struct Scripted(Arc<Script>);

impl Respond for Scripted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        self.0.seen.lock().expect("lock").push(Seen {
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            query: request.url.query().unwrap_or_default().to_owned(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
            authorization: header("authorization"),
            content_type: header("content-type"),
            accept: header("accept"),
            at: Instant::now(),
        });
        let reply = self.0.replies.lock().expect("lock").pop_front();
        let Some(reply) = reply else {
            return ResponseTemplate::new(418)
                .set_body_string("the test scripted no answer for this request");
        };
        let mut template = ResponseTemplate::new(reply.status).set_delay(reply.delay);
        for (name, value) in &reply.headers {
            template = template.insert_header(*name, value.as_str());
        }
        template.set_body_bytes(reply.body)
    }
}

/// A stand-in for Twilio on a loopback port (wiremock's server), answering from a script.
struct FakeTwilio {
    script: Arc<Script>,
    base: String,
    server: MockServer,
}

impl FakeTwilio {
    async fn start(replies: Vec<Reply>) -> Self {
        Self::serve(MockServer::start().await, replies).await
    }

    async fn start_on(listener: TcpListener, replies: Vec<Reply>) -> Self {
        Self::serve(
            MockServer::builder().listener(listener).start().await,
            replies,
        )
        .await
    }

    async fn serve(server: MockServer, replies: Vec<Reply>) -> Self {
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            seen: Mutex::default(),
        });
        Mock::given(any())
            .respond_with(Scripted(Arc::clone(&script)))
            .mount(&server)
            .await;
        Self {
            script,
            base: server.uri(),
            server,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().expect("lock").clone()
    }

    fn push(&self, reply: Reply) {
        self.script.replies.lock().expect("lock").push_back(reply);
    }

    async fn stop(self) {
        drop(self.server);
    }
}

fn config(base: &str) -> TwilioConfig {
    let mut config = TwilioConfig::new(account(), key(), SecretString::from(SECRET));
    config.base_url = Url::parse(base).expect("base URL");
    config.initial_backoff = Duration::from_millis(100);
    config.max_backoff = Duration::from_millis(400);
    config.timeout = Duration::from_secs(5);
    config
}

fn adapter(base: &str) -> TwilioAdapter {
    TwilioAdapter::new(config(base)).expect("valid config")
}

fn adapter_with(base: &str, tweak: impl FnOnce(&mut TwilioConfig)) -> TwilioAdapter {
    let mut config = config(base);
    tweak(&mut config);
    TwilioAdapter::new(config).expect("valid config")
}

fn room_json(sid: &RoomSid, name: &str, status: &str) -> Value {
    let completed = status != "in-progress";
    json!({
        "sid": sid.as_str(),
        "status": status,
        "date_created": "2026-11-27T18:00:00Z",
        "date_updated": if completed { "2026-11-27T18:00:02Z" } else { "2026-11-27T18:00:00Z" },
        "account_sid": account().as_str(),
        "enable_turn": true,
        "unique_name": name,
        "status_callback": null,
        "status_callback_method": "POST",
        "end_time": if completed { json!("2026-11-27T18:00:02Z") } else { Value::Null },
        "duration": if completed { json!(2) } else { Value::Null },
        "type": "go",
        "max_participants": 2,
        "max_participant_duration": 14400,
        "max_concurrent_published_tracks": 170,
        "record_participants_on_connect": false,
        "video_codecs": ["VP8"],
        "media_region": "us1",
        "audio_only": false,
        "empty_room_timeout": 5,
        "unused_room_timeout": 5,
        "large_room": false,
        "url": format!("https://video.twilio.com/v1/Rooms/{sid}"),
        "links": {}
    })
}

fn gaps(seen: &[Seen]) -> Vec<Duration> {
    seen.windows(2).map(|w| w[1].at - w[0].at).collect()
}

fn assert_no_secret(shown: &str) {
    assert!(!shown.contains(SECRET), "the secret leaked: {shown}");
}

fn basic_auth() -> String {
    use base64::Engine as _;
    let raw = format!("{}:{SECRET}", key());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

// --- Requests as Twilio expects them ---------------------------------------------------------

#[actix_web::test]
async fn a_create_posts_twilios_form_with_the_api_key_and_returns_the_room() {
    let sid = room_sid(1);
    let twilio = FakeTwilio::start(vec![Reply::json(
        201,
        room_json(&sid, "会議 室", "in-progress"),
    )])
    .await;
    let spec = RoomSpec::named(RoomName::parse("会議 室").expect("name"), RoomType::Go);
    let room = adapter(&twilio.base)
        .create_room(&spec)
        .await
        .expect("created");
    assert_eq!(room.sid, sid);
    assert_eq!(room.unique_name, "会議 室");
    assert_eq!(room.status, RoomStatus::InProgress);
    assert_eq!(room.room_type, RoomType::Go);
    assert_eq!((room.end_time, room.duration), (None, None));
    let seen = twilio.seen();
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/Rooms")
    );
    assert_eq!(
        request.body,
        "UniqueName=%E4%BC%9A%E8%AD%B0+%E5%AE%A4&Type=go"
    );
    assert_eq!(request.content_type, "application/x-www-form-urlencoded");
    assert_eq!(request.accept, "application/json");
    assert_eq!(request.authorization, basic_auth());
    twilio.stop().await;
}

#[actix_web::test]
async fn rooms_are_fetched_by_sid_or_by_a_percent_encoded_unique_name() {
    let sid = room_sid(2);
    let twilio = FakeTwilio::start(vec![
        Reply::json(200, room_json(&sid, "Daily Standup", "completed")),
        Reply::json(200, room_json(&sid, "Daily Standup", "in-progress")),
    ])
    .await;
    let adapter = adapter(&twilio.base);
    let room = adapter
        .fetch_room(&RoomKey::Sid(sid.clone()))
        .await
        .expect("fetched");
    assert_eq!(room.status, RoomStatus::Completed);
    assert_eq!(room.duration, Some(2));
    let by_name = RoomKey::Name(RoomName::parse("Daily Standup").expect("name"));
    adapter.fetch_room(&by_name).await.expect("fetched");
    let paths: Vec<_> = twilio
        .seen()
        .into_iter()
        .map(|s| (s.method, s.path))
        .collect();
    assert_eq!(
        paths,
        [
            ("GET".to_owned(), format!("/v1/Rooms/{sid}")),
            ("GET".to_owned(), "/v1/Rooms/Daily%20Standup".to_owned())
        ]
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn completing_a_room_posts_status_completed_and_returns_the_ended_room() {
    let sid = room_sid(3);
    let twilio = FakeTwilio::start(vec![Reply::json(202, room_json(&sid, "r", "completed"))]).await;
    let room = adapter(&twilio.base)
        .complete_room(&RoomKey::Sid(sid.clone()))
        .await
        .expect("completed");
    assert_eq!(room.status, RoomStatus::Completed);
    let seen = twilio.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, format!("/v1/Rooms/{sid}"));
    assert_eq!(seen[0].body, "Status=completed");
    twilio.stop().await;
}

#[actix_web::test]
async fn a_listing_sends_the_filters_and_pages_by_next_page_url_on_the_same_host() {
    let twilio = FakeTwilio::start(vec![]).await;
    let next = format!(
        "{}/v1/Rooms?Status=completed&UniqueName=r&PageSize=2&Page=1&PageToken=PAabc",
        twilio.base
    );
    twilio.push(Reply::json(
        200,
        json!({
            "rooms": [room_json(&room_sid(10), "r", "completed"), room_json(&room_sid(11), "r", "completed")],
            "meta": {"page": 0, "page_size": 2, "next_page_url": next, "key": "rooms"}
        }),
    ));
    twilio.push(Reply::json(
        200,
        json!({
            "rooms": [room_json(&room_sid(12), "r", "completed")],
            "meta": {"page": 1, "page_size": 2, "next_page_url": null, "key": "rooms"}
        }),
    ));
    let adapter = adapter(&twilio.base);
    let query = RoomQuery {
        status: Some(RoomStatus::Completed),
        unique_name: Some("r".into()),
        created_after: Some(time::macros::datetime!(2026-11-27 00:00:00 UTC)),
        page_size: Some(2),
        ..RoomQuery::default()
    };
    let first = adapter.list_rooms(&query).await.expect("first page");
    assert_eq!(first.rooms.len(), 2);
    assert_eq!(first.next_page.as_deref(), Some(next.as_str()));
    let second = adapter
        .list_rooms(&RoomQuery {
            page_token: first.next_page,
            ..RoomQuery::default()
        })
        .await
        .expect("second page");
    assert_eq!(
        second
            .rooms
            .iter()
            .map(|r| r.sid.clone())
            .collect::<Vec<_>>(),
        [room_sid(12)]
    );
    assert_eq!(second.next_page, None);
    let seen = twilio.seen();
    assert_eq!(
        seen[0].query,
        "Status=completed&UniqueName=r&DateCreatedAfter=2026-11-27T00%3A00%3A00Z&PageSize=2"
    );
    assert_eq!(seen[1].path, "/v1/Rooms");
    assert_eq!(
        seen[1].query,
        "Status=completed&UniqueName=r&PageSize=2&Page=1&PageToken=PAabc"
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn a_page_token_for_another_host_or_path_is_refused_without_any_request() {
    let twilio = FakeTwilio::start(vec![]).await;
    let adapter = adapter(&twilio.base);
    let port = Url::parse(&twilio.base).expect("url").port().expect("port");
    let foreign = [
        "https://attacker.example/v1/Rooms?PageToken=x".to_owned(),
        format!(
            "http://127.0.0.1:{}/v1/Rooms?PageToken=x",
            port.wrapping_add(1)
        ),
        format!("http://localhost:{port}/v1/Rooms?PageToken=x"),
        format!("{}/v1/Rooms/RM1/Participants?PageToken=x", twilio.base),
        format!("{}/v2/Accounts?PageToken=x", twilio.base),
        "PageToken=x".to_owned(),
    ];
    for token in foreign {
        let query = RoomQuery {
            page_token: Some(token.clone()),
            ..RoomQuery::default()
        };
        match adapter.list_rooms(&query).await {
            Err(BackendError::Invalid {
                code: 21481,
                message,
            }) => {
                assert!(message.starts_with("Invalid PageToken"), "{message}")
            }
            other => panic!("{token} should be refused with 21481, got {other:?}"),
        }
    }
    assert!(
        twilio.seen().is_empty(),
        "no request may follow a foreign page token"
    );
    twilio.stop().await;
}

// --- Twilio's errors, as the port's errors ---------------------------------------------------

#[actix_web::test]
async fn twilio_error_answers_become_the_ports_errors() {
    let twilio = FakeTwilio::start(vec![]).await;
    let adapter = adapter_with(&twilio.base, |c| c.max_retries = 0);
    let spec = RoomSpec::named(RoomName::parse("r").expect("name"), RoomType::Group);
    let cases: Vec<(Reply, BackendError)> = vec![
        (
            Reply::error(400, 53113, "Room exists"),
            BackendError::RoomExists,
        ),
        (
            Reply::error(404, 20404, "The requested resource /Rooms/r was not found"),
            BackendError::NotFound,
        ),
        (
            Reply::error(401, 20003, "Authenticate"),
            BackendError::Unauthorized,
        ),
        (
            Reply::throttled("7"),
            BackendError::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            },
        ),
        (
            Reply::error(400, 53107, "MaxParticipants is out of range"),
            BackendError::Invalid {
                code: 53107,
                message: "MaxParticipants is out of range".into(),
            },
        ),
        (
            Reply::json(400, json!({"unexpected": true})),
            BackendError::Invalid {
                code: 400,
                message: "HTTP 400 without Twilio's error body".into(),
            },
        ),
    ];
    for (reply, expected) in cases {
        twilio.push(reply);
        assert_eq!(adapter.create_room(&spec).await, Err(expected));
    }
    twilio.stop().await;
}

#[actix_web::test]
async fn upstream_bodies_and_the_secret_never_reach_errors() {
    let twilio = FakeTwilio::start(vec![
        Reply {
            status: 502,
            headers: vec![("content-type", "text/html".into())],
            body: "<html><body>proxy error: internal-host-10.0.0.7</body></html>".into(),
            delay: Duration::ZERO,
        },
        Reply::error(
            400,
            53100,
            &format!("bad request with Authorization {SECRET}\n\x1b[31m"),
        ),
        Reply::json(
            201,
            json!({"sid": "RM-not-a-sid", "note": "internal-detail-xyz"}),
        ),
    ])
    .await;
    let adapter = adapter_with(&twilio.base, |c| c.max_retries = 0);
    let spec = RoomSpec::default();
    let errors = [
        adapter.create_room(&spec).await.expect_err("502"),
        adapter.create_room(&spec).await.expect_err("400"),
        adapter
            .create_room(&spec)
            .await
            .expect_err("unreadable room"),
    ];
    assert!(
        matches!(errors[0], BackendError::Unavailable(_)),
        "{:?}",
        errors[0]
    );
    assert_eq!(
        errors[1],
        BackendError::Invalid {
            code: 53100,
            message: "bad request with Authorization [redacted]  [31m".into()
        }
    );
    assert!(
        matches!(errors[2], BackendError::Other(_)),
        "{:?}",
        errors[2]
    );
    for error in &errors {
        for shown in [error.to_string(), format!("{error:?}")] {
            assert_no_secret(&shown);
            assert!(
                !shown.contains("internal-"),
                "upstream body leaked: {shown}"
            );
            assert!(
                !shown.contains('\x1b'),
                "control characters leaked: {shown}"
            );
        }
    }
    assert_no_secret(&format!("{adapter:?}"));
    assert_no_secret(&format!("{:?}", adapter.config()));
    twilio.stop().await;
}

#[actix_web::test]
async fn a_redirect_is_not_followed_so_credentials_stay_with_twilio() {
    let elsewhere = FakeTwilio::start(vec![Reply::json(200, json!({}))]).await;
    let twilio = FakeTwilio::start(vec![Reply::json(302, json!({}))
        .with_header("location", &format!("{}/v1/Rooms/RM1", elsewhere.base))])
    .await;
    let result = adapter(&twilio.base)
        .fetch_room(&RoomKey::Sid(room_sid(1)))
        .await;
    assert!(matches!(result, Err(BackendError::Other(_))), "{result:?}");
    assert!(elsewhere.seen().is_empty());
    twilio.stop().await;
    elsewhere.stop().await;
}

// --- Retries ---------------------------------------------------------------------------------

#[actix_web::test]
async fn a_throttled_fetch_waits_as_long_as_retry_after_asks_and_then_succeeds() {
    let sid = room_sid(4);
    let twilio = FakeTwilio::start(vec![
        Reply::throttled("1"),
        Reply::json(200, room_json(&sid, "r", "in-progress")),
    ])
    .await;
    let room = adapter(&twilio.base)
        .fetch_room(&RoomKey::Sid(sid.clone()))
        .await;
    assert_eq!(room.map(|r| r.sid), Ok(sid));
    let gaps = gaps(&twilio.seen());
    assert_eq!(gaps.len(), 1, "one retry");
    assert!(
        gaps[0] >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured: {gaps:?}"
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn server_errors_on_a_fetch_are_retried_with_growing_jittered_backoff() {
    let sid = room_sid(5);
    let twilio = FakeTwilio::start(vec![
        Reply::error(500, 20500, "Internal Server Error"),
        Reply::error(503, 20503, "Service Unavailable"),
        Reply::error(500, 20500, "Internal Server Error"),
        Reply::json(200, room_json(&sid, "r", "in-progress")),
    ])
    .await;
    let room = adapter(&twilio.base)
        .fetch_room(&RoomKey::Sid(sid.clone()))
        .await;
    assert_eq!(room.map(|r| r.sid), Ok(sid));
    let gaps = gaps(&twilio.seen());
    // Steps of 100, 200 and 400 ms with equal jitter: each wait is between half its step and
    // its step. The upper bound allows for a busy machine.
    for (gap, step_ms) in gaps.iter().zip([100u64, 200, 400]) {
        let step = Duration::from_millis(step_ms);
        assert!(
            *gap >= step / 2,
            "waited {gap:?}, less than half of {step:?}"
        );
        assert!(
            *gap < step + Duration::from_millis(750),
            "waited {gap:?} for a {step:?} step"
        );
    }
    assert_eq!(gaps.len(), 3);
    twilio.stop().await;
}

#[actix_web::test]
async fn retries_stop_after_max_retries_and_say_how_many_attempts_were_made() {
    let twilio = FakeTwilio::start(vec![Reply::error(503, 20503, "Service Unavailable"); 10]).await;
    let adapter = adapter_with(&twilio.base, |c| c.max_retries = 2);
    let result = adapter.fetch_room(&RoomKey::Sid(room_sid(6))).await;
    match result {
        Err(BackendError::Unavailable(message)) => {
            assert!(message.contains("HTTP 503"), "{message}");
            assert!(message.ends_with("(after 3 attempts)"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(twilio.seen().len(), 3);
    twilio.stop().await;
}

#[actix_web::test]
async fn a_retry_after_beyond_the_time_budget_is_returned_instead_of_waited_for() {
    let twilio = FakeTwilio::start(vec![Reply::throttled("30"), Reply::json(200, json!({}))]).await;
    let started = Instant::now();
    let result = adapter(&twilio.base)
        .fetch_room(&RoomKey::Sid(room_sid(7)))
        .await;
    assert_eq!(
        result,
        Err(BackendError::RateLimited {
            retry_after: Some(Duration::from_secs(30))
        })
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it waited {:?}",
        started.elapsed()
    );
    assert_eq!(twilio.seen().len(), 1);
    twilio.stop().await;
}

#[actix_web::test]
async fn the_retry_budget_bounds_a_call_with_slow_answers() {
    let twilio = FakeTwilio::start(vec![
        Reply::json(200, json!({}))
            .after(Duration::from_secs(3));
        10
    ])
    .await;
    let adapter = adapter_with(&twilio.base, |c| {
        c.timeout = Duration::from_millis(300);
        c.retry_budget = Duration::from_millis(1000);
        c.max_retries = 10;
    });
    let started = Instant::now();
    let result = adapter.fetch_room(&RoomKey::Sid(room_sid(8))).await;
    let elapsed = started.elapsed();
    match result {
        Err(BackendError::Unavailable(message)) => {
            assert!(message.contains("no complete answer"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Without the budget, ten retries of 300 ms attempts and waits would take about 7 s; the
    // margin over 1 s is for a busy machine.
    assert!(
        elapsed < Duration::from_millis(2500),
        "the 1 s budget was exceeded: {elapsed:?}"
    );
    assert!(
        twilio.seen().len() >= 2,
        "slow GETs are retried within the budget"
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn a_create_is_not_retried_after_a_server_error() {
    let twilio = FakeTwilio::start(vec![
        Reply::error(500, 20500, "Internal Server Error"),
        Reply::json(201, room_json(&room_sid(9), "r", "in-progress")),
    ])
    .await;
    let spec = RoomSpec::named(RoomName::parse("r").expect("name"), RoomType::Group);
    let result = adapter(&twilio.base).create_room(&spec).await;
    assert!(
        matches!(result, Err(BackendError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(
        twilio.seen().len(),
        1,
        "the room may exist: a second create would say 53113"
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn a_create_that_times_out_is_not_retried() {
    let twilio = FakeTwilio::start(vec![
        Reply::json(201, room_json(&room_sid(9), "r", "in-progress")).after(Duration::from_secs(2)),
        Reply::json(201, room_json(&room_sid(9), "r", "in-progress")),
    ])
    .await;
    let adapter = adapter_with(&twilio.base, |c| c.timeout = Duration::from_millis(300));
    let result = adapter.create_room(&RoomSpec::default()).await;
    match result {
        Err(BackendError::Unavailable(message)) => {
            assert!(
                message.contains("no complete answer") && message.contains("300 ms"),
                "{message}"
            )
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(twilio.seen().len(), 1);
    twilio.stop().await;
}

#[actix_web::test]
async fn a_throttled_create_is_retried_because_twilio_did_not_process_it() {
    let sid = room_sid(10);
    let twilio = FakeTwilio::start(vec![
        Reply::throttled("0"),
        Reply::json(201, room_json(&sid, "r", "in-progress")),
    ])
    .await;
    let result = adapter(&twilio.base)
        .create_room(&RoomSpec::default())
        .await;
    assert_eq!(result.map(|r| r.sid), Ok(sid));
    let seen = twilio.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body, "the same create is sent again");
    twilio.stop().await;
}

#[actix_web::test]
async fn a_create_is_retried_when_the_connection_was_refused_and_lands_once_the_server_is_up() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("bound");
    drop(listener);
    let base = format!("http://{address}");
    let adapter = adapter_with(&base, |c| {
        c.initial_backoff = Duration::from_millis(300);
        c.max_backoff = Duration::from_millis(300);
        c.max_retries = 5;
    });
    let create =
        actix_web::rt::spawn(async move { adapter.create_room(&RoomSpec::default()).await });
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    let sid = room_sid(11);
    let twilio = FakeTwilio::start_on(
        TcpListener::bind(address).expect("rebind the same port"),
        vec![Reply::json(201, room_json(&sid, "r", "in-progress"))],
    )
    .await;
    let result = create.await.expect("task");
    assert_eq!(result.map(|r| r.sid), Ok(sid));
    assert_eq!(
        twilio.seen().len(),
        1,
        "exactly one create reached the server"
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn a_refused_connection_is_reported_as_unavailable_naming_the_host() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("bound");
    drop(listener);
    let adapter = adapter_with(&format!("http://{address}"), |c| c.max_retries = 1);
    let result = adapter.fetch_room(&RoomKey::Sid(room_sid(1))).await;
    assert_eq!(
        result,
        Err(BackendError::Unavailable(format!(
            "could not connect to {address}: the connection was refused (after 2 attempts)"
        )))
    );
}

#[actix_web::test]
async fn completing_by_sid_after_a_lost_answer_returns_the_completed_room() {
    let sid = room_sid(12);
    let twilio = FakeTwilio::start(vec![
        Reply::error(500, 20500, "Internal Server Error"),
        Reply::error(400, 53112, "Status is invalid"),
        Reply::json(200, room_json(&sid, "r", "completed")),
    ])
    .await;
    let room = adapter(&twilio.base)
        .complete_room(&RoomKey::Sid(sid.clone()))
        .await;
    assert_eq!(
        room.map(|r| (r.sid, r.status)),
        Ok((sid.clone(), RoomStatus::Completed))
    );
    let calls: Vec<_> = twilio.seen().into_iter().map(|s| s.method).collect();
    assert_eq!(calls, ["POST", "POST", "GET"]);
    twilio.stop().await;
}

#[actix_web::test]
async fn completing_a_room_that_was_already_over_is_still_refused_with_53112() {
    let sid = room_sid(13);
    let twilio = FakeTwilio::start(vec![Reply::error(400, 53112, "Status is invalid")]).await;
    let result = adapter(&twilio.base)
        .complete_room(&RoomKey::Sid(sid))
        .await;
    assert_eq!(
        result,
        Err(BackendError::Invalid {
            code: 53112,
            message: "Status is invalid".into()
        })
    );
    assert_eq!(
        twilio.seen().len(),
        1,
        "no fetch when no earlier attempt can have completed it"
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn completing_by_name_is_not_retried_after_a_server_error() {
    let twilio = FakeTwilio::start(vec![
        Reply::error(500, 20500, "Internal Server Error"),
        Reply::json(202, room_json(&room_sid(14), "r", "completed")),
    ])
    .await;
    let key = RoomKey::Name(RoomName::parse("r").expect("name"));
    let result = adapter(&twilio.base).complete_room(&key).await;
    assert!(
        matches!(result, Err(BackendError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(twilio.seen().len(), 1);
    twilio.stop().await;
}

// --- check() ---------------------------------------------------------------------------------

#[actix_web::test]
async fn check_confirms_the_key_and_the_account_with_one_small_request() {
    let twilio = FakeTwilio::start(vec![Reply::json(
        200,
        json!({"rooms": [room_json(&room_sid(1), "r", "in-progress")], "meta": {"key": "rooms"}}),
    )])
    .await;
    let report = adapter(&twilio.base)
        .check()
        .await
        .expect("credentials work");
    assert!(report.account_confirmed);
    assert_eq!(report.api_key_sid, key());
    assert!(
        report
            .to_string()
            .contains(&format!("belongs to account {}", account())),
        "{report}"
    );
    let seen = twilio.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].path.as_str(), seen[0].query.as_str()),
        ("/v1/Rooms", "PageSize=1")
    );
    assert_eq!(seen[0].authorization, basic_auth());
    twilio.stop().await;
}

#[actix_web::test]
async fn check_says_when_the_account_cannot_be_confirmed_for_lack_of_rooms() {
    let twilio = FakeTwilio::start(vec![Reply::json(200, json!({"rooms": [], "meta": {}}))]).await;
    let report = adapter(&twilio.base)
        .check()
        .await
        .expect("credentials work");
    assert!(!report.account_confirmed);
    assert!(
        report.to_string().contains("could not be confirmed"),
        "{report}"
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn check_notices_a_key_of_another_account() {
    let mut other = room_json(&room_sid(1), "r", "in-progress");
    other["account_sid"] = json!(AccountSid::from_u128(0xBAD).as_str());
    let twilio = FakeTwilio::start(vec![Reply::json(200, json!({"rooms": [other]}))]).await;
    let err = adapter(&twilio.base).check().await.expect_err("mismatch");
    assert!(matches!(err, CheckError::AccountMismatch { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(AccountSid::from_u128(0xBAD).as_str()),
        "{err}"
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn check_explains_refused_credentials_as_key_sid_or_secret() {
    let twilio = FakeTwilio::start(vec![Reply::error(401, 20003, "Authenticate")]).await;
    let err = adapter(&twilio.base).check().await.expect_err("refused");
    assert!(matches!(err, CheckError::BadCredentials { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("key SID or the secret"), "{text}");
    assert!(text.contains(key().as_str()), "{text}");
    assert!(text.contains("TWILIO_API_KEY_SECRET"), "{text}");
    assert_no_secret(&text);
    assert_no_secret(&format!("{err:?}"));
    twilio.stop().await;
}

#[actix_web::test]
async fn check_does_not_retry_and_reports_a_server_error() {
    let twilio = FakeTwilio::start(vec![Reply::error(503, 20503, "Service Unavailable"); 3]).await;
    let err = adapter(&twilio.base).check().await.expect_err("fails");
    assert_eq!(
        err,
        CheckError::ServerError {
            host: twilio.base[7..].to_owned(),
            status: 503
        }
    );
    assert_eq!(twilio.seen().len(), 1);
    twilio.stop().await;
}

#[actix_web::test]
async fn check_explains_an_unreachable_host() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("bound");
    drop(listener);
    let err = adapter(&format!("http://{address}"))
        .check()
        .await
        .expect_err("unreachable");
    assert_eq!(
        err,
        CheckError::Unreachable {
            host: address.to_string(),
            reason: Unreachable::ConnectionRefused
        }
    );
    assert!(err.to_string().starts_with(&format!(
        "cannot reach {address}: the connection was refused"
    )));
}

#[actix_web::test]
async fn check_explains_tls_to_a_server_that_does_not_speak_it() {
    let twilio = FakeTwilio::start(vec![]).await;
    let https = twilio.base.replace("http://", "https://");
    let err = adapter(&https).check().await.expect_err("no TLS there");
    assert!(
        matches!(
            &err,
            CheckError::Unreachable {
                reason: Unreachable::Tls(_),
                ..
            }
        ),
        "{err:?}"
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn check_explains_a_timeout() {
    let twilio = FakeTwilio::start(vec![
        Reply::json(200, json!({"rooms": []})).after(Duration::from_secs(3))
    ])
    .await;
    let adapter = adapter_with(&twilio.base, |c| c.timeout = Duration::from_millis(300));
    let err = adapter.check().await.expect_err("too slow");
    assert!(
        matches!(err, CheckError::TimedOut { after, .. } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    twilio.stop().await;
}

#[actix_web::test]
async fn check_explains_a_base_url_that_is_not_the_video_api() {
    let twilio = FakeTwilio::start(vec![
        Reply::error(404, 20404, "not found"),
        Reply {
            status: 200,
            headers: vec![("content-type", "text/html".into())],
            body: "<html>a web page</html>".into(),
            delay: Duration::ZERO,
        },
    ])
    .await;
    let adapter = adapter(&twilio.base);
    for _ in 0..2 {
        let err = adapter.check().await.expect_err("not the API");
        assert!(
            matches!(err, CheckError::UnexpectedAnswer { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("TWILIO_VIDEO_BASE_URL"), "{err}");
        assert!(!err.to_string().contains("web page"), "{err}");
    }
    twilio.stop().await;
}

// --- Logs ------------------------------------------------------------------------------------

/// Collects everything the adapter logs on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn retries_are_logged_without_the_secret_or_the_authorization_header() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let sid = room_sid(20);
    let twilio = FakeTwilio::start(vec![
        Reply::error(503, 20503, &format!("echo {SECRET}")),
        Reply::json(200, room_json(&sid, "r", "in-progress")),
    ])
    .await;
    let room = adapter(&twilio.base)
        .fetch_room(&RoomKey::Sid(sid.clone()))
        .await;
    assert_eq!(room.map(|r| r.sid), Ok(sid));
    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("UTF-8 logs");
    assert!(
        logs.contains("retrying"),
        "the retry should be logged: {logs}"
    );
    assert!(logs.contains("attempt=1"), "{logs}");
    assert_no_secret(&logs);
    let credentials = basic_auth();
    let encoded = credentials.trim_start_matches("Basic ");
    assert!(
        !logs.contains(encoded),
        "the Authorization header leaked: {logs}"
    );
    twilio.stop().await;
}
