//! Who may drive the server from a browser: the `Host` check, the `Origin` check and CORS.
//!
//! The seeded credentials are public and the emulator accepts any token they sign, so a
//! password is no protection against a web page the attendee happens to visit. A page on
//! another site can reach the server three ways, and one rule here stops each:
//!
//! | Way in | Rule | Refusal |
//! |---|---|---|
//! | DNS rebinding: a name of the attacker's that resolves to 127.0.0.1, so the page is "same origin" with the server | the `Host` header must name this server (see [`AccessPolicy::allows_host`]) | 403, on every route (not 421: Chromium turns a 421 into a network error, hiding the message that says how to fix it) |
//! | A cross-origin form or `fetch` that changes state (`POST`, `DELETE`, …): the browser sends it even when it hides the answer | its `Origin` must be this server's own or a configured one | 403 |
//! | A WebSocket to `/signaling`: browsers do not apply CORS to WebSockets | its `Origin` must be this server's own or a configured one | 403, no upgrade |
//! | Reading a `/v1` answer cross-origin | `Access-Control-Allow-Origin` only for a configured origin, never `*` ([`cors`]) | the browser hides the answer |
//!
//! A request without `Origin` is not from a web page's script (curl, the official Twilio
//! libraries, the SDK in Node), so it passes: those clients hold the credentials themselves.
//! The refusals are JSON: Twilio's shape under `/v1` and `/emulator`, the token service's
//! `{"error": {"code", "message"}}` elsewhere.
//!
//! Both binaries mount this: `.app_data(web::Data::new(policy)).wrap(from_fn(guard::check))`.
//! Without a policy in the app data, the loopback-only default applies.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage as _, HttpRequest, HttpResponse, ResponseError};
use futures::StreamExt as _;
use serde_json::json;
use videoroom_core::twilio_codes;

use crate::error::ApiError;

/// Which `Host` names and which foreign origins the server accepts. Build it once at start-up
/// (the startup code knows the bound address and the machine's names) and share it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// Host names accepted besides the localhost names and IP literals, lowercase, no port.
    hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`, lowercase) allowed to call the server cross-origin.
    origins: Vec<String>,
}

/// A setting's value that is no host name or origin, with the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AccessError(pub String);

impl AccessPolicy {
    /// Accepts `hosts` (names such as `laptop.local`; a leading `.` accepts every subdomain)
    /// and cross-origin calls from `origins` (such as `http://localhost:5173`), besides the
    /// built-in localhost names. Each is checked; the error names the first bad one.
    pub fn new(
        hosts: impl IntoIterator<Item = impl AsRef<str>>,
        origins: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Self, AccessError> {
        let hosts = hosts
            .into_iter()
            .map(|h| parse_host_setting(h.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let origins = origins
            .into_iter()
            .map(|o| parse_origin_setting(o.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { hosts, origins })
    }

    /// Whether a `Host` header (with or without its port) names this server: a localhost name
    /// (`localhost`, `*.localhost`), an IP literal, or a configured name.
    ///
    /// Any IP literal passes: a browser sends an IP as `Host` only when the page itself was
    /// loaded from that address, and a request carrying it reached this server, so the address
    /// is this server's (the bound one, or a LAN address when bound to all interfaces). DNS
    /// rebinding needs a name, and names pass only when listed.
    pub fn allows_host(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        if name == "localhost" || name.ends_with(".localhost") || is_ip_literal(&name) {
            return true;
        }
        self.hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix('.') {
                Some(domain) => name == domain || name.ends_with(allowed.as_str()),
                None => &name == allowed,
            })
    }

    /// Whether a request with this `Origin`, sent to this `Host`, may change state or open
    /// signaling: its own origin (the page was served here), or a configured one.
    pub fn allows_origin(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        let same = host.is_some_and(|host| {
            let host = host.trim().to_ascii_lowercase();
            origin == format!("http://{host}") || origin == format!("https://{host}")
        });
        same || self.allows_cross_origin(&origin)
    }

    /// Whether a page of `origin` may read `/v1` answers (CORS): configured origins only.
    pub fn allows_cross_origin(&self, origin: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        self.origins.contains(&origin)
    }
}

/// The host name of a `Host` header: lowercase, without port or trailing dot; IPv6 literals
/// keep their brackets. `None` for text that is no host.
fn host_name(host: &str) -> Option<String> {
    let host = host.trim().to_ascii_lowercase();
    let name = if host.starts_with('[') {
        let end = host.find(']')?;
        host[..=end].to_owned()
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
            Some(_) => return None,
            None => host,
        }
    };
    let name = name.trim_end_matches('.').to_owned();
    (!name.is_empty()).then_some(name)
}

fn is_ip_literal(name: &str) -> bool {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => name.parse::<std::net::Ipv4Addr>().is_ok(),
    }
}

