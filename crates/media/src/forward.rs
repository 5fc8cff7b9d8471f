//! The sans-IO core of the media server: participants, their legs and the forwarding rules.
//! [`crate::Sfu`] feeds it datagrams and time; it never touches a socket itself.
//!
//! Rules (one place, so they can be read and reviewed as a whole; the code below matches them
//! line by line):
//!
//! | what happens                                        | from        | what the media server does                                                                                  |
//! |-----------------------------------------------------|-------------|-------------------------------------------------------------------------------------------------------------|
//! | an offer names a track on a sending m-line          | publisher   | every other participant of its room whose [`Subscriptions`] admit it gets a leg for it, opened in its next server offer (`sendonly`, `a=msid:<publisher> <track id>`) |
//! | a subscriber's [`Subscriptions`] change             | signaling   | legs of tracks they no longer admit are stopped (port 0), and admitted tracks without a leg get one, in its next server offer; frames stop at once |
//! | a frame arrives on a published m-line               | publisher   | written unchanged to every *answered* leg of that track whose subscriber admits it, with that leg's payload type for the same codec |
//! | a frame of a simulcast layer (rid) arrives          | publisher   | forwarded only if it is of the layer chosen: the highest that arrives; a switch (up, or down when the chosen layer stops) waits for the new layer's keyframe, asked of the publisher meanwhile ([`crate::simulcast`]) |
//! | an offer sends simulcast as SSRC groups (`SIM`)     | publisher   | each layer's SSRC becomes a layer of its own (`s0`, `s1`, ... lowest first), and the rid rules apply ([`declare_ssrc_layers`]) |
//! | the leg's negotiated codecs cannot carry the frame  | publisher   | dropped for that leg only                                                                                   |
//! | a frame arrives on any other m-line                 | publisher   | dropped (nothing names it: Firefox's dummy audio, a stale recycled m-line)                                |
//! | a frame arrives after a gap (not contiguous)        | publisher   | PLI to the publisher, at most one per track per [`KEYFRAME_INTERVAL`]                                       |
//! | a leg is answered and its subscriber is connected   | subscriber  | PLI to the publisher at the track's next frame, so the new subscriber can decode; while the gap row's throttle holds it back, asked again at later frames until one is made |
//! | a PLI or FIR arrives on a leg                       | subscriber  | the same request to the publisher of that leg's track, at once (browsers pace their own requests)           |
//! | a request cannot reach the publisher yet            | server      | remembered, and made when the publisher's next frame on that track arrives                                  |
//! | the publisher leaves or stops sending the track     | publisher   | the leg is stopped (port 0) in the subscriber's next server offer; a leg not yet offered is dropped          |
//! | a track is admitted again after its leg was stopped | signaling   | a new leg (a new m-line), as for a track published again                                                     |
//! | a client offer arrives while a server offer waits   | client      | refused ([`crate::MediaError::OfferCollision`]): the server is the impolite side of glare                  |
//!
//! Which legs a subscriber should have is decided in one place, [`Core::pending_offer`]: every
//! track published by another participant of its room that its [`Subscriptions`] admit. The
//! media server does not read subscribe rules itself: the emulator's store decides which
//! tracks each participant receives and hands the media server the result.
//!
//! A leg is never re-pointed at another track: str0m cannot change an m-line's msid, so a new
//! track always gets a new m-line. Keyframe requests for a simulcast track name the layer
//! forwarded.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::crypto::CryptoProvider;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, Mid, Rid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Ssrc;
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use crate::profile::TurnCounts;
use crate::record::Recorders;
use crate::sdp::{sent_tracks, ssrc_simulcast};
use crate::simulcast::Layers;
use crate::MediaError;

