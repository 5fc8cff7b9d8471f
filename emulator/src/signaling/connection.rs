//! One WebSocket connection: the handshake, heartbeats both ways, the room messages, and the
//! limits that keep a hostile or broken client from hurting anyone else.
//!
//! Each connection is one task that owns its socket. Frames for the client come from two places,
//! its own replies and the hub (other participants' updates), and leave through one bounded
//! queue, in order. Whatever ends the task (bye, error, kick, timeout, vanished socket), the
//! participant is then disconnected in the store and the others are told, exactly once.

use std::sync::Arc;
use std::time::Duration;

use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use serde_json::Value;
use tokio::sync::{mpsc, Notify};
use tokio::time::{sleep_until, Instant};

use super::hub::{ConnHandle, Hub, Outgoing, Seat};
use super::hubs::Hubs;
use super::protocol::{
    self, ClientFrame, ConnectMessage, ErrorBody, Iced, Refusal, ServerFrame, ServerMessage,
    UpdateMessage,
};
use super::SignalingOptions;
use videoroom_core::twilio_codes;

/// WebSocket close codes the emulator uses (RFC 6455's, and the SDK's own 3001), so a developer
/// reading a browser's console knows why. They are not Twilio error codes.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// The same code the SDK uses when it misses the server's heartbeats.
    pub const HEARTBEATS_MISSED: u16 = 3001;
}

enum Phase {
    /// The socket is open; the client has not said hello.
    AwaitHello,
    /// Welcomed; no room yet.
    Open,
    /// In a room.
    Joined(Seat),
    /// Left the room (`disconnect`); waiting for `bye` or the socket to close.
    Left,
}

enum Step {
    Continue,
    Close(u16, String),
}

/// A token bucket: over incoming frames, and over the bytes a client's updates make the server
/// queue for the others.
struct Bucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    fn new(burst: f64, per_second: f64) -> Self {
        Self {
            tokens: burst,
            burst,
            per_second,
            last: Instant::now(),
        }
    }

    /// Takes `amount` tokens; `false` when there are not that many.
    fn take(&mut self, amount: f64) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

struct Connection {
    /// The hub of the account the client joined (the first account's until it sends `connect`).
    hub: Arc<Hub>,
    hubs: Hubs,
    options: SignalingOptions,
    handle: ConnHandle,
    phase: Phase,
    /// Negotiated heartbeat timeout, once welcomed.
    negotiated: Option<Duration>,
    /// Frames to send before anything else happens.
    replies: Vec<ServerFrame>,
    /// What this client's updates may make the server queue for the other members.
    fanout: Bucket,
}

