//! Who may drive `videoroom` from a browser: the `Host` and `Origin` checks on every route, in
//! both modes (docs/architecture.md, "Threat model").

use serde_json::Value;
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
use videoroom_server::settings::Overrides;
use videoroom_server::Application;

use crate::helpers::{settings, spawn_app, spawn_app_with, TestApp};

async fn error_code(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("a JSON error");
    (status, body)
}

#[actix_web::test]
async fn a_token_request_under_a_foreign_host_name_is_refused_as_dns_rebinding() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/video-token?identity=alice"))
        .header("Host", format!("evil.test:{}", app.port))
        .send()
        .await
        .unwrap();
    let (status, body) = error_code(res).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "unknown_host");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("VIDEOROOM_ALLOWED_HOSTS"));
    assert_eq!(
        app.backend.as_ref().unwrap().creates(),
        0,
        "no room was made"
    );

    for host in ["localhost", "127.0.0.1", "[::1]", "workshop.localhost"] {
        let res = app
            .client
            .get(app.url("/healthz"))
            .header("Host", format!("{host}:{}", app.port))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{host}");
    }
}

#[actix_web::test]
async fn a_configured_host_name_is_answered() {
    let app = spawn_app_with(Overrides {
        allowed_hosts: Some("classroom.test".into()),
        ..Overrides::default()
    })
    .await;
    let res = app
        .client
        .get(app.url("/video-token?identity=alice"))
        .header("Host", format!("classroom.test:{}", app.port))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn a_token_post_from_a_foreign_page_is_refused_and_from_its_own_or_a_configured_one_served() {
    let app = spawn_app_with(Overrides {
        allowed_origins: Some("http://localhost:5173".into()),
        ..Overrides::default()
    })
    .await;
    let post = |origin: String| {
        app.client
            .post(app.url("/video-token"))
            .header("Origin", origin)
            .json(&serde_json::json!({"identity": "alice"}))
            .send()
    };
    let (status, body) = error_code(post("http://evil.test".into()).await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("foreign_origin"))
    );
    assert_eq!(post(app.address.clone()).await.unwrap().status(), 200);
    assert_eq!(
        post("http://localhost:5173".into()).await.unwrap().status(),
        200
    );
}

#[actix_web::test]
async fn in_emulator_mode_a_foreign_page_can_neither_change_rooms_nor_open_signaling() {
    let app = TestApp::from_application(
        Application::build(settings(Overrides::default()))
            .await
            .expect("the application builds"),
    );
    let res = app
        .client
        .post(app.url("/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .header("Origin", "http://evil.test")
        .form(&[("UniqueName", "from-a-foreign-page")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], 20403, "Twilio's error shape under /v1");

    let upgrade = app
        .client
        .get(app.url("/signaling"))
        .header("Origin", "http://evil.test")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(upgrade.status(), 403);

    let rooms: Value = app
        .client
        .get(app.url("/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rooms["rooms"], serde_json::json!([]));
}
