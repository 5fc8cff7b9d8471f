//! Rooms: their names, types, statuses, and the record a backend returns.
//!
//! Enumerations that travel as text (`group`, `in-progress`, …) get their names from one
//! mechanism, strum's derives: `EnumString` parses (failing with [`UnknownValue`]), `Display`
//! and `IntoStaticStr` write them. serde's `rename_all` uses the same case, and tests check
//! that both agree and that each error's list of names is strum's `VariantNames`. Add a
//! variant: add it to the enum (its text follows from `serialize_all`) and to the list in its
//! parse error, which the test then confirms.

use std::fmt;

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantNames};
use time::OffsetDateTime;

use crate::sid::RoomSid;
use crate::twilio_codes;

/// Longest unique name Twilio accepts, in characters (53101 beyond).
pub const MAX_ROOM_NAME_CHARS: usize = 128;

/// RFC 3986 reserved characters (gen-delims and sub-delims). A room name containing one could
/// not address the room as a REST path segment (`/v1/Rooms/{UniqueName}`), so it is refused.
const RESERVED: &[char] = &[
    ':', '/', '?', '#', '[', ']', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=',
];

/// A room's unique name: 1 to 128 characters, no control characters and no RFC 3986 reserved
/// characters, so that the name can be used as-is in `GET /v1/Rooms/{UniqueName}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct RoomName(String);

/// Why a string cannot be a room name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomNameError {
    #[error("room name must not be empty")]
    Empty,
    #[error("room name must be at most {MAX_ROOM_NAME_CHARS} characters (got {0})")]
    TooLong(usize),
    #[error("room name must not contain control characters (found U+{0:04X})")]
    ControlCharacter(u32),
    #[error(
        "room name must not contain the URL-reserved character '{0}' \
         (none of : / ? # [ ] @ ! $ & ' ( ) * + , ; =)"
    )]
    ReservedCharacter(char),
}

impl RoomNameError {
    /// Twilio's code for the rule: 53100 invalid, 53101 too long, 53102 invalid characters.
    pub fn twilio_code(&self) -> u32 {
        match self {
            RoomNameError::Empty => twilio_codes::ROOM_NAME_INVALID,
            RoomNameError::TooLong(_) => twilio_codes::ROOM_NAME_TOO_LONG,
            RoomNameError::ControlCharacter(_) | RoomNameError::ReservedCharacter(_) => {
                twilio_codes::ROOM_NAME_INVALID_CHARACTERS
            }
        }
    }
}

