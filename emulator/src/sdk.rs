//! The pinned twilio-video.js SDK: which version, where it comes from, and how it is checked.
//!
//! It lives beside [`crate::signaling`] because the version is pinned to the signaling the
//! emulator speaks: a newer SDK may send messages the emulator does not know.
//!
//! In emulator mode the workshop page must work with no internet access, so the server serves
//! the SDK file itself. The file is never committed: it is obtained from the npm registry with
//! the npm client (`npm pack`), the tarball is checked against the integrity hash pinned below
//! (the one the npm registry publishes for this version), and `package/dist/twilio-video.min.js`
//! is extracted into a cache directory. Every later start reads the cache and checks the file
//! against its own pinned hash, so a corrupted or swapped cache is noticed, not served.
//!
//! When the file is not there yet, start-up does not wait: [`LocalSdk::start`] fetches in a
//! background thread while everything else already works, and the page explains what is going
//! on. Without npm or network, the explanation says exactly which command to run or which
//! variable to set.
//!
//! Nothing here reads the process environment: the caller says where the cache is, which file
//! overrides it and where a missing SDK comes from ([`SdkOptions`]). Only the platform's cache
//! folder ([`dirs::cache_dir`]) and the npm client on `PATH` ([`which`]) are looked up, and
//! only when the options leave them to the platform. Tests use [`SdkSource::Disabled`] or
//! [`SdkSource::Tarball`], so no test starts `npm pack`.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};

/// The twilio-video.js version the page is tested with, in both modes.
///
/// 2.x is the line whose signaling the emulator speaks; pin the newest 2.x release and update
/// [`TARBALL_INTEGRITY`] and [`FILE_SHA256`] together with it.
pub const SDK_VERSION: &str = "2.36.0";

/// Subresource-integrity hash of the npm tarball of [`SDK_VERSION`], as
/// `npm view twilio-video@2.36.0 dist.integrity` reports it.
pub const TARBALL_INTEGRITY: &str =
    "sha512-Vw4e/aXj9m56QuT96OPPJovmO61aVtKjN22LZGjDD0YwIvvwUUAfQayOKHka5O3ea0nHLv+lXHK3YODDcvimdA==";

/// SHA-256 (hex) of `package/dist/twilio-video.min.js` inside that tarball, so that the cached
/// copy is checked on every start without keeping the tarball.
pub const FILE_SHA256: &str = "7436d154a00a266bfd301362f0fd488bc8f57facfce5c6018f658a7fdd648773";

/// Where the file sits inside the npm tarball.
const FILE_IN_TARBALL: &str = "package/dist/twilio-video.min.js";

/// Name of the cached file inside the cache directory.
pub const CACHED_FILE_NAME: &str = "twilio-video.min.js";

/// How long `npm pack` may take, by default, before the fetch gives up and explains what to do.
/// A reachable registry delivers the 1 MB tarball in seconds; without one, npm itself retries
/// for over a minute in silence, which is what this cuts short.
pub const DEFAULT_NPM_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a waiting fetch reports that it is still waiting, by default.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The URL of the same version on Twilio's CDN, which the page uses in twilio mode.
pub fn cdn_url() -> String {
    format!("https://sdk.twilio.com/js/video/releases/{SDK_VERSION}/twilio-video.min.js")
}

/// The npm tarball's file name, as `npm pack` writes it.
pub fn tarball_name() -> String {
    format!("twilio-video-{SDK_VERSION}.tgz")
}

/// Why the SDK could not be obtained. Each message says what happened; [`explanation`] adds
/// what to do about it. (Signaling's refusals are `signaling`'s own error type; this one is
/// only about the SDK file.)
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    #[error("the npm client was not found on PATH (looked for `npm`, and `npm.cmd` on Windows)")]
    NpmMissing,
    #[error("`npm pack` failed ({status}); npm said: {detail}")]
    NpmFailed { status: String, detail: String },
    #[error("`npm pack` did not finish within {secs} s, so the npm registry is probably unreachable from here (no network, a proxy or a firewall){}", said(.detail))]
    NpmTimeout { secs: u64, detail: String },
    #[error("{what} does not match the pinned hash (expected {expected}, got {actual}); it is not twilio-video {SDK_VERSION} as published")]
    Integrity {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("the tarball has no {FILE_IN_TARBALL}")]
    NotInTarball,
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// "; npm said: …" when npm wrote something before it was stopped.
fn said(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!("; npm said: {detail}")
    }
}

