//! The attendees' workshop page and the twilio-video.js SDK it loads.
//!
//! The page comes from a folder on disk when there is one (`workshop_dir`, or `workshop/` in
//! the working directory), and otherwise from the copy built into the binary ([`embedded`]), so
//! a `videoroom` copied or installed anywhere still serves it. From a folder, the page's files
//! (`index.html`, `video.js`, `style.css`, anything else at the top of the workshop folder)
//! are read from disk on every request, with `Cache-Control: no-cache`, so an
//! attendee who edits `video.js` sees the change on reload. Only plain file names at the top of
//! the folder are served: the route accepts no `/`, no leading dot and no `..`, and the resolved
//! file must still lie inside the folder, so path traversal (symlinks included) is impossible.
//!
//! The page loads the SDK from one URL in both modes, `/sdk/twilio-video.js`:
//! - emulator mode answers the pinned SDK served from the local cache (see
//!   [`videoroom_emulator::sdk`], beside the signaling it is pinned to) followed by
//!   our `emulator-shim.js`, which adds `wsServer` (this server's `/signaling`) and
//!   `insights: false` to `Twilio.Video.connect`. Nothing leaves the machine. While the SDK is
//!   being fetched, or when it cannot be, the same URL answers a small script that explains the
//!   situation (and the fix) in the page's `#status`.
//! - twilio mode redirects to the same version on Twilio's CDN and adds nothing.
//!
//! `/sdk/twilio-video.min.js` (the SDK alone), `/sdk/emulator-shim.js` (the shim alone) and
//! `/sdk/status` (JSON) are there for people who build their own page, and for tests.

pub mod embedded;

use std::path::PathBuf;
use std::sync::Arc;

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{guard, HttpRequest, HttpResponse, Responder};
use serde_json::json;
use videoroom_emulator::sdk::{self, LocalSdk, SdkOptions, SdkSource, SdkState, SDK_VERSION};

use videoroom_emulator::guard::is_loopback_peer;

use crate::cli::{SdkCommand, WorkshopCommand};
use crate::messages::{self, Message};
use crate::settings::SdkSettings;

/// Our script that points the SDK at this server; see the file's comments.
const EMULATOR_SHIM: &str = include_str!("workshop/emulator-shim.js");
/// Our script served instead of the SDK while it is missing; `/*INFO*/` is replaced with JSON.
const SDK_MISSING: &str = include_str!("workshop/sdk-missing.js");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The page's folder and where its SDK comes from. Cheap to clone (shared inside), so every
/// actix worker serves the same state.
#[derive(Clone, Debug)]
pub struct Workshop {
    page: Arc<PageSource>,
    sdk: Sdk,
}

/// Where the page's files come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageSource {
    /// A folder on disk, read on every request (attendees edit it and reload).
    Folder(PathBuf),
    /// The copy built into the binary ([`embedded::FILES`]).
    Embedded,
}

impl From<PathBuf> for PageSource {
    fn from(dir: PathBuf) -> Self {
        PageSource::Folder(dir)
    }
}

#[derive(Clone, Debug)]
enum Sdk {
    /// Emulator mode: served from the local cache.
    Local(Arc<LocalSdk>),
    /// Twilio mode: Twilio's CDN.
    Cdn,
}

impl Workshop {
    /// The workshop for the page in `dir`. When this server also serves the emulator's
    /// `/signaling` (emulator mode), the SDK is served locally (see [`SdkSettings::options`]); otherwise
    /// the page gets it from Twilio's CDN. Call [`Workshop::start`] once, after logging is set
    /// up.
    pub fn new(page: impl Into<PageSource>, serves_emulator: bool, sdk: &SdkSettings) -> Self {
        if serves_emulator {
            Self {
                page: Arc::new(page.into()),
                sdk: Sdk::Local(LocalSdk::shared(sdk.options(sdk.startup_source()))),
            }
        } else {
            Self::twilio(page)
        }
    }

    /// Emulator mode: the SDK is served locally with these options.
    pub fn emulator(page: impl Into<PageSource>, sdk_options: SdkOptions) -> Self {
        Self {
            page: Arc::new(page.into()),
            sdk: Sdk::Local(LocalSdk::new(sdk_options)),
        }
    }

