//! Signaling for rooms that go through the media server (group rooms in SFU mode): what
//! twilio-video.js 2.36 expects of Twilio's media servers, read from its source
//! (`lib/signaling/v2/peerconnection.js`, `peerconnectionmanager.js`).
//!
//! - The client offers first, inside `connect`, on a peer-connection id of its own making. The
//!   server answers in `connected`, on that id, with the offer's revision: the SDK applies an
//!   answer only when its revision is that of its pending offer (`_updateDescription`).
//! - When other participants' tracks arrive or leave, the server offers in `update`, on the
//!   same id, with a revision above every one seen or sent; the client answers with that
//!   revision. An id the client does not know would make it open a second peer connection
//!   (`_getOrCreate`), and `close` would end its only one, so neither is ever sent, nor
//!   `create-offer`.
//! - The client re-offers when its own tracks change; the server answers with the same
//!   revision. While the server's own offer waits for its answer, a client offer is dropped:
//!   the server is the impolite side of glare, and the SDK rolls its offer back, answers the
//!   server's and offers again (`_handleGlare`).
//! - The media server is ICE-lite with its candidate inline in the SDP, so the client sends
//!   only an empty, complete candidate list, which needs no answer.
//!
//! Every forwarded m-line names its publisher's track id in `a=msid`, and `subscribed` maps
//! each track SID to that id: that is how the SDK tells which remote track is which.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use videoroom_core::{twilio_codes, ParticipantSid, RoomKey, RoomSid, TrackSid};
use videoroom_emulator_adapter::{ParticipantKey, Store, SubscribedTrack};
use videoroom_media::{MediaError, Subscriptions};

use super::hub::SignalingError;
use super::protocol::{
    self, PeerConnection, ServerDescription, ServerDescriptionKind, ServerMessage, Update,
};
use crate::media::MediaPlane;

/// A member's one peer connection to the media server.
#[derive(Debug)]
pub struct MediaSeat {
    /// The id the client gave its peer connection in `connect`.
    pub pc_id: String,
    /// The highest description revision seen or sent on it.
    revision: u64,
    /// The revision of the server offer waiting for the client's answer.
    offered: Option<u64>,
}

/// One room's handle on the media server, and on the store that decides which tracks each
/// member receives (its subscribe rules).
#[derive(Debug)]
pub struct RoomMedia {
    plane: Arc<MediaPlane>,
    store: Arc<Store>,
    room: RoomSid,
}

fn description(
    id: &str,
    kind: ServerDescriptionKind,
    revision: u64,
    sdp: String,
) -> PeerConnection {
    PeerConnection::Server {
        id: id.to_owned(),
        description: ServerDescription {
            kind,
            revision,
            sdp: Some(sdp),
        },
    }
}

impl RoomMedia {
    pub fn new(plane: Arc<MediaPlane>, store: Arc<Store>, room: RoomSid) -> Self {
        Self { plane, store, room }
    }

    /// The tracks the store says `participant` receives (its subscribe rules applied); none
    /// once the store no longer has it connected.
    fn subscribed(&self, participant: &ParticipantSid) -> Vec<SubscribedTrack> {
        self.store
            .subscribed_tracks(
                &RoomKey::Sid(self.room.clone()),
                &ParticipantKey::Sid(participant.clone()),
            )
            .unwrap_or_default()
    }

    /// The SIDs of the tracks `participant` receives, for its `subscribed` lists.
    pub fn admitted(&self, participant: &ParticipantSid) -> HashSet<TrackSid> {
        self.subscribed(participant)
            .into_iter()
            .map(|t| t.sid)
            .collect()
    }

    /// Hands the media server what the store says `participant` receives, so that its
    /// forwarding and its next offer follow the subscribe rules.
    fn follow_store(&self, participant: &ParticipantSid) {
        let Some(sfu) = self.plane.bound() else {
            return;
        };
        let tracks = self.subscribed(participant);
        let subscriptions = Subscriptions::only(
            tracks
                .iter()
                .map(|t| (t.publisher_sid.as_str(), t.client_id.as_str())),
        );
        if let Err(e) = sfu.subscribe(participant.as_str(), subscriptions) {
            tracing::debug!(%participant, error = %e, "media server: subscriptions");
        }
    }