impl SdkError {
    /// Whether the npm registry was tried and could not deliver: then the explanation offers
    /// the offline ways rather than the command that just failed.
    fn npm_tried(&self) -> bool {
        matches!(
            self,
            SdkError::NpmFailed { .. } | SdkError::NpmTimeout { .. }
        )
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SdkError + '_ {
    move |source| SdkError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where a missing SDK comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdkSource {
    /// `npm pack` from the npm registry, with `program` as the npm client, or else the `npm`
    /// found on `PATH` (through `PATHEXT` on Windows, where it is `npm.cmd`), stopped after
    /// `timeout`.
    Npm {
        program: Option<PathBuf>,
        timeout: Duration,
    },
    /// A tarball already on disk, copied into the cache and checked exactly like one npm
    /// fetched: the fetch path with no network (tests, or a tarball carried on a USB stick).
    Tarball(PathBuf),
    /// Nothing is fetched: a missing SDK is explained, never downloaded (`videoroom sdk
    /// status`, and tests, which must not reach a registry).
    Disabled,
}

impl SdkSource {
    /// `npm pack` with the npm client on `PATH` and the default timeout.
    pub fn npm() -> Self {
        SdkSource::Npm {
            program: None,
            timeout: DEFAULT_NPM_TIMEOUT,
        }
    }
}

/// Where the SDK is looked for and where a missing one comes from. The caller fills it from its
/// settings; nothing here reads the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdkOptions {
    /// The cache folder the user configured; the version is a subfolder of it. `None` picks
    /// the default (see [`SdkOptions::cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// A file the user points at: a `twilio-video.min.js` or the npm tarball. It wins over the
    /// cache and is never fetched.
    pub override_path: Option<PathBuf>,
    /// Where a missing SDK comes from.
    pub source: SdkSource,
    /// A folder where the npm tarball may lie beside the binary, as in the workshop kit
    /// (`cargo xtask kit`): it is checked like any tarball and served without being copied
    /// into the cache, so an attendee's machine downloads nothing. The settings fill it with
    /// [`binary_dir`]; `None` looks nowhere else.
    pub kit_dir: Option<PathBuf>,
}

/// The folder of the running executable, where the workshop kit puts the SDK tarball.
pub fn binary_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.canonicalize().unwrap_or(exe);
    exe.parent().map(Path::to_path_buf)
}

impl SdkOptions {
    /// The folder holding the cached file of [`SDK_VERSION`] (and where a hand-run `npm pack`
    /// may leave the tarball): `<configured>/<version>` when a cache folder is configured, else
    /// `<project>/.cache/twilio-video/<version>` when the running binary lies inside the
    /// project it was built from (the usual `cargo run`, `cargo test`), else
    /// `videoroom/twilio-video/<version>` in the platform's cache folder (`~/.cache` on Linux,
    /// `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows), which is where a binary
    /// installed with `cargo install` or copied elsewhere keeps it.
    pub fn cache_dir(&self) -> PathBuf {
        let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let project = project
            .join("Cargo.toml")
            .is_file()
            .then(|| project.canonicalize().unwrap_or(project));
        resolve_cache_dir(
            self.cache_dir.as_deref(),
            project_of_binary(project.as_deref(), binary_dir().as_deref()),
            dirs::cache_dir(),
        )
    }
}

/// The project, when the binary runs from inside it (its `target/`); `None` for a binary
/// installed or copied elsewhere, even when the sources it was built from are still there.
fn project_of_binary<'a>(project: Option<&'a Path>, binary: Option<&Path>) -> Option<&'a Path> {
    project.filter(|project| binary.is_some_and(|binary| binary.starts_with(project)))
}

/// [`SdkOptions::cache_dir`] with the project folder and the platform's cache folder given, so
/// that the rule is tested without touching either.
fn resolve_cache_dir(
    configured: Option<&Path>,
    project: Option<&Path>,
    platform_cache: Option<PathBuf>,
) -> PathBuf {
    if let Some(dir) = configured {
        return dir.join(SDK_VERSION);
    }
    let base = match (project, platform_cache) {
        (Some(project), _) => project.join(".cache"),
        (None, Some(platform)) => platform.join("videoroom"),
        // No home folder at all (a bare service account): the working directory is all there is.
        (None, None) => PathBuf::from(".cache"),
    };
    base.join("twilio-video").join(SDK_VERSION)
}

/// The npm client in the folders of `path` (a `PATH`-style list), as a shell would find it:
/// `npm`, or on Windows `npm.cmd` through `PATHEXT`.
/// The rule is [`crate::program_lookup`]'s, whose tests cover Windows' on every system; here
/// it gets this process's `PATHEXT` and this system's rules.
fn find_npm_in(path: &OsStr, cwd: &Path) -> Result<PathBuf, SdkError> {
    let pathext = std::env::var_os("PATHEXT");
    crate::program_lookup::lookup(
        "npm",
        path,
        pathext.as_deref(),
        cfg!(windows),
        cwd,
        crate::program_lookup::is_program_file,
    )
    .ok_or(SdkError::NpmMissing)
}

/// The npm client on the process's `PATH`, by the same rule as [`find_npm_in`].
fn find_npm() -> Result<PathBuf, SdkError> {
    let path = std::env::var_os("PATH").ok_or(SdkError::NpmMissing)?;
    let cwd = std::env::current_dir().map_err(io_error(Path::new(".")))?;
    find_npm_in(&path, &cwd)
}

