//! The room hub: who is connected to which room over signaling, what each of them publishes and
//! receives, and which peer connection joins which pair of participants.
//!
//! The [`Store`] stays the source of truth for rooms, participants and tracks (so the REST API and
//! the status callbacks see every change); the hub keeps only what the SDK needs beyond it: the
//! sockets, the revisions the SDK compares, the client's track ids and priorities, the map from
//! peer-connection id to the pair it connects, and which participants connected without signaling
//! (simulated ones) the clients were told about.
//!
//! Each room has its own lock, so one room's traffic never delays another's: the map of rooms is
//! locked only to find, add or remove a room, and never while a room's lock is being taken
//! (the order is always room, then map). Nothing awaits while holding a lock. Messages to other
//! participants are queued with `try_send` on their bounded outgoing queues: a participant whose
//! queue is full is told to close (its own task then cleans up), so one slow reader never blocks
//! a room or grows memory.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Notify};
use videoroom_core::token::{TokenVerifier, VerifiedToken};
use videoroom_core::{twilio_codes, ParticipantSid, RoomKey, RoomSid, TrackSid};
use videoroom_emulator_adapter::{
    CreateRoom, DisconnectReason, Joined, ParticipantKey, PublishTrack, Store, StoreError,
    StoreEvent, StoreEventKind, TrackKind,
};

use super::connection::close;
use super::media::{MediaSeat, RoomMedia};
use super::protocol::{
    self, ConnectMessage, Connected, Disconnected, DisconnectedStatus, ErrorBody, LocalParticipant,
    ParticipantState, ParticipantStatus, PeerConnection, PublishedTrack, RemoteParticipant,
    RemoteTrack, Revisioned, ServerDescription, ServerDescriptionKind, ServerFrame, ServerMessage,
    SessionOptions, SubscribedTrack, TrackState, Update, UpdateMessage,
};
use crate::media::{uses_media_server, MediaPlane};

/// The most tracks one participant may publish; more is refused per track with 53203.
/// (Twilio documents no per-participant figure; the SDK publishes one or two tracks, a screen
/// share a third.)
const MAX_TRACKS_PER_PARTICIPANT: usize = 32;
/// The most tracks published in one room at a time, all participants together; more is refused
/// per track with 53203. Twilio's group rooms default to 170 (its recommended 60 audio, 60 video
/// and 50 data tracks) and the store applies that to them; peer-to-peer rooms are unlimited at
/// Twilio, but a browser mesh carrying 170 tracks is far past any real use, so signaling applies
/// the same figure to every room: it bounds what one room's state costs to send.
const MAX_TRACKS_PER_ROOM: usize = 170;
/// The most peer-connection states one `update` may carry; the rest are dropped.
const MAX_PEER_CONNECTIONS_PER_UPDATE: usize = 64;

/// The revision after `revision`, for a departure or a closed peer connection. Client revisions
/// are checked on the way in ([`protocol::MAX_CLIENT_REVISION`]), so this never overflows.
fn next_revision(revision: u64) -> u64 {
    revision
        .checked_add(1)
        .expect("client revisions are at most MAX_CLIENT_REVISION, far below u64::MAX")
}

/// What a connection's task is asked to send.
#[derive(Debug)]
pub enum Outgoing {
    Text(String),
    /// Close the socket with this code and reason, after the frames queued before it.
    Close(u16, String),
}

/// The hub's handle on one connection: its outgoing queue, bounded in frames and in bytes, and
/// a kill switch used when that queue is full.
#[derive(Clone, Debug)]
pub struct ConnHandle {
    pub id: u64,
    tx: mpsc::Sender<Outgoing>,
    kill: Arc<Notify>,
    /// Bytes of text in the queue, not yet taken by the connection's task.
    queued: Arc<AtomicUsize>,
    max_queued_bytes: usize,
}

impl ConnHandle {
    pub fn new(
        id: u64,
        tx: mpsc::Sender<Outgoing>,
        kill: Arc<Notify>,
        max_queued_bytes: usize,
    ) -> Self {
        Self {
            id,
            tx,
            kill,
            queued: Arc::new(AtomicUsize::new(0)),
            max_queued_bytes,
        }
    }

    /// Queues a frame and returns its size in bytes (0 when it was not queued). A full queue,
    /// in frames or in bytes, means the client does not read: it is killed instead.
    fn send(&self, frame: impl Into<ServerFrame>) -> usize {
        let text = protocol::encode(&frame.into());
        let bytes = text.len();
        let before = self.queued.fetch_add(bytes, Ordering::SeqCst);
        if before + bytes > self.max_queued_bytes {
            self.queued.fetch_sub(bytes, Ordering::SeqCst);
            self.kill.notify_one();
            return 0;
        }
        match self.tx.try_send(Outgoing::Text(text)) {
            Ok(()) => bytes,
            Err(TrySendError::Closed(_)) => {
                self.queued.fetch_sub(bytes, Ordering::SeqCst);
                0
            }
            Err(TrySendError::Full(_)) => {
                self.queued.fetch_sub(bytes, Ordering::SeqCst);
                self.kill.notify_one();
                0
            }
        }
    }

    /// The connection's task took `bytes` of text off the queue.
    pub fn taken(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::SeqCst);
    }

    fn close(&self, code: u16, reason: &str) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Outgoing::Close(code, reason.into())) {
            self.kill.notify_one();
        }
    }
}

/// Why signaling refused something (a join, a track), as a Twilio code the SDK turns into its
/// TwilioError and a message. (Not to be confused with [`crate::sdk::SdkError`], which says why
/// the SDK file itself could not be obtained.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalingError {
    pub code: u32,
    pub message: String,
}

impl SignalingError {
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The error as the SDK reads it.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
        }
    }
}

impl From<StoreError> for SignalingError {
    fn from(err: StoreError) -> Self {
        Self::new(err.code, err.message)
    }
}

/// The message of [`twilio_codes::DUPLICATE_IDENTITY`], sent to the connection a newer one of
/// the same identity replaced.
fn duplicate_identity() -> ServerMessage {
    ServerMessage::Error(ErrorBody {
        code: twilio_codes::DUPLICATE_IDENTITY,
        message: "Participant disconnected because of duplicate identity".to_owned(),
    })
}

