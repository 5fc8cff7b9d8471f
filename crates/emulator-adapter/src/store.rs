//! The store itself: one lock over all rooms, participants and tracks.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use time::OffsetDateTime;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use videoroom_core::{
    twilio_codes, Identity, ParticipantSid, RoomKey, RoomQuery, RoomSid, RoomStatus, RoomType,
    TrackSid,
};

use crate::callback_hosts::CallbackHosts;
use crate::clock::{seconds_between, whole_seconds, Clock, SystemClock};
use crate::error::StoreError;
use crate::event::{StoreEvent, StoreEventKind};
use crate::key::ParticipantKey;
use crate::model::*;
use crate::paging::{paginate, Page, SortKey};

mod account;
mod recordings;
mod rules;

pub use account::{CompositionHook, HookQuery, HookRequest, MediaSettings, SettingsKind};
pub use recordings::{RecordingOutcome, RecordingQuery, RecordingRecord, RecordingStatus};

/// The in-memory room store with Twilio Video's semantics. Share it as `Arc<Store>`.
///
/// # Addressing
/// Methods take typed keys, which callers parse once at their edge (see [`crate::key`]):
/// - a [`RoomKey`] is a room SID (any status) or the unique name of an **in-progress** room.
///   A SID that is no room's SID is also looked up as a unique name, since a unique name may be
///   shaped like a SID and Twilio's path segment `{Sid}` accepts either;
/// - a [`ParticipantKey`] is a participant SID (any status, of that room) or the identity of a
///   **connected** participant of that room;
/// - `track: &str` is a track SID (`MT…`) or the publishing client's track id: both are the
///   client's text, matched as they are.
///
/// Unknown references give 20404 with Twilio's message ("The requested resource /Rooms/x was
/// not found").
///
/// # Time
/// Every timestamp is whole seconds, UTC, read from the [`Clock`] given to [`Store::new`].
/// Lifecycle rules (unused- and empty-room timeouts, the 24-hour room cap, each room's
/// `max_participant_duration`) are computed from timestamps and applied at the moment they
/// were due: by [`Store::tick`] and, lazily, at the start of every other call, so a caller
/// never observes a room that should already have ended.
///
/// # Events
/// Every change emits [`StoreEvent`]s to every [`Store::subscribe`]r while the lock is held, so
/// all subscribers see the same total order. Emission never blocks (unbounded channels); a
/// subscriber that dropped its receiver is forgotten.
///
/// # Concurrency
/// One `parking_lot::Mutex` guards the state; no call holds it across an `.await` (there are
/// none), and no input makes a call panic. Calls are short (a listing copies the matching
/// records and pages them after the lock is released).
///
/// # Memory
/// Ended rooms and their participants are kept, as Twilio keeps them, for the store's
/// retention ([`DEFAULT_RETENTION`], 24 hours of the store's clock, unless
/// [`Store::with_retention`] says otherwise) after they ended, then forgotten by the next
/// [`Store::tick`]; [`Store::reset`] forgets everything. A published track is dropped when it
/// is unpublished or its participant leaves.
pub struct Store {
    clock: Arc<dyn Clock>,
    /// Where `StatusCallback` URLs may point (checked at room creation).
    callback_hosts: CallbackHosts,
    /// How long an ended room is kept after its end (see [`Store::forget_expired`]).
    retention: std::time::Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Store")
            .field("rooms", &state.rooms.len())
            .field("participants", &state.participants.len())
            .field("subscribers", &state.subscribers.len())
            .finish()
    }
}

impl Default for Store {
    /// A store on the system clock.
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

/// What one [`Store::tick`] changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TickReport {
    /// Rooms that ended (timeouts, 24-hour cap), in the order they ended.
    pub rooms_ended: Vec<RoomSid>,
    /// Participants removed for exceeding `max_participant_duration` or by the 24-hour cap.
    pub participants_removed: Vec<ParticipantSid>,
}

/// What [`Store::inspect`] returns: the rooms shown and how many there are in all.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub now: OffsetDateTime,
    /// In-progress rooms in the store (shown or not).
    pub in_progress_total: usize,
    /// Ended rooms in the store (shown or not).
    pub ended_total: usize,
    /// In-progress rooms, oldest first, then ended rooms, most recently ended first.
    pub rooms: Vec<InspectedRoom>,
}

/// A room in an [`Inspection`].
#[derive(Debug, Clone)]
pub struct InspectedRoom {
    pub record: RoomRecord,
    /// Participants that ever joined (shown or not).
    pub participants_total: usize,
    /// Connected participants in join order, then the others, most recently joined first.
    pub participants: Vec<InspectedParticipant>,
}

/// A participant in an [`Inspection`], with its published tracks.
#[derive(Debug, Clone)]
pub struct InspectedParticipant {
    pub record: ParticipantRecord,
    pub tracks: Vec<PublishedTrack>,
}

impl TickReport {
    pub fn is_empty(&self) -> bool {
        self.rooms_ended.is_empty() && self.participants_removed.is_empty()
    }
}