/// Rule: simulcast sent as SSRC groups is simulcast like rid layers. twilio-video.js asks for
/// simulcast by munging its offer (`a=ssrc-group:SIM`, no `a=rid`), and str0m maps every SSRC
/// of such a group to the m-line with no rid, so the layers' packets would meet in one
/// depacketizer and come out as frames of no layer at all. Each layer's SSRC (and its RTX
/// twin) is declared here as a receive stream of its own, named `s0`, `s1`, ... lowest first
/// as the group lists them; from there the rid rules apply (one layer forwarded, switches on a
/// keyframe, keyframe requests to that layer's SSRC). Done after every accepted offer: a
/// stream already declared so is left alone, so its counters and sequence survive a
/// renegotiation.
fn declare_ssrc_layers(rtc: &mut Rtc, offer: &str) {
    for group in ssrc_simulcast(offer) {
        // str0m's direct API panics on an m-line it does not have (a rejected one).
        if rtc.media(group.mid).is_none() {
            continue;
        }
        let mut api = rtc.direct_api();
        for (i, &(main, rtx)) in group.layers.iter().enumerate() {
            let rid = Rid::from(format!("s{i}").as_str());
            let ssrc = Ssrc::from(main);
            if api.stream_rx(&ssrc).map(|s| s.rid()) == Some(Some(rid)) {
                continue;
            }
            api.remove_stream_rx(ssrc);
            api.expect_stream_rx(ssrc, rtx.map(Ssrc::from), group.mid, Some(rid));
        }
    }
}

/// The shortest time between two keyframe requests the server itself makes for one track.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_secs(1);

/// How often str0m reports each m-line's packet and byte counts (the inspector's figures).
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// What went through one m-line, as str0m last reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
    /// Over the last report interval, bits per second.
    pub bitrate_bps: u64,
    at: Option<Instant>,
}

impl Counters {
    /// Takes a cumulative report, and the bitrate since the previous one.
    fn report(&mut self, packets: u64, bytes: u64, at: Instant) {
        if let Some(previous) = self.at {
            let seconds = at.saturating_duration_since(previous).as_secs_f64();
            if seconds > 0.0 {
                let bits = bytes.saturating_sub(self.bytes) as f64 * 8.0;
                self.bitrate_bps = (bits / seconds) as u64;
            }
        }
        self.packets = packets;
        self.bytes = bytes;
        self.at = Some(at);
    }
}

/// One track through the media server, as a participant sends or receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackStats {
    /// The publisher's participant id and its id of the track.
    pub publisher: String,
    pub track_id: String,
    /// `audio` or `video`.
    pub kind: &'static str,
    pub counters: Counters,
}

/// What one participant publishes to and receives from the media server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantStats {
    pub participant: String,
    pub room: String,
    pub publishes: Vec<TrackStats>,
    pub receives: Vec<TrackStats>,
}

/// Which of the other participants' tracks a subscriber receives. The media server follows
/// what it is given; the emulator's store decides it from the participant's subscribe rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Subscriptions {
    /// Every track published in its room (Twilio's default, "include all").
    #[default]
    All,
    /// Only these tracks: publisher id → that publisher's track ids.
    Only(HashMap<String, HashSet<String>>),
}

impl Subscriptions {
    /// Only the `(publisher id, track id)` pairs given.
    pub fn only<P, T>(tracks: impl IntoIterator<Item = (P, T)>) -> Self
    where
        P: Into<String>,
        T: Into<String>,
    {
        let mut only: HashMap<String, HashSet<String>> = HashMap::new();
        for (publisher, track_id) in tracks {
            only.entry(publisher.into())
                .or_default()
                .insert(track_id.into());
        }
        Subscriptions::Only(only)
    }

    /// Whether the subscriber receives `publisher`'s track `track_id`.
    pub fn admits(&self, publisher: &str, track_id: &str) -> bool {
        match self {
            Subscriptions::All => true,
            Subscriptions::Only(only) => only
                .get(publisher)
                .is_some_and(|tracks| tracks.contains(track_id)),
        }
    }
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
    }
}

/// A track one participant publishes, as found in its latest offer.
#[derive(Debug)]
struct Published {
    mid: Mid,
    kind: MediaKind,
    track_id: String,
    last_keyframe_request: Option<Instant>,
    /// A keyframe request that could not be made yet (str0m knows the publisher's stream only
    /// once its first packet arrived).
    keyframe_wanted: Option<KeyframeRequestKind>,
    /// What arrived on its m-line.
    ingress: Counters,
    /// Its simulcast layers, when it sends any.
    layers: Layers,
}

/// Where a leg (one forwarded track towards one subscriber) stands in the negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    /// Waiting for the subscriber's next server offer.
    ToOpen,
    /// Offered; not yet answered.
    Negotiating(Mid),
    /// Answered: frames are written to it.
    Open(Mid),
    /// Answered, but its track is gone: to be stopped in the next server offer.
    ToStop(Mid),
    /// Stopped in an offer that is not yet answered.
    NegotiatingStop(Mid),
}