/// `disconnected` with status `completed`: the SDK reports RoomCompletedError.
fn room_completed() -> ServerMessage {
    ServerMessage::Disconnected(Disconnected {
        status: Some(DisconnectedStatus::Completed),
    })
}

/// What join step 2 ([`Hub::seat`]) hands to the reply and the announcement.
struct Seated {
    joined: Joined,
    /// The new member, not yet in the room's list.
    member: Member,
    /// The outcome of publishing each of its tracks, for `connected`.
    published: Vec<PublishedTrack>,
}

/// A join refused once its room's lock was taken: the room, to forget it if it stays empty.
struct SeatError {
    room: RoomSid,
    error: SignalingError,
}

/// Where a joined connection sits: what it needs to address the hub afterwards.
#[derive(Debug, Clone)]
pub struct Seat {
    pub room: RoomSid,
    pub participant: ParticipantSid,
}

#[derive(Debug, Clone)]
struct TrackInfo {
    sid: TrackSid,
    id: String,
    kind: String,
    name: String,
    enabled: bool,
    priority: String,
}

impl TrackInfo {
    fn remote_state(&self) -> RemoteTrack {
        RemoteTrack {
            sid: self.sid.as_str().to_owned(),
            id: self.id.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            enabled: self.enabled,
            priority: self.priority.clone(),
        }
    }

    fn subscribed(&self) -> SubscribedTrack {
        SubscribedTrack {
            sid: self.sid.as_str().to_owned(),
            id: self.id.clone(),
        }
    }
}

#[derive(Debug)]
struct Member {
    conn: ConnHandle,
    participant: ParticipantSid,
    identity: String,
    /// The participant's revision as other clients see it; it only goes up.
    revision: u64,
    tracks: Vec<TrackInfo>,
    /// Revision of the `published` list this client last received.
    published_revision: u64,
    /// Revision of the `subscribed` list this client last received.
    subscribed_revision: u64,
    /// Its one peer connection to the media server, in a room that has one.
    media: Option<MediaSeat>,
}

impl Member {
    fn remote_state(&self, state: ParticipantStatus, revision: u64) -> RemoteParticipant {
        RemoteParticipant {
            sid: self.participant.as_str().to_owned(),
            identity: self.identity.clone(),
            revision,
            state,
            tracks: self.tracks.iter().map(TrackInfo::remote_state).collect(),
        }
    }
}

#[derive(Debug)]
struct PeerPair {
    offerer: ParticipantSid,
    answerer: ParticipantSid,
    /// The highest description or ICE revision relayed, so `close` can go above it.
    revision: u64,
}

#[derive(Debug, Default)]
struct RoomHub {
    /// Removed from the hub (emptied or ended): whoever finds it so after waiting for its lock
    /// takes the room afresh from the hub's map.
    closed: bool,
    /// In join order.
    members: Vec<Member>,
    /// Participants connected without signaling (the control route's simulated participants),
    /// as the members were told about them: present, with no tracks and no media.
    phantoms: Vec<Phantom>,
    peer_connections: HashMap<String, PeerPair>,
    /// The media server, when this room goes through one (a group room in SFU mode); the
    /// mesh's `peer_connections` then stay empty.
    media: Option<RoomMedia>,
}

#[derive(Debug, Clone)]
struct Phantom {
    participant: ParticipantSid,
    identity: String,
}

impl Phantom {
    /// A phantom's state never changes while it is connected: revision 1, then 2 when it leaves.
    fn remote_state(&self, connected: bool) -> RemoteParticipant {
        RemoteParticipant {
            sid: self.participant.as_str().to_owned(),
            identity: self.identity.clone(),
            revision: if connected { 1 } else { 2 },
            state: if connected {
                ParticipantStatus::Connected
            } else {
                ParticipantStatus::Disconnected
            },
            tracks: Vec::new(),
        }
    }
}

impl RoomHub {
    /// Disconnects a departing member from the media server, if it is on it.
    fn media_leave(&self, gone: &Member) {
        if let (Some(media), Some(_)) = (&self.media, &gone.media) {
            media.leave(gone.participant.as_str());
        }
    }

    /// Sends each member on the media server the server's offer it needs next (others' tracks
    /// arrived or left), if any. Called after everything that can change the tracks.
    fn renegotiate(&mut self) {
        let Some(media) = &self.media else {
            return;
        };
        for member in &mut self.members {
            if let Some(seat) = &mut member.media {
                if let Some(offer) = media.next_offer(&member.participant, seat) {
                    member.conn.send(offer);
                }
            }
        }
    }

    fn is_known(&self, participant: &ParticipantSid) -> bool {
        self.position(participant).is_some()
            || self.phantoms.iter().any(|p| &p.participant == participant)
    }

    /// Tells every member that a participant without signaling arrived or left.
    fn announce_phantom(&self, phantom: &Phantom, connected: bool) {
        let state = phantom.remote_state(connected);
        for member in &self.members {
            member.conn.send(ServerMessage::Update(Update {
                participants: Some(vec![state.clone()]),
                ..Update::default()
            }));
        }
    }

    /// Removes a phantom and tells the members it left; `false` when it was not one.
    fn remove_phantom(&mut self, participant: &ParticipantSid) -> bool {
        match self
            .phantoms
            .iter()
            .position(|p| &p.participant == participant)
        {
            Some(index) => {
                let gone = self.phantoms.remove(index);
                self.announce_phantom(&gone, false);
                true
            }
            None => false,
        }
    }

    fn position(&self, participant: &ParticipantSid) -> Option<usize> {
        self.members
            .iter()
            .position(|m| &m.participant == participant)
    }