/// What the server can serve right now.
#[derive(Clone, Debug)]
pub enum SdkState {
    /// The file is being fetched in the background.
    Fetching,
    /// The checked file, with where it came from (for logs and `/sdk/status`).
    Ready { file: Bytes, source: String },
    /// It could not be obtained; the text says why and what to do.
    Unavailable { reason: String },
}

/// The locally served SDK, shared by every worker.
#[derive(Debug)]
pub struct LocalSdk {
    options: SdkOptions,
    /// [`SdkOptions::cache_dir`], resolved once.
    cache_dir: PathBuf,
    state: RwLock<SdkState>,
    /// Set by the first [`LocalSdk::start`], so a shared instance reports and fetches once.
    started: AtomicBool,
}

impl LocalSdk {
    /// Looks in the override path and the cache (fast, no network). When neither has the file
    /// and fetching is allowed, the state is [`SdkState::Fetching`] and [`LocalSdk::start`] must
    /// be called to fetch it.
    pub fn new(options: SdkOptions) -> Arc<Self> {
        let cache_dir = options.cache_dir();
        let state = match find_local(&options, &cache_dir) {
            Ok(Some(state)) => state,
            Ok(None) if options.source != SdkSource::Disabled => SdkState::Fetching,
            Ok(None) => SdkState::Unavailable {
                reason: explanation(&options, &cache_dir, "it is not in the cache"),
            },
            Err(error) => SdkState::Unavailable {
                reason: explanation(&options, &cache_dir, &error.to_string()),
            },
        };
        Arc::new(Self {
            options,
            cache_dir,
            state: RwLock::new(state),
            started: AtomicBool::new(false),
        })
    }

    /// The one instance of this process for these options. Every application built in the
    /// process (tests build many) then shares one state and at most one `npm pack`.
    pub fn shared(options: SdkOptions) -> Arc<Self> {
        static SHARED: OnceLock<Mutex<Vec<Arc<LocalSdk>>>> = OnceLock::new();
        let mut all = match SHARED.get_or_init(Mutex::default).lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(found) = all.iter().find(|sdk| sdk.options == options) {
            return Arc::clone(found);
        }
        let sdk = Self::new(options);
        all.push(Arc::clone(&sdk));
        sdk
    }

    /// Where the SDK is looked for.
    pub fn options(&self) -> &SdkOptions {
        &self.options
    }

    /// The cache folder in use.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Reports the state once in the log and, when the SDK is missing, fetches it in a
    /// background thread so that start-up does not wait for the network.
    pub fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        match self.state() {
            SdkState::Ready { source, .. } => {
                tracing::info!(version = SDK_VERSION, %source, "twilio-video.js served locally");
            }
            SdkState::Unavailable { reason } => {
                tracing::warn!("{reason}");
            }
            SdkState::Fetching => {
                let how = match &self.options.source {
                    SdkSource::Tarball(path) => format!("copying it from {}", path.display()),
                    _ => "fetching it with `npm pack`".to_owned(),
                };
                tracing::warn!(
                    "twilio-video.js {SDK_VERSION} is not cached yet; {how} into {} in the \
                     background (the page says so until it is ready)",
                    self.cache_dir.display()
                );
                let sdk = Arc::clone(self);
                let spawned = std::thread::Builder::new()
                    .name("sdk-fetch".into())
                    .spawn(move || sdk.fetch_now());
                if let Err(error) = spawned {
                    self.set(SdkState::Unavailable {
                        reason: explanation(&self.options, &self.cache_dir, &error.to_string()),
                    });
                }
            }
        }
    }

    /// The current state. When the SDK was unavailable, the cache is looked at again first, so
    /// that a hand-run `npm pack` is picked up by reloading the page.
    pub fn state(&self) -> SdkState {
        let current = self.read();
        if let SdkState::Unavailable { .. } = current {
            if let Ok(Some(found)) = find_local(&self.options, &self.cache_dir) {
                self.set(found.clone());
                return found;
            }
        }
        current
    }

    /// Fetches from the options' source, blocking the calling thread, and records the outcome.
    /// While `npm pack` runs, the log says every few seconds that it is still waiting.
    pub fn fetch_now(&self) {
        self.fetch_with_progress(PROGRESS_EVERY, |waited, limit| {
            tracing::info!(
                "still waiting for `npm pack` ({} s of at most {} s)",
                waited.as_secs(),
                limit.as_secs()
            );
        });
    }

    /// As [`LocalSdk::fetch_now`], calling `progress(waited, timeout)` every `every` while
    /// `npm pack` runs, so that a person at a terminal knows it has not hung. Returns the size
    /// of the tarball that arrived, if one did (whether or not it then passed the check).
    pub fn fetch_with_progress(
        &self,
        every: Duration,
        mut progress: impl FnMut(Duration, Duration),
    ) -> Option<u64> {
        let fetched = match &self.options.source {
            SdkSource::Npm { program, timeout } => {
                program.clone().map_or_else(find_npm, Ok).and_then(|npm| {
                    let waiting = Waiting {
                        timeout: *timeout,
                        every,
                        progress: &mut progress,
                    };
                    fetch_with_npm(&npm, &self.cache_dir, waiting)
                })
            }
            SdkSource::Tarball(path) => copy_tarball(path, &self.cache_dir),
            SdkSource::Disabled => Ok(()),
        };
        let mut arrived = None;
        let outcome = fetched
            .and_then(|()| check_fetched(&self.cache_dir, &mut arrived))
            .and_then(|()| find_local(&self.options, &self.cache_dir))
            .and_then(|found| found.ok_or(SdkError::NotInTarball));
        match outcome {
            Ok(state) => {
                tracing::info!(
                    "twilio-video.js {SDK_VERSION} fetched and verified; reload the page"
                );
                self.set(state);
            }
            Err(error) => {
                let reason = if error.npm_tried() {
                    offline_explanation(&self.cache_dir, &error.to_string())
                } else {
                    explanation(&self.options, &self.cache_dir, &error.to_string())
                };
                tracing::warn!("{reason}");
                self.set(SdkState::Unavailable { reason });
            }
        }
        arrived
    }

    fn read(&self) -> SdkState {
        match self.state.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, state: SdkState) {
        match self.state.write() {
            Ok(mut guard) => *guard = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
    }
}

