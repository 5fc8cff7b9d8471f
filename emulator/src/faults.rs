//! Fault injection on the REST face (`/v1`), so a client's resilience can be tested against
//! the failures real Twilio has (issue 13): a share of 500 and 503 answers, 429 with
//! `Retry-After`, added latency, and connections closed in the middle of an answer.
//!
//! The plan is set at start-up (`videoroom-emulator --faults 'Rate503=0.2&Rate429=0.1'` or
//! `VIDEOROOM_EMULATOR_FAULTS`) and changed at run time with the control route
//! `POST /emulator/faults` (same parameters, form or query; the plan is replaced as a whole),
//! read with `GET /emulator/faults` (the plan and what was injected so far) and cleared with
//! `DELETE /emulator/faults`. Only `/v1` is affected: the control routes, the inspector and
//! signaling keep working, so a test can always turn faults off again.
//!
//! | parameter | meaning |
//! |---|---|
//! | `Rate500`, `Rate503`, `Rate429` | share (0 to 1) of requests answered with that status, in Twilio's error JSON, before the request is processed |
//! | `RetryAfter` | seconds in the `Retry-After` of injected 429s (default 1) |
//! | `LatencyMs` | milliseconds added before every request is processed (0 to 60000) |
//! | `RateDrop` | share of requests processed (a create does create the room) whose answer is cut short: the connection closes before the whole answer has arrived |
//!
//! The shares together may not exceed 1. Each request draws once: `[0, Rate500)` gives 500, the
//! next `Rate503` gives 503, then 429, then a dropped answer; the rest pass.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use parking_lot::RwLock;
use rand::Rng as _;
use serde::Serialize;
use videoroom_core::twilio_codes;

use crate::auth::authenticate;
use crate::error::ApiError;
use crate::params::{read_form, Params};
use crate::Emulator;

/// The variable the standalone binary reads the start-up plan from.
pub const FAULTS_VAR: &str = "VIDEOROOM_EMULATOR_FAULTS";
/// The longest added latency: a minute is past every client's timeout already.
const MAX_LATENCY_MS: u64 = 60_000;

/// What to inject (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultPlan {
    pub rate_500: f64,
    pub rate_503: f64,
    pub rate_429: f64,
    pub retry_after_secs: u64,
    pub latency_ms: u64,
    pub rate_drop: f64,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self {
            rate_500: 0.0,
            rate_503: 0.0,
            rate_429: 0.0,
            retry_after_secs: 1,
            latency_ms: 0,
            rate_drop: 0.0,
        }
    }
}

impl FaultPlan {
    /// A plan from `Name=value` pairs (`&` or `,` between them), as the variable, the flag and
    /// the control route write it. Unknown names and values out of range are refused with the
    /// parameter named.
    pub fn parse(text: &str) -> Result<Self, String> {
        let params = Params::from_query(&text.replace(',', "&"));
        Self::from_params(&params)
    }

    fn from_params(params: &Params) -> Result<Self, String> {
        const NAMES: [&str; 6] = [
            "Rate500",
            "Rate503",
            "Rate429",
            "RetryAfter",
            "LatencyMs",
            "RateDrop",
        ];
        if let Some(unknown) = params.names().find(|n| !NAMES.contains(n)) {
            return Err(format!(
                "unknown fault parameter '{}'; the parameters are {}",
                unknown.chars().take(40).collect::<String>(),
                NAMES.join(", ")
            ));
        }
        let share = |name: &str| -> Result<f64, String> {
            match params.get(name) {
                None => Ok(0.0),
                Some(raw) => raw
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| (0.0..=1.0).contains(v))
                    .ok_or_else(|| format!("Invalid {name}: expected a share from 0 to 1, such as 0.2 (got '{raw}')")),
            }
        };
        let whole = |name: &str, default: u64, max: u64| -> Result<u64, String> {
            match params.get(name) {
                None => Ok(default),
                Some(raw) => raw
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v <= max)
                    .ok_or_else(|| {
                        format!(
                            "Invalid {name}: expected a whole number from 0 to {max} (got '{raw}')"
                        )
                    }),
            }
        };
        let plan = FaultPlan {
            rate_500: share("Rate500")?,
            rate_503: share("Rate503")?,
            rate_429: share("Rate429")?,
            retry_after_secs: whole("RetryAfter", 1, 3600)?,
            latency_ms: whole("LatencyMs", 0, MAX_LATENCY_MS)?,
            rate_drop: share("RateDrop")?,
        };
        if plan.rate_500 + plan.rate_503 + plan.rate_429 + plan.rate_drop > 1.0 + 1e-9 {
            return Err(
                "Invalid fault plan: Rate500, Rate503, Rate429 and RateDrop together exceed 1"
                    .into(),
            );
        }
        Ok(plan)
    }
}

