//! The store's recording rules, subscribe rules and anonymization: kept beside the rooms and
//! participants they belong to, under the same lock, and forgotten with them.

use videoroom_core::{twilio_codes, Identity, RoomKey, RoomSid};

use super::Store;
use crate::error::StoreError;
use crate::key::ParticipantKey;
use crate::model::ParticipantRecord;
use crate::rules::{Rule, RuleType, Rules};

impl Store {
    /// A room's recording rules (`GET /Rooms/{room}/RecordingRules`). A room nobody set rules
    /// for has Twilio's default: "include all" when it was created with
    /// `RecordParticipantsOnConnect`, no rule otherwise, dated like the room. Errors: 20404.
    pub fn recording_rules(&self, room: &RoomKey) -> Result<(RoomSid, Rules), StoreError> {
        let (state, _) = self.settled();
        let rsid = state.resolve_room(room)?;
        if let Some(rules) = state.recording_rules.get(&rsid) {
            return Ok((rsid, rules.clone()));
        }
        let record = &state.room(&rsid).record;
        let rules = if record.record_participants_on_connect {
            vec![Rule::all(RuleType::Include)]
        } else {
            Vec::new()
        };
        let dated = Some(record.date_created);
        Ok((
            rsid,
            Rules {
                rules,
                date_created: dated,
                date_updated: dated,
            },
        ))
    }

    /// Replaces a room's recording rules (already checked by [`crate::rules::parse_rules`]).
    /// Errors: 20404.
    pub fn set_recording_rules(
        &self,
        room: &RoomKey,
        rules: Vec<Rule>,
    ) -> Result<(RoomSid, Rules), StoreError> {
        let (mut state, now) = self.settled();
        let rsid = state.resolve_room(room)?;
        let date_created = state
            .recording_rules
            .get(&rsid)
            .and_then(|r| r.date_created)
            .unwrap_or(state.room(&rsid).record.date_created);
        let stored = Rules {
            rules,
            date_created: Some(date_created),
            date_updated: Some(now),
        };
        state.recording_rules.insert(rsid.clone(), stored.clone());
        Ok((rsid, stored))
    }

    /// A participant's subscribe rules, the read API for media forwarding
    /// (`GET …/Participants/{participant}/SubscribeRules`). A participant nobody set rules for
    /// subscribes to everything, and Twilio shows that default with null dates. Errors: 20404.
    pub fn subscribe_rules(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
    ) -> Result<(ParticipantRecord, Rules), StoreError> {
        let (state, _) = self.settled();
        let (_, psid) = state.resolve_participant(room, participant)?;
        let rules = state.subscribe_rules.get(&psid).cloned().unwrap_or(Rules {
            rules: vec![Rule::all(RuleType::Include)],
            date_created: None,
            date_updated: None,
        });
        Ok((state.participants[&psid].record.clone(), rules))
    }

    /// Replaces a participant's subscribe rules (already checked). Errors: 20404.
    pub fn set_subscribe_rules(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
        rules: Vec<Rule>,
    ) -> Result<(ParticipantRecord, Rules), StoreError> {
        let (mut state, now) = self.settled();
        let (_, psid) = state.resolve_participant(room, participant)?;
        let date_created = state
            .subscribe_rules
            .get(&psid)
            .and_then(|r| r.date_created)
            .unwrap_or(now);
        let stored = Rules {
            rules,
            date_created: Some(date_created),
            date_updated: Some(now),
        };
        state.subscribe_rules.insert(psid.clone(), stored.clone());
        Ok((state.participants[&psid].record.clone(), stored))
    }

    /// `POST …/Participants/{participant}/Anonymize`: the participant's identity becomes its
    /// SID, in its record, so every view built from the record (REST, callbacks, the
    /// inspector) shows the SID from now on. Only a disconnected participant can be
    /// anonymized: a connected one's identity is in its SDK's and the other clients' hands,
    /// where the emulator cannot take it back. Errors: 20404, 20001 (still connected).
    pub fn anonymize_participant(
        &self,
        room: &RoomKey,
        participant: &ParticipantKey,
    ) -> Result<ParticipantRecord, StoreError> {
        let (mut state, now) = self.settled();
        let (_, psid) = state.resolve_participant(room, participant)?;
        let entry = state.participant_mut(&psid);
        if entry.record.is_connected() {
            return Err(StoreError::new(
                twilio_codes::INVALID_PARAMETER,
                format!(
                    "Participant {psid} is connected: only a disconnected participant can be \
                     anonymized (disconnect it first with Status=disconnected)"
                ),
            ));
        }
        entry.record.identity =
            Identity::parse(psid.as_str()).expect("a participant SID is a valid identity");
        entry.record.date_updated = now;
        Ok(entry.record.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use videoroom_core::{Identity, RoomKey, RoomName};

    use crate::clock::ManualClock;
    use crate::key::ParticipantKey;
    use crate::model::CreateRoom;
    use crate::rules::{Rule, RuleType};
    use crate::store::Store;

    /// Rules live beside their room and participant: a room forgotten after the retention must
    /// take its rules along, or a long CI run's memory grows with every room it ever had.
    #[test]
    fn rules_are_forgotten_with_their_room_after_the_retention() {
        let clock = Arc::new(ManualClock::fixed());
        let store = Store::new(clock.clone()).with_retention(Duration::from_secs(60));
        let name = RoomName::parse("ruled").expect("a valid room name");
        let room = store
            .create_room(&CreateRoom {
                unique_name: Some(name.clone()),
                ..CreateRoom::default()
            })
            .expect("the room is created");
        let key = RoomKey::Sid(room.sid.clone());
        let identity = Identity::parse("alice").expect("a valid identity");
        let alice = store
            .connect_participant(&key, &identity, None)
            .expect("alice connects")
            .participant;
        let everything = vec![Rule::all(RuleType::Include)];
        store
            .set_recording_rules(&key, everything.clone())
            .expect("recording rules are set");
        store
            .set_subscribe_rules(&key, &ParticipantKey::Sid(alice.sid.clone()), everything)
            .expect("subscribe rules are set");
        store.complete_room(&key).expect("the room completes");

        clock.advance(Duration::from_secs(61));
        store.tick();

        let state = store.state.lock();
        assert!(state.recording_rules.is_empty(), "recording rules remain");
        assert!(state.subscribe_rules.is_empty(), "subscribe rules remain");
    }
}
