//! `cargo bench -p videoroom-server --bench rss` (issue 13, "Benchmarks", fourth bullet): the
//! `videoroom` binary in twilio mode against an emulator in this process (loopback), serving
//! 100,000 `/video-token` requests at concurrency 32 with a warm room cache; then its peak
//! resident memory (VmHWM from /proc, Linux) against the target of at most 30 MB. Prints the
//! figure and its ratio to the target, PASS/FAIL, and exits non-zero on a FAIL. The per-client
//! rate limit is off: this is one client sending far beyond a person's rate on purpose.

use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_emulator::EmulatorSettings;
use videoroom_test_support::serve;

const REQUESTS: usize = 100_000;
const CONCURRENCY: usize = 32;
const TARGET_MB: f64 = 30.0;

/// A `VmHWM:`/`VmRSS:` line of /proc/PID/status, in MB.
fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
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
    let started = Instant::now();
    let ok = stream::iter(0..REQUESTS)
        .map(|i| {
            let (client, url) = (
                client.clone(),
                format!("{base}/video-token?identity=user-{}", i % 1000),
            );
            async move { matches!(client.get(&url).send().await, Ok(r) if r.status().is_success()) }
        })
        .buffer_unordered(CONCURRENCY)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let elapsed = started.elapsed();
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
    let pass = ok == REQUESTS && peak <= TARGET_MB;
    println!(
        "  {}  peak RSS {peak:.1} MB <= {TARGET_MB:.0} MB  (ratio {:.2} of the target)",
        if pass { "PASS" } else { "FAIL" },
        peak / TARGET_MB
    );
    if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
