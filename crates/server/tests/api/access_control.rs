//! Access control of `/video-token` (issue 13; `crate::access`): the passcode and bearer modes,
//! the refusal to expose twilio mode without auth, the room policy, the rate limits, CORS for
//! pages on other origins, and the identity suffix.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_emulator::{Emulator, EmulatorSettings};
use videoroom_server::settings::{Overrides, Sources};
use videoroom_server::{Application, Backend, Settings};

use crate::helpers::{error_code, unix_now, verify, CountingBackend, TestApp};

const PASSCODE: &str = "tokyo-2026";
const AUTH_SECRET: &str = "a-login-secret-of-at-least-32-bytes!";

/// Settings from `env` (the secrets have no flags) and `overrides`, on a free port.
fn settings_with(env: &[(&str, &str)], overrides: Overrides) -> Settings {
    Sources {
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        overrides: Overrides {
            port: Some("0".into()),
            ..overrides
        },
        ..Sources::default()
    }
    .load()
    .expect("test settings are valid")
}

/// The app over an emulator's store, every backend call counted.
async fn spawn(env: &[(&str, &str)], overrides: Overrides) -> TestApp {
    let emulator = Emulator::new(EmulatorSettings::seeded());
    let counting = Arc::new(CountingBackend::new(emulator.backend(), Duration::ZERO));
    let app = Application::build_with_backend(
        settings_with(env, overrides),
        Backend::Port(counting.clone()),
    )
    .await
    .expect("the application builds");
    let mut app = TestApp::from_application(app);
    app.backend = Some(counting);
    app
}

fn calls(app: &TestApp) -> (usize, usize) {
    let backend = app.backend.as_ref().expect("a counted backend");
    (backend.fetches(), backend.creates())
}

async fn passcode_app() -> TestApp {
    spawn(
        &[
            ("VIDEOROOM_AUTH", "passcode"),
            ("VIDEOROOM_PASSCODE", PASSCODE),
        ],
        Overrides::default(),
    )
    .await
}

#[actix_web::test]
async fn a_missing_or_wrong_passcode_gets_the_same_401_and_no_backend_call() {
    let app = passcode_app().await;
    let mut bodies = Vec::new();
    let answers = [
        app.get("/video-token?identity=alice").await,
        app.get("/video-token?identity=alice&passcode=tokyo-2025")
            .await,
        app.post_json(&json!({"identity": "alice", "passcode": "TOKYO-2026"}))
            .await,
        app.client
            .get(app.url("/video-token?identity=alice"))
            .header("Authorization", "Passcode nope")
            .send()
            .await
            .unwrap(),
    ];
    for answer in answers {
        assert_eq!(
            answer
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Passcode")
        );
        let (status, code, body) = error_code(answer).await;
        assert_eq!((status, code.as_str()), (401, "unauthorized"), "{body}");
        assert!(!body.to_string().contains("tokyo"), "{body}");
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "no hint of whether the passcode was missing or wrong: {bodies:?}"
    );
    assert_eq!(calls(&app), (0, 0), "nothing reached the backend");
}

#[actix_web::test]
async fn the_passcode_is_accepted_in_the_query_the_json_body_the_form_body_and_the_header() {
    let app = passcode_app().await;
    let answers = [
        app.get(&format!("/video-token?identity=alice&passcode={PASSCODE}"))
            .await,
        app.post_json(&json!({"identity": "bob", "passcode": PASSCODE}))
            .await,
        app.post_form(&format!("identity=carol&passcode={PASSCODE}"))
            .await,
        app.client
            .post(app.url("/video-token"))
            .header("Authorization", format!("Passcode {PASSCODE}"))
            .json(&json!({"identity": "dave"}))
            .send()
            .await
            .unwrap(),
    ];
    for (answer, who) in answers.into_iter().zip(["alice", "bob", "carol", "dave"]) {
        assert_eq!(answer.status(), 200, "{who}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["identity"], who);
        assert_eq!(
            verify(body["token"].as_str().unwrap()).identity.as_str(),
            who
        );
    }
}

fn jwt(claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(AUTH_SECRET.as_bytes()),
    )
    .expect("HMAC signing cannot fail")
}

