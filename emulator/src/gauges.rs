//! Counts for the token service's `/metrics` in emulator mode (issue 13): rooms by status,
//! participants of in-progress rooms by status, open signaling connections.

use std::collections::BTreeMap;

use crate::Emulator;

/// The emulator's state in numbers, read at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    pub rooms_in_progress: usize,
    pub rooms_ended: usize,
    /// Participants of in-progress rooms by status (`connected`, `disconnected`). Ended
    /// rooms' participants are all disconnected and are not walked: a long-running emulator
    /// keeps many ended rooms, and a scrape must stay cheap.
    pub participants: BTreeMap<String, usize>,
    /// `/signaling` WebSockets open now, joined or not.
    pub signaling_connections: usize,
}

impl Emulator {
    /// The numbers behind the token service's emulator gauges.
    pub fn gauges(&self) -> Gauges {
        let mut participants = BTreeMap::new();
        for status in ["connected", "disconnected"] {
            participants.insert(status.to_owned(), 0);
        }
        let (mut rooms_in_progress, mut rooms_ended) = (0, 0);
        // Every account's rooms together: the gauges describe the emulator, not one tenant.
        for account in &self.inner.accounts {
            let inspection = account.store.inspect(usize::MAX, 0, usize::MAX);
            rooms_in_progress += inspection.in_progress_total;
            rooms_ended += inspection.ended_total;
            for room in &inspection.rooms {
                for participant in &room.participants {
                    *participants
                        .entry(participant.record.status.as_str().to_owned())
                        .or_insert(0) += 1;
                }
            }
        }
        Gauges {
            rooms_in_progress,
            rooms_ended,
            participants,
            signaling_connections: self.inner.signaling.open_connections(),
        }
    }
}
