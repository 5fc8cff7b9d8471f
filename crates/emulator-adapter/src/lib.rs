//! An in-memory store of Twilio Video rooms, participants and published tracks, with Twilio's
//! semantics, and the backend port implemented over it.
//!
//! [`Store`] is the single source of truth of the emulator: its REST face (`/v1/Rooms…`), its
//! signaling (the twilio-video.js SDK's connections) and the token service's
//! [`EmulatorBackend`] all read and change the same store. It reproduces what a Twilio Video
//! user can observe: RM/PA/MT SIDs, unique names unique among in-progress rooms (53113), the
//! room types and their participant caps, every room parameter with its default and its error
//! code, whole-second UTC timestamps, completion (participants disconnected, name freed,
//! `end_time` and `duration`), the unused-room and empty-room timeouts, ad-hoc rooms, the
//! 24-hour cap, duplicate identities, published and subscribed tracks, and cursor paging.
//! Changes are published, in one total order, as [`StoreEvent`]s for status callbacks and
//! signaling; time comes from a [`Clock`] that tests and the emulator's control routes move.
//!
//! It deliberately does no I/O: no HTTP, no sockets, no timers, no background tasks. The
//! emulator calls [`Store::tick`] every second (and after moving the clock); every other call
//! also applies the transitions that are due, so nothing depends on the ticker's punctuality.
//! Account SIDs, URLs, HTTP statuses, form parsing and callback delivery belong to the emulator,
//! not to the store; callers address it with typed keys ([`videoroom_core::RoomKey`],
//! [`ParticipantKey`]) parsed once at their edge.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use videoroom_core::{Identity, RoomKey, RoomName, RoomStatus};
//! use videoroom_emulator_adapter::{CreateRoom, DisconnectReason, ManualClock, ParticipantKey, Store};
//!
//! let clock = Arc::new(ManualClock::fixed());
//! let store = Store::new(clock.clone());
//! let room = store.create_room(&CreateRoom {
//!     unique_name: Some(RoomName::parse("myroom").unwrap()),
//!     ..CreateRoom::default()
//! }).unwrap();
//! let myroom = RoomKey::parse("myroom").unwrap();
//! let alice = Identity::parse("alice").unwrap();
//! store.connect_participant(&myroom, &alice, None).unwrap();
//! store.disconnect_participant(&myroom, &ParticipantKey::from(alice), DisconnectReason::Left).unwrap();
//!
//! // Five minutes after the last participant left, the room ends on its own.
//! clock.advance(Duration::from_secs(300));
//! store.tick();
//! assert_eq!(store.fetch_room(&RoomKey::Sid(room.sid)).unwrap().status, RoomStatus::Completed);
//! ```

pub mod backend;
pub mod callback_hosts;
pub mod clock;
pub mod error;
pub mod event;
pub mod key;
pub mod model;
pub mod paging;
pub mod rules;
pub mod store;

pub use backend::EmulatorBackend;
pub use callback_hosts::CallbackHosts;
pub use clock::{seconds_between, whole_seconds, Clock, ManualClock, OffsetClock, SystemClock};
pub use error::StoreError;
pub use event::{StoreEvent, StoreEventKind};
pub use key::ParticipantKey;
pub use model::{
    CreateRoom, DisconnectReason, Joined, ParticipantQuery, ParticipantRecord, ParticipantStatus,
    PublishTrack, PublishedTrack, RoomEndReason, RoomRecord, SubscribedTrack, TrackKind,
    MEDIA_REGIONS, VIDEO_CODECS,
};
pub use paging::{paginate, Page, SortKey, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use rules::{admits, parse_rules, Priority, Rule, RuleSet, RuleType, Rules, TrackFacts};
pub use store::DEFAULT_RETENTION;
pub use store::{
    CompositionHook, HookQuery, HookRequest, InspectedParticipant, InspectedRoom, Inspection,
    MediaSettings, SettingsKind, Store, TickReport,
};
pub use store::{RecordingOutcome, RecordingQuery, RecordingRecord, RecordingStatus};

#[cfg(test)]
mod tests {
    /// The store is shared between actix workers and tokio tasks as `Arc<Store>`.
    #[test]
    fn the_store_and_its_values_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<super::Store>();
        shared::<super::StoreEvent>();
        shared::<super::StoreError>();
        shared::<super::EmulatorBackend>();
    }
}
