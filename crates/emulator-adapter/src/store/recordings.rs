//! Track recordings (Twilio's `Recording` resource, `RT…`): kept beside the rooms they belong
//! to, under the same lock, and forgotten with them.
//!
//! The store only keeps the records and emits `recording-started`, `recording-completed` and
//! `recording-failed`. Whoever records (the emulator, with its media server) creates a record
//! once a track's media has reached a file and finishes it with what the file holds; the
//! store never touches files. It hands back the files of recordings it forgets (retention,
//! reset) through [`Store::take_forgotten_media`] so that the caller can remove them.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use videoroom_core::{twilio_codes, ParticipantSid, RoomSid, TrackSid};

use super::{created_within, State, Store};
use crate::error::StoreError;
use crate::event::StoreEventKind;
use crate::model::{PublishedTrack, TrackKind};
use crate::paging::{paginate, Page, SortKey};

/// Twilio's recording statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum RecordingStatus {
    /// Media is being written.
    Processing,
    /// The file is finished and can be downloaded.
    Completed,
    /// `DELETE`d: the file is gone, the record stays.
    Deleted,
    /// Nothing usable was recorded (see [`RecordingRecord::failure`]).
    Failed,
}

impl RecordingStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One track's recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRecord {
    /// `RT` and 32 hex digits.
    pub sid: String,
    pub room_sid: RoomSid,
    pub participant_sid: ParticipantSid,
    /// The recorded track (Twilio's `source_sid`).
    pub source_sid: TrackSid,
    pub track_name: String,
    /// `audio` or `video` (Twilio's `type`).
    pub kind: TrackKind,
    pub status: RecordingStatus,
    pub date_created: OffsetDateTime,
    pub date_updated: OffsetDateTime,
    /// Whole seconds, rounded, at least 1 once completed (Twilio: "sub-second tracks have a
    /// duration of 1 second"); `None` while processing.
    pub duration: Option<u64>,
    /// Bytes of the file, once completed.
    pub size: Option<u64>,
    /// `mka` (audio) or `mkv` (video).
    pub container_format: &'static str,
    /// `OPUS`, `VP8`, `H264`: from the track's first frame, which comes before the record.
    pub codec: Option<String>,
    /// Milliseconds from the Unix epoch to the start of the room (Twilio: "an arbitrary point
    /// in time, common to all group rooms"), so recordings of one room can be aligned.
    pub offset: u64,
    /// Milliseconds from the start of the room to the start of this recording (Twilio's
    /// callback sends `OffsetFromTwilioVideoEpoch`; this is its room-relative part).
    pub started_at_ms: u64,
    /// The room's callback, copied at creation as Twilio does.
    pub status_callback: Option<String>,
    pub status_callback_method: String,
    /// The file; removed when the recording is deleted or forgotten.
    pub media_path: PathBuf,
    /// Why a failed recording failed.
    pub failure: Option<String>,
}

/// How a recording ended, as the recorder found its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingOutcome {
    /// `None`: completed. `Some(reason)`: failed (no media, a codec the recorder does not
    /// write, a write error).
    pub failure: Option<String>,
    pub codec: Option<String>,
    pub duration_ms: u64,
    pub size: u64,
}

