//! `/video-token`: ハンズオンの中心となるハンドラ / the hands-on's central handler.
//!
//! アクセストークンを発行し、参加する Room を用意します。
//! It hands out an access token and makes sure the room exists.
//!
//! - `GET  /video-token?identity=alice[&room=myroom]`
//! - `POST /video-token` with `{"identity": "alice"}` (JSON) or `identity=alice` (form);
//!   `user` is accepted in place of `identity`.
//!
//! Answer: `200 {"token": "...", "identity": "alice", "room": "myroom", "roomSid": "RM..."}`.
//!
//! 公開するときは手順0（アクセス制御）が必要です / Exposing it needs step 0, access control:
//! a passcode or a login's token, rate limits and the allowed rooms (see [`crate::access`]).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::Arc;

use serde::Serialize;
use videoroom_core::clock::Clock;
use videoroom_core::token::TokenSigner;
use videoroom_core::{Identity, RoomName};

use crate::access::Access;
use crate::error::ApiError;
use crate::params::TokenParams;
use crate::settings::RoomSettings;

/// What every token request needs, shared by all workers.
pub struct TokenState {
    /// Finds or creates rooms: cache, one backend lookup per room at a time, deadline, retries,
    /// stale-if-error and circuit breaker (see `resilience`).
    pub rooms: crate::resilience::Rooms,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Signs tokens with the configured API key.
    pub signer: TokenSigner,
    pub room: RoomSettings,
    /// The time tokens are issued at. In emulator mode this is the emulator's clock, which its
    /// control route can move forward: tokens must be minted on the same clock the emulator's
    /// signaling checks them against, or advancing it by an hour would make every new token
    /// look expired. In twilio mode it is the system clock.
    pub clock: Arc<dyn Clock>,
    /// Who may get a token, how often, for which rooms.
    pub access: Access,
}

/// The answer to a token request.
#[derive(Serialize)]
pub struct TokenResponse {
    pub token: String,
    pub identity: Identity,
    pub room: String,
    #[serde(rename = "roomSid")]
    pub room_sid: String,
}

/// `GET /video-token?identity=NAME[&room=ROOM]`
pub async fn get(req: HttpRequest, state: web::Data<TokenState>) -> Result<HttpResponse, ApiError> {
    let params = TokenParams::from_query(&req)?;
    issue(&req, params, &state).await
}

/// `POST /video-token` with a JSON or form body.
pub async fn post(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<TokenState>,
) -> Result<HttpResponse, ApiError> {
    let params = TokenParams::from_body(&req, body).await?;
    issue(&req, params, &state).await
}

async fn issue(
    req: &HttpRequest,
    params: TokenParams,
    state: &TokenState,
) -> Result<HttpResponse, ApiError> {
    // 手順0: 誰がどれだけ頼んでいるか確認 / Step 0: check who is asking, and how often
    let caller = state.access.admit(req, params.passcode.as_ref())?;

    // 手順1: ユーザー名（identity）を確認 / Step 1: check the user's name (identity)
    let identity: Identity = state.access.identity(&caller, params.identity.as_deref())?;

    // 手順2: 参加する Room の名前を決める / Step 2: decide which room to join
    let room_name = choose_room(params.room.as_deref(), &state.room)?;
    state.access.check_room(&room_name, &state.room.name)?;

    // 手順3: Room を検索し、なければ作成 / Step 3: find the room, create it if absent
    let room = state
        .rooms
        .find_or_create(&room_name)
        .await
        .map_err(|e| state.access.backend_error(e))?;

    // 手順4: その Room に入れるアクセストークンを作成 / Step 4: mint a token for that room
    let now = state.clock.now().unix_timestamp();
    let token = state.signer.mint(&identity, Some(&room.unique_name), now);
    state.metrics.token_minted();
    // DEBUG: the request log already has one INFO line per request; a second line per token
    // made the log of a busy class hundreds of megabytes.
    // The client is the forwarded one behind a trusted proxy (`server.trusted_proxies`).
    tracing::debug!(client = ?state.access.client_ip(req), identity = %identity, room = %room.unique_name, room_sid = %room.sid, "token issued");

    // 手順5: トークンと Room の情報を返す / Step 5: answer with the token and the room
    let answer = TokenResponse {
        token,
        identity,
        room: room.unique_name.clone(),
        room_sid: room.sid.as_str().to_owned(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .content_type(header::ContentType::json())
        .body(answer.to_json()))
}

impl TokenResponse {
    /// The answer's JSON text: the bytes `serde_json` writes for this struct (a test compares
    /// them), without its escape scan of the token, which is most of the answer and which
    /// JSON never escapes (a token is ASCII base64url and dots, see `TokenSigner::mint`).
    /// Measured, the serializer spent about 0.5 µs a request on that scan and on growing its
    /// buffer; this is one allocation and a copy.
    fn to_json(&self) -> Vec<u8> {
        debug_assert!(
            self.token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
            "a minted token is base64url and dots"
        );
        let mut body = Vec::with_capacity(
            self.token.len()
                + self.identity.as_str().len()
                + self.room.len()
                + self.room_sid.len()
                + 64,
        );
        body.extend_from_slice(b"{\"token\":\"");
        body.extend_from_slice(self.token.as_bytes());
        body.extend_from_slice(b"\",\"identity\":");
        json_string(&mut body, self.identity.as_str());
        body.extend_from_slice(b",\"room\":");
        json_string(&mut body, &self.room);
        body.extend_from_slice(b",\"roomSid\":");
        json_string(&mut body, &self.room_sid);
        body.push(b'}');
        body
    }
}

/// Appends `value` as a JSON string, quoted and escaped as `serde_json` writes it.
fn json_string(out: &mut Vec<u8>, value: &str) {
    serde_json::to_writer(out, value).expect("writing a string into a Vec cannot fail");
}

/// The configured room, or the one the request names when configuration allows it.
fn choose_room(requested: Option<&str>, settings: &RoomSettings) -> Result<RoomName, ApiError> {
    // An empty `room` (a blank form field) means "not given".
    let Some(requested) = requested.filter(|r| !r.is_empty()) else {
        return Ok(settings.name.clone());
    };
    let name = RoomName::parse(requested).map_err(|e| ApiError::invalid_room(&e))?;
    if name != settings.name && !settings.allow_param {
        return Err(ApiError::RoomChoiceDisabled {
            configured: settings.name.to_string(),
        });
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::TokenResponse;
    use videoroom_core::Identity;

    #[test]
    fn the_answer_is_the_json_the_serializer_writes() {
        let identities = [
            "alice",
            "会議室の\u{1F600}",
            "quote\" and \\ and /",
            "<b>&amp;</b> \u{a0}nbsp",
        ];
        let rooms = [
            "DailyStandup",
            "a \"quoted\" room",
            "会議室",
            "tab\tand\nline",
        ];
        for identity in identities {
            for room in rooms {
                let answer = TokenResponse {
                    token: "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJTSy0xIn0.abc-_XYZ09".to_owned(),
                    identity: Identity::parse(identity).expect("a valid identity"),
                    room: room.to_owned(),
                    room_sid: "RM0123456789abcdef0123456789abcdef".to_owned(),
                };
                let serialized = serde_json::to_vec(&answer).expect("the answer serializes");
                assert_eq!(
                    String::from_utf8(answer.to_json()).expect("UTF-8"),
                    String::from_utf8(serialized).expect("UTF-8"),
                );
            }
        }
    }
}
