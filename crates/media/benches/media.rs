//! The media server's benchmark (`cargo xtask bench`, or `cargo bench -p videoroom-media`):
//! N scripted str0m clients on loopback, each publishing a camera (about 500 kbit/s at 30
//! frames per second, two packets a frame) and a microphone (32 kbit/s of Opus, a frame every
//! 20 ms), in one room, for N = 4, 8 and 16, so the server forwards N×(N−1) video streams and
//! as many audio ones. Each client runs on a thread of its own that sleeps until a datagram or
//! its next frame is due (as a browser's network thread does), and the publishers' frames are
//! spread over the frame interval instead of all leaving at the same instant, and stay spread:
//! each client keeps its own frame clock, a late frame taking the slot it was due in. It
//! prints, per N:
//!
//! - forwarding latency p50/p99: from the moment the publisher sent the video frame's first
//!   datagram to the moment the subscriber's str0m hands it over whole, so it includes both
//!   clients' stacks and their threads' wake-ups, an upper bound of the server's own share
//!   (target p99 < 5 ms);
//! - wire p50/p99 (Linux): from the moment the publisher sent the frame's last datagram (the
//!   RTP marker bit) to the moment the kernel queued, on the subscriber's socket, the datagram
//!   that completed the frame (SO_TIMESTAMPNS): neither client's thread is in it, only the
//!   server thread (its wait for a CPU and its own work) and loopback;
//! - server CPU per forwarded stream: the media server thread's user+system time over the
//!   window (from /proc, 10 ms ticks), divided by the window and the streams (target: 16
//!   participants, 240 streams, under one core); beside it, the share of the window the
//!   server thread was runnable but waited for a CPU (/proc schedstat) and that wait per run
//!   on a CPU, the client threads' CPU and their wait per run, and the steal time of the
//!   machine's CPUs (a virtual machine's CPUs run by the host for something else, which
//!   schedstat does not see);
//! - loss: video frames written but not received by a subscriber (target 0 on loopback);
//! - memory per participant: the process's resident memory growth from before the joins to
//!   after the window, divided by N. The scripted clients live in the same process, so this
//!   is an upper bound of the server's share.
//!
//! The clients share the machine's cores with the server (and, on this machine, with other
//! work). A load generator on a machine of its own would not take the server's CPU, so by
//! default each client thread lowers its own priority to nice 19 (`setpriority` on its thread
//! id): whenever the server thread is runnable it runs before them, and the latency is the
//! server's plus the clients' own stacks, not the time the server waited behind 16 client
//! threads doing as much DTLS/SRTP work as it does. `VIDEOROOM_MEDIA_BENCH_CLIENTS=shared`
//! keeps them at the server's priority, as the first versions of this bench did; the mode is
//! printed. At nice 19 a client thread may wait for a CPU behind other processes, which the
//! end-to-end latency includes and the wire latency does not. Neither mode shields the server
//! from other processes: the line under each row gives how long the server thread waited for
//! a CPU, so that the wire latency can be told apart into "waiting for a CPU" and "the
//! server's own work". Read the figures as orders of magnitude and compare them run to run.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
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
/// 32 kbit/s of Opus in 20 ms frames.
const AUDIO_FRAME_BYTES: usize = 32_000 / 8 / 50;
/// The clients' frame interval (30 frames per second), over which their phases are spread.
const FRAME_INTERVAL: Duration = Duration::from_millis(33);
/// Time for every client's DTLS handshake before the first frames are due.
const HANDSHAKE_TIME: Duration = Duration::from_secs(2);

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and only checks that
    // this builds and runs (N = 4, briefly).
    let quick = !std::env::args().any(|a| a == "--bench");
    let mode = ClientPriority::from_env();
    println!("media server: scripted clients on loopback, one room, every participant publishes");
    println!("client threads: {}", mode.describe());
    println!(
        "{:>3} {:>8} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>14} {:>12}",
        "N",
        "streams",
        "sent",
        "received",
        "loss",
        "p50 ms",
        "p99 ms",
        "wire p50",
        "wire p99",
        "CPU/stream %",
        "RSS/part MB"
    );
    for n in [4usize, 8, 16] {
        if quick && n > 4 {
            break;
        }
        run(
            n,
            mode,
            if quick {
                Duration::from_millis(500)
            } else {
                WINDOW
            },
        );
    }
}