impl Store {
    /// An empty store reading time from `clock`, accepting loopback status callbacks only.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_callback_hosts(clock, CallbackHosts::loopback())
    }

    /// An empty store reading time from `clock`, accepting `StatusCallback` URLs whose host
    /// `callback_hosts` allows (53111 for others).
    pub fn with_callback_hosts(clock: Arc<dyn Clock>, callback_hosts: CallbackHosts) -> Self {
        Self {
            clock,
            callback_hosts,
            retention: DEFAULT_RETENTION,
            state: Mutex::new(State::default()),
        }
    }

    /// Where status callbacks may go.
    pub fn callback_hosts(&self) -> &CallbackHosts {
        &self.callback_hosts
    }

    /// The store's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The clock's time, truncated to whole seconds in UTC.
    pub fn now(&self) -> OffsetDateTime {
        whole_seconds(self.clock.now())
    }

    /// A new receiver of every event from now on, in order, without loss.
    ///
    /// Receivers are unbounded: a consumer that stops reading keeps its events in memory, so
    /// drop the receiver when done (the store then forgets it at the next event).
    pub fn subscribe(&self) -> UnboundedReceiver<StoreEvent> {
        let (tx, rx) = unbounded_channel();
        self.state.lock().subscribers.push(tx);
        rx
    }

    /// Locks the state after applying every lifecycle transition due at `now`.
    ///
    /// The clock is read under the lock, so calls see time in the order they take the lock
    /// and no event can be stamped earlier than one emitted before it.
    fn settled(&self) -> (parking_lot::MutexGuard<'_, State>, OffsetDateTime) {
        let mut state = self.state.lock();
        let now = self.now();
        if state.next_due.is_some_and(|due| due <= now) {
            state.settle_all(now);
        }
        (state, now)
    }

    // ----- Rooms -----------------------------------------------------------------------------

    /// Creates an in-progress room (`POST /v1/Rooms`), emitting `room-created`.
    ///
    /// Errors: 53107, 53109, 53110, 53111, 53113 (name taken by an in-progress room), 53114,
    /// 53115, 53124, 20001 (video codecs).
    pub fn create_room(&self, request: &CreateRoom) -> Result<RoomRecord, StoreError> {
        let (mut state, now) = self.settled();
        let sid = state.new_room_sid();
        let record = build_room(request, sid, now, false, &self.callback_hosts)?;
        state.insert_room(record, now)
    }

    /// A room by SID (any status) or unique name (in progress only); 20404 otherwise.
    pub fn fetch_room(&self, room: &RoomKey) -> Result<RoomRecord, StoreError> {
        let (state, _) = self.settled();
        let sid = state.resolve_room(room)?;
        Ok(state.room(&sid).record.clone())
    }

    /// Lists rooms (`GET /v1/Rooms`), oldest first (by `date_created`, then SID).
    ///
    /// `status` defaults to `in-progress`; `unique_name` is an exact match; `created_after` is
    /// inclusive and `created_before` exclusive. Errors: 20001 (page size), 21481 (page token).
    pub fn list_rooms(&self, query: &RoomQuery) -> Result<Page<RoomRecord>, StoreError> {
        let (state, _) = self.settled();
        let status = query.status.unwrap_or(RoomStatus::InProgress);
        let matching: Vec<RoomRecord> = state
            .rooms
            .values()
            .map(|entry| &entry.record)
            .filter(|r| r.status == status)
            .filter(|r| {
                query
                    .unique_name
                    .as_ref()
                    .is_none_or(|n| &r.unique_name == n)
            })
            .filter(|r| created_within(query.created_after, query.created_before, r.date_created))
            .cloned()
            .collect();
        drop(state);
        paginate(
            &matching,
            |r| SortKey::new(r.date_created, r.sid.as_str()),
            query.page_size,
            query.page_token.as_deref(),
        )
    }

    /// Completes an in-progress room: its connected participants are disconnected (reason
    /// [`DisconnectReason::RoomCompleted`]), its name is freed, `end_time`, `duration` and
    /// `date_updated` are set, and `room-ended` is emitted.
    ///
    /// Errors: 20404 (unknown room, or a name whose room already ended), 53112 (the room is not
    /// in progress).
    pub fn complete_room(&self, room: &RoomKey) -> Result<RoomRecord, StoreError> {
        let (mut state, now) = self.settled();
        let sid = state.resolve_room(room)?;
        if !state.room(&sid).record.is_in_progress() {
            return Err(status_invalid_not_in_progress(&state.room(&sid).record));
        }
        state.complete(&sid, RoomEndReason::Completed, now);
        Ok(state.room(&sid).record.clone())
    }

    // ----- Participants ----------------------------------------------------------------------

    /// Connects `identity` to a room, as an SDK client's `connect` does.
    ///
    /// - `room` is a SID or unique name. When no in-progress room has that name and `ad_hoc`
    ///   is `Some(template)`, a room is created ad hoc from the template (its name replaced by
    ///   `room`, both timeouts 0, `room-created` emitted); with `None`, or for a SID, the join
    ///   is refused.
    ///   (When nothing names a room at all, use [`Store::connect_participant_to_new_room`].)
    /// - A connected participant with the same identity is disconnected first (reason
    ///   [`DisconnectReason::DuplicateIdentity`]; its client should get 53205) and returned in
    ///   [`Joined::replaced`]. It does not count against the cap.
    /// - Emits `participant-connected`.
    ///
    /// Errors (SDK codes): 53106 "Room not found" (no in-progress room by that name or SID, an
    /// ended room, or ad-hoc creation off; this is what twilio-video.js shows when client-side
    /// room creation is disabled), 53105 "Room contains too many Participants", and the
    /// template's creation errors. (Text that is no valid room name is the caller's to refuse:
    /// with 53100–53102 when it would have created the room ad hoc, else with
    /// [`StoreError::no_room_to_join`].)
    pub fn connect_participant(
        &self,
        room: &RoomKey,
        identity: &Identity,
        ad_hoc: Option<&CreateRoom>,
    ) -> Result<Joined, StoreError> {
        let (mut state, now) = self.settled();
        let no_room = || StoreError::no_room_to_join(room.as_path_segment());
        let (sid, room_created) = match state.resolve_room(room) {
            Ok(sid) if state.room(&sid).record.is_in_progress() => (sid, false),
            Ok(_) => return Err(no_room()),
            Err(_) => match (ad_hoc, room) {
                (Some(template), RoomKey::Name(name)) => {
                    let mut request = template.clone();
                    request.unique_name = Some(name.clone());
                    let new_sid = state.new_room_sid();
                    let record = build_room(&request, new_sid, now, true, &self.callback_hosts)?;
                    (state.insert_room(record, now)?.sid, true)
                }
                _ => return Err(no_room()),
            },
        };

        let (participant, replaced) = state.join(&sid, identity, now)?;
        Ok(Joined {
            room: state.room(&sid).record.clone(),
            participant,
            replaced,
            room_created,
        })
    }

    /// Creates an ad-hoc room with no unique name (its SID stands for the name, as on Twilio
    /// when neither `connect()` nor the token's grant names a room) and connects `identity` to
    /// it, in one step: the room is created from `template` with both timeouts 0, and ends as
    /// soon as its last participant leaves. Emits `room-created` then `participant-connected`.
    ///
    /// Errors: the template's creation errors (see [`Store::create_room`]).
    pub fn connect_participant_to_new_room(
        &self,
        identity: &Identity,
        template: &CreateRoom,
    ) -> Result<Joined, StoreError> {
        let (mut state, now) = self.settled();
        let mut request = template.clone();
        request.unique_name = None;
        let sid = state.new_room_sid();
        let record = build_room(&request, sid.clone(), now, true, &self.callback_hosts)?;
        state.insert_room(record, now)?;
        let (participant, replaced) = state.join(&sid, identity, now)?;
        Ok(Joined {
            room: state.room(&sid).record.clone(),
            participant,
            replaced,
            room_created: true,
        })
    }

    /// Disconnects a participant, removing its tracks (`track-removed` for each) and emitting
    /// `participant-disconnected` with `reason`. When it was the last one connected, the
    /// empty-room timeout starts; an ad-hoc room ends at once.
    ///
    /// Disconnecting a participant that is already disconnected returns it unchanged.
    /// Errors: 20404.
    pub fn disconnect_participant(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
        reason: DisconnectReason,
    ) -> Result<ParticipantRecord, StoreError> {
        let (mut state, now) = self.settled();
        let (_, psid) = state.resolve_participant(room, participant)?;
        let record = &state.participants[&psid].record;
        if !record.is_connected() {
            return Ok(record.clone());
        }
        let record = state.disconnect(&psid, reason, now);
        state.settle_room(&record.room_sid, now, &mut TickReport::default());
        state.note_deadline(&record.room_sid);
        Ok(state.participants[&psid].record.clone())
    }

    /// A participant by SID (any status) or identity (connected only); 20404 otherwise.
    pub fn fetch_participant(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
    ) -> Result<ParticipantRecord, StoreError> {
        let (state, _) = self.settled();
        let (_, psid) = state.resolve_participant(room, participant)?;
        Ok(state.participants[&psid].record.clone())
    }

    /// Lists a room's participants (`GET …/Participants`), oldest first (by `date_created`,
    /// then SID). See [`ParticipantQuery`] for the defaults. Errors: 20404, 20001, 21481.
    pub fn list_participants(
        &self,
        room: &RoomKey,
        query: &ParticipantQuery,
    ) -> Result<Page<ParticipantRecord>, StoreError> {
        let (state, _) = self.settled();
        let sid = state.resolve_room(room)?;
        let entry = state.room(&sid);
        let status = query.status.unwrap_or(if entry.record.is_in_progress() {
            ParticipantStatus::Connected
        } else {
            ParticipantStatus::Disconnected
        });
        let matching: Vec<ParticipantRecord> = entry
            .participants
            .iter()
            .map(|p| &state.participants[p].record)
            .filter(|p| p.status == status)
            .filter(|p| {
                query
                    .identity
                    .as_ref()
                    .is_none_or(|i| p.identity.as_str() == i)
            })
            .filter(|p| created_within(query.created_after, query.created_before, p.date_created))
            .cloned()
            .collect();
        drop(state);
        paginate(
            &matching,
            |p| SortKey::new(p.date_created, p.sid.as_str()),
            query.page_size,
            query.page_token.as_deref(),
        )
    }

    /// The connected participants of a room, in the order they joined (for signaling).
    /// Errors: 20404.
    pub fn connected_participants(
        &self,
        room: &RoomKey,
    ) -> Result<Vec<ParticipantRecord>, StoreError> {
        let (state, _) = self.settled();
        let sid = state.resolve_room(room)?;
        Ok(state
            .room(&sid)
            .participants
            .iter()
            .map(|p| &state.participants[p].record)
            .filter(|p| p.is_connected())
            .cloned()
            .collect())
    }

    // ----- Tracks ----------------------------------------------------------------------------

    /// Publishes a track of a connected participant, emitting `track-added`.
    ///
    /// Publishing a `client_id` the participant already published returns that track
    /// unchanged (signaling may resend a client's whole track list). An empty name becomes the
    /// `client_id`. Errors: 20404 (unknown or disconnected participant), 53300 (empty
    /// `client_id`), 53302 (name over 128 characters), 53303 (control characters in the name),
    /// 53304 (name already used by another of the participant's tracks), 53203 (the room's
    /// `max_concurrent_published_tracks` is reached).
    pub fn publish_track(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
        track: PublishTrack,
    ) -> Result<PublishedTrack, StoreError> {
        let (mut state, now) = self.settled();
        let (rsid, psid) = state.resolve_connected_participant(room, participant)?;
        if track.client_id.is_empty() {
            return Err(StoreError::new(
                twilio_codes::TRACK_INVALID,
                "Track is invalid: the track id must not be empty",
            ));
        }
        let name = if track.name.is_empty() {
            track.client_id.clone()
        } else {
            track.name.clone()
        };
        let chars = name.chars().count();
        if chars > MAX_TRACK_NAME_CHARS {
            return Err(StoreError::new(
                twilio_codes::TRACK_NAME_TOO_LONG,
                format!("Track name is too long: at most {MAX_TRACK_NAME_CHARS} characters (got {chars})"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(StoreError::new(
                twilio_codes::TRACK_NAME_INVALID_CHARACTERS,
                "Track name contains invalid characters (control characters)",
            ));
        }
        let existing = &state.participants[&psid].tracks;
        if let Some(same) = existing.iter().find(|t| t.client_id == track.client_id) {
            return Ok(same.clone());
        }
        if existing.iter().any(|t| t.name == name) {
            return Err(StoreError::new(
                twilio_codes::TRACK_NAME_DUPLICATED,
                format!("Track name is duplicated: the participant already publishes a track named '{name}'"),
            ));
        }
        let limit = state.room(&rsid).record.max_concurrent_published_tracks as usize;
        if limit > 0 && state.published_count(&rsid) >= limit {
            return Err(StoreError::new(
                twilio_codes::ROOM_TRACK_LIMIT_REACHED,
                format!("The maximum number of published tracks allowed in the Room at the same time has been reached ({limit})"),
            ));
        }
        let published = PublishedTrack {
            sid: state.new_track_sid(),
            participant_sid: psid.clone(),
            room_sid: rsid.clone(),
            name,
            date_created: now,
            date_updated: now,
            enabled: track.enabled,
            kind: track.kind,
            client_id: track.client_id,
        };
        state.participant_mut(&psid).tracks.push(published.clone());
        let publisher = state.participants[&psid].record.clone();
        state.emit(
            StoreEventKind::TrackAdded,
            &rsid,
            Some(publisher),
            Some(published.clone()),
            now,
        );
        Ok(published)
    }

    /// Unpublishes a track (by SID or client id), emitting `track-removed`. Errors: 20404.
    pub fn unpublish_track(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
        track: &str,
    ) -> Result<PublishedTrack, StoreError> {
        let (mut state, now) = self.settled();
        let (rsid, psid) = state.resolve_participant(room, participant)?;
        let index = state.track_index(&rsid, &psid, track)?;
        let removed = state.participant_mut(&psid).tracks.remove(index);
        let publisher = state.participants[&psid].record.clone();
        state.emit(
            StoreEventKind::TrackRemoved,
            &rsid,
            Some(publisher),
            Some(removed.clone()),
            now,
        );
        Ok(removed)
    }

    /// Enables or disables a published track, emitting `track-enabled`/`track-disabled` when
    /// that changes its state (nothing when it was already so). Errors: 20404.
    pub fn set_track_enabled(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
        track: &str,
        enabled: bool,
    ) -> Result<PublishedTrack, StoreError> {
        let (mut state, now) = self.settled();
        let (rsid, psid) = state.resolve_participant(room, participant)?;
        let index = state.track_index(&rsid, &psid, track)?;
        let entry = state.participant_mut(&psid);
        let published = &mut entry.tracks[index];
        if published.enabled == enabled {
            return Ok(published.clone());
        }
        published.enabled = enabled;
        published.date_updated = now;
        let published = published.clone();
        let publisher = entry.record.clone();
        let kind = if enabled {
            StoreEventKind::TrackEnabled
        } else {
            StoreEventKind::TrackDisabled
        };
        state.emit(kind, &rsid, Some(publisher), Some(published.clone()), now);
        Ok(published)
    }

    /// The tracks a participant publishes now, in publication order (empty once it has
    /// disconnected). Errors: 20404.
    pub fn published_tracks(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
    ) -> Result<Vec<PublishedTrack>, StoreError> {
        let (state, _) = self.settled();
        let (_, psid) = state.resolve_participant(room, participant)?;
        Ok(state.participants[&psid].tracks.clone())
    }

    /// One published track by SID or client id. Errors: 20404.
    pub fn fetch_published_track(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
        track: &str,
    ) -> Result<PublishedTrack, StoreError> {
        let (state, _) = self.settled();
        let (rsid, psid) = state.resolve_participant(room, participant)?;
        let index = state.track_index(&rsid, &psid, track)?;
        Ok(state.participants[&psid].tracks[index].clone())
    }

    /// The tracks a participant receives: every track published by the other connected
    /// participants of its room that its subscribe rules admit, publishers in join order.
    /// Empty for a disconnected participant. Errors: 20404.
    pub fn subscribed_tracks(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
    ) -> Result<Vec<SubscribedTrack>, StoreError> {
        let (state, _) = self.settled();
        let (_, psid) = state.resolve_participant(room, participant)?;
        Ok(state.subscribed(&psid))
    }

    /// One subscribed track by SID or client id. Errors: 20404.
    pub fn fetch_subscribed_track(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
        track: &str,
    ) -> Result<SubscribedTrack, StoreError> {
        let (state, _) = self.settled();
        let (rsid, psid) = state.resolve_participant(room, participant)?;
        state
            .subscribed(&psid)
            .into_iter()
            .find(|t| t.sid.as_str() == track || t.client_id == track)
            .ok_or_else(|| {
                StoreError::not_found(format!(
                    "/Rooms/{rsid}/Participants/{psid}/SubscribedTracks/{track}"
                ))
            })
    }

    // ----- Lifecycle and control ---------------------------------------------------------------

    /// Applies every lifecycle transition due at the clock's time: participants past
    /// `max_participant_duration` are removed, rooms past 24 hours disconnect everyone and end,
    /// unused and empty rooms end after their timeouts. Each transition takes effect at the
    /// moment it was due (a room whose 5-minute unused timeout passed during a 10-minute clock
    /// advance ends with `duration` 300), so one tick after any advance is enough.
    pub fn tick(&self) -> TickReport {
        let mut state = self.state.lock();
        let now = self.now();
        let report = state.settle_all(now);
        state.forget_expired(now, self.retention);
        report
    }

    /// A bounded view for the inspector: the oldest `in_progress` in-progress rooms and the
    /// `ended` most recently ended rooms (most recent first), each with at most
    /// `participants` participants (connected first, then the most recently joined of the
    /// others) and their tracks, plus the totals.
    ///
    /// Only what is shown is copied. The lock is held while the in-progress rooms' keys are
    /// sorted and the shown records cloned; ended rooms are read from an index kept in end
    /// order, so the cost does not grow with the number of rooms that ever ended.
    pub fn inspect(&self, in_progress: usize, ended: usize, participants: usize) -> Inspection {
        let (state, now) = self.settled();
        let mut open: Vec<(OffsetDateTime, &RoomSid)> = state
            .names
            .values()
            .map(|sid| (state.room(sid).record.date_created, sid))
            .collect();
        let in_progress_total = open.len();
        open.sort_unstable();
        let shown = open
            .into_iter()
            .take(in_progress)
            .map(|(_, sid)| sid)
            .chain(state.ended.iter().rev().take(ended));
        let rooms = shown
            .map(|sid| state.inspect_room(sid, participants))
            .collect();
        Inspection {
            now,
            in_progress_total,
            ended_total: state.ended.len(),
            rooms,
        }
    }

    /// Clears every room, participant and track (the control route "reset all state").
    ///
    /// Before clearing, each in-progress room is ended with [`RoomEndReason::Reset`] (its
    /// participants disconnected with [`DisconnectReason::Reset`]), emitting the usual events so
    /// that signaling can close its sessions; every one of these events has
    /// [`StoreEvent::caused_by_reset`] set and [`StoreEvent::callback_event`] `None`, so no
    /// status callback is sent for them. Subscribers stay subscribed.
    pub fn reset(&self) {
        let mut state = self.state.lock();
        let now = self.now();
        let mut in_progress: Vec<RoomSid> = state
            .rooms
            .values()
            .filter(|e| e.record.is_in_progress())
            .map(|e| e.record.sid.clone())
            .collect();
        in_progress.sort_by_key(|sid| state.room(sid).record.date_created);
        for sid in &in_progress {
            state.room_mut(sid).record.end_reason = Some(RoomEndReason::Reset);
            state.complete(sid, RoomEndReason::Reset, now);
        }
        let subscribers = std::mem::take(&mut state.subscribers);
        // Every recording goes; its file is handed back for removal.
        let mut forgotten_media = std::mem::take(&mut state.forgotten_media);
        forgotten_media.extend(state.recordings.drain().map(|(_, r)| r.media_path));
        *state = State {
            subscribers,
            forgotten_media,
            ..State::default()
        };
    }
}

// ----- Internal state --------------------------------------------------------------------------

#[derive(Default)]
struct State {
    rooms: HashMap<RoomSid, RoomEntry>,
    /// Unique names of in-progress rooms.
    names: HashMap<String, RoomSid>,
    participants: HashMap<ParticipantSid, ParticipantEntry>,
    /// Ended rooms in the order they ended, so the most recent can be read without scanning
    /// (or sorting) every room.
    ended: Vec<RoomSid>,
    subscribers: Vec<UnboundedSender<StoreEvent>>,
    /// No lifecycle transition is due before this time (a lower bound; `None`: none pending).
    next_due: Option<OffsetDateTime>,
    /// Rules set through the REST API; a room or participant without an entry has Twilio's
    /// default (see `store/rules.rs`).
    recording_rules: HashMap<RoomSid, crate::rules::Rules>,
    subscribe_rules: HashMap<ParticipantSid, crate::rules::Rules>,
    /// Account-level configuration (see `store/account.rs`).
    recording_settings: account::MediaSettings,
    composition_settings: account::MediaSettings,
    composition_hooks: HashMap<String, account::CompositionHook>,
    /// Track recordings by SID (see `store/recordings.rs`), and the files of those forgotten
    /// since the caller last took them.
    recordings: HashMap<String, recordings::RecordingRecord>,
    forgotten_media: Vec<std::path::PathBuf>,
}

struct RoomEntry {
    record: RoomRecord,
    /// Every participant that ever joined, in join order.
    participants: Vec<ParticipantSid>,
    ever_joined: bool,
    /// When the last connected participant left; `None` while someone is connected.
    emptied_at: Option<OffsetDateTime>,
    next_sequence: u64,
}

struct ParticipantEntry {
    record: ParticipantRecord,
    /// Currently published tracks, in publication order.
    tracks: Vec<PublishedTrack>,
}

/// A lifecycle transition and the moment it is due.
enum Due {
    MaxRoomDuration,
    MaxParticipantDuration(ParticipantSid),
    Unused,
    Empty,
}

impl State {
    // These accessors are only called with SIDs that were just read from the maps under the
    // same lock (or resolved by `resolve_*`), and entries are removed only by `reset` and by
    // `forget_expired` (an ended room with all its participants at once, under the lock), so
    // the lookups cannot fail.
    fn room(&self, sid: &RoomSid) -> &RoomEntry {
        &self.rooms[sid]
    }

    fn room_mut(&mut self, sid: &RoomSid) -> &mut RoomEntry {
        self.rooms
            .get_mut(sid)
            .expect("room SID taken from the store")
    }

    fn participant_mut(&mut self, sid: &ParticipantSid) -> &mut ParticipantEntry {
        self.participants
            .get_mut(sid)
            .expect("participant SID taken from the store")
    }

    fn new_room_sid(&self) -> RoomSid {
        loop {
            let sid = RoomSid::from_u128(rand::random());
            if !self.rooms.contains_key(&sid) {
                return sid;
            }
        }
    }

    fn new_participant_sid(&self) -> ParticipantSid {
        loop {
            let sid = ParticipantSid::from_u128(rand::random());
            if !self.participants.contains_key(&sid) {
                return sid;
            }
        }
    }

    fn new_track_sid(&self) -> TrackSid {
        TrackSid::from_u128(rand::random())
    }

    /// The room a key names: by SID, any status (or, failing that, the in-progress room whose
    /// unique name is that SID's text); by name, the in-progress room of that name.
    fn resolve_room(&self, key: &RoomKey) -> Result<RoomSid, StoreError> {
        let found = match key {
            RoomKey::Sid(sid) if self.rooms.contains_key(sid) => Some(sid.clone()),
            RoomKey::Sid(sid) => self.names.get(sid.as_str()).cloned(),
            RoomKey::Name(name) => self.names.get(name.as_str()).cloned(),
        };
        found.ok_or_else(|| StoreError::room_not_found(key.as_path_segment()))
    }

    /// The participant a key names in the room `room` names: by SID, of that room, any status;
    /// by identity, the connected participant with it.
    fn resolve_participant(
        &self,
        room: &RoomKey,
        key: &ParticipantKey,
    ) -> Result<(RoomSid, ParticipantSid), StoreError> {
        let rsid = self.resolve_room(room)?;
        let found = match key {
            ParticipantKey::Sid(psid) => self
                .participants
                .get(psid)
                .filter(|p| p.record.room_sid == rsid)
                .map(|_| psid.clone()),
            ParticipantKey::Identity(identity) => {
                self.room(&rsid).participants.iter().find_map(|p| {
                    let record = &self.participants[p].record;
                    (record.is_connected() && &record.identity == identity).then(|| p.clone())
                })
            }
        };
        found
            .map(|psid| (rsid, psid))
            .ok_or_else(|| StoreError::participant_not_found(room.as_path_segment(), key.as_str()))
    }

    fn resolve_connected_participant(
        &self,
        room: &RoomKey,
        key: &ParticipantKey,
    ) -> Result<(RoomSid, ParticipantSid), StoreError> {
        let (rsid, psid) = self.resolve_participant(room, key)?;
        if self.participants[&psid].record.is_connected() {
            Ok((rsid, psid))
        } else {
            Err(StoreError::participant_not_found(
                room.as_path_segment(),
                key.as_str(),
            ))
        }
    }

    fn track_index(
        &self,
        rsid: &RoomSid,
        psid: &ParticipantSid,
        track: &str,
    ) -> Result<usize, StoreError> {
        self.participants[psid]
            .tracks
            .iter()
            .position(|t| t.sid.as_str() == track || t.client_id == track)
            .ok_or_else(|| {
                StoreError::not_found(format!(
                    "/Rooms/{rsid}/Participants/{psid}/PublishedTracks/{track}"
                ))
            })
    }

    fn connected_count(&self, rsid: &RoomSid) -> usize {
        self.room(rsid)
            .participants
            .iter()
            .filter(|p| self.participants[*p].record.is_connected())
            .count()
    }

    fn published_count(&self, rsid: &RoomSid) -> usize {
        self.room(rsid)
            .participants
            .iter()
            .map(|p| self.participants[p].tracks.len())
            .sum()
    }

    /// The one place that decides which tracks a participant receives: every track of the
    /// other connected participants of its room that its subscribe rules admit (all of them
    /// when nobody set rules, Twilio's default). SubscribedTracks, the signaling's `subscribed`
    /// lists and the media server's forwarding all follow it.
    fn subscribed(&self, subscriber: &ParticipantSid) -> Vec<SubscribedTrack> {
        let me = &self.participants[subscriber].record;
        if !me.is_connected() {
            return Vec::new();
        }
        let rules = self.subscribe_rules.get(subscriber).map(|r| &r.rules);
        self.room(&me.room_sid)
            .participants
            .iter()
            .filter(|p| *p != subscriber)
            .map(|p| &self.participants[p])
            .filter(|p| p.record.is_connected())
            .flat_map(|p| p.tracks.iter().map(move |t| (&p.record, t)))
            .filter(|(publisher, t)| {
                rules.is_none_or(|rules| {
                    crate::rules::admits(
                        rules,
                        &crate::rules::TrackFacts {
                            publisher_identity: publisher.identity.as_str(),
                            publisher_sid: publisher.sid.as_str(),
                            track_name: &t.name,
                            track_sid: t.sid.as_str(),
                            kind: t.kind,
                        },
                    )
                })
            })
            .map(|(_, t)| SubscribedTrack {
                sid: t.sid.clone(),
                participant_sid: subscriber.clone(),
                publisher_sid: t.participant_sid.clone(),
                room_sid: t.room_sid.clone(),
                name: t.name.clone(),
                date_created: t.date_created.max(me.start_time),
                date_updated: t.date_updated.max(me.start_time),
                enabled: t.enabled,
                kind: t.kind,
                client_id: t.client_id.clone(),
            })
            .collect()
    }

    /// Connects `identity` to the in-progress room `rsid` at `now`: the cap is checked (a
    /// connected participant with the same identity does not count, since it is replaced),
    /// the older connection of that identity is disconnected, then `participant-connected`.
    fn join(
        &mut self,
        rsid: &RoomSid,
        identity: &Identity,
        now: OffsetDateTime,
    ) -> Result<(ParticipantRecord, Option<ParticipantRecord>), StoreError> {
        let entry = self.room(rsid);
        let same_identity = entry
            .participants
            .iter()
            .find(|p| {
                let p = &self.participants[*p].record;
                p.is_connected() && &p.identity == identity
            })
            .cloned();
        let others = self.connected_count(rsid) - usize::from(same_identity.is_some());
        let cap = entry.record.max_participants as usize;
        if others >= cap {
            return Err(StoreError::new(
                twilio_codes::ROOM_FULL,
                format!("Room contains too many Participants (the room holds at most {cap})"),
            ));
        }

        let replaced = same_identity
            .map(|old| self.disconnect(&old, DisconnectReason::DuplicateIdentity, now));

        let psid = self.new_participant_sid();
        let record = ParticipantRecord {
            sid: psid.clone(),
            room_sid: rsid.clone(),
            status: ParticipantStatus::Connected,
            identity: identity.clone(),
            date_created: now,
            date_updated: now,
            start_time: now,
            end_time: None,
            duration: None,
            disconnect_reason: None,
        };
        self.participants.insert(
            psid.clone(),
            ParticipantEntry {
                record: record.clone(),
                tracks: Vec::new(),
            },
        );
        let entry = self.room_mut(rsid);
        entry.participants.push(psid);
        entry.ever_joined = true;
        entry.emptied_at = None;
        self.emit(
            StoreEventKind::ParticipantConnected,
            rsid,
            Some(record.clone()),
            None,
            now,
        );
        self.note_deadline(rsid);
        Ok((record, replaced))
    }

    fn insert_room(
        &mut self,
        record: RoomRecord,
        now: OffsetDateTime,
    ) -> Result<RoomRecord, StoreError> {
        if self.names.contains_key(&record.unique_name) {
            return Err(StoreError::new(twilio_codes::ROOM_EXISTS, "Room exists"));
        }
        let sid = record.sid.clone();
        self.names.insert(record.unique_name.clone(), sid.clone());
        self.rooms.insert(
            sid.clone(),
            RoomEntry {
                record: record.clone(),
                participants: Vec::new(),
                ever_joined: false,
                emptied_at: None,
                next_sequence: 0,
            },
        );
        self.emit(StoreEventKind::RoomCreated, &sid, None, None, now);
        self.note_deadline(&sid);
        Ok(record)
    }

    /// Sends an event to every live subscriber, forgetting those that hung up.
    fn emit(
        &mut self,
        kind: StoreEventKind,
        rsid: &RoomSid,
        participant: Option<ParticipantRecord>,
        track: Option<PublishedTrack>,
        at: OffsetDateTime,
    ) {
        let entry = self.room_mut(rsid);
        let sequence_number = entry.next_sequence;
        entry.next_sequence += 1;
        let event = StoreEvent {
            kind,
            room: entry.record.clone(),
            participant,
            track,
            recording: None,
            timestamp: at,
            sequence_number,
        };
        self.subscribers.retain(|tx| tx.send(event.clone()).is_ok());
    }

    /// Sends a recording event of the recording's room (which must still be in the store).
    fn emit_recording(
        &mut self,
        kind: StoreEventKind,
        recording: &recordings::RecordingRecord,
        at: OffsetDateTime,
    ) {
        let entry = self.room_mut(&recording.room_sid);
        let sequence_number = entry.next_sequence;
        entry.next_sequence += 1;
        let room = entry.record.clone();
        let participant = self
            .participants
            .get(&recording.participant_sid)
            .map(|p| p.record.clone());
        let event = StoreEvent {
            kind,
            room,
            participant,
            track: None,
            recording: Some(recording.clone()),
            timestamp: at,
            sequence_number,
        };
        self.subscribers.retain(|tx| tx.send(event.clone()).is_ok());
    }

    /// Disconnects a connected participant at `at`: its tracks are removed first
    /// (`track-removed` each), then `participant-disconnected`. Returns the record after.
    fn disconnect(
        &mut self,
        psid: &ParticipantSid,
        reason: DisconnectReason,
        at: OffsetDateTime,
    ) -> ParticipantRecord {
        let tracks = std::mem::take(&mut self.participant_mut(psid).tracks);
        let rsid = self.participants[psid].record.room_sid.clone();
        for track in tracks {
            let publisher = self.participants[psid].record.clone();
            self.emit(
                StoreEventKind::TrackRemoved,
                &rsid,
                Some(publisher),
                Some(track),
                at,
            );
        }
        let record = &mut self.participant_mut(psid).record;
        record.status = ParticipantStatus::Disconnected;
        record.end_time = Some(at);
        record.duration = Some(seconds_between(record.start_time, at));
        record.date_updated = at;
        record.disconnect_reason = Some(reason);
        let record = record.clone();
        self.emit(
            StoreEventKind::ParticipantDisconnected(reason),
            &rsid,
            Some(record.clone()),
            None,
            at,
        );
        if self.connected_count(&rsid) == 0 {
            self.room_mut(&rsid).emptied_at = Some(at);
        }
        record
    }

    /// Ends an in-progress room at `at`: everyone connected is disconnected (reason
    /// `RoomCompleted`, or `Reset` during a reset), the name is freed, then `room-ended`.
    fn complete(&mut self, rsid: &RoomSid, reason: RoomEndReason, at: OffsetDateTime) {
        let connected: Vec<ParticipantSid> = self
            .room(rsid)
            .participants
            .iter()
            .filter(|p| self.participants[*p].record.is_connected())
            .cloned()
            .collect();
        let participant_reason = if reason == RoomEndReason::Reset {
            DisconnectReason::Reset
        } else {
            DisconnectReason::RoomCompleted
        };
        for psid in connected {
            self.disconnect(&psid, participant_reason, at);
        }
        let record = &mut self.room_mut(rsid).record;
        record.status = RoomStatus::Completed;
        record.end_time = Some(at);
        record.duration = Some(seconds_between(record.date_created, at));
        record.date_updated = at;
        record.end_reason = Some(reason);
        let name = record.unique_name.clone();
        if self.names.get(&name) == Some(rsid) {
            self.names.remove(&name);
        }
        self.ended.push(rsid.clone());
        tracing::debug!(room = %rsid, reason = %reason, "room ended");
        self.emit(StoreEventKind::RoomEnded(reason), rsid, None, None, at);
    }

    /// One room as the inspector shows it, with at most `limit` participants.
    fn inspect_room(&self, sid: &RoomSid, limit: usize) -> InspectedRoom {
        let entry = self.room(sid);
        let (connected, others): (Vec<&ParticipantSid>, Vec<&ParticipantSid>) = entry
            .participants
            .iter()
            .partition(|p| self.participants[*p].record.is_connected());
        let participants = connected
            .into_iter()
            .chain(others.into_iter().rev())
            .take(limit)
            .map(|p| {
                let participant = &self.participants[p];
                InspectedParticipant {
                    record: participant.record.clone(),
                    tracks: participant.tracks.clone(),
                }
            })
            .collect();
        InspectedRoom {
            record: entry.record.clone(),
            participants_total: entry.participants.len(),
            participants,
        }
    }

    /// The earliest lifecycle transition of an in-progress room, if any.
    fn next_transition(&self, rsid: &RoomSid) -> Option<(OffsetDateTime, Due)> {
        let entry = self.room(rsid);
        let record = &entry.record;
        if !record.is_in_progress() {
            return None;
        }
        let minutes = |m: u32| time::Duration::minutes(i64::from(m));
        let mut best: Option<(OffsetDateTime, Due)> = Some((
            record
                .date_created
                .saturating_add(time::Duration::seconds(MAX_ROOM_DURATION_SECONDS)),
            Due::MaxRoomDuration,
        ));
        let mut consider = |at: OffsetDateTime, due: Due| {
            if best.as_ref().is_none_or(|(b, _)| at < *b) {
                best = Some((at, due));
            }
        };
        let mut connected = 0;
        for psid in &entry.participants {
            let p = &self.participants[psid].record;
            if p.is_connected() {
                connected += 1;
                let limit = time::Duration::seconds(i64::from(record.max_participant_duration));
                consider(
                    p.start_time.saturating_add(limit),
                    Due::MaxParticipantDuration(psid.clone()),
                );
            }
        }
        if connected == 0 {
            match entry.emptied_at {
                Some(emptied) if entry.ever_joined => {
                    consider(
                        emptied.saturating_add(minutes(record.empty_room_timeout)),
                        Due::Empty,
                    );
                }
                _ if !entry.ever_joined => {
                    consider(
                        record
                            .date_created
                            .saturating_add(minutes(record.unused_room_timeout)),
                        Due::Unused,
                    );
                }
                _ => {}
            }
        }
        best
    }

    /// Applies the transitions of one room due at or before `now`, each at its own moment.
    fn settle_room(&mut self, rsid: &RoomSid, now: OffsetDateTime, report: &mut TickReport) {
        // Each step removes a participant or ends the room, so this terminates; the bound is a
        // second guarantee.
        let bound = self.room(rsid).participants.len() + 2;
        for _ in 0..bound {
            let Some((at, due)) = self.next_transition(rsid) else {
                return;
            };
            if at > now {
                return;
            }
            match due {
                Due::MaxParticipantDuration(psid) => {
                    self.disconnect(&psid, DisconnectReason::MaxParticipantDuration, at);
                    report.participants_removed.push(psid);
                }
                Due::MaxRoomDuration | Due::Unused | Due::Empty => {
                    let reason = match due {
                        Due::MaxRoomDuration => RoomEndReason::MaxDuration,
                        Due::Unused => RoomEndReason::UnusedTimeout,
                        _ if self.room(rsid).record.ad_hoc => RoomEndReason::LastParticipantLeft,
                        _ => RoomEndReason::EmptyTimeout,
                    };
                    let removed: Vec<ParticipantSid> = self
                        .room(rsid)
                        .participants
                        .iter()
                        .filter(|p| self.participants[*p].record.is_connected())
                        .cloned()
                        .collect();
                    self.complete(rsid, reason, at);
                    report.participants_removed.extend(removed);
                    report.rooms_ended.push(rsid.clone());
                    return;
                }
            }
        }
    }

    /// Applies every transition due at `now`, rooms in creation order, and recomputes when the
    /// next one is due.
    fn settle_all(&mut self, now: OffsetDateTime) -> TickReport {
        let mut report = TickReport::default();
        let mut due: Vec<(OffsetDateTime, RoomSid)> = self
            .rooms
            .values()
            .filter(|e| e.record.is_in_progress())
            .map(|e| (e.record.date_created, e.record.sid.clone()))
            .collect();
        due.sort();
        for (_, rsid) in due {
            self.settle_room(&rsid, now, &mut report);
        }
        self.refresh_next_due();
        report
    }

    /// Lowers `next_due` to the room's next transition, after a change that may have created
    /// one (creation, a join, a departure). Transitions that disappear leave `next_due` early,
    /// which only costs one needless `settle_all`.
    fn note_deadline(&mut self, rsid: &RoomSid) {
        if let Some((at, _)) = self.next_transition(rsid) {
            self.next_due = Some(self.next_due.map_or(at, |due| due.min(at)));
        }
    }

    /// Recomputes when the next transition of any room is due.
    fn refresh_next_due(&mut self) {
        self.next_due = self
            .rooms
            .values()
            .filter(|e| e.record.is_in_progress())
            .filter_map(|e| self.next_transition(&e.record.sid).map(|(at, _)| at))
            .min();
    }
}

/// Twilio's `DateCreatedAfter`/`DateCreatedBefore` window, the same for rooms and
/// participants: the lower bound is inclusive, the upper one exclusive.
fn created_within(
    after: Option<OffsetDateTime>,
    before: Option<OffsetDateTime>,
    created: OffsetDateTime,
) -> bool {
    after.is_none_or(|t| created >= t) && before.is_none_or(|t| created < t)
}

fn status_invalid_not_in_progress(record: &RoomRecord) -> StoreError {
    StoreError::new(
        twilio_codes::ROOM_STATUS_INVALID,
        format!(
            "Status is invalid: room {} is {}, and only an in-progress room can be completed",
            record.sid, record.status
        ),
    )
}

/// Validates a creation request and builds the record (Twilio's defaults for what is absent).
fn build_room(
    request: &CreateRoom,
    sid: RoomSid,
    now: OffsetDateTime,
    ad_hoc: bool,
    callback_hosts: &CallbackHosts,
) -> Result<RoomRecord, StoreError> {
    let room_type = request.room_type.unwrap_or_default();
    let large_room = request.large_room.unwrap_or(false);
    if large_room && room_type != RoomType::Group {
        return Err(StoreError::new(
            twilio_codes::PARAMETER_INCOMPATIBLE_WITH_TYPE,
            format!("Room creation parameter(s) incompatible with the Room type: LargeRoom needs a group room (got {room_type})"),
        ));
    }
    let cap = if large_room {
        LARGE_ROOM_MAX_PARTICIPANTS
    } else {
        room_type.max_participants()
    };
    let max_participants = request.max_participants.unwrap_or(cap);
    if !(1..=cap).contains(&max_participants) {
        return Err(StoreError::new(
            twilio_codes::MAX_PARTICIPANTS_OUT_OF_RANGE,
            format!("MaxParticipants is out of range: {room_type} rooms hold 1 to {cap} (got {max_participants})"),
        ));
    }
    let timeout = |value: Option<u32>, name: &str| -> Result<u32, StoreError> {
        if ad_hoc {
            return Ok(0);
        }
        let minutes = value.unwrap_or(DEFAULT_ROOM_TIMEOUT_MINUTES);
        if (1..=MAX_ROOM_TIMEOUT_MINUTES).contains(&minutes) {
            Ok(minutes)
        } else {
            Err(StoreError::new(
                twilio_codes::TIMEOUT_OUT_OF_RANGE,
                format!("Timeout is out of range: {name} must be 1 to {MAX_ROOM_TIMEOUT_MINUTES} minutes (got {minutes})"),
            ))
        }
    };
    let empty_room_timeout = timeout(request.empty_room_timeout, "EmptyRoomTimeout")?;
    let unused_room_timeout = timeout(request.unused_room_timeout, "UnusedRoomTimeout")?;
    let max_participant_duration = request
        .max_participant_duration
        .unwrap_or(DEFAULT_MAX_PARTICIPANT_DURATION);
    if !(1..=MAX_PARTICIPANT_DURATION).contains(&max_participant_duration) {
        return Err(StoreError::new(
            twilio_codes::TIMEOUT_OUT_OF_RANGE,
            format!("Timeout is out of range: MaxParticipantDuration must be 1 to {MAX_PARTICIPANT_DURATION} seconds (got {max_participant_duration})"),
        ));
    }
    let status_callback = match request.status_callback.as_deref() {
        None | Some("") => None,
        Some(url) => Some(validate_status_callback(url, callback_hosts)?),
    };
    let status_callback_method = match request.status_callback_method.as_deref() {
        None | Some("") => "POST".to_owned(),
        Some(m) if m.eq_ignore_ascii_case("GET") || m.eq_ignore_ascii_case("POST") => {
            m.to_ascii_uppercase()
        }
        Some(m) => {
            return Err(StoreError::new(
                twilio_codes::STATUS_CALLBACK_METHOD_INVALID,
                format!("StatusCallbackMethod is invalid: must be GET or POST (got '{m}')"),
            ))
        }
    };
    let record_participants_on_connect = request.record_participants_on_connect.unwrap_or(false);
    if record_participants_on_connect && matches!(room_type, RoomType::Go | RoomType::PeerToPeer) {
        return Err(StoreError::new(
            twilio_codes::PARAMETER_INCOMPATIBLE_WITH_TYPE,
            format!("Room creation parameter(s) incompatible with the Room type: {room_type} rooms cannot record (RecordParticipantsOnConnect)"),
        ));
    }
    let audio_only = request.audio_only.unwrap_or(false);
    if audio_only && room_type != RoomType::Group {
        return Err(StoreError::new(
            twilio_codes::AUDIO_ONLY_UNSUPPORTED,
            format!("AudioOnly flag not supported for the Room type ({room_type})"),
        ));
    }
    let video_codecs = match &request.video_codecs {
        None if audio_only => Vec::new(),
        None => vec!["VP8".to_owned()],
        Some(codecs) => {
            let mut out: Vec<String> = Vec::new();
            for codec in codecs {
                let upper = codec.to_ascii_uppercase();
                if !VIDEO_CODECS.contains(&upper.as_str()) {
                    return Err(StoreError::new(
                        twilio_codes::INVALID_PARAMETER,
                        format!("VideoCodecs is invalid: each must be VP8 or H264 (got '{codec}')"),
                    ));
                }
                if !out.contains(&upper) {
                    out.push(upper);
                }
            }
            out
        }
    };
    let media_region = match request.media_region.as_deref() {
        None | Some("") => "us1".to_owned(),
        Some(region) => {
            let lower = region.to_ascii_lowercase();
            if !MEDIA_REGIONS.contains(&lower.as_str()) {
                return Err(StoreError::new(
                    twilio_codes::MEDIA_REGION_INVALID,
                    format!(
                        "MediaRegion is invalid: must be one of {} (got '{region}')",
                        MEDIA_REGIONS.join(", ")
                    ),
                ));
            }
            lower
        }
    };
    let max_concurrent_published_tracks = match room_type {
        RoomType::Group | RoomType::GroupSmall => 170,
        RoomType::Go | RoomType::PeerToPeer => 0,
    };
    let unique_name = request
        .unique_name
        .as_ref()
        .map_or_else(|| sid.to_string(), |n| n.to_string());
    Ok(RoomRecord {
        sid,
        status: RoomStatus::InProgress,
        date_created: now,
        date_updated: now,
        enable_turn: true,
        unique_name,
        status_callback,
        status_callback_method,
        end_time: None,
        duration: None,
        room_type,
        max_participants,
        max_participant_duration,
        max_concurrent_published_tracks,
        record_participants_on_connect,
        video_codecs,
        media_region,
        audio_only,
        empty_room_timeout,
        unused_room_timeout,
        large_room,
        ad_hoc,
        end_reason: None,
    })
}

fn validate_status_callback(raw: &str, hosts: &CallbackHosts) -> Result<String, StoreError> {
    let invalid = |why: &str| {
        StoreError::new(
            twilio_codes::STATUS_CALLBACK_INVALID,
            format!("StatusCallback is invalid: {why}"),
        )
    };
    if raw.len() > MAX_STATUS_CALLBACK_LEN {
        return Err(invalid(&format!(
            "at most {MAX_STATUS_CALLBACK_LEN} bytes (got {})",
            raw.len()
        )));
    }
    let url = url::Url::parse(raw).map_err(|e| invalid(&format!("not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must be an http or https URL with a host"));
    }
    if !hosts.allows(&url) {
        return Err(invalid(&format!(
            "the emulator delivers callbacks only to {} (got host '{}'); a local receiver works as is, and the emulator's callback hosts setting (emulator.callback_hosts, VIDEOROOM_CALLBACK_HOSTS) opens others",
            hosts.describe(),
            url.host_str().unwrap_or_default()
        )));
    }
    Ok(raw.to_owned())
}

// ----- Retention of ended rooms ----------------------------------------------------------------

/// How long an ended room (with its participants) is kept after it ended when the store is
/// not told otherwise: 24 hours of the store's clock, so a test suite or a CI job that runs
/// for days holds a bounded number of rooms while a room is still there to be inspected long
/// after the tests that made it.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl Store {
    /// This store, keeping ended rooms for `retention` after they ended (measured on the
    /// store's clock, so `POST /emulator/clock/advance` ages them too).
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = retention;
        self
    }

    /// How long ended rooms are kept after they ended.
    pub fn retention(&self) -> std::time::Duration {
        self.retention
    }
}

