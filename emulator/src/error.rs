//! Twilio's error body, and the handlers that make every failure of the emulator's HTTP face
//! look like one.
//!
//! Twilio answers every failure with `{"code","message","more_info","status"}` and the official
//! client libraries read exactly those fields, so a framework error page (plain text from an
//! extractor, an HTML 404, a 500) would surface in a student's program as an unreadable
//! exception. Everything under `/v1` and `/emulator` therefore goes through [`ApiError`], and
//! [`twilio_shaped`] rewrites whatever slipped past it (actix's own extractor and payload
//! errors) into the same shape.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use videoroom_core::twilio_codes;
use videoroom_emulator_adapter::StoreError;

/// A failure as Twilio reports it. Serializes to Twilio's body, fields in Twilio's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message} ({code})")]
pub struct ApiError {
    pub code: u32,
    pub message: String,
    pub more_info: String,
    pub status: u16,
}

/// The HTTP status Twilio answers an error code with. Every code the store and the REST face
/// produce is answered through this one table; only the framework's own failures (a body over
/// the size limit, a payload error) keep the status actix gave them, see [`ApiError::new`].
pub fn http_status(code: u32) -> u16 {
    match code {
        twilio_codes::AUTHENTICATE => 401,
        twilio_codes::FORBIDDEN => 403,
        // 53106 is what signaling sends when a client connects to no room; the control route
        // that joins a simulated participant answers it the same way, as a missing room.
        twilio_codes::NOT_FOUND | twilio_codes::ROOM_NOT_FOUND => 404,
        twilio_codes::METHOD_NOT_ALLOWED => 405,
        twilio_codes::TOO_MANY_REQUESTS => 429,
        twilio_codes::INTERNAL => 500,
        // Every other code is a refused parameter or state: Twilio's 400.
        _ => 400,
    }
}

impl ApiError {
    /// An error with an explicit HTTP status, for the few answers whose status is not the one
    /// [`http_status`] gives their code (20001 with 413 for an oversized body, framework errors).
    pub fn new(code: u32, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            more_info: twilio_codes::more_info(code),
            status,
        }
    }

    /// An error with a code from [`twilio_codes`], answered with the status Twilio gives it.
    pub fn coded(code: u32, message: impl Into<String>) -> Self {
        Self::new(code, http_status(code), message)
    }

    /// 401 "Authenticate" (20003), exactly as Twilio sends it.
    pub fn authenticate() -> Self {
        Self::coded(twilio_codes::AUTHENTICATE, "Authenticate")
    }

    /// A 400 with code 20001 and the given message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::coded(twilio_codes::INVALID_PARAMETER, message)
    }

    /// 20001 "Missing required parameter X in the post body", Twilio's exact words.
    pub fn missing_parameter(name: &str) -> Self {
        Self::invalid(format!(
            "Missing required parameter {name} in the post body"
        ))
    }

    /// 20404 for a path as the client sent it; the message names it without `/v1`, as
    /// Twilio's does.
    pub fn not_found(path: &str) -> Self {
        let shown = path.strip_prefix("/v1").unwrap_or(path);
        let shown = if shown.is_empty() { "/" } else { shown };
        Self::coded(
            twilio_codes::NOT_FOUND,
            format!("The requested resource {shown} was not found"),
        )
    }

    /// 405 (20004) for a method the resource does not support.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::coded(
            twilio_codes::METHOD_NOT_ALLOWED,
            format!("Method not allowed: {method} is not supported on {path}"),
        )
    }

    /// The error Twilio-shaped for a status code only (used for framework errors).
    fn for_status(status: StatusCode, path: &str, detail: &str) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::not_found(path),
            StatusCode::METHOD_NOT_ALLOWED => Self::coded(
                twilio_codes::METHOD_NOT_ALLOWED,
                format!("Method not allowed on {path}"),
            ),
            StatusCode::UNAUTHORIZED => Self::authenticate(),
            s if s.is_client_error() => {
                let message = if detail.trim().is_empty() {
                    s.canonical_reason().unwrap_or("Bad request").to_owned()
                } else {
                    format!("Invalid request: {}", detail.trim())
                };
                Self::new(twilio_codes::INVALID_PARAMETER, s.as_u16(), message)
            }
            s => Self::new(
                twilio_codes::INTERNAL,
                s.as_u16(),
                "The emulator failed to process the request",
            ),
        }
    }
}

/// The store's refusal, with the HTTP status of its code.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::coded(err.code, err.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        HttpResponse::build(self.status_code()).json(self)
    }
}

/// actix's extractor errors (JSON, form, query, path), turned into Twilio's 400.
pub fn extractor_error(err: impl std::fmt::Display, _req: &HttpRequest) -> actix_web::Error {
    ApiError::invalid(format!("Invalid request: {err}")).into()
}