/// Runs one connection to its end.
pub async fn run(
    hubs: Hubs,
    options: SignalingOptions,
    id: u64,
    mut session: Session,
    stream: actix_ws::MessageStream,
) {
    let (tx, mut rx) = mpsc::channel(options.outgoing_queue.max(1));
    let kill = Arc::new(Notify::new());
    let mut stream = stream
        .max_frame_size(options.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(options.max_frame_bytes);
    let mut conn = Connection {
        hub: hubs.first(),
        hubs,
        handle: ConnHandle::new(id, tx, kill.clone(), options.outgoing_queue_bytes),
        phase: Phase::AwaitHello,
        negotiated: None,
        replies: Vec::new(),
        fanout: Bucket::new(
            options.fanout_burst_bytes as f64,
            options.fanout_bytes_per_second as f64,
        ),
        options,
    };
    let mut bucket = Bucket::new(
        f64::from(conn.options.flood_burst),
        f64::from(conn.options.flood_per_second),
    );
    // Two timers for the whole connection, moved rather than recreated on every frame.
    let far_future = Instant::now() + Duration::from_secs(86_400 * 365);
    let silence = sleep_until(Instant::now() + conn.options.hello_timeout);
    let heartbeat = sleep_until(far_future);
    tokio::pin!(silence, heartbeat);
    let mut heartbeat_armed = false;

    let ending: Option<(u16, String)> = loop {
        tokio::select! {
            biased;
            () = kill.notified() => {
                break Some((close::POLICY, "the client does not read its messages".into()));
            }
            outgoing = rx.recv() => match outgoing {
                Some(Outgoing::Text(text)) => {
                    conn.handle.taken(text.len());
                    if !send(&mut session, text, conn.options.send_timeout).await {
                        break None;
                    }
                }
                Some(Outgoing::Close(code, reason)) => break Some((code, reason)),
                None => break None,
            },
            () = &mut silence => {
                break Some(match conn.negotiated {
                    None => (close::POLICY, "no hello in time".into()),
                    Some(_) => (close::HEARTBEATS_MISSED, "missed heartbeats".into()),
                });
            }
            () = &mut heartbeat => {
                if !send(&mut session, protocol::encode(&ServerFrame::Heartbeat), conn.options.send_timeout).await {
                    break None;
                }
                let every = conn.negotiated.map_or(Duration::from_secs(86_400), |t| t / 2);
                heartbeat.as_mut().reset(Instant::now() + every);
            }
            item = stream.recv() => {
                let message = match item {
                    None => break None,
                    Some(Err(ProtocolError::Overflow)) => {
                        break Some((close::TOO_BIG, format!("frames are limited to {} bytes", conn.options.max_frame_bytes)));
                    }
                    Some(Err(err)) => {
                        tracing::debug!(error = %err, "signaling: WebSocket protocol error");
                        break Some((close::POLICY, "WebSocket protocol error".into()));
                    }
                    Some(Ok(message)) => message,
                };
                match message {
                    AggregatedMessage::Text(text) => {
                        if !bucket.take(1.0) {
                            break Some((close::POLICY, "too many messages".into()));
                        }
                        let step = conn.on_text(&text);
                        if let Some(timeout) = conn.negotiated {
                            // The SDK sends a heartbeat every negotiated timeout; three missed
                            // ones (and a margin) mean it is gone.
                            let allowed = (timeout * 3 + timeout / 2).max(conn.options.min_silence);
                            silence.as_mut().reset(Instant::now() + allowed);
                            if !heartbeat_armed {
                                heartbeat_armed = true;
                                heartbeat.as_mut().reset(Instant::now() + timeout / 2);
                            }
                        }
                        let mut gone = false;
                        for reply in std::mem::take(&mut conn.replies) {
                            if !send(&mut session, protocol::encode(&reply), conn.options.send_timeout).await {
                                gone = true;
                                break;
                            }
                        }
                        if gone {
                            break None;
                        }
                        if let Step::Close(code, reason) = step {
                            break Some((code, reason));
                        }
                    }
                    AggregatedMessage::Binary(_) => {
                        break Some((close::UNSUPPORTED_DATA, "binary frames are not supported".into()));
                    }
                    AggregatedMessage::Ping(bytes) => {
                        if session.pong(&bytes).await.is_err() {
                            break None;
                        }
                    }
                    AggregatedMessage::Pong(_) => {}
                    AggregatedMessage::Close(_) => break Some((close::NORMAL, String::new())),
                }
            }
        }
    };

    if let Phase::Joined(seat) = &conn.phase {
        conn.hub.leave(seat, conn.handle.id);
    }
    // Frames still queued for the client will never be sent: free them now, not when a client
    // that may never read lets the close frame through.
    drop(rx);
    drop(stream);
    let reason = ending.map(|(code, description)| CloseReason {
        code: CloseCode::from(code),
        description: (!description.is_empty()).then_some(description),
    });
    // The close frame waits behind whatever the socket has not taken yet, and a client that does
    // not read never takes it: waiting without a limit would pin this task, its socket and its
    // frames for as long as the client cares to stay. The peer may also be gone already; either
    // way there is nothing left to do if the close frame does not go out in time.
    let _ = tokio::time::timeout(conn.options.send_timeout, session.close(reason)).await;
}

/// Sends one text frame; `false` when the socket is gone or too slow to take it.
async fn send(session: &mut Session, text: String, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, session.text(text)).await,
        Ok(Ok(()))
    )
}

impl Connection {
    fn on_text(&mut self, text: &str) -> Step {
        let frame = match protocol::parse_frame(text) {
            Ok(frame) => frame,
            Err(err) => return Step::Close(err.close_code(), err.reason()),
        };
        match (&self.phase, frame) {
            (Phase::AwaitHello, ClientFrame::Hello { timeout_ms, body }) => {
                let requested = Duration::from_millis(timeout_ms.unwrap_or(u64::MAX));
                let negotiated = requested
                    .min(self.options.max_heartbeat)
                    .max(self.options.min_heartbeat);
                self.negotiated = Some(negotiated);
                self.replies.push(welcome(negotiated));
                self.phase = Phase::Open;
                match body {
                    Some(body) => self.on_message(body),
                    None => Step::Continue,
                }
            }
            (Phase::AwaitHello, _) => Step::Close(close::POLICY, "expected hello first".into()),
            // A repeated hello means the client missed the welcome: welcome it again.
            (_, ClientFrame::Hello { body, .. }) => {
                let negotiated = self.negotiated.unwrap_or(self.options.max_heartbeat);
                self.replies.push(welcome(negotiated));
                match (body, &self.phase) {
                    (Some(body), Phase::Open) => self.on_message(body),
                    _ => Step::Continue,
                }
            }
            (_, ClientFrame::Heartbeat) => Step::Continue,
            (_, ClientFrame::Bye) => Step::Close(close::NORMAL, "bye".into()),
            (_, ClientFrame::Msg(body)) => self.on_message(body),
        }
    }