    /// The member a connection holds its seat as: `None` once the hub removed it (kicked,
    /// replaced by a newer connection of the same identity, room completed), so a late message
    /// from that connection changes nothing.
    fn seat_holder(&self, seat: &Seat, conn_id: u64) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.conn.id == conn_id && m.participant == seat.participant)
    }

    /// The tracks `subscriber` receives, as `{sid, id}`: every track of every other member,
    /// and through the media server only those the store admits (its subscribe rules).
    fn subscribed_tracks(&self, subscriber: &ParticipantSid) -> Vec<SubscribedTrack> {
        let admitted = self.media.as_ref().map(|m| m.admitted(subscriber));
        self.members
            .iter()
            .filter(|m| &m.participant != subscriber)
            .flat_map(|m| m.tracks.iter())
            .filter(|t| admitted.as_ref().is_none_or(|a| a.contains(&t.sid)))
            .map(TrackInfo::subscribed)
            .collect()
    }

    /// The member's subscribe rules changed: its `subscribed` list and the media server's
    /// forwarding follow what the store now admits.
    fn resubscribe(&mut self, participant: &ParticipantSid) {
        let Some(index) = self.position(participant) else {
            return;
        };
        let subscribed = self.subscribed_tracks(participant);
        let member = &mut self.members[index];
        member.subscribed_revision += 1;
        member.conn.send(ServerMessage::Update(Update {
            subscribed: Some(Revisioned {
                revision: member.subscribed_revision,
                tracks: subscribed,
            }),
            ..Update::default()
        }));
        self.renegotiate();
    }

    /// Tells every remaining member that `gone` left: its state `disconnected` at a higher
    /// revision, their `subscribed` lists without its tracks, and `close` for each peer
    /// connection of the pair.
    fn announce_departure(&mut self, gone: &Member) {
        self.media_leave(gone);
        let departed = gone.remote_state(
            ParticipantStatus::Disconnected,
            next_revision(gone.revision),
        );
        let closing: Vec<(String, PeerPair)> = {
            let ids: Vec<String> = self
                .peer_connections
                .iter()
                .filter(|(_, p)| p.offerer == gone.participant || p.answerer == gone.participant)
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| self.peer_connections.remove(&id).map(|p| (id, p)))
                .collect()
        };
        for index in 0..self.members.len() {
            let subscribed = self.subscribed_tracks(&self.members[index].participant);
            let member = &mut self.members[index];
            member.subscribed_revision += 1;
            let closes: Vec<PeerConnection> = closing
                .iter()
                .filter(|(_, p)| {
                    p.offerer == member.participant || p.answerer == member.participant
                })
                .map(|(id, p)| PeerConnection::Server {
                    id: id.clone(),
                    description: ServerDescription {
                        kind: ServerDescriptionKind::Close,
                        revision: next_revision(p.revision),
                        sdp: None,
                    },
                })
                .collect();
            member.conn.send(ServerMessage::Update(Update {
                participants: Some(vec![departed.clone()]),
                subscribed: Some(Revisioned {
                    revision: member.subscribed_revision,
                    tracks: subscribed,
                }),
                // Through the media server, each member keeps its one peer connection.
                peer_connections: self.media.is_none().then_some(closes),
                ..Update::default()
            }));
        }
        self.renegotiate();
    }
}

/// Settings the hub applies to joins.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// The template of rooms created when a client connects to a name that has none; `None`
    /// refuses such joins with 53106.
    pub ad_hoc_template: Option<CreateRoom>,
    /// `options.session_timeout` sent in `connected`, seconds.
    pub session_timeout_secs: u64,
    /// The media server of group rooms; `None` serves them as a mesh.
    pub media: Option<Arc<MediaPlane>>,
}

/// One room of the hub, behind its own lock.
type SharedRoom = Arc<Mutex<RoomHub>>;

/// Identities whose join has entered the store but whose room lock is not taken yet. The store
/// announces every connected participant as an event; signaling's own joins must not be taken
/// for participants without signaling (phantoms) in that gap.
#[derive(Debug, Default)]
struct Joining(Mutex<HashMap<String, usize>>);

impl Joining {
    fn mark(&self, identity: &str) -> JoiningMark<'_> {
        *self.0.lock().entry(identity.to_owned()).or_default() += 1;
        JoiningMark {
            joining: self,
            identity: identity.to_owned(),
        }
    }

    fn contains(&self, identity: &str) -> bool {
        self.0.lock().contains_key(identity)
    }
}

/// A join in progress, unmarked when dropped.
struct JoiningMark<'a> {
    joining: &'a Joining,
    identity: String,
}

impl Drop for JoiningMark<'_> {
    fn drop(&mut self) {
        let mut joining = self.joining.0.lock();
        if let Some(count) = joining.get_mut(&self.identity) {
            *count -= 1;
            if *count == 0 {
                joining.remove(&self.identity);
            }
        }
    }
}

/// The room hub. Share it as `Arc<Hub>`.
#[derive(Debug)]
pub struct Hub {
    store: Arc<Store>,
    verifier: TokenVerifier,
    settings: HubSettings,
    /// Held only to find, add or remove a room (see the module doc).
    rooms: Mutex<HashMap<RoomSid, SharedRoom>>,
    joining: Joining,
}

impl Hub {
    pub fn new(store: Arc<Store>, verifier: TokenVerifier, settings: HubSettings) -> Self {
        Self {
            store,
            verifier,
            settings,
            rooms: Mutex::new(HashMap::new()),
            joining: Joining::default(),
        }
    }

    /// How many participants are connected over signaling, all rooms together.
    pub fn connected_count(&self) -> usize {
        let rooms: Vec<SharedRoom> = self.rooms.lock().values().cloned().collect();
        rooms.iter().map(|room| room.lock().members.len()).sum()
    }

    /// The room, if the hub has it.
    fn room(&self, sid: &RoomSid) -> Option<SharedRoom> {
        self.rooms.lock().get(sid).cloned()
    }

    /// The room, added to the hub when it has none.
    fn room_or_new(&self, sid: &RoomSid) -> SharedRoom {
        self.rooms.lock().entry(sid.clone()).or_default().clone()
    }

    /// Removes a room left without members from the hub; called with the room's lock held.
    fn forget_if_empty(&self, sid: &RoomSid, room: &mut RoomHub) {
        if room.members.is_empty() && !room.closed {
            room.closed = true;
            self.rooms.lock().remove(sid);
        }
    }

