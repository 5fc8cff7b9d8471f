//! LAN workshop benchmark (issue 10): a room of 50 attendees' devices against one `videoroom
//! --https`, all on loopback.
//!
//! The `videoroom` binary is started as a child process with HTTPS and the certificate it makes
//! itself (in a scratch cache folder, which the clients then trust, and nothing else). 50
//! scripted attendees each fetch a token from `/video-token` and join the workshop's room over
//! `wss://…/signaling` exactly as twilio-video.js does (hello with `ice`, `iced`, `connect`,
//! `connected`), with a 5-second heartbeat timeout, the SDK's own. They stay connected, sending
//! their heartbeats and reading everything the server sends, while a probe requests a token
//! and lists the rooms over REST every 100 ms; then they leave.
//!
//! Printed: join latency (TCP connect, TLS handshake, WebSocket upgrade, hello, connect, up to
//! `connected`) p50/p99, the longest silence any attendee saw from the server while connected,
//! heartbeats received, token and REST latency p50/p99 under the load, and PASS/FAIL with the
//! ratio of each target: join p99 under 100 ms, no silence reaching the 5 s heartbeat timeout
//! (the SDK drops a connection then), at least one heartbeat every 2.5 s, token and REST p99
//! under 100 ms. Exits non-zero when a target is missed.
//! Run with `cargo bench -p videoroom-server --bench lan` (or `cargo xtask bench`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
use videoroom_test_support::binary::{self, Running};
use videoroom_test_support::measure::{ms, percentile};

const ATTENDEES: usize = 50;
/// The SDK's heartbeat timeout: it sends `timeout` in its hello and drops the connection when
/// the server is silent that long; the server sends a heartbeat every half of it.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(5000);
/// How long the whole room stays connected after the last attendee joined.
const HOLD: Duration = Duration::from_secs(8);
/// A workshop joins within seconds, not all in one instant: one attendee every 20 ms.
const JOIN_EVERY: Duration = Duration::from_millis(20);
const PROBE_EVERY: Duration = Duration::from_millis(100);
const JOIN_P99_TARGET: Duration = Duration::from_millis(100);
const HTTP_P99_TARGET: Duration = Duration::from_millis(100);
const WAIT: Duration = Duration::from_secs(10);
const ROOM: &str = "myroom";

type Socket = WebSocketStream<TlsStream<TcpStream>>;
type BenchResult<T> = Result<T, String>;

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("lan bench: cannot start a tokio runtime: {err}");
            std::process::exit(2);
        }
    };
    let code = match runtime.block_on(run()) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(err) => {
            eprintln!("lan bench: {err}");
            2
        }
    };
    std::process::exit(code);
}

/// `videoroom --https` in a scratch folder (its working directory, so no `.env` is read, and
/// its cache folder, so the certificate it makes is this run's).
struct Server {
    _running: Running,
    port: u16,
    cert: PathBuf,
    _scratch: tempfile::TempDir,
}

impl Server {
    fn start() -> BenchResult<Self> {
        let scratch = tempfile::tempdir().map_err(|e| format!("a scratch folder: {e}"))?;
        let path = std::env::var("VIDEOROOM_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_videoroom").to_owned());
        let mut command = binary::command(&path);
        command
            .args(["--https", "--port", "0"])
            .current_dir(scratch.path())
            .env("XDG_CACHE_HOME", scratch.path())
            .env("VIDEOROOM_SDK_FETCH", "false")
            .env("RUST_LOG", "warn")
            .stderr(Stdio::inherit());
        let running = Running::start(command)?;
        if !running.base.starts_with("https://") {
            return Err(format!("expected an https:// server, got {}", running.base));
        }
        Ok(Self {
            port: running.port,
            cert: scratch
                .path()
                .join("videoroom")
                .join("tls")
                .join("videoroom-cert.pem"),
            _running: running,
            _scratch: scratch,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }
}

fn certificates(path: &Path) -> BenchResult<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("the server's certificate {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the server's certificate {}: {e}", path.display()))
}

