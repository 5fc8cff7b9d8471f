//! Limits that keep one client from starving the others: the open-file limit raised at
//! start-up, and a cap on the connections one client address holds at once.
//!
//! Every socket is a file descriptor. With the usual soft limit of 1,024, about a thousand idle
//! sockets or slow request bodies from one client used every descriptor, and the server could
//! not even accept `/healthz`. So:
//!
//! - [`raise_open_file_limit`] lifts the soft limit to the hard one (often 500,000 or more on
//!   Linux) before the server listens; both binaries call it first thing.
//! - [`limit_per_client`], a middleware, counts per client IP address the requests in progress
//!   together with their response bodies, which for `/signaling` is the whole WebSocket
//!   session. A client over its cap gets 429 at once instead of another slot. `/signaling` and
//!   the rest of HTTP have separate caps ([`ConnectionLimits`]), so a page that opens many
//!   fetches cannot lock its own signaling out, nor the reverse. Loopback clients count like
//!   any other: on a workshop laptop every attendee's browser tab is one.
//!
//! Idle connections that never send a request are not counted here: actix closes those after
//! its request-head timeout (5 s), and the raised descriptor limit absorbs them meanwhile.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};
use parking_lot::Mutex;
use videoroom_core::twilio_codes;

use crate::error::ApiError;

/// Raises the soft limit on open files to the hard limit, so that many sockets cannot exhaust
/// descriptors at 1,024. Returns the limit now in force, or `None` where there is no such limit
/// or it cannot be read (then nothing changed and the server runs as before).
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => Some(limit),
            Err(err) => {
                tracing::warn!(error = %err, "cannot raise the open-file limit; many simultaneous connections may exhaust it");
                None
            }
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// How many connections one client address may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open `/signaling` WebSockets. A browser tab holds one per room it is in.
    pub signaling_per_client: usize,
    /// HTTP requests in progress (any other path). Browsers open about six connections per
    /// origin, so this only stops a client opening hundreds.
    pub http_per_client: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            signaling_per_client: 64,
            http_per_client: 512,
        }
    }
}

/// Which cap a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Signaling,
    Http,
}

impl Kind {
    fn of(path: &str) -> Self {
        if path == "/signaling" || path.starts_with("/signaling/") {
            Kind::Signaling
        } else {
            Kind::Http
        }
    }
}

/// A request refused because its client is at its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit {
    pub kind: Kind,
    pub limit: usize,
}

impl OverLimit {
    /// The refusal in Twilio's format (429, code 20429), what the emulator's own surfaces
    /// answer.
    pub fn twilio_response(&self) -> HttpResponse {
        let what = match self.kind {
            Kind::Signaling => "signaling connections",
            Kind::Http => "requests in progress",
        };
        ApiError::new(
            twilio_codes::TOO_MANY_REQUESTS,
            429,
            format!(
                "Too many {what} from this address (at most {}); close some and try again",
                self.limit
            ),
        )
        .error_response()
    }
}

/// How a surface words a refusal; the emulator's is [`OverLimit::twilio_response`].
pub type Refusal = fn(&HttpRequest, OverLimit) -> HttpResponse;

/// The per-client counters. Put one in the app's data (`App::app_data`) and wrap the app in
/// `from_fn(limit_per_client)`; clones share the counters.
#[derive(Clone)]
pub struct PerClient {
    inner: Arc<Counters>,
}

struct Counters {
    limits: ConnectionLimits,
    refusal: Refusal,
    open: Mutex<HashMap<(IpAddr, Kind), usize>>,
}

impl PerClient {
    /// Counters with these caps, refusing in Twilio's format.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self::with_refusal(limits, |_, over| over.twilio_response())
    }

    /// Counters with these caps and a surface's own refusal.
    pub fn with_refusal(limits: ConnectionLimits, refusal: Refusal) -> Self {
        Self {
            inner: Arc::new(Counters {
                limits,
                refusal,
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A slot for one more connection of `kind` from `ip`, or the cap it would exceed.
    fn acquire(&self, ip: IpAddr, kind: Kind) -> Result<Slot, OverLimit> {
        let limit = match kind {
            Kind::Signaling => self.inner.limits.signaling_per_client,
            Kind::Http => self.inner.limits.http_per_client,
        };
        let mut open = self.inner.open.lock();
        let count = open.entry((ip, kind)).or_insert(0);
        if *count >= limit {
            return Err(OverLimit { kind, limit });
        }
        *count += 1;
        Ok(Slot {
            counters: Arc::clone(&self.inner),
            key: (ip, kind),
        })
    }
}

/// One counted connection; released when dropped.
struct Slot {
    counters: Arc<Counters>,
    key: (IpAddr, Kind),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counters.open.lock();
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A response body that holds its request's [`Slot`] until it is sent or dropped, so a
/// WebSocket counts for as long as it is open.
struct Counted {
    body: BoxBody,
    _slot: Slot,
}

impl MessageBody for Counted {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// Middleware: counts each request (and its response body) against its client address's cap
/// and answers 429 over it. Without a [`PerClient`] in the app's data, or without a peer
/// address, requests pass uncounted.
pub async fn limit_per_client(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let counters = req.app_data::<PerClient>().cloned();
    let (Some(counters), Some(peer)) = (counters, req.peer_addr()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let slot = match counters.acquire(peer.ip(), Kind::of(req.path())) {
        Ok(slot) => slot,
        Err(over) => {
            tracing::debug!(client = %peer.ip(), limit = over.limit, kind = ?over.kind, "connection cap reached");
            let response = (counters.inner.refusal)(req.request(), over);
            return Ok(req.into_response(response));
        }
    };
    let response = next.call(req).await?;
    Ok(response
        .map_body(|_, body| Counted {
            body: body.boxed(),
            _slot: slot,
        })
        .map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_cap_and_no_more_until_a_slot_is_released() {
        let counters = PerClient::new(ConnectionLimits {
            signaling_per_client: 1,
            http_per_client: 2,
        });
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = counters.acquire(a, Kind::Http).unwrap();
        let _second = counters.acquire(a, Kind::Http).unwrap();
        assert_eq!(
            counters.acquire(a, Kind::Http).err(),
            Some(OverLimit {
                kind: Kind::Http,
                limit: 2
            })
        );
        // Another address and the other kind have their own counts.
        let _other = counters.acquire(b, Kind::Http).unwrap();
        let _ws = counters.acquire(a, Kind::Signaling).unwrap();
        drop(first);
        assert!(counters.acquire(a, Kind::Http).is_ok());
    }

    #[test]
    fn only_the_signaling_path_counts_as_signaling() {
        assert_eq!(Kind::of("/signaling"), Kind::Signaling);
        assert_eq!(Kind::of("/signaling/x"), Kind::Signaling);
        assert_eq!(Kind::of("/signalingx"), Kind::Http);
        assert_eq!(Kind::of("/v1/Rooms"), Kind::Http);
    }
}
