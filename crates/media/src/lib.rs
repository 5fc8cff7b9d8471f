//! The media server of the emulator's group rooms: a small SFU (selective forwarding unit)
//! driven through [str0m]'s sans-IO WebRTC stack.
//!
//! Twilio serves `group` rooms through its media servers: each participant keeps one peer
//! connection to the server, publishes its tracks once and receives everyone else's tracks
//! over that same connection. [`Sfu`] is that server for the emulator (issue 11). It owns one
//! UDP socket per address it advertises, each bound to exactly that address and offered as a
//! host candidate, all on one port (ICE-lite, so the browser does the checks and no STUN or
//! TURN server is involved), and one
//! [`str0m::Rtc`] per participant. Its API has the shape the signaling needs:
//! [`Sfu::join`] answers a participant's first offer (rooms share the socket, not media),
//! [`Sfu::offer`] answers its re-offers, [`Sfu::pending_offer`] and [`Sfu::answer`] carry the server's own offers when other
//! participants' tracks arrive or leave, and [`Sfu::leave`] drops a participant. Every
//! forwarded m-line carries `a=msid:<publisher> <publisher's track id>`, which is how
//! twilio-video.js matches it to the track SID it was told about in `subscribed`.
//! The forwarding rules are in [`forward`]. [`Sfu::record`] taps a published track's frames
//! into a Matroska file ([`record`]), as Twilio records each track of a group room.
//!
//! [`Sfu::subscribe`] says which tracks a participant receives (the emulator's subscribe
//! rules, decided by its store).
//!
//! The emulator's signaling drives it for group rooms (`emulator/src/signaling/media.rs`) and
//! keeps the store up to date itself; [`Sfu::stats`] feeds the inspector. Simulcast (rid
//! layers, and SSRC-group layers as twilio-video.js munges them, each SSRC taken as a layer) is
//! forwarded as one layer, the highest that arrives (`simulcast.rs`). Not done yet: data
//! tracks, dominant speaker and network quality.
//!
//! Dependencies: this crate knows nothing of actix, the store or the emulator; the emulator
//! will depend on it, not the other way round.

mod error;
pub mod forward;
mod profile;
pub mod record;
mod sdp;
mod sfu;
mod simulcast;

pub use error::MediaError;
pub use forward::Subscriptions;
pub use record::mkv::TrackCodec;
pub use record::{RecordingProgress, RecordingSummary};
pub use sfu::Sfu;