    /// Twilio mode: the page loads the SDK from Twilio's CDN.
    pub fn twilio(page: impl Into<PageSource>) -> Self {
        Self {
            page: Arc::new(page.into()),
            sdk: Sdk::Cdn,
        }
    }

    /// Says in the log where the page and the SDK come from and, in emulator mode, starts
    /// fetching a missing SDK in the background (start-up does not wait for it).
    pub fn start(&self) {
        match self.page.as_ref() {
            PageSource::Folder(dir) if !dir.join("index.html").is_file() => {
                tracing::warn!(
                    "the workshop folder {} has no index.html; set VIDEOROOM_WORKSHOP_DIR or \
                     --workshop-dir to the folder of the page, or unset it to serve the page \
                     built into videoroom",
                    dir.display()
                );
            }
            PageSource::Folder(dir) => {
                tracing::info!(folder = %dir.display(), "the workshop page is served from a folder (edit and reload)");
            }
            PageSource::Embedded => {
                tracing::info!(
                    "the workshop page is the copy built into videoroom; `videoroom workshop \
                     init workshop` writes an editable copy, which is served from then on"
                );
            }
        }
        match &self.sdk {
            Sdk::Local(local) => local.start(),
            Sdk::Cdn => {
                tracing::info!(url = %sdk::cdn_url(), "the page loads twilio-video.js from Twilio's CDN");
            }
        }
    }

    /// Mounts the page and the SDK routes. Its file route only takes names with an extension
    /// at the top level, so it never shadows the API routes, wherever it is mounted.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.clone()))
            .service(read_only("/sdk/twilio-video.js", sdk_bundle))
            .service(read_only("/sdk/twilio-video.min.js", sdk_file))
            .service(read_only("/sdk/emulator-shim.js", shim))
            .service(read_only("/sdk/status", sdk_status))
            .service(read_only("/", index))
            .service(read_only(
                r"/{file:[A-Za-z0-9_][A-Za-z0-9_.\-]*\.[A-Za-z0-9]+}",
                file,
            ));
    }

    /// Serves one file of the page: from the folder, fresh from disk, or the built-in copy.
    async fn file(&self, req: &HttpRequest, name: &str) -> HttpResponse {
        let dir = match self.page.as_ref() {
            PageSource::Folder(dir) => dir,
            PageSource::Embedded => return embedded_file(name),
        };
        let Some(path) = resolve(dir, name).await else {
            // The folder's path helps the person at this computer; it tells others nothing
            // they need about this machine.
            let message = if is_loopback_peer(req) {
                format!(
                    "there is no file '{name}' in the workshop folder {}",
                    dir.display()
                )
            } else {
                format!("there is no file '{name}' in the workshop folder")
            };
            return error(StatusCode::NOT_FOUND, "not_found", message);
        };
        match NamedFile::open_async(&path).await {
            Ok(file) => {
                let mut response = file
                    .use_etag(true)
                    .use_last_modified(true)
                    .prefer_utf8(true)
                    .disable_content_disposition()
                    .into_response(req);
                // Revalidate on every load, so an edited file shows up on reload (an unchanged
                // one still gets a cheap 304).
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                // The page's scripts carry Japanese text: say they are UTF-8 rather than
                // leave it to the browser's guess.
                let is_script = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok())
                    .is_some_and(|value| value.ends_with("javascript"));
                if is_script {
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JAVASCRIPT));
                }
                response
            }
            Err(cause) => {
                tracing::warn!(path = %path.display(), %cause, "could not open a workshop file");
                error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("the workshop file '{name}' could not be read"),
                )
            }
        }
    }

    /// `/sdk/twilio-video.js`: what the page loads, in either mode.
    fn sdk_bundle(&self, viewer: Viewer) -> HttpResponse {
        match &self.sdk {
            Sdk::Cdn => to_cdn(),
            Sdk::Local(local) => match local.state() {
                SdkState::Ready { file, .. } => {
                    let mut bundle = Vec::with_capacity(file.len() + EMULATOR_SHIM.len() + 64);
                    bundle.extend_from_slice(&file);
                    bundle.extend_from_slice(b"\n;\n/* videoroom: emulator-shim.js */\n");
                    bundle.extend_from_slice(EMULATOR_SHIM.as_bytes());
                    script(Bytes::from(bundle))
                }
                state => script(Bytes::from(missing_script(local, &state, viewer))),
            },
        }
    }

    /// `/sdk/twilio-video.min.js`: the SDK alone.
    fn sdk_file(&self, viewer: Viewer) -> HttpResponse {
        match &self.sdk {
            Sdk::Cdn => to_cdn(),
            Sdk::Local(local) => match local.state() {
                SdkState::Ready { file, .. } => script(file),
                state => {
                    let (_, en) = messages(local, &state, viewer);
                    error(StatusCode::SERVICE_UNAVAILABLE, "sdk_unavailable", en)
                }
            },
        }
    }

    /// `/sdk/emulator-shim.js`: the shim alone (empty of effect in twilio mode).
    fn shim(&self) -> HttpResponse {
        match &self.sdk {
            Sdk::Local(_) => script(Bytes::from_static(EMULATOR_SHIM.as_bytes())),
            Sdk::Cdn => script(Bytes::from_static(
                b"// videoroom (twilio mode): the SDK talks to Twilio itself; nothing to adjust.\n",
            )),
        }
    }

    /// `/sdk/status`: where the SDK comes from and whether it is ready. File-system paths
    /// are shown to this computer's own clients only (see [`Viewer`]).
    fn sdk_status(&self, viewer: Viewer) -> HttpResponse {
        let body = match &self.sdk {
            Sdk::Cdn => json!({
                "mode": "twilio",
                "version": SDK_VERSION,
                "state": "cdn",
                "url": sdk::cdn_url(),
            }),
            Sdk::Local(local) => match local.state() {
                SdkState::Ready { source, .. } => json!({
                    "mode": "emulator",
                    "version": SDK_VERSION,
                    "state": "ready",
                    "source": viewer.source(&source),
                }),
                state => {
                    let (ja, en) = messages(local, &state, viewer);
                    json!({
                        "mode": "emulator",
                        "version": SDK_VERSION,
                        "state": state_name(&state),
                        "message": en,
                        "message_ja": ja,
                    })
                }
            },
        };
        HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .json(body)
    }
}

