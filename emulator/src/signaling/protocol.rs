//! The wire format: the transport frames (TCMP version 2) and the room messages (RSP version 2)
//! that twilio-video.js 2.x exchanges with its signaling server.
//!
//! Incoming frames are parsed leniently where the SDK may add fields over time (unknown fields
//! are ignored) and strictly where the emulator relies on a value. Every frame the emulator
//! sends is a value of [`ServerFrame`] (a room message is a [`ServerMessage`] inside its `msg`
//! frame), defined here and turned into text by [`encode`] alone, so the rest of signaling
//! builds values and never writes JSON.
//!
//! # Add a signaling message
//!
//! To send a new room message (say the SDK's `foo`):
//! 1. Here, add its struct with the fields under the names the SDK reads (`#[serde(rename)]`
//!    where a Rust name differs; `Option` with `skip_serializing_if` for a part that may be
//!    absent), and a variant `Foo(Foo)` of [`ServerMessage`]: the variant's lowercased name is
//!    the message's `type`. (A transport frame, beside `msg`, is a variant of [`ServerFrame`].)
//!    Data the emulator relays without reading (SDP, ICE) stays a [`serde_json::Value`] inside
//!    the struct, as [`PeerConnection::Relayed`] does.
//! 2. Build the value where the emulator decides to send it: `conn.send(ServerMessage::Foo(…))`
//!    in the hub, or push it to the connection's replies. Both go through [`encode`].
//! 3. Pin its exact text in this module's test `every_outgoing_frame_has_the_text_the_sdk_reads`,
//!    and script the client's view of it in `emulator/tests/api/signaling.rs`.
//!
//! An incoming message is the mirror image: a `Deserialize` struct here (like
//! [`ConnectMessage`]) and a case in `Connection::on_message`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A frame from the client, after JSON parsing.
#[derive(Debug)]
pub enum ClientFrame {
    /// `{"type":"hello","id","timeout","version","body"?}`: opens (or retries) the handshake.
    Hello {
        /// The heartbeat timeout the client asks for, milliseconds.
        timeout_ms: Option<u64>,
        body: Option<Value>,
    },
    /// `{"type":"msg","body":{…}}`: a room message.
    Msg(Value),
    Heartbeat,
    Bye,
}

/// Why a frame could not be understood. Each maps to a WebSocket close code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Not JSON, or not a JSON object (close code 1007).
    NotJson,
    /// A JSON object without a known `type` (close code 1008).
    UnknownType(String),
    /// A known frame with a malformed field (close code 1008).
    Malformed(&'static str),
}

impl FrameError {
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::NotJson => 1007,
            FrameError::UnknownType(_) | FrameError::Malformed(_) => 1008,
        }
    }

    pub fn reason(&self) -> String {
        match self {
            FrameError::NotJson => "frames must be JSON objects".to_owned(),
            FrameError::UnknownType(t) => {
                // The type came from the client: keep it short and printable.
                let shown: String = t.chars().filter(|c| !c.is_control()).take(32).collect();
                format!("unknown frame type '{shown}'")
            }
            FrameError::Malformed(what) => format!("malformed frame: {what}"),
        }
    }
}

/// Parses one text frame.
pub fn parse_frame(text: &str) -> Result<ClientFrame, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
    let Value::Object(mut object) = value else {
        return Err(FrameError::NotJson);
    };
    let kind = match object.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(FrameError::Malformed("type must be a string")),
        None => return Err(FrameError::Malformed("type is missing")),
    };
    match kind.as_str() {
        "hello" => {
            let timeout_ms = match object.get("timeout") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .ok_or(FrameError::Malformed("hello timeout must be a number"))?,
                ),
            };
            let body = match object.remove("body") {
                None | Some(Value::Null) => None,
                Some(body @ Value::Object(_)) => Some(body),
                Some(_) => return Err(FrameError::Malformed("hello body must be an object")),
            };
            Ok(ClientFrame::Hello { timeout_ms, body })
        }
        "msg" => match object.remove("body") {
            Some(body @ Value::Object(_)) => Ok(ClientFrame::Msg(body)),
            _ => Err(FrameError::Malformed("msg body must be an object")),
        },
        "heartbeat" => Ok(ClientFrame::Heartbeat),
        "bye" => Ok(ClientFrame::Bye),
        _ => Err(FrameError::UnknownType(kind)),
    }
}

/// The `type` of a room message body, if it is a string.
pub fn body_type(body: &Value) -> Option<&str> {
    body.get("type").and_then(Value::as_str)
}

