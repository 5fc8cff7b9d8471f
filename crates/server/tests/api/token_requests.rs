//! Every form of a good token request, and what the token grants.

use serde_json::{json, Value};
use videoroom_core::RoomKey;
use videoroom_server::settings::Overrides;

use videoroom_test_support::assert_token_snapshot;

use crate::helpers::{error_code, spawn_app, spawn_app_with, verify};

async fn ok_body(response: reqwest::Response) -> Value {
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "tokens must not be cached"
    );
    assert!(response.headers().contains_key("x-request-id"));
    response.json().await.expect("a JSON answer")
}

/// Checks the answer's fields against each other and against the token they carry.
fn assert_answer(body: &Value, identity: &str, room: &str) {
    assert_eq!(body["identity"], identity);
    assert_eq!(body["room"], room);
    let room_sid = body["roomSid"].as_str().expect("roomSid is a string");
    assert!(
        room_sid.starts_with("RM") && room_sid.len() == 34,
        "{room_sid}"
    );
    let verified = verify(body["token"].as_str().expect("token is a string"));
    assert_eq!(verified.identity.as_str(), identity);
    assert_eq!(verified.room.as_deref(), Some(room));
    let lifetime = verified.expires_at - verified.issued_at.expect("iat is set");
    assert_eq!(lifetime, 3600, "the default lifetime is one hour");
}

#[tokio::test]
async fn a_get_with_an_identity_answers_a_token_for_the_default_room() {
    let app = spawn_app().await;
    let body = ok_body(app.get("/video-token?identity=alice").await).await;
    assert_answer(&body, "alice", "myroom");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.len(),
        4,
        "exactly token, identity, room, roomSid: {keys:?}"
    );
}

#[tokio::test]
async fn the_room_sid_is_the_in_progress_room_in_the_backend() {
    let app = spawn_app().await;
    let body = ok_body(app.get("/video-token?identity=alice").await).await;
    let backend = app.backend.as_ref().unwrap();
    let room = backend
        .inner()
        .fetch_room(&RoomKey::Name("myroom".parse_room()))
        .await
        .expect("the room exists in the backend");
    assert_eq!(body["roomSid"], room.sid.as_str());
    assert_eq!(room.room_type.as_str(), "group");
}

trait ParseRoom {
    fn parse_room(&self) -> videoroom_core::RoomName;
}

impl ParseRoom for str {
    fn parse_room(&self) -> videoroom_core::RoomName {
        videoroom_core::RoomName::parse(self).expect("a valid room name")
    }
}

#[tokio::test]
async fn a_post_with_a_json_body_answers_a_token() {
    let app = spawn_app().await;
    let body = ok_body(app.post_json(&json!({"identity": "山田 太郎"})).await).await;
    assert_answer(&body, "山田 太郎", "myroom");
}

#[tokio::test]
async fn a_post_with_a_form_body_answers_a_token() {
    let app = spawn_app().await;
    let body = ok_body(app.post_form("identity=%E5%B1%B1%E7%94%B0+bob").await).await;
    assert_answer(&body, "山田 bob", "myroom");
}

#[tokio::test]
async fn user_is_accepted_in_place_of_identity_in_json_form_and_query() {
    let app = spawn_app().await;
    let body = ok_body(app.post_json(&json!({"user": "carol"})).await).await;
    assert_answer(&body, "carol", "myroom");
    let body = ok_body(app.post_form("user=dave").await).await;
    assert_answer(&body, "dave", "myroom");
    let body = ok_body(app.get("/video-token?user=erin").await).await;
    assert_answer(&body, "erin", "myroom");
}

#[tokio::test]
async fn a_post_without_a_body_reads_the_query_string() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/video-token?identity=frank"))
        .send()
        .await
        .unwrap();
    assert_answer(&ok_body(response).await, "frank", "myroom");
}

#[tokio::test]
async fn a_json_content_type_with_a_utf8_charset_is_accepted() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/video-token"))
        .header("content-type", "application/json; charset=UTF-8")
        .body(r#"{"identity":"grace"}"#)
        .send()
        .await
        .unwrap();
    assert_answer(&ok_body(response).await, "grace", "myroom");
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let app = spawn_app().await;
    let body = ok_body(
        app.post_json(&json!({"identity": "heidi", "color": "blue"}))
            .await,
    )
    .await;
    assert_answer(&body, "heidi", "myroom");
}