/// A TLS client that trusts the server's own certificate and nothing else.
fn tls_config(cert: &Path) -> BenchResult<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for der in certificates(cert)? {
        roots.add(der).map_err(|e| format!("a root: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

fn http_client(cert: &Path) -> BenchResult<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .timeout(WAIT);
    for der in certificates(cert)? {
        builder = builder.add_root_certificate(
            reqwest::Certificate::from_der(der.as_ref()).map_err(|e| e.to_string())?,
        );
    }
    builder.build().map_err(|e| e.to_string())
}

/// What one attendee measured.
#[derive(Default)]
struct Attendee {
    join: Duration,
    token: Duration,
    /// The longest time the server said nothing to this attendee while it was connected.
    longest_silence: Duration,
    heartbeats: usize,
}

async fn send(ws: &mut Socket, frame: Value) -> BenchResult<()> {
    ws.send(Message::text(frame.to_string()))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// The next `msg` body, skipping heartbeats.
async fn next_msg(ws: &mut Socket) -> BenchResult<Value> {
    loop {
        let item = tokio::time::timeout(WAIT, ws.next())
            .await
            .map_err(|_| "no message within 10 s".to_owned())?;
        match item {
            Some(Ok(Message::Text(text))) => {
                let frame: Value =
                    serde_json::from_str(&text).map_err(|e| format!("bad JSON: {e}"))?;
                match frame["type"].as_str() {
                    Some("msg") => return Ok(frame["body"].clone()),
                    Some("heartbeat") | Some("welcome") => {}
                    other => return Err(format!("unexpected frame type {other:?}")),
                }
            }
            Some(Ok(Message::Close(close))) => return Err(format!("closed: {close:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("socket error: {e}")),
            None => return Err("socket ended".into()),
        }
    }
}

/// One attendee: a token, the join over `wss://`, then connected until `leave` fires.
async fn attendee(
    index: usize,
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    http: reqwest::Client,
    leave: Arc<tokio::sync::Notify>,
) -> BenchResult<Attendee> {
    let mut figures = Attendee::default();
    let identity = format!("attendee-{index}");
    let started = Instant::now();
    let answer: Value = http
        .get(format!(
            "https://127.0.0.1:{port}/video-token?identity={identity}"
        ))
        .send()
        .await
        .map_err(|e| format!("token: {e}"))?
        .json()
        .await
        .map_err(|e| format!("token body: {e}"))?;
    figures.token = started.elapsed();
    let token = answer["token"]
        .as_str()
        .ok_or_else(|| format!("no token in {answer}"))?
        .to_owned();

    let started = Instant::now();
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("wss://127.0.0.1:{port}/signaling"), stream)
            .await
            .map_err(|e| format!("WebSocket upgrade: {e}"))?;
    let timeout_ms = HEARTBEAT_TIMEOUT.as_millis() as u64;
    send(
        &mut ws,
        json!({"id": "bench", "timeout": timeout_ms, "type": "hello", "version": 2,
               "body": {"edge": "roaming", "token": token, "type": "ice", "version": 1}}),
    )
    .await?;
    let iced = next_msg(&mut ws).await?;
    if iced["type"] != "iced" || iced["ice_servers"] != json!([]) {
        return Err(format!("expected iced with no ICE server, got {iced}"));
    }
    let camera = json!({"enabled": true, "id": format!("{identity}-cam"), "kind": "video",
        "name": format!("{identity}-cam"), "priority": "standard"});
    send(
        &mut ws,
        json!({"type": "msg", "body": {
            "type": "connect", "version": 2, "name": ROOM, "token": token,
            "participant": {"revision": 1, "tracks": [camera]},
            "peer_connections": [], "ice_servers": "acquire", "format": "unified",
            "subscribe": {"rules": [{"type": "include", "all": true}], "revision": 1},
        }}),
    )
    .await?;
    let connected = next_msg(&mut ws).await?;
    if connected["type"] != "connected" {
        return Err(format!("expected connected, got {connected}"));
    }
    figures.join = started.elapsed();
    let session = connected["session"].as_str().unwrap_or_default().to_owned();

    // Connected: heartbeats every half timeout, as the SDK, and everything the server sends is
    // read (room updates as others join, its heartbeats), with the gaps between frames timed.
    let mut beat = tokio::time::interval(HEARTBEAT_TIMEOUT / 2);
    beat.tick().await;
    let mut last_heard = Instant::now();
    let left = leave.notified();
    tokio::pin!(left);
    loop {
        tokio::select! {
            () = &mut left => break,
            _ = beat.tick() => send(&mut ws, json!({"type": "heartbeat"})).await?,
            item = ws.next() => match item {
                Some(Ok(Message::Text(text))) => {
                    figures.longest_silence = figures.longest_silence.max(last_heard.elapsed());
                    last_heard = Instant::now();
                    if text.contains(r#""type":"heartbeat""#) {
                        figures.heartbeats += 1;
                    }
                }
                Some(Ok(Message::Close(close))) => {
                    return Err(format!("{identity} was disconnected: {close:?}"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("{identity}: socket error: {e}")),
                None => return Err(format!("{identity}: the server closed the socket")),
            }
        }
    }
    figures.longest_silence = figures.longest_silence.max(last_heard.elapsed());
    send(
        &mut ws,
        json!({"type": "msg", "body": {"type": "disconnect", "version": 2, "session": session}}),
    )
    .await?;
    send(&mut ws, json!({"type": "bye"})).await?;
    let _ = ws.close(None).await;
    Ok(figures)
}

/// A token and a REST room list every [`PROBE_EVERY`] until `stop` fires: how responsive the
/// HTTP side stays under the signaling load.
async fn probe(
    server_token: String,
    server_rest: String,
    http: reqwest::Client,
    stop: Arc<tokio::sync::Notify>,
) -> BenchResult<(Vec<Duration>, Vec<Duration>)> {
    let (mut tokens, mut rests) = (Vec::new(), Vec::new());
    let stopped = stop.notified();
    tokio::pin!(stopped);
    let mut tick = tokio::time::interval(PROBE_EVERY);
    loop {
        tokio::select! {
            () = &mut stopped => break,
            _ = tick.tick() => {
                let started = Instant::now();
                let answer = http.get(&server_token).send().await.map_err(|e| format!("token probe: {e}"))?;
                if !answer.status().is_success() {
                    return Err(format!("token probe answered {}", answer.status()));
                }
                tokens.push(started.elapsed());
                let started = Instant::now();
                let answer = http
                    .get(&server_rest)
                    .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
                    .send()
                    .await
                    .map_err(|e| format!("REST probe: {e}"))?;
                if !answer.status().is_success() {
                    return Err(format!("REST probe answered {}", answer.status()));
                }
                rests.push(started.elapsed());
            }
        }
    }
    Ok((tokens, rests))
}

fn check(what: &str, value: Duration, target: Duration) -> (String, bool) {
    (
        format!(
            "{what} {} < {}  (ratio {:.2} of the target)",
            ms(value),
            ms(target),
            value.as_secs_f64() / target.as_secs_f64()
        ),
        value < target,
    )
}

async fn run() -> BenchResult<bool> {
    let server = Server::start()?;
    let tls = tls_config(&server.cert)?;
    let http = http_client(&server.cert)?;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let leave = Arc::new(tokio::sync::Notify::new());
    let stop_probe = Arc::new(tokio::sync::Notify::new());
    let probe = tokio::spawn(probe(
        server.url("/video-token?identity=probe"),
        server.url("/v1/Rooms?Status=in-progress"),
        http.clone(),
        stop_probe.clone(),
    ));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(ATTENDEES);
    for index in 0..ATTENDEES {
        tasks.push(tokio::spawn(attendee(
            index,
            server.port,
            tls.clone(),
            http.clone(),
            leave.clone(),
        )));
        tokio::time::sleep(JOIN_EVERY).await;
    }
    // Everyone has had time to join; the room stays connected for `HOLD`.
    tokio::time::sleep(HOLD).await;
    let room: Value = http
        .get(server.url(&format!("/v1/Rooms?UniqueName={ROOM}&Status=in-progress")))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .send()
        .await
        .map_err(|e| format!("REST: {e}"))?
        .json()
        .await
        .map_err(|e| format!("REST body: {e}"))?;
    let sid = room["rooms"][0]["sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let participants: Value = http
        .get(server.url(&format!(
            "/v1/Rooms/{sid}/Participants?Status=connected&PageSize=100"
        )))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .send()
        .await
        .map_err(|e| format!("REST: {e}"))?
        .json()
        .await
        .map_err(|e| format!("REST body: {e}"))?;
    let connected = participants["participants"].as_array().map_or(0, Vec::len);
    leave.notify_waiters();
    let mut attendees = Vec::with_capacity(ATTENDEES);
    for task in tasks {
        attendees.push(task.await.map_err(|e| format!("attendee task: {e}"))??);
    }
    stop_probe.notify_waiters();
    let (mut tokens, mut rests) = probe.await.map_err(|e| format!("probe task: {e}"))??;
    let elapsed = started.elapsed();

    let mut joins: Vec<Duration> = attendees.iter().map(|a| a.join).collect();
    joins.sort();
    tokens.extend(attendees.iter().map(|a| a.token));
    tokens.sort();
    rests.sort();
    let longest_silence = attendees
        .iter()
        .map(|a| a.longest_silence)
        .max()
        .unwrap_or_default();
    let fewest_heartbeats = attendees.iter().map(|a| a.heartbeats).min().unwrap_or(0);
    // Every attendee was connected for at least `HOLD`, with a heartbeat due every half timeout.
    let expected_heartbeats = (HOLD.as_millis() / (HEARTBEAT_TIMEOUT / 2).as_millis()) as usize;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();

    println!(
        "LAN benchmark: {ATTENDEES} attendees over HTTPS (self-signed certificate), one joining every {} ms, all connected for {} s with a {} s heartbeat timeout, a token and a REST list every {} ms meanwhile",
        JOIN_EVERY.as_millis(),
        HOLD.as_secs(),
        HEARTBEAT_TIMEOUT.as_secs(),
        PROBE_EVERY.as_millis()
    );
    println!("  run took              {}", ms(elapsed));
    println!(
        "  machine               {} CPUs, load average {} (1, 5, 15 min)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.join(" ")
    );
    println!(
        "  join latency (wss)    p50 {}   p99 {}   ({} joins, TLS handshake included)",
        ms(percentile(&joins, 50.0)),
        ms(percentile(&joins, 99.0)),
        joins.len()
    );
    println!("  connected at once     {connected}/{ATTENDEES} (REST, during the hold)");
    println!(
        "  server silence        longest {} seen by any attendee; fewest heartbeats {fewest_heartbeats} (at least {expected_heartbeats} due)",
        ms(longest_silence)
    );
    println!(
        "  token latency         p50 {}   p99 {}   ({} requests)",
        ms(percentile(&tokens, 50.0)),
        ms(percentile(&tokens, 99.0)),
        tokens.len()
    );
    println!(
        "  REST latency          p50 {}   p99 {}   ({} requests)",
        ms(percentile(&rests, 50.0)),
        ms(percentile(&rests, 99.0)),
        rests.len()
    );
    let checks = [
        check("join p99", percentile(&joins, 99.0), JOIN_P99_TARGET),
        check("longest server silence", longest_silence, HEARTBEAT_TIMEOUT),
        (
            format!(
                "every attendee got its heartbeats (fewest {fewest_heartbeats}, {expected_heartbeats} due)"
            ),
            fewest_heartbeats >= expected_heartbeats,
        ),
        (
            format!("all {ATTENDEES} attendees connected at once ({connected})"),
            connected == ATTENDEES,
        ),
        check("token p99", percentile(&tokens, 99.0), HTTP_P99_TARGET),
        check("REST p99", percentile(&rests, 99.0), HTTP_P99_TARGET),
    ];
    let mut all = true;
    for (what, ok) in &checks {
        println!("  {}  {what}", if *ok { "PASS" } else { "FAIL" });
        all &= ok;
    }
    Ok(all)
}