/// The `connect` room message: the parts the emulator uses.
#[derive(Debug, Deserialize)]
pub struct ConnectMessage {
    /// The room name the application passed to `connect` (`null` when it passed none).
    #[serde(default)]
    pub name: Option<String>,
    /// The access token.
    #[serde(default)]
    pub token: Option<String>,
    /// The local participant's state: its revision and the tracks it publishes.
    #[serde(default)]
    pub participant: Option<ParticipantState>,
    /// The client's peer connection with its first offer (`{id, description:{type, revision,
    /// sdp}}`): the media server of a group room answers it; a mesh ignores it.
    #[serde(default)]
    pub peer_connections: Option<Vec<Value>>,
    /// The client's subscribe rules (`{rules, revision}`): twilio-video.js sends
    /// `[{"type":"include","all":true}]`, or `exclude` when the application passed
    /// `automaticSubscription: false` (`createSubscribePayload`, lib/util/index.js).
    #[serde(default)]
    pub subscribe: Option<SubscribeState>,
}

/// The `subscribe` part of `connect`.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscribeState {
    /// Twilio's subscribe rules, as the REST `Rules` parameter holds them.
    #[serde(default)]
    pub rules: Option<Value>,
}

/// The `update` room message: the parts the emulator uses.
#[derive(Debug, Deserialize)]
pub struct UpdateMessage {
    #[serde(default)]
    pub participant: Option<ParticipantState>,
    /// Peer-connection states (`{id, description?, ice?}`), relayed unchanged.
    #[serde(default)]
    pub peer_connections: Option<Vec<Value>>,
}

/// A client's own participant state.
#[derive(Debug, Clone, Deserialize)]
pub struct ParticipantState {
    pub revision: u64,
    #[serde(default)]
    pub tracks: Vec<TrackState>,
}

/// A track as the publishing client describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct TrackState {
    /// The client's id of the track (the `msid` in its SDP).
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub priority: Option<String>,
}

fn default_true() -> bool {
    true
}

// ----- Limits on what a client sends -------------------------------------------------------------

/// The highest revision a client may give its participant state or a peer connection. The SDK
/// compares revisions as JavaScript numbers, exact up to 2^53 - 1; the server announces a
/// departure or a closed peer connection one revision higher, so a client stays one below. A
/// higher revision could not rise any more (at `u64::MAX` it would wrap to 0, which the SDK
/// ignores, leaving a ghost on the other screens): the message is refused.
pub const MAX_CLIENT_REVISION: u64 = (1 << 53) - 2;

/// Longest track id, in characters. The SDK's ids are UUIDs (36 characters, 38 in Firefox's
/// braces). Twilio documents no limit of its own, but it names a track after its id when no
/// name is given and refuses names over 128 characters (53302), so an id over 128 could not be
/// published there either. A longer id fails that track with 53300.
pub const MAX_TRACK_ID_CHARS: usize = 128;

/// The priorities the SDK gives a track (`Track.Priority`); anything else fails that track with
/// 53300, so no free text reaches the other participants.
pub const TRACK_PRIORITIES: [&str; 3] = ["low", "standard", "high"];

/// The most tracks one participant state may list. Beyond the hub's per-participant limit
/// each track fails alone with 53203, as Twilio does; a list longer than this is no SDK's and
/// is refused as a whole, so that the answer (one entry per track) stays small.
pub const MAX_TRACKS_LISTED: usize = 64;

/// Largest peer-connection state relayed (its SDP, or its ICE candidates, with the rest of the
/// state), in bytes of JSON. A browser's offer is 5 to 30 KB; the relayed copy is queued for
/// the other participant, so this bounds what one message can make the server hold for it.
pub const MAX_RELAYED_STATE_BYTES: usize = 64 * 1024;

