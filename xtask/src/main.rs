//! `cargo xtask`: the project's automation, in Rust so that it runs wherever cargo does.
//!
//! `cargo xtask test` is the one command that says whether the project is healthy: formatting,
//! lints, the core crate's architecture invariant, every cargo test with insta in strict mode, and
//! then the tiers that drive the built binaries with the official Twilio client libraries and a
//! real browser (Node.js, Python, Chromium). `cargo xtask bench` builds in release and runs the
//! benchmarks. It deliberately installs nothing system-wide: a missing tool is reported with the
//! command that installs it (and is a failure when `CI=true`); `.ci/run` does the installing.
//! It depends on nothing but `anyhow` and `sha2` (the kit's checksums), so that it builds in
//! seconds on a fresh clone.

use std::collections::BTreeSet;
use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

mod browser_bench;
mod fuzz;
mod kit;
mod netns;
mod resilience;
mod screenshots;
mod windows;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [STEP...]   run the project's checks and test tiers (all steps when none are named)
  test --list      list the steps of `test`
  bench            build in release and run every benchmark of the workspace
  fuzz [--minutes N] [TARGET...]   run the cargo-fuzz targets on nightly (not part of test)
  kit [--debug]    build the workshop kit for this system into target/kit (binary + SDK + README)
  kit --bench      time an unpacked kit to a served page with the SDK ready (part of bench)
  screenshots      regenerate the docs' screenshots in docs/images (Chromium, fonts-noto-cjk)
  help             show this message

environment:
  CI=true          a test tier whose tool is missing fails instead of being skipped
";

/// The steps of `cargo xtask test`, in the order they run. Cheap checks come first so that a
/// formatting slip fails in seconds, not after the slow tiers.
const STEPS: &[(&str, &str)] = &[
    ("fmt", "cargo fmt --check"),
    ("clippy", "cargo clippy -D warnings"),
    ("core-invariant", "videoroom-core does no I/O"),
    (
        "cargo-test",
        "cargo test (insta strict), hostile tests aside",
    ),
    ("hostile", "hostile-client tests, one at a time"),
    ("media", "media server tests, in a loopback-only namespace"),
    ("snapshots", "insta snapshots all referenced"),
    ("build", "build the binaries"),
    ("node", "Node tier (twilio, jsonwebtoken)"),
    ("browser", "browser tier (Chromium)"),
    ("python", "Python tier (twilio, pytest)"),
    (
        "resilience",
        "resilience tier (faults, outage, two instances)",
    ),
    (
        "windows-check",
        "cargo check --target x86_64-pc-windows-gnu (when installed)",
    ),
];

/// Crates whose presence in `videoroom-core`'s normal dependency tree would mean it does I/O:
/// web frameworks, HTTP clients and servers, async runtimes, sockets, TLS and WebSockets.
/// A name ending in `*` is a prefix. Any `-sys` crate is refused as well (see
/// `forbidden_in_core`), since binding a system library is I/O or close to it.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "actix*",
    "awc",
    "reqwest",
    "hyper*",
    "h2",
    "h3",
    "http-body*",
    "tokio*",
    "mio",
    "socket2",
    "async-std",
    "async-io",
    "async-net",
    "smol",
    "tungstenite",
    "rustls*",
    "native-tls",
    "openssl*",
    "ureq",
    "isahc",
    "curl",
    "surf",
    "tonic",
    "tower*",
];

/// Upper bound for one test tier, so that a hung server or browser fails the run with a clear
/// message instead of eating CI's whole time budget.
const TIER_TIMEOUT: Duration = Duration::from_secs(15 * 60);

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("bench") => bench(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("kit") => kit::kit(&args[1..]),
        Some("screenshots") => screenshots::screenshots(),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(true)
        }
        Some(other) => {
            eprint!("unknown command `{other}`\n\n{USAGE}");
            Ok(false)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask's own manifest directory is one level below it.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one directory below the workspace root")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                project_root().join(dir)
            }
        }
        None => project_root().join("target"),
    }
}

/// The cargo that started us (cargo sets `CARGO` for `cargo run`), so that a toolchain override
/// applies to the steps too.
fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(project_root());
    command
}

fn in_ci() -> bool {
    matches!(
        env::var("CI")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Ok("true" | "1" | "yes")
    )
}

#[derive(Debug, Clone)]
enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => write!(f, "passed"),
            Outcome::Failed(why) => write!(f, "FAILED: {why}"),
            Outcome::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// What the test steps share: where the built binaries are, once the build step has run.
