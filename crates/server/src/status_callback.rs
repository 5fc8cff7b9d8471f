//! `POST /twilio/status-callback`: Twilio's room events, so the room cache forgets ended rooms
//! at once instead of at the end of their TTL (issue 13).
//!
//! Mounted when `twilio.public_url` is set; rooms this service creates then carry
//! `StatusCallback = {public_url}/twilio/status-callback`. Only requests whose
//! `X-Twilio-Signature` verifies with the account's auth token over that URL and the form's
//! parameters are accepted (Twilio's scheme: HMAC-SHA1, base64; the same function the emulator
//! signs with). Anything else gets 403 and a log line without the body: a forged callback must
//! not be able to evict rooms, nor fill the log. The answer is immediate (204): Twilio waits
//! for it, and nothing here is slow.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq as _;
use videoroom_core::{RoomName, RoomSid};

use crate::resilience::RoomCache;

/// The route's path, appended to `twilio.public_url`.
pub const PATH: &str = "/twilio/status-callback";
/// Twilio's callback forms are a few hundred bytes; anything much larger is not one.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the route needs.
pub struct CallbackState {
    /// `{public_url}/twilio/status-callback`: the URL Twilio signs (as it was given to Twilio,
    /// not as a proxy may have rewritten it on the way here).
    pub url: String,
    pub auth_token: SecretString,
    /// The room cache, if caching is on.
    pub cache: Option<Arc<RoomCache>>,
}

/// Mounts the route on `cfg`.
pub fn configure(state: web::Data<CallbackState>, cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(PATH)
            .app_data(state)
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route(web::post().to(receive)),
    );
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<CallbackState>,
) -> HttpResponse {
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return forbidden("the body is not a form");
    };
    let Some(given) = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return forbidden("no X-Twilio-Signature header");
    };
    let url = match req.query_string() {
        "" => state.url.clone(),
        query => format!("{}?{query}", state.url),
    };
    let expected =
        videoroom_emulator::callbacks::signature(state.auth_token.expose_secret(), &url, &params);
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return forbidden("the X-Twilio-Signature does not verify with the auth token");
    }
    let value = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let event = value("StatusCallbackEvent").unwrap_or_default();
    tracing::debug!(event, "status callback");
    if event == "room-ended" {
        let room = value("RoomName").and_then(|n| RoomName::parse(n).ok());
        let sid = value("RoomSid").and_then(|s| RoomSid::parse(s).ok());
        if let (Some(cache), Some(room), Some(sid)) = (&state.cache, room, sid) {
            if cache.evict_room(&room, &sid) {
                tracing::info!(room = %room, room_sid = %sid, "room ended: dropped from the cache");
            }
        }
    }
    HttpResponse::NoContent().finish()
}

/// 403 in our JSON shape; the reason is logged, the body never.
fn forbidden(reason: &'static str) -> HttpResponse {
    tracing::warn!(reason, "status callback refused");
    HttpResponse::Forbidden()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(serde_json::json!({
            "error": {
                "code": "invalid_signature",
                "message": "this route accepts only Twilio's status callbacks, signed with the account's auth token (X-Twilio-Signature)",
            }
        }))
}
