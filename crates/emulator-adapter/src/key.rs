//! How callers name a participant to the store: a typed key, parsed once at the caller's edge.
//!
//! Rooms are named with core's [`RoomKey`](videoroom_core::RoomKey), participants with
//! [`ParticipantKey`]. The REST face, the control routes and signaling turn their text (a path
//! segment, a `connect` message) into keys with `RoomKey::parse` and [`ParticipantKey::parse`],
//! and decide there what text that is no key means to them; the store never looks at a string to
//! guess whether it is a SID or a name.

use std::fmt;

use videoroom_core::{Identity, IdentityError, ParticipantSid};

/// How a participant of a room is addressed: by SID (any status) or by identity (connected
/// participants only), as Twilio resolves `…/Participants/{Sid or Identity}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParticipantKey {
    Sid(ParticipantSid),
    Identity(Identity),
}

impl ParticipantKey {
    /// Reads a participant reference as Twilio's REST paths write it: text shaped like a
    /// participant SID (`PA` and 32 hex digits) is a SID, anything else an identity.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        match ParticipantSid::parse(s) {
            Ok(sid) => Ok(Self::Sid(sid)),
            Err(_) => Identity::parse(s).map(Self::Identity),
        }
    }

    /// The key as text: the SID or the identity (what Twilio's 404 message names).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sid(sid) => sid.as_str(),
            Self::Identity(identity) => identity.as_str(),
        }
    }
}

impl From<ParticipantSid> for ParticipantKey {
    fn from(sid: ParticipantSid) -> Self {
        Self::Sid(sid)
    }
}

impl From<Identity> for ParticipantKey {
    fn from(identity: Identity) -> Self {
        Self::Identity(identity)
    }
}

impl fmt::Display for ParticipantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use videoroom_core::{RoomKey, RoomSid};

    use super::*;

    #[test]
    fn sid_shaped_text_is_a_sid_and_anything_else_a_name_or_identity() {
        let room = RoomSid::from_u128(7);
        assert_eq!(
            RoomKey::parse(room.as_str()).expect("a SID"),
            RoomKey::Sid(room)
        );
        assert!(matches!(RoomKey::parse("RMzz"), Ok(RoomKey::Name(_))));
        assert!(RoomKey::parse("a/b").is_err(), "not a valid room name");

        let participant = ParticipantSid::from_u128(7);
        let key = ParticipantKey::parse(participant.as_str()).expect("a SID");
        assert_eq!(key, ParticipantKey::Sid(participant.clone()));
        assert_eq!(key.as_str(), participant.as_str());
        let alice = ParticipantKey::parse("alice").expect("an identity");
        assert_eq!(alice.to_string(), "alice");
        assert!(matches!(alice, ParticipantKey::Identity(_)));
        assert!(ParticipantKey::parse("").is_err(), "not a valid identity");
    }
}