/// What one request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fault {
    Status500,
    Status503,
    Status429,
    Drop,
    None,
}

/// The current plan and what it did, shared by every worker.
#[derive(Debug, Default)]
pub struct Faults {
    plan: RwLock<FaultPlan>,
    requests: AtomicU64,
    injected_500: AtomicU64,
    injected_503: AtomicU64,
    injected_429: AtomicU64,
    dropped: AtomicU64,
}

/// `GET /emulator/faults`: the plan and the counts since start (or the last `DELETE`).
#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    pub plan: FaultPlan,
    /// Requests that reached `/v1`, faulted or not.
    pub requests: u64,
    pub injected_500: u64,
    pub injected_503: u64,
    pub injected_429: u64,
    pub dropped: u64,
}

impl Faults {
    pub fn set(&self, plan: FaultPlan) {
        *self.plan.write() = plan;
    }

    pub fn plan(&self) -> FaultPlan {
        self.plan.read().clone()
    }

    /// Clears the plan and the counts.
    pub fn clear(&self) {
        self.set(FaultPlan::default());
        for counter in [
            &self.requests,
            &self.injected_500,
            &self.injected_503,
            &self.injected_429,
            &self.dropped,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    pub fn report(&self) -> FaultReport {
        FaultReport {
            plan: self.plan(),
            requests: self.requests.load(Ordering::Relaxed),
            injected_500: self.injected_500.load(Ordering::Relaxed),
            injected_503: self.injected_503.load(Ordering::Relaxed),
            injected_429: self.injected_429.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn draw(&self, plan: &FaultPlan) -> Fault {
        let r: f64 = rand::rng().random();
        let mut edge = plan.rate_500;
        if r < edge {
            return Fault::Status500;
        }
        edge += plan.rate_503;
        if r < edge {
            return Fault::Status503;
        }
        edge += plan.rate_429;
        if r < edge {
            return Fault::Status429;
        }
        edge += plan.rate_drop;
        if r < edge {
            return Fault::Drop;
        }
        Fault::None
    }
}

impl Emulator {
    /// The fault plan of the REST face (see [`crate::faults`]).
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }
}

/// The middleware of the `/v1` scope.
pub async fn inject(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    let Some(emulator) = req.app_data::<web::Data<Emulator>>().cloned() else {
        return Ok(next
            .call(req)
            .await?
            .map_into_boxed_body()
            .map_into_left_body());
    };
    let faults = emulator.faults();
    faults.requests.fetch_add(1, Ordering::Relaxed);
    let plan = faults.plan();
    if plan.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(plan.latency_ms)).await;
    }
    let error = match faults.draw(&plan) {
        Fault::None => {
            return Ok(next
                .call(req)
                .await?
                .map_into_boxed_body()
                .map_into_left_body());
        }
        Fault::Drop => {
            faults.dropped.fetch_add(1, Ordering::Relaxed);
            let response = next.call(req).await?;
            return Ok(cut_short(response).await.map_into_left_body());
        }
        Fault::Status500 => {
            faults.injected_500.fetch_add(1, Ordering::Relaxed);
            ApiError::coded(
                twilio_codes::INTERNAL,
                "Internal Server Error (injected fault)",
            )
        }
        Fault::Status503 => {
            faults.injected_503.fetch_add(1, Ordering::Relaxed);
            ApiError::new(
                twilio_codes::SERVICE_UNAVAILABLE,
                503,
                "Service Unavailable (injected fault)",
            )
        }
        Fault::Status429 => {
            faults.injected_429.fetch_add(1, Ordering::Relaxed);
            ApiError::coded(
                twilio_codes::TOO_MANY_REQUESTS,
                "Too Many Requests (injected fault)",
            )
        }
    };
    let mut response = actix_web::ResponseError::error_response(&error);
    if error.code == twilio_codes::TOO_MANY_REQUESTS {
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(plan.retry_after_secs),
        );
    }
    Ok(req.into_response(response).map_into_right_body())
}

