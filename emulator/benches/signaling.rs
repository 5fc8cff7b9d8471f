//! Signaling benchmark: 40 rooms, 2 scripted participants each, against the standalone
//! `videoroom-emulator` binary started as a child process (so the memory measured is the
//! server's own, from `/proc/<pid>/status`).
//!
//! Each room is created over REST, both participants join over `/signaling` (hello, iced,
//! connect, connected), relay 50 messages each way through their peer connection (an offer of a
//! realistic SDP size first, then ICE candidates; one message per room every 10 ms, the rooms
//! staggered, as browsers trickle ICE), and leave. Then the emulator's
//! clock is moved past the empty-room timeout and every room must be completed.
//!
//! Printed: join latency p50/p99, relay latency p50/p99, the server's RSS at start, its peak
//! (VmHWM) and growth, rooms completed, and PASS/FAIL against the targets: relay p99 under 5 ms,
//! RSS growth under 20 MB, every room completed. Exits non-zero when a target is missed.
//!
//! Then a noisy-neighbour phase: participants join and leave a quiet room one after another,
//! first with nothing else going on, then while six members of another room flood it with
//! track updates (32 tracks with the longest names allowed, toggled 15 times a second each,
//! within the flood and fan-out limits, every update sent on to the five others). Printed: the
//! quiet room's join latency p50/p99 in both cases and their ratio (noisy / quiet). The hub
//! locks each room separately, so the ratio measures the CPU the two rooms share, not a lock.
//! Run with `cargo bench -p videoroom-emulator --bench signaling` (or `cargo xtask bench`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
use videoroom_core::token::TokenSigner;
use videoroom_core::Identity;
use videoroom_test_support::binary::{self, Running};
use videoroom_test_support::measure::{ms, percentile, proc_status_kib};
use videoroom_test_support::seeded_key;

const ROOMS: usize = 40;
const MESSAGES_EACH_WAY: usize = 50;
/// Each room sends one message per tick, the rooms evenly staggered: 80 participants trickling
/// ICE at once, as when a workshop joins, rather than a tight loop that would measure how long
/// the benchmark's own clients queue behind each other on two cores.
const RELAY_TICK: Duration = Duration::from_millis(10);
const RELAY_P99_TARGET: Duration = Duration::from_millis(5);
const RSS_GROWTH_TARGET_KB: u64 = 20 * 1024;
/// Members of the noisy room, and how often each sends a track update.
const NOISY_MEMBERS: usize = 6;
const NOISY_UPDATES_PER_SECOND: u64 = 15;
/// Joins measured in the quiet room, without and with the noise, one every `QUIET_JOIN_EVERY`
/// so that they sample the whole flood rather than a few milliseconds of it.
const QUIET_JOINS: usize = 20;
const QUIET_JOIN_EVERY: Duration = Duration::from_millis(100);
/// Twilio's default empty-room timeout is 5 minutes; advance a little past it.
const ADVANCE_SECONDS: u64 = 5 * 60 + 10;
const WAIT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type BenchResult<T> = Result<T, String>;

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("signaling bench: cannot start a tokio runtime: {err}");
            std::process::exit(2);
        }
    };
    let code = match runtime.block_on(run()) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(err) => {
            eprintln!("signaling bench: {err}");
            2
        }
    };
    std::process::exit(code);
}

/// The emulator child process (see `videoroom_test_support::binary`: no developer credentials,
/// killed when dropped so a failed run leaves nothing behind).
struct Emulator {
    running: Running,
    base: String,
}

