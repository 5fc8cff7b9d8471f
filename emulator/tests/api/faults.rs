//! Fault injection on `/v1` (issue 13): by the control route, read back, cleared; the control
//! routes themselves are never faulted.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::spawn;

#[tokio::test]
async fn injected_503s_and_429s_come_in_twilios_format_and_are_counted() {
    let e = spawn().await;
    let set = e.post("/emulator/faults", &[("Rate503", "1")]).await;
    assert_eq!(set.status().as_u16(), 200);
    let answer = e.get("/v1/Rooms").await;
    assert_eq!(answer.status().as_u16(), 503);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], 20503);
    assert_eq!(body["status"], 503);

    e.post("/emulator/faults", &[("Rate429", "1"), ("RetryAfter", "7")])
        .await;
    let answer = e.get("/v1/Rooms").await;
    assert_eq!(answer.status().as_u16(), 429);
    assert_eq!(answer.headers()["retry-after"], "7");
    assert_eq!(answer.json::<Value>().await.unwrap()["code"], 20429);

    let report: Value = e.get("/emulator/faults").await.json().await.unwrap();
    assert_eq!(report["requests"], 2);
    assert_eq!(report["injected_503"], 1);
    assert_eq!(report["injected_429"], 1);
    assert_eq!(report["plan"]["rate_429"], 1.0);

    let cleared = e
        .client
        .delete(e.url("/emulator/faults"))
        .basic_auth(
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status().as_u16(), 200);
    assert_eq!(e.get("/v1/Rooms").await.status().as_u16(), 200);
}

#[tokio::test]
async fn added_latency_delays_every_rest_answer_but_not_the_control_routes() {
    let e = spawn().await;
    e.post("/emulator/faults", &[("LatencyMs", "300")]).await;
    let started = Instant::now();
    assert_eq!(e.get("/v1/Rooms").await.status().as_u16(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(e.get("/emulator/faults").await.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn a_dropped_answer_is_cut_mid_body_after_the_request_was_processed() {
    let e = spawn().await;
    e.post("/emulator/faults", &[("RateDrop", "1")]).await;
    let sent = e
        .client
        .post(e.url("/v1/Rooms"))
        .basic_auth(
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .form(&[("UniqueName", "cut")])
        .send()
        .await;
    // The connection closes before the whole answer arrived: during the head or the body,
    // depending on when the server had flushed what it had.
    let whole = match sent {
        Ok(answer) => answer.bytes().await.is_ok(),
        Err(_) => false,
    };
    assert!(!whole, "the answer must not arrive whole");
    e.client
        .delete(e.url("/emulator/faults"))
        .basic_auth(
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .send()
        .await
        .unwrap();
    let room: Value = e.get("/v1/Rooms/cut").await.json().await.unwrap();
    assert_eq!(
        room["status"], "in-progress",
        "the room was created: {room}"
    );
}

#[tokio::test]
async fn bad_plans_are_refused_with_the_parameter_named_and_need_credentials() {
    let e = spawn().await;
    let refused = e.post("/emulator/faults", &[("Rate503", "1.5")]).await;
    assert_eq!(refused.status().as_u16(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Rate503"),
        "{body}"
    );
    let anonymous = e
        .client
        .post(e.url("/emulator/faults?Rate503=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(
        e.get("/v1/Rooms").await.status().as_u16(),
        200,
        "plan unchanged"
    );
}
