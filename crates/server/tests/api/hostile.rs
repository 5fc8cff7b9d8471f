//! `videoroom` under hostile clients (the `hostile` tier of `cargo xtask test`): slow token
//! request bodies and one address holding many requests. `/healthz` and other clients must be
//! served throughout.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use videoroom_server::settings::{ConnectionLimits, Overrides};
use videoroom_server::startup::Backend;
use videoroom_server::Application;

use crate::helpers::{client, settings, spawn_app, TestApp};

/// A `POST /video-token` that declares a 100-byte body and sends one byte of it.
async fn slow_token_request(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the server");
    let head = format!(
        "POST /video-token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the request head");
    stream
}

async fn read_answer(stream: &mut TcpStream, patience: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(patience, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_token_request_bodies_get_408_and_healthz_answers_meanwhile() {
    let app = spawn_app().await;
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..100 {
        slow.push(slow_token_request(app.port).await);
    }
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));

    let answers = futures::future::join_all(
        slow.iter_mut()
            .map(|s| read_answer(s, Duration::from_secs(20))),
    )
    .await;
    for answer in &answers {
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "a slow body is refused with 408: {answer:?}"
        );
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "refused after {:?}, the deadline is 10 s",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_cap_gets_429_in_our_format_while_others_are_served() {
    let mut settings = settings(Overrides::default());
    settings.limits = ConnectionLimits {
        http_per_client: 3,
        ..ConnectionLimits::default()
    };
    let backend = Backend::for_settings(&settings).unwrap();
    let app = TestApp::from_application(
        Application::build_with_backend(settings, backend)
            .await
            .unwrap(),
    );
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(slow_token_request(app.port).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let over = app.get("/video-token?identity=alice").await;
    assert_eq!(over.status(), 429);
    let body: serde_json::Value = over.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    let twilio = app.get("/v1/Rooms").await;
    assert_eq!(twilio.status(), 429, "the emulator's surface is capped too");
    let body: serde_json::Value = twilio.json().await.unwrap();
    assert_eq!(body["code"], 20429, "in Twilio's format: {body}");

    let other = reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let health = other.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "another address is another client");
    drop(held);
    // Closed connections give their slots back.
    let mut served = false;
    for _ in 0..50 {
        if client()
            .get(app.url("/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served);
}
