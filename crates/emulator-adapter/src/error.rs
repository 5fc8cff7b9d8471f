//! Twilio's error values, as the store produces them.

use std::fmt;

use videoroom_core::{IdentityError, RoomNameError, UnknownValue};

/// A refusal in Twilio's terms: the error `code`, the HTTP `status` Twilio answers with, and a
/// human-readable `message` (Twilio's own words, with a detail appended where that helps).
///
/// The REST face turns it into `{"code","message","more_info","status"}`; signaling sends the
/// `code` to the SDK; the port adapter maps it onto [`videoroom_core::BackendError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct StoreError {
    pub code: u32,
    pub status: u16,
    pub message: String,
}

impl StoreError {
    /// An error with an explicit code, status and message.
    pub fn new(code: u32, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
        }
    }

    /// A 400 with the given code.
    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(code, 400, message)
    }

    /// 20404 for a REST path (without `/v1`), e.g. `/Rooms/myroom`:
    /// "The requested resource /Rooms/myroom was not found".
    pub fn not_found(path: impl fmt::Display) -> Self {
        Self::new(
            20404,
            404,
            format!("The requested resource {path} was not found"),
        )
    }

    /// `https://www.twilio.com/docs/errors/<code>`, the `more_info` of Twilio's error body.
    pub fn more_info(&self) -> String {
        format!("https://www.twilio.com/docs/errors/{}", self.code)
    }

    /// Whether this is a "not found" (20404).
    pub fn is_not_found(&self) -> bool {
        self.code == codes::NOT_FOUND
    }

    /// 53108 "RoomType is not valid", for a `Type` that is not a room type.
    pub fn invalid_room_type(err: &UnknownValue) -> Self {
        Self::bad_request(
            codes::ROOM_TYPE_INVALID,
            format!("RoomType is not valid: {err}"),
        )
    }
}

/// A room name refused by [`videoroom_core::RoomName::parse`]: 53100, 53101 or 53102.
impl From<RoomNameError> for StoreError {
    fn from(err: RoomNameError) -> Self {
        let what = match err {
            RoomNameError::TooLong(_) => "Room name is too long",
            RoomNameError::ControlCharacter(_) | RoomNameError::ReservedCharacter(_) => {
                "Room name contains invalid characters"
            }
            RoomNameError::Empty => "Room name is invalid",
        };
        Self::bad_request(err.twilio_code(), format!("{what}: {err}"))
    }
}

/// An identity refused by [`videoroom_core::Identity::parse`]: 53200, 53201 or 53202.
impl From<IdentityError> for StoreError {
    fn from(err: IdentityError) -> Self {
        let what = match err {
            IdentityError::Empty => "Participant identity is invalid",
            IdentityError::TooLong(_) => "Participant identity is too long",
            IdentityError::ControlCharacter(_) => {
                "Participant identity contains invalid characters"
            }
        };
        Self::bad_request(err.twilio_code(), format!("{what}: {err}"))
    }
}

/// The Twilio codes the store uses, named.
pub mod codes {
    /// Invalid or missing parameter value (used for `PageSize` and `VideoCodecs`).
    pub const INVALID_PARAMETER: u32 = 20001;
    /// The resource does not exist (HTTP 404).
    pub const NOT_FOUND: u32 = 20404;
    /// A `PageToken` the store did not issue.
    pub const INVALID_PAGE_TOKEN: u32 = 21481;
    /// Ad-hoc room creation failed.
    pub const ROOM_CREATE_FAILED: u32 = 53103;
    /// The room is full (the SDK's "Room contains too many Participants").
    pub const ROOM_FULL: u32 = 53105;
    /// No in-progress room to connect to (the SDK's "Room not found").
    pub const ROOM_NOT_FOUND: u32 = 53106;
    /// `MaxParticipants` outside 1 to the type's cap.
    pub const MAX_PARTICIPANTS_OUT_OF_RANGE: u32 = 53107;
    /// `Type` is not a room type.
    pub const ROOM_TYPE_INVALID: u32 = 53108;
    /// A timeout (`EmptyRoomTimeout`, `UnusedRoomTimeout`, `MaxParticipantDuration`) out of range.
    pub const TIMEOUT_OUT_OF_RANGE: u32 = 53109;
    /// `StatusCallbackMethod` is neither GET nor POST.
    pub const STATUS_CALLBACK_METHOD_INVALID: u32 = 53110;
    /// `StatusCallback` is not an absolute http(s) URL, or is too long.
    pub const STATUS_CALLBACK_INVALID: u32 = 53111;
    /// A room update to anything but `completed`, or of a room that is not in progress.
    pub const ROOM_STATUS_INVALID: u32 = 53112;
    /// An in-progress room already has this unique name.
    pub const ROOM_EXISTS: u32 = 53113;
    /// A creation parameter the room type does not support.
    pub const PARAMETER_INCOMPATIBLE_WITH_TYPE: u32 = 53114;
    /// `MediaRegion` is not one of Twilio's regions.
    pub const MEDIA_REGION_INVALID: u32 = 53115;
    /// The room completed (what the SDK shows when a room is completed under it).
    pub const ROOM_COMPLETED: u32 = 53118;
    /// `AudioOnly` on a room type that does not support it.
    pub const AUDIO_ONLY_UNSUPPORTED: u32 = 53124;
    /// The room's `max_concurrent_published_tracks` is reached.
    pub const ROOM_TRACK_LIMIT_REACHED: u32 = 53203;
    /// The participant was disconnected because the same identity connected again.
    pub const DUPLICATE_IDENTITY: u32 = 53205;
    /// A participant update to anything but `disconnected`.
    pub const PARTICIPANT_STATUS_INVALID: u32 = 53209;
    /// The track is invalid.
    pub const TRACK_INVALID: u32 = 53300;
    /// The track name is too long (over 128 characters).
    pub const TRACK_NAME_TOO_LONG: u32 = 53302;
    /// The track name contains invalid characters.
    pub const TRACK_NAME_INVALID_CHARACTERS: u32 = 53303;
    /// Another track of the participant has this name.
    pub const TRACK_NAME_DUPLICATED: u32 = 53304;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_path_without_the_version_prefix() {
        let err = StoreError::not_found("/Rooms/myroom");
        assert_eq!(err.code, 20404);
        assert_eq!(err.status, 404);
        assert_eq!(
            err.message,
            "The requested resource /Rooms/myroom was not found"
        );
        assert_eq!(err.more_info(), "https://www.twilio.com/docs/errors/20404");
    }

    #[test]
    fn room_name_errors_keep_their_twilio_codes() {
        let err = StoreError::from(videoroom_core::RoomName::parse("a/b").unwrap_err());
        assert_eq!((err.code, err.status), (53102, 400));
        assert!(err
            .message
            .starts_with("Room name contains invalid characters"));
    }
}