/// A scope whose extractor failures (form, JSON, query, path) answer with Twilio's 400 instead
/// of actix's plain text. `/v1` and `/emulator` both start from it, then add [`twilio_shaped`].
pub fn twilio_scope(path: &str) -> actix_web::Scope {
    web::scope(path)
        .app_data(web::FormConfig::default().error_handler(extractor_error))
        .app_data(web::JsonConfig::default().error_handler(extractor_error))
        .app_data(web::QueryConfig::default().error_handler(extractor_error))
        .app_data(web::PathConfig::default().error_handler(extractor_error))
}

/// Middleware for the emulator's scopes: every 4xx/5xx response that is not already Twilio's
/// JSON (actix's payload errors, a handler's plain-text error) gets Twilio's body, with the
/// status kept. Responses the handlers produced through [`ApiError`] pass untouched.
pub fn twilio_shaped<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_json = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let path = res.request().path().to_owned();
        // The framework's own message (e.g. "Payload reached size limit.") helps the user; it
        // never carries request data beyond what the user sent.
        let detail = res
            .response()
            .error()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let body = ApiError::for_status(status, &path, &detail);
        let (req, mut res) = res.into_parts();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let json =
            serde_json::to_string(&body).expect("an ApiError is strings and numbers, always JSON");
        let res = res.set_body(json);
        let res = ServiceResponse::new(req, res)
            .map_into_boxed_body()
            .map_into_right_body();
        Ok(ErrorHandlerResponse::Response(res))
    })
}

/// The body type [`twilio_shaped`] produces.
pub type ShapedBody<B> = EitherBody<B, BoxBody>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticate_is_exactly_twilios_body() {
        let json = serde_json::to_string(&ApiError::authenticate()).unwrap();
        assert_eq!(
            json,
            r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#
        );
    }

    #[test]
    fn not_found_names_the_path_without_the_version() {
        let err = ApiError::not_found("/v1/Rooms/nope");
        assert_eq!(
            err.message,
            "The requested resource /Rooms/nope was not found"
        );
        assert_eq!((err.code, err.status), (20404, 404));
    }

    #[test]
    fn store_errors_keep_code_status_and_message() {
        let err = ApiError::from(StoreError::new(53113, "Room exists"));
        assert_eq!((err.code, err.status), (53113, 400));
        assert_eq!(err.message, "Room exists");
        assert_eq!(err.more_info, "https://www.twilio.com/docs/errors/53113");
    }

    /// The statuses the store's own tests asserted beside each code, before the HTTP status
    /// left `StoreError` for [`http_status`].
    #[test]
    fn every_store_code_gets_twilios_http_status() {
        for (code, status) in [
            (20404, 404),
            (53106, 404),
            (20001, 400),
            (21481, 400),
            (53102, 400),
            (53105, 400),
            (53107, 400),
            (53109, 400),
            (53110, 400),
            (53111, 400),
            (53112, 400),
            (53113, 400),
            (53114, 400),
            (53115, 400),
            (53124, 400),
            (53203, 400),
            (53209, 400),
            (53300, 400),
            (53302, 400),
            (53303, 400),
            (53304, 400),
        ] {
            let err = ApiError::from(StoreError::new(code, "m"));
            assert_eq!((err.code, err.status), (code, status), "code {code}");
        }
        assert_eq!(ApiError::authenticate().status, 401);
        assert_eq!(ApiError::method_not_allowed("PUT", "/v1/Rooms").status, 405);
    }

    #[actix_web::test]
    async fn framework_errors_and_plain_text_failures_are_rewritten_in_twilios_shape() {
        use actix_web::{test, web, App};
        let app = test::init_service(
            App::new()
                .wrap(twilio_shaped())
                .route(
                    "/v1/plain",
                    web::get().to(|| async { HttpResponse::BadRequest().body("plain text") }),
                )
                .route(
                    "/v1/form",
                    web::post().to(
                        |_: web::Form<std::collections::HashMap<String, u32>>| async {
                            HttpResponse::Ok().finish()
                        },
                    ),
                )
                .route(
                    "/v1/ours",
                    web::get().to(|| async { Err::<HttpResponse, _>(ApiError::authenticate()) }),
                ),
        )
        .await;

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/v1/plain").to_request()).await;
        assert_eq!(res.status(), 400);
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["code"], 20001);
        assert_eq!(body["status"], 400);

        let req = test::TestRequest::post()
            .uri("/v1/form")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("n=not-a-number")
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(res.status(), 400);
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(body["code"], 20001);
        assert!(body["more_info"].as_str().unwrap().ends_with("/20001"));

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/v1/ours").to_request()).await;
        let body: serde_json::Value = test::read_body_json(res).await;
        assert_eq!(
            body,
            serde_json::to_value(ApiError::authenticate()).unwrap()
        );
    }

    #[test]
    fn a_framework_server_error_keeps_its_status_but_gets_twilios_shape() {
        let err = ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR, "/v1/Rooms", "boom");
        assert_eq!((err.code, err.status), (20500, 500));
        assert!(
            !err.message.contains("boom"),
            "internal causes are not sent"
        );
    }
}