/// The filters of `GET /Recordings` (and of a room's `GET /Rooms/{room}/Recordings`).
#[derive(Debug, Clone, Default)]
pub struct RecordingQuery {
    pub status: Option<RecordingStatus>,
    pub source_sid: Option<String>,
    /// Each must be one of the recording's grouping SIDs (its room, its participant).
    pub grouping_sids: Vec<String>,
    pub media_type: Option<TrackKind>,
    pub room: Option<RoomSid>,
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

impl Store {
    /// Starts a recording of `published` (a track of a room in the store, copied when it was
    /// published: it may have been unpublished since) whose media is going to `media_path`: a
    /// `processing` record and `recording-started`. `codec` is what the first frame said
    /// (`OPUS`, `VP8`, `H264`). Data tracks are not recorded (20001). Errors: 20404 (the room
    /// is not in the store).
    pub fn start_recording(
        &self,
        published: &PublishedTrack,
        media_path: &Path,
        codec: Option<&str>,
    ) -> Result<RecordingRecord, StoreError> {
        let (mut state, now) = self.settled();
        let room = &published.room_sid;
        let track = &published.sid;
        let entry = state
            .rooms
            .get(room)
            .ok_or_else(|| StoreError::not_found(format!("/Rooms/{room}")))?;
        let container_format = match published.kind {
            TrackKind::Audio => "mka",
            TrackKind::Video => "mkv",
            TrackKind::Data => {
                return Err(StoreError::new(
                    twilio_codes::INVALID_PARAMETER,
                    format!("Track {track} is a data track: only audio and video are recorded"),
                ))
            }
        };
        let sid = loop {
            let sid = format!("RT{:032x}", rand::random::<u128>());
            if !state.recordings.contains_key(&sid) {
                break sid;
            }
        };
        let started = entry.record.date_created;
        let record = RecordingRecord {
            media_path: media_path.to_owned(),
            sid: sid.clone(),
            room_sid: room.clone(),
            participant_sid: published.participant_sid.clone(),
            source_sid: published.sid.clone(),
            track_name: published.name.clone(),
            kind: published.kind,
            status: RecordingStatus::Processing,
            date_created: now,
            date_updated: now,
            duration: None,
            size: None,
            container_format,
            codec: codec.map(str::to_owned),
            offset: millis_since_epoch(started),
            started_at_ms: millis_since_epoch(now).saturating_sub(millis_since_epoch(started)),
            status_callback: entry.record.status_callback.clone(),
            status_callback_method: entry.record.status_callback_method.clone(),
            failure: None,
        };
        state.recordings.insert(sid, record.clone());
        state.emit_recording(StoreEventKind::RecordingStarted, &record, now);
        Ok(record)
    }

    /// Finishes a `processing` recording as `completed` (or `failed`, with the reason) and
    /// emits `recording-completed` (`recording-failed`). Errors: 20404 (unknown or forgotten
    /// recording), 20001 (not processing).
    pub fn finish_recording(
        &self,
        sid: &str,
        outcome: RecordingOutcome,
    ) -> Result<RecordingRecord, StoreError> {
        let (mut state, now) = self.settled();
        let record = state
            .recordings
            .get_mut(sid)
            .ok_or_else(|| StoreError::not_found(format!("/Recordings/{sid}")))?;
        if record.status != RecordingStatus::Processing {
            return Err(StoreError::new(
                twilio_codes::INVALID_PARAMETER,
                format!(
                    "Recording {sid} is {}, not processing",
                    record.status.as_str()
                ),
            ));
        }
        record.date_updated = now;
        record.codec = outcome.codec.or(record.codec.take());
        let kind = match outcome.failure {
            None => {
                record.status = RecordingStatus::Completed;
                // Whole seconds, rounded; a sub-second recording lasts 1 s, as on Twilio.
                record.duration = Some(((outcome.duration_ms + 500) / 1000).max(1));
                record.size = Some(outcome.size);
                StoreEventKind::RecordingCompleted
            }
            Some(reason) => {
                record.status = RecordingStatus::Failed;
                record.failure = Some(reason);
                StoreEventKind::RecordingFailed
            }
        };
        let record = record.clone();
        if state.rooms.contains_key(&record.room_sid) {
            state.emit_recording(kind, &record, now);
        }
        Ok(record)
    }

    /// A recording by SID, in any status. Errors: 20404.
    pub fn fetch_recording(&self, sid: &str) -> Result<RecordingRecord, StoreError> {
        let (state, _) = self.settled();
        state
            .recordings
            .get(sid)
            .cloned()
            .ok_or_else(|| StoreError::not_found(format!("/Recordings/{sid}")))
    }