fn parse_host_setting(raw: &str) -> Result<String, AccessError> {
    let text = raw.trim().to_ascii_lowercase();
    let (dot, name) = match text.strip_prefix('.') {
        Some(rest) => (".", rest),
        None => ("", text.as_str()),
    };
    let shaped = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if shaped {
        Ok(format!("{dot}{}", name.trim_end_matches('.')))
    } else {
        Err(AccessError(format!(
            "'{raw}' is not a host name: give names such as laptop.local or .example.test (a leading dot allows every subdomain), without scheme or port"
        )))
    }
}

fn parse_origin_setting(raw: &str) -> Result<String, AccessError> {
    let text = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let bad = || {
        AccessError(format!(
            "'{raw}' is not an origin: give scheme, host and port if any, such as http://localhost:5173 (no path, no '*')"
        ))
    };
    let url = url::Url::parse(&text).map_err(|_| bad())?;
    let shaped = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.path() == "/"
        && url.query().is_none()
        && url.username().is_empty();
    if !shaped {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

/// The policy in the app data, or the loopback-only default.
fn policy(req: &HttpRequest) -> &AccessPolicy {
    static DEFAULT: LazyLock<AccessPolicy> = LazyLock::new(AccessPolicy::default);
    req.app_data::<web::Data<AccessPolicy>>()
        .map(|data| data.get_ref())
        .unwrap_or(&DEFAULT)
}

/// Whether the request comes from this computer (a loopback peer address). Routes that show
/// more to the machine's own user than to the network (file paths, the inspector's feed) ask
/// this; a request whose peer is unknown counts as remote.
pub fn is_loopback_peer(req: &HttpRequest) -> bool {
    req.peer_addr().is_some_and(|addr| is_loopback(addr.ip()))
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Whether a request needs its `Origin` checked: signaling, and anything that is not a read.
fn needs_origin_check(req: &ServiceRequest) -> bool {
    let path = req.path();
    let signaling = path == "/signaling" || path.starts_with("/signaling/");
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    signaling || !read
}

/// The middleware: checks `Host` on every request and `Origin` where [`needs_origin_check`]
/// says, before any handler runs.
pub async fn check(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let http = req.request();
    let access = policy(http);
    // A header that is not text cannot name this server; NUL stands for it and matches nothing.
    let host = req
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
    // HTTP/1.1 requires `Host`; a request without one was not sent by a browser, so there is
    // nothing to rebind.
    if let Some(host) = &host {
        if !access.allows_host(host) {
            // Debug, not warn: the request log already has the 403, and a hostile page must not
            // be able to fill the log with two lines per request.
            tracing::debug!(host = %shown(host), "refused a request for a host name this server does not answer to");
            let refusal = refusal(http, Refusal::Host(host));
            return Ok(refuse(req, refusal).await);
        }
    }
    if needs_origin_check(&req) {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("\u{0}");
            if !access.allows_origin(origin, host.as_deref()) {
                tracing::debug!(origin = %shown(origin), path = %req.path(), "refused a request from a foreign web page");
                let refusal = refusal(http, Refusal::Origin(origin));
                return Ok(refuse(req, refusal).await);
            }
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The most of a refused request's body read before answering, and how long to wait for it.
const DRAIN_BYTES: usize = 64 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Answers a refused request. A small body is read first: closing a connection with unread
/// bytes makes the kernel reset it, and the browser then reports a network error instead of the
/// refusal's message (a person opening the server under an unlisted name should read how to fix
/// it). A large or slow body is not waited for.
async fn refuse<B>(
    mut req: ServiceRequest,
    refusal: HttpResponse,
) -> ServiceResponse<EitherBody<B, BoxBody>> {
    let mut payload = req.take_payload();
    let mut read = 0;
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    while read <= DRAIN_BYTES {
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Ok(Some(Ok(chunk))) => read += chunk.len(),
            _ => break,
        }
    }
    req.into_response(refusal).map_into_right_body()
}

/// At most 100 printable characters of a header, for messages and logs.
fn shown(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect()
}

enum Refusal<'a> {
    Host(&'a str),
    Origin(&'a str),
}

fn refusal(req: &HttpRequest, why: Refusal<'_>) -> HttpResponse {
    let (status, code, message) = match why {
        Refusal::Host(host) => (
            StatusCode::FORBIDDEN,
            "unknown_host",
            format!(
                "this server does not answer to the host name '{}'; open it as http://localhost:PORT, or add the name to server.allowed_hosts (VIDEOROOM_ALLOWED_HOSTS)",
                shown(host)
            ),
        ),
        Refusal::Origin(origin) => (
            StatusCode::FORBIDDEN,
            "foreign_origin",
            format!(
                "a page from {} may not call this server; add that origin to server.allowed_origins (VIDEOROOM_ALLOWED_ORIGINS) if it is yours",
                shown(origin)
            ),
        ),
    };
    let path = req.path();
    let twilio = ["/v1", "/emulator"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if twilio {
        ApiError::new(twilio_codes::FORBIDDEN, status.as_u16(), message).error_response()
    } else {
        HttpResponse::build(status).json(json!({ "error": { "code": code, "message": message } }))
    }
}

/// CORS for `/v1`: a configured origin gets `Access-Control-Allow-Origin` with its own name
/// (and the preflight answers that let it send `Authorization`); any other origin gets no CORS
/// header, so its page cannot read the answer. Never `*`: the seeded credentials are public.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let allowed = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|origin| policy(req.request()).allows_cross_origin(origin))
        .and_then(|origin| HeaderValue::from_str(origin).ok());
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    // The answer depends on the Origin, so no cache may reuse it for another.
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type, Authorization"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("false"),
        );
        // Retry-After tells a page when to try again after a 429 (the token service's rate
        // limits, Twilio's own); a cross-origin script cannot read it unless exposed.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Content-Type, Retry-After"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], origins: &[&str]) -> AccessPolicy {
        AccessPolicy::new(hosts, origins).expect("valid settings")
    }

    #[test]
    fn localhost_names_and_ip_literals_are_accepted_with_or_without_port() {
        let p = AccessPolicy::default();
        for host in [
            "localhost",
            "localhost:3000",
            "LOCALHOST.:3000",
            "app.localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "[::1]",
            "192.168.1.20:3000",
        ] {
            assert!(p.allows_host(host), "{host}");
        }
    }

    #[test]
    fn other_names_are_refused_unless_configured() {
        let p = AccessPolicy::default();
        for host in [
            "evil.test:3000",
            "localhost.evil.test",
            "127.0.0.1.nip.io",
            "",
            "localhost:x",
        ] {
            assert!(!p.allows_host(host), "{host}");
        }
        let p = policy(&["laptop.local", ".example.test"], &[]);
        assert!(p.allows_host("laptop.local:3000"));
        assert!(p.allows_host("room.example.test"));
        assert!(p.allows_host("example.test"));
        assert!(!p.allows_host("badexample.test"));
    }

    #[test]
    fn an_origin_is_allowed_when_it_is_the_servers_own_or_configured() {
        let p = policy(&[], &["http://localhost:5173/"]);
        assert!(p.allows_origin("http://localhost:3000", Some("localhost:3000")));
        assert!(!p.allows_origin("http://localhost:3000", Some("localhost:3001")));
        assert!(!p.allows_origin("http://evil.test:3000", Some("localhost:3000")));
        assert!(!p.allows_origin("null", Some("localhost:3000")));
        assert!(p.allows_origin("http://LOCALHOST:5173", Some("localhost:3000")));
        assert!(p.allows_cross_origin("http://localhost:5173"));
        assert!(!p.allows_cross_origin("http://localhost:3000"));
    }

    #[test]
    fn bad_settings_name_the_value_and_the_shape_wanted() {
        let err = AccessPolicy::new(["http://laptop.local"], [""; 0]).unwrap_err();
        assert!(
            err.0.contains("'http://laptop.local' is not a host name"),
            "{err}"
        );
        for origin in ["*", "localhost:5173", "http://a.test/path", "ftp://a.test"] {
            let err = AccessPolicy::new([""; 0], [origin]).unwrap_err();
            assert!(err.0.contains("is not an origin"), "{origin}: {err}");
        }
    }
}