/// The processed answer with its body cut in the middle: the status and headers go out, then
/// part of the body, then the stream fails and the server closes the connection, as a network
/// failure mid-answer would.
async fn cut_short<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> ServiceResponse<BoxBody> {
    let (req, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
    let stream = futures::stream::iter([
        Ok::<Bytes, std::io::Error>(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected fault: the answer is cut short",
        )),
    ]);
    let mut cut = HttpResponse::build(head.status());
    for (name, value) in head.headers() {
        if name != actix_web::http::header::CONTENT_LENGTH {
            cut.insert_header((name.clone(), value.clone()));
        }
    }
    ServiceResponse::new(req, cut.streaming(stream))
}

/// Mounts `GET`, `POST` and `DELETE /emulator/faults` in the control scope.
pub fn resource() -> actix_web::Resource {
    web::resource("/faults")
        .route(web::get().to(show))
        .route(web::post().to(replace))
        .route(web::delete().to(clear))
}

async fn show(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse, ApiError> {
    authenticate(&req, emulator.settings())?;
    Ok(HttpResponse::Ok().json(emulator.faults().report()))
}

async fn replace(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, emulator.settings())?;
    let mut params = Params::from_query(req.query_string());
    params.extend(read_form(&req, body, emulator.settings().body_limits()).await?);
    let plan = FaultPlan::from_params(&params).map_err(ApiError::invalid)?;
    tracing::info!(?plan, "fault plan replaced");
    emulator.faults().set(plan);
    Ok(HttpResponse::Ok().json(emulator.faults().report()))
}

async fn clear(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse, ApiError> {
    authenticate(&req, emulator.settings())?;
    emulator.faults().clear();
    Ok(HttpResponse::Ok().json(emulator.faults().report()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_with_either_separator_and_name_what_is_wrong() {
        let plan = FaultPlan::parse("Rate503=0.2,Rate429=0.1&LatencyMs=50").unwrap();
        assert_eq!(plan.rate_503, 0.2);
        assert_eq!(plan.rate_429, 0.1);
        assert_eq!(plan.latency_ms, 50);
        assert_eq!(plan.retry_after_secs, 1);
        assert_eq!(FaultPlan::parse("").unwrap(), FaultPlan::default());
        assert!(FaultPlan::parse("Rate503=2")
            .unwrap_err()
            .contains("Rate503"));
        assert!(FaultPlan::parse("Rate5O3=0.1")
            .unwrap_err()
            .contains("unknown"));
        assert!(FaultPlan::parse("Rate503=0.6&Rate500=0.6")
            .unwrap_err()
            .contains("exceed 1"));
        assert!(FaultPlan::parse("LatencyMs=-1").is_err());
    }

    #[test]
    fn draws_follow_the_shares() {
        let faults = Faults::default();
        let plan = FaultPlan::parse("Rate503=0.2&Rate429=0.1").unwrap();
        let mut counts = std::collections::HashMap::new();
        for _ in 0..20_000 {
            *counts.entry(faults.draw(&plan)).or_insert(0u32) += 1;
        }
        let share = |f| f64::from(counts.get(&f).copied().unwrap_or(0)) / 20_000.0;
        assert!((share(Fault::Status503) - 0.2).abs() < 0.02, "{counts:?}");
        assert!((share(Fault::Status429) - 0.1).abs() < 0.02, "{counts:?}");
        assert_eq!(share(Fault::Status500), 0.0);
        assert_eq!(share(Fault::Drop), 0.0);
    }
}