    /// The recordings that match `query`, oldest first. Errors: 21481 (page token).
    pub fn list_recordings(
        &self,
        query: &RecordingQuery,
    ) -> Result<Page<RecordingRecord>, StoreError> {
        let (state, _) = self.settled();
        let matching: Vec<RecordingRecord> = state
            .recordings
            .values()
            .filter(|r| query.status.is_none_or(|s| r.status == s))
            .filter(|r| {
                query
                    .source_sid
                    .as_deref()
                    .is_none_or(|s| r.source_sid.as_str() == s)
            })
            .filter(|r| {
                query.grouping_sids.iter().all(|g| {
                    g.as_str() == r.room_sid.as_str() || g.as_str() == r.participant_sid.as_str()
                })
            })
            .filter(|r| query.media_type.is_none_or(|k| r.kind == k))
            .filter(|r| query.room.as_ref().is_none_or(|room| &r.room_sid == room))
            .filter(|r| created_within(query.created_after, query.created_before, r.date_created))
            .cloned()
            .collect();
        drop(state);
        paginate(
            &matching,
            |r| SortKey::new(r.date_created, r.sid.as_str()),
            query.page_size,
            query.page_token.as_deref(),
        )
    }

    /// `DELETE /Recordings/{sid}`: the record stays with status `deleted` and its file is
    /// handed back for removal. A recording still being written cannot be deleted (20001:
    /// its track is still being recorded). Errors: 20404.
    pub fn delete_recording(&self, sid: &str) -> Result<RecordingRecord, StoreError> {
        let (mut state, now) = self.settled();
        let record = state
            .recordings
            .get_mut(sid)
            .ok_or_else(|| StoreError::not_found(format!("/Recordings/{sid}")))?;
        if record.status == RecordingStatus::Processing {
            return Err(StoreError::new(
                twilio_codes::INVALID_PARAMETER,
                format!(
                    "Recording {sid} is still processing: its track is being recorded. Delete \
                     it once it is completed (when the track is unpublished, the participant \
                     leaves or the room ends)"
                ),
            ));
        }
        record.status = RecordingStatus::Deleted;
        record.date_updated = now;
        Ok(record.clone())
    }

