//! `cargo bench -p videoroom-server --bench upstream_calls` (issue 13, "Benchmarks", third
//! bullet): 1,000 token requests for one room at concurrency 32, through the Twilio adapter,
//! against an emulator that adds 50 ms to every REST answer (its fault injection,
//! `LatencyMs=50`). Targets: at most 3 upstream REST calls (the single flight shares the first
//! lookup, the room cache answers the rest), p50 under 5 ms. Prints PASS/FAIL with each figure
//! as a ratio of its target and exits non-zero on a FAIL. Loopback only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_emulator::faults::FaultPlan;
use videoroom_emulator::EmulatorSettings;
use videoroom_server::settings::{Overrides, Sources};
use videoroom_server::Application;
use videoroom_test_support::measure::percentile;
use videoroom_test_support::serve;

const REQUESTS: usize = 1000;
const CONCURRENCY: usize = 32;
const MAX_UPSTREAM_CALLS: u64 = 3;
const MAX_P50: Duration = Duration::from_millis(5);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let upstream = serve::emulator(EmulatorSettings::seeded(), 1);
    upstream.emulator.faults().set(FaultPlan {
        latency_ms: 50,
        ..FaultPlan::default()
    });
    let env = [
        ("ACCOUNT_SID", TEST_ACCOUNT_SID),
        ("API_KEY", TEST_API_KEY_SID),
        ("API_SECRET", TEST_API_KEY_SECRET),
        ("TWILIO_VIDEO_BASE_URL", upstream.base()),
        // One client sending 1,000 requests on purpose: the per-client rate limit (on by
        // default in twilio mode, tested on its own) would answer most of them 429.
        ("VIDEOROOM_TOKEN_RATE", "off"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Sources {
        env,
        overrides: Overrides {
            backend: Some("twilio".into()),
            port: Some("0".into()),
            ..Overrides::default()
        },
        ..Sources::default()
    }
    .load()
    .expect("the benchmark's settings are valid");
    let app = Application::build(settings)
        .await
        .expect("the application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = Arc::new(
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a reqwest client"),
    );

    let started = Instant::now();
    let mut samples: Vec<(u16, Duration)> = stream::iter(0..REQUESTS)
        .map(|i| {
            let (client, url) = (client.clone(), format!("{base}/video-token?identity=u{i}"));
            async move {
                let t = Instant::now();
                let status = match client.get(&url).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                (status, t.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    samples.sort_by_key(|s| s.1);
    let ok = samples.iter().filter(|s| s.0 == 200).count();
    let latencies: Vec<Duration> = samples.iter().map(|s| s.1).collect();
    let at = |p: f64| percentile(&latencies, p * 100.0);
    let calls = upstream.emulator.faults().report().requests;
    println!(
        "upstream calls benchmark: {REQUESTS} token requests for one room, concurrency {CONCURRENCY}, twilio mode, upstream +50 ms per REST answer"
    );
    println!(
        "  done in              {:.1} ms, {ok}/{REQUESTS} answered 200",
        elapsed.as_secs_f64() * 1e3
    );
    println!(
        "  latency              p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
    println!("  upstream REST calls  {calls}");
    let mut pass = ok == REQUESTS;
    let mut line = |good: bool, text: String| {
        pass &= good;
        println!("  {}  {text}", if good { "PASS" } else { "FAIL" });
    };
    line(
        calls <= MAX_UPSTREAM_CALLS,
        format!(
            "upstream calls {calls} <= {MAX_UPSTREAM_CALLS}  (ratio {:.2} of the target)",
            calls as f64 / MAX_UPSTREAM_CALLS as f64
        ),
    );
    line(
        at(0.5) < MAX_P50,
        format!(
            "p50 {:.2} ms < {:.2} ms  (ratio {:.2} of the target)",
            at(0.5).as_secs_f64() * 1e3,
            MAX_P50.as_secs_f64() * 1e3,
            at(0.5).as_secs_f64() / MAX_P50.as_secs_f64()
        ),
    );
    if pass {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