/// `text` for an error message: at most `max_chars` characters, without control characters,
/// with `…` when cut. Whatever a client sent is shown through this, so an error never echoes
/// a large or multi-line value back.
pub fn shown(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// Why a room message is refused as a whole: the client gets
/// [`SIGNALING_OUTGOING_MESSAGE_INVALID`](videoroom_core::twilio_codes::SIGNALING_OUTGOING_MESSAGE_INVALID)
/// with this text and is disconnected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

fn check_revision(what: &str, revision: u64) -> Result<(), Refusal> {
    if revision > MAX_CLIENT_REVISION {
        return Err(Refusal(format!(
            "{what} {revision} is too high to rise any further (at most {MAX_CLIENT_REVISION})"
        )));
    }
    Ok(())
}

impl ParticipantState {
    /// Checks what the hub relies on before it keeps the state.
    pub fn check(&self) -> Result<(), Refusal> {
        check_revision("participant.revision", self.revision)?;
        if self.tracks.len() > MAX_TRACKS_LISTED {
            return Err(Refusal(format!(
                "participant.tracks lists {} tracks (at most {MAX_TRACKS_LISTED})",
                self.tracks.len()
            )));
        }
        Ok(())
    }
}

impl ConnectMessage {
    /// Checks what the hub relies on before it seats the participant.
    pub fn check(&self) -> Result<(), Refusal> {
        self.participant
            .as_ref()
            .map_or(Ok(()), ParticipantState::check)?;
        check_peer_connections(self.peer_connections.iter().flatten())
    }
}

impl UpdateMessage {
    /// Checks what the hub relies on before it keeps or relays anything of the update.
    pub fn check(&self) -> Result<(), Refusal> {
        if let Some(participant) = &self.participant {
            participant.check()?;
        }
        check_peer_connections(self.peer_connections.iter().flatten())
    }
}

/// The limits of peer-connection states, in `connect` and `update` alike.
fn check_peer_connections<'a>(states: impl Iterator<Item = &'a Value>) -> Result<(), Refusal> {
    for state in states {
        let bytes = serde_json::to_string(state).map_or(0, |text| text.len());
        if bytes > MAX_RELAYED_STATE_BYTES {
            return Err(Refusal(format!(
                "a peer connection's description or ICE is {bytes} bytes (at most \
                 {MAX_RELAYED_STATE_BYTES})"
            )));
        }
        for key in ["description", "ice"] {
            let revision = state.get(key).and_then(|v| v.get("revision"));
            if let Some(revision) = revision.and_then(Value::as_u64) {
                check_revision(&format!("peer_connections[].{key}.revision"), revision)?;
            }
        }
    }
    Ok(())
}

/// The id of a peer-connection state, and the revision of its description, if any.
pub fn peer_connection_id(state: &Value) -> Option<&str> {
    state.get("id").and_then(Value::as_str)
}

/// The description of a peer-connection state the client sent: its type (`offer`, `answer`,
/// `rollback`…), revision and SDP, when it has all three.
pub fn peer_connection_description(state: &Value) -> Option<(&str, u64, &str)> {
    let description = state.get("description")?;
    Some((
        description.get("type")?.as_str()?,
        description.get("revision")?.as_u64()?,
        description.get("sdp")?.as_str()?,
    ))
}

/// The largest revision a peer-connection state carries (description or ICE).
pub fn peer_connection_revision(state: &Value) -> u64 {
    let revision = |key: &str| {
        state
            .get(key)
            .and_then(|v| v.get("revision"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    revision("description").max(revision("ice"))
}

// ----- Outgoing ----------------------------------------------------------------------------------

/// A frame the emulator sends: the transport frames, and `msg` around a [`ServerMessage`].
///
/// Turn one into the text of a WebSocket frame with [`encode`], and only with it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerFrame {
    /// `{"type":"welcome","negotiatedTimeout":ms}`: completes the handshake.
    Welcome {
        #[serde(rename = "negotiatedTimeout")]
        negotiated_timeout_ms: u64,
    },
    /// `{"type":"heartbeat"}`.
    Heartbeat,
    /// `{"type":"msg","body":{…}}`: a room message.
    Msg { body: ServerMessage },
}

/// A room message the emulator sends, inside a `msg` frame.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    /// The answer to `ice`: the ICE servers to use.
    Iced(Iced),
    /// The answer to a successful `connect` (boxed: it is by far the largest message, and sent
    /// once per join).
    Connected(Box<Connected>),
    /// Any change in the room: participants, published and subscribed tracks, peer
    /// connections. Only the parts that changed are present.
    Update(Update),
    /// An error the SDK turns into the TwilioError of this code (and disconnects).
    Error(ErrorBody),
    /// The room is gone for this participant.
    Disconnected(Disconnected),
}

/// `iced`. The list is empty: host candidates on loopback are enough between tabs of one
/// machine, and the emulator contacts no STUN or TURN server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Iced {
    pub ice_servers: Vec<IceServer>,
}

/// One ICE server of `iced` (the emulator names none).
#[derive(Debug, Clone, Serialize)]
pub struct IceServer {
    /// `stun:` or `turn:` URL.
    pub urls: String,
}