    /// Handles `connect`, in four steps: [`Hub::verify`] the token, [`Hub::seat`] the
    /// participant (connected in the store by [`Hub::enter_store`], in the room resolved or
    /// created, before its room's lock is taken; then its tracks published),
    /// [`Hub::reply`] `connected` to it, and [`Hub::announce`] it to every other member, each
    /// with a `create-offer` for the new peer connection of the pair.
    pub fn join(
        &self,
        conn: &ConnHandle,
        connect: &ConnectMessage,
    ) -> Result<Seat, SignalingError> {
        let verified = self.verify(connect)?;
        let subscribe_rules = client_subscribe_rules(connect)?;
        let _joining = self.joining.mark(verified.identity.as_str());
        let joined = self.enter_store(connect, &verified)?;
        loop {
            let shared = self.room_or_new(&joined.room.sid);
            let mut room = shared.lock();
            if room.closed {
                // Emptied or ended while this join waited for it: take the hub's current one.
                continue;
            }
            if room.media.is_none() && uses_media_server(joined.room.room_type) {
                if let Some(plane) = &self.settings.media {
                    room.media = Some(RoomMedia::new(
                        plane.clone(),
                        self.store.clone(),
                        joined.room.sid.clone(),
                    ));
                }
            }
            // The client's own rules (`automaticSubscription: false` excludes everything);
            // the default "include all" needs no entry, so the REST view keeps Twilio's
            // default with null dates.
            if let (Some(_), Some(rules)) = (&room.media, &subscribe_rules) {
                if let Err(err) = self.store.set_subscribe_rules(
                    &RoomKey::Sid(joined.room.sid.clone()),
                    &ParticipantKey::Sid(joined.participant.sid.clone()),
                    rules.clone(),
                ) {
                    tracing::warn!(participant = %joined.participant.sid, error = %err, "signaling: the client's subscribe rules were not stored");
                }
            }
            let mut seated = match self.seat(&mut room, conn, connect, &verified, joined) {
                Ok(seated) => seated,
                Err(err) => {
                    self.forget_if_empty(&err.room, &mut room);
                    return Err(err.error);
                }
            };
            let mut answer = Vec::new();
            if let Some(media) = &room.media {
                let offers = connect.peer_connections.as_deref().unwrap_or_default();
                match media.join(seated.member.participant.as_str(), offers) {
                    Ok(Some((seat, reply))) => {
                        seated.member.media = Some(seat);
                        answer.push(reply);
                    }
                    Ok(None) => {}
                    Err(err) => {
                        // Seated in the store but refused by the media server: it leaves again.
                        let _ = self.store.disconnect_participant(
                            &RoomKey::Sid(seated.joined.room.sid.clone()),
                            &ParticipantKey::Sid(seated.member.participant.clone()),
                            DisconnectReason::Left,
                        );
                        self.forget_if_empty(&seated.joined.room.sid, &mut room);
                        return Err(err);
                    }
                }
            }
            self.reply(&room, &seated, answer);
            let Seated { joined, member, .. } = seated;
            let seat = Seat {
                room: joined.room.sid,
                participant: member.participant.clone(),
            };
            Self::announce(&mut room, member);
            tracing::info!(room = %seat.room, participant = %seat.participant, identity = %verified.identity.as_str(), "signaling: participant connected");
            return Ok(seat);
        }
    }

    /// Join step 1: the `connect`'s token, verified with the emulator's API keys at the store's
    /// time (a missing token fails as an empty, malformed one).
    fn verify(&self, connect: &ConnectMessage) -> Result<VerifiedToken, SignalingError> {
        let token = connect.token.as_deref().unwrap_or("");
        let now = self.store.now().unix_timestamp();
        self.verifier
            .verify(token, now)
            .map_err(|e| SignalingError::new(e.code(), e.kind.message()))
    }

    /// Join step 2, with the participant connected in the store ([`Hub::enter_store`]) and its
    /// room's lock taken: brings the room's members up to date ([`Hub::make_room`]) and
    /// publishes its tracks. The new member is not in the room's list yet: [`Hub::announce`]
    /// adds it.
    fn seat(
        &self,
        room: &mut RoomHub,
        conn: &ConnHandle,
        connect: &ConnectMessage,
        verified: &VerifiedToken,
        joined: Joined,
    ) -> Result<Seated, SeatError> {
        // Between entering the store and taking the room's lock, the participant may have been
        // disconnected again (the same identity joined once more, a REST kick, the room ended).
        let still_connected = self
            .store
            .fetch_participant(
                &RoomKey::Sid(joined.room.sid.clone()),
                &ParticipantKey::Sid(joined.participant.sid.clone()),
            )
            .is_ok_and(|p| p.is_connected());
        if !still_connected {
            return Err(SeatError {
                room: joined.room.sid,
                error: SignalingError::new(
                    twilio_codes::SIGNALING_DISCONNECTED,
                    "Signaling connection disconnected: the participant was disconnected while \
                     it joined (the same identity joined again, it was removed, or the room \
                     ended); connect again",
                ),
            });
        }
        self.make_room(room, &joined);
        let state = connect.participant.clone().unwrap_or(ParticipantState {
            revision: 1,
            tracks: Vec::new(),
        });
        let participant = joined.participant.sid.clone();
        let others = room.members.iter().map(|m| m.tracks.len()).sum();
        let (tracks, published) =
            self.publish_all(&joined.room.sid, &participant, &[], &state.tracks, others);
        let member = Member {
            conn: conn.clone(),
            participant,
            identity: verified.identity.as_str().to_owned(),
            revision: state.revision,
            tracks,
            published_revision: 1,
            subscribed_revision: 1,
            media: None,
        };
        Ok(Seated {
            joined,
            member,
            published,
        })
    }

