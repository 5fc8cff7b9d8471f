//! Hostile signaling clients against the standalone `videoroom-emulator` binary, as issue 12's
//! attacks ran: members of one room that never read while that room is flooded with large
//! updates, and a well-behaved pair in another room that must not notice.
//!
//! The server's memory is read from `/proc/<pid>/status` (VmRSS, VmHWM), so this runs on Linux.
//! Sized for CI: about twenty seconds, and a server that stays under [`RSS_GROWTH_BOUND_MB`].
//! Run it alone with `cargo test -p videoroom-emulator --test api hostile`.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt as _, StreamExt as _};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use videoroom_core::credentials::{
    TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID, TEST_AUTH_TOKEN,
};
use videoroom_core::token::{ApiKey, TokenSigner};
use videoroom_core::{AccountSid, ApiKeySid, Identity};

/// How much the server's resident memory may grow, at its peak, while six members that never
/// read are flooded. Each such member can pin at most its outgoing queue (1 MiB) and what
/// actix-ws and the socket hold behind it (32 frames, each at most a relayed state of 64 KiB
/// or a room update of a few KB) until it is dropped; before issue 12's fixes the same attack
/// grew the server by hundreds of MB.
const RSS_GROWTH_BOUND_MB: u64 = 96;
/// Members of the flooded room that never read.
const NON_READERS: usize = 6;
/// Members of the flooded room that read everything and flood it with relayed offers.
const FLOODERS: usize = 3;
/// The largest offer a relayed state may carry, nearly (64 KiB with the rest of the state).
const OFFER_BYTES: usize = 60 * 1024;
const WAIT: Duration = Duration::from_secs(20);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Socket, Message>;

/// The standalone binary on a loopback port, killed when dropped.
struct Server {
    child: Child,
    base: String,
    pid: u32,
}

impl Server {
    async fn start() -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_videoroom-emulator"));
        command
            // The mesh relay's bounds are under test: group rooms stay a mesh here (the media
            // server's signaling has its own tests in group_media.rs).
            .args(["--port", "0", "--media-mode", "mesh"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        // The seeded credentials, whatever the developer's shell has set.
        for name in [
            "ACCOUNT_SID",
            "TWILIO_ACCOUNT_SID",
            "AUTH_TOKEN",
            "TWILIO_AUTH_TOKEN",
            "API_KEY",
            "TWILIO_API_KEY_SID",
            "API_SECRET",
            "TWILIO_API_KEY_SECRET",
        ] {
            command.env_remove(name);
        }
        let mut child = command.spawn().expect("the binary starts");
        let pid = child.id().expect("a running child");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = tokio::time::timeout(WAIT, async {
            loop {
                let line = lines.next_line().await.unwrap().expect("a listening line");
                if let Some(base) = line.strip_prefix("listening on ") {
                    return base.trim().to_owned();
                }
            }
        })
        .await
        .expect("the binary listens");
        // Keep reading its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, base, pid }
    }

    fn ws_url(&self) -> String {
        format!("{}/signaling", self.base.replacen("http", "ws", 1))
    }

    /// A field of `/proc/<pid>/status`, in kB.
    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("the server's /proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// Sockets the server process holds open (its listener included).
    fn sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .expect("the server's /proc fd")
            .filter_map(Result::ok)
            .filter(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
            })
            .count()
    }