#[tokio::test]
async fn the_room_parameter_chooses_another_room_by_default() {
    let app = spawn_app().await;
    let standup = ok_body(
        app.get("/video-token?identity=alice&room=DailyStandup")
            .await,
    )
    .await;
    assert_answer(&standup, "alice", "DailyStandup");
    let json = ok_body(
        app.post_json(&json!({"identity": "bob", "room": "DailyStandup"}))
            .await,
    )
    .await;
    assert_eq!(
        json["roomSid"], standup["roomSid"],
        "the same room is found again"
    );
    let form = ok_body(
        app.post_form("identity=carol&room=%E4%BC%9A%E8%AD%B0%E5%AE%A4")
            .await,
    )
    .await;
    assert_answer(&form, "carol", "会議室");
    let default = ok_body(app.get("/video-token?identity=dave").await).await;
    assert_ne!(default["roomSid"], standup["roomSid"]);
}

#[tokio::test]
async fn an_empty_room_parameter_means_the_default_room() {
    let app = spawn_app().await;
    let body = ok_body(app.post_form("identity=alice&room=").await).await;
    assert_answer(&body, "alice", "myroom");
}

#[tokio::test]
async fn when_room_choice_is_disabled_another_room_is_refused_but_the_configured_one_is_not() {
    let app = spawn_app_with(Overrides {
        room: Some("classroom".into()),
        allow_room_param: Some("false".into()),
        ..Overrides::default()
    })
    .await;
    let (status, code, body) =
        error_code(app.get("/video-token?identity=alice&room=other").await).await;
    assert_eq!((status, code.as_str()), (403, "room_choice_disabled"));
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("classroom"));
    let same = ok_body(app.get("/video-token?identity=alice&room=classroom").await).await;
    assert_answer(&same, "alice", "classroom");
    let none = ok_body(app.post_json(&json!({"identity": "bob"})).await).await;
    assert_answer(&none, "bob", "classroom");
}

#[tokio::test]
async fn rooms_are_created_with_the_configured_type() {
    let app = spawn_app_with(Overrides {
        room_type: Some("go".into()),
        ..Overrides::default()
    })
    .await;
    ok_body(app.get("/video-token?identity=alice").await).await;
    let room = app
        .backend
        .as_ref()
        .unwrap()
        .inner()
        .fetch_room(&RoomKey::Name("myroom".parse_room()))
        .await
        .unwrap();
    assert_eq!(room.room_type.as_str(), "go");
    assert_eq!(room.max_participants, 2);
}

#[tokio::test]
async fn the_token_lifetime_and_region_follow_the_configuration() {
    let app = spawn_app_with(Overrides {
        token_ttl: Some("600".into()),
        region: Some("jp1".into()),
        ..Overrides::default()
    })
    .await;
    let body = ok_body(app.get("/video-token?identity=alice").await).await;
    let token = body["token"].as_str().unwrap();
    let verified = verify(token);
    assert_eq!(verified.expires_at - verified.issued_at.unwrap(), 600);
    let decoded = videoroom_core::token::decode_unverified(token).unwrap();
    assert_eq!(decoded.header["twr"], "jp1");
}

#[tokio::test]
async fn a_served_token_has_twilios_header_and_claims() {
    let app = spawn_app().await;
    let body = ok_body(app.get("/video-token?identity=alice").await).await;
    assert_token_snapshot!(
        "served_token_for_alice_in_myroom",
        body["token"].as_str().unwrap(),
    );
}

#[tokio::test]
async fn a_served_token_for_another_room_grants_that_room() {
    let app = spawn_app().await;
    let body = ok_body(
        app.post_json(&json!({"identity": "bob", "room": "DailyStandup"}))
            .await,
    )
    .await;
    assert_token_snapshot!(
        "served_token_for_bob_in_dailystandup",
        body["token"].as_str().unwrap(),
    );
}

#[tokio::test]
async fn healthz_reports_ok_and_the_backend() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "backend": "emulator"}));
}

#[tokio::test]
async fn every_response_carries_a_distinct_request_id() {
    let app = spawn_app().await;
    let a = app.get("/healthz").await;
    let b = app.get("/nope").await;
    let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id(&a), id(&b));
    assert_eq!(id(&a).len(), 32);
}