/// The explanation shown in the log and on the page: what went wrong and exactly what to do.
pub fn explanation(options: &SdkOptions, cache_dir: &Path, cause: &str) -> String {
    let dir = cache_dir.display();
    let version = SDK_VERSION;
    if let Some(path) = &options.override_path {
        // The person chose this file on purpose: say that the choice is what failed.
        return format!(
            "twilio-video.js could not be loaded from VIDEOROOM_SDK_PATH={}: {cause}. \
             Point VIDEOROOM_SDK_PATH at a copy of twilio-video.min.js {version} (or its .tgz), \
             or unset it to use the cache in {dir}, and restart. Everything else keeps working.",
            path.display()
        );
    }
    format!(
        "twilio-video.js {version} is not available for the emulator: {cause}. \
         To fix it, with access to the npm registry run `videoroom sdk fetch` (or \
         `npm pack twilio-video@{version}` in {dir}) and reload the page, or set \
         VIDEOROOM_SDK_PATH to a copy of twilio-video.min.js {version} (or its .tgz) and \
         restart. Everything else keeps working."
    )
}

/// The explanation after `npm pack` itself failed or timed out: the registry cannot be reached
/// from here, so the ways that need no registry come first, not the command that just failed.
pub fn offline_explanation(cache_dir: &Path, cause: &str) -> String {
    let dir = cache_dir.display();
    let version = SDK_VERSION;
    let tarball = tarball_name();
    format!(
        "twilio-video.js {version} could not be fetched: {cause}. Without the registry, either          copy {tarball} into {dir} (make it with `npm pack twilio-video@{version}` on a machine          that has network access, or copy it from that machine's cache folder) and reload the          page, or set sdk.path (VIDEOROOM_SDK_PATH) to a copy of twilio-video.min.js {version}          or of {tarball} and restart. Once the network works, `videoroom sdk fetch` tries again.          Everything else keeps working."
    )
}

/// Looks for the SDK without the network: the override path, then the cached file, then a
/// tarball left in the cache directory by a hand-run `npm pack` (extracted into the cache).
fn find_local(options: &SdkOptions, cache_dir: &Path) -> Result<Option<SdkState>, SdkError> {
    if let Some(path) = &options.override_path {
        let file = if path.extension().is_some_and(|ext| ext == "tgz") {
            let tarball = fs::read(path).map_err(io_error(path))?;
            extract(&tarball, &path.display().to_string())?
        } else {
            // A file named by hand may be another 2.x build on purpose; it is served as it is.
            fs::read(path).map_err(io_error(path))?
        };
        return Ok(Some(SdkState::Ready {
            file: Bytes::from(file),
            source: format!("VIDEOROOM_SDK_PATH={}", path.display()),
        }));
    }

    let cached = cache_dir.join(CACHED_FILE_NAME);
    if let Some(file) = read_checked(&cached, check_sha256)? {
        return Ok(Some(SdkState::Ready {
            file: Bytes::from(file),
            source: cached.display().to_string(),
        }));
    }
    let tarball = cache_dir.join(tarball_name());
    if let Some(file) = read_checked(&tarball, extract)? {
        write_atomically(&cached, &file)?;
        return Ok(Some(SdkState::Ready {
            file: Bytes::from(file),
            source: cached.display().to_string(),
        }));
    }
    find_in_kit(options.kit_dir.as_deref())
}