/// One forwarded track towards one subscriber.
#[derive(Debug)]
struct Leg {
    publisher: String,
    track_id: String,
    kind: MediaKind,
    state: LegState,
    /// Answered, and its subscriber has not yet been sent a keyframe request made for it.
    wants_keyframe: bool,
    /// What was sent on its m-line.
    egress: Counters,
}

#[derive(Debug)]
struct Participant {
    id: String,
    /// Legs exist only between participants of the same room.
    room: String,
    rtc: Rtc,
    published: Vec<Published>,
    legs: Vec<Leg>,
    /// The tracks of others it receives.
    subscriptions: Subscriptions,
    /// The server offer waiting for this participant's answer; at most one at a time.
    pending: Option<SdpPendingOffer>,
    /// When str0m next needs time for this connection, as its last poll said.
    next_timeout: Instant,
    /// Input arrived or media was written since the last poll: it has output to drain now.
    touched: bool,
}

/// Work found while polling one participant that needs another participant.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every action is a frame to forward; boxing it would allocate once per frame for nothing"
)]
enum Action {
    Forward {
        publisher: String,
        data: MediaData,
    },
    RequestKeyframe {
        publisher: String,
        track_id: String,
        kind: KeyframeRequestKind,
        throttled: bool,
    },
}

/// Every participant of one media server, and the addresses they reach it on (one host
/// candidate each).
pub(crate) struct Core {
    candidates: Vec<SocketAddr>,
    crypto: Arc<CryptoProvider>,
    participants: Vec<Participant>,
    /// The tracks being recorded (`crate::record`); empty unless asked.
    pub(crate) recorders: Recorders,
    /// What the current turn of the I/O loop did (`crate::profile`); the loop resets it.
    pub(crate) counts: TurnCounts,
}

impl Core {
    pub(crate) fn new(candidates: Vec<SocketAddr>) -> Core {
        Core {
            candidates,
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
            participants: Vec::new(),
            recorders: Recorders::default(),
            counts: TurnCounts::default(),
        }
    }

    /// Asks the publisher of a track for a key frame now (a recording of video starts at one).
    pub(crate) fn request_keyframe_of(&mut self, publisher: &str, track_id: &str, now: Instant) {
        let participant = self.participants.iter_mut().find(|p| p.id == publisher);
        if let Some(participant) = participant {
            if let Some(track) = participant
                .published
                .iter_mut()
                .find(|t| t.track_id == track_id)
            {
                request_keyframe(
                    &mut participant.rtc,
                    track,
                    KeyframeRequestKind::Pli,
                    false,
                    now,
                );
            }
        }
    }