impl RoomName {
    pub fn parse(s: &str) -> Result<Self, RoomNameError> {
        if s.is_empty() {
            return Err(RoomNameError::Empty);
        }
        let count = s.chars().count();
        if count > MAX_ROOM_NAME_CHARS {
            return Err(RoomNameError::TooLong(count));
        }
        for c in s.chars() {
            if c.is_control() {
                return Err(RoomNameError::ControlCharacter(c as u32));
            }
            if RESERVED.contains(&c) {
                return Err(RoomNameError::ReservedCharacter(c));
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for RoomName {
    type Error = RoomNameError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomName({:?})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RoomName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A value that is not one of an enumeration's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be one of {allowed} (got '{got}')")]
pub struct UnknownValue {
    /// What was being parsed, for the message ("room type").
    pub what: &'static str,
    /// Every name the enumeration has, in declaration order, separated by ", ".
    pub allowed: &'static str,
    pub got: String,
}

impl UnknownValue {
    /// `got` is not one of the names listed in `allowed`; for strum's `parse_err_fn`.
    pub fn new(what: &'static str, allowed: &'static str, got: &str) -> Self {
        Self {
            what,
            allowed,
            got: got.to_owned(),
        }
    }
}

/// Twilio's room types. `group` is current; the others are legacy but still served to
/// existing accounts (and used by the workshop text: `go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[derive(EnumString, strum::Display, IntoStaticStr, VariantNames)]
#[strum(serialize_all = "kebab-case")]
#[strum(parse_err_ty = UnknownValue, parse_err_fn = unknown_room_type)]
pub enum RoomType {
    #[default]
    Group,
    Go,
    PeerToPeer,
    GroupSmall,
}

impl RoomType {
    pub const ALL: [RoomType; 4] = [
        RoomType::Group,
        RoomType::Go,
        RoomType::PeerToPeer,
        RoomType::GroupSmall,
    ];

    /// The name Twilio uses (`group`, `peer-to-peer`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The most participants a room of this type holds (and the default `max_participants`).
    pub fn max_participants(self) -> u32 {
        match self {
            RoomType::Group => 50,
            RoomType::Go => 2,
            RoomType::PeerToPeer => 10,
            RoomType::GroupSmall => 4,
        }
    }
}

fn unknown_room_type(got: &str) -> UnknownValue {
    UnknownValue::new("room type", "group, go, peer-to-peer, group-small", got)
}

/// A room's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[derive(EnumString, strum::Display, IntoStaticStr, VariantNames)]
#[strum(serialize_all = "kebab-case")]
#[strum(parse_err_ty = UnknownValue, parse_err_fn = unknown_room_status)]
pub enum RoomStatus {
    InProgress,
    Completed,
    Failed,
}

impl RoomStatus {
    /// The name Twilio uses (`in-progress`, `completed`, `failed`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn unknown_room_status(got: &str) -> UnknownValue {
    UnknownValue::new("room status", "in-progress, completed, failed", got)
}

/// What a backend knows of a room: the fields the token service and the contract suite need.
/// (The emulator's REST face serves Twilio's full schema from its own, richer record.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub sid: RoomSid,
    /// The unique name; Twilio sets it to the SID when a room is created without one, so it is
    /// kept as a plain string rather than a [`RoomName`].
    pub unique_name: String,
    pub status: RoomStatus,
    pub room_type: RoomType,
    pub max_participants: u32,
    pub date_created: OffsetDateTime,
    pub date_updated: OffsetDateTime,
    pub end_time: Option<OffsetDateTime>,
    /// Whole seconds from creation to end; `None` while in progress.
    pub duration: Option<u64>,
    pub empty_room_timeout: u32,
    pub unused_room_timeout: u32,
}

/// What to create. Every field but the name may be left to the backend's default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomSpec {
    pub unique_name: Option<RoomName>,
    pub room_type: Option<RoomType>,
    pub max_participants: Option<u32>,
    /// Minutes, 1 to 60 (default 5).
    pub empty_room_timeout: Option<u32>,
    /// Minutes, 1 to 60 (default 5).
    pub unused_room_timeout: Option<u32>,
    pub status_callback: Option<String>,
    /// `GET` or `POST` (default `POST`).
    pub status_callback_method: Option<String>,
}

impl RoomSpec {
    /// A room with this name and type, everything else at its default.
    pub fn named(name: RoomName, room_type: RoomType) -> Self {
        Self {
            unique_name: Some(name),
            room_type: Some(room_type),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workshop_names_are_room_names() {
        for ok in [
            "myroom",
            "DailyStandup",
            "会議室",
            "a-b_c.d~e",
            "with space",
        ] {
            assert_eq!(RoomName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn every_reserved_character_is_refused_with_53102() {
        for c in ":/?#[]@!$&'()*+,;=".chars() {
            let err = RoomName::parse(&format!("my{c}room")).unwrap_err();
            assert_eq!(err, RoomNameError::ReservedCharacter(c));
            assert_eq!(err.twilio_code(), 53102);
        }
    }

    #[test]
    fn empty_long_and_control_names_are_refused_with_their_codes() {
        assert_eq!(RoomName::parse("").unwrap_err().twilio_code(), 53100);
        assert!(RoomName::parse(&"r".repeat(128)).is_ok());
        assert_eq!(
            RoomName::parse(&"r".repeat(129)).unwrap_err(),
            RoomNameError::TooLong(129)
        );
        assert_eq!(RoomName::parse("a\tb").unwrap_err().twilio_code(), 53102);
    }

    #[test]
    fn room_types_round_trip_and_carry_their_caps() {
        for t in RoomType::ALL {
            assert_eq!(t.as_str().parse::<RoomType>(), Ok(t));
        }
        assert_eq!(RoomType::Go.max_participants(), 2);
        assert_eq!(RoomType::GroupSmall.max_participants(), 4);
        assert_eq!(RoomType::PeerToPeer.max_participants(), 10);
        assert_eq!(RoomType::Group.max_participants(), 50);
        assert_eq!(RoomType::default(), RoomType::Group);
        let err = "small".parse::<RoomType>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "room type must be one of group, go, peer-to-peer, group-small (got 'small')"
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            RoomStatus::InProgress,
            RoomStatus::Completed,
            RoomStatus::Failed,
        ] {
            assert_eq!(s.as_str().parse::<RoomStatus>(), Ok(s));
        }
        assert!("done".parse::<RoomStatus>().is_err());
        assert_eq!(
            "done".parse::<RoomStatus>().unwrap_err().to_string(),
            "room status must be one of in-progress, completed, failed (got 'done')"
        );
    }

    /// strum writes the names for text, serde for JSON: both must say the same.
    #[test]
    fn text_and_json_names_agree() {
        for t in RoomType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(t.to_string(), t.as_str());
        }
        for s in [
            RoomStatus::InProgress,
            RoomStatus::Completed,
            RoomStatus::Failed,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(RoomType::PeerToPeer.as_str(), "peer-to-peer");
        assert_eq!(RoomStatus::InProgress.as_str(), "in-progress");
    }

    /// A parse error lists exactly the names strum parses, so a new variant cannot be left out.
    #[test]
    fn parse_errors_list_every_name() {
        let listed = |e: UnknownValue| e.allowed;
        assert_eq!(
            listed(unknown_room_type("x")),
            RoomType::VARIANTS.join(", ")
        );
        assert_eq!(
            listed(unknown_room_status("x")),
            RoomStatus::VARIANTS.join(", ")
        );
        assert_eq!(RoomType::VARIANTS.len(), RoomType::ALL.len());
    }
}