/// The tarball beside the binary (the workshop kit), checked and extracted in memory. It is
/// not removed when it fails the check, unlike a copy in the cache: it is the organiser's file.
fn find_in_kit(kit_dir: Option<&Path>) -> Result<Option<SdkState>, SdkError> {
    let Some(tarball) = kit_dir.map(|dir| dir.join(tarball_name())) else {
        return Ok(None);
    };
    let contents = match fs::read(&tarball) {
        Ok(contents) => contents,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(&tarball)(error)),
    };
    let file = extract(&contents, &tarball.display().to_string())?;
    Ok(Some(SdkState::Ready {
        file: Bytes::from(file),
        source: format!("{} (beside the binary)", tarball.display()),
    }))
}

/// Reads a file of the cache and checks it. A file that fails the check is removed (it is
/// only ever a copy of what npm publishes), so that the next fetch replaces it.
fn read_checked(
    path: &Path,
    check: impl Fn(&[u8], &str) -> Result<Vec<u8>, SdkError>,
) -> Result<Option<Vec<u8>>, SdkError> {
    let contents = match fs::read(path) {
        Ok(contents) => contents,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path)(error)),
    };
    match check(&contents, &path.display().to_string()) {
        Ok(file) => Ok(Some(file)),
        Err(error @ SdkError::Integrity { .. }) => {
            tracing::warn!("{error}; removing it from the cache");
            fs::remove_file(path).map_err(io_error(path))?;
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Runs `npm pack twilio-video@<version>` in a scratch folder and copies the tarball into the
/// cache directory, where [`find_local`] checks and extracts it. The scratch folder is in the
/// system's temporary directory, so a process stopped mid-fetch leaves nothing in the cache.
fn fetch_with_npm(npm: &Path, cache_dir: &Path, waiting: Waiting<'_>) -> Result<(), SdkError> {
    fs::create_dir_all(cache_dir).map_err(io_error(cache_dir))?;
    let scratch = tempfile::Builder::new()
        .prefix("videoroom-npm-pack-")
        .tempdir()
        .map_err(|source| io_error(&std::env::temp_dir())(source))?;
    let result = run_npm_pack(npm, scratch.path(), waiting).and_then(|()| {
        let from = scratch.path().join(tarball_name());
        let partial = cache_dir.join(format!("{}.partial-{}", tarball_name(), std::process::id()));
        fs::copy(&from, &partial).map_err(io_error(&from))?;
        let to = cache_dir.join(tarball_name());
        fs::rename(&partial, &to).map_err(io_error(&to))
    });
    // The scratch folder only ever holds what npm wrote; failing to remove it is harmless.
    let _ = scratch.close();
    result
}

/// Checks the tarball a fetch just put into the cache, so that a tarball that is not the
/// published one is reported as such (and removed), rather than as a missing file later.
/// `arrived` gets its size.
fn check_fetched(cache_dir: &Path, arrived: &mut Option<u64>) -> Result<(), SdkError> {
    let tarball = cache_dir.join(tarball_name());
    let contents = match fs::read(&tarball) {
        Ok(contents) => contents,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error(&tarball)(error)),
    };
    *arrived = Some(contents.len() as u64);
    match extract(&contents, &tarball.display().to_string()) {
        Ok(_) => Ok(()),
        Err(error) => {
            // Only ever a copy of what the source delivered; the next fetch replaces it.
            let _ = fs::remove_file(&tarball);
            Err(error)
        }
    }
}

/// Copies a tarball into the cache directory, where [`find_local`] checks and extracts it, as it
/// does with one npm fetched.
fn copy_tarball(tarball: &Path, cache_dir: &Path) -> Result<(), SdkError> {
    fs::create_dir_all(cache_dir).map_err(io_error(cache_dir))?;
    let partial = cache_dir.join(format!("{}.partial-{}", tarball_name(), std::process::id()));
    fs::copy(tarball, &partial).map_err(io_error(tarball))?;
    let to = cache_dir.join(tarball_name());
    fs::rename(&partial, &to).map_err(io_error(&to))
}

/// How long `npm pack` may run, and whom to tell, how often, that it still runs.
struct Waiting<'a> {
    timeout: Duration,
    every: Duration,
    progress: &'a mut dyn FnMut(Duration, Duration),
}