    /// Connects the participant in the store: in the room the `connect` or the token names, or
    /// in a new ad-hoc room when neither does and ad-hoc rooms are on.
    fn enter_store(
        &self,
        connect: &ConnectMessage,
        verified: &VerifiedToken,
    ) -> Result<Joined, SignalingError> {
        let room_key = self.room_key(connect, verified)?;
        let template = self.settings.ad_hoc_template.as_ref();
        match (room_key, template) {
            (Some(key), _) => {
                // Text that is no room name would have been refused as the ad-hoc room's name,
                // or names no room to join.
                let key = RoomKey::parse(&key).map_err(|err| match template {
                    Some(_) => StoreError::from(err),
                    None => StoreError::no_room_to_join(&key),
                })?;
                Ok(self
                    .store
                    .connect_participant(&key, &verified.identity, template)?)
            }
            (None, Some(template)) => Ok(self
                .store
                .connect_participant_to_new_room(&verified.identity, template)?),
            (None, None) => Err(SignalingError::new(
                twilio_codes::ROOM_NOT_FOUND,
                "Room not found: neither connect() nor the token names a room, and ad-hoc rooms \
                 are off",
            )),
        }
    }

    /// Brings the room up to date for a join: the connection it replaces (same identity) is
    /// told and removed, and participants connected without signaling are taken in, as the SDK
    /// would show any participant that publishes nothing; the members learn of any they had
    /// not heard of.
    fn make_room(&self, room: &mut RoomHub, joined: &Joined) {
        if let Some(old) = &joined.replaced {
            if let Some(index) = room.position(&old.sid) {
                let gone = room.members.remove(index);
                gone.conn.send(duplicate_identity());
                gone.conn.close(close::NORMAL, "duplicate identity");
                room.announce_departure(&gone);
            } else {
                room.remove_phantom(&old.sid);
            }
        }
        let participant = &joined.participant.sid;
        for other in self
            .store
            .connected_participants(&RoomKey::Sid(joined.room.sid.clone()))
            .unwrap_or_default()
        {
            if &other.sid != participant && !room.is_known(&other.sid) {
                let phantom = Phantom {
                    participant: other.sid.clone(),
                    identity: other.identity.as_str().to_owned(),
                };
                room.announce_phantom(&phantom, true);
                room.phantoms.push(phantom);
            }
        }
    }

    /// Join step 3: `connected` to the new member, with everyone already in the room and every
    /// track it now receives.
    fn reply(&self, room: &RoomHub, seated: &Seated, peer_connections: Vec<PeerConnection>) {
        let member = &seated.member;
        let others = room
            .members
            .iter()
            .map(|m| m.remote_state(ParticipantStatus::Connected, m.revision))
            .chain(room.phantoms.iter().map(|p| p.remote_state(true)))
            .collect();
        let subscribed = room.subscribed_tracks(&member.participant);
        member
            .conn
            .send(ServerMessage::Connected(Box::new(Connected {
                version: 2,
                session: format!("{:016x}", rand::random::<u64>()),
                sid: seated.joined.room.sid.as_str().to_owned(),
                name: seated.joined.room.unique_name.clone(),
                participant: LocalParticipant {
                    sid: member.participant.as_str().to_owned(),
                    identity: member.identity.clone(),
                },
                participants: others,
                published: Revisioned {
                    revision: member.published_revision,
                    tracks: seated.published.clone(),
                },
                subscribed: Revisioned {
                    revision: member.subscribed_revision,
                    tracks: subscribed,
                },
                peer_connections,
                options: SessionOptions {
                    session_timeout: self.settings.session_timeout_secs,
                },
            })));
    }

    /// Join step 4: the new member enters the room's list, and every other member learns of it
    /// with a `create-offer` for the peer connection of the pair (the one already there
    /// offers).
    fn announce(room: &mut RoomHub, member: Member) {
        let arrived = member.remote_state(ParticipantStatus::Connected, member.revision);
        let participant = member.participant.clone();
        room.members.push(member);
        if room.media.is_some() {
            // Through the media server: no peer connection between members; each gets the
            // server's offer for the newcomer's tracks (and the newcomer one for theirs).
            for index in 0..room.members.len() - 1 {
                let subscribed = room.subscribed_tracks(&room.members[index].participant);
                let other = &mut room.members[index];
                other.subscribed_revision += 1;
                other.conn.send(ServerMessage::Update(Update {
                    participants: Some(vec![arrived.clone()]),
                    subscribed: Some(Revisioned {
                        revision: other.subscribed_revision,
                        tracks: subscribed,
                    }),
                    ..Update::default()
                }));
            }
            room.renegotiate();
            return;
        }
        for index in 0..room.members.len() - 1 {
            let id = uuid::Uuid::new_v4().to_string();
            room.peer_connections.insert(
                id.clone(),
                PeerPair {
                    offerer: room.members[index].participant.clone(),
                    answerer: participant.clone(),
                    revision: 1,
                },
            );
            let subscribed = room.subscribed_tracks(&room.members[index].participant);
            let other = &mut room.members[index];
            other.subscribed_revision += 1;
            other.conn.send(ServerMessage::Update(Update {
                participants: Some(vec![arrived.clone()]),
                subscribed: Some(Revisioned {
                    revision: other.subscribed_revision,
                    tracks: subscribed,
                }),
                peer_connections: Some(vec![PeerConnection::Server {
                    id,
                    description: ServerDescription {
                        kind: ServerDescriptionKind::CreateOffer,
                        revision: 1,
                        sdp: None,
                    },
                }]),
                ..Update::default()
            }));
        }
    }

    /// The room a `connect` asks for: the message's `name`, else the token's video grant (`None`
    /// when neither names one). A grant that names a room restricts the token to it.
    fn room_key(
        &self,
        connect: &ConnectMessage,
        verified: &VerifiedToken,
    ) -> Result<Option<String>, SignalingError> {
        let requested = connect.name.as_deref().filter(|s| !s.is_empty());
        let granted = verified.room.as_deref().filter(|s| !s.is_empty());
        match (requested, granted) {
            (Some(requested), Some(granted)) => {
                let fetch = |text: &str| {
                    RoomKey::parse(text)
                        .ok()
                        .and_then(|key| self.store.fetch_room(&key).ok())
                };
                let same = requested == granted
                    || matches!(
                        (fetch(requested), fetch(granted)),
                        (Some(a), Some(b)) if a.sid == b.sid
                    );
                if same {
                    Ok(Some(requested.to_owned()))
                } else {
                    Err(SignalingError::new(
                        twilio_codes::TOKEN_GRANTS_INVALID,
                        format!(
                            "Invalid Access Token grants: the token's video grant is for room \
                             '{}', not '{}'",
                            protocol::shown(granted, 128),
                            protocol::shown(requested, 128)
                        ),
                    ))
                }
            }
            (Some(room), None) | (None, Some(room)) => Ok(Some(room.to_owned())),
            // Neither the application nor the token names a room: Twilio creates one with no
            // unique name (its SID stands for the name).
            (None, None) => Ok(None),
        }
    }

