//! The one error type of the HTTP API, and the JSON shape every error is sent in:
//! `{"error": {"code": "<stable_snake_case>", "message": "<what is wrong and how to fix it>"}}`.
//!
//! Each variant knows its status, its stable code and its public message. Internal causes
//! (a backend's own message, for instance) are logged, never sent: a client sees what it can
//! act on and nothing that could carry a secret or an upstream body.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use videoroom_core::{BackendError, IdentityError, RoomNameError};

/// Largest request body `/video-token` accepts (16 KiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("the identity parameter is missing; send it as ?identity=NAME, a JSON body {{\"identity\": \"NAME\"}} or a form field identity=NAME")]
    MissingIdentity,
    #[error("{0}")]
    InvalidIdentity(String),
    #[error("{0}")]
    InvalidRoom(String),
    #[error("this server only hands out tokens for the room '{configured}'; choosing a room with the room parameter is disabled (VIDEOROOM_ALLOW_ROOM_PARAM=false)")]
    RoomChoiceDisabled { configured: String },
    #[error("the parameter '{0}' was given more than once with different values; send it once")]
    AmbiguousParameter(String),
    #[error("{0}")]
    InvalidEncoding(String),
    #[error("{0}")]
    MalformedBody(String),
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes; a token request is a few bytes of JSON or form data")]
    PayloadTooLarge,
    #[error("the request body did not arrive within {} seconds; send the whole body at once", .0.as_secs())]
    BodyTooSlow(Duration),
    #[error(
        "unsupported content type {0}; send application/json (with fetch, add headers: \
         {{\"Content-Type\": \"application/json\"}}) or application/x-www-form-urlencoded"
    )]
    UnsupportedMediaType(String),
    #[error("{method} is not allowed here; use {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("nothing here at {0}; the token service is GET or POST /video-token")]
    NotFound(String),
    #[error("too many requests in progress from this address (at most {limit}); wait for some to finish and try again")]
    TooManyRequests { limit: usize },
    #[error("the video backend is unavailable right now; try again in a moment")]
    BackendUnavailable,
    #[error("the video backend is rate limiting this server; try again in a moment")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the video backend refused this server's credentials; the operator should run `videoroom check`")]
    BackendUnauthorized,
    #[error("the video backend refused the request (Twilio error {code}); see https://www.twilio.com/docs/api/errors/{code}")]
    BackendRejected { code: u32 },
    #[error("the video backend failed unexpectedly; the server log has the details")]
    BackendFailed,
    // Access control (issue 13, `crate::access`).
    #[error("{message}")]
    Unauthorized {
        /// The `WWW-Authenticate` scheme: `Passcode` or `Bearer`.
        scheme: &'static str,
        message: &'static str,
    },
    #[error("too many token requests from this client; wait {} seconds and try again", retry_secs(.retry_after.to_owned()))]
    ClientRateLimited { retry_after: Duration },
    #[error("the identity is set by your login's token; leave identity out of the request or send the same one")]
    IdentityMismatch,
    #[error("this server does not hand out tokens for the room '{0}'; the rooms it allows are set by room.allowed (VIDEOROOM_ALLOWED_ROOMS)")]
    RoomNotAllowed(String),
    #[error("this server has created as many rooms as it may this minute; wait {} seconds and try again, or join an existing room", retry_secs(.retry_after.to_owned()))]
    RoomCreationLimited { retry_after: Duration },
    // Resilience (issue 13, `crate::resilience`).
    #[error("the video backend is failing, so this server is not calling it for a moment; try again after the Retry-After delay")]
    CircuitOpen { retry_after: Duration },
    #[error("the video backend did not answer within {} seconds; try again in a moment", .0.as_secs())]
    BackendTimeout(Duration),
}

/// Whole seconds to wait, rounded up so a client never retries too early, and at least 1.
pub fn retry_secs(after: Duration) -> u64 {
    (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1)
}

