//! `cargo bench -p videoroom-server --bench token_rate` (issue 13, "Benchmarks", first bullet):
//! access tokens minted per second by the core's `TokenSigner` against the official npm
//! `twilio` library's `AccessToken.toJwt()` (tests/node/bench/token-rate.mjs, run with the
//! project's pinned node_modules), measured one after the other in this run on one core each.
//! Target: the core mints at least 200 times as many. Prints both rates and the ratio,
//! PASS/FAIL, and exits non-zero on a FAIL; without Node.js or tests/node/node_modules it says
//! what it skipped (run `npm ci` in tests/node).

use std::hint::black_box;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use videoroom_core::token::TokenSigner;
use videoroom_core::Identity;
use videoroom_test_support::chart::{self, Bar};

const TARGET_RATIO: f64 = 200.0;
const MEASURE: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let signer = TokenSigner::new(videoroom_test_support::seeded_key(), 3600, None)
        .expect("the seeded key and a one-hour TTL are valid");
    let identities: Vec<Identity> = (0..1_000)
        .map(|i| Identity::parse(&format!("user-{i}")).expect("a valid identity"))
        .collect();
    let now = 1_764_460_800;
    // Warm-up, as the Node side warms its JIT.
    for identity in identities.iter().cycle().take(20_000) {
        black_box(signer.mint(identity, Some("myroom"), now));
    }
    let started = Instant::now();
    let mut tokens = 0u64;
    while started.elapsed() < MEASURE {
        for identity in &identities {
            black_box(signer.mint(black_box(identity), Some("myroom"), now));
        }
        tokens += identities.len() as u64;
    }
    let core_rate = tokens as f64 / started.elapsed().as_secs_f64();
    println!("token minting: videoroom-core TokenSigner::mint vs npm twilio AccessToken.toJwt()");
    println!("  videoroom-core     {core_rate:>12.0} tokens/s");

    let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node");
    if !node_dir.join("node_modules/twilio/package.json").is_file() {
        println!("  skipped the npm side: tests/node/node_modules has no twilio (run `npm ci` in tests/node)");
        return ExitCode::SUCCESS;
    }
    let output = Command::new("node")
        .current_dir(&node_dir)
        .args(["bench/token-rate.mjs", &MEASURE.as_secs().to_string()])
        .output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => {
            eprintln!(
                "  the npm side failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            return ExitCode::FAILURE;
        }
        Err(error) => {
            println!("  skipped the npm side: node could not start ({error}); install Node.js 20+");
            return ExitCode::SUCCESS;
        }
    };
    let line = String::from_utf8_lossy(&output.stdout);
    let figures: serde_json::Value = match serde_json::from_str(line.trim()) {
        Ok(value) => value,
        Err(error) => {
            eprintln!("  the npm side printed no figures ({error}): {line}");
            return ExitCode::FAILURE;
        }
    };
    let (Some(node_tokens), Some(node_seconds)) =
        (figures["tokens"].as_f64(), figures["seconds"].as_f64())
    else {
        eprintln!("  the npm side printed no figures: {line}");
        return ExitCode::FAILURE;
    };
    let node_rate = node_tokens / node_seconds;
    let ratio = core_rate / node_rate;
    let version = figures["version"].as_str().unwrap_or("?");
    println!("  npm twilio {version:<7} {node_rate:>12.0} tokens/s");
    let chart = chart::bars_svg(
        "Video access tokens minted per second, one core",
        &[
            Bar {
                label: "videoroom-core".into(),
                value: core_rate,
                shown: format!("{core_rate:.0}/s ({ratio:.0}x)"),
            },
            Bar {
                label: format!("npm twilio {version}"),
                value: node_rate,
                shown: format!("{node_rate:.0}/s"),
            },
        ],
    );
    match chart::write("token-rate", &chart) {
        Ok(path) => println!("  chart: {}", path.display()),
        Err(error) => println!("  chart not written: {error}"),
    }
    let verdict = if ratio >= TARGET_RATIO {
        "PASS"
    } else {
        "FAIL"
    };
    println!(
        "  {verdict}  core / npm = {ratio:.0}x (target at least {TARGET_RATIO:.0}x; {:.2} of the target)",
        ratio / TARGET_RATIO
    );
    if ratio >= TARGET_RATIO {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
