//! Logging: `tracing` to standard error, one span per request with a request id.
//!
//! Standard output is kept for what people and scripts read (the banner, `videoroom token`),
//! so logs go to standard error. The level comes from `RUST_LOG` (default `info`). Nothing
//! logged here contains a token or a secret: a request is logged by method and path only,
//! never its query string, because a WebSocket client may carry a token there.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument as _;
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// The response header that carries the request id, so a user can quote it.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the global subscriber. Safe to call more than once (later calls do nothing), which
/// tests that build several apps rely on.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // An error only means a subscriber is already installed.
    let _ = match format {
        LogFormat::Pretty => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Middleware: runs each request inside a `request` span with a fresh id, echoes the id in
/// `X-Request-Id`, and logs one line per response with status and latency.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let elapsed = format!("{:.1}ms", started.elapsed().as_secs_f64() * 1000.0);
            if status >= 500 {
                tracing::warn!(status, %elapsed, "request failed");
            } else {
                tracing::info!(status, %elapsed, "request done");
            }
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
            Ok(response)
        }
        Err(e) => {
            tracing::warn!(error = %e, "request failed");
            Err(e)
        }
    }
}
