//! What the emulator records, as Twilio decides it: a published audio or video track of a
//! room that goes through the media server is recorded while the room's recording rules admit
//! it (`RecordParticipantsOnConnect=true` is the rule "include all"; rules changed mid-room
//! start and stop recordings at once). A recording ends when its track is unpublished, its
//! participant leaves, the room ends, or the rules stop admitting it.
//!
//! Never a recording resource without media behind it: a track the rules admit is first only
//! *armed* (the media server writes its frames to a file, [`videoroom_media::Sfu::record`]);
//! its `Recording` resource (and `recording-started`) comes when the first frame has reached
//! the file, seen by [`Recordings::poll`] every second or when the recording ends. A track that
//! sent nothing (a simulated participant's, a muted one's that never started) leaves no
//! resource and no file. A track whose media cannot be written (H.264 for now, a full disk)
//! becomes a `failed` recording with `recording-failed`.
//!
//! Where no media server runs (mesh mode, peer-to-peer and go rooms) media never passes
//! through the emulator, so nothing is recorded (docs/emulator.md says so).
//!
//! Files are `{room}-{track}-{n}.mka|mkv` in `media.recordings_dir`, or in a temporary folder
//! the emulator makes at its first recording and removes when it is dropped. A `DELETE`d
//! recording's file is removed at once; recordings forgotten with their room (the retention)
//! or by a reset lose their files at the next [`Recordings::poll`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use sha2::Sha256;
use videoroom_core::{RoomKey, TrackSid};
use videoroom_emulator_adapter::{
    admits, ParticipantKey, PublishedTrack, RecordingOutcome, RecordingRecord, Store, StoreEvent,
    StoreEventKind, TrackFacts, TrackKind,
};
use videoroom_media::RecordingSummary;

use crate::media::{uses_media_server, MediaPlane};

/// How long a temporary media URL (the `/Media` redirect) stays valid, in seconds of the
/// emulator's clock: Twilio's signed media URLs last 600 s.
pub const MEDIA_URL_TTL_SECS: i64 = 600;

/// A track armed for recording: the media server writes its frames to `path`.
#[derive(Debug)]
struct Armed {
    track: PublishedTrack,
    path: PathBuf,
    /// The recording resource, once media reached the file.
    sid: Option<String>,
}

#[derive(Debug)]
enum Folder {
    Configured(PathBuf, OnceLock<Result<(), String>>),
    Temporary(OnceLock<Result<tempfile::TempDir, String>>),
}

/// The emulator's recorder: arms and stops the media server's recordings and keeps the
/// store's recording resources in step with them.
#[derive(Debug)]
pub struct Recordings {
    store: Arc<Store>,
    plane: Option<Arc<MediaPlane>>,
    folder: Folder,
    armed: Mutex<HashMap<TrackSid, Armed>>,
    /// Signs temporary media URLs; random per emulator, so a URL outlives neither the
    /// emulator nor its [`MEDIA_URL_TTL_SECS`].
    url_key: [u8; 32],
    next_file: std::sync::atomic::AtomicU64,
}

impl Recordings {
    pub fn new(store: Arc<Store>, plane: Option<Arc<MediaPlane>>, dir: Option<PathBuf>) -> Self {
        Self {
            store,
            plane,
            folder: match dir {
                Some(dir) => Folder::Configured(dir, OnceLock::new()),
                None => Folder::Temporary(OnceLock::new()),
            },
            armed: Mutex::new(HashMap::new()),
            url_key: rand::random(),
            next_file: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// The folder recordings go to, made on first use; the error names the setting.
    pub fn folder(&self) -> Result<PathBuf, String> {
        match &self.folder {
            Folder::Configured(dir, made) => made
                .get_or_init(|| {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        format!(
                            "cannot create the recordings folder {} ({e}); set media.recordings_dir to a writable folder",
                            dir.display()
                        )
                    })
                })
                .clone()
                .map(|()| dir.clone()),
            Folder::Temporary(made) => made
                .get_or_init(|| {
                    tempfile::Builder::new()
                        .prefix("videoroom-recordings-")
                        .tempdir()
                        .map_err(|e| {
                            format!(
                                "cannot create a temporary folder for recordings ({e}); set media.recordings_dir to a writable folder"
                            )
                        })
                })
                .as_ref()
                .map(|dir| dir.path().to_owned())
                .map_err(Clone::clone),
        }
    }

