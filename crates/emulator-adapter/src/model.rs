//! The records the store keeps and hands out (always as copies), and what callers send it.
//!
//! The records carry every field Twilio's JSON needs except the account SID and the URLs, which
//! the REST face adds from its own settings and the base URL the client used.
//!
//! The enumerations' text (Twilio's kebab-case names) is derived with `strum`, one mechanism for
//! all of them: `Display` and `as_str` write it, `FromStr` reads it and refuses anything else
//! with core's [`UnknownValue`]. Add a variant and its text follows from its name.

use time::OffsetDateTime;
use videoroom_core::{
    twilio_codes, Identity, ParticipantSid, Room, RoomName, RoomSid, RoomSpec, RoomStatus,
    RoomType, TrackSid, UnknownValue,
};

/// Twilio's media regions (`MediaRegion`); anything else is refused with 53115.
pub const MEDIA_REGIONS: [&str; 10] = [
    "us1", "us2", "ie1", "de1", "au1", "br1", "jp1", "sg1", "in1", "gll",
];

/// The video codecs a room may list in `VideoCodecs`.
pub const VIDEO_CODECS: [&str; 2] = ["VP8", "H264"];

/// Default `empty_room_timeout` and `unused_room_timeout` of rooms created over REST, minutes.
pub const DEFAULT_ROOM_TIMEOUT_MINUTES: u32 = 5;
/// Largest `empty_room_timeout`/`unused_room_timeout`, minutes (the smallest is 1).
pub const MAX_ROOM_TIMEOUT_MINUTES: u32 = 60;
/// Default `max_participant_duration`, seconds (4 hours).
pub const DEFAULT_MAX_PARTICIPANT_DURATION: u32 = 14_400;
/// Largest `max_participant_duration`, seconds (24 hours).
pub const MAX_PARTICIPANT_DURATION: u32 = 86_400;
/// How long a room may last before Twilio ends it, seconds (24 hours).
pub const MAX_ROOM_DURATION_SECONDS: i64 = 86_400;
/// Participant cap of a `group` room created with `LargeRoom=true` (Twilio's large-room pilot).
pub const LARGE_ROOM_MAX_PARTICIPANTS: u32 = 100;
/// Longest `StatusCallback` URL accepted, in bytes.
pub const MAX_STATUS_CALLBACK_LEN: usize = 2048;
/// Longest track name, in characters.
pub const MAX_TRACK_NAME_CHARS: usize = 128;

/// Everything `POST /v1/Rooms` accepts. Every field left `None` takes Twilio's default.
///
/// The typed fields (`unique_name`, `room_type`) are parsed by the caller at its edge, with
/// [`StoreError::from`](crate::StoreError)`(RoomNameError)` and
/// [`StoreError::invalid_room_type`](crate::StoreError::invalid_room_type) for Twilio's codes;
/// the store validates the rest (ranges, URL, method, region, type compatibility).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateRoom {
    pub unique_name: Option<RoomName>,
    /// Default `group`.
    pub room_type: Option<RoomType>,
    /// 1 to the type's cap (default: the cap). 53107 otherwise.
    pub max_participants: Option<u32>,
    /// Minutes, 1 to 60 (default 5). 53109 otherwise.
    pub empty_room_timeout: Option<u32>,
    /// Minutes, 1 to 60 (default 5). 53109 otherwise.
    pub unused_room_timeout: Option<u32>,
    /// Absolute http(s) URL, at most 2048 bytes. 53111 otherwise.
    pub status_callback: Option<String>,
    /// `GET` or `POST`, any case (default `POST`). 53110 otherwise.
    pub status_callback_method: Option<String>,
    /// Default `false`; `true` is refused on `go` and `peer-to-peer` rooms (53114).
    pub record_participants_on_connect: Option<bool>,
    /// Each `VP8` or `H264`, any case (default `["VP8"]`, `[]` for audio-only rooms).
    pub video_codecs: Option<Vec<String>>,
    /// One of [`MEDIA_REGIONS`] (default `us1`). 53115 otherwise.
    pub media_region: Option<String>,
    /// Seconds, 1 to 86400 (default 14400). 53109 otherwise.
    pub max_participant_duration: Option<u32>,
    /// Default `false`; `group` rooms only (53124).
    pub audio_only: Option<bool>,
    /// Default `false`; `group` rooms only (53114). Raises the participant cap to 100.
    pub large_room: Option<bool>,
    /// Deprecated by Twilio and always reported as `true`; accepted and ignored.
    pub enable_turn: Option<bool>,
}

