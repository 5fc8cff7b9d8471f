//! The backend port: what the token service needs from "something that holds rooms".
//!
//! Two adapters implement it: `videoroom-twilio-adapter` (Twilio's REST API over HTTP) and
//! `videoroom-emulator-adapter` (an in-memory store with Twilio's semantics). The behaviour
//! both must share is pinned by the [`contract`](crate::contract) suite.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::room::{Room, RoomName, RoomNameError, RoomSpec, RoomStatus};
use crate::sid::RoomSid;
use crate::twilio_codes;

/// How a room is addressed: by SID (any status) or by unique name (in-progress rooms only,
/// as Twilio resolves `GET /v1/Rooms/{UniqueName}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RoomKey {
    Sid(RoomSid),
    Name(RoomName),
}

impl RoomKey {
    /// Reads a room reference as Twilio's REST paths and the SDK's `connect` write it: text
    /// shaped like a room SID (`RM` and 32 hex digits) is a SID, anything else a unique name.
    /// Callers parse once, at their edge; what they do with a name that is not valid (a 404, a
    /// refused join) is theirs to say.
    pub fn parse(s: &str) -> Result<Self, RoomNameError> {
        match RoomSid::parse(s) {
            Ok(sid) => Ok(Self::Sid(sid)),
            Err(_) => RoomName::parse(s).map(Self::Name),
        }
    }

    /// The path segment that addresses the room in Twilio's REST API.
    pub fn as_path_segment(&self) -> &str {
        match self {
            RoomKey::Sid(sid) => sid.as_str(),
            RoomKey::Name(name) => name.as_str(),
        }
    }
}

/// Filters and paging of a room listing (Twilio's `GET /v1/Rooms`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomQuery {
    /// `None` means Twilio's default, `in-progress`.
    pub status: Option<RoomStatus>,
    pub unique_name: Option<String>,
    /// Rooms created at or after this time.
    pub created_after: Option<OffsetDateTime>,
    /// Rooms created strictly before this time.
    pub created_before: Option<OffsetDateTime>,
    /// 1 to 1000; `None` means Twilio's default, 50.
    pub page_size: Option<u32>,
    /// The opaque cursor from a previous page's [`RoomPage::next_page`].
    pub page_token: Option<String>,
}

/// One page of rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPage {
    pub rooms: Vec<Room>,
    /// Opaque cursor for the next page (pass it back as [`RoomQuery::page_token`]); `None` on
    /// the last page.
    pub next_page: Option<String>,
}

/// What went wrong talking to a backend, in the terms callers act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No such room ([`NOT_FOUND`](twilio_codes::NOT_FOUND)), or the name belongs to no
    /// in-progress room.
    #[error("room not found")]
    NotFound,
    /// An in-progress room already has this unique name.
    #[error(
        "a room with this unique name is already in progress ({})",
        twilio_codes::ROOM_EXISTS
    )]
    RoomExists,
    /// The backend is throttling us; try again after the given delay if known.
    #[error("rate limited by the backend ({})", twilio_codes::TOO_MANY_REQUESTS)]
    RateLimited { retry_after: Option<Duration> },
    /// The credentials were refused.
    #[error("the backend refused the credentials ({})", twilio_codes::AUTHENTICATE)]
    Unauthorized,
    /// The backend refused the request's values, with its code and message.
    #[error("the backend refused the request ({code}): {message}")]
    Invalid { code: u32, message: String },
    /// The backend could not be reached or failed on its side (transport error, timeout, 5xx).
    #[error("the backend is unavailable: {0}")]
    Unavailable(String),
    /// Anything else (an answer we could not understand, for instance).
    #[error("unexpected backend failure: {0}")]
    Other(String),
}

/// A store of video rooms with Twilio's semantics.
// `automock` must come before `async_trait` so the mock's expectations return plain values
// rather than the boxed futures `async_trait` generates.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RoomBackend: Send + Sync {
    /// Creates an in-progress room; [`BackendError::RoomExists`] when the name is taken.
    async fn create_room(&self, spec: &RoomSpec) -> Result<Room, BackendError>;

    /// Fetches a room by SID (any status) or by unique name (in-progress only).
    async fn fetch_room(&self, key: &RoomKey) -> Result<Room, BackendError>;

    /// Lists rooms, one page at a time.
    async fn list_rooms(&self, query: &RoomQuery) -> Result<RoomPage, BackendError>;

    /// Completes an in-progress room, disconnecting its participants and freeing its name.
    async fn complete_room(&self, key: &RoomKey) -> Result<Room, BackendError>;
}