    fn on_message(&mut self, body: Value) -> Step {
        let kind = protocol::body_type(&body).unwrap_or_default().to_owned();
        match (kind.as_str(), &self.phase) {
            ("ice", Phase::Open) => {
                self.replies
                    .push(ServerMessage::Iced(Iced::default()).into());
                Step::Continue
            }
            ("connect", Phase::Open) => {
                let connect: ConnectMessage = match serde_json::from_value(body) {
                    Ok(connect) => connect,
                    Err(err) => {
                        return self.refuse(
                            twilio_codes::SIGNALING_OUTGOING_MESSAGE_INVALID,
                            &format!("Client sent an invalid signaling message: connect: {err}"),
                        )
                    }
                };
                if let Err(refusal) = connect.check() {
                    return self.refuse_invalid("connect", &refusal);
                }
                self.hub = self.hubs.for_token(connect.token.as_deref());
                match self.hub.join(&self.handle, &connect) {
                    Ok(seat) => {
                        self.phase = Phase::Joined(seat);
                        Step::Continue
                    }
                    Err(err) => {
                        tracing::info!(code = err.code, message = %err.message, "signaling: connect refused");
                        self.refuse(err.code, &err.message)
                    }
                }
            }
            ("update", Phase::Joined(seat)) => {
                match serde_json::from_value::<UpdateMessage>(body) {
                    Ok(update) => {
                        if let Err(refusal) = update.check() {
                            return self.refuse_invalid("update", &refusal);
                        }
                        let fanout = match self.hub.update(seat, self.handle.id, &update) {
                            Ok(fanout) => fanout,
                            Err(err) => return self.refuse(err.code, &err.message),
                        };
                        if self.fanout.take(fanout as f64) {
                            Step::Continue
                        } else {
                            Step::Close(
                                close::POLICY,
                                "updates that make the server send too much to the room".into(),
                            )
                        }
                    }
                    Err(err) => self.refuse(
                        twilio_codes::SIGNALING_OUTGOING_MESSAGE_INVALID,
                        &format!("Client sent an invalid signaling message: update: {err}"),
                    ),
                }
            }
            ("disconnect", Phase::Joined(seat)) => {
                self.hub.leave(seat, self.handle.id);
                self.phase = Phase::Left;
                Step::Continue
            }
            ("disconnect", _) => Step::Close(close::NORMAL, "disconnected".into()),
            // The emulator drops a participant as soon as its socket closes, so there is no
            // session left to resume: the SDK reports the signaling connection as lost.
            ("sync", _) => self.refuse(
                twilio_codes::SIGNALING_DISCONNECTED,
                "Signaling connection disconnected: the emulator does not resume sessions; \
                 connect again",
            ),
            // Updates the SDK sent before `connected` arrived, messages after leaving, and
            // message types of newer SDKs carry nothing the emulator must act on.
            _ => {
                tracing::debug!(kind = %kind.chars().take(32).collect::<String>(), "signaling: message ignored");
                Step::Continue
            }
        }
    }

    /// Refuses a room message that breaks a limit: 53004, and the connection ends.
    fn refuse_invalid(&mut self, kind: &str, refusal: &Refusal) -> Step {
        tracing::info!(kind, reason = %refusal.0, "signaling: message refused");
        self.refuse(
            twilio_codes::SIGNALING_OUTGOING_MESSAGE_INVALID,
            &format!(
                "Client sent an invalid signaling message: {kind}: {}",
                refusal.0
            ),
        )
    }

    /// Sends an SDK error and ends the connection.
    fn refuse(&mut self, code: u32, message: &str) -> Step {
        self.replies.push(
            ServerMessage::Error(ErrorBody {
                code,
                message: message.to_owned(),
            })
            .into(),
        );
        Step::Close(close::NORMAL, format!("error {code}"))
    }
}

/// `welcome` with the negotiated heartbeat timeout, in milliseconds.
fn welcome(negotiated: Duration) -> ServerFrame {
    ServerFrame::Welcome {
        negotiated_timeout_ms: u64::try_from(negotiated.as_millis()).unwrap_or(u64::MAX),
    }
}
