//! The emulator under hostile and heavy clients (the `hostile` tier of `cargo xtask test`,
//! run with `--test-threads=1`): slow bodies, many connections from one address, file
//! descriptor pressure, a callback receiver that never answers, a clock pushed to the far
//! future, and a request the HTTP parser cannot parse. Each test checks that the abuse costs
//! the abuser, and that everyone else is still served.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use videoroom_core::credentials::{ENV_ALL, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
use videoroom_emulator::limits::ConnectionLimits;
use videoroom_emulator::{CallbackSettings, DeliveryState, EmulatorSettings, MAX_CLOCK_OFFSET};

use crate::helpers::{
    assert_twilio_error, receiver, spawn_capped, spawn_with, Behaviour, TestEmulator,
};

/// `Authorization` for the seeded account, for requests written by hand.
fn basic_auth() -> String {
    use base64::Engine as _;
    let pair = format!("{TEST_ACCOUNT_SID}:{TEST_AUTH_TOKEN}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Opens a connection and sends a `POST /v1/Rooms` that declares a 100-byte body but sends one
/// byte of it: a slow body.
async fn slow_body(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to the emulator");
    let head = format!(
        "POST /v1/Rooms HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nU",
        basic_auth()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Reads what the server sends until it closes or `patience` passes.
async fn read_answer(stream: &mut TcpStream, patience: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(patience, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn address(app: &TestEmulator) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// An emulator with bodies given one second to arrive.
async fn spawn_impatient() -> TestEmulator {
    spawn_with(EmulatorSettings {
        body_read_timeout: Duration::from_secs(1),
        ..EmulatorSettings::seeded()
    })
    .await
}

#[actix_web::test]
async fn a_slow_body_is_answered_408_in_twilios_format_once_its_deadline_passes() {
    let app = spawn_impatient().await;
    let started = Instant::now();
    let mut stream = slow_body(&address(&app)).await;
    let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a slow body is refused with 408: {answer:?}"
    );
    assert!(answer.contains("\"code\":20001"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered after {:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn two_hundred_slow_bodies_end_with_408_and_the_api_keeps_answering_meanwhile() {
    let app = spawn_impatient().await;
    let addr = address(&app);
    let mut slow = Vec::new();
    for _ in 0..200 {
        slow.push(slow_body(&addr).await);
    }
    let started = Instant::now();
    let res = app.get("/v1/Rooms").await;
    assert_eq!(res.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    let answers = futures::future::join_all(
        slow.iter_mut()
            .map(|s| read_answer(s, Duration::from_secs(8))),
    )
    .await;
    let refused = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 408"))
        .count();
    assert_eq!(refused, 200, "every slow body is refused: {:?}", answers[0]);
}

/// An emulator with bodies given two seconds to arrive, behind these connection caps.
async fn spawn_with_limits(limits: ConnectionLimits) -> TestEmulator {
    let settings = EmulatorSettings {
        body_read_timeout: Duration::from_secs(2),
        ..EmulatorSettings::seeded()
    };
    spawn_capped(settings, Some(limits)).await
}

/// `GET /v1/Rooms` with the seeded account, through `client`.
async fn list_rooms(client: &reqwest::Client, base: &str) -> reqwest::Result<reqwest::Response> {
    client
        .get(format!("{base}/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .send()
        .await
}

#[actix_web::test]
async fn a_client_over_its_http_cap_gets_429_while_another_address_is_served() {
    let app = spawn_with_limits(ConnectionLimits {
        http_per_client: 5,
        signaling_per_client: 64,
    })
    .await;
    let addr = address(&app);
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(slow_body(&addr).await);
    }
    // Give the server time to count all five before the sixth request arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let over = app.get("/v1/Rooms").await;
    let body = assert_twilio_error(over, 429, 20429).await;
    assert!(
        body["message"].as_str().unwrap().contains("at most 5"),
        "{body}"
    );

    // Another loopback address is another client: it is served at once.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let res = list_rooms(&other, &app.base).await.unwrap();
    assert_eq!(res.status(), 200);

    // Once the slow bodies are refused, the first client has its slots back.
    for stream in &mut held {
        read_answer(stream, Duration::from_secs(5)).await;
    }
    assert_eq!(app.get("/v1/Rooms").await.status(), 200);
}

#[actix_web::test]
async fn a_client_over_its_signaling_cap_gets_429_and_a_closed_socket_frees_its_slot() {
    let app = spawn_with_limits(ConnectionLimits {
        http_per_client: 256,
        signaling_per_client: 2,
    })
    .await;
    let url = format!("ws://{}/signaling", address(&app));
    let (mut first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (_second, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429)
        }
        other => panic!("a third WebSocket is refused with 429, got {other:?}"),
    }
    // Frames still flow both ways through the counted response body: a frame that is not
    // signaling gets the server's close frame.
    use futures::{SinkExt as _, StreamExt as _};
    first
        .send(tokio_tungstenite::tungstenite::Message::text(
            "not signaling",
        ))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), first.next())
        .await
        .expect("the server answers the frame");
    assert!(
        matches!(
            answer,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(_))))
        ),
        "{answer:?}"
    );
    drop(first);
    // The server notices the closed socket and releases its slot.
    let mut reconnected = false;
    for _ in 0..50 {
        if tokio_tungstenite::connect_async(&url).await.is_ok() {
            reconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reconnected, "a closed WebSocket gives its slot back");
}

#[actix_web::test]
async fn a_hanging_callback_receiver_does_not_delay_another_rooms_callbacks() {
    let app = spawn_with(EmulatorSettings {
        callbacks: CallbackSettings {
            attempt_timeout: Duration::from_secs(5),
            ..CallbackSettings::default()
        },
        ..EmulatorSettings::seeded()
    })
    .await;
    let hanging = receiver(Behaviour::Hang);
    let healthy = receiver(Behaviour::Ok);
    app.create_room(&[
        ("UniqueName", "stuck"),
        ("StatusCallback", &format!("{}/hang", hanging.base)),
    ])
    .await;
    for i in 0..30 {
        app.join("stuck", &format!("user-{i}")).await;
    }
    let started = Instant::now();
    let room = app
        .create_room(&[
            ("UniqueName", "fine"),
            ("StatusCallback", &format!("{}/ok", healthy.base)),
        ])
        .await;
    for i in 0..5 {
        app.join("fine", &format!("user-{i}")).await;
    }
    let sid = room["sid"].as_str().unwrap().to_owned();
    let deliveries = app
        .wait_for_deliveries(|d| {
            d.iter()
                .filter(|d| d.room_sid == sid && d.state == DeliveryState::Delivered)
                .count()
                == 6
        })
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the healthy receiver's callbacks took {:?}",
        started.elapsed()
    );
    assert_eq!(healthy.requests().len(), 6);
    assert!(
        deliveries
            .iter()
            .all(|d| d.room_sid == sid || d.state != DeliveryState::Dropped),
        "nothing of the stuck room is dropped either"
    );
}

#[actix_web::test]
async fn the_clock_stops_ten_years_ahead_with_a_twilio_error_and_timers_keep_working() {
    let app = spawn_with(EmulatorSettings::seeded()).await;
    let year = 366 * 24 * 3600;
    let mut advanced = 0;
    let refused = loop {
        let res = app
            .post("/emulator/clock/advance", &[("Seconds", &year.to_string())])
            .await;
        if res.status() != 200 {
            break res;
        }
        advanced += year;
        assert!(advanced <= MAX_CLOCK_OFFSET.as_secs(), "ran past the cap");
    };
    let body = assert_twilio_error(refused, 400, 20001).await;
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("Seconds"), "{message}");
    assert!(
        message.contains(&MAX_CLOCK_OFFSET.as_secs().to_string()),
        "{message}"
    );

    // The clock still runs at a date Twilio writes, and an unused room still times out.
    let room = app.create_room(&[("UniqueName", "later")]).await;
    let created: Value = room["date_created"].clone();
    assert!(
        created.as_str().unwrap().starts_with("20"),
        "a four-digit year: {created}"
    );
    let res = app
        .post("/emulator/clock/advance", &[("Seconds", "600")])
        .await;
    assert_eq!(res.status(), 200);
    let sid = room["sid"].as_str().unwrap();
    let room: Value = app
        .get(&format!("/v1/Rooms/{sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(room["status"], "completed", "{room}");
}

/// The `videoroom-emulator` binary started through `sh` with a soft open-file limit of 256,
/// its standard error piped. Returns the child and its base URL.
async fn start_binary_with_few_descriptors() -> (Child, String) {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -Sn 256 && exec \"$0\" --port 0")
        .arg(env!("CARGO_BIN_EXE_videoroom-emulator"))
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in ENV_ALL {
        cmd.env_remove(name);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("no listening line");
    })
    .await
    .expect("the binary starts listening");
    // Keep reading standard output so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

async fn rooms_answer_within(base: &str, patience: Duration) -> bool {
    let client = reqwest::Client::builder()
        .timeout(patience)
        .build()
        .unwrap();
    list_rooms(&client, base)
        .await
        .is_ok_and(|r| r.status() == 200)
}

#[actix_web::test]
async fn more_idle_sockets_than_the_soft_descriptor_limit_leave_the_api_answering() {
    let (_child, base) = start_binary_with_few_descriptors().await;
    let addr = base.trim_start_matches("http://").to_owned();
    // All at once, as a hostile client does: once a server at its descriptor limit stops
    // accepting, its accept queue fills and later connections wait for it to drain, which
    // happens only when actix closes idle sockets after 5 s.
    let idle: Vec<_> = (0..400)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let stream = TcpStream::connect(&addr).await;
                tokio::time::sleep(Duration::from_secs(8)).await;
                drop(stream);
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        rooms_answer_within(&base, Duration::from_secs(3)).await,
        "the API answers beside 400 idle sockets (soft limit 256 at exec)"
    );
    for task in idle {
        task.abort();
    }
}

#[actix_web::test]
async fn a_header_name_of_64_kib_is_closed_at_once_without_a_backtrace() {
    let (mut child, base) = start_binary_with_few_descriptors().await;
    let addr = base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let name = "X".repeat(64 * 1024);
    let request = format!("GET /v1/Rooms HTTP/1.1\r\nHost: {addr}\r\n{name}: v\r\n\r\n");
    let started = Instant::now();
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed or answered after {:?}",
        started.elapsed()
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "a 4xx or a close: {answer:?}"
    );
    assert!(rooms_answer_within(&base, Duration::from_secs(3)).await);

    child.start_kill().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(
        !stderr.contains("stack backtrace") && !stderr.contains("panicked"),
        "one bad request costs no panic report:\n{stderr}"
    );
    assert!(
        stderr.contains("64 KiB"),
        "it is logged in one line:\n{stderr}"
    );
}