    /// Identities of the room's connected participants, from the REST API.
    async fn connected(&self, room: &str) -> HashSet<String> {
        let body: Value = reqwest::Client::new()
            .get(format!(
                "{}/v1/Rooms/{room}/Participants?Status=connected&PageSize=100",
                self.base
            ))
            .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
            .send()
            .await
            .expect("REST answers")
            .json()
            .await
            .expect("REST JSON");
        body["participants"]
            .as_array()
            .expect("a participant list")
            .iter()
            .filter_map(|p| p["identity"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn token(identity: &str, room: &str) -> String {
    let key = ApiKey {
        account_sid: AccountSid::parse(TEST_ACCOUNT_SID).unwrap(),
        sid: ApiKeySid::parse(TEST_API_KEY_SID).unwrap(),
        secret: TEST_API_KEY_SECRET.to_owned().into(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    TokenSigner::new(key, 3600, None).unwrap().mint(
        &Identity::parse(identity).unwrap(),
        Some(room),
        i64::try_from(now).unwrap(),
    )
}

/// The next `msg` body, skipping heartbeats.
async fn next_msg(ws: &mut Socket) -> Value {
    loop {
        let item = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time");
        if let Some(Ok(Message::Text(text))) = item {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["type"] == "msg" {
                return frame["body"].clone();
            }
        } else if !matches!(item, Some(Ok(_))) {
            panic!("the socket ended: {item:?}");
        }
    }
}

/// Joins `room` as the SDK does, publishing `tracks`; a `small_window` socket takes almost
/// nothing into its receive buffer, so that a member that stops reading backs up at once.
async fn join(
    server: &Server,
    identity: &str,
    room: &str,
    tracks: Vec<Value>,
    small_window: bool,
) -> (Socket, String) {
    let url = server.ws_url();
    let address = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if small_window {
        socket.set_recv_buffer_size(4096).unwrap();
    }
    let stream = socket.connect(address).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), MaybeTlsStream::Plain(stream))
        .await
        .expect("WebSocket upgrade");
    let token = token(identity, room);
    let hello = json!({"id": identity, "timeout": 5000, "type": "hello", "version": 2,
        "body": {"edge": "roaming", "token": token, "type": "ice", "version": 1}});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    assert_eq!(next_msg(&mut ws).await["type"], "iced");
    let connect = json!({"type": "msg", "body": {"type": "connect", "version": 2, "name": null,
        "token": token, "participant": {"revision": 2, "tracks": tracks},
        "peer_connections": [], "format": "unified"}});
    ws.send(Message::text(connect.to_string())).await.unwrap();
    let connected = next_msg(&mut ws).await;
    assert_eq!(connected["type"], "connected", "{connected}");
    let session = connected["session"].as_str().unwrap().to_owned();
    (ws, session)
}

fn camera(identity: &str) -> Vec<Value> {
    vec![
        json!({"enabled": true, "id": format!("{identity}-cam"), "kind": "video",
                "name": format!("{identity}-cam"), "priority": "standard"}),
    ]
}

fn msg(session: &str, body: Value) -> Message {
    let mut body = body;
    body["session"] = json!(session);
    body["version"] = json!(2);
    Message::text(json!({"type": "msg", "body": body}).to_string())
}

/// What a well-behaved client's reader saw.
#[derive(Default)]
struct Seen {
    heartbeats: usize,
    /// Relayed ICE revisions, with when they arrived.
    relays: Vec<(u64, Instant)>,
    /// Ids of the peer connections the server asked this client to offer.
    create_offers: Vec<String>,
    closed: bool,
}

/// Reads everything `stream` receives into `seen`.
fn read_into(mut stream: SplitStream<Socket>, seen: Arc<Mutex<Seen>>) {
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(&text).unwrap_or_default();
            let mut seen = seen.lock();
            if frame["type"] == "heartbeat" {
                seen.heartbeats += 1;
            }
            for state in frame["body"]["peer_connections"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if state["description"]["type"] == "create-offer" {
                    seen.create_offers
                        .push(state["id"].as_str().unwrap_or_default().to_owned());
                }
                if let Some(revision) = state["ice"]["revision"].as_u64() {
                    seen.relays.push((revision, Instant::now()));
                }
            }
        }
        seen.lock().closed = true;
    });
}

/// The calm room: alice relays an ICE update to bob every 100 ms and both send heartbeats,
/// until `stop`. Returns when each relay was sent, by revision.
async fn calm_pair(
    mut alice: Sink,
    alice_session: String,
    mut bob: Sink,
    pc: String,
    stop: Arc<tokio::sync::Notify>,
) -> Vec<Instant> {
    let mut sent = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => break,
            _ = ticker.tick() => {
                let revision = sent.len() as u64 + 1;
                let ice = json!({"type": "update", "peer_connections": [{"id": pc,
                    "ice": {"candidates": [], "ufrag": "calm", "revision": revision}}]});
                alice.send(msg(&alice_session, ice)).await.expect("alice can send");
                sent.push(Instant::now());
                if revision % 10 == 0 {
                    let heartbeat = Message::text(json!({"type": "heartbeat"}).to_string());
                    alice.send(heartbeat.clone()).await.expect("alice can send");
                    bob.send(heartbeat).await.expect("bob can send");
                }
            }
        }
    }
    sent
}

