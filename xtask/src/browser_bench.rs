//! The browser half of the media server's benchmark (issue 11), a step of `cargo xtask bench`:
//! one group room of four Chromium tabs, once as a mesh and once through the media server,
//! with total browser CPU and each tab's uplink printed as ratios (tests/node/bench/
//! mesh-vs-sfu.mjs does the measuring; docs/benchmarks.md has a run).
//!
//! Like the browser tier it runs in a loopback-only network namespace (see `netns`), after
//! everything it needs from the network (npm modules, the SDK) is installed. Unlike a test tier
//! it is skipped with a message, never failed, when Node.js, Chromium or the namespace are
//! missing, even with `CI=true`: a benchmark measures, it does not gate a merge.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::{
    find_on_path, install_node_modules, netns, node_dir, run_status, run_with_deadline, Binaries,
    Outcome, CHROMIUM,
};

/// The script, relative to tests/node.
const SCRIPT: &str = "bench/mesh-vs-sfu.mjs";

/// Seconds each mode is measured once every tab plays the three others.
const WINDOW_SECONDS: &str = "20";

/// Two rooms of four tabs take about a minute and a half; a hung browser fails the step.
const DEADLINE: Duration = Duration::from_secs(5 * 60);

/// Runs the mesh-versus-media-server browser benchmark with the release `videoroom`.
pub fn bench_browsers(binaries: &Binaries) -> Result<Outcome> {
    let skip = |why: String| {
        println!("skipped: mesh vs media server in browsers ({why})");
        Ok(Outcome::Skipped(why))
    };
    if find_on_path("node").is_none() || find_on_path("npm").is_none() {
        return skip(
            "needs Node.js 20+ and npm; install with: apt-get install -y nodejs npm".into(),
        );
    }
    if !Path::new(CHROMIUM).is_file() {
        return skip(format!(
            "needs Chromium at {CHROMIUM}; install with: apt-get install -y chromium"
        ));
    }
    if let Err(error) = install_node_modules() {
        return Ok(Outcome::Failed(format!("npm install failed: {error:#}")));
    }
    // The pages load the pinned SDK from the cache; fill it while the network is there.
    let mut fetch_sdk = Command::new(&binaries.videoroom);
    fetch_sdk
        .current_dir(crate::project_root())
        .args(["sdk", "fetch"]);
    if let Outcome::Failed(why) = run_status(&mut fetch_sdk)? {
        return Ok(Outcome::Failed(format!(
            "the SDK could not be cached before the benchmark: {why}"
        )));
    }
    if let Err(error) = netns::probe() {
        return skip(format!("needs a loopback-only network namespace: {error}"));
    }
    let mut command = Command::new("node");
    command
        .current_dir(node_dir())
        .args([SCRIPT, WINDOW_SECONDS])
        .env("VIDEOROOM_BIN", &binaries.videoroom)
        // Loopback only; a proxy from the environment must not intercept the pages.
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy");
    run_with_deadline(&mut netns::isolated(&command), Some(DEADLINE))
}