async fn bearer_app(env: &[(&str, &str)]) -> TestApp {
    let mut all = vec![
        ("VIDEOROOM_AUTH", "bearer"),
        ("VIDEOROOM_AUTH_SECRET", AUTH_SECRET),
    ];
    all.extend_from_slice(env);
    spawn(&all, Overrides::default()).await
}

async fn with_bearer(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers")
}

#[actix_web::test]
async fn a_bearer_jwt_sets_the_identity_and_a_client_cannot_choose_another() {
    let app = bearer_app(&[]).await;
    let token = jwt(json!({"sub": "alice@example.test", "exp": unix_now() + 300}));

    let own = with_bearer(&app, "/video-token", &token).await;
    assert_eq!(own.status(), 200);
    let body: Value = own.json().await.unwrap();
    assert_eq!(body["identity"], "alice@example.test");
    let same = with_bearer(&app, "/video-token?identity=alice@example.test", &token).await;
    assert_eq!(same.status(), 200);

    let other = with_bearer(&app, "/video-token?identity=bob", &token).await;
    let (status, code, _) = error_code(other).await;
    assert_eq!((status, code.as_str()), (403, "identity_mismatch"));
}

#[actix_web::test]
async fn a_missing_expired_or_forged_bearer_jwt_gets_401() {
    let app = bearer_app(&[]).await;
    let expired = jwt(json!({"sub": "alice", "exp": unix_now() - 3600}));
    let no_exp = jwt(json!({"sub": "alice"}));
    let forged = encode(
        &Header::default(),
        &json!({"sub": "alice", "exp": unix_now() + 300}),
        &EncodingKey::from_secret(b"not-the-secret-not-the-secret-xx"),
    )
    .unwrap();
    let mut answers = vec![app.get("/video-token?identity=alice").await];
    for token in [&expired, &no_exp, &forged] {
        answers.push(with_bearer(&app, "/video-token?identity=alice", token).await);
    }
    for answer in answers {
        assert_eq!(
            answer
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        let (status, code, _) = error_code(answer).await;
        assert_eq!((status, code.as_str()), (401, "unauthorized"));
    }
    assert_eq!(calls(&app), (0, 0));
}

fn twilio_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ACCOUNT_SID", TEST_ACCOUNT_SID),
        ("API_KEY", TEST_API_KEY_SID),
        ("API_SECRET", TEST_API_KEY_SECRET),
        // Never contacted: the application refuses to start or runs over a counted double.
        ("TWILIO_VIDEO_BASE_URL", "http://127.0.0.1:9"),
    ]
}

#[actix_web::test]
async fn twilio_mode_on_a_public_address_without_auth_refuses_to_start_naming_both_ways_out() {
    let settings = settings_with(
        &twilio_env(),
        Overrides {
            backend: Some("twilio".into()),
            host: Some("0.0.0.0".into()),
            ..Overrides::default()
        },
    );
    let err = Application::build(settings)
        .await
        .err()
        .expect("twilio mode on 0.0.0.0 with no auth does not start");
    let message = err.to_string();
    assert!(message.contains("--auth"), "{message}");
    assert!(message.contains("--insecure-public"), "{message}");
}

#[test]
fn the_opt_out_and_the_safe_configurations_pass_the_exposure_check() {
    use videoroom_server::access::check_exposure;
    let twilio = |host: &str, extra: &[(&str, &str)], insecure: Option<&str>| {
        let mut env = twilio_env();
        env.extend_from_slice(extra);
        settings_with(
            &env,
            Overrides {
                backend: Some("twilio".into()),
                host: Some(host.into()),
                insecure_public: insecure.map(str::to_owned),
                ..Overrides::default()
            },
        )
    };
    assert!(check_exposure(&twilio("0.0.0.0", &[], None)).is_err());
    assert!(check_exposure(&twilio("0.0.0.0", &[], Some("true"))).is_ok());
    assert!(check_exposure(&twilio("127.0.0.1", &[], None)).is_ok());
    assert!(check_exposure(&twilio("::1", &[], None)).is_ok());
    let passcode = [
        ("VIDEOROOM_AUTH", "passcode"),
        ("VIDEOROOM_PASSCODE", PASSCODE),
    ];
    assert!(check_exposure(&twilio("0.0.0.0", &passcode, None)).is_ok());
    let emulator = settings_with(
        &[],
        Overrides {
            host: Some("0.0.0.0".into()),
            ..Overrides::default()
        },
    );
    assert!(check_exposure(&emulator).is_ok(), "the emulator stays open");
}