/// The file's real path if it is a regular file inside the workshop folder `dir`. The route
/// already refuses separators and leading dots; resolving symlinks and checking the prefix
/// makes sure nothing outside the folder is reachable even through a link.
async fn resolve(dir: &std::path::Path, name: &str) -> Option<PathBuf> {
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return None;
    }
    let dir = tokio::fs::canonicalize(dir).await.ok()?;
    let path = tokio::fs::canonicalize(dir.join(name)).await.ok()?;
    let is_file = tokio::fs::metadata(&path).await.ok()?.is_file();
    (is_file && path.starts_with(&dir) && path.parent() == Some(dir.as_path())).then_some(path)
}

/// A file of the built-in page, revalidated on every load like the folder's files (so a page
/// served from a folder later is not hidden behind a cached copy).
fn embedded_file(name: &str) -> HttpResponse {
    match embedded::file(name) {
        Some(file) => HttpResponse::Ok()
            .content_type(embedded::content_type(name))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(Bytes::from_static(file.contents)),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "there is no file '{name}' in the workshop page built into videoroom \
                 (`videoroom workshop init DIR` writes it out to add files)"
            ),
        ),
    }
}

/// Runs a `WorkshopCommand`, saying what it wrote or why it wrote nothing.
pub fn run_workshop_command(command: WorkshopCommand) -> std::process::ExitCode {
    match command {
        WorkshopCommand::Init { dir } => match embedded::write_copy(&dir) {
            Ok(written) => {
                let files: Vec<String> = written
                    .iter()
                    .map(|path| format!("  {}", path.display()))
                    .collect();
                println!(
                    "{}",
                    messages::with_detail(
                        Message::WorkshopInitDone { dir: &dir },
                        &files.join("\n")
                    )
                );
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!(
                    "{}",
                    messages::with_detail(Message::WorkshopInitFailed, &error.to_string())
                );
                std::process::ExitCode::from(1)
            }
        },
    }
}