/// `connected`: the room, the participant as the server knows it, and everyone already there.
#[derive(Debug, Clone, Serialize)]
pub struct Connected {
    /// The room protocol version (RSP 2).
    pub version: u32,
    /// An opaque id of this signaling session.
    pub session: String,
    /// The room's SID.
    pub sid: String,
    /// The room's unique name.
    pub name: String,
    pub participant: LocalParticipant,
    /// The other participants, connected over signaling or not.
    pub participants: Vec<RemoteParticipant>,
    pub published: Revisioned<PublishedTrack>,
    pub subscribed: Revisioned<SubscribedTrack>,
    /// Mesh: empty, every peer connection is announced later with `create-offer`. Media
    /// server: the answer to the client's offer, on the client's own id.
    pub peer_connections: Vec<PeerConnection>,
    pub options: SessionOptions,
}

/// The joining participant, as `connected` names it.
#[derive(Debug, Clone, Serialize)]
pub struct LocalParticipant {
    pub sid: String,
    pub identity: String,
}

/// `options` of `connected`.
#[derive(Debug, Clone, Serialize)]
pub struct SessionOptions {
    /// How long, in seconds, the SDK may try to resume a dropped session.
    pub session_timeout: u64,
}

/// `update`: each part is sent only when it changed, so absent parts are left out of the frame.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Update {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<RemoteParticipant>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Revisioned<PublishedTrack>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<Revisioned<SubscribedTrack>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_connections: Option<Vec<PeerConnection>>,
}

/// A list the SDK keeps only when its revision is newer than the one it has.
#[derive(Debug, Clone, Serialize)]
pub struct Revisioned<T> {
    pub revision: u64,
    pub tracks: Vec<T>,
}

/// Another participant's state, as the SDK shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteParticipant {
    pub sid: String,
    pub identity: String,
    /// The SDK applies a state only when its revision is higher than the last one it saw.
    pub revision: u64,
    pub state: ParticipantStatus,
    pub tracks: Vec<RemoteTrack>,
}

/// Whether a remote participant is in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantStatus {
    Connected,
    Disconnected,
}

/// A track another participant publishes.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteTrack {
    pub sid: String,
    /// The publisher's own id of the track (the `msid` in its SDP).
    pub id: String,
    pub kind: String,
    pub name: String,
    pub enabled: bool,
    pub priority: String,
}

/// The outcome of publishing one of the client's own tracks.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum PublishedTrack {
    /// Published: the track has a SID.
    Ready { id: String, sid: String },
    /// Refused: the SDK fails that track's publication with this error.
    Failed { id: String, error: ErrorBody },
}

/// A track the client receives: its SID and the publisher's id of it.
#[derive(Debug, Clone, Serialize)]
pub struct SubscribedTrack {
    pub sid: String,
    pub id: String,
}

/// A peer-connection state for the client.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PeerConnection {
    /// A description the server itself decides (`create-offer`, `close`).
    Server {
        id: String,
        description: ServerDescription,
    },
    /// A state another participant sent (SDP offer or answer, ICE candidates), relayed as the
    /// client wrote it: the emulator never looks inside SDP or ICE.
    Relayed(Value),
}

/// A description of the server's own making.
#[derive(Debug, Clone, Serialize)]
pub struct ServerDescription {
    #[serde(rename = "type")]
    pub kind: ServerDescriptionKind,
    pub revision: u64,
    /// The media server's SDP, with `offer` and `answer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdp: Option<String>,
}

/// What the server asks of a peer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerDescriptionKind {
    /// The receiving participant makes the offer of a new peer connection.
    CreateOffer,
    /// The peer connection is over (its other end left).
    Close,
    /// The media server's offer: other participants' tracks arrive or leave (group rooms).
    Offer,
    /// The media server's answer to the client's offer (group rooms).
    Answer,
}

/// A Twilio error as the SDK reads it, in `error` and in a failed track publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    pub code: u32,
    pub message: String,
}

/// `disconnected`: with `completed` the SDK reports RoomCompletedError (53118); without a status
/// it disconnects with no error, as when a participant is removed over REST.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Disconnected {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<DisconnectedStatus>,
}

/// Why the room is gone, when the SDK must report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DisconnectedStatus {
    Completed,
}

impl From<ServerMessage> for ServerFrame {
    fn from(body: ServerMessage) -> Self {
        ServerFrame::Msg { body }
    }
}