fn run_npm_pack(npm: &Path, dir: &Path, waiting: Waiting<'_>) -> Result<(), SdkError> {
    let spec = format!("twilio-video@{SDK_VERSION}");
    // `--loglevel=error` rather than `--silent`: silent also hides npm's error, which is the
    // one thing a person needs when the fetch fails.
    let mut child = Command::new(npm)
        .args(["pack", &spec, "--loglevel=error", "--no-fund", "--no-audit"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => SdkError::NpmMissing,
            _ => io_error(Path::new("npm"))(error),
        })?;

    // Read stderr on its own thread so a chatty npm cannot block on a full pipe. The text
    // comes back through a channel, so that a program npm started and that still holds the
    // pipe cannot make the wait for it hang after npm is stopped.
    let stderr = child.stderr.take();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        let _ = sender.send(text);
    });
    let npm_said = || {
        receiver
            .recv_timeout(Duration::from_secs(2))
            .map(|text| npm_message(&text))
            .unwrap_or_default()
    };

    let Waiting {
        timeout,
        every,
        progress,
    } = waiting;
    let started = Instant::now();
    let mut next_report = every;
    let status = loop {
        match child.try_wait().map_err(io_error(Path::new("npm")))? {
            Some(status) => break status,
            None if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SdkError::NpmTimeout {
                    secs: timeout.as_secs(),
                    detail: npm_said(),
                });
            }
            None => {
                if started.elapsed() >= next_report {
                    progress(started.elapsed(), timeout);
                    next_report += every;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    if status.success() {
        Ok(())
    } else {
        let detail = npm_said();
        Err(SdkError::NpmFailed {
            status: status.to_string(),
            detail: if detail.is_empty() {
                "nothing on its standard error".to_owned()
            } else {
                detail
            },
        })
    }
}

/// npm's error lines, the most telling ones kept: its code and message lines, without the
/// pointer to its debug log, joined on one line and cut at a length a page can show.
fn npm_message(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.contains("A complete log of this run"))
        .collect();
    let kept = &lines[lines.len().saturating_sub(6)..];
    let joined = kept.join(" | ");
    if joined.chars().count() > 600 {
        let cut: String = joined.chars().take(600).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

/// Checks the tarball against [`TARBALL_INTEGRITY`] and returns the SDK file inside it.
pub fn extract(tarball: &[u8], what: &str) -> Result<Vec<u8>, SdkError> {
    let actual = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(tarball))
    );
    if actual != TARBALL_INTEGRITY {
        return Err(SdkError::Integrity {
            what: what.to_owned(),
            expected: TARBALL_INTEGRITY.to_owned(),
            actual,
        });
    }
    let path = Path::new(what);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    for entry in archive.entries().map_err(io_error(path))? {
        let mut entry = entry.map_err(io_error(path))?;
        if entry.path().map_err(io_error(path))? == Path::new(FILE_IN_TARBALL) {
            let mut file = Vec::new();
            entry.read_to_end(&mut file).map_err(io_error(path))?;
            return check_sha256(&file, what);
        }
    }
    Err(SdkError::NotInTarball)
}