    /// Reacts to a store event: tracks published or gone, participants leaving, rooms ending.
    pub fn on_event(&self, event: &StoreEvent) {
        if self.plane.is_none() || !uses_media_server(event.room.room_type) {
            return;
        }
        match event.kind {
            StoreEventKind::TrackAdded => self.sync_room(&RoomKey::Sid(event.room.sid.clone())),
            StoreEventKind::TrackRemoved => {
                if let Some(track) = &event.track {
                    self.stop_where(|t| t.sid == track.sid);
                }
            }
            StoreEventKind::ParticipantDisconnected(_) => {
                if let Some(participant) = &event.participant {
                    self.stop_where(|t| t.participant_sid == participant.sid);
                }
            }
            StoreEventKind::RoomEnded(_) => self.stop_where(|t| t.room_sid == event.room.sid),
            _ => {}
        }
    }

    /// Arms every published track of `room` its recording rules admit, and stops those they
    /// no longer admit: called when a track is published and when the rules change.
    pub fn sync_room(&self, room: &RoomKey) {
        let Some(plane) = &self.plane else { return };
        let Ok(record) = self.store.fetch_room(room) else {
            return;
        };
        if !uses_media_server(record.room_type) || !record.is_in_progress() {
            return;
        }
        let Ok((_, rules)) = self.store.recording_rules(room) else {
            return;
        };
        let Ok(participants) = self.store.connected_participants(room) else {
            return;
        };
        let mut wanted: Vec<PublishedTrack> = Vec::new();
        for participant in &participants {
            let key = ParticipantKey::Sid(participant.sid.clone());
            let Ok(tracks) = self.store.published_tracks(room, &key) else {
                continue;
            };
            for track in tracks {
                let facts = TrackFacts {
                    publisher_identity: participant.identity.as_str(),
                    publisher_sid: participant.sid.as_str(),
                    track_name: &track.name,
                    track_sid: track.sid.as_str(),
                    kind: track.kind,
                };
                if track.kind != TrackKind::Data && admits(&rules.rules, &facts) {
                    wanted.push(track);
                }
            }
        }
        let mut armed = self.armed.lock();
        let gone: Vec<TrackSid> = armed
            .values()
            .filter(|a| a.track.room_sid == record.sid)
            .filter(|a| !wanted.iter().any(|w| w.sid == a.track.sid))
            .map(|a| a.track.sid.clone())
            .collect();
        for sid in gone {
            if let Some(a) = armed.remove(&sid) {
                self.finish(plane, a);
            }
        }
        for track in wanted {
            if armed.contains_key(&track.sid) {
                continue;
            }
            if let Some(a) = self.arm(plane, track) {
                armed.insert(a.track.sid.clone(), a);
            }
        }
    }

    /// Creates the resources of armed tracks whose media reached their files (or failed),
    /// and removes the files of recordings the store forgot. Called every second.
    pub fn poll(&self) {
        if let Some(plane) = &self.plane {
            if let Some(sfu) = plane.bound() {
                let mut armed = self.armed.lock();
                let mut failed = Vec::new();
                for a in armed.values_mut().filter(|a| a.sid.is_none()) {
                    let Some(progress) = sfu
                        .recording_progress(a.track.participant_sid.as_str(), &a.track.client_id)
                    else {
                        continue;
                    };
                    if progress.frames > 0 || progress.error.is_some() {
                        self.create_resource(a, progress.codec.as_deref());
                    }
                    if progress.error.is_some() {
                        failed.push(a.track.sid.clone());
                    }
                }
                for sid in failed {
                    if let Some(a) = armed.remove(&sid) {
                        self.finish(plane, a);
                    }
                }
            }
        }
        for path in self.store.take_forgotten_media() {
            remove(&path);
        }
    }

    /// `DELETE /Recordings/{sid}`: the record becomes `deleted` and its file goes.
    pub fn delete(
        &self,
        sid: &str,
    ) -> Result<RecordingRecord, videoroom_emulator_adapter::StoreError> {
        let record = self.store.delete_recording(sid)?;
        remove(&record.media_path);
        Ok(record)
    }

    /// A temporary URL for a recording's media under `base`, valid for
    /// [`MEDIA_URL_TTL_SECS`]: what `/Media` redirects to.
    pub fn media_url(&self, base: &str, sid: &str) -> String {
        let expires = self.store.now().unix_timestamp() + MEDIA_URL_TTL_SECS;
        let signature = self.sign(sid, expires);
        format!("{base}/emulator/recordings/{sid}/media?Expires={expires}&Signature={signature}")
    }

    /// Whether a temporary media URL's `Expires` and `Signature` are this emulator's and not
    /// expired.
    pub fn check_media_url(&self, sid: &str, expires: i64, signature: &str) -> bool {
        let Ok(given) = hex_decode(signature) else {
            return false;
        };
        self.mac(sid, expires).verify_slice(&given).is_ok()
            && self.store.now().unix_timestamp() <= expires
    }