impl From<&RoomSpec> for CreateRoom {
    fn from(spec: &RoomSpec) -> Self {
        Self {
            unique_name: spec.unique_name.clone(),
            room_type: spec.room_type,
            max_participants: spec.max_participants,
            empty_room_timeout: spec.empty_room_timeout,
            unused_room_timeout: spec.unused_room_timeout,
            status_callback: spec.status_callback.clone(),
            status_callback_method: spec.status_callback_method.clone(),
            ..Self::default()
        }
    }
}

/// Why a room ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::Display, strum::IntoStaticStr, strum::EnumIter,
)]
#[strum(serialize_all = "kebab-case")]
pub enum RoomEndReason {
    /// `POST /v1/Rooms/{room}` with `Status=completed` (or the port's `complete_room`).
    Completed,
    /// Nobody joined within `unused_room_timeout` minutes of creation.
    #[strum(serialize = "unused-room-timeout")]
    UnusedTimeout,
    /// Nobody rejoined within `empty_room_timeout` minutes of the last participant leaving.
    #[strum(serialize = "empty-room-timeout")]
    EmptyTimeout,
    /// The last participant left an ad-hoc room (whose timeouts are 0).
    LastParticipantLeft,
    /// The room reached Twilio's 24-hour maximum duration.
    #[strum(serialize = "max-room-duration")]
    MaxDuration,
    /// The emulator's state was reset ([`Store::reset`](crate::Store::reset)); not a Twilio event.
    Reset,
}

impl RoomEndReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A room as the store holds it: every field of Twilio's Room resource but `account_sid`,
/// `url` and `links`, plus what the emulator knows beyond Twilio (`ad_hoc`, `end_reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub sid: RoomSid,
    pub status: RoomStatus,
    pub date_created: OffsetDateTime,
    pub date_updated: OffsetDateTime,
    /// Always `true` (Twilio deprecated the parameter).
    pub enable_turn: bool,
    /// The unique name; the SID when the room was created without one.
    pub unique_name: String,
    pub status_callback: Option<String>,
    /// `GET` or `POST`.
    pub status_callback_method: String,
    pub end_time: Option<OffsetDateTime>,
    /// Whole seconds from `date_created` to `end_time`; `None` while in progress.
    pub duration: Option<u64>,
    pub room_type: RoomType,
    pub max_participants: u32,
    /// Seconds.
    pub max_participant_duration: u32,
    /// 0 means unlimited.
    pub max_concurrent_published_tracks: u32,
    pub record_participants_on_connect: bool,
    pub video_codecs: Vec<String>,
    pub media_region: String,
    pub audio_only: bool,
    /// Minutes; 0 for ad-hoc rooms.
    pub empty_room_timeout: u32,
    /// Minutes; 0 for ad-hoc rooms.
    pub unused_room_timeout: u32,
    pub large_room: bool,
    /// Created by a client connecting to a name that had no room (not over REST).
    pub ad_hoc: bool,
    /// Why the room ended; `None` while in progress.
    pub end_reason: Option<RoomEndReason>,
}

impl RoomRecord {
    /// The port's view of the room.
    pub fn to_room(&self) -> Room {
        Room {
            sid: self.sid.clone(),
            unique_name: self.unique_name.clone(),
            status: self.status,
            room_type: self.room_type,
            max_participants: self.max_participants,
            date_created: self.date_created,
            date_updated: self.date_updated,
            end_time: self.end_time,
            duration: self.duration,
            empty_room_timeout: self.empty_room_timeout,
            unused_room_timeout: self.unused_room_timeout,
        }
    }

    pub fn is_in_progress(&self) -> bool {
        self.status == RoomStatus::InProgress
    }
}

