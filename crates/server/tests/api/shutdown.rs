//! Graceful shutdown: a request in flight when the server is told to stop still gets its
//! answer. (Signals are tested on the real binary in `cli.rs`.)

use std::time::Duration;

use videoroom_server::settings::Overrides;

use crate::helpers::spawn_app_with_latency;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_when_the_server_stops_still_gets_its_token() {
    let app = spawn_app_with_latency(Overrides::default(), Duration::from_millis(800)).await;
    let client = app.client.clone();
    let url = app.url("/video-token?identity=alice");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    // Wait until the request is inside the (slow) backend, then ask for a graceful stop.
    let backend = app.backend.as_ref().expect("a counting backend");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while backend.fetches.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopped = app.handle().stop(true);
    let response = in_flight
        .await
        .expect("the request task finishes")
        .expect("the in-flight request is answered, not cut off");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the server finishes stopping");
    let after = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(app.url("/healthz"))
        .send()
        .await;
    assert!(after.is_err(), "a stopped server accepts no new connection");
}
