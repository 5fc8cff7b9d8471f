//! The pinned twilio-video.js SDK: which version, where it comes from, and how it is checked.
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
//! on (see `sdk-missing.js`). Without npm or network, the explanation says exactly which command
//! to run or which variable to set.

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

/// How long `npm pack` may take before the server gives up and explains what to do.
const NPM_TIMEOUT: Duration = Duration::from_secs(120);

/// The URL of the same version on Twilio's CDN, which the page uses in twilio mode.
pub fn cdn_url() -> String {
    format!("https://sdk.twilio.com/js/video/releases/{SDK_VERSION}/twilio-video.min.js")
}

/// The npm tarball's file name, as `npm pack` writes it.
pub fn tarball_name() -> String {
    format!("twilio-video-{SDK_VERSION}.tgz")
}

/// Why the SDK could not be obtained. Each message says what happened; [`explanation`] adds
/// what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    #[error("the npm client was not found on PATH")]
    NpmMissing,
    #[error("`npm pack` failed ({status}): {detail}")]
    NpmFailed { status: String, detail: String },
    #[error("`npm pack` did not finish within {} s (no network?)", NPM_TIMEOUT.as_secs())]
    NpmTimeout,
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

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SdkError + '_ {
    move |source| SdkError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where the SDK is looked for.
#[derive(Clone, Debug)]
pub struct SdkOptions {
    /// Directory holding the cached file (and where a hand-run `npm pack` may leave the tarball).
    pub cache_dir: PathBuf,
    /// A file the user points at with `VIDEOROOM_SDK_PATH`: a `twilio-video.min.js` or the npm
    /// tarball. It wins over the cache and is never fetched.
    pub override_path: Option<PathBuf>,
    /// Whether the server may run `npm pack` itself when the cache is empty.
    pub fetch: bool,
    /// The npm client to run (`npm` from PATH unless told otherwise).
    pub npm: PathBuf,
}

impl SdkOptions {
    /// The defaults: `VIDEOROOM_SDK_PATH` when set, and the cache under the project's `.cache`
    /// folder (or the user's cache folder when the binary runs outside the project).
    pub fn from_env() -> Self {
        let override_path = std::env::var_os("VIDEOROOM_SDK_PATH")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from);
        Self {
            cache_dir: default_cache_dir(),
            override_path,
            fetch: true,
            npm: PathBuf::from("npm"),
        }
    }
}

/// `<project>/.cache/twilio-video/<version>` when the project the binary was built from is still
/// there (the usual `cargo run`), `$VIDEOROOM_SDK_CACHE_DIR` when set, else the user's cache
/// folder.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIDEOROOM_SDK_CACHE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join(SDK_VERSION);
    }
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let base = if project.join("Cargo.toml").is_file() {
        project.canonicalize().unwrap_or(project).join(".cache")
    } else if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        PathBuf::from(xdg).join("videoroom")
    } else if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        PathBuf::from(home).join(".cache/videoroom")
    } else {
        PathBuf::from(".cache")
    };
    base.join("twilio-video").join(SDK_VERSION)
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
    state: RwLock<SdkState>,
    /// Set by the first [`LocalSdk::start`], so a shared instance reports and fetches once.
    started: AtomicBool,
}