    /// Brings the store's published tracks of a participant from `current` to `wanted`:
    /// publishes new track ids, unpublishes vanished ones, and applies `enabled` changes.
    /// Returns the tracks now published and the `published.tracks` list for the client
    /// (`ready` with a SID, or `failed` with the error). `others` is how many tracks the rest of
    /// the room publishes, for [`MAX_TRACKS_PER_ROOM`].
    fn publish_all(
        &self,
        room: &RoomSid,
        participant: &ParticipantSid,
        current: &[TrackInfo],
        wanted: &[TrackState],
        others: usize,
    ) -> (Vec<TrackInfo>, Vec<PublishedTrack>) {
        let room_key = RoomKey::Sid(room.clone());
        let participant_key = ParticipantKey::Sid(participant.clone());
        for old in current {
            if !wanted.iter().any(|w| w.id == old.id) {
                let _ = self
                    .store
                    .unpublish_track(&room_key, &participant_key, old.sid.as_str());
            }
        }
        let mut tracks: Vec<TrackInfo> = Vec::new();
        let mut published = Vec::new();
        for want in wanted {
            if tracks.iter().any(|t| t.id == want.id) {
                continue;
            }
            let result = if tracks.len() >= MAX_TRACKS_PER_PARTICIPANT {
                Err(SignalingError::new(
                    twilio_codes::ROOM_TRACK_LIMIT_REACHED,
                    format!(
                        "Participant has too many Tracks (at most {MAX_TRACKS_PER_PARTICIPANT})"
                    ),
                ))
            } else if others + tracks.len() >= MAX_TRACKS_PER_ROOM {
                Err(SignalingError::new(
                    twilio_codes::ROOM_TRACK_LIMIT_REACHED,
                    format!(
                        "The maximum number of published tracks allowed in the Room at the same \
                         time has been reached ({MAX_TRACKS_PER_ROOM})"
                    ),
                ))
            } else {
                self.publish_one(&room_key, &participant_key, current, want)
            };
            match result {
                Ok(track) => {
                    published.push(PublishedTrack::Ready {
                        id: track.id.clone(),
                        sid: track.sid.as_str().to_owned(),
                    });
                    tracks.push(track);
                }
                // An id too long to publish is cut: the answer stays small, and no SDK sends one.
                Err(err) => published.push(PublishedTrack::Failed {
                    id: want.id.chars().take(protocol::MAX_TRACK_ID_CHARS).collect(),
                    error: err.body(),
                }),
            }
        }
        (tracks, published)
    }

    fn publish_one(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
        current: &[TrackInfo],
        want: &TrackState,
    ) -> Result<TrackInfo, SignalingError> {
        let invalid = |why: String| {
            SignalingError::new(
                twilio_codes::TRACK_INVALID,
                format!("Track is invalid: {why}"),
            )
        };
        let id_chars = want.id.chars().count();
        if id_chars > protocol::MAX_TRACK_ID_CHARS {
            return Err(invalid(format!(
                "its id has {id_chars} characters (at most {})",
                protocol::MAX_TRACK_ID_CHARS
            )));
        }
        let kind = TrackKind::from_str(&want.kind).map_err(|_| {
            invalid(format!(
                "kind must be audio, video or data (got '{}')",
                protocol::shown(&want.kind, 16)
            ))
        })?;
        let priority = want.priority.as_deref().unwrap_or("standard");
        if !protocol::TRACK_PRIORITIES.contains(&priority) {
            return Err(invalid(format!(
                "priority must be one of {} (got '{}')",
                protocol::TRACK_PRIORITIES.join(", "),
                protocol::shown(priority, 16)
            )));
        }
        let priority = priority.to_owned();
        if let Some(old) = current.iter().find(|t| t.id == want.id) {
            if old.enabled != want.enabled {
                self.store
                    .set_track_enabled(room, participant, old.sid.as_str(), want.enabled)?;
            }
            return Ok(TrackInfo {
                enabled: want.enabled,
                priority,
                ..old.clone()
            });
        }
        let track = self.store.publish_track(
            room,
            participant,
            PublishTrack {
                client_id: want.id.clone(),
                kind,
                name: want.name.clone().unwrap_or_default(),
                enabled: want.enabled,
            },
        )?;
        Ok(TrackInfo {
            sid: track.sid,
            id: track.client_id,
            kind: kind.as_str().to_owned(),
            name: track.name,
            enabled: track.enabled,
            priority,
        })
    }