    /// The files of recordings forgotten since the last call (their rooms passed the
    /// retention, or the store was reset), for the caller to remove.
    pub fn take_forgotten_media(&self) -> Vec<PathBuf> {
        std::mem::take(&mut self.state.lock().forgotten_media)
    }
}

impl State {
    /// Forgets the recordings of `room`, keeping their files' paths for removal.
    pub(super) fn forget_recordings_of(&mut self, room: &RoomSid) {
        let forgotten_media = &mut self.forgotten_media;
        self.recordings.retain(|_, r| {
            let keep = &r.room_sid != room;
            if !keep {
                forgotten_media.push(r.media_path.clone());
            }
            keep
        });
    }
}

fn millis_since_epoch(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use videoroom_core::{Identity, RoomKey, RoomType};

    use super::*;
    use crate::clock::ManualClock;
    use crate::model::{CreateRoom, PublishTrack};

    fn room_with_a_track(store: &Store) -> (RoomSid, PublishedTrack) {
        let room = store
            .create_room(&CreateRoom {
                room_type: Some(RoomType::Group),
                ..CreateRoom::default()
            })
            .expect("the room is created");
        let key = RoomKey::Sid(room.sid.clone());
        let alice = store
            .connect_participant(&key, &Identity::parse("alice").expect("an identity"), None)
            .expect("alice connects")
            .participant;
        let track = store
            .publish_track(
                &key,
                &crate::ParticipantKey::Sid(alice.sid),
                PublishTrack {
                    kind: TrackKind::Audio,
                    name: "mic".into(),
                    client_id: "mic-id".into(),
                    enabled: true,
                },
            )
            .expect("the track is published");
        (room.sid, track)
    }

    #[test]
    fn a_recording_goes_from_processing_to_completed_with_its_events_and_is_listed() {
        let clock = Arc::new(ManualClock::fixed());
        let store = Store::new(clock.clone());
        let mut events = store.subscribe();
        let (room, track) = room_with_a_track(&store);
        let started = store
            .start_recording(&track, Path::new("/data/a.mka"), Some("OPUS"))
            .expect("the track is published");
        assert!(started.sid.starts_with("RT") && started.sid.len() == 34);
        assert_eq!(started.status, RecordingStatus::Processing);
        assert_eq!(started.container_format, "mka");
        assert_eq!(started.media_path, Path::new("/data/a.mka"));
        clock.advance(Duration::from_secs(3));
        let done = store
            .finish_recording(
                &started.sid,
                RecordingOutcome {
                    failure: None,
                    codec: None,
                    duration_ms: 2_400,
                    size: 1234,
                },
            )
            .expect("the recording was processing");
        assert_eq!(done.status, RecordingStatus::Completed);
        assert_eq!(done.duration, Some(2));
        assert_eq!(done.size, Some(1234));
        assert_eq!(done.codec.as_deref(), Some("OPUS"));

        let mut kinds = Vec::new();
        while let Ok(event) = events.try_recv() {
            if let Some(recording) = &event.recording {
                assert_eq!(recording.sid, started.sid);
                kinds.push(event.kind.as_str());
            }
        }
        assert_eq!(kinds, ["recording-started", "recording-completed"]);

        let by_room = store
            .list_recordings(&RecordingQuery {
                grouping_sids: vec![room.as_str().to_owned()],
                status: Some(RecordingStatus::Completed),
                ..RecordingQuery::default()
            })
            .expect("a listing");
        assert_eq!(by_room.items, [done]);
        let video = store
            .list_recordings(&RecordingQuery {
                media_type: Some(TrackKind::Video),
                ..RecordingQuery::default()
            })
            .expect("a listing");
        assert!(video.items.is_empty());
    }

    #[test]
    fn only_finished_recordings_can_be_deleted_and_forgotten_ones_hand_back_their_files() {
        let clock = Arc::new(ManualClock::fixed());
        let store = Store::new(clock.clone()).with_retention(Duration::from_secs(60));
        let (room, track) = room_with_a_track(&store);
        let rec = store
            .start_recording(&track, Path::new("/data/a.mka"), Some("OPUS"))
            .expect("the track is published");
        let err = store
            .delete_recording(&rec.sid)
            .expect_err("still processing");
        assert_eq!(err.code, twilio_codes::INVALID_PARAMETER);
        let failed = store
            .finish_recording(
                &rec.sid,
                RecordingOutcome {
                    failure: Some("no media arrived".into()),
                    codec: None,
                    duration_ms: 0,
                    size: 0,
                },
            )
            .expect("processing");
        assert_eq!(failed.status, RecordingStatus::Failed);
        assert_eq!(failed.duration, None);
        let deleted = store.delete_recording(&rec.sid).expect("finished");
        assert_eq!(deleted.status, RecordingStatus::Deleted);
        assert_eq!(
            store.fetch_recording(&rec.sid).expect("kept").status,
            RecordingStatus::Deleted
        );
        assert_eq!(
            store
                .fetch_recording("RT00000000000000000000000000000000")
                .map_err(|e| e.code),
            Err(twilio_codes::NOT_FOUND)
        );

        store
            .complete_room(&RoomKey::Sid(room))
            .expect("the room completes");
        clock.advance(Duration::from_secs(61));
        store.tick();
        assert_eq!(
            store.fetch_recording(&rec.sid).map_err(|e| e.code),
            Err(twilio_codes::NOT_FOUND)
        );
        assert_eq!(store.take_forgotten_media(), [rec.media_path]);
        assert!(store.take_forgotten_media().is_empty());
    }

    #[test]
    fn a_track_of_a_forgotten_room_cannot_be_recorded() {
        let store = Store::new(Arc::new(ManualClock::fixed()));
        let (_, track) = room_with_a_track(&store);
        store.reset();
        let err = store
            .start_recording(&track, Path::new("/data/a.mka"), Some("OPUS"))
            .expect_err("no such room");
        assert_eq!(err.code, twilio_codes::NOT_FOUND);
    }

    #[test]
    fn a_reset_hands_back_every_recording_s_file() {
        let store = Store::new(Arc::new(ManualClock::fixed()));
        let (_, track) = room_with_a_track(&store);
        let rec = store
            .start_recording(&track, Path::new("/data/a.mka"), Some("OPUS"))
            .expect("the track is published");
        store.reset();
        assert_eq!(store.take_forgotten_media(), [rec.media_path]);
    }
}