    /// Connects a joining participant to the media server from the offer in its `connect`,
    /// and returns its seat and the answer for `connected`. `None` when the `connect` carries
    /// no offer (no SDK does that; such a client receives no media).
    pub fn join(
        &self,
        participant: &str,
        peer_connections: &[Value],
    ) -> Result<Option<(MediaSeat, PeerConnection)>, SignalingError> {
        let offer = peer_connections.iter().find_map(|state| {
            let id = protocol::peer_connection_id(state)?;
            match protocol::peer_connection_description(state)? {
                ("offer", revision, sdp) => Some((id, revision, sdp)),
                _ => None,
            }
        });
        let Some((id, revision, sdp)) = offer else {
            return Ok(None);
        };
        let sfu = self.plane.sfu().map_err(|e| {
            tracing::error!(error = %e, "media server unavailable");
            SignalingError::new(
                twilio_codes::MEDIA_CONNECTION_FAILED,
                format!(
                    "Media connection failed: the emulator's media server is unavailable ({e})"
                ),
            )
        })?;
        let answer = sfu
            .join(self.room.as_str(), participant, sdp)
            .map_err(|e| refused(&e))?;
        let seat = MediaSeat {
            pc_id: id.chars().take(protocol::MAX_TRACK_ID_CHARS).collect(),
            revision,
            offered: None,
        };
        let reply = description(&seat.pc_id, ServerDescriptionKind::Answer, revision, answer);
        Ok(Some((seat, reply)))
    }

    /// Disconnects a participant that had a seat from the media server.
    pub fn leave(&self, participant: &str) {
        if let Some(sfu) = self.plane.bound() {
            if let Err(e) = sfu.leave(participant) {
                tracing::debug!(participant, error = %e, "media server: leave");
            }
        }
    }

    /// The server's next offer for this member, when the tracks it receives changed (others'
    /// tracks arrived or left, its subscribe rules changed) and no earlier offer waits for its
    /// answer.
    pub fn next_offer(
        &self,
        participant: &ParticipantSid,
        seat: &mut MediaSeat,
    ) -> Option<ServerMessage> {
        self.follow_store(participant);
        if seat.offered.is_some() {
            return None;
        }
        let sfu = self.plane.bound()?;
        let sdp = match sfu.pending_offer(participant.as_str()) {
            Ok(Some(sdp)) => sdp,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(%participant, error = %e, "media server: no offer");
                return None;
            }
        };
        seat.revision += 1;
        seat.offered = Some(seat.revision);
        Some(ServerMessage::Update(Update {
            peer_connections: Some(vec![description(
                &seat.pc_id,
                ServerDescriptionKind::Offer,
                seat.revision,
                sdp,
            )]),
            ..Update::default()
        }))
    }

    /// A peer-connection state from the member: an offer is answered (the reply is returned
    /// for the client), the answer to the server's pending offer is applied, and the rest
    /// (ICE of an ICE-lite server, stale answers, ids that are not the member's) needs nothing.
    pub fn client_state(
        &self,
        participant: &str,
        seat: &mut MediaSeat,
        state: &Value,
    ) -> Result<Option<ServerMessage>, SignalingError> {
        if protocol::peer_connection_id(state) != Some(seat.pc_id.as_str()) {
            return Ok(None);
        }
        let Some((kind, revision, sdp)) = protocol::peer_connection_description(state) else {
            return Ok(None);
        };
        let Some(sfu) = self.plane.bound() else {
            return Ok(None);
        };
        match kind {
            "offer" => {
                // Glare: the client rolls its offer back, answers ours, and offers again.
                if seat.offered.is_some() {
                    return Ok(None);
                }
                let answer = match sfu.offer(participant, sdp) {
                    Ok(answer) => answer,
                    Err(MediaError::OfferCollision(_)) => return Ok(None),
                    Err(e) => return Err(refused(&e)),
                };
                seat.revision = seat.revision.max(revision);
                Ok(Some(ServerMessage::Update(Update {
                    peer_connections: Some(vec![description(
                        &seat.pc_id,
                        ServerDescriptionKind::Answer,
                        revision,
                        answer,
                    )]),
                    ..Update::default()
                })))
            }
            "answer" if seat.offered == Some(revision) => {
                seat.offered = None;
                sfu.answer(participant, sdp).map_err(|e| refused(&e))?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

/// The media server refused a description: the SDK reports 53404 and the client disconnects.
fn refused(err: &MediaError) -> SignalingError {
    tracing::info!(error = %err, "media server refused a description");
    SignalingError::new(
        twilio_codes::MEDIA_SERVER_REMOTE_DESC_FAILED,
        format!("Server is unable to apply a remote media description: {err}"),
    )
}