/// Runs an `SdkCommand`; prints what happened and returns whether the SDK is ready.
pub fn run_sdk_command(command: SdkCommand, sdk: &SdkSettings) -> bool {
    let source = match command {
        SdkCommand::Fetch => sdk.npm_source(),
        SdkCommand::Status => SdkSource::Disabled,
    };
    let local = LocalSdk::new(sdk.options(source));
    if let SdkState::Fetching = local.state() {
        println!(
            "{}",
            messages::bilingual(Message::SdkFetching {
                version: SDK_VERSION,
                cache: local.cache_dir(),
            })
        );
        // A person waits at the terminal: say every few seconds that npm is still running.
        let arrived = local.fetch_with_progress(sdk::PROGRESS_EVERY, |waited, limit| {
            eprintln!(
                "{}",
                messages::bilingual(Message::SdkStillWaiting {
                    waited: waited.as_secs(),
                    limit: limit.as_secs(),
                })
            );
        });
        if let Some(bytes) = arrived {
            println!("{}", messages::bilingual(Message::SdkDownloaded { bytes }));
        }
    }
    match local.state() {
        SdkState::Ready { source, .. } => {
            println!(
                "{}",
                messages::bilingual(Message::SdkReady {
                    version: SDK_VERSION,
                    source: &source,
                    // Only a `twilio-video.min.js` named by `sdk.path` skips the pinned hash.
                    checked: local
                        .options()
                        .override_path
                        .as_ref()
                        .is_none_or(|path| path.extension().is_some_and(|ext| ext == "tgz")),
                })
            );
            true
        }
        SdkState::Unavailable { reason } => {
            eprintln!(
                "{}",
                messages::with_detail(
                    Message::SdkUnavailable {
                        version: SDK_VERSION
                    },
                    &reason
                )
            );
            false
        }
        SdkState::Fetching => false,
    }
}

type Data = web::Data<Workshop>;

async fn sdk_bundle(workshop: Data, req: HttpRequest) -> HttpResponse {
    workshop.sdk_bundle(Viewer::of(&req))
}

async fn sdk_file(workshop: Data, req: HttpRequest) -> HttpResponse {
    workshop.sdk_file(Viewer::of(&req))
}

async fn shim(workshop: Data) -> HttpResponse {
    workshop.shim()
}

async fn sdk_status(workshop: Data, req: HttpRequest) -> HttpResponse {
    workshop.sdk_status(Viewer::of(&req))
}

/// Who reads an SDK answer: the person at this computer (a loopback client) sees file-system
/// paths, which tell them what to fix; anyone else sees the same answer without them (the
/// server's log has the details), since paths describe the machine and its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    Local,
    Remote,
}

impl Viewer {
    fn of(req: &HttpRequest) -> Self {
        if is_loopback_peer(req) {
            Viewer::Local
        } else {
            Viewer::Remote
        }
    }

    /// Where a ready SDK came from, as this viewer may see it.
    fn source(self, source: &str) -> String {
        match self {
            Viewer::Local => source.to_owned(),
            Viewer::Remote if source.starts_with("VIDEOROOM_SDK_PATH") => {
                "VIDEOROOM_SDK_PATH".to_owned()
            }
            Viewer::Remote => "the local cache".to_owned(),
        }
    }
}

async fn index(workshop: Data, req: HttpRequest) -> HttpResponse {
    workshop.file(&req, "index.html").await
}

async fn file(workshop: Data, req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    workshop.file(&req, &name).await
}

/// Accepts GET and HEAD; any other method gets a 405 in our error format.
fn read_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(handler),
        )
        .default_service(web::to(|| async {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the workshop page is read-only: use GET".to_owned(),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            response
        }))
}

fn state_name(state: &SdkState) -> &'static str {
    match state {
        SdkState::Fetching => "fetching",
        SdkState::Ready { .. } => "ready",
        SdkState::Unavailable { .. } => "unavailable",
    }
}

