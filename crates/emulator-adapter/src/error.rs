//! Twilio's error values, as the store produces them.

use std::fmt;

use videoroom_core::{twilio_codes, IdentityError, RoomNameError, UnknownValue};

/// A refusal in Twilio's terms: the error `code` and a human-readable `message` (Twilio's own
/// words, with a detail appended where that helps).
///
/// The HTTP status is not the store's business: the emulator's REST face maps the code to the
/// status Twilio answers with (one table, in `videoroom_emulator::error`) and sends
/// `{"code","message","more_info","status"}`; signaling sends the `code` to the SDK; the port
/// adapter maps it onto [`videoroom_core::BackendError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct StoreError {
    pub code: u32,
    pub message: String,
}

impl StoreError {
    /// An error with a code from [`videoroom_core::twilio_codes`] and a message.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// 20404 for a REST path (without `/v1`), e.g. `/Rooms/myroom`:
    /// "The requested resource /Rooms/myroom was not found".
    pub fn not_found(path: impl fmt::Display) -> Self {
        Self::new(
            twilio_codes::NOT_FOUND,
            format!("The requested resource {path} was not found"),
        )
    }

    /// 20404 for a room reference that names no room, as the client wrote it.
    pub fn room_not_found(room: &str) -> Self {
        Self::not_found(format_args!("/Rooms/{room}"))
    }

    /// 20404 for a participant reference that names nobody in the room, as the client wrote
    /// both.
    pub fn participant_not_found(room: &str, participant: &str) -> Self {
        Self::not_found(format_args!("/Rooms/{room}/Participants/{participant}"))
    }

    /// 53106 "Room not found" for a join (an SDK `connect`, a simulated participant) that names
    /// no in-progress room: what twilio-video.js shows when client-side room creation is off.
    pub fn no_room_to_join(room: &str) -> Self {
        Self::new(
            twilio_codes::ROOM_NOT_FOUND,
            format!("Room not found: no in-progress room is named '{room}'"),
        )
    }

    /// `https://www.twilio.com/docs/errors/<code>`, the `more_info` of Twilio's error body.
    pub fn more_info(&self) -> String {
        twilio_codes::more_info(self.code)
    }

    /// Whether this is a "not found" (20404).
    pub fn is_not_found(&self) -> bool {
        self.code == twilio_codes::NOT_FOUND
    }

    /// 53108 "RoomType is not valid", for a `Type` that is not a room type.
    pub fn invalid_room_type(err: &UnknownValue) -> Self {
        Self::new(
            twilio_codes::ROOM_TYPE_INVALID,
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
        Self::new(err.twilio_code(), format!("{what}: {err}"))
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
        Self::new(err.twilio_code(), format!("{what}: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_path_without_the_version_prefix() {
        let err = StoreError::not_found("/Rooms/myroom");
        assert_eq!(err.code, 20404);
        assert_eq!(
            err.message,
            "The requested resource /Rooms/myroom was not found"
        );
        assert_eq!(err.more_info(), "https://www.twilio.com/docs/errors/20404");
    }

    #[test]
    fn room_name_errors_keep_their_twilio_codes() {
        let err = StoreError::from(videoroom_core::RoomName::parse("a/b").unwrap_err());
        assert_eq!(err.code, 53102);
        assert!(err
            .message
            .starts_with("Room name contains invalid characters"));
    }
}