/// The real emulator mode: `Application::build` with the default settings.
async fn spawn_emulator_app(env: &[(&str, &str)]) -> crate::helpers::TestApp {
    // `sdk.fetch = false`: the workshop page's SDK is never fetched, so no test starts `npm pack`
    // (the page then explains how to get the SDK, which these tests do not look at).
    let no_fetch = ("VIDEOROOM_SDK_FETCH".to_owned(), "false".to_owned());
    let sources = videoroom_server::settings::Sources {
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain([no_fetch])
            .collect(),
        overrides: Overrides {
            port: Some("0".into()),
            ..Overrides::default()
        },
        ..videoroom_server::settings::Sources::default()
    };
    let settings = sources.load().expect("valid settings");
    let app = videoroom_server::Application::build(settings)
        .await
        .expect("the application builds");
    crate::helpers::TestApp::from_application(app)
}

#[tokio::test]
async fn in_emulator_mode_the_rest_api_on_the_same_port_shows_the_room_of_the_token() {
    use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
    let app = spawn_emulator_app(&[]).await;
    let body = ok_body(app.get("/video-token?identity=alice").await).await;
    let rest = app
        .client
        .get(app.url(&format!("/v1/Rooms/{}", body["roomSid"].as_str().unwrap())))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status().as_u16(), 200);
    let room: Value = rest.json().await.unwrap();
    assert_eq!(room["unique_name"], "myroom");
    assert_eq!(room["status"], "in-progress");
    assert_eq!(room["type"], "group");
    let unauthenticated = app.get("/v1/Rooms").await;
    assert_eq!(unauthenticated.status().as_u16(), 401);
}

#[tokio::test]
async fn in_emulator_mode_the_emulator_accepts_the_configured_api_key() {
    let key = "SK44444444444444444444444444444444";
    let app = spawn_emulator_app(&[
        ("ACCOUNT_SID", "AC33333333333333333333333333333333"),
        ("API_KEY", key),
        ("API_SECRET", "workshop-secret"),
    ])
    .await;
    let body = ok_body(app.get("/video-token?identity=alice").await).await;
    let decoded =
        videoroom_core::token::decode_unverified(body["token"].as_str().unwrap()).unwrap();
    assert_eq!(decoded.claims["iss"], key);
    let rest = app
        .client
        .get(app.url("/v1/Rooms/myroom"))
        .basic_auth(key, Some("workshop-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status().as_u16(), 200);
    let seeded = app
        .client
        .get(app.url("/v1/Rooms/myroom"))
        .basic_auth(
            videoroom_core::credentials::TEST_API_KEY_SID,
            Some(videoroom_core::credentials::TEST_API_KEY_SECRET),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        seeded.status().as_u16(),
        401,
        "the seeded key is not accepted once a real one is configured"
    );
}

#[tokio::test]
async fn the_workshop_page_is_served_on_the_same_origin_as_the_token() {
    let app = spawn_app().await;
    let page = app.get("/index.html").await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("login-form"), "the workshop page: {html}");
    let script = app.get("/video.js").await;
    assert_eq!(script.status().as_u16(), 200);
    assert!(script.text().await.unwrap().contains("/video-token"));
}

#[tokio::test]
async fn in_emulator_mode_tokens_are_issued_on_the_emulators_clock_so_advancing_it_keeps_them_valid(
) {
    use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
    let app = spawn_emulator_app(&[]).await;
    let advanced = app
        .client
        .post(app.url("/emulator/clock/advance"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .form(&[("Seconds", "7200")])
        .send()
        .await
        .unwrap();
    assert_eq!(advanced.status().as_u16(), 200);

    let body = ok_body(app.get("/video-token?identity=alice").await).await;
    let token = body["token"].as_str().unwrap();
    let real_now = time::OffsetDateTime::now_utc().unix_timestamp();
    let iat = videoroom_core::token::decode_unverified(token)
        .unwrap()
        .claims["iat"]
        .as_i64()
        .unwrap();
    assert!(
        iat >= real_now + 7200 - 5,
        "the token is issued at the emulator's time (iat {iat}, real now {real_now})"
    );
    // What the emulator's signaling checks: the token is valid at the emulator's time.
    let verifier = videoroom_core::token::TokenVerifier::new(vec![videoroom_core::token::ApiKey {
        account_sid: videoroom_core::AccountSid::parse(TEST_ACCOUNT_SID).unwrap(),
        sid: videoroom_core::ApiKeySid::parse(videoroom_core::credentials::TEST_API_KEY_SID)
            .unwrap(),
        secret: videoroom_core::credentials::TEST_API_KEY_SECRET.into(),
    }]);
    assert!(verifier.verify(token, real_now + 7200).is_ok());
}
