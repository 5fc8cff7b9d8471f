//! `GET /healthz`: the body both binaries answer, `{"backend":"emulator","status":"ok"}` from
//! `videoroom-emulator` as from `videoroom` in emulator mode, so one readiness probe (a CI
//! job's wait loop, a container's health check) works against either.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::ApiError;

/// The body of `GET /healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Health {
    // In this order, the bytes are `videoroom`'s too (its `json!` object sorts its keys).
    /// Where rooms live: `emulator` or `twilio`.
    pub backend: &'static str,
    pub status: &'static str,
}

impl Health {
    /// A server that answers, with its backend.
    pub fn ok(backend: &'static str) -> Self {
        Self {
            status: "ok",
            backend,
        }
    }
}

/// Mounts `GET /healthz` for the standalone emulator (other methods get Twilio's 405, as every
/// other route of this binary). `videoroom` mounts its own, with the same [`Health`] body.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(web::to(wrong_method)),
    );
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health::ok("emulator"))
}

async fn wrong_method(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::method_not_allowed(
        req.method().as_str(),
        req.path(),
    ))
}
