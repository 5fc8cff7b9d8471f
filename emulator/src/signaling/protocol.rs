//! The wire format: the transport frames (TCMP version 2) and the room messages (RSP version 2)
//! that twilio-video.js 2.x exchanges with its signaling server.
//!
//! Incoming frames are parsed leniently where the SDK may add fields over time (unknown fields
//! are ignored) and strictly where the emulator relies on a value. Outgoing messages are built
//! here and only here, so every frame the emulator sends is one the SDK knows.

use serde::Deserialize;
use serde_json::{json, Value};

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

/// The id of a peer-connection state, and the revision of its description, if any.
pub fn peer_connection_id(state: &Value) -> Option<&str> {
    state.get("id").and_then(Value::as_str)
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

/// `{"type":"welcome","negotiatedTimeout":ms}`: completes the handshake.
pub fn welcome(negotiated_timeout_ms: u64) -> String {
    json!({"type": "welcome", "negotiatedTimeout": negotiated_timeout_ms}).to_string()
}

/// `{"type":"heartbeat"}`.
pub fn heartbeat() -> String {
    json!({"type": "heartbeat"}).to_string()
}

/// Wraps a room message in a `msg` frame.
pub fn msg(body: Value) -> String {
    json!({"type": "msg", "body": body}).to_string()
}

/// `iced` with an empty ICE server list: host candidates on loopback are enough between tabs of
/// one machine, and the emulator contacts no STUN or TURN server.
pub fn iced() -> String {
    msg(json!({"type": "iced", "ice_servers": []}))
}

/// An SDK error: the SDK disconnects with the TwilioError of that code.
pub fn error(code: u32, message: &str) -> String {
    msg(json!({"type": "error", "code": code, "message": message}))
}

/// `disconnected`: with `completed` the SDK reports RoomCompletedError (53118); without a status
/// it disconnects with no error, as when a participant is removed over REST.
pub fn disconnected(completed: bool) -> String {
    if completed {
        msg(json!({"type": "disconnected", "status": "completed"}))
    } else {
        msg(json!({"type": "disconnected"}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_revision_of_a_peer_connection_state_is_its_highest() {
        let state = json!({"id": "p", "description": {"revision": 4}, "ice": {"revision": 7}});
        assert_eq!(peer_connection_id(&state), Some("p"));
        assert_eq!(peer_connection_revision(&state), 7);
        assert_eq!(peer_connection_revision(&json!({"id": "p"})), 0);
    }
}