    fn mac(&self, sid: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.url_key).expect("HMAC takes a key of any length");
        mac.update(sid.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    fn sign(&self, sid: &str, expires: i64) -> String {
        self.mac(sid, expires)
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Stops every armed track that `which` selects.
    fn stop_where(&self, which: impl Fn(&PublishedTrack) -> bool) {
        let Some(plane) = &self.plane else { return };
        let mut armed = self.armed.lock();
        let stop: Vec<TrackSid> = armed
            .values()
            .filter(|a| which(&a.track))
            .map(|a| a.track.sid.clone())
            .collect();
        for sid in stop {
            if let Some(a) = armed.remove(&sid) {
                self.finish(plane, a);
            }
        }
    }

    fn arm(&self, plane: &MediaPlane, track: PublishedTrack) -> Option<Armed> {
        let sfu = match plane.sfu() {
            Ok(sfu) => sfu,
            Err(e) => {
                tracing::error!(track = %track.sid, error = %e, "recording: no media server");
                return None;
            }
        };
        let extension = if track.kind == TrackKind::Audio {
            "mka"
        } else {
            "mkv"
        };
        let n = self
            .next_file
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{}-{}-{n}.{extension}", track.room_sid, track.sid);
        let started = self.folder().and_then(|folder| {
            let path = folder.join(name);
            sfu.record(track.participant_sid.as_str(), &track.client_id, &path)
                .map(|()| path)
                .map_err(|e| e.to_string())
        });
        match started {
            Ok(path) => {
                tracing::debug!(track = %track.sid, path = %path.display(), "recording armed");
                Some(Armed {
                    track,
                    path,
                    sid: None,
                })
            }
            Err(reason) => {
                // No file can be written: the recording fails at once with the reason, and
                // `recording-failed` tells the application (as Twilio's does).
                tracing::warn!(track = %track.sid, error = %reason, "recording: cannot start");
                let mut a = Armed {
                    track,
                    path: PathBuf::new(),
                    sid: None,
                };
                self.create_resource(&mut a, None);
                if let Some(sid) = &a.sid {
                    self.settle(sid, failure(reason));
                }
                None
            }
        }
    }

    fn create_resource(&self, a: &mut Armed, codec: Option<&str>) {
        if a.sid.is_some() {
            return;
        }
        match self.store.start_recording(&a.track, &a.path, codec) {
            Ok(record) => a.sid = Some(record.sid),
            Err(e) => {
                tracing::debug!(track = %a.track.sid, error = %e.message, "recording: no resource")
            }
        }
    }

    /// Ends an armed track's recording: its file is finished, and its resource completed or
    /// failed; a track that sent nothing leaves neither resource nor file.
    fn finish(&self, plane: &MediaPlane, mut a: Armed) {
        let summary = plane.bound().and_then(|sfu| {
            sfu.stop_recording(a.track.participant_sid.as_str(), &a.track.client_id)
        });
        let Some(summary) = summary else {
            remove(&a.path);
            return;
        };
        if summary.written.frames == 0 && summary.error.is_none() && a.sid.is_none() {
            remove(&a.path);
            return;
        }
        self.create_resource(&mut a, summary.codec_name.as_deref());
        let Some(sid) = a.sid else {
            remove(&a.path);
            return;
        };
        let outcome = outcome(&summary);
        if outcome.failure.is_some() {
            remove(&a.path);
        }
        self.settle(&sid, outcome);
    }

    fn settle(&self, sid: &str, outcome: RecordingOutcome) {
        if let Err(e) = self.store.finish_recording(sid, outcome) {
            // Forgotten meanwhile (a reset): the file goes with it.
            tracing::debug!(recording = sid, error = %e.message, "recording: not finished");
            if let Ok(record) = self.store.fetch_recording(sid) {
                remove(&record.media_path);
            }
        }
    }
}

fn failure(reason: String) -> RecordingOutcome {
    RecordingOutcome {
        failure: Some(reason),
        codec: None,
        duration_ms: 0,
        size: 0,
    }
}

fn outcome(summary: &RecordingSummary) -> RecordingOutcome {
    let codec = summary.codec_name.clone();
    match &summary.error {
        Some(reason) => RecordingOutcome {
            codec,
            ..failure(reason.clone())
        },
        None if summary.written.frames == 0 => RecordingOutcome {
            codec,
            ..failure("no media could be written: the track sent no frame the file can start with (video starts at a key frame)".to_owned())
        },
        None => RecordingOutcome {
            failure: None,
            codec,
            duration_ms: summary.written.duration_ms,
            size: summary.written.bytes,
        },
    }
}

fn remove(path: &Path) {
    // A recording that failed before it had a file has an empty path.
    if path.as_os_str().is_empty() {
        return;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "recording: cannot remove a file")
        }
    }
}

fn hex_decode(text: &str) -> Result<Vec<u8>, ()> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return Err(());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| ()))
        .collect()
}
