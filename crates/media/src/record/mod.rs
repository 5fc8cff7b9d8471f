//! Recording published tracks: the media server taps the frames a publisher sends into one
//! Matroska file per track ([`mkv`]), as Twilio's group rooms record each track on its own.
//!
//! `Recorders` is what the forwarding core holds: nothing at all while no track is recorded
//! (forwarding then checks one empty map per frame), one [`Recorder`] per recorded track
//! otherwise. A recorder learns the track's codec from its first frame: Opus goes to `.mka`,
//! VP8 to `.mkv`. H.264 (and any other codec) is refused with a reason the summary carries:
//! Matroska's `V_MPEG4/ISO/AVC` needs the stream converted from Annex B to length-prefixed
//! units and an `avcC` record built from the SPS and PPS, which is not written yet.

pub mod mkv;

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use str0m::format::Codec;
use str0m::media::MediaData;

use mkv::{MkvWriter, TrackCodec, Written};

/// Where a recording stands while it runs: the caller creates its resource once media
/// arrived, and never for a track that sent nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordingProgress {
    pub frames: u64,
    /// The track's codec as its first frame told it (`OPUS`, `VP8`, `H264`, …), written or
    /// not.
    pub codec: Option<String>,
    /// Why the recording cannot go on (a codec it does not write, a write error).
    pub error: Option<String>,
}

/// How a recording ended, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    pub path: PathBuf,
    /// The codec of the file, once a frame told it.
    pub codec: Option<TrackCodec>,
    /// The track's codec as its first frame told it, in upper case, written or not.
    pub codec_name: Option<String>,
    pub written: Written,
    /// Why nothing (more) could be recorded: an unsupported codec, a write error. The file
    /// is then incomplete or empty.
    pub error: Option<String>,
}

#[derive(Debug)]
enum State {
    /// The file exists; the first frame will say the codec.
    Waiting(File),
    Writing(MkvWriter<BufWriter<File>>),
    Failed(String),
}

/// One track's recording.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    state: State,
    codec: Option<TrackCodec>,
    /// What the first frame's payload type said, in upper case.
    codec_name: Option<String>,
}

impl Recorder {
    /// Creates (or truncates) the file at `path`; the track's frames go into it from now on.
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        let file = File::create(path)?;
        Ok(Recorder {
            path: path.to_owned(),
            state: State::Waiting(file),
            codec: None,
            codec_name: None,
        })
    }

    /// Writes one frame the publisher sent; failures end the recording with their reason.
    pub fn write(&mut self, data: &MediaData) {
        let spec = data.params.spec();
        if let State::Waiting(_) = self.state {
            self.codec_name = Some(format!("{:?}", spec.codec).to_ascii_uppercase());
            let codec = match spec.codec {
                Codec::Opus => Ok(TrackCodec::Opus {
                    channels: if spec.format.stereo == Some(true) {
                        2
                    } else {
                        1
                    },
                }),
                Codec::Vp8 => Ok(TrackCodec::Vp8),
                Codec::H264 => Err(
                    "H.264 tracks are not recorded by the emulator yet (only Opus and VP8 are); \
                     publish VP8 (twilio-video.js: preferredVideoCodecs: ['VP8']) to record video"
                        .to_owned(),
                ),
                other => Err(format!(
                    "{other:?} tracks are not recorded by the emulator (only Opus and VP8 are)"
                )),
            };
            let State::Waiting(file) =
                std::mem::replace(&mut self.state, State::Failed(String::new()))
            else {
                unreachable!("matched Waiting above");
            };
            self.state = match codec {
                Ok(codec) => {
                    self.codec = Some(codec);
                    State::Writing(MkvWriter::new(BufWriter::new(file), codec))
                }
                Err(reason) => {
                    tracing::warn!(path = %self.path.display(), %reason, "media server: track not recorded");
                    State::Failed(reason)
                }
            };
        }
        if let State::Writing(writer) = &mut self.state {
            let written = writer.write_frame(data.time.numer(), data.time.denom(), &data.data);
            if let Err(e) = written {
                let reason = format!("cannot write {}: {e}", self.path.display());
                tracing::warn!(%reason, "media server: recording failed");
                self.state = State::Failed(reason);
            }
        }
    }

    /// Frames written so far and, once the recording cannot go on, why.
    pub fn progress(&self) -> RecordingProgress {
        match &self.state {
            State::Waiting(_) => RecordingProgress::default(),
            State::Writing(writer) => RecordingProgress {
                frames: writer.frames(),
                codec: self.codec_name.clone(),
                error: None,
            },
            State::Failed(reason) => RecordingProgress {
                frames: 0,
                codec: self.codec_name.clone(),
                error: Some(reason.clone()),
            },
        }
    }

    /// Finishes the file (last cluster, cues, duration) and says what it holds.
    pub fn finish(self) -> RecordingSummary {
        let (written, error) = match self.state {
            State::Waiting(_) => (Written::default(), None),
            State::Failed(reason) => (Written::default(), Some(reason)),
            State::Writing(writer) => match writer.finish() {
                // `finish` flushed the buffer; the file closes when it drops. No fsync: the
                // file is read back on this machine, and a sync would stall the caller.
                Ok((_, written)) => (written, None),
                Err(e) => (
                    Written::default(),
                    Some(format!("cannot finish {}: {e}", self.path.display())),
                ),
            },
        };
        RecordingSummary {
            path: self.path,
            codec: self.codec,
            codec_name: self.codec_name,
            written,
            error,
        }
    }
}

/// The recorders of one media server, by (publisher, track id).
#[derive(Debug, Default)]
pub(crate) struct Recorders {
    by_track: HashMap<(String, String), Recorder>,
}

impl Recorders {
    pub(crate) fn is_empty(&self) -> bool {
        self.by_track.is_empty()
    }

    pub(crate) fn contains(&self, publisher: &str, track_id: &str) -> bool {
        self.by_track
            .contains_key(&(publisher.to_owned(), track_id.to_owned()))
    }

    pub(crate) fn insert(&mut self, publisher: &str, track_id: &str, recorder: Recorder) {
        self.by_track
            .insert((publisher.to_owned(), track_id.to_owned()), recorder);
    }

    pub(crate) fn get(&self, publisher: &str, track_id: &str) -> Option<&Recorder> {
        self.by_track
            .get(&(publisher.to_owned(), track_id.to_owned()))
    }

    pub(crate) fn remove(&mut self, publisher: &str, track_id: &str) -> Option<Recorder> {
        self.by_track
            .remove(&(publisher.to_owned(), track_id.to_owned()))
    }

    /// Hands a published frame to the track's recorder, if it has one.
    pub(crate) fn write(&mut self, publisher: &str, track_id: &str, data: &MediaData) {
        // Looked up by borrowed parts: this runs for every frame of every track while anything
        // records, and a key of owned strings would allocate twice per frame.
        if let Some(recorder) = self
            .by_track
            .iter_mut()
            .find(|((p, t), _)| p == publisher && t == track_id)
            .map(|(_, r)| r)
        {
            recorder.write(data);
        }
    }
}
