//! Logging for both binaries, `videoroom` and `videoroom-emulator`: `tracing` to standard
//! error, one span and one log line per request, with a request id.
//!
//! It lives here rather than in the server because the server depends on this crate, never the
//! reverse, and both binaries must log alike. Standard output is kept for what people and
//! scripts read (banners, `videoroom token`), so logs go to standard error; the level comes
//! from `RUST_LOG` (default `info`).
//!
//! A request is logged by method and path only, never its query string: a WebSocket client may
//! carry a token there, and a token request carries an identity. Headers (and so credentials)
//! are never logged either.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage as _;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder, TracingLogger};
use tracing_subscriber::EnvFilter;

/// The variable that chooses the log format, for both binaries.
pub const LOG_FORMAT_VAR: &str = "VIDEOROOM_LOG_FORMAT";

/// The response header that carries the request id, so a user can quote it.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// How log lines are written (to standard error).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Deserialize,
    serde::Serialize,
    clap::ValueEnum,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing), which
/// tests that build several apps rely on.
pub fn init(format: LogFormat) {
    install(format, std::io::stderr, true);
}

/// As [`init`], writing log lines to `writer` instead of standard error, without terminal
/// colours (`videoroom-emulator exec` keeps them in a [`CapturedLog`] and prints them only
/// when the command fails, often into a CI log that would show the escape codes as text).
pub fn init_with_writer<W>(format: LogFormat, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    install(format, writer, false);
}

fn install<W>(format: LogFormat, writer: W, ansi: bool)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let builder = if ansi {
        builder
    } else {
        builder.with_ansi(false)
    };
    // An error only means a subscriber is already installed.
    let _ = match format {
        LogFormat::Pretty => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Installs a panic hook for both binaries: a panic inside actix-http's request parser is
/// reported as one WARN line, and every other panic as the standard hook reports it.
///
/// actix-http 3.20 unwraps `HeaderName::from_bytes` on every header name of a parsed request,
/// and the `http` crate refuses names of 64 KiB or more, so one request with such a name panics
/// the connection's task: the client's connection is closed without an answer (the worker
/// and every other connection carry on). The standard hook then writes the panic and, with
/// `RUST_BACKTRACE` set, a symbolized backtrace, which took seconds on a loaded machine for
/// every such request. A client's malformed request is not a bug of this server: one line,
/// no backtrace.
pub fn install_panic_hook() {
    let standard = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_request_parser = info.location().is_some_and(|at| {
            let file = at.file();
            file.contains("actix-http") && file.contains("decoder.rs")
        });
        if in_request_parser {
            tracing::warn!(
                "closed a connection whose request actix-http cannot parse (a header name of 64 KiB or more)"
            );
        } else {
            standard(info);
        }
    }));
}

/// The request-logging middleware: each request runs inside a `request` span (request id,
/// method, path) and ends with one log line (status, latency). Wrap it outside
/// [`echo_request_id`], which reads the id it assigns:
///
/// ```ignore
/// App::new()
///     .wrap(from_fn(telemetry::echo_request_id))
///     .wrap(telemetry::request_logging())
/// ```
pub fn request_logging() -> TracingLogger<PathOnly> {
    TracingLogger::new()
}

/// The root span of a request, with the path and never the query string.
pub struct PathOnly;

/// When a request started, kept in its extensions for the end line's latency.
#[derive(Clone, Copy)]
struct Started(Instant);

impl RootSpanBuilder for PathOnly {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request.extensions_mut().insert(Started(Instant::now()));
        let request_id = request.extensions().get::<RequestId>().map(shown);
        tracing::info_span!(
            "request",
            request_id = request_id.as_deref().unwrap_or("-"),
            method = %request.method(),
            path = %request.path(),
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let _entered = span.enter();
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                let started = response.request().extensions().get::<Started>().copied();
                let elapsed = started
                    .map(|s| format!("{:.1}ms", s.0.elapsed().as_secs_f64() * 1000.0))
                    .unwrap_or_else(|| "-".to_owned());
                if status >= 500 {
                    tracing::warn!(status, %elapsed, "request failed");
                } else {
                    tracing::info!(status, %elapsed, "request done");
                }
            }
            Err(e) => tracing::warn!(error = %e, "request failed"),
        }
    }
}

/// Middleware: echoes the request id of [`request_logging`] in `X-Request-Id`, so the line a
/// user quotes can be found in the logs.
pub async fn echo_request_id(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = request.extensions().get::<RequestId>().copied();
    let mut response = next.call(request).await?;
    let value = request_id.and_then(|id| HeaderValue::from_str(&shown(&id)).ok());
    if let Some(value) = value {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

/// A request id as logs and the header show it: 32 hex digits, easy to copy.
fn shown(id: &RequestId) -> String {
    id.simple().to_string()
}

/// Log output kept in memory, at most its capacity in bytes (the oldest lines are dropped
/// first, so a long run cannot grow without bound). Cloning shares the same buffer.
#[derive(Clone)]
pub struct CapturedLog {
    inner: std::sync::Arc<parking_lot::Mutex<CapturedBytes>>,
}

struct CapturedBytes {
    bytes: std::collections::VecDeque<u8>,
    capacity: usize,
    dropped: bool,
}

impl CapturedLog {
    /// An empty log keeping at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: std::sync::Arc::new(parking_lot::Mutex::new(CapturedBytes {
                bytes: std::collections::VecDeque::new(),
                capacity,
                dropped: false,
            })),
        }
    }

    /// What was written, oldest first; when older lines were dropped, it starts with a line
    /// that says so.
    pub fn contents(&self) -> String {
        let inner = self.inner.lock();
        let (front, back) = inner.bytes.as_slices();
        let mut bytes = Vec::with_capacity(front.len() + back.len());
        bytes.extend_from_slice(front);
        bytes.extend_from_slice(back);
        let text = String::from_utf8_lossy(&bytes);
        if inner.dropped {
            // Start at a whole line: the first one may have been cut.
            let whole = text.split_once('\n').map_or("", |(_, rest)| rest);
            format!("[older log lines dropped]\n{whole}")
        } else {
            text.into_owned()
        }
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut inner = self.inner.lock();
        inner.bytes.extend(buf);
        let excess = inner.bytes.len().saturating_sub(inner.capacity);
        if excess > 0 {
            inner.bytes.drain(..excess);
            inner.dropped = true;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for CapturedLog {
    type Writer = CapturedLog;

    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod captured_tests {
    use std::io::Write as _;

    use super::CapturedLog;

    #[test]
    fn a_captured_log_keeps_its_newest_lines_within_its_capacity() {
        let mut log = CapturedLog::new(16);
        log.write_all(b"first line\n").unwrap();
        assert_eq!(log.contents(), "first line\n");
        log.write_all(b"second\nthird\n").unwrap();
        assert_eq!(log.contents(), "[older log lines dropped]\nsecond\nthird\n");
    }
}