/// What the page says while the SDK is not there, in Japanese and English.
fn messages(local: &LocalSdk, state: &SdkState, viewer: Viewer) -> (String, String) {
    let dir = local.cache_dir().display();
    match state {
        SdkState::Unavailable { .. } if viewer == Viewer::Remote => (
            format!(
                "twilio-video.js {SDK_VERSION} がこのサーバーにまだありません。サーバーを動かしている人に伝えてください (詳しい理由はサーバーの画面に出ています)。"
            ),
            format!(
                "twilio-video.js {SDK_VERSION} is not available on this server yet; tell the person running it (the server's own output says why and how to fix it)."
            ),
        ),
        SdkState::Fetching => (
            format!(
                "twilio-video.js {SDK_VERSION} を npm で取得中です。準備ができるとこのページは自動で再読み込みされます。"
            ),
            format!(
                "Fetching twilio-video.js {SDK_VERSION} with npm; this page reloads by itself when it is ready."
            ),
        ),
        SdkState::Unavailable { reason } => (
            format!(
                "twilio-video.js {SDK_VERSION} がありません。`videoroom sdk fetch` (または {dir} で `npm pack twilio-video@{SDK_VERSION}`) を実行してから再読み込みするか、VIDEOROOM_SDK_PATH に twilio-video.min.js のパスを設定して再起動してください。"
            ),
            reason.clone(),
        ),
        SdkState::Ready { .. } => (String::new(), String::new()),
    }
}

fn missing_script(local: &LocalSdk, state: &SdkState, viewer: Viewer) -> String {
    let (ja, en) = messages(local, state, viewer);
    let info = json!({ "state": state_name(state), "ja": ja, "en": en });
    // JSON is a JavaScript expression; escaping `<` keeps it inert even if it ever lands
    // inside an inline <script>.
    let info = info.to_string().replace('<', "\\u003c");
    SDK_MISSING.replace("/*INFO*/", &info)
}

fn to_cdn() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, sdk::cdn_url()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .finish()
}