#[test]
fn twilio_mode_refuses_the_room_parameter_by_default_and_the_emulator_keeps_it() {
    let twilio = |overrides: Overrides| {
        settings_with(
            &twilio_env(),
            Overrides {
                backend: Some("twilio".into()),
                ..overrides
            },
        )
    };
    assert!(!twilio(Overrides::default()).room.allow_param);
    let listed = twilio(Overrides {
        allowed_rooms: Some("class-*".into()),
        ..Overrides::default()
    });
    assert!(listed.room.allow_param, "a list of allowed rooms opts in");
    assert!(settings_with(&[], Overrides::default()).room.allow_param);
    let twilio_defaults = twilio(Overrides::default());
    assert_eq!(
        twilio_defaults.access.token_rate.map(|n| n.get()),
        Some(120)
    );
    assert_eq!(
        twilio_defaults.access.room_creations.map(|n| n.get()),
        Some(60)
    );
    let emulator = settings_with(&[], Overrides::default());
    assert_eq!(
        emulator.access.token_rate, None,
        "no limits in emulator mode"
    );
    assert_eq!(emulator.access.room_creations, None);
}

#[actix_web::test]
async fn a_room_outside_the_allowed_list_gets_403_and_no_upstream_call() {
    let app = spawn(
        &[],
        Overrides {
            allowed_rooms: Some("class-*, lab".into()),
            ..Overrides::default()
        },
    )
    .await;
    for room in ["class-1", "lab", "myroom"] {
        let answer = app
            .get(&format!("/video-token?identity=alice&room={room}"))
            .await;
        assert_eq!(answer.status(), 200, "{room}");
    }
    let before = calls(&app);
    let (status, code, body) =
        error_code(app.get("/video-token?identity=alice&room=random-42").await).await;
    assert_eq!((status, code.as_str()), (403, "room_not_allowed"), "{body}");
    assert_eq!(calls(&app), before, "no upstream call for a refused room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_gets_429_with_retry_after_while_another_address_is_served() {
    let app = spawn(
        &[
            ("VIDEOROOM_TOKEN_BURST", "3"),
            ("VIDEOROOM_TOKEN_RATE", "6"),
        ],
        Overrides::default(),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/video-token?identity=alice").await.status(), 200);
    }
    let over = app.get("/video-token?identity=alice").await;
    let retry_after: u64 = over
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("a Retry-After in whole seconds");
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let (status, code, _) = error_code(over).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));

    let other = reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let served = other
        .get(app.url("/video-token?identity=bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200, "another address has its own bucket");
}

#[actix_web::test]
async fn wrong_passcodes_count_against_the_client_so_guessing_is_slowed() {
    let app = spawn(
        &[
            ("VIDEOROOM_AUTH", "passcode"),
            ("VIDEOROOM_PASSCODE", PASSCODE),
            ("VIDEOROOM_TOKEN_BURST", "5"),
            ("VIDEOROOM_TOKEN_RATE", "1"),
        ],
        Overrides::default(),
    )
    .await;
    let mut statuses = Vec::new();
    for guess in 0..8 {
        let answer = app
            .get(&format!("/video-token?identity=eve&passcode=guess{guess}"))
            .await;
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    let right = app
        .get(&format!("/video-token?identity=eve&passcode={PASSCODE}"))
        .await;
    assert_eq!(
        right.status(),
        429,
        "even the right passcode waits its turn"
    );
}

#[actix_web::test]
async fn bearer_subjects_behind_one_address_have_their_own_buckets() {
    let app = bearer_app(&[
        ("VIDEOROOM_TOKEN_BURST", "2"),
        ("VIDEOROOM_TOKEN_RATE", "1"),
    ])
    .await;
    let alice = jwt(json!({"sub": "alice", "exp": unix_now() + 300}));
    let bob = jwt(json!({"sub": "bob", "exp": unix_now() + 300}));
    for _ in 0..2 {
        assert_eq!(
            with_bearer(&app, "/video-token", &alice).await.status(),
            200
        );
    }
    assert_eq!(
        with_bearer(&app, "/video-token", &alice).await.status(),
        429
    );
    assert_eq!(with_bearer(&app, "/video-token", &bob).await.status(), 200);
}

#[actix_web::test]
async fn the_room_creation_cap_refuses_new_rooms_with_429_but_serves_existing_ones() {
    let app = spawn(&[("VIDEOROOM_ROOM_CREATIONS", "2")], Overrides::default()).await;
    for room in ["one", "two"] {
        let answer = app
            .get(&format!("/video-token?identity=alice&room={room}"))
            .await;
        assert_eq!(answer.status(), 200, "{room}");
    }
    let over = app.get("/video-token?identity=alice&room=three").await;
    assert!(over.headers().contains_key("retry-after"));
    let (status, code, _) = error_code(over).await;
    assert_eq!((status, code.as_str()), (429, "room_creation_limited"));
    let existing = app.get("/video-token?identity=bob&room=one").await;
    assert_eq!(existing.status(), 200, "an existing room needs no creation");
    assert_eq!(calls(&app).1, 2, "exactly two rooms were created upstream");
}

#[actix_web::test]
async fn a_configured_origin_gets_cors_and_its_preflight_answered_and_others_get_none() {
    let origin = "http://localhost:5173";
    let app = spawn(
        &[],
        Overrides {
            allowed_origins: Some(origin.into()),
            ..Overrides::default()
        },
    )
    .await;
    let preflight = |from: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/video-token"))
            .header("Origin", from)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type, authorization",
            )
            .send()
    };
    let ok = preflight(origin).await.unwrap();
    assert_eq!(ok.status(), 204);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header(&ok, "access-control-allow-origin").as_deref(),
        Some(origin)
    );
    let methods = header(&ok, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let headers = header(&ok, "access-control-allow-headers").unwrap_or_default();
    assert!(headers.contains("Authorization") && headers.contains("Content-Type"));

    let foreign = preflight("http://evil.test").await.unwrap();
    assert_eq!(header(&foreign, "access-control-allow-origin"), None);

    let post = app
        .client
        .post(app.url("/video-token"))
        .header("Origin", origin)
        .json(&json!({"identity": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
    assert_eq!(
        header(&post, "access-control-allow-origin").as_deref(),
        Some(origin)
    );
    let exposed = header(&post, "access-control-expose-headers").unwrap_or_default();
    assert!(
        exposed.contains("Retry-After"),
        "a page can read when to retry after a 429: {exposed}"
    );

    let closed = spawn(&[], Overrides::default()).await;
    let none = closed
        .client
        .get(closed.url("/video-token?identity=alice"))
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 200);
    assert_eq!(
        header(&none, "access-control-allow-origin"),
        None,
        "no CORS by default"
    );
}

#[actix_web::test]
async fn the_identity_suffix_makes_two_attendees_with_one_name_distinct_and_the_answer_says_so() {
    let app = spawn(
        &[],
        Overrides {
            identity_suffix: Some("true".into()),
            ..Overrides::default()
        },
    )
    .await;
    let mut identities = std::collections::HashSet::new();
    for _ in 0..5 {
        let body: Value = app
            .get("/video-token?identity=alice")
            .await
            .json()
            .await
            .unwrap();
        let identity = body["identity"].as_str().unwrap().to_owned();
        assert!(identity.starts_with("alice-"), "{identity}");
        assert_eq!(
            verify(body["token"].as_str().unwrap()).identity.as_str(),
            identity,
            "the token carries the final identity"
        );
        identities.insert(identity);
    }
    assert!(identities.len() > 1, "{identities:?}");
}