#[derive(Default)]
struct Run {
    binaries: Option<Binaries>,
    node_ready: Option<Result<(), String>>,
    cargo_test_passed: bool,
    references_file: Option<PathBuf>,
}

#[derive(Clone)]
struct Binaries {
    videoroom: PathBuf,
    emulator: PathBuf,
}

fn test(args: &[String]) -> Result<bool> {
    if args.iter().any(|a| a == "--list") {
        for (name, title) in STEPS {
            println!("{name:<16} {title}");
        }
        return Ok(true);
    }
    let selected: Vec<&str> = args.iter().map(String::as_str).collect();
    for name in &selected {
        if !STEPS.iter().any(|(step, _)| step == name) {
            bail!("unknown step `{name}`; `cargo xtask test --list` lists them");
        }
    }
    let ci = in_ci();
    println!(
        "cargo xtask test: {} (CI={})",
        project_root().display(),
        if ci {
            "true: missing tools fail"
        } else {
            "false: missing tools are skipped"
        }
    );

    let mut context = Run::default();
    let mut results: Vec<(&str, Outcome, Duration)> = Vec::new();
    let chosen: Vec<&(&str, &str)> = STEPS
        .iter()
        .filter(|(name, _)| selected.is_empty() || selected.contains(name))
        .collect();
    let total = chosen.len();
    for (index, (name, title)) in chosen.into_iter().enumerate() {
        println!("\n==> [{}/{total}] {name}: {title}", index + 1);
        let started = Instant::now();
        let outcome = match run_step(name, &mut context, ci) {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Failed(format!("{error:#}")),
        };
        let elapsed = started.elapsed();
        println!("<== {name}: {outcome} ({})", seconds(elapsed));
        results.push((name, outcome, elapsed));
    }

    println!("\nsummary");
    println!("{:<16} {:<8} {:>8}  note", "step", "result", "time");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, outcome, elapsed) in &results {
        let (word, note) = match outcome {
            Outcome::Passed => {
                passed += 1;
                ("passed", String::new())
            }
            Outcome::Failed(why) => {
                failed += 1;
                ("FAILED", why.clone())
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                ("skipped", why.clone())
            }
        };
        let line = format!("{name:<16} {word:<8} {:>8}  {note}", seconds(*elapsed));
        println!("{}", line.trim_end());
    }
    let mut closing = format!("{passed} passed, {failed} failed");
    if skipped > 0 {
        closing.push_str(&format!(", {skipped} skipped"));
    }
    println!("{closing}");
    Ok(failed == 0)
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

fn run_step(name: &str, context: &mut Run, ci: bool) -> Result<Outcome> {
    match name {
        "fmt" => run_status(cargo().args(["fmt", "--all", "--", "--check"])),
        "clippy" => run_status(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])),
        "core-invariant" => core_invariant(),
        "cargo-test" => cargo_test(context),
        "hostile" => hostile(),
        "media" => media(ci),
        "snapshots" => snapshots(context),
        "build" => build(context),
        "node" => node_tier(context, ci),
        "browser" => browser_tier(context, ci),
        "python" => python_tier(context, ci),
        "resilience" => resilience_tier(context),
        "windows-check" => windows::windows_check(),
        other => bail!("no such step: {other}"),
    }
}

/// Prints a command the way a person would type it, then runs it with inherited output.
fn run_status(command: &mut Command) -> Result<Outcome> {
    run_with_deadline(command, None)
}