    fn index(&self, id: &str) -> Result<usize, MediaError> {
        self.participants
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| MediaError::UnknownParticipant(id.to_owned()))
    }

    /// Creates the participant's connection from its first offer and returns the answer.
    pub(crate) fn join(
        &mut self,
        room: &str,
        id: &str,
        offer: &str,
        now: Instant,
    ) -> Result<String, MediaError> {
        if self.participants.iter().any(|p| p.id == id) {
            return Err(MediaError::AlreadyJoined(id.to_owned()));
        }
        let parsed = parse_offer(id, offer)?;
        // Opus, VP8 and H.264 are what browsers send to Twilio; str0m's defaults would also
        // offer H.265, VP9 and AV1 in the server's offers.
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(self.crypto.clone())
            .set_ice_lite(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .set_stats_interval(Some(STATS_INTERVAL))
            .build(now);
        for &addr in &self.candidates {
            let candidate =
                Candidate::host(addr, "udp").map_err(|_| MediaError::Candidate(addr))?;
            rtc.add_local_candidate(candidate)
                .ok_or(MediaError::Candidate(addr))?;
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(parsed)
            .map_err(|source| refused(id, source))?;
        declare_ssrc_layers(&mut rtc, offer);

        // The newcomer's legs for the tracks already published in its room are made by its
        // first `pending_offer`.
        self.participants.push(Participant {
            id: id.to_owned(),
            room: room.to_owned(),
            rtc,
            published: Vec::new(),
            legs: Vec::new(),
            subscriptions: Subscriptions::All,
            pending: None,
            next_timeout: now,
            touched: true,
        });
        self.update_publications(id, offer)?;
        Ok(answer.to_sdp_string())
    }

    /// Answers a participant's re-offer (it published or unpublished a track, or restarts ICE).
    pub(crate) fn offer(&mut self, id: &str, offer: &str) -> Result<String, MediaError> {
        let i = self.index(id)?;
        let participant = &mut self.participants[i];
        // Rule: glare. Accepting an offer now would silently invalidate the pending one.
        if participant.pending.is_some() {
            return Err(MediaError::OfferCollision(id.to_owned()));
        }
        let parsed = parse_offer(id, offer)?;
        let answer = participant
            .rtc
            .sdp_api()
            .accept_offer(parsed)
            .map_err(|source| refused(id, source))?;
        declare_ssrc_layers(&mut participant.rtc, offer);
        self.update_publications(id, offer)?;
        Ok(answer.to_sdp_string())
    }

    /// Records what `id` publishes according to `offer`. The others' legs follow in their next
    /// `pending_offer`.
    fn update_publications(&mut self, id: &str, offer: &str) -> Result<(), MediaError> {
        let i = self.index(id)?;
        let old = std::mem::take(&mut self.participants[i].published);
        let published: Vec<Published> = sent_tracks(offer)
            .into_iter()
            .map(|sent| {
                let previous = old
                    .iter()
                    .find(|o| o.mid == sent.mid && o.track_id == sent.track_id);
                Published {
                    mid: sent.mid,
                    kind: sent.kind,
                    last_keyframe_request: previous.and_then(|p| p.last_keyframe_request),
                    keyframe_wanted: previous.and_then(|p| p.keyframe_wanted),
                    ingress: previous.map(|p| p.ingress).unwrap_or_default(),
                    layers: Layers::default(),
                    track_id: sent.track_id,
                }
            })
            .collect();
        self.participants[i].published = published;
        Ok(())
    }

    /// Sets which of the others' tracks `id` receives. Frames of tracks it no longer admits
    /// stop at once; its m-lines follow in its next `pending_offer`.
    pub(crate) fn subscribe(
        &mut self,
        id: &str,
        subscriptions: Subscriptions,
    ) -> Result<(), MediaError> {
        let i = self.index(id)?;
        self.participants[i].subscriptions = subscriptions;
        Ok(())
    }

    /// The server offer `id` must answer next, if its legs changed and no offer is waiting.
    pub(crate) fn pending_offer(&mut self, id: &str) -> Result<Option<String>, MediaError> {
        let i = self.index(id)?;
        if self.participants[i].pending.is_some() {
            return Ok(None);
        }
        // Rule: the legs a subscriber should have: every track another participant of its room
        // publishes, when its subscriptions admit it.
        let wanted: Vec<(String, String, MediaKind)> = {
            let me = &self.participants[i];
            self.participants
                .iter()
                .filter(|p| p.id != me.id && p.room == me.room)
                .flat_map(|p| p.published.iter().map(move |t| (p, t)))
                .filter(|(p, t)| me.subscriptions.admits(&p.id, &t.track_id))
                .map(|(p, t)| (p.id.clone(), t.track_id.clone(), t.kind))
                .collect()
        };
        let is_wanted = |leg: &Leg| {
            wanted
                .iter()
                .any(|(p, t, _)| *p == leg.publisher && *t == leg.track_id)
        };
        let participant = &mut self.participants[i];
        // Rule: a leg whose track is gone or no longer admitted is stopped if it was answered,
        // dropped if never offered.
        for leg in &mut participant.legs {
            if let LegState::Open(mid) = leg.state {
                if !is_wanted(leg) {
                    leg.state = LegState::ToStop(mid);
                }
            }
        }
        participant
            .legs
            .retain(|l| l.state != LegState::ToOpen || is_wanted(l));
        // Rule: a wanted track without a leg gets one. A leg being stopped does not count: a
        // track published or admitted again gets a new m-line.
        for (publisher, track_id, kind) in wanted {
            let known = participant.legs.iter().any(|l| {
                l.publisher == publisher
                    && l.track_id == track_id
                    && !matches!(l.state, LegState::ToStop(_) | LegState::NegotiatingStop(_))
            });
            if !known {
                participant.legs.push(Leg {
                    publisher,
                    track_id,
                    kind,
                    state: LegState::ToOpen,
                    wants_keyframe: false,
                    egress: Counters::default(),
                });
            }
        }

        let mut change = participant.rtc.sdp_api();
        for leg in &mut participant.legs {
            match leg.state {
                LegState::ToOpen => {
                    let mid = change.add_media(
                        leg.kind,
                        Direction::SendOnly,
                        Some(leg.publisher.clone()),
                        Some(leg.track_id.clone()),
                        None,
                    );
                    leg.state = LegState::Negotiating(mid);
                }
                LegState::ToStop(mid) => {
                    change.stop_media(mid);
                    leg.state = LegState::NegotiatingStop(mid);
                }
                LegState::Negotiating(_) | LegState::Open(_) | LegState::NegotiatingStop(_) => {}
            }
        }
        if !change.has_changes() {
            return Ok(None);
        }
        let Some((offer, pending)) = change.apply() else {
            return Ok(None);
        };
        participant.pending = Some(pending);
        Ok(Some(offer.to_sdp_string()))
    }

    /// Applies the answer to the server offer `id` was given.
    pub(crate) fn answer(&mut self, id: &str, answer: &str) -> Result<(), MediaError> {
        let i = self.index(id)?;
        let participant = &mut self.participants[i];
        let pending = participant
            .pending
            .take()
            .ok_or_else(|| MediaError::NoOfferPending(id.to_owned()))?;
        let parsed = SdpAnswer::from_sdp_string(answer).map_err(|source| MediaError::BadSdp {
            participant: id.to_owned(),
            source,
        })?;
        participant
            .rtc
            .sdp_api()
            .accept_answer(pending, parsed)
            .map_err(|source| refused(id, source))?;
        for leg in &mut participant.legs {
            if let LegState::Negotiating(mid) = leg.state {
                leg.state = LegState::Open(mid);
                // Rule: a leg is answered → a keyframe request, made in `forward`.
                leg.wants_keyframe = true;
            }
        }
        participant
            .legs
            .retain(|l| !matches!(l.state, LegState::NegotiatingStop(_)));
        Ok(())
    }

    /// Every participant's tracks in and out, with str0m's latest counts.
    pub(crate) fn stats(&self) -> Vec<ParticipantStats> {
        self.participants
            .iter()
            .map(|p| ParticipantStats {
                participant: p.id.clone(),
                room: p.room.clone(),
                publishes: p
                    .published
                    .iter()
                    .map(|t| TrackStats {
                        publisher: p.id.clone(),
                        track_id: t.track_id.clone(),
                        kind: kind_name(t.kind),
                        counters: t.ingress,
                    })
                    .collect(),
                receives: p
                    .legs
                    .iter()
                    .filter(|l| matches!(l.state, LegState::Open(_)))
                    .map(|l| TrackStats {
                        publisher: l.publisher.clone(),
                        track_id: l.track_id.clone(),
                        kind: kind_name(l.kind),
                        counters: l.egress,
                    })
                    .collect(),
            })
            .collect()
    }

    /// Drops the participant; the others' legs of its tracks stop in their next offers.
    pub(crate) fn leave(&mut self, id: &str) -> Result<(), MediaError> {
        let i = self.index(id)?;
        let mut participant = self.participants.remove(i);
        participant.rtc.disconnect();
        Ok(())
    }

    /// Hands a datagram to the participant whose connection it belongs to.
    /// `destination` is the address of the socket it arrived on.
    pub(crate) fn receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: &[u8],
    ) {
        let Ok(contents) = contents.try_into() else {
            tracing::debug!(%source, "media server: datagram is neither STUN, DTLS nor RTP; dropped");
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination,
                contents,
            },
        );
        match self.participants.iter_mut().find(|p| p.rtc.accepts(&input)) {
            Some(participant) => {
                participant.touched = true;
                if let Err(e) = participant.rtc.handle_input(input) {
                    tracing::warn!(participant = %participant.id, error = %e, "media server: connection failed; it stays down until the participant leaves");
                    participant.rtc.disconnect();
                }
            }
            None => tracing::debug!(%source, "media server: datagram for no participant; dropped"),
        }
    }

    /// Marks every connection as having output to drain: a signaling call may have changed
    /// any of them (an answer starts DTLS, a leave stops legs elsewhere).
    pub(crate) fn touch_all(&mut self) {
        for participant in &mut self.participants {
            participant.touched = true;
        }
    }

    /// Advances the connections that received input, were written to or whose timer is due,
    /// sends what they want sent, forwards media between them, and returns when they next need
    /// time. Polling only those keeps the cost of one datagram independent of the room's size
    /// (polling all of them cost 2N timer runs a packet; issue 11's benchmark at N = 16).
    pub(crate) fn drive(
        &mut self,
        now: Instant,
        send: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
    ) -> Instant {
        loop {
            let mut actions = Vec::new();
            for participant in &mut self.participants {
                if participant.touched || participant.next_timeout <= now {
                    if participant.touched {
                        self.counts.polls_touched += 1;
                    } else {
                        self.counts.polls_timer += 1;
                    }
                    participant.touched = false;
                    participant.next_timeout =
                        participant.poll(now, send, &mut actions, &mut self.counts);
                }
            }
            if actions.is_empty() {
                let next = self.participants.iter().map(|p| p.next_timeout).min();
                return next.map_or(now + Duration::from_secs(1), |next| {
                    next.min(now + Duration::from_secs(1))
                });
            }
            // Forwarding writes to other connections, which then have output of their own.
            for action in actions {
                self.apply(action, now);
            }
        }
    }

    fn apply(&mut self, action: Action, now: Instant) {
        match action {
            Action::Forward { publisher, data } => self.forward(&publisher, data, now),
            Action::RequestKeyframe {
                publisher,
                track_id,
                kind,
                throttled,
            } => {
                let Some(participant) = self.participants.iter_mut().find(|p| p.id == publisher)
                else {
                    return;
                };
                participant.touched = true;
                let Some(track) = participant
                    .published
                    .iter_mut()
                    .find(|t| t.track_id == track_id)
                else {
                    return;
                };
                request_keyframe(&mut participant.rtc, track, kind, throttled, now);
            }
        }
    }

    fn forward(&mut self, publisher: &str, data: MediaData, now: Instant) {
        let Some(source) = self.participants.iter_mut().find(|p| p.id == publisher) else {
            return;
        };
        // The publisher was just polled: it is touched again only when a keyframe request is
        // written to it below (polling it again for nothing was one poll in 17 at N = 16).
        // Rule: a frame on an m-line that names no published track is dropped.
        let Some(track) = source.published.iter_mut().find(|t| t.mid == data.mid) else {
            return;
        };
        let track_id = track.track_id.clone();
        // Rule: of a simulcast track, only the chosen layer is forwarded.
        if let Some(rid) = data.rid {
            let decision = track
                .layers
                .take(rid, data.data.len(), data.is_keyframe(), now);
            if let Some(layer) = decision.keyframe_of {
                source.touched = true;
                request_layer_keyframe(&mut source.rtc, track, layer, now);
            }
            if !decision.forward {
                return;
            }
        }
        // Recording taps the published frame (of a simulcast track, the forwarded layer, so a
        // file holds one picture size): one branch per frame while nothing records.
        if !self.recorders.is_empty() {
            self.recorders.write(publisher, &track_id, &data);
        }
        // Rule: a gap → PLI (throttled); a request that could not be made yet is made now.
        if let Some(kind) = track.keyframe_wanted.take() {
            source.touched = true;
            request_keyframe(&mut source.rtc, track, kind, false, now);
        } else if !data.contiguous {
            source.touched = true;
            request_keyframe(&mut source.rtc, track, KeyframeRequestKind::Pli, true, now);
        }

        let mut new_subscribers = false;
        for subscriber in self.participants.iter_mut().filter(|p| p.id != publisher) {
            // Rule: a track the subscriber no longer admits is not written, even while the
            // offer that stops its leg waits for an answer.
            if !subscriber.subscriptions.admits(publisher, &track_id) {
                continue;
            }
            let connected = subscriber.rtc.is_connected();
            let Some(leg) = subscriber.legs.iter_mut().find(|l| {
                matches!(l.state, LegState::Open(_))
                    && l.publisher == publisher
                    && l.track_id == track_id
            }) else {
                continue;
            };
            let LegState::Open(mid) = leg.state else {
                continue;
            };
            new_subscribers |= leg.wants_keyframe && connected;
            let Some(writer) = subscriber.rtc.writer(mid) else {
                continue;
            };
            // Rule: a leg whose codecs cannot carry the frame drops it.
            let Some(pt) = writer.match_params(data.params) else {
                continue;
            };
            subscriber.touched = true;
            if let Err(e) = writer.write(pt, data.network_time, data.time, data.data.clone()) {
                tracing::warn!(subscriber = %subscriber.id, error = %e, "media server: cannot forward a frame");
            }
        }

        // Rule: an answered leg whose subscriber is connected → PLI (throttled; the legs keep
        // asking on later frames until a request is made after they connected).
        if !new_subscribers {
            return;
        }
        let Some(source) = self.participants.iter_mut().find(|p| p.id == publisher) else {
            return;
        };
        let Some(track) = source.published.iter_mut().find(|t| t.track_id == track_id) else {
            return;
        };
        source.touched = true;
        if !request_keyframe(&mut source.rtc, track, KeyframeRequestKind::Pli, true, now) {
            return;
        }
        for subscriber in self.participants.iter_mut().filter(|p| p.id != publisher) {
            let connected = subscriber.rtc.is_connected();
            for leg in &mut subscriber.legs {
                if connected && leg.publisher == publisher && leg.track_id == track_id {
                    leg.wants_keyframe = false;
                }
            }
        }
    }
}

