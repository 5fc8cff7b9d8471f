//! `cargo bench -p videoroom-server --bench token_service` (issue 13, "Benchmarks", second and
//! fourth bullets): the `videoroom` binary in twilio mode against an emulator in this process
//! (loopback), loaded at concurrency 32 by this benchmark's own HTTP client (reqwest, built with
//! the project, so nothing is installed for it).
//!
//! 1. Throughput of `/video-token` with a warm room cache against the same server's `/healthz`,
//!    one after the other in this run: the ratio must be at least 0.85, `/video-token`'s p99
//!    under 2 ms.
//! 2. Then 100,000 `/video-token` requests, and the binary's peak resident memory (VmHWM from
//!    /proc, Linux): at most 30 MB.
//!
//! Prints each figure with its ratio to the target, PASS/FAIL, and exits non-zero on a FAIL.
//! The per-client rate limit is off: this is one client sending far beyond a person's rate on
//! purpose.

use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_emulator::EmulatorSettings;
use videoroom_test_support::chart::{self, Bar};
use videoroom_test_support::measure::{percentile, proc_status_kib};
use videoroom_test_support::serve;

const REQUESTS: usize = 100_000;
const CONCURRENCY: usize = 32;
const TARGET_MB: f64 = 30.0;
const PHASE_REQUESTS: usize = 20_000;
const MIN_RATIO: f64 = 0.85;
const MAX_P99: Duration = Duration::from_millis(2);

/// `requests` GETs of `url(i)` at [`CONCURRENCY`]: how many answered 2xx, the wall time, and
/// each request's latency, sorted.
async fn load(
    client: &Arc<reqwest::Client>,
    requests: usize,
    url: impl Fn(usize) -> String,
) -> (usize, Duration, Vec<Duration>) {
    let started = Instant::now();
    let samples: Vec<(bool, Duration)> = stream::iter(0..requests)
        .map(|i| {
            let (client, url) = (client.clone(), url(i));
            async move {
                let t = Instant::now();
                let ok = matches!(client.get(&url).send().await, Ok(r) if r.status().is_success());
                (ok, t.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let ok = samples.iter().filter(|s| s.0).count();
    let mut latencies: Vec<Duration> = samples.into_iter().map(|s| s.1).collect();
    latencies.sort();
    (ok, elapsed, latencies)
}

fn verdict(good: bool) -> &'static str {
    if good {
        "PASS"
    } else {
        "FAIL"
    }
}

/// A `VmHWM:`/`VmRSS:` field of /proc/PID/status, in MB.
fn status_mb(pid: u32, field: &str) -> Option<f64> {
    proc_status_kib(Some(pid), field).map(|kib| kib as f64 / 1024.0)
}

#[tokio::main]
async fn main() -> ExitCode {
    let upstream = serve::emulator(EmulatorSettings::seeded(), 1);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_videoroom"))
        .args(["--backend", "twilio", "--port", "0"])
        .env_clear()
        .env("ACCOUNT_SID", TEST_ACCOUNT_SID)
        .env("API_KEY", TEST_API_KEY_SID)
        .env("API_SECRET", TEST_API_KEY_SECRET)
        .env("TWILIO_VIDEO_BASE_URL", upstream.base())
        .env("VIDEOROOM_TOKEN_RATE", "off")
        .env("VIDEOROOM_HTTP_PER_CLIENT", "1000")
        .env("VIDEOROOM_SDK_FETCH", "false")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the videoroom binary starts");
    let pid = child.id().expect("a running child has a pid");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut base = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(url) = line.strip_prefix("listening on ") {
            base = Some(url.trim().to_owned());
            break;
        }
    }
    let Some(base) = base else {
        eprintln!("videoroom printed no listening line");
        return ExitCode::FAILURE;
    };
    let started_mb = status_mb(pid, "VmRSS:").unwrap_or(0.0);
    let client = Arc::new(
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a reqwest client"),
    );
    let token_url = |i: usize| format!("{base}/video-token?identity=user-{}", i % 1000);
    // Warm-up: the room is looked up once and cached; connections are open.
    load(&client, 2_000, token_url).await;
    let (health_ok, health_time, _) =
        load(&client, PHASE_REQUESTS, |_| format!("{base}/healthz")).await;
    let (token_ok, token_time, token_latencies) = load(&client, PHASE_REQUESTS, token_url).await;
    let rate = |n: usize, t: Duration| n as f64 / t.as_secs_f64();
    let health_rate = rate(PHASE_REQUESTS, health_time);
    let token_rate = rate(PHASE_REQUESTS, token_time);
    let ratio = token_rate / health_rate;
    let token_p99 = percentile(&token_latencies, 99.0);
    println!(
        "videoroom token service: twilio mode, warm cache, concurrency {CONCURRENCY}, {PHASE_REQUESTS} requests a route"
    );
    println!("  /healthz      {health_rate:>8.0} requests/s ({health_ok} answered 2xx)");
    println!(
        "  /video-token  {token_rate:>8.0} requests/s ({token_ok} answered 2xx), p99 {:.2} ms",
        token_p99.as_secs_f64() * 1e3
    );
    let mut pass = health_ok == PHASE_REQUESTS && token_ok == PHASE_REQUESTS;
    let good = ratio >= MIN_RATIO;
    pass &= good;
    println!(
        "  {}  /video-token / /healthz = {ratio:.2} >= {MIN_RATIO}  ({:.2} of the target)",
        verdict(good),
        ratio / MIN_RATIO
    );
    let good = token_p99 < MAX_P99;
    pass &= good;
    println!(
        "  {}  /video-token p99 {:.2} ms < {:.0} ms  ({:.2} of the target)",
        verdict(good),
        token_p99.as_secs_f64() * 1e3,
        MAX_P99.as_secs_f64() * 1e3,
        token_p99.as_secs_f64() / MAX_P99.as_secs_f64()
    );

    let chart = chart::bars_svg(
        &format!("videoroom, twilio mode, warm cache: requests/s at concurrency {CONCURRENCY}"),
        &[
            Bar {
                label: "/healthz".into(),
                value: health_rate,
                shown: format!("{health_rate:.0}/s"),
            },
            Bar {
                label: "/video-token".into(),
                value: token_rate,
                shown: format!("{token_rate:.0}/s ({ratio:.2}x)"),
            },
        ],
    );
    match chart::write("token-service", &chart) {
        Ok(path) => println!("  chart: {}", path.display()),
        Err(error) => println!("  chart not written: {error}"),
    }

    let (ok, elapsed, _) = load(&client, REQUESTS, token_url).await;
    let (Some(peak), Some(now)) = (status_mb(pid, "VmHWM:"), status_mb(pid, "VmRSS:")) else {
        println!("rss benchmark: skipped (no /proc/{pid}/status: Linux only)");
        return ExitCode::SUCCESS;
    };
    child.kill().await.ok();
    println!(
        "videoroom memory: {REQUESTS} /video-token requests (twilio mode, warm cache), concurrency {CONCURRENCY}"
    );
    println!(
        "  done in {:.1} s ({:.0} requests/s), {ok}/{REQUESTS} answered 200",
        elapsed.as_secs_f64(),
        REQUESTS as f64 / elapsed.as_secs_f64()
    );
    println!("  RSS at start {started_mb:.1} MB, after {now:.1} MB, peak {peak:.1} MB");
    let good = ok == REQUESTS && peak <= TARGET_MB;
    pass &= good;
    println!(
        "  {}  peak RSS {peak:.1} MB <= {TARGET_MB:.0} MB  ({:.2} of the target)",
        verdict(good),
        peak / TARGET_MB
    );
    if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