fn run_with_deadline(command: &mut Command, deadline: Option<Duration>) -> Result<Outcome> {
    println!("$ {}", describe(command));
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{}`", describe(command)))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if deadline.is_some_and(|limit| started.elapsed() > limit) {
            // The child is killed, not the grandchildren it started; the test harnesses stop
            // their own servers, and this only guards against a run that never ends.
            child.kill().ok();
            child.wait().ok();
            return Ok(Outcome::Failed(format!(
                "`{}` did not finish within {}",
                short(command),
                seconds(deadline.unwrap_or_default())
            )));
        }
        thread::sleep(Duration::from_millis(100));
    };
    Ok(if status.success() {
        Outcome::Passed
    } else {
        Outcome::Failed(format!("`{}` exited with {status}", short(command)))
    })
}

/// The program and its first argument (`cargo clippy`, `node --test`), for the summary table.
fn short(command: &Command) -> String {
    describe(command)
        .split(' ')
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn describe(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or_else(|| command.get_program())
        .to_string_lossy()
        .into_owned();
    std::iter::once(program)
        .chain(command.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Architecture invariant from docs/architecture.md: core's normal (non-dev) dependencies,
/// with every feature on, contain nothing that does network or system I/O.
fn core_invariant() -> Result<Outcome> {
    let mut command = cargo();
    command.args([
        "tree",
        "--package",
        "videoroom-core",
        "--edges",
        "normal",
        "--all-features",
        "--prefix",
        "none",
    ]);
    println!("$ {}", describe(&command));
    let output = command.stderr(Stdio::inherit()).output()?;
    if !output.status.success() {
        return Ok(Outcome::Failed(format!(
            "`cargo tree` exited with {}",
            output.status
        )));
    }
    let tree = String::from_utf8(output.stdout).context("cargo tree printed invalid UTF-8")?;
    let crates: BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "videoroom-core")
        .collect();
    let offenders: Vec<&str> = crates
        .iter()
        .copied()
        .filter(|name| forbidden_in_core(name))
        .collect();
    println!(
        "checked {} crates in videoroom-core's normal dependency tree (all features) against: {}, and any *-sys crate",
        crates.len(),
        FORBIDDEN_IN_CORE.join(", ")
    );
    if offenders.is_empty() {
        println!("none found: videoroom-core does no I/O");
        Ok(Outcome::Passed)
    } else {
        for name in &offenders {
            let mut why = cargo();
            why.args([
                "tree",
                "-p",
                "videoroom-core",
                "-e",
                "normal",
                "--all-features",
                "-i",
                name,
            ]);
            println!("\n{name} is pulled in by:");
            why.status().ok();
        }
        Ok(Outcome::Failed(format!(
            "videoroom-core depends on I/O crates: {} (move that code to an adapter)",
            offenders.join(", ")
        )))
    }
}

fn forbidden_in_core(name: &str) -> bool {
    name.ends_with("-sys")
        || FORBIDDEN_IN_CORE
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == *pattern,
            })
}

/// All cargo tests with insta strict: a snapshot that differs fails (never auto-accepted), no
/// `.snap.new` is written, metadata must match, and every snapshot the tests touch is recorded
/// so that the `snapshots` step can find the ones nothing references any more.
fn cargo_test(context: &mut Run) -> Result<Outcome> {
    let references = target_dir().join("xtask").join("insta-references.txt");
    fs::create_dir_all(references.parent().unwrap_or(Path::new(".")))?;
    if references.exists() {
        fs::remove_file(&references)?;
    }
    // The hostile tests have their own step: they load the machine (hundreds of sockets, slow
    // bodies, deadlines of seconds) and must run one at a time. They are skipped by module
    // (`hostile::`, `hostile_signaling::`), not by the bare word, so that ordinary tests with
    // "hostile" in their names still run here.
    let outcome = run_status(
        cargo()
            .args([
                "test",
                "--workspace",
                // The media server's tests carry RTP; they run in the `media` step, where
                // loopback is the only interface.
                "--exclude",
                MEDIA_PACKAGE,
                "--",
                "--skip",
                "hostile::",
                "--skip",
                "hostile_signaling::",
            ])
            .env("INSTA_UPDATE", "no")
            .env("INSTA_FORCE_PASS", "0")
            .env("INSTA_REQUIRE_FULL_MATCH", "1")
            .env("INSTA_SNAPSHOT_REFERENCES_FILE", &references),
    )?;
    context.cargo_test_passed = matches!(outcome, Outcome::Passed);
    context.references_file = Some(references);
    Ok(outcome)
}

/// The hostile-client tests (`hostile` in their names: `emulator/tests/api/hostile*.rs`,
/// `crates/server/tests/api/hostile.rs`), each test alone so that one test's hundreds of
/// sockets and deadlines do not skew another's timings. Sized to finish in about two minutes
/// on two cores.
///
/// The packages are selected exactly as the cargo-test step selects them (the workspace but
/// the media crate), and only the `api` test targets run: cargo unifies features over the
/// selected packages, so `-p videoroom-emulator` alone resolved other features and rebuilt some
/// fifty crates (about seven minutes of a CI run) that the cargo-test step had just built.
fn hostile() -> Result<Outcome> {
    run_with_deadline(
        cargo().args([
            "test",
            "--workspace",
            "--exclude",
            MEDIA_PACKAGE,
            "--test",
            "api",
            "hostile",
            "--",
            "--test-threads=1",
        ]),
        Some(TIER_TIMEOUT),
    )
}

const MEDIA_PACKAGE: &str = "videoroom-media";

/// The media server's tests (scripted WebRTC clients exchanging SRTP with it), built first and
/// then run in a network namespace whose only interface is loopback (see `netns`), so their
/// media provably stays on this machine.
fn media(ci: bool) -> Result<Outcome> {
    match run_status(cargo().args(["test", "-p", MEDIA_PACKAGE, "--no-run"]))? {
        Outcome::Passed => {}
        other => return Ok(other),
    }
    if let Err(error) = netns::probe() {
        return Ok(namespace_missing("media", &error, ci));
    }
    let mut command = cargo();
    command.args(["test", "-p", MEDIA_PACKAGE, "--offline"]);
    run_with_deadline(&mut netns::isolated(&command), Some(TIER_TIMEOUT))
}

/// A tier that must run in a loopback-only namespace, on a machine that cannot make one:
/// skipped locally with the reason, a failure in CI.
fn namespace_missing(tier: &str, error: &str, ci: bool) -> Outcome {
    let message = format!("{tier} (needs a loopback-only network namespace: {error})");
    println!("skipped: {message}");
    if ci {
        Outcome::Failed(format!("CI=true and {message}"))
    } else {
        Outcome::Skipped(message)
    }
}

fn snapshots(context: &Run) -> Result<Outcome> {
    let Some(references) = &context.references_file else {
        return Ok(Outcome::Skipped(
            "needs the cargo-test step in the same run".into(),
        ));
    };
    if !context.cargo_test_passed {
        return Ok(Outcome::Skipped(
            "cargo test failed, so the set of referenced snapshots is incomplete".into(),
        ));
    }
    let referenced = fs::read_to_string(references).unwrap_or_default();
    let audit = audit_snapshots(&project_root(), &referenced)?;
    let (on_disk, unreferenced, pending) = (audit.on_disk, audit.unreferenced, audit.pending);
    println!(
        "{} snapshot files on disk, {} of them referenced by the tests",
        on_disk,
        on_disk - unreferenced.len()
    );
    let root = project_root();
    let relative = |path: &Path| {
        path.strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    for path in &unreferenced {
        println!(
            "unreferenced (no test asserts it; delete it): {}",
            relative(path)
        );
    }
    for path in &pending {
        println!(
            "pending (review with `cargo insta review` or delete): {}",
            relative(path)
        );
    }
    Ok(match (unreferenced.len(), pending.len()) {
        (0, 0) => Outcome::Passed,
        (u, p) => Outcome::Failed(format!("{u} unreferenced and {p} pending snapshot files")),
    })
}

struct SnapshotAudit {
    on_disk: usize,
    unreferenced: Vec<PathBuf>,
    pending: Vec<PathBuf>,
}

/// Compares the `.snap` files in `snapshots/` folders under `root` with the paths insta wrote to
/// the references file (one per line), and finds `.snap.new`/`.pending-snap` files left over.
fn audit_snapshots(root: &Path, references: &str) -> Result<SnapshotAudit> {
    let referenced: BTreeSet<PathBuf> = references
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| canonical(Path::new(line)))
        .collect();
    let mut on_disk = Vec::new();
    let mut pending = Vec::new();
    walk(root, &mut |path| {
        let name = path.file_name().and_then(OsStr::to_str).unwrap_or_default();
        if name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
            pending.push(path.to_path_buf());
        } else if name.ends_with(".snap")
            && path.parent().and_then(Path::file_name) == Some(OsStr::new("snapshots"))
        {
            on_disk.push(path.to_path_buf());
        }
    })?;
    on_disk.sort();
    pending.sort();
    Ok(SnapshotAudit {
        on_disk: on_disk.len(),
        unreferenced: on_disk
            .into_iter()
            .filter(|path| !referenced.contains(&canonical(path)))
            .collect(),
        pending,
    })
}

fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Visits every file under `dir`, except build output, dependencies and VCS metadata.
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            let name = entry.file_name();
            if matches!(
                name.to_str(),
                Some("target" | "node_modules" | ".git" | ".cache" | "__pycache__" | ".venv")
            ) {
                continue;
            }
            walk(&path, visit)?;
        } else if file_type.is_file() {
            visit(&path);
        }
    }
    Ok(())
}

fn build(context: &mut Run) -> Result<Outcome> {
    let outcome = run_status(cargo().args(["build", "--workspace", "--bins"]))?;
    if !matches!(outcome, Outcome::Passed) {
        return Ok(outcome);
    }
    let binaries = locate_binaries("debug");
    for path in [&binaries.videoroom, &binaries.emulator] {
        if !path.is_file() {
            return Ok(Outcome::Failed(format!(
                "the build did not produce {}",
                path.display()
            )));
        }
        println!("built {}", path.display());
    }
    context.binaries = Some(binaries);
    Ok(Outcome::Passed)
}

fn locate_binaries(profile: &str) -> Binaries {
    let dir = target_dir().join(profile);
    Binaries {
        videoroom: dir.join(format!("videoroom{}", env::consts::EXE_SUFFIX)),
        emulator: dir.join(format!("videoroom-emulator{}", env::consts::EXE_SUFFIX)),
    }
}

/// The binaries for the tiers: those of this run's build step, or (when the tiers are run on
/// their own, e.g. `cargo xtask test node`) a fresh build of them.
fn binaries(context: &mut Run) -> Result<std::result::Result<Binaries, Outcome>> {
    if let Some(binaries) = &context.binaries {
        return Ok(Ok(binaries.clone()));
    }
    match build(context)? {
        Outcome::Passed => Ok(Ok(context
            .binaries
            .clone()
            .context("build passed without binaries")?)),
        other => Ok(Err(Outcome::Failed(format!("binaries not built: {other}")))),
    }
}

/// A tool that is not installed: skipped locally, a failure in CI, always with the fix.
fn missing(tier: &str, tool: &str, install: &str, ci: bool) -> Outcome {
    let message = format!("{tier} (needs {tool}; install with: {install})");
    println!("skipped: {message}");
    if ci {
        Outcome::Failed(format!("CI=true and {message}"))
    } else {
        Outcome::Skipped(message)
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn node_dir() -> PathBuf {
    project_root().join("tests").join("node")
}

/// Installs tests/node's pinned dependencies once per lockfile: `npm ci` reinstalls from
/// scratch, so it is skipped when node_modules was installed from this very lockfile.
fn prepare_node(context: &mut Run) -> Result<(), String> {
    if let Some(ready) = &context.node_ready {
        return ready.clone();
    }
    let result = install_node_modules().map_err(|e| format!("{e:#}"));
    context.node_ready = Some(result.clone());
    result
}

fn install_node_modules() -> Result<()> {
    let dir = node_dir();
    let lockfile = dir.join("package-lock.json");
    let stamp = target_dir().join("xtask").join("node-modules.stamp");
    let installed_marker = dir.join("node_modules").join(".package-lock.json");
    let lock = fs::read_to_string(&lockfile).ok();
    if let Some(lock) = &lock {
        if installed_marker.is_file() && fs::read_to_string(&stamp).ok().as_ref() == Some(lock) {
            println!("tests/node/node_modules is up to date with package-lock.json");
            return Ok(());
        }
    }
    let mut command = Command::new("npm");
    command.current_dir(&dir);
    if lock.is_some() {
        command.args(["ci", "--no-audit", "--no-fund"]);
    } else {
        command.args(["install", "--no-audit", "--no-fund"]);
    }
    match run_status(&mut command)? {
        Outcome::Passed => {}
        other => bail!("{other}"),
    }
    if let Ok(lock) = fs::read_to_string(&lockfile) {
        fs::create_dir_all(stamp.parent().unwrap_or(Path::new(".")))?;
        fs::write(&stamp, lock)?;
    }
    Ok(())
}

/// `*.test.mjs` files under `dir`, sorted, leaving out node_modules (and `exclude`, if given).
fn node_test_files(dir: &Path, exclude: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    walk(dir, &mut |path| {
        let is_test = path
            .file_name()
            .and_then(OsStr::to_str)
            .is_some_and(|name| name.ends_with(".test.mjs"));
        if is_test && !exclude.is_some_and(|skip| path.starts_with(skip)) {
            files.push(path.to_path_buf());
        }
    })?;
    files.sort();
    Ok(files)
}

/// Runs `node --test` over `files`; `isolated` puts it in a loopback-only network namespace
/// (see `netns`), which the tiers that carry media use.
fn run_node_tests(files: &[PathBuf], binaries: &Binaries, isolated: bool) -> Result<Outcome> {
    let dir = node_dir();
    let mut command = under_emulator_exec(binaries);
    command
        .current_dir(&dir)
        .arg("node")
        .arg("--test")
        // A single test that hangs (a server that never answers) fails after two minutes.
        .arg("--test-timeout=120000")
        // The spec reporter repeats every failure at the end, where a person reading CI's
        // output looks first (the TAP default buries them among the passing tests).
        .arg("--test-reporter=spec")
        .args(files.iter().map(|f| f.strip_prefix(&dir).unwrap_or(f)))
        .env("VIDEOROOM_BIN", &binaries.videoroom)
        .env("VIDEOROOM_EMULATOR_BIN", &binaries.emulator)
        // The tiers talk to loopback only; a proxy from the environment must not intercept them.
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy");
    if isolated {
        return run_with_deadline(&mut netns::isolated(&command), Some(TIER_TIMEOUT));
    }
    run_with_deadline(&mut command, Some(TIER_TIMEOUT))
}

fn node_tier(context: &mut Run, ci: bool) -> Result<Outcome> {
    if find_on_path("node").is_none() || find_on_path("npm").is_none() {
        return Ok(missing(
            "node",
            "Node.js 20+ and npm",
            "apt-get install -y nodejs npm",
            ci,
        ));
    }
    let dir = node_dir();
    let files = node_test_files(&dir, Some(&dir.join("browser")))?;
    if files.is_empty() {
        return Ok(Outcome::Failed(format!(
            "no *.test.mjs files under {}",
            dir.display()
        )));
    }
    let binaries = match binaries(context)? {
        Ok(binaries) => binaries,
        Err(outcome) => return Ok(outcome),
    };
    if let Err(error) = prepare_node(context) {
        return Ok(Outcome::Failed(format!("npm install failed: {error}")));
    }
    run_node_tests(&files, &binaries, false)
}

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_tier(context: &mut Run, ci: bool) -> Result<Outcome> {
    let dir = node_dir().join("browser");
    let files = node_test_files(&dir, None)?;
    if files.is_empty() {
        println!("no *.test.mjs files under tests/node/browser");
        return Ok(Outcome::Skipped(
            "no browser tests in tests/node/browser".into(),
        ));
    }
    if find_on_path("node").is_none() || find_on_path("npm").is_none() {
        return Ok(missing(
            "browser",
            "Node.js 20+ and npm",
            "apt-get install -y nodejs npm",
            ci,
        ));
    }
    if !Path::new(CHROMIUM).is_file() {
        return Ok(missing(
            "browser",
            &format!("Chromium at {CHROMIUM}"),
            "apt-get install -y chromium",
            ci,
        ));
    }
    let binaries = match binaries(context)? {
        Ok(binaries) => binaries,
        Err(outcome) => return Ok(outcome),
    };
    if let Err(error) = prepare_node(context) {
        return Ok(Outcome::Failed(format!("npm install failed: {error}")));
    }
    // The pages load the pinned SDK from the project's cache; fill it while the network is
    // there (nothing to do when it is cached already).
    let mut fetch_sdk = Command::new(&binaries.videoroom);
    fetch_sdk.current_dir(project_root()).args(["sdk", "fetch"]);
    if let Outcome::Failed(why) = run_status(&mut fetch_sdk)? {
        return Ok(Outcome::Failed(format!(
            "the SDK could not be cached before the tier: {why}"
        )));
    }
    // Media between pages must provably stay on this machine: the tier runs where loopback is
    // the only interface. Everything it needs from the network was installed just above.
    if let Err(error) = netns::probe() {
        return Ok(namespace_missing("browser", &error, ci));
    }
    run_node_tests(&files, &binaries, true)
}

fn python_tier(context: &mut Run, ci: bool) -> Result<Outcome> {
    let root = project_root();
    let tests = root.join("tests").join("python");
    let Some(python) = find_on_path("python3") else {
        return Ok(missing(
            "python",
            "python3",
            "apt-get install -y python3 python3-venv",
            ci,
        ));
    };
    let venv = target_dir().join("xtask").join("venv");
    let venv_python = venv.join("bin").join("python");
    if !venv_python.is_file() {
        // Debian splits `venv`'s pip bootstrap into python3-venv; probe it before using it so the
        // message names the package instead of showing ensurepip's traceback.
        let probe = Command::new(&python)
            .args(["-c", "import venv, ensurepip"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !probe.success() {
            return Ok(missing(
                "python",
                "python3's venv module",
                "apt-get install -y python3-venv",
                ci,
            ));
        }
        match run_status(Command::new(&python).arg("-m").arg("venv").arg(&venv))? {
            Outcome::Passed => {}
            other => return Ok(other),
        }
    }
    let requirements = tests.join("requirements.txt");
    let stamp = venv.join("requirements.stamp");
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        println!(
            "the venv at {} is up to date with requirements.txt",
            venv.display()
        );
    } else {
        let outcome = run_status(
            Command::new(&venv_python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--quiet",
                    "-r",
                ])
                .arg(&requirements),
        )?;
        if !matches!(outcome, Outcome::Passed) {
            return Ok(outcome);
        }
        fs::write(&stamp, &wanted)?;
    }
    let binaries = match binaries(context)? {
        Ok(binaries) => binaries,
        Err(outcome) => return Ok(outcome),
    };
    let mut command = under_emulator_exec(&binaries);
    command
        // Not the project root, where a developer's `.env` may hold real credentials that the
        // emulator would read and export to the tests.
        .current_dir(&tests)
        .arg(&venv_python)
        .args(["-m", "pytest", "-ra", "-p", "no:cacheprovider"])
        .arg(&tests)
        .env("VIDEOROOM_BIN", &binaries.videoroom)
        .env("VIDEOROOM_EMULATOR_BIN", &binaries.emulator)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy");
    println!("$ {}", describe(&command));
    let status = command.status()?;
    Ok(match status.code() {
        Some(0) => Outcome::Passed,
        // pytest's exit code 5: nothing was collected, which here means the tier is broken.
        Some(5) => Outcome::Failed("pytest collected no tests in tests/python".into()),
        _ => Outcome::Failed(format!("pytest exited with {status}")),
    })
}

/// `videoroom-emulator exec -- …`: a tier runs as a user's CI would, against a fresh emulator
/// whose URL and credentials are in its environment (`TWILIO_VIDEO_BASE_URL`,
/// `VIDEOROOM_EMULATOR_URL`, `ACCOUNT_SID`, …); the emulator's request log is printed when the
/// tier fails. The caller's credential variables are removed, so the emulator serves the
/// seeded test account whatever the developer's shell holds.
fn under_emulator_exec(binaries: &Binaries) -> Command {
    let mut command = Command::new(&binaries.emulator);
    command.args(["exec", "--"]);
    for name in [
        "ACCOUNT_SID",
        "TWILIO_ACCOUNT_SID",
        "AUTH_TOKEN",
        "TWILIO_AUTH_TOKEN",
        "API_KEY",
        "TWILIO_API_KEY_SID",
        "API_SECRET",
        "TWILIO_API_KEY_SECRET",
        "EMULATOR_SEED",
        "EMULATOR_PORT",
    ] {
        command.env_remove(name);
    }
    command
}

/// `cargo xtask bench`: release binaries for benchmarks that start them, then every bench
/// target of the workspace, the signaling benchmark first.
fn bench() -> Result<bool> {
    let mut results: Vec<(String, Outcome, Duration)> = Vec::new();
    let started = Instant::now();
    println!("\n==> build the binaries in release");
    let outcome = run_status(cargo().args(["build", "--release", "--workspace", "--bins"]))?;
    results.push(("release build".into(), outcome.clone(), started.elapsed()));
    if matches!(outcome, Outcome::Passed) {
        let binaries = locate_binaries("release");
        let mut benches = bench_targets()?;
        let signaling = ("videoroom-emulator".to_string(), "signaling".to_string());
        if !benches.contains(&signaling) {
            println!(
                "\nskipped: videoroom-emulator's `signaling` benchmark (emulator/benches/signaling.rs does not exist yet)"
            );
            results.push((
                "videoroom-emulator/signaling".into(),
                Outcome::Skipped("emulator/benches/signaling.rs does not exist".into()),
                Duration::ZERO,
            ));
        }
        benches.sort_by_key(|bench| bench != &signaling);
        for (package, name) in benches {
            println!("\n==> cargo bench -p {package} --bench {name}");
            let started = Instant::now();
            let outcome = run_status(
                cargo()
                    .args(["bench", "--package", &package, "--bench", &name])
                    .env("VIDEOROOM_BIN", &binaries.videoroom)
                    .env("VIDEOROOM_EMULATOR_BIN", &binaries.emulator),
            )?;
            results.push((format!("{package}/{name}"), outcome, started.elapsed()));
        }
        println!("\n==> workshop kit: unpacked kit to a served page with the SDK ready");
        let started = Instant::now();
        let outcome = kit::bench_kit(&binaries.videoroom)?;
        results.push(("workshop kit".into(), outcome, started.elapsed()));
        println!("\n==> mesh vs media server: 4 Chromium tabs in one group room");
        let started = Instant::now();
        let outcome = browser_bench::bench_browsers(&binaries)?;
        results.push(("mesh vs media server".into(), outcome, started.elapsed()));
    }
    println!("\nsummary");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, outcome, elapsed) in &results {
        match outcome {
            Outcome::Passed => passed += 1,
            Outcome::Failed(_) => failed += 1,
            Outcome::Skipped(_) => skipped += 1,
        }
        println!("{name:<36} {:>8}  {outcome}", seconds(*elapsed));
    }
    let mut closing = format!("{passed} passed, {failed} failed");
    if skipped > 0 {
        closing.push_str(&format!(", {skipped} skipped"));
    }
    println!("{closing}");
    Ok(failed == 0)
}

/// Bench targets as cargo discovers them: `benches/<name>.rs` or `benches/<name>/main.rs` in
/// each workspace member, named after the member's package.
fn bench_targets() -> Result<Vec<(String, String)>> {
    let root = project_root();
    let mut members: Vec<PathBuf> = vec![root.join("emulator"), root.join("xtask")];
    if let Ok(entries) = fs::read_dir(root.join("crates")) {
        for entry in entries.flatten() {
            members.push(entry.path());
        }
    }
    let mut targets = Vec::new();
    for member in members {
        let Ok(manifest) = fs::read_to_string(member.join("Cargo.toml")) else {
            continue;
        };
        let Some(package) = package_name(&manifest) else {
            continue;
        };
        let Ok(entries) = fs::read_dir(member.join("benches")) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = if path.extension() == Some(OsStr::new("rs")) {
                path.file_stem().and_then(OsStr::to_str).map(str::to_owned)
            } else if path.join("main.rs").is_file() {
                path.file_name().and_then(OsStr::to_str).map(str::to_owned)
            } else {
                None
            };
            if let Some(name) = name {
                targets.push((package.clone(), name));
            }
        }
    }
    targets.sort();
    Ok(targets)
}

/// The `name` of a manifest's `[package]` table, read without a TOML parser: the manifests of
/// this workspace put it on its own line right under `[package]`.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name") {
                let value = value.trim_start().strip_prefix('=')?.trim();
                return Some(value.trim_matches('"').to_owned());
            }
        }
    }
    None
}

/// The resilience tier (see `resilience.rs`): the built binaries, no external tool.
fn resilience_tier(context: &mut Run) -> Result<Outcome> {
    let binaries = match binaries(context)? {
        Ok(binaries) => binaries,
        Err(outcome) => return Ok(outcome),
    };
    Ok(
        match resilience::run(&binaries.videoroom, &binaries.emulator)? {
            Ok(()) => Outcome::Passed,
            Err(why) => Outcome::Failed(why),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_crates_are_forbidden_in_core_and_pure_ones_are_not() {
        for name in [
            "actix-web",
            "reqwest",
            "hyper",
            "hyper-util",
            "tokio",
            "tokio-util",
            "mio",
            "openssl-sys",
            "ring-sys",
        ] {
            assert!(forbidden_in_core(name), "{name} should be forbidden");
        }
        for name in [
            "serde",
            "jsonwebtoken",
            "time",
            "futures-util",
            "hmac",
            "libc",
        ] {
            assert!(!forbidden_in_core(name), "{name} should be allowed");
        }
    }

    #[test]
    fn package_name_is_read_from_the_package_table_only() {
        let manifest = "[workspace]\nname = \"nope\"\n\n[package]\nname = \"videoroom-emulator\"\nversion.workspace = true\n";
        assert_eq!(
            package_name(manifest).as_deref(),
            Some("videoroom-emulator")
        );
        assert_eq!(package_name("[dependencies]\nname = \"x\"\n"), None);
    }

    #[test]
    fn unreferenced_and_pending_snapshots_are_reported_and_build_output_is_ignored() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_path_buf();
        let snapshots = dir.join("crate/tests/snapshots");
        fs::create_dir_all(&snapshots).unwrap();
        fs::create_dir_all(dir.join("target/snapshots")).unwrap();
        for file in [
            "used.snap",
            "stale.snap",
            "changed.snap.new",
            "inline.pending-snap",
        ] {
            fs::write(snapshots.join(file), "").unwrap();
        }
        fs::write(dir.join("target/snapshots/built.snap"), "").unwrap();
        let references = format!("{}\n", snapshots.join("used.snap").display());
        let audit = audit_snapshots(&dir, &references).unwrap();
        scratch.close().unwrap();
        assert_eq!(audit.on_disk, 2);
        assert_eq!(audit.unreferenced, vec![snapshots.join("stale.snap")]);
        assert_eq!(
            audit.pending,
            vec![
                snapshots.join("changed.snap.new"),
                snapshots.join("inline.pending-snap")
            ]
        );
    }

    #[test]
    fn node_test_files_leave_out_the_excluded_directory() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().to_path_buf();
        fs::create_dir_all(dir.join("browser")).unwrap();
        fs::create_dir_all(dir.join("node_modules/pkg")).unwrap();
        for file in [
            "a.test.mjs",
            "helper.mjs",
            "browser/b.test.mjs",
            "node_modules/pkg/c.test.mjs",
        ] {
            fs::write(dir.join(file), "").unwrap();
        }
        let files = node_test_files(&dir, Some(&dir.join("browser"))).unwrap();
        scratch.close().unwrap();
        assert_eq!(files, vec![dir.join("a.test.mjs")]);
    }
}