impl Participant {
    /// Drains this connection's output until it only waits for time; returns when.
    fn poll(
        &mut self,
        now: Instant,
        send: &mut dyn FnMut(SocketAddr, SocketAddr, &[u8]),
        actions: &mut Vec<Action>,
        counts: &mut TurnCounts,
    ) -> Instant {
        if !self.rtc.is_alive() {
            return now + Duration::from_secs(1);
        }
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::warn!(participant = %self.id, error = %e, "media server: connection failed on a timer");
            self.rtc.disconnect();
        }
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => return at,
                // From the socket of the candidate the pair uses, so the browser sees the
                // answer come from the address it checked.
                Ok(Output::Transmit(t)) => send(t.source, t.destination, &t.contents),
                Ok(Output::Event(event)) => self.on_event(event, actions, counts),
                Err(e) => {
                    tracing::warn!(participant = %self.id, error = %e, "media server: connection failed");
                    self.rtc.disconnect();
                    return now + Duration::from_secs(1);
                }
            }
        }
    }

    fn on_event(&mut self, event: Event, actions: &mut Vec<Action>, counts: &mut TurnCounts) {
        match event {
            Event::MediaData(data) => {
                counts.frames += 1;
                actions.push(Action::Forward {
                    publisher: self.id.clone(),
                    data,
                })
            }
            // Rule: a subscriber's PLI/FIR goes to the leg's publisher at once.
            Event::KeyframeRequest(request) => {
                let leg = self
                    .legs
                    .iter()
                    .find(|l| l.state == LegState::Open(request.mid));
                if let Some(leg) = leg {
                    actions.push(Action::RequestKeyframe {
                        publisher: leg.publisher.clone(),
                        track_id: leg.track_id.clone(),
                        kind: request.kind,
                        throttled: false,
                    });
                }
            }
            Event::MediaIngressStats(stats) => {
                counts.stats_events += 1;
                if let Some(track) = self.published.iter_mut().find(|t| t.mid == stats.mid) {
                    track
                        .ingress
                        .report(stats.packets, stats.bytes, stats.timestamp);
                }
            }
            Event::MediaEgressStats(stats) => {
                counts.stats_events += 1;
                let leg = self
                    .legs
                    .iter_mut()
                    .find(|l| l.state == LegState::Open(stats.mid));
                if let Some(leg) = leg {
                    leg.egress
                        .report(stats.packets, stats.bytes, stats.timestamp);
                }
            }
            Event::IceConnectionStateChange(state) => {
                tracing::debug!(participant = %self.id, ?state, "media server: ICE state");
            }
            _ => {}
        }
    }
}