/// A participant's status (Twilio's `reconnecting` is never produced by the emulator).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::Display,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[strum(
    serialize_all = "kebab-case",
    parse_err_ty = UnknownValue,
    parse_err_fn = unknown_participant_status
)]
pub enum ParticipantStatus {
    Connected,
    Disconnected,
    /// Twilio lists participants whose media connection is being re-established under this
    /// status. The emulator never puts anyone in it (signaling has no reconnection), but the
    /// value is valid in a filter, which then matches nobody, as on Twilio.
    Reconnecting,
}

impl ParticipantStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn unknown_participant_status(got: &str) -> UnknownValue {
    UnknownValue {
        what: "participant status",
        allowed: "connected, disconnected, reconnecting",
        got: got.to_owned(),
    }
}

/// Why a participant was disconnected.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::Display, strum::IntoStaticStr, strum::EnumIter,
)]
#[strum(serialize_all = "kebab-case")]
pub enum DisconnectReason {
    /// The client left (signaling `disconnect`/`bye`, or its socket closed).
    Left,
    /// `POST …/Participants/{p}` with `Status=disconnected`.
    Kicked,
    /// The room completed under the participant (REST, timeout or the 24-hour cap).
    RoomCompleted,
    /// The same identity connected again; this, older, connection was dropped.
    DuplicateIdentity,
    /// The participant reached the room's `max_participant_duration`.
    MaxParticipantDuration,
    /// The emulator's state was reset; not a Twilio event.
    Reset,
}

impl DisconnectReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The TwilioError code the SDK should report to the disconnected client, if any:
    /// 53205 for a duplicate identity, 53118 when the room completed (and on reset, which
    /// looks the same to a client). A participant who left, was kicked or timed out gets none.
    pub fn sdk_error_code(self) -> Option<u32> {
        match self {
            DisconnectReason::DuplicateIdentity => Some(twilio_codes::DUPLICATE_IDENTITY),
            DisconnectReason::RoomCompleted | DisconnectReason::Reset => {
                Some(twilio_codes::ROOM_COMPLETED)
            }
            DisconnectReason::Left
            | DisconnectReason::Kicked
            | DisconnectReason::MaxParticipantDuration => None,
        }
    }
}

/// A participant as the store holds it: Twilio's Participant resource but `account_sid`, `url`
/// and `links`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantRecord {
    pub sid: ParticipantSid,
    pub room_sid: RoomSid,
    pub status: ParticipantStatus,
    pub identity: Identity,
    pub date_created: OffsetDateTime,
    pub date_updated: OffsetDateTime,
    pub start_time: OffsetDateTime,
    /// `None` while connected.
    pub end_time: Option<OffsetDateTime>,
    /// Whole seconds from `start_time` to `end_time`; `None` while connected.
    pub duration: Option<u64>,
    /// Why the participant was disconnected; `None` while connected.
    pub disconnect_reason: Option<DisconnectReason>,
}

impl ParticipantRecord {
    pub fn is_connected(&self) -> bool {
        self.status == ParticipantStatus::Connected
    }
}

/// A track's kind.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::Display,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[strum(
    serialize_all = "kebab-case",
    parse_err_ty = UnknownValue,
    parse_err_fn = unknown_track_kind
)]
pub enum TrackKind {
    Audio,
    Video,
    Data,
}

impl TrackKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn unknown_track_kind(got: &str) -> UnknownValue {
    UnknownValue {
        what: "track kind",
        allowed: "audio, video, data",
        got: got.to_owned(),
    }
}

/// A track a client publishes, as signaling reads it from the SDK's `participant.tracks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishTrack {
    /// The SDK's own id of the track (the `msid` in its SDP); it is how subscribers match media
    /// to the track, and the key that makes publishing the same track twice a no-op.
    pub client_id: String,
    pub kind: TrackKind,
    /// At most 128 characters, unique among the participant's tracks; empty means `client_id`.
    pub name: String,
    pub enabled: bool,
}

/// A published track: Twilio's PublishedTrack resource but `url`, plus the SDK's track id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedTrack {
    pub sid: TrackSid,
    pub participant_sid: ParticipantSid,
    pub room_sid: RoomSid,
    pub name: String,
    pub date_created: OffsetDateTime,
    pub date_updated: OffsetDateTime,
    pub enabled: bool,
    pub kind: TrackKind,
    /// The publishing client's id of the track (see [`PublishTrack::client_id`]).
    pub client_id: String,
}

