//! Who may drive the emulator: the Host and Origin checks, CORS, callback hosts and the
//! inspector feed (see `videoroom_emulator::guard` and docs/architecture.md, "Threat model").

use actix_web::test as actix_test;
use actix_web::App;
use serde_json::Value;
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
use videoroom_core::{RoomKey, RoomName};
use videoroom_emulator::guard::AccessPolicy;
use videoroom_emulator::{Emulator, EmulatorSettings};
use videoroom_emulator_adapter::CreateRoom;

use crate::helpers::{assert_twilio_error, spawn, spawn_guarded, TestEmulator};

async fn guarded() -> TestEmulator {
    spawn_guarded(EmulatorSettings::seeded(), AccessPolicy::default()).await
}

async fn rooms_in_progress(app: &TestEmulator) -> usize {
    let list: Value = app.get("/v1/Rooms").await.json().await.unwrap();
    list["rooms"].as_array().unwrap().len()
}

#[actix_web::test]
async fn a_host_name_the_server_does_not_answer_to_is_refused_as_dns_rebinding() {
    let app = guarded().await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let rebound = app
        .client
        .get(app.url("/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .header("Host", format!("evil.test:{port}"))
        .send()
        .await
        .unwrap();
    let body = assert_twilio_error(rebound, 403, 20403).await;
    assert!(
        body["message"].as_str().unwrap().contains("evil.test"),
        "{body}"
    );
    for path in ["/emulator/state", "/signaling", "/anything"] {
        let res = app
            .client
            .get(app.url(path))
            .header("Host", format!("evil.test:{port}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path}");
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let res = app
            .client
            .get(app.url("/v1/Rooms"))
            .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
            .header("Host", host.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{host}");
    }
}

#[actix_web::test]
async fn a_foreign_page_cannot_change_state_even_with_the_public_credentials() {
    let app = guarded().await;
    let foreign = app
        .client
        .post(app.url("/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .header("Origin", "http://evil.test:8000")
        .form(&[("UniqueName", "from-a-foreign-page")])
        .send()
        .await
        .unwrap();
    assert_twilio_error(foreign, 403, 20403).await;
    assert_eq!(rooms_in_progress(&app).await, 0);

    // No Origin: curl and the official libraries. The server's own origin: its own pages.
    app.create_room(&[("UniqueName", "from-a-library")]).await;
    let same_origin = app
        .client
        .post(app.url("/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .header("Origin", app.base.as_str())
        .form(&[("UniqueName", "from-its-own-page")])
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), 201);
    assert_eq!(rooms_in_progress(&app).await, 2);

    let reset = app
        .client
        .post(app.url("/emulator/reset"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .header("Origin", "null")
        .send()
        .await
        .unwrap();
    assert_twilio_error(reset, 403, 20403).await;
    assert_eq!(rooms_in_progress(&app).await, 2);
}

#[actix_web::test]
async fn a_signaling_upgrade_from_a_foreign_page_is_refused_before_the_handshake() {
    let app = guarded().await;
    let upgrade = |origin: &'static str| {
        app.client
            .get(app.url("/signaling"))
            .header("Origin", origin)
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
    };
    let foreign = upgrade("http://evil.test:8000").await.unwrap();
    assert_eq!(foreign.status(), 403);
    let body: Value = foreign.json().await.unwrap();
    assert_eq!(body["error"]["code"], "foreign_origin");
}

#[actix_web::test]
async fn v1_allows_cross_origin_reads_only_from_configured_origins_and_never_star() {
    let app = spawn_guarded(
        EmulatorSettings::seeded(),
        AccessPolicy::new([""; 0], ["http://localhost:5173"]).unwrap(),
    )
    .await;
    let plain = app.get("/v1/Rooms").await;
    assert!(plain.headers().get("access-control-allow-origin").is_none());

    let read = |origin: &'static str| {
        app.client
            .get(app.url("/v1/Rooms"))
            .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
            .header("Origin", origin)
            .send()
    };
    let foreign = read("http://evil.test:8000").await.unwrap();
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let configured = read("http://localhost:5173").await.unwrap();
    let h = configured.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:5173");
    assert_eq!(h["vary"], "Origin");

    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/v1/Rooms"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let ok = preflight("http://localhost:5173").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(
        ok.headers()["access-control-allow-headers"],
        "Content-Type, Authorization"
    );
    let refused = preflight("http://evil.test:8000").await.unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    // A configured origin may also change state (its page is trusted).
    let create = app
        .client
        .post(app.url("/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .header("Origin", "http://localhost:5173")
        .form(&[("UniqueName", "from-a-configured-page")])
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 201);
}

#[actix_web::test]
async fn a_status_callback_beyond_loopback_is_refused_by_default() {
    let app = spawn().await;
    let res = app
        .post(
            "/v1/Rooms",
            &[
                ("UniqueName", "far"),
                ("StatusCallback", "http://192.168.1.1/admin"),
            ],
        )
        .await;
    let body = assert_twilio_error(res, 400, 53111).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("VIDEOROOM_CALLBACK_HOSTS"),
        "{body}"
    );
    app.create_room(&[
        ("UniqueName", "near"),
        ("StatusCallback", "http://localhost:9/cb"),
    ])
    .await;
}

#[actix_web::test]
async fn the_inspector_feed_stays_small_with_twenty_thousand_ended_rooms() {
    let app = spawn().await;
    let store = app.emulator.store();
    for i in 0..20_000 {
        let room = store
            .create_room(&CreateRoom {
                unique_name: Some(RoomName::parse(&format!("ended-{i}")).unwrap()),
                ..CreateRoom::default()
            })
            .unwrap();
        store.complete_room(&RoomKey::Sid(room.sid)).unwrap();
    }
    for i in 0..500 {
        store
            .create_room(&CreateRoom {
                unique_name: Some(RoomName::parse(&format!("open-{i}")).unwrap()),
                ..CreateRoom::default()
            })
            .unwrap();
    }
    let res = app
        .client
        .get(app.url("/emulator/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.bytes().await.unwrap();
    let state: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(state["rooms_ended"], 20_000);
    assert_eq!(state["rooms_in_progress"], 500);
    let rooms = state["rooms"].as_array().unwrap();
    let ended = rooms.iter().filter(|r| r["status"] == "completed").count();
    assert_eq!((rooms.len() - ended, ended), (100, 20), "default page");
    assert_eq!(
        rooms[100]["unique_name"], "ended-19999",
        "most recent first"
    );
    assert!(body.len() < 100_000, "{} bytes", body.len());

    let paged: Value = app
        .client
        .get(app.url("/emulator/state?ended=50&PageSize=10"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paged["rooms"].as_array().unwrap().len(), 60);
    let too_many = app
        .client
        .get(app.url("/emulator/state?ended=100000"))
        .send()
        .await
        .unwrap();
    assert_twilio_error(too_many, 400, 20001).await;
}

#[actix_web::test]
async fn the_inspector_feed_asks_clients_beyond_this_computer_for_the_credentials() {
    let emulator = Emulator::new(EmulatorSettings::seeded());
    let app = actix_test::init_service(App::new().configure(|cfg| emulator.configure(cfg))).await;
    let from = |peer: &str| {
        actix_test::TestRequest::get()
            .uri("/emulator/state")
            .peer_addr(peer.parse().unwrap())
    };
    let remote = actix_test::call_service(&app, from("192.0.2.7:5000").to_request()).await;
    assert_eq!(remote.status(), 401);
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{TEST_ACCOUNT_SID}:{TEST_AUTH_TOKEN}")
        )
    );
    let signed_in = actix_test::call_service(
        &app,
        from("192.0.2.7:5000")
            .insert_header(("Authorization", basic))
            .to_request(),
    )
    .await;
    assert_eq!(signed_in.status(), 200);
    for local in ["127.0.0.1:5000", "[::1]:5000"] {
        let res = actix_test::call_service(&app, from(local).to_request()).await;
        assert_eq!(res.status(), 200, "{local}");
    }
    // The page itself is open: it asks for the credentials when the feed answers 401.
    let page = actix_test::call_service(
        &app,
        actix_test::TestRequest::get()
            .uri("/emulator")
            .peer_addr("192.0.2.7:5000".parse().unwrap())
            .to_request(),
    )
    .await;
    assert_eq!(page.status(), 200);
}