impl ApiError {
    /// The stable, snake_case code clients and tests match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingIdentity => "missing_identity",
            ApiError::InvalidIdentity(_) => "invalid_identity",
            ApiError::InvalidRoom(_) => "invalid_room",
            ApiError::RoomChoiceDisabled { .. } => "room_choice_disabled",
            ApiError::AmbiguousParameter(_) => "ambiguous_parameter",
            ApiError::InvalidEncoding(_) => "invalid_encoding",
            ApiError::MalformedBody(_) => "malformed_body",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::BodyTooSlow(_) => "request_timeout",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::NotFound(_) => "not_found",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::BackendUnavailable => "backend_unavailable",
            ApiError::RateLimited { .. } => "backend_rate_limited",
            ApiError::BackendUnauthorized => "backend_unauthorized",
            ApiError::BackendRejected { .. } => "backend_rejected",
            ApiError::BackendFailed => "backend_error",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::ClientRateLimited { .. } => "rate_limited",
            ApiError::IdentityMismatch => "identity_mismatch",
            ApiError::RoomNotAllowed(_) => "room_not_allowed",
            ApiError::RoomCreationLimited { .. } => "room_creation_limited",
            ApiError::CircuitOpen { .. } => "backend_unavailable",
            ApiError::BackendTimeout(_) => "backend_timeout",
        }
    }

    pub fn invalid_identity(e: &IdentityError) -> Self {
        ApiError::InvalidIdentity(e.to_string())
    }

    pub fn invalid_room(e: &RoomNameError) -> Self {
        ApiError::InvalidRoom(e.to_string())
    }
}

impl From<BackendError> for ApiError {
    /// Maps a backend failure to what the caller can act on. The backend's own message is
    /// logged here and dropped: it may quote an upstream body.
    fn from(e: BackendError) -> Self {
        tracing::warn!(error = %e, "backend request failed");
        match e {
            BackendError::Unavailable(_) => ApiError::BackendUnavailable,
            BackendError::RateLimited { retry_after } => ApiError::RateLimited { retry_after },
            BackendError::Unauthorized => ApiError::BackendUnauthorized,
            BackendError::Invalid { code, .. } => ApiError::BackendRejected { code },
            // Find-or-create handles NotFound and RoomExists itself; seeing one here means the
            // room vanished between two calls, which a retry resolves like an outage.
            BackendError::NotFound | BackendError::RoomExists => ApiError::BackendUnavailable,
            BackendError::Other(_) => ApiError::BackendFailed,
        }
    }
}

#[derive(serde::Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(serde::Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MissingIdentity
            | ApiError::InvalidIdentity(_)
            | ApiError::InvalidRoom(_)
            | ApiError::AmbiguousParameter(_)
            | ApiError::InvalidEncoding(_)
            | ApiError::MalformedBody(_) => StatusCode::BAD_REQUEST,
            ApiError::RoomChoiceDisabled { .. } => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BackendUnavailable
            | ApiError::RateLimited { .. }
            | ApiError::CircuitOpen { .. }
            | ApiError::BackendTimeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BackendUnauthorized
            | ApiError::BackendRejected { .. }
            | ApiError::BackendFailed => StatusCode::BAD_GATEWAY,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::IdentityMismatch | ApiError::RoomNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::ClientRateLimited { .. } | ApiError::RoomCreationLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self {
            ApiError::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            ApiError::RateLimited {
                retry_after: Some(after),
            }
            | ApiError::CircuitOpen { retry_after: after } => {
                // Retry-After is whole seconds; round up so a client never retries too early.
                response.insert_header((header::RETRY_AFTER, retry_secs(*after)));
            }
            ApiError::Unauthorized { scheme, .. } => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme)));
            }
            ApiError::ClientRateLimited { retry_after }
            | ApiError::RoomCreationLimited { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_secs(*retry_after)));
            }
            _ => {}
        }
        response.json(Body {
            error: Inner {
                code: self.code(),
                message: self.to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_failures_map_to_retryable_or_gateway_statuses() {
        let cases = [
            (
                BackendError::Unavailable("timeout".into()),
                503,
                "backend_unavailable",
            ),
            (
                BackendError::RateLimited { retry_after: None },
                503,
                "backend_rate_limited",
            ),
            (BackendError::Unauthorized, 502, "backend_unauthorized"),
            (
                BackendError::Invalid {
                    code: 53101,
                    message: "x".into(),
                },
                502,
                "backend_rejected",
            ),
            (BackendError::Other("??".into()), 502, "backend_error"),
        ];
        for (backend, status, code) in cases {
            let api = ApiError::from(backend);
            assert_eq!(api.status_code().as_u16(), status);
            assert_eq!(api.code(), code);
        }
    }

    #[test]
    fn a_backend_message_is_never_part_of_the_public_message() {
        let api = ApiError::from(BackendError::Invalid {
            code: 20001,
            message: "upstream says password=hunter2".into(),
        });
        assert!(!api.to_string().contains("hunter2"));
        let api = ApiError::from(BackendError::Unavailable("secret-host:443".into()));
        assert!(!api.to_string().contains("secret-host"));
    }
}