/// A track one participant receives from another: Twilio's SubscribedTrack resource but `url`.
///
/// Derived, not stored: every track published by the other connected participants of the
/// room that the subscriber's subscribe rules admit (everything by default, the SDK's
/// `include all` rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribedTrack {
    /// The published track's SID.
    pub sid: TrackSid,
    /// The subscriber.
    pub participant_sid: ParticipantSid,
    pub publisher_sid: ParticipantSid,
    pub room_sid: RoomSid,
    pub name: String,
    /// The later of the publication and the subscriber's arrival.
    pub date_created: OffsetDateTime,
    pub date_updated: OffsetDateTime,
    pub enabled: bool,
    pub kind: TrackKind,
    /// The publishing client's id of the track, which the subscriber's SDK matches media with.
    pub client_id: String,
}

/// Filters and paging of a participant listing (`GET …/Participants`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParticipantQuery {
    /// `None`: `connected` in an in-progress room, `disconnected` in an ended one (Twilio's
    /// defaults). An ended room has no connected participants, so `connected` lists nothing.
    pub status: Option<ParticipantStatus>,
    /// Exact match.
    pub identity: Option<String>,
    /// Created at or after.
    pub created_after: Option<OffsetDateTime>,
    /// Created strictly before.
    pub created_before: Option<OffsetDateTime>,
    /// 1 to 1000; `None` means 50.
    pub page_size: Option<u32>,
    /// From a previous [`Page`](crate::Page)'s `next_page` or `previous_page`.
    pub page_token: Option<String>,
}

/// What [`Store::connect_participant`](crate::Store::connect_participant) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The room after the join.
    pub room: RoomRecord,
    /// The new, connected participant.
    pub participant: ParticipantRecord,
    /// The older connection with the same identity, now disconnected (53205 for its client).
    pub replaced: Option<ParticipantRecord>,
    /// Whether the room was created ad hoc by this join.
    pub room_created: bool,
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use strum::IntoEnumIterator;

    use super::*;

    /// Twilio's words, which callbacks, the REST JSON and the SDK read; the derive must keep
    /// them exactly.
    #[test]
    fn every_value_writes_twilios_text() {
        let reasons: Vec<&str> = RoomEndReason::iter().map(RoomEndReason::as_str).collect();
        assert_eq!(
            reasons,
            [
                "completed",
                "unused-room-timeout",
                "empty-room-timeout",
                "last-participant-left",
                "max-room-duration",
                "reset"
            ]
        );
        let reasons: Vec<String> = DisconnectReason::iter().map(|r| r.to_string()).collect();
        assert_eq!(
            reasons,
            [
                "left",
                "kicked",
                "room-completed",
                "duplicate-identity",
                "max-participant-duration",
                "reset"
            ]
        );
        let statuses: Vec<&str> = ParticipantStatus::iter()
            .map(ParticipantStatus::as_str)
            .collect();
        assert_eq!(statuses, ["connected", "disconnected", "reconnecting"]);
        let kinds: Vec<&str> = TrackKind::iter().map(TrackKind::as_str).collect();
        assert_eq!(kinds, ["audio", "video", "data"]);
    }

    #[test]
    fn text_reads_back_and_anything_else_is_an_unknown_value_naming_the_choices() {
        for status in ParticipantStatus::iter() {
            assert_eq!(ParticipantStatus::from_str(status.as_str()), Ok(status));
        }
        for kind in TrackKind::iter() {
            assert_eq!(TrackKind::from_str(&kind.to_string()), Ok(kind));
        }
        assert_eq!(
            TrackKind::from_str("Audio").unwrap_err().to_string(),
            "track kind must be one of audio, video, data (got 'Audio')"
        );
        assert_eq!(
            ParticipantStatus::from_str("away").unwrap_err().to_string(),
            "participant status must be one of connected, disconnected, reconnecting (got 'away')"
        );
        let allowed = |names: Vec<&'static str>| names.join(", ");
        assert_eq!(
            unknown_track_kind("").allowed,
            allowed(TrackKind::iter().map(TrackKind::as_str).collect())
        );
        assert_eq!(
            unknown_participant_status("").allowed,
            allowed(
                ParticipantStatus::iter()
                    .map(ParticipantStatus::as_str)
                    .collect()
            )
        );
    }
}