/// Turns an outgoing frame into the text of its WebSocket frame: the one place the emulator's
/// signaling output is serialized.
///
/// The frame goes through [`serde_json::Value`] on purpose: without serde_json's
/// `preserve_order` feature, an object's keys come out sorted, which is the byte order the
/// emulator has always sent (and what a relayed client state, itself parsed into a `Value`,
/// gets anyway), independent of the order fields are declared in above.
pub fn encode(frame: &ServerFrame) -> String {
    serde_json::to_value(frame)
        .expect("outgoing frames hold only strings, numbers, lists and string-keyed objects")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use videoroom_core::twilio_codes;

    /// The text each kind of outgoing frame had when the emulator wrote JSON literals: keys in
    /// sorted order. The SDK does not care about key order, but a capture compared across
    /// versions does.
    #[test]
    fn every_outgoing_frame_has_the_text_the_sdk_reads() {
        let text = |frame: ServerFrame| encode(&frame);
        let msg = |message: ServerMessage| encode(&message.into());
        assert_eq!(
            text(ServerFrame::Welcome {
                negotiated_timeout_ms: 5000
            }),
            r#"{"negotiatedTimeout":5000,"type":"welcome"}"#
        );
        assert_eq!(text(ServerFrame::Heartbeat), r#"{"type":"heartbeat"}"#);
        assert_eq!(
            msg(ServerMessage::Iced(Iced::default())),
            r#"{"body":{"ice_servers":[],"type":"iced"},"type":"msg"}"#
        );
        assert_eq!(
            msg(ServerMessage::Error(ErrorBody {
                code: twilio_codes::DUPLICATE_IDENTITY,
                message: "duplicate".into()
            })),
            r#"{"body":{"code":53205,"message":"duplicate","type":"error"},"type":"msg"}"#
        );
        assert_eq!(
            msg(ServerMessage::Disconnected(Disconnected {
                status: Some(DisconnectedStatus::Completed)
            })),
            r#"{"body":{"status":"completed","type":"disconnected"},"type":"msg"}"#
        );
        assert_eq!(
            msg(ServerMessage::Disconnected(Disconnected::default())),
            r#"{"body":{"type":"disconnected"},"type":"msg"}"#
        );

        let alice = RemoteParticipant {
            sid: "PA1".into(),
            identity: "alice".into(),
            revision: 2,
            state: ParticipantStatus::Connected,
            tracks: vec![RemoteTrack {
                sid: "MT1".into(),
                id: "t1".into(),
                kind: "audio".into(),
                name: "mic".into(),
                enabled: true,
                priority: "standard".into(),
            }],
        };
        let update = Update {
            participants: Some(vec![alice.clone()]),
            subscribed: Some(Revisioned {
                revision: 3,
                tracks: vec![SubscribedTrack {
                    sid: "MT1".into(),
                    id: "t1".into(),
                }],
            }),
            peer_connections: Some(vec![
                PeerConnection::Server {
                    id: "pc1".into(),
                    description: ServerDescription {
                        kind: ServerDescriptionKind::CreateOffer,
                        revision: 1,
                        sdp: None,
                    },
                },
                PeerConnection::Relayed(
                    json!({"id": "pc2", "ice": {"revision": 4, "candidates": []}}),
                ),
            ]),
            ..Update::default()
        };
        assert_eq!(
            msg(ServerMessage::Update(update)),
            concat!(
                r#"{"body":{"participants":[{"identity":"alice","revision":2,"sid":"PA1","#,
                r#""state":"connected","tracks":[{"enabled":true,"id":"t1","kind":"audio","#,
                r#""name":"mic","priority":"standard","sid":"MT1"}]}],"peer_connections":["#,
                r#"{"description":{"revision":1,"type":"create-offer"},"id":"pc1"},"#,
                r#"{"ice":{"candidates":[],"revision":4},"id":"pc2"}],"#,
                r#""subscribed":{"revision":3,"tracks":[{"id":"t1","sid":"MT1"}]},"#,
                r#""type":"update"},"type":"msg"}"#
            )
        );

        let connected = Connected {
            version: 2,
            session: "s".into(),
            sid: "RM1".into(),
            name: "daily".into(),
            participant: LocalParticipant {
                sid: "PA2".into(),
                identity: "bob".into(),
            },
            participants: vec![alice],
            published: Revisioned {
                revision: 1,
                tracks: vec![
                    PublishedTrack::Ready {
                        id: "t2".into(),
                        sid: "MT2".into(),
                    },
                    PublishedTrack::Failed {
                        id: "t3".into(),
                        error: ErrorBody {
                            code: twilio_codes::TRACK_INVALID,
                            message: "Track is invalid".into(),
                        },
                    },
                ],
            },
            subscribed: Revisioned {
                revision: 1,
                tracks: Vec::new(),
            },
            peer_connections: Vec::new(),
            options: SessionOptions {
                session_timeout: 30,
            },
        };
        let text = msg(ServerMessage::Connected(Box::new(connected)));
        assert!(
            text.starts_with(r#"{"body":{"name":"daily","options":{"session_timeout":30},"#),
            "{text}"
        );
        assert!(
            text.contains(concat!(
                r#""published":{"revision":1,"tracks":[{"id":"t2","sid":"MT2","state":"ready"},"#,
                r#"{"error":{"code":53300,"message":"Track is invalid"},"id":"t3","state":"failed"}]}"#
            )),
            "{text}"
        );
        assert!(
            text.ends_with(r#""type":"connected","version":2},"type":"msg"}"#),
            "{text}"
        );
    }

    #[test]
    fn the_frames_the_sdk_sends_are_recognised() {
        let hello = parse_frame(
            r#"{"type":"hello","id":"x","timeout":5000,"version":2,"body":{"type":"ice"}}"#,
        );
        assert!(matches!(
            hello,
            Ok(ClientFrame::Hello {
                timeout_ms: Some(5000),
                body: Some(_)
            })
        ));
        assert!(matches!(
            parse_frame(r#"{"type":"msg","body":{"type":"update"}}"#),
            Ok(ClientFrame::Msg(_))
        ));
        assert!(matches!(
            parse_frame(r#"{"type":"heartbeat"}"#),
            Ok(ClientFrame::Heartbeat)
        ));
        assert!(matches!(
            parse_frame(r#"{"type":"bye"}"#),
            Ok(ClientFrame::Bye)
        ));
    }

    #[test]
    fn broken_frames_map_to_distinct_close_codes() {
        assert_eq!(parse_frame("{oops").map(|_| ()), Err(FrameError::NotJson));
        assert_eq!(parse_frame("42").map(|_| ()), Err(FrameError::NotJson));
        let unknown = parse_frame(r#"{"type":"gossip"}"#).map(|_| ());
        assert_eq!(unknown.as_ref().map_err(FrameError::close_code), Err(1008));
        let no_body = parse_frame(r#"{"type":"msg","body":"text"}"#).map(|_| ());
        assert_eq!(
            no_body,
            Err(FrameError::Malformed("msg body must be an object"))
        );
    }

    #[test]
    fn a_hostile_frame_type_is_shortened_and_stripped_of_control_characters_in_the_reason() {
        let long = format!("{}\n{}", "a".repeat(10), "b".repeat(100));
        let reason = FrameError::UnknownType(long).reason();
        assert!(!reason.contains('\n'));
        assert!(reason.len() < 64, "{reason}");
    }

    #[test]
    fn client_text_in_an_error_is_cut_and_stripped() {
        assert_eq!(shown("standard", 16), "standard");
        assert_eq!(shown("a\nb", 16), "ab");
        assert_eq!(shown(&"x".repeat(8000), 16), format!("{}…", "x".repeat(16)));
    }

    #[test]
    fn revisions_stop_where_the_next_one_is_still_exact_in_javascript() {
        let update = |revision: u64| -> UpdateMessage {
            serde_json::from_value(json!({"participant": {"revision": revision, "tracks": []},
                "peer_connections": [{"id": "p", "ice": {"revision": revision}}]}))
            .expect("an update")
        };
        assert_eq!(update(MAX_CLIENT_REVISION).check(), Ok(()));
        assert!(update(MAX_CLIENT_REVISION + 1).check().is_err());
        assert!(update(u64::MAX).check().is_err());
        // The server's departure revision, one higher, is still a safe integer.
        assert_eq!(MAX_CLIENT_REVISION + 1, (1 << 53) - 1);
    }

    #[test]
    fn the_revision_of_a_peer_connection_state_is_its_highest() {
        let state = json!({"id": "p", "description": {"revision": 4}, "ice": {"revision": 7}});
        assert_eq!(peer_connection_id(&state), Some("p"));
        assert_eq!(peer_connection_revision(&state), 7);
        assert_eq!(peer_connection_revision(&json!({"id": "p"})), 0);
    }
}
