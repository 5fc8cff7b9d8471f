//! `GET /metrics`: the token service's counters in Prometheus' text format (issue 13).
//!
//! The series are kept with the `prometheus` crate (TiKV's, the reference Rust client;
//! without its default `protobuf` feature it adds no heavy dependency). Each application has
//! its own [`Registry`], so several servers in one test process do not mix their counts.
//!
//! | series | labels | what |
//! |---|---|---|
//! | `videoroom_tokens_minted_total` | | tokens handed out |
//! | `videoroom_http_request_duration_seconds` | `route`, `status` | latency of every request (histogram) |
//! | `videoroom_upstream_calls_total` | `operation`, `outcome` | calls to the backend port, after the adapter's retries |
//! | `videoroom_upstream_retries_total` | `layer` | repeats: `adapter` (one HTTP attempt again) and `service` (a whole lookup again) |
//! | `videoroom_room_cache_total` | `result` | `hit`, `miss`, `stale` (served by stale-if-error) |
//! | `videoroom_requests_refused_total` | `reason` | `rate_limited` (429) and `unauthorized` (401) answers |
//! | `videoroom_circuit_state` | | 0 closed, 1 half-open, 2 open |
//! | `videoroom_emulator_rooms` | `status` | emulator mode: rooms by status |
//! | `videoroom_emulator_participants` | `status` | emulator mode: participants of in-progress rooms by status |
//! | `videoroom_emulator_signaling_connections` | | emulator mode: open `/signaling` WebSockets |
//!
//! Protection: `/metrics` answers only requests from a loopback address that carry no
//! forwarding header (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`); anything else gets 404, as
//! if the route did not exist. A Prometheus on the same host scrapes it directly; a reverse
//! proxy on the same host cannot expose it by accident, because proxied requests carry the
//! forwarding header. Nothing in it is secret, but it tells an outsider how busy the service is
//! and whether Twilio is failing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use videoroom_emulator::Emulator;

use crate::resilience::Breaker;