#[actix_web::test]
async fn hostile_non_readers_flooded_with_large_updates_are_dropped_in_bounded_memory_while_another_room_works(
) {
    let server = Server::start().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_start = server.status_kb("VmRSS:");

    // The calm room: two members that read everything.
    let (alice, alice_session) = join(&server, "alice", "calm", camera("alice"), false).await;
    let (bob, _) = join(&server, "bob", "calm", camera("bob"), false).await;
    let (alice_tx, alice_rx) = alice.split();
    let (bob_tx, bob_rx) = bob.split();
    let alice_seen = Arc::new(Mutex::new(Seen::default()));
    let bob_seen = Arc::new(Mutex::new(Seen::default()));
    read_into(alice_rx, alice_seen.clone());
    read_into(bob_rx, bob_seen.clone());
    let calm_pc = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(id) = alice_seen.lock().create_offers.first() {
                return id.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("alice is asked to offer to bob");
    let sockets_before_storm = server.sockets();

    // The storm room: flooders first (so that they offer to everyone after them), then the
    // members that will never read once connected.
    let mut flooders = Vec::new();
    for f in 0..FLOODERS {
        let identity = format!("flooder-{f}");
        let (ws, session) = join(&server, &identity, "storm", camera(&identity), false).await;
        let (tx, rx) = ws.split();
        let seen = Arc::new(Mutex::new(Seen::default()));
        read_into(rx, seen.clone());
        flooders.push((tx, session, seen));
    }
    let mut non_readers = Vec::new();
    for n in 0..NON_READERS {
        let identity = format!("non-reader-{n}");
        non_readers.push(join(&server, &identity, "storm", camera(&identity), true).await);
    }
    tokio::time::timeout(WAIT, async {
        while flooders
            .iter()
            .any(|(_, _, seen)| seen.lock().create_offers.len() < NON_READERS)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every flooder is asked to offer to every later member");

    let stop_calm = Arc::new(tokio::sync::Notify::new());
    let calm = tokio::spawn(calm_pair(
        alice_tx,
        alice_session,
        bob_tx,
        calm_pc,
        stop_calm.clone(),
    ));

    // The attack. The members that do not read send issue 12's large updates (28 tracks with
    // ids of 8,000 characters); the flooders relay offers of nearly 64 KiB to them, four per
    // frame, at the pace their fan-out budget allows after its first burst.
    let started = Instant::now();
    let mut peak_growth_kb = 0;
    let mut revision = 3;
    let huge_tracks: Vec<Value> = (0..28)
        .map(|t| json!({"id": format!("{t}{}", "x".repeat(8000)), "kind": "video", "name": format!("t{t}")}))
        .collect();
    let offer = "a".repeat(OFFER_BYTES);
    let mut round = 0usize;
    let remaining = loop {
        let connected = server.connected("storm").await;
        let remaining = (0..NON_READERS)
            .filter(|n| connected.contains(&format!("non-reader-{n}")))
            .count();
        let growth = server.status_kb("VmRSS:").saturating_sub(rss_start);
        peak_growth_kb = peak_growth_kb.max(growth);
        if remaining == 0 || started.elapsed() > WAIT || growth > RSS_GROWTH_BOUND_MB * 1024 {
            break remaining;
        }
        if round < 20 {
            for (ws, session) in &mut non_readers {
                let update = json!({"type": "update",
                    "participant": {"revision": revision, "tracks": huge_tracks}});
                // The socket may already be closed by the server; that is the point.
                let _ = ws.send(msg(session, update)).await;
            }
            revision += 1;
        }
        for (tx, session, seen) in &mut flooders {
            let ids: Vec<String> = seen.lock().create_offers.clone();
            let chunks: Vec<&[String]> = ids.chunks(4).collect();
            let states: Vec<Value> = chunks[round % chunks.len()]
                .iter()
                .map(|id| {
                    json!({"id": id, "description": {"type": "offer",
                    "revision": 2 + round, "sdp": offer}})
                })
                .collect();
            let _ = tx
                .send(msg(
                    session,
                    json!({"type": "update", "peer_connections": states}),
                ))
                .await;
        }
        round += 1;
        // A burst first, then within the fan-out budget (2 MiB/s per flooder).
        if round > 30 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    };
    let peak_kb = server.status_kb("VmHWM:").saturating_sub(rss_start);
    println!(
        "hostile signaling: attack over after {:.1} s with {remaining} of {NON_READERS} non-readers still connected; RSS growth peak {:.1} MB (sampled {:.1} MB), bound {RSS_GROWTH_BOUND_MB} MB",
        started.elapsed().as_secs_f64(),
        peak_kb as f64 / 1024.0,
        peak_growth_kb as f64 / 1024.0
    );
    assert!(
        peak_kb < RSS_GROWTH_BOUND_MB * 1024,
        "the server grew by {:.1} MB at its peak (bound {RSS_GROWTH_BOUND_MB} MB)",
        peak_kb as f64 / 1024.0
    );
    assert_eq!(
        remaining, 0,
        "members that never read must be disconnected (REST still shows {remaining})"
    );

    // The server lets go of their sockets, though they stay open on this side and unread: the
    // kernel gives them up once their unsent data has waited UNREAD_DATA_TIMEOUT (15 s).
    let sockets_released = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let now = server.sockets();
            if now <= sockets_before_storm + FLOODERS {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    println!(
        "hostile signaling: server sockets {} before the storm room, {:?} after its non-readers were dropped",
        sockets_before_storm, sockets_released
    );

    // The calm room never noticed: every relay arrived, soon, and heartbeats kept coming (the
    // server sends one every 2.5 s).
    tokio::time::timeout(WAIT, async {
        while alice_seen.lock().heartbeats == 0 || bob_seen.lock().heartbeats == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the server's heartbeats reach the calm room");
    stop_calm.notify_waiters();
    let sent = calm.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = bob_seen.lock().relays.clone();
    assert_eq!(
        received.len(),
        sent.len(),
        "every relay in the calm room arrives"
    );
    let slowest = received
        .iter()
        .map(|(revision, at)| at.duration_since(sent[*revision as usize - 1]))
        .max()
        .unwrap_or_default();
    println!(
        "hostile signaling: calm room relayed {} messages, slowest {:.1} ms",
        sent.len(),
        slowest.as_secs_f64() * 1000.0
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a calm relay took {slowest:?}"
    );
    assert!(alice_seen.lock().heartbeats > 0 && bob_seen.lock().heartbeats > 0);
    assert!(!alice_seen.lock().closed && !bob_seen.lock().closed);
    assert_eq!(
        server.connected("calm").await,
        HashSet::from(["alice".to_owned(), "bob".to_owned()])
    );
    assert!(
        sockets_released.is_ok(),
        "the server still holds the sockets of the members it dropped"
    );
    drop(non_readers);
}
