//! When the backend fails: the status and error code a caller sees, with mockall's
//! `MockRoomBackend` producing each failure on demand. No upstream message leaks.

use std::sync::Arc;
use std::time::Duration;

use videoroom_core::{BackendError, MockRoomBackend};
use videoroom_server::settings::Overrides;

use crate::helpers::{error_code, spawn_app_over};

async fn answer_when_fetch_fails(
    error: BackendError,
) -> (u16, String, serde_json::Value, Option<String>) {
    let mut backend = MockRoomBackend::new();
    backend
        .expect_fetch_room()
        .times(1)
        .returning(move |_| Err(error.clone()));
    backend.expect_create_room().never();
    let app = spawn_app_over(Overrides::default(), Arc::new(backend)).await;
    let response = app.get("/video-token?identity=alice").await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, code, body) = error_code(response).await;
    (status, code, body, retry_after)
}

#[tokio::test]
async fn an_unreachable_backend_answers_503_backend_unavailable() {
    let (status, code, body, retry_after) = answer_when_fetch_fails(BackendError::Unavailable(
        "connection refused to video.internal:443".into(),
    ))
    .await;
    assert_eq!((status, code.as_str()), (503, "backend_unavailable"));
    assert_eq!(retry_after, None);
    assert!(
        !body.to_string().contains("video.internal"),
        "no upstream detail: {body}"
    );
}

#[tokio::test]
async fn a_rate_limited_backend_answers_503_with_retry_after() {
    let (status, code, _, retry_after) = answer_when_fetch_fails(BackendError::RateLimited {
        retry_after: Some(Duration::from_millis(2500)),
    })
    .await;
    assert_eq!((status, code.as_str()), (503, "backend_rate_limited"));
    assert_eq!(
        retry_after.as_deref(),
        Some("3"),
        "rounded up to whole seconds"
    );
}

#[tokio::test]
async fn a_rate_limited_backend_without_a_delay_answers_503_without_retry_after() {
    let (status, code, _, retry_after) =
        answer_when_fetch_fails(BackendError::RateLimited { retry_after: None }).await;
    assert_eq!((status, code.as_str()), (503, "backend_rate_limited"));
    assert_eq!(retry_after, None);
}

#[tokio::test]
async fn refused_credentials_answer_502_backend_unauthorized() {
    let (status, code, body, _) = answer_when_fetch_fails(BackendError::Unauthorized).await;
    assert_eq!((status, code.as_str()), (502, "backend_unauthorized"));
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("videoroom check"));
}

#[tokio::test]
async fn a_backend_refusal_answers_502_with_the_twilio_code_but_not_its_message() {
    let (status, code, body, _) = answer_when_fetch_fails(BackendError::Invalid {
        code: 53101,
        message: "upstream said: secret-ish detail".into(),
    })
    .await;
    assert_eq!((status, code.as_str()), (502, "backend_rejected"));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("53101"));
    assert!(!message.contains("secret-ish"));
}

#[tokio::test]
async fn an_unexpected_backend_failure_answers_502_backend_error() {
    let (status, code, body, _) =
        answer_when_fetch_fails(BackendError::Other("<html>bad gateway</html>".into())).await;
    assert_eq!((status, code.as_str()), (502, "backend_error"));
    assert!(!body.to_string().contains("html"));
}

#[tokio::test]
async fn a_failed_creation_is_reported_like_a_failed_lookup() {
    let mut backend = MockRoomBackend::new();
    backend
        .expect_fetch_room()
        .times(1)
        .returning(|_| Err(BackendError::NotFound));
    backend
        .expect_create_room()
        .times(1)
        .returning(|_| Err(BackendError::Unavailable("timeout".into())));
    let app = spawn_app_over(Overrides::default(), Arc::new(backend)).await;
    let (status, code, _) = error_code(app.get("/video-token?identity=alice").await).await;
    assert_eq!((status, code.as_str()), (503, "backend_unavailable"));
}

#[tokio::test]
async fn the_server_keeps_answering_after_a_backend_failure() {
    let mut backend = MockRoomBackend::new();
    let mut calls = 0;
    backend.expect_fetch_room().times(2).returning(move |_| {
        calls += 1;
        if calls == 1 {
            Err(BackendError::Unavailable("blip".into()))
        } else {
            Err(BackendError::Unauthorized)
        }
    });
    let app = spawn_app_over(Overrides::default(), Arc::new(backend)).await;
    let (first, _, _) = error_code(app.get("/video-token?identity=alice").await).await;
    let (second, _, _) = error_code(app.get("/video-token?identity=alice").await).await;
    assert_eq!((first, second), (503, 502));
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}
