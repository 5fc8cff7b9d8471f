//! The media server's benchmark (`cargo xtask bench`, or `cargo bench -p videoroom-media`):
//! N scripted str0m clients on loopback, each publishing a camera (about 500 kbit/s at 30
//! frames per second) and a microphone (Opus frames every 20 ms), in one room, for N = 4, 8
//! and 16, so the server forwards N×(N−1) video streams. It prints, per N:
//!
//! - forwarding latency p50/p99: from the publisher's `write` to the subscriber's decoded
//!   frame, so it includes both clients' str0m stacks and the pump's pacing (≤ 1 ms), an
//!   upper bound of the server's own share (target p99 < 5 ms);
//! - server CPU per forwarded stream: the media server thread's user+system time over the
//!   window (from /proc, 10 ms ticks), divided by the window and the streams (target: 16
//!   participants, 240 streams, under one core);
//! - loss: video frames written but not received by a subscriber (target 0 on loopback);
//! - memory per participant: the process's resident memory growth from before the joins to
//!   after the window, divided by N. The scripted clients live in the same process, so this
//!   is an upper bound of the server's share.
//!
//! The clients run on one thread beside the server's, on a machine shared with other work:
//! read the figures as orders of magnitude and compare them run to run.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use videoroom_media::Sfu;

#[path = "../tests/it/client.rs"]
#[allow(dead_code)]
mod client;

use client::Client;

/// How long each room forwards before it is measured.
const WINDOW: Duration = Duration::from_secs(4);
/// Frames a subscriber may still be waiting for when the window closes (in flight, not lost).
const IN_FLIGHT_FRAMES: u64 = 3;
/// About 500 kbit/s of video at 30 frames per second.
const VIDEO_FRAME_BYTES: usize = 500_000 / 8 / 30;

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` only checks that this builds and runs.
    let quick = std::env::args().any(|a| a == "--test");
    println!("media server: scripted clients on loopback, one room, every participant publishes");
    println!(
        "{:>3} {:>8} {:>10} {:>10} {:>8} {:>9} {:>9} {:>14} {:>12}",
        "N",
        "streams",
        "sent",
        "received",
        "loss",
        "p50 ms",
        "p99 ms",
        "CPU/stream %",
        "RSS/part MB"
    );
    for n in [4usize, 8, 16] {
        if quick && n > 4 {
            break;
        }
        run(
            n,
            if quick {
                Duration::from_millis(500)
            } else {
                WINDOW
            },
        );
    }
}

fn run(n: usize, window: Duration) {
    let rss_before = rss_kib();
    let sfu =
        Sfu::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("a free UDP port on loopback");
    let mut clients: Vec<Client> = (0..n)
        .map(|i| {
            let mut c =
                Client::in_room(&format!("p{i}"), "RMbench").with_microphone(&format!("p{i}-mic"));
            c.video_padding = VIDEO_FRAME_BYTES;
            c.keep_payloads = false;
            c
        })
        .collect();
    for c in &mut clients {
        c.join(&sfu);
    }
    // Everyone answers the server's offers until nobody has one left.
    loop {
        let mut any = false;
        for c in &mut clients {
            any |= c.renegotiate(&sfu).is_some();
        }
        if !any {
            break;
        }
    }
    // Warm up: until every subscriber receives from every publisher.
    let warm = Instant::now() + Duration::from_secs(20);
    loop {
        step_all(&mut clients);
        let ready = clients.iter().all(|c| {
            let senders: std::collections::HashSet<&str> = c
                .received
                .iter()
                .filter_map(|(named, _)| named.as_deref())
                .collect();
            senders.len() >= 2 * (n - 1)
        });
        if ready {
            break;
        }
        assert!(
            Instant::now() < warm,
            "N={n}: not every stream started within 20 s"
        );
    }
    for c in &mut clients {
        c.received.clear();
        c.received_at.clear();
    }
    let first_frame: Vec<u64> = clients.iter().map(|c| c.frames_written()).collect();
    let cpu_before = server_cpu_ticks();
    let started = Instant::now();
    while started.elapsed() < window {
        step_all(&mut clients);
    }
    let elapsed = started.elapsed();
    let cpu_ticks = server_cpu_ticks().saturating_sub(cpu_before);
    let last_frame: Vec<u64> = clients.iter().map(|c| c.frames_written()).collect();

    // Latency and loss over the video frames written inside the window.
    let mut latencies = Vec::new();
    let (mut sent, mut received) = (0u64, 0u64);
    for (p, publisher) in clients.iter().enumerate() {
        let track = &publisher.track_id;
        let wanted = first_frame[p]..last_frame[p].saturating_sub(IN_FLIGHT_FRAMES);
        for (s, subscriber) in clients.iter().enumerate() {
            if s == p {
                continue;
            }
            sent += wanted.end.saturating_sub(wanted.start);
            let mut seen = std::collections::HashSet::new();
            for ((named, payload), at) in subscriber.received.iter().zip(&subscriber.received_at) {
                if named.as_deref() != Some(track.as_str()) {
                    continue;
                }
                let Ok(bytes) = <[u8; 8]>::try_from(payload.as_slice()) else {
                    continue;
                };
                let number = u64::from_be_bytes(bytes);
                if wanted.contains(&number) && seen.insert(number) {
                    received += 1;
                    let written = publisher.written_at[number as usize];
                    latencies.push(at.saturating_duration_since(written));
                }
            }
        }
    }
    latencies.sort();
    let pct = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let streams = n * (n - 1);
    let ticks_per_second = 100.0; // USER_HZ on Linux.
    let cpu_share = cpu_ticks as f64 / ticks_per_second / elapsed.as_secs_f64();
    let rss_growth_mb = rss_kib().saturating_sub(rss_before) as f64 / 1024.0;
    println!(
        "{:>3} {:>8} {:>10} {:>10} {:>7.3}% {:>9.2} {:>9.2} {:>14.3} {:>12.2}",
        n,
        streams,
        sent,
        received,
        100.0 * sent.saturating_sub(received) as f64 / sent.max(1) as f64,
        pct(0.5),
        pct(0.99),
        100.0 * cpu_share / streams as f64,
        rss_growth_mb / n as f64,
    );
    println!(
        "    server thread: {:.1}% of one core for {streams} video + {streams} audio streams",
        100.0 * cpu_share
    );
    drop(clients);
    drop(sfu);
}

/// One round of every client: reads, timers, a frame when one is due.
fn step_all(clients: &mut [Client]) {
    let now = Instant::now();
    for c in clients.iter_mut() {
        c.step(now);
    }
}

/// The media server threads' user+system time, in clock ticks (threads named `media-server…`).
fn server_cpu_ticks() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.starts_with("media-server"))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .map(|stat| {
            // Fields after the parenthesised name: state is field 3, utime 14 and stime 15.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |i: usize| {
                fields
                    .get(i - 3)
                    .and_then(|f| f.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            field(14) + field(15)
        })
        .sum()
}

/// The process's resident memory, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