/// Whether the scripted clients' threads yield the CPU to the media server's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientPriority {
    /// Each client thread at nice 19: the server thread, at the process's own priority, runs
    /// first whenever it is runnable, as if the load came from another machine.
    Yield,
    /// The client threads at the server's priority, competing with it for the cores.
    Shared,
}

impl ClientPriority {
    const VARIABLE: &'static str = "VIDEOROOM_MEDIA_BENCH_CLIENTS";

    fn from_env() -> ClientPriority {
        match std::env::var(Self::VARIABLE).as_deref() {
            Err(_) | Ok("" | "nice") => ClientPriority::Yield,
            Ok("shared") => ClientPriority::Shared,
            Ok(other) => panic!(
                "{}={other:?} is not a mode of the media bench: use `nice` (the default: client threads at nice 19) or `shared` (at the server's priority)",
                Self::VARIABLE
            ),
        }
    }

    fn describe(self) -> String {
        match self {
            ClientPriority::Yield if cfg!(target_os = "linux") => format!(
                "nice 19, below the media server thread ({}=nice, the default; `shared` for the same priority)",
                Self::VARIABLE
            ),
            ClientPriority::Yield => format!(
                "at the server's priority: lowering a thread's priority is done on Linux only ({}=nice asked for it)",
                Self::VARIABLE
            ),
            ClientPriority::Shared => format!(
                "at the media server thread's priority, competing with it for the cores ({}=shared)",
                Self::VARIABLE
            ),
        }
    }

    /// Applied by each client thread to itself, first thing.
    fn apply_to_this_thread(self) {
        if self == ClientPriority::Shared {
            return;
        }
        // On Linux, setpriority(PRIO_PROCESS, tid) sets one thread's nice value, not the
        // process's: the server thread and the main thread keep theirs.
        #[cfg(target_os = "linux")]
        {
            let me = Some(rustix::thread::gettid());
            rustix::process::setpriority_process(me, 19)
                .expect("a thread may lower its own priority");
            // The mode printed must be the mode run: read it back from the kernel.
            assert_eq!(
                rustix::process::getpriority_process(me).ok(),
                Some(19),
                "a scripted client's thread did not get nice 19"
            );
        }
    }
}