    /// Handles `update` from a joined client: a newer participant state (tracks published,
    /// unpublished, enabled or disabled) and peer-connection states to relay by id. Returns the
    /// bytes it queued for the other members, which the sender's fan-out budget pays for.
    pub fn update(
        &self,
        seat: &Seat,
        conn_id: u64,
        update: &UpdateMessage,
    ) -> Result<usize, SignalingError> {
        let Some(shared) = self.room(&seat.room) else {
            return Ok(0);
        };
        let mut guard = shared.lock();
        let room = &mut *guard;
        let Some(index) = room.seat_holder(seat, conn_id) else {
            return Ok(0);
        };

        let mut fanout = 0;
        if let Some(state) = &update.participant {
            if state.revision > room.members[index].revision {
                fanout += self.apply_participant_state(&seat.room, room, index, state);
            }
        }

        if let Some(media) = &room.media {
            let member = &mut room.members[index];
            if let Some(media_seat) = &mut member.media {
                for state in update
                    .peer_connections
                    .iter()
                    .flatten()
                    .take(MAX_PEER_CONNECTIONS_PER_UPDATE)
                {
                    let reply =
                        media.client_state(member.participant.as_str(), media_seat, state)?;
                    if let Some(reply) = reply {
                        member.conn.send(reply);
                    }
                }
            }
            room.renegotiate();
            return Ok(fanout);
        }

        if let Some(states) = &update.peer_connections {
            let sender = room.members[index].participant.clone();
            let mut outbox: HashMap<ParticipantSid, Vec<PeerConnection>> = HashMap::new();
            for state in states.iter().take(MAX_PEER_CONNECTIONS_PER_UPDATE) {
                let Some(id) = protocol::peer_connection_id(state) else {
                    continue;
                };
                // Ids the server never announced (the offer sent with `connect`, or anything a
                // client makes up) have no peer: they are dropped, never answered.
                let Some(pair) = room.peer_connections.get_mut(id) else {
                    continue;
                };
                let target = if pair.offerer == sender {
                    pair.answerer.clone()
                } else if pair.answerer == sender {
                    pair.offerer.clone()
                } else {
                    continue;
                };
                pair.revision = pair.revision.max(protocol::peer_connection_revision(state));
                outbox
                    .entry(target)
                    .or_default()
                    .push(PeerConnection::Relayed(state.clone()));
            }
            for (target, states) in outbox {
                if let Some(member) = room.members.iter().find(|m| m.participant == target) {
                    fanout += member.conn.send(ServerMessage::Update(Update {
                        peer_connections: Some(states),
                        ..Update::default()
                    }));
                }
            }
        }
        Ok(fanout)
    }

    fn apply_participant_state(
        &self,
        room_sid: &RoomSid,
        room: &mut RoomHub,
        index: usize,
        state: &ParticipantState,
    ) -> usize {
        let participant = room.members[index].participant.clone();
        let current = room.members[index].tracks.clone();
        let others = room
            .members
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .map(|(_, m)| m.tracks.len())
            .sum();
        let (tracks, published) =
            self.publish_all(room_sid, &participant, &current, &state.tracks, others);
        let changed = tracks.len() != current.len()
            || tracks
                .iter()
                .zip(current.iter())
                .any(|(a, b)| a.sid != b.sid || a.enabled != b.enabled || a.priority != b.priority);
        // A refused track changes nothing the others see, but its publisher waits for the
        // outcome: it is told.
        let refused = published
            .iter()
            .any(|p| matches!(p, PublishedTrack::Failed { .. }));
        let member = &mut room.members[index];
        member.revision = state.revision;
        member.tracks = tracks;
        if changed || refused {
            member.published_revision += 1;
            member.conn.send(ServerMessage::Update(Update {
                published: Some(Revisioned {
                    revision: member.published_revision,
                    tracks: published,
                }),
                ..Update::default()
            }));
        }
        let arrived = room.members[index]
            .remote_state(ParticipantStatus::Connected, room.members[index].revision);
        let mut fanout = 0;
        for other in 0..room.members.len() {
            if other == index {
                continue;
            }
            let subscribed = room.subscribed_tracks(&room.members[other].participant);
            let member = &mut room.members[other];
            let mut update = Update {
                participants: Some(vec![arrived.clone()]),
                ..Update::default()
            };
            if changed {
                member.subscribed_revision += 1;
                update.subscribed = Some(Revisioned {
                    revision: member.subscribed_revision,
                    tracks: subscribed,
                });
            }
            fanout += member.conn.send(ServerMessage::Update(update));
        }
        fanout
    }

    /// The client left (`disconnect`, `bye`, or its socket closed): disconnects it in the store
    /// and tells the others. Does nothing when the hub already removed it (kicked, replaced,
    /// room completed).
    pub fn leave(&self, seat: &Seat, conn_id: u64) {
        let Some(shared) = self.room(&seat.room) else {
            return;
        };
        let mut guard = shared.lock();
        let room = &mut *guard;
        let Some(index) = room.seat_holder(seat, conn_id) else {
            return;
        };
        let gone = room.members.remove(index);
        if let Err(err) = self.store.disconnect_participant(
            &RoomKey::Sid(seat.room.clone()),
            &ParticipantKey::Sid(seat.participant.clone()),
            DisconnectReason::Left,
        ) {
            tracing::warn!(room = %seat.room, participant = %seat.participant, error = %err, "signaling: store refused the disconnect");
        }
        room.announce_departure(&gone);
        self.forget_if_empty(&seat.room, room);
        tracing::info!(room = %seat.room, participant = %seat.participant, "signaling: participant left");
    }

    /// A participant's subscribe rules changed over REST: its client's `subscribed` list and
    /// the media server follow them (a server offer stops the legs of tracks no longer
    /// admitted and opens newly admitted ones). Nothing to do in a mesh room.
    pub fn subscriptions_changed(&self, room: &RoomSid, participant: &ParticipantSid) {
        let Some(shared) = self.room(room) else {
            return;
        };
        let mut guard = shared.lock();
        if guard.media.is_some() {
            guard.resubscribe(participant);
        }
    }

