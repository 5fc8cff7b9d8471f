//! The store's event stream: what changed, in the order it changed.

use time::OffsetDateTime;

use crate::model::{
    DisconnectReason, ParticipantRecord, PublishedTrack, RoomEndReason, RoomRecord,
};
use crate::store::RecordingRecord;

/// What happened. The names follow Twilio's `StatusCallbackEvent` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum StoreEventKind {
    RoomCreated,
    RoomEnded(RoomEndReason),
    ParticipantConnected,
    ParticipantDisconnected(DisconnectReason),
    TrackAdded,
    TrackRemoved,
    TrackEnabled,
    TrackDisabled,
    /// A track's media started going to a recording file.
    RecordingStarted,
    /// A recording's file is finished.
    RecordingCompleted,
    /// A recording ended without usable media.
    RecordingFailed,
}

impl StoreEventKind {
    /// Twilio's `StatusCallbackEvent` name (`room-created`, `participant-disconnected`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One change of the store, with copies of the records as they were right after it.
///
/// Events are emitted while the store's lock is held, so every subscriber sees one total order
/// that matches the order of the changes. Per room, `sequence_number` counts up from 0 with no
/// gaps (Twilio's `SequenceNumber`), and `timestamp` never goes down (lifecycle transitions
/// carry the moment they were due, which may be a little before the tick that applied them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEvent {
    pub kind: StoreEventKind,
    /// The room (for `room-ended`: completed, with `end_time` and `duration`).
    pub room: RoomRecord,
    /// Participant events: the participant. Track events: the publisher.
    pub participant: Option<ParticipantRecord>,
    /// Track events: the track.
    pub track: Option<PublishedTrack>,
    /// Recording events: the recording (the participant is its publisher).
    pub recording: Option<RecordingRecord>,
    /// When it happened (whole seconds, UTC): Twilio's `Timestamp`.
    pub timestamp: OffsetDateTime,
    /// Per room, from 0: Twilio's `SequenceNumber`.
    pub sequence_number: u64,
}

impl StoreEvent {
    /// The `StatusCallbackEvent` to deliver for this event, or `None` when Twilio would send
    /// nothing: events caused by [`Store::reset`](crate::Store::reset), which exist only so
    /// that signaling can close the sessions of the rooms that vanish.
    pub fn callback_event(&self) -> Option<&'static str> {
        (!self.caused_by_reset()).then(|| self.kind.as_str())
    }

    /// Whether the event is part of a [`Store::reset`](crate::Store::reset). During a reset the
    /// room's `end_reason` is set to [`RoomEndReason::Reset`] before anything else happens to
    /// it, so every event of the reset carries it.
    pub fn caused_by_reset(&self) -> bool {
        self.room.end_reason == Some(RoomEndReason::Reset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DisconnectReason, RoomEndReason};

    /// Twilio's `StatusCallbackEvent` names, which receivers match on.
    #[test]
    fn every_kind_is_named_as_twilio_names_it() {
        let names: Vec<&str> = [
            StoreEventKind::RoomCreated,
            StoreEventKind::RoomEnded(RoomEndReason::Completed),
            StoreEventKind::ParticipantConnected,
            StoreEventKind::ParticipantDisconnected(DisconnectReason::Left),
            StoreEventKind::TrackAdded,
            StoreEventKind::TrackRemoved,
            StoreEventKind::TrackEnabled,
            StoreEventKind::TrackDisabled,
            StoreEventKind::RecordingStarted,
            StoreEventKind::RecordingCompleted,
            StoreEventKind::RecordingFailed,
        ]
        .into_iter()
        .map(StoreEventKind::as_str)
        .collect();
        assert_eq!(
            names,
            [
                "room-created",
                "room-ended",
                "participant-connected",
                "participant-disconnected",
                "track-added",
                "track-removed",
                "track-enabled",
                "track-disabled",
                "recording-started",
                "recording-completed",
                "recording-failed"
            ]
        );
    }
}