fn run(n: usize, mode: ClientPriority, window: Duration) {
    let rss_before = rss_kib();
    let sfu =
        Sfu::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("a free UDP port on loopback");
    // Frames start once the handshakes are surely done, each publisher at its own phase of the
    // frame interval: independent browsers do not send their frames at the same instant, and
    // a bench whose N publishers all do measures the burst it made, not the server.
    let frames_from = Instant::now() + HANDSHAKE_TIME;
    let mut clients: Vec<Client> = (0..n)
        .map(|i| {
            let mut c =
                Client::in_room(&format!("p{i}"), "RMbench").with_microphone(&format!("p{i}-mic"));
            c.video_padding = VIDEO_FRAME_BYTES;
            c.audio_padding = AUDIO_FRAME_BYTES;
            c.frames_from = Some(frames_from + FRAME_INTERVAL * i as u32 / n as u32);
            c.keep_payloads = false;
            #[cfg(target_os = "linux")]
            c.time_arrivals();
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

    // Each client on a thread of its own that sleeps until a datagram or its next frame is due,
    // so the clients neither spin on the cores the server needs nor queue behind each other.
    let ready = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let measured: OnceLock<(Instant, Instant)> = OnceLock::new();
    let mut cpu = (0u64, 0u64, Duration::ZERO);
    let mut server_waited = (Duration::ZERO, 0u64);
    let mut clients_waited = (Duration::ZERO, 0u64);
    let mut buffer_drops = 0;
    let mut stolen = 0;
    let frames: Vec<(u64, u64)> = std::thread::scope(|scope| {
        let threads: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(i, c)| {
                let (ready, abort, measured) = (&ready, &abort, &measured);
                std::thread::Builder::new()
                    .name(format!("bench-client {i}"))
                    .spawn_scoped(scope, move || {
                        mode.apply_to_this_thread();
                        client_thread(c, n, ready, abort, measured)
                    })
                    .expect("a thread for a scripted client")
            })
            .collect();
        // Warm up: until every subscriber receives from every publisher.
        let warm = Instant::now() + Duration::from_secs(20);
        while ready.load(Ordering::Relaxed) < n {
            if Instant::now() > warm {
                abort.store(true, Ordering::Relaxed);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if !abort.load(Ordering::Relaxed) {
            let start = Instant::now() + Duration::from_millis(100);
            let end = start + window;
            measured.set((start, end)).expect("the window is set once");
            sleep_until(start);
            let (server, clients) = (
                thread_cpu_ticks("media-server"),
                thread_cpu_ticks("bench-client"),
            );
            let waited = run_queue_wait("media-server");
            let clients_waited_before = run_queue_wait("bench-client");
            let drops = udp_receive_buffer_drops();
            let steal = steal_ticks();
            sleep_until(end);
            let waited_end = run_queue_wait("media-server");
            let clients_waited_end = run_queue_wait("bench-client");
            clients_waited = (
                clients_waited_end.0.saturating_sub(clients_waited_before.0),
                clients_waited_end.1.saturating_sub(clients_waited_before.1),
            );
            server_waited = (
                waited_end.0.saturating_sub(waited.0),
                waited_end.1.saturating_sub(waited.1),
            );
            buffer_drops = udp_receive_buffer_drops().saturating_sub(drops);
            stolen = steal_ticks().saturating_sub(steal);
            cpu = (
                thread_cpu_ticks("media-server").saturating_sub(server),
                thread_cpu_ticks("bench-client").saturating_sub(clients),
                end - start,
            );
        }
        threads
            .into_iter()
            .map(|t| t.join().expect("a scripted client does not panic"))
            .collect()
    });
    assert!(
        !abort.load(Ordering::Relaxed),
        "N={n}: not every stream started within 20 s"
    );
    let (server_ticks, client_ticks, elapsed) = cpu;

    // Latency and loss over the video frames written inside the window.
    let mut latencies = Vec::new();
    let mut on_wire = Vec::new();
    let (mut sent, mut received) = (0u64, 0u64);
    for (p, publisher) in clients.iter().enumerate() {
        let track = &publisher.track_id;
        let (first_frame, last_frame) = frames[p];
        let wanted = first_frame..last_frame.saturating_sub(IN_FLIGHT_FRAMES);
        for (s, subscriber) in clients.iter().enumerate() {
            if s == p {
                continue;
            }
            sent += wanted.end.saturating_sub(wanted.start);
            let mut seen = std::collections::HashSet::new();
            let arrivals = subscriber
                .received_at
                .iter()
                .enumerate()
                .map(|(i, at)| (at, subscriber.received_on_wire.get(i)));
            for ((named, payload), (at, wire)) in subscriber.received.iter().zip(arrivals) {
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
                    if let Some(wire) = wire {
                        let whole = publisher.sent_whole_at[number as usize];
                        on_wire.push(wire.saturating_duration_since(whole));
                    }
                }
            }
        }
    }
    latencies.sort();
    on_wire.sort();
    let pct = |sorted: &[Duration], q: f64| {
        sorted
            .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let streams = n * (n - 1);
    let ticks_per_second = 100.0; // USER_HZ on Linux.
    let share = |ticks: u64| ticks as f64 / ticks_per_second / elapsed.as_secs_f64();
    let rss_growth_mb = rss_kib().saturating_sub(rss_before) as f64 / 1024.0;
    println!(
        "{:>3} {:>8} {:>10} {:>10} {:>7.3}% {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>14.3} {:>12.2}",
        n,
        streams,
        sent,
        received,
        100.0 * sent.saturating_sub(received) as f64 / sent.max(1) as f64,
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        pct(&on_wire, 0.5),
        pct(&on_wire, 0.99),
        100.0 * share(server_ticks) / streams as f64,
        rss_growth_mb / n as f64,
    );
    let (waited, runs) = server_waited;
    let (clients_wait, clients_runs) = clients_waited;
    println!(
        "    server thread: {:.1}% of one core for {streams} video + {streams} audio streams, runnable but waiting for a CPU {:.1}% of the window ({:.3} ms a run on average, {runs} runs); the {n} client threads: {:.1}% of one core, waiting for a CPU {:.3} ms a run on average ({clients_runs} runs); datagrams dropped by full receive buffers (whole machine): {buffer_drops}; time the hypervisor ran something else on this machine's CPUs (steal, all CPUs): {:.1}% of one CPU",
        100.0 * share(server_ticks),
        100.0 * waited.as_secs_f64() / elapsed.as_secs_f64(),
        waited.as_secs_f64() * 1000.0 / runs.max(1) as f64,
        100.0 * share(client_ticks),
        clients_wait.as_secs_f64() * 1000.0 / clients_runs.max(1) as f64,
        100.0 * share(stolen),
    );
    drop(clients);
    drop(sfu);
}

/// One scripted client until the measured window ends: reads, timers, frames when due, and
/// sleeps in between. Returns the numbers of its first and last video frame of the window.
fn client_thread(
    c: &mut Client,
    n: usize,
    ready: &AtomicUsize,
    abort: &AtomicBool,
    measured: &OnceLock<(Instant, Instant)>,
) -> (u64, u64) {
    let mut counted = false;
    let mut checked = Instant::now();
    let (mut first, mut last) = (None, None);
    loop {
        let now = Instant::now();
        c.step(now);
        if !counted && now >= checked {
            checked = now + Duration::from_millis(50);
            let senders: std::collections::HashSet<&str> = c
                .received
                .iter()
                .filter_map(|(named, _)| named.as_deref())
                .collect();
            if senders.len() >= 2 * (n - 1) {
                ready.fetch_add(1, Ordering::Relaxed);
                counted = true;
            }
        }
        if let Some(&(start, end)) = measured.get() {
            if first.is_none() && now >= start {
                first = Some(c.frames_written());
            }
            if last.is_none() && now >= end {
                last = Some(c.frames_written());
            }
            // Still running a little after the window, so that the main thread's reading of
            // every client thread's CPU time at the window's end finds them all.
            if now >= end + Duration::from_millis(200) {
                return (first.unwrap_or(0), last.unwrap_or(0));
            }
        }
        if abort.load(Ordering::Relaxed) {
            return (0, 0);
        }
        // Woken by a datagram, the next frame or timer, and at least every 10 ms to see the
        // window's bounds.
        let now = Instant::now();
        c.wait_for_input(c.next_due(now).min(now + Duration::from_millis(10)));
    }
}

fn sleep_until(at: Instant) {
    if let Some(wait) = at.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

/// User+system time of this process's threads whose name starts with `prefix`, in clock ticks.
fn thread_cpu_ticks(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.starts_with(prefix))
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

/// How long this process's threads whose name starts with `prefix` were runnable but waited
/// for a CPU (the second field of /proc/self/task/<tid>/schedstat, nanoseconds), and how many
/// times they were put on a CPU (the third field): on a shared machine, latency that no code
/// of ours causes, in total and per wake-up.
fn run_queue_wait(prefix: &str) -> (Duration, u64) {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (Duration::ZERO, 0);
    };
    let (nanos, runs) = tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.starts_with(prefix))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|stat| {
            let mut fields = stat.split_whitespace().skip(1);
            let waited = fields.next()?.parse::<u64>().ok()?;
            let runs = fields.next()?.parse::<u64>().ok()?;
            Some((waited, runs))
        })
        .fold((0, 0), |(w, r), (waited, runs)| (w + waited, r + runs));
    (Duration::from_nanos(nanos), runs)
}

/// Clock ticks the hypervisor gave this machine's virtual CPUs to something else (the steal
/// column of /proc/stat's `cpu` line, all CPUs; 0 on bare metal). A guest's schedstat does not
/// see that time: a thread that was running, or woken, on a CPU the host took away looks
/// neither runnable-but-waiting nor slow to the guest.
fn steal_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    stat.lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(8))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// UDP datagrams the kernel dropped because a socket's receive buffer was full (RcvbufErrors
/// in /proc/net/snmp; the whole machine's count, which only this bench moves in practice).
fn udp_receive_buffer_drops() -> u64 {
    let Ok(snmp) = std::fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
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