impl Emulator {
    fn start() -> BenchResult<Self> {
        let path = std::env::var("VIDEOROOM_EMULATOR_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_videoroom-emulator").to_owned());
        let mut command = binary::command(&path);
        command
            .args(["--port", "0"])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::inherit());
        let running = Running::start(command)?;
        let base = running.base.clone();
        Ok(Self { running, base })
    }

    /// CPU time the server has used (user + system), from `/proc/<pid>/stat`.
    fn cpu_time(&self) -> BenchResult<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.running.child.id()))
            .map_err(|e| format!("cannot read the emulator's /proc stat: {e}"))?;
        // Fields after the command name (which may contain spaces) start after the last ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are fields 14 and 15 of the file (indexes 11 and 12 here); the
        // kernel reports them in clock ticks of 1/100 s on Linux.
        Ok(Duration::from_millis((ticks(11) + ticks(12)) * 10))
    }

    /// (VmRSS, VmHWM) in kB.
    fn memory_kb(&self) -> BenchResult<(u64, u64)> {
        let pid = Some(self.running.child.id());
        let field = |name: &str| {
            proc_status_kib(pid, name)
                .ok_or(format!("no {name} in the emulator's /proc/{pid:?}/status"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }
}

fn token(identity: &str, room: &str) -> BenchResult<String> {
    let signer = TokenSigner::new(seeded_key(), 3600, None).map_err(|e| e.to_string())?;
    let identity = Identity::parse(identity).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    Ok(signer.mint(
        &identity,
        Some(room),
        i64::try_from(now).unwrap_or(i64::MAX),
    ))
}

struct Participant {
    ws: Socket,
    session: String,
}

impl Participant {
    async fn send(&mut self, frame: Value) -> BenchResult<()> {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .map_err(|e| format!("send: {e}"))
    }

    /// The next `msg` body, skipping heartbeats.
    async fn msg(&mut self) -> BenchResult<Value> {
        loop {
            let item = tokio::time::timeout(WAIT, self.ws.next())
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

    /// Joins as the SDK does, with one camera track; returns the participant and its join
    /// latency.
    async fn join(url: &str, identity: &str, room: &str) -> BenchResult<(Self, Duration)> {
        let camera = json!({"enabled": true, "id": format!("{identity}-cam"), "kind": "video",
            "name": format!("{identity}-cam"), "priority": "standard"});
        Self::join_with(url, identity, room, vec![camera]).await
    }

    /// Joins as the SDK does, publishing `tracks`.
    async fn join_with(
        url: &str,
        identity: &str,
        room: &str,
        tracks: Vec<Value>,
    ) -> BenchResult<(Self, Duration)> {
        let token = token(identity, room)?;
        let started = Instant::now();
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map_err(|e| format!("WebSocket upgrade: {e}"))?;
        let mut me = Self {
            ws,
            session: String::new(),
        };
        me.send(
            json!({"id": "bench", "timeout": 5000, "type": "hello", "version": 2,
                       "body": {"edge": "roaming", "token": token, "type": "ice", "version": 1}}),
        )
        .await?;
        let iced = me.msg().await?;
        if iced["type"] != "iced" {
            return Err(format!("expected iced, got {iced}"));
        }
        me.send(json!({"type": "msg", "body": {
            "type": "connect", "version": 2, "name": null, "token": token,
            "participant": {"revision": 2, "tracks": tracks},
            "peer_connections": [], "ice_servers": "acquire", "format": "unified",
            "subscribe": {"rules": [{"type": "include", "all": true}], "revision": 1},
        }}))
        .await?;
        let connected = me.msg().await?;
        if connected["type"] != "connected" {
            return Err(format!("expected connected, got {connected}"));
        }
        me.session = connected["session"].as_str().unwrap_or_default().to_owned();
        Ok((me, started.elapsed()))
    }

    async fn relay(&mut self, id: &str, index: usize, sdp: &str) -> BenchResult<()> {
        let state = if index == 0 {
            json!({"id": id, "description": {"type": "offer", "revision": 2, "sdp": sdp}})
        } else {
            json!({"id": id, "ice": {"candidates": [{"candidate": format!("candidate:{index} 1 udp 2122194687 127.0.0.1 {} typ host", 40000 + index),
                "sdpMid": "0", "sdpMLineIndex": 0}], "ufrag": "bench", "revision": index}})
        };
        self.send(
            json!({"type": "msg", "body": {"type": "update", "version": 2,
                         "session": self.session, "peer_connections": [state]}}),
        )
        .await
    }

    async fn leave(mut self) -> BenchResult<()> {
        self.send(json!({"type": "msg", "body": {"type": "disconnect", "version": 2, "session": self.session}}))
            .await?;
        self.send(json!({"type": "bye"})).await?;
        let _ = self.ws.close(None).await;
        Ok(())
    }
}

#[derive(Default)]
struct RoomFigures {
    joins: Vec<Duration>,
    relays: Vec<Duration>,
}

/// One room's whole script: join, relay both ways, leave.
async fn room_script(url: String, room: String, slot: usize) -> BenchResult<RoomFigures> {
    let mut figures = RoomFigures::default();
    let (mut alice, join) = Participant::join(&url, "alice", &room).await?;
    figures.joins.push(join);
    let (mut bob, join) = Participant::join(&url, "bob", &room).await?;
    figures.joins.push(join);
    let update = alice.msg().await?;
    let id = update["peer_connections"][0]["id"]
        .as_str()
        .ok_or_else(|| format!("no create-offer in {update}"))?
        .to_owned();
    // The size of a real offer (the capture's are 5 to 10 KB).
    let sdp = "a=x".repeat(2500);

    tokio::time::sleep(RELAY_TICK * u32::try_from(slot).unwrap_or(0) / ROOMS as u32).await;
    let mut ticker = tokio::time::interval(RELAY_TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for (from_alice, index) in (0..MESSAGES_EACH_WAY)
        .flat_map(|i| [(true, i), (false, i)])
        .collect::<Vec<_>>()
    {
        let (sender, receiver) = if from_alice {
            (&mut alice, &mut bob)
        } else {
            (&mut bob, &mut alice)
        };
        ticker.tick().await;
        let started = Instant::now();
        sender.relay(&id, index, &sdp).await?;
        let got = receiver.msg().await?;
        figures.relays.push(started.elapsed());
        if got["peer_connections"][0]["id"] != json!(id) {
            return Err(format!("relayed to the wrong peer connection: {got}"));
        }
    }
    bob.leave().await?;
    let left = alice.msg().await?;
    if left["participants"][0]["state"] != "disconnected" {
        return Err(format!("expected bob's departure, got {left}"));
    }
    alice.leave().await?;
    Ok(figures)
}

async fn rest(request: reqwest::RequestBuilder) -> BenchResult<Value> {
    let response = request
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .send()
        .await
        .map_err(|e| format!("REST request: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("REST body: {e}"))?;
    if !status.is_success() {
        return Err(format!("REST {status}: {body}"));
    }
    Ok(body)
}

async fn run() -> BenchResult<bool> {
    let emulator = Emulator::start()?;
    let ws_url = format!("{}/signaling", emulator.base.replacen("http", "ws", 1));
    let http = reqwest::Client::new();
    // Let the server settle before the baseline.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (rss_start, _) = emulator.memory_kb()?;

    let mut room_sids = Vec::with_capacity(ROOMS);
    for i in 0..ROOMS {
        let body = rest(http.post(format!("{}/v1/Rooms", emulator.base)).form(&[
            ("UniqueName", format!("bench-{i}")),
            ("Type", "group".into()),
        ]))
        .await?;
        room_sids.push(body["sid"].as_str().unwrap_or_default().to_owned());
    }

    let cpu_before = emulator.cpu_time()?;
    let started = Instant::now();
    let scripts: Vec<_> = (0..ROOMS)
        .map(|i| tokio::spawn(room_script(ws_url.clone(), format!("bench-{i}"), i)))
        .collect();
    let mut joins = Vec::new();
    let mut relays = Vec::new();
    for script in scripts {
        let figures = script.await.map_err(|e| format!("room task: {e}"))??;
        joins.extend(figures.joins);
        relays.extend(figures.relays);
    }
    let elapsed = started.elapsed();
    let server_cpu = emulator.cpu_time()?.saturating_sub(cpu_before);
    joins.sort();
    relays.sort();
    let (rss_end, rss_peak) = emulator.memory_kb()?;

    // Every room is now empty and waiting for its empty-room timeout.
    let mut waiting = 0;
    for sid in &room_sids {
        let room = rest(http.get(format!("{}/v1/Rooms/{sid}", emulator.base))).await?;
        if room["status"] == "in-progress" {
            waiting += 1;
        }
    }
    rest(
        http.post(format!("{}/emulator/clock/advance", emulator.base))
            .form(&[("Seconds", ADVANCE_SECONDS.to_string())]),
    )
    .await?;
    let mut completed = 0;
    for sid in &room_sids {
        let room = rest(http.get(format!("{}/v1/Rooms/{sid}", emulator.base))).await?;
        if room["status"] == "completed" {
            completed += 1;
        }
    }

    let growth = rss_peak.saturating_sub(rss_start);
    let relay_p99 = percentile(&relays, 99.0);
    // Other work on the machine shows up in the tail latencies; say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "signaling benchmark: {ROOMS} rooms x 2 participants, all at once; {MESSAGES_EACH_WAY} messages relayed each way per room, one per room every {} ms",
        RELAY_TICK.as_millis()
    );
    println!(
        "  scripts done in       {}   (server CPU {} over that time)",
        ms(elapsed),
        ms(server_cpu)
    );
    println!(
        "  machine               {} CPUs, load average {} (1, 5, 15 min)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.join(" ")
    );
    println!(
        "  join latency          p50 {}   p99 {}   ({} joins)",
        ms(percentile(&joins, 50.0)),
        ms(percentile(&joins, 99.0)),
        joins.len()
    );
    println!(
        "  relay latency         p50 {}   p99 {}   ({} messages)",
        ms(percentile(&relays, 50.0)),
        ms(relay_p99),
        relays.len()
    );
    println!(
        "  server RSS            start {:.1} MB   end {:.1} MB   peak (VmHWM) {:.1} MB   growth {:.1} MB",
        rss_start as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        growth as f64 / 1024.0
    );
    println!(
        "  rooms                 {waiting}/{ROOMS} in progress after everyone left, {completed}/{ROOMS} completed after advancing the clock {ADVANCE_SECONDS} s"
    );
    let checks = [
        (
            format!(
                "relay p99 {} < {}  (ratio {:.2} of the target)",
                ms(relay_p99),
                ms(RELAY_P99_TARGET),
                relay_p99.as_secs_f64() / RELAY_P99_TARGET.as_secs_f64()
            ),
            relay_p99 < RELAY_P99_TARGET,
        ),
        (
            format!(
                "RSS growth {:.1} MB < {} MB  (ratio {:.2} of the target)",
                growth as f64 / 1024.0,
                RSS_GROWTH_TARGET_KB / 1024,
                growth as f64 / RSS_GROWTH_TARGET_KB as f64
            ),
            growth < RSS_GROWTH_TARGET_KB,
        ),
        (
            format!("every room completed after its empty timeout ({completed}/{ROOMS})"),
            completed == ROOMS && waiting == ROOMS,
        ),
    ];
    let mut all = true;
    for (what, ok) in &checks {
        println!("  {}  {what}", if *ok { "PASS" } else { "FAIL" });
        all &= ok;
    }

    noisy_neighbour(&ws_url).await?;
    Ok(all)
}

/// `count` joins of the quiet room, one every [`QUIET_JOIN_EVERY`] (each leaves before the next
/// joins); their latencies, sorted.
async fn quiet_joins(url: &str, label: &str, count: usize) -> BenchResult<Vec<Duration>> {
    let mut joins = Vec::with_capacity(count);
    let mut ticker = tokio::time::interval(QUIET_JOIN_EVERY);
    for i in 0..count {
        ticker.tick().await;
        let (participant, latency) =
            Participant::join(url, &format!("{label}-{i}"), "quiet").await?;
        joins.push(latency);
        participant.leave().await?;
    }
    joins.sort();
    Ok(joins)
}

/// The 32 tracks of a noisy member, with the longest names signaling accepts (128 characters).
fn noisy_tracks(member: usize, enabled: bool) -> Vec<Value> {
    (0..32)
        .map(|t| {
            json!({"enabled": enabled, "id": format!("noisy-{member}-{t}"), "kind": "audio",
                   "name": format!("{member}-{t:0>125}"), "priority": "standard"})
        })
        .collect()
}

/// One noisy member: joins, then toggles its tracks until `stop`, reading everything it is
/// sent so that it is never dropped as a slow reader. Returns the updates it sent and the
/// frames it received.
async fn noisy_member(
    url: String,
    member: usize,
    stop: std::sync::Arc<tokio::sync::Notify>,
) -> BenchResult<(u64, u64)> {
    let (participant, _) = Participant::join_with(
        &url,
        &format!("noisy-{member}"),
        "noisy",
        noisy_tracks(member, true),
    )
    .await?;
    let session = participant.session.clone();
    let (mut sink, mut stream) = participant.ws.split();
    let reader = tokio::spawn(async move {
        let mut frames = 0u64;
        while let Some(Ok(_)) = stream.next().await {
            frames += 1;
        }
        frames
    });
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / NOISY_UPDATES_PER_SECOND));
    let mut sent = 0u64;
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => break,
            _ = ticker.tick() => {
                let update = json!({"type": "msg", "body": {"type": "update", "version": 2,
                    "session": session, "participant": {"revision": 3 + sent,
                    "tracks": noisy_tracks(member, sent % 2 == 1)}}});
                if sink.send(Message::text(update.to_string())).await.is_err() {
                    break;
                }
                sent += 1;
            }
        }
    }
    let _ = sink
        .send(Message::text(json!({"type": "bye"}).to_string()))
        .await;
    let _ = sink.close().await;
    let frames = tokio::time::timeout(WAIT, reader)
        .await
        .map_err(|_| "a noisy member's socket did not close".to_owned())?
        .map_err(|e| format!("noisy reader: {e}"))?;
    Ok((sent, frames))
}

async fn noisy_neighbour(url: &str) -> BenchResult<()> {
    let quiet = quiet_joins(url, "calm", QUIET_JOINS).await?;

    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let members: Vec<_> = (0..NOISY_MEMBERS)
        .map(|m| tokio::spawn(noisy_member(url.to_owned(), m, stop.clone())))
        .collect();
    // Let every member join and the flood build up before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let noisy = quiet_joins(url, "busy", QUIET_JOINS).await?;
    let noisy_for = started.elapsed();
    stop.notify_waiters();
    let (mut sent, mut received) = (0, 0);
    for member in members {
        let (s, r) = member
            .await
            .map_err(|e| format!("noisy member task: {e}"))??;
        sent += s;
        received += r;
    }

    let ratio = |p: f64| {
        percentile(&noisy, p).as_secs_f64() / percentile(&quiet, p).as_secs_f64().max(1e-9)
    };
    println!(
        "noisy neighbour: {QUIET_JOINS} joins of a quiet room, alone, then while {NOISY_MEMBERS} members of another room each send {NOISY_UPDATES_PER_SECOND} updates of 32 tracks a second"
    );
    println!(
        "  quiet room alone      p50 {}   p99 {}",
        ms(percentile(&quiet, 50.0)),
        ms(percentile(&quiet, 99.0))
    );
    println!(
        "  beside the noisy one  p50 {}   p99 {}   (over {}: {sent} updates sent, {received} frames received in the noisy room)",
        ms(percentile(&noisy, 50.0)),
        ms(percentile(&noisy, 99.0)),
        ms(noisy_for)
    );
    println!(
        "  ratio noisy / quiet   p50 {:.2}   p99 {:.2}",
        ratio(50.0),
        ratio(99.0)
    );
    Ok(())
}