    /// Applies a store event that did not come from signaling: a room completed (REST, timeout,
    /// reset) or a participant disconnected over REST.
    pub fn on_store_event(&self, event: &StoreEvent) {
        if let StoreEventKind::RoomEnded(_) = event.kind {
            let removed = self.rooms.lock().remove(&event.room.sid);
            if let Some(shared) = removed {
                let mut room = shared.lock();
                room.closed = true;
                for member in std::mem::take(&mut room.members) {
                    room.media_leave(&member);
                    member.conn.send(room_completed());
                    member.conn.close(close::NORMAL, "room completed");
                }
            }
            return;
        }
        let Some(shared) = self.room(&event.room.sid) else {
            return;
        };
        let mut guard = shared.lock();
        let room = &mut *guard;
        if room.closed {
            return;
        }
        match event.kind {
            StoreEventKind::ParticipantConnected => {
                let Some(participant) = &event.participant else {
                    return;
                };
                // Signaling's own joins are members already, or about to be; a participant
                // that has left again by now is not announced at all.
                if self.joining.contains(participant.identity.as_str()) {
                    return;
                }
                let still_connected = self
                    .store
                    .fetch_participant(
                        &RoomKey::Sid(event.room.sid.clone()),
                        &ParticipantKey::Sid(participant.sid.clone()),
                    )
                    .is_ok_and(|p| p.is_connected());
                if !room.is_known(&participant.sid) && still_connected {
                    let phantom = Phantom {
                        participant: participant.sid.clone(),
                        identity: participant.identity.as_str().to_owned(),
                    };
                    room.announce_phantom(&phantom, true);
                    room.phantoms.push(phantom);
                }
            }
            StoreEventKind::ParticipantDisconnected(reason) => {
                let Some(participant) = &event.participant else {
                    return;
                };
                let Some(index) = room.position(&participant.sid) else {
                    room.remove_phantom(&participant.sid);
                    return;
                };
                let gone = room.members.remove(index);
                match reason {
                    DisconnectReason::DuplicateIdentity => {
                        gone.conn.send(duplicate_identity());
                        room.announce_departure(&gone);
                    }
                    // The room is completing: everyone gets `disconnected` in turn, so telling
                    // the others about each departure first would only be noise.
                    DisconnectReason::RoomCompleted | DisconnectReason::Reset => {
                        room.media_leave(&gone);
                        gone.conn.send(room_completed());
                    }
                    DisconnectReason::Kicked
                    | DisconnectReason::MaxParticipantDuration
                    | DisconnectReason::Left => {
                        gone.conn
                            .send(ServerMessage::Disconnected(Disconnected::default()));
                        room.announce_departure(&gone);
                    }
                }
                gone.conn.close(close::NORMAL, reason.as_str());
                self.forget_if_empty(&event.room.sid, room);
            }
            _ => {}
        }
    }
}

/// The subscribe rules a `connect` carries, checked as REST checks them; `None` for the
/// default "include all" (or none at all). Invalid rules refuse the join with 53215.
fn client_subscribe_rules(
    connect: &ConnectMessage,
) -> Result<Option<Vec<videoroom_emulator_adapter::Rule>>, SignalingError> {
    let Some(rules) = connect.subscribe.as_ref().and_then(|s| s.rules.as_ref()) else {
        return Ok(None);
    };
    let rules = videoroom_emulator_adapter::parse_rules(
        videoroom_emulator_adapter::RuleSet::Subscribe,
        &rules.to_string(),
    )?;
    let default = [videoroom_emulator_adapter::Rule::all(
        videoroom_emulator_adapter::RuleType::Include,
    )];
    Ok((rules != default).then_some(rules))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt as _;
    use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
    use videoroom_core::token::{ApiKey, TokenSigner};
    use videoroom_core::{AccountSid, ApiKeySid, Identity};

    fn frame_of(bytes: usize) -> ServerMessage {
        ServerMessage::Error(ErrorBody {
            code: twilio_codes::SIGNALING_DISCONNECTED,
            message: "x".repeat(bytes),
        })
    }

    fn seeded_key() -> ApiKey {
        ApiKey {
            account_sid: AccountSid::parse(TEST_ACCOUNT_SID).expect("seeded account SID"),
            sid: ApiKeySid::parse(TEST_API_KEY_SID).expect("seeded key SID"),
            secret: TEST_API_KEY_SECRET.to_owned().into(),
        }
    }

    fn hub() -> Hub {
        let store = Arc::new(Store::new(Arc::new(
            videoroom_emulator_adapter::ManualClock::fixed(),
        )));
        Hub::new(
            store,
            TokenVerifier::new(vec![seeded_key()]),
            HubSettings {
                ad_hoc_template: Some(CreateRoom::default()),
                session_timeout_secs: 30,
                media: None,
            },
        )
    }

    fn connect(hub: &Hub, identity: &str, room: &str) -> ConnectMessage {
        let token = TokenSigner::new(seeded_key(), 3600, None)
            .expect("signer")
            .mint(
                &Identity::parse(identity).expect("identity"),
                Some(room),
                hub.store.now().unix_timestamp(),
            );
        serde_json::from_value(serde_json::json!({"token": token, "name": room}))
            .expect("a connect message")
    }

    fn handle(id: u64) -> (ConnHandle, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(64);
        (
            ConnHandle::new(id, tx, Arc::new(Notify::new()), 1 << 20),
            rx,
        )
    }

    #[test]
    fn a_room_busy_under_its_lock_does_not_hold_up_a_join_in_another_room() {
        let hub = Arc::new(hub());
        let (alice, _alice_rx) = handle(1);
        let seat = hub
            .join(&alice, &connect(&hub, "alice", "noisy"))
            .expect("alice joins");
        // The noisy room is busy for as long as this guard lives, as when it fans a large
        // update out to its members.
        let noisy = hub.room(&seat.room).expect("the noisy room");
        let busy = noisy.lock();

        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let joiner = hub.clone();
        std::thread::spawn(move || {
            let (bob, _bob_rx) = handle(2);
            let joined = joiner.join(&bob, &connect(&joiner, "bob", "quiet")).is_ok();
            let _ = done_tx.send(joined);
        });
        let joined = done_rx.recv_timeout(std::time::Duration::from_secs(5));
        drop(busy);
        assert_eq!(
            joined,
            Ok(true),
            "the join in the quiet room waited for the noisy one"
        );
    }

    #[test]
    fn a_queue_full_in_bytes_stops_the_client_long_before_it_is_full_in_frames() {
        let (tx, mut rx) = mpsc::channel(256);
        let kill = Arc::new(Notify::new());
        let handle = ConnHandle::new(1, tx, kill.clone(), 10_000);

        assert!(handle.send(frame_of(4_000)) > 4_000);
        assert!(handle.send(frame_of(4_000)) > 4_000);
        assert!(kill.notified().now_or_never().is_none(), "not killed yet");
        // A third frame would hold 12 KB for a client that took nothing: it is killed instead,
        // with 254 frames of room left.
        assert_eq!(handle.send(frame_of(4_000)), 0);
        assert!(kill.notified().now_or_never().is_some(), "killed");

        // What the connection's task takes off the queue is room again.
        let Ok(Outgoing::Text(text)) = rx.try_recv() else {
            panic!("the first frame is queued");
        };
        handle.taken(text.len());
        assert!(handle.send(frame_of(4_000)) > 4_000);
    }
}