fn check_sha256(file: &[u8], what: &str) -> Result<Vec<u8>, SdkError> {
    let actual = hex(&Sha256::digest(file));
    if actual == FILE_SHA256 {
        Ok(file.to_vec())
    } else {
        Err(SdkError::Integrity {
            what: what.to_owned(),
            expected: FILE_SHA256.to_owned(),
            actual,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), SdkError> {
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    fs::write(&partial, contents).map_err(io_error(&partial))?;
    fs::rename(&partial, path).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offline(cache_dir: &Path) -> SdkOptions {
        SdkOptions {
            cache_dir: Some(cache_dir.to_owned()),
            override_path: None,
            source: SdkSource::Disabled,
            kit_dir: None,
        }
    }

    /// A gzipped tarball with `contents` where npm's tarball has the SDK: the right shape, but
    /// not the published bytes.
    fn look_alike_tarball(contents: &[u8]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, FILE_IN_TARBALL, contents)
            .expect("append to an in-memory tarball");
        builder
            .into_inner()
            .and_then(|gz| gz.finish())
            .expect("finish an in-memory tarball")
    }

    #[test]
    fn a_missing_npm_client_leads_to_an_explanation_rather_than_a_hang() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let mut options = offline(&dir.path().join("cache"));
        options.source = SdkSource::Npm {
            program: Some(dir.path().join("no-such-npm")),
            timeout: DEFAULT_NPM_TIMEOUT,
        };
        let local = LocalSdk::new(options);
        assert!(matches!(local.state(), SdkState::Fetching));
        local.fetch_now();
        match local.state() {
            SdkState::Unavailable { reason } => {
                assert!(reason.contains("npm client was not found"), "{reason}");
                assert!(reason.contains("npm pack twilio-video@2.36.0"), "{reason}");
            }
            other => panic!("expected an explanation, got {other:?}"),
        }
    }

    /// A fake npm client: a shell script with `body`.
    #[cfg(unix)]
    fn fake_npm(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let npm = dir.join("npm");
        fs::write(&npm, format!("#!/bin/sh\n{body}\n")).expect("write a fake npm");
        fs::set_permissions(&npm, fs::Permissions::from_mode(0o755))
            .expect("make the fake npm executable");
        npm
    }

    #[cfg(unix)]
    #[test]
    fn a_failing_npm_is_quoted_and_the_offline_ways_are_offered_instead_of_retrying() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let npm = fake_npm(
            dir.path(),
            "echo 'npm error code ENOTFOUND' >&2\n\
             echo 'npm error network request to https://registry.invalid/twilio-video failed' >&2\n\
             echo 'npm error A complete log of this run can be found in: /x.log' >&2\n\
             exit 1",
        );
        let mut options = offline(&dir.path().join("cache"));
        options.source = SdkSource::Npm {
            program: Some(npm),
            timeout: DEFAULT_NPM_TIMEOUT,
        };
        let local = LocalSdk::new(options);
        local.fetch_now();
        let SdkState::Unavailable { reason } = local.state() else {
            panic!("expected an explanation");
        };
        assert!(
            reason.contains("npm said: npm error code ENOTFOUND | npm error network request"),
            "{reason}"
        );
        assert!(
            !reason.contains("no message") && !reason.contains("complete log"),
            "{reason}"
        );
        assert!(
            reason.contains(&format!("copy {} into", tarball_name())),
            "{reason}"
        );
        assert!(reason.contains("sdk.path (VIDEOROOM_SDK_PATH)"), "{reason}");
        assert!(!reason.contains("run `videoroom sdk fetch`"), "{reason}");
    }

    #[cfg(unix)]
    #[test]
    fn a_hanging_npm_is_stopped_at_the_timeout_with_progress_on_the_way() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let npm = fake_npm(
            dir.path(),
            "echo 'npm http fetch GET attempt 1' >&2\nexec sleep 60",
        );
        let mut options = offline(&dir.path().join("cache"));
        options.source = SdkSource::Npm {
            program: Some(npm),
            timeout: Duration::from_secs(1),
        };
        let local = LocalSdk::new(options);
        let started = Instant::now();
        let mut reports = Vec::new();
        local.fetch_with_progress(Duration::from_millis(300), |waited, limit| {
            reports.push((waited, limit))
        });
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(reports.len() >= 2, "{reports:?}");
        assert!(reports
            .iter()
            .all(|(_, limit)| *limit == Duration::from_secs(1)));
        let SdkState::Unavailable { reason } = local.state() else {
            panic!("expected an explanation");
        };
        assert!(reason.contains("did not finish within 1 s"), "{reason}");
        assert!(
            reason.contains("npm registry is probably unreachable"),
            "{reason}"
        );
        assert!(
            reason.contains("npm said: npm http fetch GET attempt 1"),
            "{reason}"
        );
        assert!(reason.contains("sdk.path (VIDEOROOM_SDK_PATH)"), "{reason}");
    }

    #[test]
    fn an_unreadable_sdk_path_is_reported_as_the_chosen_file_not_as_a_cache_problem() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let mut options = offline(&dir.path().join("cache"));
        options.override_path = Some(dir.path().join("missing.min.js"));
        match LocalSdk::new(options).state() {
            SdkState::Unavailable { reason } => {
                assert!(reason.contains("VIDEOROOM_SDK_PATH="), "{reason}");
                assert!(reason.contains("missing.min.js"), "{reason}");
                assert!(reason.contains("or unset it"), "{reason}");
            }
            other => panic!("expected an explanation, got {other:?}"),
        }
    }

    #[test]
    fn a_tarball_that_is_not_the_published_one_is_refused() {
        let tarball = look_alike_tarball(b"alert('a look-alike')");
        match extract(&tarball, "look-alike.tgz") {
            Err(SdkError::Integrity { expected, .. }) => {
                assert_eq!(expected, TARBALL_INTEGRITY)
            }
            other => panic!("expected an integrity error, got {other:?}"),
        }
    }

    #[test]
    fn with_the_source_disabled_a_missing_sdk_is_explained_and_never_fetched() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let local = LocalSdk::new(offline(&dir.path().join("cache")));
        local.start();
        match local.state() {
            SdkState::Unavailable { reason } => {
                assert!(reason.contains("not in the cache"), "{reason}");
            }
            other => panic!("expected an explanation, got {other:?}"),
        }
        assert!(
            !local.cache_dir().exists(),
            "nothing was fetched into the cache"
        );
    }

    #[test]
    fn a_tarball_source_goes_through_the_same_integrity_check_as_npm() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let source = dir.path().join("carried.tgz");
        fs::write(&source, look_alike_tarball(b"alert('a look-alike')")).expect("write tarball");
        let mut options = offline(&dir.path().join("cache"));
        options.source = SdkSource::Tarball(source.clone());
        let local = LocalSdk::new(options);
        assert!(matches!(local.state(), SdkState::Fetching));
        local.fetch_now();
        let SdkState::Unavailable { reason } = local.state() else {
            panic!("expected a refusal");
        };
        assert!(
            reason.contains("does not match the pinned hash"),
            "{reason}"
        );
        assert!(
            !local.cache_dir().join(tarball_name()).exists(),
            "the look-alike copy is removed from the cache"
        );
        assert!(source.exists(), "the carried tarball itself is left alone");
    }

    #[test]
    fn a_tarball_beside_the_binary_is_checked_and_never_copied_or_removed() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let kit = dir.path().join("kit");
        fs::create_dir_all(&kit).expect("a kit folder");
        let tarball = kit.join(tarball_name());
        fs::write(&tarball, look_alike_tarball(b"alert('a look-alike')")).expect("write");
        let mut options = offline(&dir.path().join("cache"));
        options.kit_dir = Some(kit.clone());
        match LocalSdk::new(options).state() {
            SdkState::Unavailable { reason } => {
                assert!(reason.contains(&tarball.display().to_string()), "{reason}");
                assert!(
                    reason.contains("does not match the pinned hash"),
                    "{reason}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(tarball.exists(), "the organiser's file is left alone");
        assert!(
            !dir.path().join("cache").exists(),
            "nothing is written to the cache"
        );

        // Without a kit folder the tarball there is not looked at.
        let none = LocalSdk::new(offline(&dir.path().join("cache")));
        let SdkState::Unavailable { reason } = none.state() else {
            panic!("expected an explanation");
        };
        assert!(reason.contains("not in the cache"), "{reason}");
    }

    #[test]
    fn the_cache_folder_is_the_configured_one_then_the_projects_then_the_platforms() {
        let version = Path::new("twilio-video").join(SDK_VERSION);
        let configured = Path::new("/srv/sdk");
        let project = Path::new("/home/me/videoroom");
        let platform = PathBuf::from("/home/me/.cache");
        assert_eq!(
            resolve_cache_dir(Some(configured), Some(project), Some(platform.clone())),
            configured.join(SDK_VERSION)
        );
        assert_eq!(
            resolve_cache_dir(None, Some(project), Some(platform.clone())),
            project.join(".cache").join(&version)
        );
        assert_eq!(
            resolve_cache_dir(None, None, Some(platform.clone())),
            platform.join("videoroom").join(&version)
        );
        assert_eq!(
            resolve_cache_dir(None, None, None),
            Path::new(".cache").join(&version)
        );
    }

    #[test]
    fn only_a_binary_inside_the_project_uses_the_projects_cache() {
        let project = Path::new("/home/me/videoroom");
        assert_eq!(
            project_of_binary(Some(project), Some(&project.join("target/debug"))),
            Some(project)
        );
        // `cargo install --path crates/server`: the sources are there, the binary is not.
        assert_eq!(
            project_of_binary(Some(project), Some(Path::new("/home/me/.cargo/bin"))),
            None
        );
        assert_eq!(
            project_of_binary(Some(project), Some(Path::new("/home/me/videoroom-kit"))),
            None,
            "a sibling folder whose name starts like the project's is not inside it"
        );
        assert_eq!(project_of_binary(None, Some(project)), None);
        assert_eq!(project_of_binary(Some(project), None), None);
    }

    #[test]
    fn npm_is_found_in_the_folders_of_path_and_its_absence_is_named() {
        let empty = tempfile::tempdir().expect("a scratch folder");
        let bin = tempfile::tempdir().expect("a scratch folder");
        let npm = bin
            .path()
            .join(if cfg!(windows) { "npm.cmd" } else { "npm" });
        fs::write(&npm, "#!/bin/sh\n").expect("write a fake npm");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&npm, fs::Permissions::from_mode(0o755))
                .expect("make the fake npm executable");
        }
        let path = std::env::join_paths([empty.path(), bin.path()]).expect("a PATH-style list");
        let found = find_npm_in(&path, empty.path()).expect("npm is on the given path");
        assert_eq!(
            found.canonicalize().expect("found file exists"),
            npm.canonicalize().expect("fake npm exists")
        );

        let nowhere = std::env::join_paths([empty.path()]).expect("a PATH-style list");
        assert!(matches!(
            find_npm_in(&nowhere, empty.path()),
            Err(SdkError::NpmMissing)
        ));
    }

    /// On Unix a file that is not executable is not a program, as a shell would see it.
    #[cfg(unix)]
    #[test]
    fn a_non_executable_npm_file_is_not_taken_for_the_client() {
        let bin = tempfile::tempdir().expect("a scratch folder");
        fs::write(bin.path().join("npm"), "not a program").expect("write a file");
        let path = std::env::join_paths([bin.path()]).expect("a PATH-style list");
        assert!(matches!(
            find_npm_in(&path, bin.path()),
            Err(SdkError::NpmMissing)
        ));
    }

    /// On Windows npm is `npm.cmd`, found through `PATHEXT` when asked for `npm`.
    #[cfg(windows)]
    #[test]
    fn on_windows_npm_cmd_answers_for_npm() {
        let bin = tempfile::tempdir().expect("a scratch folder");
        fs::write(bin.path().join("npm.cmd"), "@echo off\r\n").expect("write a fake npm.cmd");
        let path = std::env::join_paths([bin.path()]).expect("a PATH-style list");
        let found = find_npm_in(&path, bin.path()).expect("npm.cmd answers for npm");
        assert!(
            found
                .file_name()
                .is_some_and(|name| name.eq_ignore_ascii_case("npm.cmd")),
            "{}",
            found.display()
        );
    }
}