fn request_keyframe(
    rtc: &mut Rtc,
    track: &mut Published,
    kind: KeyframeRequestKind,
    throttled: bool,
    now: Instant,
) -> bool {
    if track.kind != MediaKind::Video {
        return false;
    }
    let recent = track
        .last_keyframe_request
        .is_some_and(|at| now.saturating_duration_since(at) < KEYFRAME_INTERVAL);
    if throttled && recent {
        return false;
    }
    let made = rtc.writer(track.mid).is_some_and(|mut writer| {
        writer
            .request_keyframe(track.layers.forwarded(), kind)
            .is_ok()
    });
    if made {
        track.last_keyframe_request = Some(now);
    } else {
        // Rule: remembered until the publisher's next frame on this track.
        track.keyframe_wanted = Some(kind);
    }
    made
}

/// Asks the publisher for a keyframe of the simulcast layer the media server wants to switch
/// to, at most once per [`KEYFRAME_INTERVAL`] per track.
fn request_layer_keyframe(rtc: &mut Rtc, track: &mut Published, layer: Rid, now: Instant) {
    let recent = track
        .last_keyframe_request
        .is_some_and(|at| now.saturating_duration_since(at) < KEYFRAME_INTERVAL);
    if recent {
        return;
    }
    let made = rtc.writer(track.mid).is_some_and(|mut writer| {
        writer
            .request_keyframe(Some(layer), KeyframeRequestKind::Pli)
            .is_ok()
    });
    if made {
        track.last_keyframe_request = Some(now);
    }
}