fn script(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(JAVASCRIPT)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// Our error format: `{"error": {"code", "message"}}`.
fn error(status: StatusCode, code: &str, message: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(json!({ "error": { "code": code, "message": message } }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as actix_test;
    use actix_web::App;
    use std::fs;
    use std::path::Path;

    /// A scratch folder (tempfile's), removed when dropped. `.0` is its path.
    struct Scratch(
        PathBuf,
        // Held only for its `Drop`, which removes the folder.
        #[allow(dead_code)] tempfile::TempDir,
    );

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = tempfile::Builder::new()
                .prefix(&format!("videoroom-workshop-{name}-"))
                .tempdir()
                .expect("create scratch dir");
            Self(dir.path().to_path_buf(), dir)
        }

        fn write(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, contents).expect("write scratch file");
            path
        }
    }

    /// The SDK options of a test: a scratch cache, and never a fetch.
    fn offline_sdk(cache_dir: &Path) -> SdkOptions {
        SdkOptions {
            cache_dir: Some(cache_dir.to_owned()),
            override_path: None,
            source: SdkSource::Disabled,
            kit_dir: None,
        }
    }

    /// A client on this computer.
    const LOOPBACK: &str = "127.0.0.1:50000";
    /// A client elsewhere on the network (TEST-NET-1, never routed).
    const REMOTE: &str = "192.0.2.7:50000";

    async fn get(
        workshop: &Workshop,
        uri: &str,
    ) -> (StatusCode, actix_web::http::header::HeaderMap, String) {
        get_from(workshop, uri, LOOPBACK).await
    }

    async fn get_from(
        workshop: &Workshop,
        uri: &str,
        peer: &str,
    ) -> (StatusCode, actix_web::http::header::HeaderMap, String) {
        let app =
            actix_test::init_service(App::new().configure(|cfg| workshop.configure(cfg))).await;
        let request = actix_test::TestRequest::get()
            .uri(uri)
            .peer_addr(peer.parse().expect("a socket address"))
            .to_request();
        let response = actix_test::call_service(&app, request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = actix_test::read_body(response).await;
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[actix_web::test]
    async fn an_edited_page_file_is_served_fresh_on_the_next_request() {
        let page = Scratch::new("page");
        page.write("index.html", "<p>first</p>");
        page.write("video.js", "console.log('v1');");
        let workshop = Workshop::twilio(page.0.clone());

        let (status, headers, body) = get(&workshop, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "<p>first</p>");
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-cache");

        page.write("video.js", "console.log('v2, edited by an attendee');");
        let (status, headers, body) = get(&workshop, "/video.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "console.log('v2, edited by an attendee');");
        assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), JAVASCRIPT);
    }

    #[actix_web::test]
    async fn without_a_folder_the_page_built_into_the_binary_is_served() {
        let workshop = Workshop::twilio(PageSource::Embedded);
        let (status, headers, body) = get(&workshop, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers.get(header::CONTENT_TYPE).unwrap(),
            "text/html; charset=utf-8"
        );
        let index = std::str::from_utf8(embedded::file("index.html").unwrap().contents).unwrap();
        assert_eq!(body, index);
        assert!(
            body.contains("/sdk/twilio-video.js"),
            "the page loads the SDK"
        );

        let (status, headers, body) = get(&workshop, "/video.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), JAVASCRIPT);
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-cache");
        assert!(!body.is_empty());
        let (status, headers, _) = get(&workshop, "/style.css").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers.get(header::CONTENT_TYPE).unwrap(),
            "text/css; charset=utf-8"
        );

        for uri in ["/secret.txt", "/../Cargo.toml", "/.env"] {
            let (status, _, _) = get(&workshop, uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        }
        let (_, _, body) = get(&workshop, "/secret.txt").await;
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "not_found");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("workshop init"));
    }

    #[actix_web::test]
    async fn files_outside_the_workshop_folder_are_never_served() {
        let outside = Scratch::new("outside");
        let secret = outside.write("secret.txt", "not for the page");
        let page = Scratch::new("traversal");
        page.write("index.html", "page");
        fs::create_dir(page.0.join("sub")).unwrap();
        page.write("sub/inner.js", "inner");
        page.write(".env", "API_SECRET=x");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&secret, page.0.join("link.txt")).unwrap();
        let workshop = Workshop::twilio(page.0.clone());

        for uri in [
            "/../secret.txt",
            "/..%2Fsecret.txt",
            "/%2e%2e%2fsecret.txt",
            "/sub/inner.js",
            "/sub%2Finner.js",
            "/.env",
            "/link.txt",
        ] {
            let (status, _, body) = get(&workshop, uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri} must not be served");
            assert!(
                !body.contains("not for the page") && !body.contains("API_SECRET"),
                "{uri} leaked: {body}"
            );
        }
    }

    #[actix_web::test]
    async fn a_missing_page_file_gets_a_json_404_naming_the_folder() {
        let page = Scratch::new("missing");
        let workshop = Workshop::twilio(page.0.clone());
        let (status, _, body) = get(&workshop, "/index.html").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "not_found");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("index.html") && message.contains(&page.0.display().to_string()));
    }

    #[actix_web::test]
    async fn file_system_paths_are_shown_to_this_computer_and_never_to_the_network() {
        let page = Scratch::new("paths");
        let cache = page.0.join("cache");
        let missing = Workshop::emulator(page.0.clone(), offline_sdk(&cache));
        let folder = page.0.display().to_string();
        for uri in [
            "/sdk/status",
            "/sdk/twilio-video.js",
            "/sdk/twilio-video.min.js",
            "/index.html",
        ] {
            let (_, _, remote) = get_from(&missing, uri, REMOTE).await;
            assert!(
                !remote.contains(&folder),
                "{uri} shows a path to the network: {remote}"
            );
            assert!(
                remote.contains("2.36.0") || remote.contains("index.html"),
                "{remote}"
            );
            let (_, _, local) = get_from(&missing, uri, LOOPBACK).await;
            assert!(
                local.contains(&folder),
                "{uri} hides the path from this computer: {local}"
            );
        }

        let sdk_file = page.write("my-sdk.js", "window.Twilio = {};");
        let mut options = offline_sdk(&cache);
        options.override_path = Some(sdk_file);
        let ready = Workshop::emulator(page.0.clone(), options);
        let (_, _, remote) = get_from(&ready, "/sdk/status", REMOTE).await;
        assert!(!remote.contains(&folder), "{remote}");
        assert!(
            remote.contains("\"source\":\"VIDEOROOM_SDK_PATH\""),
            "{remote}"
        );
        let (_, _, local) = get_from(&ready, "/sdk/status", LOOPBACK).await;
        assert!(local.contains(&folder), "{local}");
    }

    #[actix_web::test]
    async fn writing_to_the_page_is_refused_with_405() {
        let page = Scratch::new("methods");
        page.write("index.html", "page");
        let workshop = Workshop::twilio(page.0.clone());
        let app =
            actix_test::init_service(App::new().configure(|cfg| workshop.configure(cfg))).await;
        let request = actix_test::TestRequest::post()
            .uri("/index.html")
            .to_request();
        let response = actix_test::call_service(&app, request).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers().get(header::ALLOW).unwrap(), "GET, HEAD");
    }

    #[actix_web::test]
    async fn twilio_mode_sends_the_page_to_the_pinned_sdk_on_twilios_cdn() {
        let page = Scratch::new("cdn");
        let workshop = Workshop::twilio(page.0.clone());
        let (status, headers, _) = get(&workshop, "/sdk/twilio-video.js").await;
        assert_eq!(status, StatusCode::FOUND);
        assert_eq!(
            headers.get(header::LOCATION).unwrap(),
            "https://sdk.twilio.com/js/video/releases/2.36.0/twilio-video.min.js"
        );
        let (_, _, shim) = get(&workshop, "/sdk/emulator-shim.js").await;
        assert!(
            !shim.contains("wsServer"),
            "twilio mode must not redirect signaling"
        );
    }

    #[actix_web::test]
    async fn emulator_mode_serves_the_sdk_followed_by_the_shim_that_points_at_our_signaling() {
        let page = Scratch::new("bundle");
        let sdk_file = page.write("my-sdk.js", "window.Twilio = { Video: { connect() {} } };");
        let mut options = offline_sdk(&page.0.join("cache"));
        options.override_path = Some(sdk_file);
        let workshop = Workshop::emulator(page.0.clone(), options);

        let (status, headers, body) = get(&workshop, "/sdk/twilio-video.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), JAVASCRIPT);
        assert!(body.starts_with("window.Twilio = { Video: { connect() {} } };"));
        let shim_at = body
            .find("Twilio.Video.connect = function")
            .expect("the shim follows the SDK");
        assert!(body[shim_at..].contains("insights: false"));
        assert!(body.contains("'/signaling'"));

        let (_, _, status_json) = get(&workshop, "/sdk/status").await;
        let status_json: serde_json::Value = serde_json::from_str(&status_json).unwrap();
        assert_eq!(status_json["state"], "ready");
        assert_eq!(status_json["mode"], "emulator");
    }

    #[actix_web::test]
    async fn without_the_sdk_the_page_explains_exactly_what_to_run() {
        let page = Scratch::new("nosdk");
        let cache = page.0.join("cache");
        let workshop = Workshop::emulator(page.0.clone(), offline_sdk(&cache));

        let (status, _, script) = get(&workshop, "/sdk/twilio-video.js").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the page still loads and shows the explanation"
        );
        assert!(script.contains("getElementById('status')"));
        assert!(script.contains("npm pack twilio-video@2.36.0"));
        assert!(script.contains("VIDEOROOM_SDK_PATH"));
        assert!(script.contains(&cache.display().to_string()));
        assert!(!script.contains("/*INFO*/"));

        let (status, _, body) = get(&workshop, "/sdk/twilio-video.min.js").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("sdk_unavailable"));
        let (_, _, status_json) = get(&workshop, "/sdk/status").await;
        let status_json: serde_json::Value = serde_json::from_str(&status_json).unwrap();
        assert_eq!(status_json["state"], "unavailable");
        assert!(status_json["message_ja"]
            .as_str()
            .unwrap()
            .contains("npm pack"));
    }

    #[actix_web::test]
    async fn a_corrupted_cached_sdk_is_discarded_not_served() {
        let page = Scratch::new("corrupt");
        let cache = page.0.join("cache");
        // The configured cache folder holds one subfolder per SDK version.
        let version_dir = cache.join(SDK_VERSION);
        fs::create_dir_all(&version_dir).unwrap();
        let cached = version_dir.join(sdk::CACHED_FILE_NAME);
        fs::write(&cached, "alert('not the SDK')").unwrap();
        let workshop = Workshop::emulator(page.0.clone(), offline_sdk(&cache));

        let (_, _, script) = get(&workshop, "/sdk/twilio-video.js").await;
        assert!(!script.contains("not the SDK"));
        assert!(
            !cached.exists(),
            "the bad copy is removed so the next fetch replaces it"
        );
    }
}