impl State {
    /// Forgets every ended room whose end is `retention` or more before `now`, with its
    /// participants: afterwards they are 20404s, as on Twilio once its own retention passed.
    fn forget_expired(&mut self, now: OffsetDateTime, retention: std::time::Duration) {
        // A retention beyond what a date can hold keeps everything.
        let Ok(retention) = time::Duration::try_from(retention) else {
            return;
        };
        let Some(cutoff) = now.checked_sub(retention) else {
            return;
        };
        let rooms = &self.rooms;
        let expired = |sid: &RoomSid| {
            rooms
                .get(sid)
                .and_then(|entry| entry.record.end_time)
                .is_some_and(|ended| ended <= cutoff)
        };
        let forget: Vec<RoomSid> = self.ended.iter().filter(|s| expired(s)).cloned().collect();
        if forget.is_empty() {
            return;
        }
        for sid in &forget {
            if let Some(entry) = self.rooms.remove(sid) {
                for psid in &entry.participants {
                    self.participants.remove(psid);
                    self.subscribe_rules.remove(psid);
                }
            }
            self.recording_rules.remove(sid);
            self.forget_recordings_of(sid);
        }
        let rooms = &self.rooms;
        self.ended.retain(|sid| rooms.contains_key(sid));
        tracing::debug!(
            rooms = forget.len(),
            "forgot ended rooms past their retention"
        );
    }
}