impl LocalSdk {
    /// Looks in the override path and the cache (fast, no network). When neither has the file
    /// and fetching is allowed, the state is [`SdkState::Fetching`] and [`LocalSdk::start`] must
    /// be called to fetch it.
    pub fn new(options: SdkOptions) -> Arc<Self> {
        let state = match find_local(&options) {
            Ok(Some(state)) => state,
            Ok(None) if options.fetch => SdkState::Fetching,
            Ok(None) => SdkState::Unavailable {
                reason: explanation(&options, "it is not in the cache"),
            },
            Err(error) => SdkState::Unavailable {
                reason: explanation(&options, &error.to_string()),
            },
        };
        Arc::new(Self {
            options,
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
        let same = |sdk: &&Arc<LocalSdk>| {
            sdk.options.cache_dir == options.cache_dir
                && sdk.options.override_path == options.override_path
                && sdk.options.fetch == options.fetch
        };
        if let Some(found) = all.iter().find(same) {
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
                tracing::warn!(
                    "twilio-video.js {SDK_VERSION} is not cached yet; fetching it with `npm pack` \
                     into {} in the background (the page says so until it is ready)",
                    self.options.cache_dir.display()
                );
                let sdk = Arc::clone(self);
                let spawned = std::thread::Builder::new()
                    .name("sdk-fetch".into())
                    .spawn(move || sdk.fetch_now());
                if let Err(error) = spawned {
                    self.set(SdkState::Unavailable {
                        reason: explanation(&self.options, &error.to_string()),
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
            if let Ok(Some(found)) = find_local(&self.options) {
                self.set(found.clone());
                return found;
            }
        }
        current
    }

    /// Fetches with npm, blocking the calling thread, and records the outcome.
    pub fn fetch_now(&self) {
        let outcome = fetch_with_npm(&self.options.npm, &self.options.cache_dir)
            .and_then(|()| find_local(&self.options))
            .and_then(|found| found.ok_or(SdkError::NotInTarball));
        match outcome {
            Ok(state) => {
                tracing::info!(
                    "twilio-video.js {SDK_VERSION} fetched and verified; reload the page"
                );
                self.set(state);
            }
            Err(error) => {
                let reason = explanation(&self.options, &error.to_string());
                tracing::warn!("{reason}");
                self.set(SdkState::Unavailable { reason });
            }
        }
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
pub fn explanation(options: &SdkOptions, cause: &str) -> String {
    let dir = options.cache_dir.display();
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

/// Looks for the SDK without the network: the override path, then the cached file, then a
/// tarball left in the cache directory by a hand-run `npm pack` (extracted into the cache).
fn find_local(options: &SdkOptions) -> Result<Option<SdkState>, SdkError> {
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

    let cached = options.cache_dir.join(CACHED_FILE_NAME);
    if let Some(file) = read_checked(&cached, check_sha256)? {
        return Ok(Some(SdkState::Ready {
            file: Bytes::from(file),
            source: cached.display().to_string(),
        }));
    }
    let tarball = options.cache_dir.join(tarball_name());
    match read_checked(&tarball, extract)? {
        Some(file) => {
            write_atomically(&cached, &file)?;
            Ok(Some(SdkState::Ready {
                file: Bytes::from(file),
                source: cached.display().to_string(),
            }))
        }
        None => Ok(None),
    }
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
fn fetch_with_npm(npm: &Path, cache_dir: &Path) -> Result<(), SdkError> {
    fs::create_dir_all(cache_dir).map_err(io_error(cache_dir))?;
    let scratch = std::env::temp_dir().join(format!(
        "videoroom-npm-pack-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    fs::create_dir_all(&scratch).map_err(io_error(&scratch))?;
    let result = run_npm_pack(npm, &scratch).and_then(|()| {
        let from = scratch.join(tarball_name());
        let partial = cache_dir.join(format!("{}.partial-{}", tarball_name(), std::process::id()));
        fs::copy(&from, &partial).map_err(io_error(&from))?;
        let to = cache_dir.join(tarball_name());
        fs::rename(&partial, &to).map_err(io_error(&to))
    });
    // The scratch folder only ever holds what npm wrote; losing it is harmless.
    let _ = fs::remove_dir_all(&scratch);
    result
}

fn run_npm_pack(npm: &Path, dir: &Path) -> Result<(), SdkError> {
    let spec = format!("twilio-video@{SDK_VERSION}");
    let mut child = Command::new(npm)
        .args(["pack", &spec, "--silent", "--no-fund", "--no-audit"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => SdkError::NpmMissing,
            _ => io_error(Path::new("npm"))(error),
        })?;

    // Read stderr on its own thread so a chatty npm cannot block on a full pipe.
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });

    let deadline = Instant::now() + NPM_TIMEOUT;
    let status = loop {
        match child.try_wait().map_err(io_error(Path::new("npm")))? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SdkError::NpmTimeout);
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let stderr = reader.join().unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(SdkError::NpmFailed {
            status: status.to_string(),
            detail: last_line(&stderr),
        })
    }
}

/// npm's most telling line is usually its last non-empty one ("npm error code ENOTFOUND …").
fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .chars()
        .take(300)
        .collect()
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