/// Buckets of the latency histogram, in seconds: fine below 10 ms, where warm token requests
/// are, and up to the longest deadline.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The service's series (see the module documentation).
pub struct Metrics {
    registry: Registry,
    tokens: IntCounter,
    latency: HistogramVec,
    upstream: IntCounterVec,
    retries: IntCounterVec,
    cache: IntCounterVec,
    /// `cache{result="hit"}` resolved once: every warm token request counts one, and a label
    /// lookup per request (hash, lock) is a cost the warm path does not need.
    cache_hit: IntCounter,
    refused: IntCounterVec,
    circuit: IntGauge,
    emulator_rooms: IntGaugeVec,
    emulator_participants: IntGaugeVec,
    emulator_signaling: IntGauge,
    /// The adapter's retry count already added to `retries{layer="adapter"}`.
    adapter_retries_seen: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let series = IntCounterVec::new(Opts::new(name, help), labels)
        .expect("the series' name and labels are valid Prometheus identifiers");
    registry
        .register(Box::new(series.clone()))
        .expect("each series is registered once, in a fresh registry");
    series
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let series = IntGaugeVec::new(Opts::new(name, help), labels)
        .expect("the series' name and labels are valid Prometheus identifiers");
    registry
        .register(Box::new(series.clone()))
        .expect("each series is registered once, in a fresh registry");
    series
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let series =
        IntGauge::new(name, help).expect("the series' name is a valid Prometheus identifier");
    registry
        .register(Box::new(series.clone()))
        .expect("each series is registered once, in a fresh registry");
    series
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let tokens = IntCounter::new("videoroom_tokens_minted_total", "Access tokens handed out")
            .expect("a valid series name");
        registry
            .register(Box::new(tokens.clone()))
            .expect("each series is registered once");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "videoroom_http_request_duration_seconds",
                "Time to answer an HTTP request, by route and status",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "status"],
        )
        .expect("valid histogram options");
        registry
            .register(Box::new(latency.clone()))
            .expect("each series is registered once");
        let cache = counter_vec(
            &registry,
            "videoroom_room_cache_total",
            "Room cache lookups: hit, miss, stale (served while the upstream fails)",
            &["result"],
        );
        Self {
            tokens,
            latency,
            upstream: counter_vec(
                &registry,
                "videoroom_upstream_calls_total",
                "Calls to the room backend (after the adapter's own retries), by operation and outcome",
                &["operation", "outcome"],
            ),
            retries: counter_vec(
                &registry,
                "videoroom_upstream_retries_total",
                "Upstream work done again: adapter = one HTTP attempt, service = a whole room lookup",
                &["layer"],
            ),
            cache_hit: cache.with_label_values(&["hit"]),
            cache,
            refused: counter_vec(
                &registry,
                "videoroom_requests_refused_total",
                "Requests refused: rate_limited (429) and unauthorized (401)",
                &["reason"],
            ),
            circuit: gauge(
                &registry,
                "videoroom_circuit_state",
                "The upstream circuit: 0 closed, 1 half-open, 2 open",
            ),
            emulator_rooms: gauge_vec(
                &registry,
                "videoroom_emulator_rooms",
                "Emulator mode: rooms by status",
                &["status"],
            ),
            emulator_participants: gauge_vec(
                &registry,
                "videoroom_emulator_participants",
                "Emulator mode: participants of in-progress rooms by status",
                &["status"],
            ),
            emulator_signaling: gauge(
                &registry,
                "videoroom_emulator_signaling_connections",
                "Emulator mode: open /signaling WebSocket connections",
            ),
            adapter_retries_seen: AtomicU64::new(0),
            registry,
        }
    }

    pub fn token_minted(&self) {
        self.tokens.inc();
    }

    pub fn upstream_call(&self, operation: &str, outcome: &str) {
        self.upstream.with_label_values(&[operation, outcome]).inc();
    }

    /// A whole room lookup done again by the service (see `resilience`).
    pub fn retry(&self) {
        self.retries.with_label_values(&["service"]).inc();
    }

    pub fn cache(&self, result: &str) {
        if result == "hit" {
            self.cache_hit.inc();
        } else {
            self.cache.with_label_values(&[result]).inc();
        }
    }

    fn observe(&self, route: &str, status: actix_web::http::StatusCode, seconds: f64) {
        // The status' own text: no number formatted into a new string per request.
        let status = status.as_str();
        self.latency
            .with_label_values(&[route, status])
            .observe(seconds);
        match status {
            "429" => self.refused.with_label_values(&["rate_limited"]).inc(),
            "401" => self.refused.with_label_values(&["unauthorized"]).inc(),
            _ => {}
        }
    }

    /// The text exposition, with the gauges read now.
    pub fn render(&self, sources: &Sources) -> String {
        self.circuit.set(sources.breaker.state().gauge());
        if let Some(retries) = &sources.adapter_retries {
            let total = retries();
            let seen = self.adapter_retries_seen.swap(total, Ordering::Relaxed);
            self.retries
                .with_label_values(&["adapter"])
                .inc_by(total.saturating_sub(seen));
        }
        if let Some(emulator) = &sources.emulator {
            let gauges = emulator.gauges();
            self.emulator_rooms
                .with_label_values(&["in-progress"])
                .set(to_i64(gauges.rooms_in_progress));
            self.emulator_rooms
                .with_label_values(&["ended"])
                .set(to_i64(gauges.rooms_ended));
            for (status, count) in &gauges.participants {
                self.emulator_participants
                    .with_label_values(&[status.as_str()])
                    .set(to_i64(*count));
            }
            self.emulator_signaling
                .set(to_i64(gauges.signaling_connections));
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("the text encoder writes into a Vec, which cannot fail");
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What `/metrics` reads at scrape time besides its counters.
pub struct Sources {
    pub metrics: Arc<Metrics>,
    pub breaker: Arc<Breaker>,
    /// The Twilio adapter's retry count, in twilio mode.
    pub adapter_retries: Option<Box<dyn Fn() -> u64 + Send + Sync>>,
    pub emulator: Option<Emulator>,
}

/// Times every request and counts refusals; the route label is the matched pattern (so
/// `/v1/Rooms/{room}`, never a client's text) or `other`.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let metrics = req
        .app_data::<web::Data<Sources>>()
        .map(|s| s.metrics.clone());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "other".to_owned());
        metrics.observe(&route, response.status(), started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// `GET /metrics` (see the module documentation for who may read it).
pub async fn metrics(req: HttpRequest, sources: web::Data<Sources>) -> HttpResponse {
    if !from_this_host(&req) {
        return crate::error::ApiError::NotFound("/metrics".to_owned()).error_response();
    }
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(sources.metrics.render(&sources))
}

/// A direct request from this machine: a loopback peer, and no header saying a proxy relayed
/// it from elsewhere.
fn from_this_host(req: &HttpRequest) -> bool {
    let loopback = req.peer_addr().is_some_and(|a| a.ip().is_loopback());
    let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    loopback && !forwarded
}
