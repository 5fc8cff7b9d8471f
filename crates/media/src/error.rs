//! The media server's errors, one variant per thing a caller can get wrong or the peer can
//! refuse.

use std::net::SocketAddr;

/// Why the media server refused a request.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The UDP socket could not be bound.
    #[error("the media server cannot bind UDP {addr}: {source}; pick a free port or an address of this machine")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// An unspecified address (0.0.0.0, ::) would make the advertised candidate unreachable.
    #[error("the media server must bind the exact address it advertises as its ICE candidate (got {0}); bind 127.0.0.1 or a LAN address instead")]
    UnspecifiedAddress(SocketAddr),
    /// No address to bind was given.
    #[error("the media server needs at least one address to bind and advertise; set one (127.0.0.1 for this machine only)")]
    NoAddress,
    /// The candidate for the bound socket was refused by the WebRTC stack.
    #[error("the media server cannot advertise {0} as a host candidate")]
    Candidate(SocketAddr),
    /// The participant id is already in use.
    #[error("participant {0} has already joined the media server; call leave first")]
    AlreadyJoined(String),
    /// No participant with this id.
    #[error("participant {0} is not on the media server; call join first")]
    UnknownParticipant(String),
    /// The SDP text could not be parsed.
    #[error("the SDP from participant {participant} cannot be parsed: {source}")]
    BadSdp {
        participant: String,
        #[source]
        source: str0m::error::SdpError,
    },
    /// The description parsed but the WebRTC stack refused it.
    #[error("the SDP from participant {participant} was refused: {source}")]
    Refused {
        participant: String,
        #[source]
        source: str0m::RtcError,
    },
    /// An answer arrived while no server offer was waiting for one.
    #[error("participant {0} sent an answer but the media server has no offer waiting for one")]
    NoOfferPending(String),
    /// A client offer crossed the server's own offer (glare). The server is the impolite side:
    /// the client rolls its offer back, answers the server's and offers again afterwards.
    #[error("participant {0} sent an offer while the media server's own offer waits for an answer; answer that offer first")]
    OfferCollision(String),
    /// A recording's file could not be created.
    #[error("the media server cannot create the recording file {path}: {source}; check that its folder (setting media.recordings_dir) exists and is writable")]
    RecordingFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The track is already being recorded.
    #[error("track {track} of participant {participant} is already being recorded; stop that recording first")]
    AlreadyRecording { participant: String, track: String },
}