fn parse_offer(id: &str, offer: &str) -> Result<SdpOffer, MediaError> {
    SdpOffer::from_sdp_string(offer).map_err(|source| MediaError::BadSdp {
        participant: id.to_owned(),
        source,
    })
}

fn refused(id: &str, source: str0m::RtcError) -> MediaError {
    MediaError::Refused {
        participant: id.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A str0m client's offer of one sending video m-line, munged as twilio-video.js munges its
    /// offers for simulcast: two SSRCs in an `a=ssrc-group:SIM`, each with an RTX twin, no rid.
    fn ssrc_simulcast_offer() -> String {
        let mut client = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_vp8(true)
            .build(Instant::now());
        let local = "127.0.0.1:5000".parse().expect("an address");
        client
            .add_local_candidate(Candidate::host(local, "udp").expect("a host candidate"))
            .expect("a candidate");
        let mut change = client.sdp_api();
        change.add_media(
            MediaKind::Video,
            Direction::SendOnly,
            Some("-".to_owned()),
            Some("cam-1".to_owned()),
            None,
        );
        let (offer, _pending) = change.apply().expect("an offer");
        let sdp = offer.to_sdp_string();
        let at = sdp.find("a=mid:").expect("an m-line with a mid");
        let end = at + sdp[at..].find("\r\n").expect("a line end") + 2;
        let munged = "a=ssrc-group:SIM 1000 2000\r\na=ssrc-group:FID 1000 1001\r\n\
            a=ssrc-group:FID 2000 2001\r\na=ssrc:1000 cname:c\r\na=ssrc:1001 cname:c\r\n\
            a=ssrc:2000 cname:c\r\na=ssrc:2001 cname:c\r\n";
        format!("{}{munged}{}", &sdp[..end], &sdp[end..])
    }

    fn rid_of(core: &mut Core, ssrc: u32) -> Option<Option<Rid>> {
        let rtc = &mut core.participants[0].rtc;
        rtc.direct_api()
            .stream_rx(&Ssrc::from(ssrc))
            .map(|stream| stream.rid())
    }

    #[test]
    fn each_ssrc_of_a_sim_group_is_a_layer_of_its_own() {
        let offer = ssrc_simulcast_offer();
        let mut core = Core::new(vec!["127.0.0.1:4000".parse().expect("an address")]);
        core.join("room", "alice", &offer, Instant::now())
            .expect("the munged offer is answered");
        assert_eq!(rid_of(&mut core, 1000), Some(Some(Rid::from("s0"))));
        assert_eq!(rid_of(&mut core, 2000), Some(Some(Rid::from("s1"))));
        // The premise: str0m alone maps both SSRCs to the m-line with no rid, so their frames
        // would meet in one depacketizer.
        let mut bare = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_vp8(true)
            .build(Instant::now());
        bare.sdp_api()
            .accept_offer(parse_offer("bare", &offer).expect("a valid offer"))
            .expect("answered");
        for ssrc in [1000, 2000] {
            let rid = bare
                .direct_api()
                .stream_rx(&Ssrc::from(ssrc))
                .map(|s| s.rid());
            assert_eq!(rid, Some(None), "str0m's own mapping of {ssrc}");
        }
        // A re-offer leaves the layers as they are.
        core.offer("alice", &offer)
            .expect("the re-offer is answered");
        assert_eq!(rid_of(&mut core, 2000), Some(Some(Rid::from("s1"))));
    }
}
