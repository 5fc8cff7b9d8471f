//! A small Matroska writer for one track of WebRTC frames, and a reader that checks such files.
//!
//! Twilio stores each recorded track on its own, Opus audio as `.mka` and video as `.mkv`; this
//! writes the same. The EBML is written here rather than through a crate: the part a
//! single-track recording needs is a few dozen element ids, and the Rust Matroska crates found
//! either only read, or buffer the whole file, or pull in a codec stack. What is written:
//!
//! - the EBML header (DocType `matroska`);
//! - a Segment whose size is patched at [`MkvWriter::finish`] (until then it says "unknown",
//!   so a file cut short by a crash still plays up to its last Cluster);
//! - a SeekHead of fixed layout pointing at Info, Tracks and Cues (patched at the end), so
//!   players find the Cues and can seek;
//! - Info with a millisecond TimestampScale and a Duration patched at the end (players show
//!   the length from it);
//! - Tracks with one TrackEntry: `A_OPUS` with an OpusHead CodecPrivate, or `V_VP8` with the
//!   picture size read from the first key frame;
//! - Clusters of SimpleBlocks (key frames flagged), timestamps from the RTP clock relative to
//!   the first frame written; video starts at its first key frame (nothing before it decodes);
//! - Cues: one point per Cluster that starts with a key frame.

use std::io::{self, Seek, SeekFrom, Write};

/// What a track carries, as far as the file needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackCodec {
    /// Opus at 48 kHz with this many output channels (1 or 2).
    Opus { channels: u8 },
    /// VP8.
    Vp8,
}

impl TrackCodec {
    /// The Matroska CodecID.
    pub fn codec_id(self) -> &'static str {
        match self {
            TrackCodec::Opus { .. } => "A_OPUS",
            TrackCodec::Vp8 => "V_VP8",
        }
    }

    /// Twilio's name for the codec in a recording resource (`codec`).
    pub fn name(self) -> &'static str {
        match self {
            TrackCodec::Opus { .. } => "opus",
            TrackCodec::Vp8 => "VP8",
        }
    }

    /// Twilio's container for it (`container_format`), which is also the file's extension.
    pub fn container(self) -> &'static str {
        match self {
            TrackCodec::Opus { .. } => "mka",
            TrackCodec::Vp8 => "mkv",
        }
    }

    fn is_video(self) -> bool {
        matches!(self, TrackCodec::Vp8)
    }
}

/// What a finished file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    /// Frames written as blocks.
    pub frames: u64,
    /// From the first frame to the end of the last one, in milliseconds.
    pub duration_ms: u64,
    /// The file's size in bytes.
    pub bytes: u64,
}

// Element ids (Matroska specification, RFC 9559), with their marker bits.
const EBML: u32 = 0x1A45_DFA3;
const EBML_VERSION: u32 = 0x4286;
const EBML_READ_VERSION: u32 = 0x42F7;
const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
const DOC_TYPE: u32 = 0x4282;
const DOC_TYPE_VERSION: u32 = 0x4287;
const DOC_TYPE_READ_VERSION: u32 = 0x4285;
const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const SEEK: u32 = 0x4DBB;
const SEEK_ID: u32 = 0x53AB;
const SEEK_POSITION: u32 = 0x53AC;
const INFO: u32 = 0x1549_A966;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const MUXING_APP: u32 = 0x4D80;
const WRITING_APP: u32 = 0x5741;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_UID: u32 = 0x73C5;
const TRACK_TYPE: u32 = 0x83;
const FLAG_LACING: u32 = 0x9C;
const CODEC_ID: u32 = 0x86;
const CODEC_PRIVATE: u32 = 0x63A2;
const CODEC_DELAY: u32 = 0x56AA;
const SEEK_PRE_ROLL: u32 = 0x56BB;
const VIDEO: u32 = 0xE0;
const PIXEL_WIDTH: u32 = 0xB0;
const PIXEL_HEIGHT: u32 = 0xBA;
const AUDIO: u32 = 0xE1;
const SAMPLING_FREQUENCY: u32 = 0xB5;
const CHANNELS: u32 = 0x9F;
const CLUSTER: u32 = 0x1F43_B675;
const TIMESTAMP: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;
const CUES: u32 = 0x1C53_BB6B;
const CUE_POINT: u32 = 0xBB;
const CUE_TIME: u32 = 0xB3;
const CUE_TRACK_POSITIONS: u32 = 0xB7;
const CUE_TRACK: u32 = 0xF7;
const CUE_CLUSTER_POSITION: u32 = 0xF1;

/// An 8-byte size field saying "unknown", patched later.
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// A Cluster closes after this long, so a block's 16-bit relative timestamp always fits and
/// at most this much media waits in memory.
const CLUSTER_SPAN_MS: u64 = 5_000;

/// Opus's recommended seek pre-roll (RFC 9559, "A_OPUS"): 80 ms, in nanoseconds.
const OPUS_SEEK_PRE_ROLL_NS: u64 = 80_000_000;

/// The RTP clock of Opus in WebRTC (RFC 7587).
const OPUS_RATE: u32 = 48_000;

/// Writes one track's frames into a Matroska file.
///
/// Nothing is written before the first frame that can start the file (any Opus frame, a VP8
/// key frame): the header needs the picture size, and frames before a key frame cannot be
/// decoded anyway.
#[derive(Debug)]
pub struct MkvWriter<W: Write + Seek> {
    out: W,
    codec: TrackCodec,
    /// Set once the header is written.
    layout: Option<Layout>,
    /// The RTP time (in its clock's ticks) of the first frame written, and that clock's rate.
    first_tick: Option<(u64, u32)>,
    /// The current Cluster: its timestamp (ms) and its blocks, written out when it closes.
    cluster: Option<(u64, Vec<u8>)>,
    cluster_starts_with_key: bool,
    /// Where each Cluster that starts with a key frame begins (ms, offset in the Segment).
    cues: Vec<(u64, u64)>,
    last_ms: u64,
    /// The gap before the last frame: the last frame's assumed length.
    last_gap_ms: u64,
    frames: u64,
}

/// Where the patched fields of a written header are.
#[derive(Debug, Clone, Copy)]
struct Layout {
    segment_size_at: u64,
    segment_data_at: u64,
    duration_at: u64,
    cues_position_at: u64,
}

impl<W: Write + Seek> MkvWriter<W> {
    /// A writer for one track of `codec` into `out` (at its start).
    pub fn new(out: W, codec: TrackCodec) -> Self {
        Self {
            out,
            codec,
            layout: None,
            first_tick: None,
            cluster: None,
            cluster_starts_with_key: false,
            cues: Vec::new(),
            last_ms: 0,
            last_gap_ms: 0,
            frames: 0,
        }
    }

    /// The track's codec.
    pub fn codec(&self) -> TrackCodec {
        self.codec
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Adds a frame taken at `tick` of an RTP clock running at `clock_rate` Hz. Returns
    /// `false` when the frame was skipped: video before its first key frame.
    pub fn write_frame(&mut self, tick: u64, clock_rate: u32, frame: &[u8]) -> io::Result<bool> {
        let key = match self.codec {
            TrackCodec::Opus { .. } => true,
            TrackCodec::Vp8 => vp8_key_frame_size(frame).is_some(),
        };
        if self.layout.is_none() {
            if !key {
                return Ok(false);
            }
            self.write_header(frame)?;
        }
        let clock_rate = clock_rate.max(1);
        let (first, rate) = *self.first_tick.get_or_insert((tick, clock_rate));
        // The RTP clock is str0m's extended (64-bit) one. A frame from before the first, or not
        // after the last (reordering, two frames within a millisecond), is placed 1 ms after
        // the last, so block times strictly increase as players and ffmpeg expect.
        let ms = (tick.saturating_sub(first) as u128 * 1000 / u128::from(rate)) as u64;
        let ms = if self.frames == 0 {
            ms
        } else {
            ms.max(self.last_ms + 1)
        };
        if self.frames > 0 {
            self.last_gap_ms = ms - self.last_ms;
        }
        self.last_ms = ms;

        let open_new = match &self.cluster {
            None => true,
            Some((start, blocks)) => {
                ms - start >= CLUSTER_SPAN_MS
                    || (key && self.codec.is_video() && !blocks.is_empty())
            }
        };
        if open_new {
            self.close_cluster()?;
            self.cluster = Some((ms, Vec::new()));
            self.cluster_starts_with_key = key;
        }
        let (start, blocks) = self.cluster.as_mut().expect("a cluster was opened above");
        let relative = i16::try_from(ms - *start)
            .expect("a cluster spans less than CLUSTER_SPAN_MS, which fits in an i16");
        let mut block = Vec::with_capacity(frame.len() + 4);
        block.push(0x81); // track number 1 as a 1-byte vint
        block.extend_from_slice(&relative.to_be_bytes());
        block.push(if key { 0x80 } else { 0x00 });
        block.extend_from_slice(frame);
        element(blocks, SIMPLE_BLOCK, &block);
        self.frames += 1;
        Ok(true)
    }

    /// Writes the last Cluster, the Cues, the Duration and the sizes, and returns what the
    /// file holds. A writer that never got a frame leaves an empty file.
    pub fn finish(mut self) -> io::Result<(W, Written)> {
        let Some(layout) = self.layout else {
            self.out.flush()?;
            return Ok((self.out, Written::default()));
        };
        self.close_cluster()?;
        let cues_at = self.out.stream_position()?;
        let mut cues = Vec::new();
        for (ms, position) in &self.cues {
            let mut positions = Vec::new();
            uint_element(&mut positions, CUE_TRACK, 1);
            uint_element(&mut positions, CUE_CLUSTER_POSITION, *position);
            let mut point = Vec::new();
            uint_element(&mut point, CUE_TIME, *ms);
            element(&mut point, CUE_TRACK_POSITIONS, &positions);
            element(&mut cues, CUE_POINT, &point);
        }
        if !cues.is_empty() {
            let mut out = Vec::new();
            element(&mut out, CUES, &cues);
            self.out.write_all(&out)?;
        }
        let end = self.out.stream_position()?;
        let duration_ms = if self.frames == 0 {
            0
        } else {
            self.last_ms + self.last_gap_ms.max(1)
        };

        self.out.seek(SeekFrom::Start(layout.segment_size_at))?;
        self.out.write_all(&size_8(end - layout.segment_data_at))?;
        self.out.seek(SeekFrom::Start(layout.duration_at))?;
        self.out.write_all(&(duration_ms as f64).to_be_bytes())?;
        if !cues.is_empty() {
            self.out.seek(SeekFrom::Start(layout.cues_position_at))?;
            self.out
                .write_all(&(cues_at - layout.segment_data_at).to_be_bytes())?;
        }
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok((
            self.out,
            Written {
                frames: self.frames,
                duration_ms,
                bytes: end,
            },
        ))
    }

    fn close_cluster(&mut self) -> io::Result<()> {
        let Some((start, blocks)) = self.cluster.take() else {
            return Ok(());
        };
        let layout = self.layout.expect("clusters exist only after the header");
        let at = self.out.stream_position()?;
        if self.cluster_starts_with_key {
            self.cues.push((start, at - layout.segment_data_at));
        }
        let mut body = Vec::with_capacity(blocks.len() + 12);
        uint_element(&mut body, TIMESTAMP, start);
        body.extend_from_slice(&blocks);
        let mut out = Vec::with_capacity(body.len() + 12);
        element(&mut out, CLUSTER, &body);
        self.out.write_all(&out)
    }

    fn write_header(&mut self, first_frame: &[u8]) -> io::Result<()> {
        let mut head = Vec::new();
        let mut ebml = Vec::new();
        uint_element(&mut ebml, EBML_VERSION, 1);
        uint_element(&mut ebml, EBML_READ_VERSION, 1);
        uint_element(&mut ebml, EBML_MAX_ID_LENGTH, 4);
        uint_element(&mut ebml, EBML_MAX_SIZE_LENGTH, 8);
        element(&mut ebml, DOC_TYPE, b"matroska");
        uint_element(&mut ebml, DOC_TYPE_VERSION, 4);
        uint_element(&mut ebml, DOC_TYPE_READ_VERSION, 2);
        element(&mut head, EBML, &ebml);

        head.extend_from_slice(&id_bytes(SEGMENT));
        let segment_size_at = head.len() as u64;
        head.extend_from_slice(&UNKNOWN_SIZE);
        let segment_data_at = head.len() as u64;

        // The SeekHead has a fixed layout (8-byte positions) so the Cues' position can be
        // patched in place; Info and Tracks follow it at known offsets.
        let seek = |target: u32, position: u64| {
            let mut s = Vec::new();
            element(&mut s, SEEK_ID, &id_bytes(target));
            head_u64(&mut s, SEEK_POSITION, position);
            s
        };
        let seek_head_len = {
            let mut probe = Vec::new();
            for target in [INFO, TRACKS, CUES] {
                element(&mut probe, SEEK, &seek(target, 0));
            }
            let mut sized = Vec::new();
            element(&mut sized, SEEK_HEAD, &probe);
            sized.len() as u64
        };

        let mut info = Vec::new();
        uint_element(&mut info, TIMESTAMP_SCALE, 1_000_000);
        element(&mut info, MUXING_APP, b"videoroom-media");
        element(&mut info, WRITING_APP, b"videoroom emulator");
        // Duration goes last in Info, as an 8-byte float patched at the end.
        head_f64(&mut info, DURATION, 0.0);
        let mut info_element = Vec::new();
        element(&mut info_element, INFO, &info);
        let duration_offset_in_info = info_element.len() as u64 - 8;

        let tracks_element = self.tracks(first_frame);

        let info_at = seek_head_len;
        let tracks_at = info_at + info_element.len() as u64;
        let mut seeks = Vec::new();
        element(&mut seeks, SEEK, &seek(INFO, info_at));
        element(&mut seeks, SEEK, &seek(TRACKS, tracks_at));
        element(&mut seeks, SEEK, &seek(CUES, 0));
        let mut seek_head = Vec::new();
        element(&mut seek_head, SEEK_HEAD, &seeks);
        debug_assert_eq!(seek_head.len() as u64, seek_head_len);
        let cues_position_at = segment_data_at + seek_head.len() as u64 - 8;
        head.extend_from_slice(&seek_head);
        let duration_at = head.len() as u64 + duration_offset_in_info;
        head.extend_from_slice(&info_element);
        head.extend_from_slice(&tracks_element);

        let base = self.out.stream_position()?;
        self.out.write_all(&head)?;
        self.layout = Some(Layout {
            segment_size_at: base + segment_size_at,
            segment_data_at: base + segment_data_at,
            duration_at: base + duration_at,
            cues_position_at: base + cues_position_at,
        });
        Ok(())
    }

    fn tracks(&self, first_frame: &[u8]) -> Vec<u8> {
        let mut entry = Vec::new();
        uint_element(&mut entry, TRACK_NUMBER, 1);
        uint_element(&mut entry, TRACK_UID, 1);
        uint_element(&mut entry, FLAG_LACING, 0);
        element(&mut entry, CODEC_ID, self.codec.codec_id().as_bytes());
        match self.codec {
            TrackCodec::Opus { channels } => {
                uint_element(&mut entry, TRACK_TYPE, 2);
                element(&mut entry, CODEC_PRIVATE, &opus_head(channels));
                // Pre-skip 0: frames off the network start at the encoder's first output.
                uint_element(&mut entry, CODEC_DELAY, 0);
                uint_element(&mut entry, SEEK_PRE_ROLL, OPUS_SEEK_PRE_ROLL_NS);
                let mut audio = Vec::new();
                head_f64(&mut audio, SAMPLING_FREQUENCY, f64::from(OPUS_RATE));
                uint_element(&mut audio, CHANNELS, u64::from(channels));
                element(&mut entry, AUDIO, &audio);
            }
            TrackCodec::Vp8 => {
                uint_element(&mut entry, TRACK_TYPE, 1);
                let (width, height) =
                    vp8_key_frame_size(first_frame).expect("the header is written at a key frame");
                let mut video = Vec::new();
                uint_element(&mut video, PIXEL_WIDTH, u64::from(width));
                uint_element(&mut video, PIXEL_HEIGHT, u64::from(height));
                element(&mut entry, VIDEO, &video);
            }
        }
        let mut tracks = Vec::new();
        element(&mut tracks, TRACK_ENTRY, &entry);
        let mut out = Vec::new();
        element(&mut out, TRACKS, &tracks);
        out
    }
}

/// The picture size of a VP8 key frame (RFC 6386 §9.1), or `None` for an inter frame or
/// bytes too short to be a key frame.
pub fn vp8_key_frame_size(frame: &[u8]) -> Option<(u16, u16)> {
    // The frame tag's lowest bit is 0 for a key frame, which has a start code after the tag.
    if frame.len() < 10 || frame[0] & 0x01 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((width, height))
}

/// The OpusHead an `A_OPUS` track carries (RFC 7845 §5.1), for mapping family 0.
fn opus_head(channels: u8) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1); // version
    head.push(channels);
    head.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&OPUS_RATE.to_le_bytes()); // input sample rate
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // channel mapping family
    head
}

fn id_bytes(id: u32) -> Vec<u8> {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

/// The shortest EBML variable-size integer for `size`.
fn size_vint(size: u64) -> Vec<u8> {
    // A length of n bytes carries 7n bits; all ones is reserved for "unknown".
    let n = (1..=8u32)
        .find(|n| size < (1u64 << (7 * n)) - 1)
        .expect("sizes here are far below 2^56");
    let marked = size | (1u64 << (7 * n));
    marked.to_be_bytes()[(8 - n as usize)..].to_vec()
}

fn size_8(size: u64) -> [u8; 8] {
    (size | (1u64 << 56)).to_be_bytes()
}

fn element(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    out.extend_from_slice(&id_bytes(id));
    out.extend_from_slice(&size_vint(data.len() as u64));
    out.extend_from_slice(data);
}

fn uint_element(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    element(out, id, &bytes[skip..]);
}

/// An unsigned integer in 8 bytes, so it can be patched in place.
fn head_u64(out: &mut Vec<u8>, id: u32, value: u64) {
    element(out, id, &value.to_be_bytes());
}

fn head_f64(out: &mut Vec<u8>, id: u32, value: f64) {
    element(out, id, &value.to_be_bytes());
}

/// What [`inspect`] finds in a Matroska file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inspected {
    pub codec_id: String,
    /// The Info Duration, in milliseconds.
    pub duration_ms: f64,
    /// Every SimpleBlock: its absolute time (ms), whether it is flagged key, its frame.
    pub blocks: Vec<(u64, bool, Vec<u8>)>,
    /// Whether the Segment's size was written (a finished file).
    pub finished: bool,
    /// CuePoint count.
    pub cues: usize,
}

/// Reads back what [`MkvWriter`] writes (one track, SimpleBlocks, known or unknown Segment
/// size): for tests and for checking a recording before it is served.
pub fn inspect(bytes: &[u8]) -> Result<Inspected, String> {
    let mut found = Inspected::default();
    let mut at = 0;
    while at < bytes.len() {
        let (id, size, data_at) = header(bytes, at)?;
        let end = size.map_or(bytes.len(), |s| data_at + s).min(bytes.len());
        if id == SEGMENT {
            found.finished = size.is_some();
            segment(&bytes[data_at..end], &mut found)?;
        }
        at = end;
    }
    Ok(found)
}

fn segment(bytes: &[u8], found: &mut Inspected) -> Result<(), String> {
    let mut at = 0;
    while at < bytes.len() {
        let (id, size, data_at) = header(bytes, at)?;
        let size = size.ok_or("an element inside the Segment has an unknown size")?;
        let end = data_at + size;
        let data = bytes
            .get(data_at..end)
            .ok_or_else(|| format!("element {id:#x} runs past the end of the file"))?;
        match id {
            INFO => children(data, |id, d| {
                if id == DURATION {
                    found.duration_ms = match d.len() {
                        8 => f64::from_be_bytes(d.try_into().expect("8 bytes")),
                        4 => f64::from(f32::from_be_bytes(d.try_into().expect("4 bytes"))),
                        _ => return Err("Duration is neither 4 nor 8 bytes".into()),
                    };
                }
                Ok(())
            })?,
            TRACKS => children(data, |id, d| {
                if id == TRACK_ENTRY {
                    children(d, |id, d| {
                        if id == CODEC_ID {
                            found.codec_id = String::from_utf8_lossy(d).into_owned();
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })?,
            CLUSTER => {
                let mut start = 0u64;
                children(data, |id, d| {
                    match id {
                        TIMESTAMP => start = d.iter().fold(0, |v, b| v << 8 | u64::from(*b)),
                        SIMPLE_BLOCK => {
                            if d.len() < 4 {
                                return Err("a SimpleBlock is shorter than its header".into());
                            }
                            let relative = i16::from_be_bytes([d[1], d[2]]);
                            let time = start.saturating_add_signed(i64::from(relative));
                            found.blocks.push((time, d[3] & 0x80 != 0, d[4..].to_vec()));
                        }
                        _ => {}
                    }
                    Ok(())
                })?;
            }
            CUES => children(data, |id, _| {
                if id == CUE_POINT {
                    found.cues += 1;
                }
                Ok(())
            })?,
            _ => {}
        }
        at = end;
    }
    Ok(())
}

fn children(
    bytes: &[u8],
    mut each: impl FnMut(u32, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut at = 0;
    while at < bytes.len() {
        let (id, size, data_at) = header(bytes, at)?;
        let size = size.ok_or("a child element has an unknown size")?;
        let data = bytes
            .get(data_at..data_at + size)
            .ok_or_else(|| format!("element {id:#x} runs past its parent"))?;
        each(id, data)?;
        at = data_at + size;
    }
    Ok(())
}

/// An element's id, size (`None` = unknown) and where its data starts.
fn header(bytes: &[u8], at: usize) -> Result<(u32, Option<usize>, usize), String> {
    let first = *bytes.get(at).ok_or("an element header is cut short")?;
    let id_len = first.leading_zeros() as usize + 1;
    if id_len > 4 {
        return Err(format!("invalid element id at byte {at}"));
    }
    let id_bytes = bytes
        .get(at..at + id_len)
        .ok_or("an element id is cut short")?;
    let id = id_bytes.iter().fold(0u32, |v, b| v << 8 | u32::from(*b));
    let size_at = at + id_len;
    let first = *bytes.get(size_at).ok_or("an element size is cut short")?;
    let size_len = first.leading_zeros() as usize + 1;
    if size_len > 8 {
        return Err(format!("invalid element size at byte {size_at}"));
    }
    let size_bytes = bytes
        .get(size_at..size_at + size_len)
        .ok_or("an element size is cut short")?;
    let mask = if size_len == 8 { 0 } else { 0xFFu8 >> size_len };
    let mut value = u64::from(size_bytes[0] & mask);
    let mut all_ones = size_bytes[0] & mask == mask;
    for b in &size_bytes[1..] {
        value = value << 8 | u64::from(*b);
        all_ones &= *b == 0xFF;
    }
    let size = if all_ones {
        None
    } else {
        Some(usize::try_from(value).map_err(|_| "an element size does not fit in memory")?)
    };
    Ok((id, size, size_at + size_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A 16x16 VP8 key frame and an inter frame after it (made once with libvpx).
    pub(crate) const VP8_KEY: [u8; 56] = [
        0xb0, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00, 0x00, 0x47, 0x08, 0x85, 0x85,
        0x88, 0x85, 0x84, 0x88, 0x02, 0x02, 0x02, 0x75, 0xaa, 0x03, 0xf8, 0x02, 0x0c, 0xfd, 0x28,
        0x00, 0xfe, 0xff, 0x4d, 0x12, 0xff, 0xfc, 0x58, 0x57, 0xf1, 0x61, 0x5f, 0xc5, 0x85, 0x7f,
        0xf1, 0x61, 0x5f, 0xfc, 0xfc, 0xce, 0xed, 0xc5, 0xfc, 0xe6, 0x00,
    ];
    pub(crate) const VP8_INTER: [u8; 17] = [
        0xb1, 0x01, 0x00, 0x05, 0x10, 0xac, 0x00, 0x18, 0x00, 0x18, 0x58, 0x2f, 0xf4, 0x00, 0x08,
        0x00, 0x00,
    ];
    /// A 20 ms CELT-only Opus frame of silence (TOC 0xF8: fullband, 20 ms, mono, one frame).
    pub(crate) const OPUS_SILENCE: [u8; 3] = [0xf8, 0xff, 0xfe];

    fn write(codec: TrackCodec, frames: &[(u64, u32, &[u8])]) -> (Vec<u8>, Written, u64) {
        let mut writer = MkvWriter::new(Cursor::new(Vec::new()), codec);
        let mut skipped = 0;
        for (tick, rate, frame) in frames {
            if !writer.write_frame(*tick, *rate, frame).expect("in memory") {
                skipped += 1;
            }
        }
        let (out, written) = writer.finish().expect("in memory");
        (out.into_inner(), written, skipped)
    }

    #[test]
    fn sizes_are_the_shortest_vints() {
        assert_eq!(size_vint(0), [0x80]);
        assert_eq!(size_vint(126), [0xFE]);
        // 127 in one byte would be all ones, "unknown".
        assert_eq!(size_vint(127), [0x40, 0x7F]);
        assert_eq!(size_vint(300), [0x41, 0x2C]);
        assert_eq!(id_bytes(SEGMENT), [0x18, 0x53, 0x80, 0x67]);
        assert_eq!(id_bytes(SIMPLE_BLOCK), [0xA3]);
    }

    #[test]
    fn opus_frames_keep_their_rtp_times_and_the_duration_is_written_at_the_end() {
        // 100 frames of 20 ms on the 48 kHz clock, starting at an arbitrary RTP time.
        let frames: Vec<(u64, u32, &[u8])> = (0..100u64)
            .map(|n| (7_000_000 + n * 960, 48_000, &OPUS_SILENCE[..]))
            .collect();
        let (bytes, written, skipped) = write(TrackCodec::Opus { channels: 1 }, &frames);
        assert_eq!(skipped, 0);
        assert_eq!(written.frames, 100);
        assert_eq!(written.duration_ms, 2_000);
        assert_eq!(written.bytes, bytes.len() as u64);
        let found = inspect(&bytes).expect("the file parses");
        assert!(found.finished, "the Segment size was patched");
        assert_eq!(found.codec_id, "A_OPUS");
        assert_eq!(found.duration_ms, 2_000.0);
        assert_eq!(found.blocks.len(), 100);
        assert!(found
            .blocks
            .iter()
            .all(|(_, key, f)| *key && f == &OPUS_SILENCE));
        let times: Vec<u64> = found.blocks.iter().map(|b| b.0).collect();
        assert_eq!(times[..3], [0, 20, 40]);
        assert_eq!(times[99], 1_980);
        let head = bytes
            .windows(8)
            .position(|w| w == b"OpusHead")
            .expect("the OpusHead is in the CodecPrivate");
        assert_eq!(bytes[head + 9], 1, "one channel");
    }

    #[test]
    fn video_starts_at_its_first_key_frame_and_each_key_frame_opens_a_cluster_with_a_cue() {
        let frames: Vec<(u64, u32, &[u8])> = vec![
            (0, 90_000, &VP8_INTER[..]), // before any key frame: skipped
            (3_000, 90_000, &VP8_KEY[..]),
            (6_000, 90_000, &VP8_INTER[..]),
            (9_000, 90_000, &VP8_INTER[..]),
            (12_000, 90_000, &VP8_KEY[..]),
            (15_000, 90_000, &VP8_INTER[..]),
        ];
        let (bytes, written, skipped) = write(TrackCodec::Vp8, &frames);
        assert_eq!(skipped, 1);
        assert_eq!(written.frames, 5);
        // The last frame starts at 133 ms (12 000 ticks of 90 kHz after the first key
        // frame) and lasts as long as the gap before it, 33 ms.
        assert_eq!(written.duration_ms, 166);
        let found = inspect(&bytes).expect("the file parses");
        assert_eq!(found.codec_id, "V_VP8");
        let keys: Vec<(u64, bool)> = found.blocks.iter().map(|b| (b.0, b.1)).collect();
        assert_eq!(
            keys,
            [
                (0, true),
                (33, false),
                (66, false),
                (100, true),
                (133, false)
            ]
        );
        assert_eq!(
            found.cues, 2,
            "one cue per cluster that starts with a key frame"
        );
        assert_eq!(vp8_key_frame_size(&VP8_KEY), Some((16, 16)));
        assert_eq!(vp8_key_frame_size(&VP8_INTER), None);
    }

    #[test]
    fn block_times_strictly_increase_even_when_frames_come_out_of_order_or_within_a_millisecond() {
        let frames: Vec<(u64, u32, &[u8])> = vec![
            (0, 90_000, &VP8_KEY[..]),
            (9_000, 90_000, &VP8_INTER[..]),
            (9_045, 90_000, &VP8_INTER[..]), // half a millisecond later
            (4_500, 90_000, &VP8_INTER[..]), // reordered
            (18_000, 90_000, &VP8_INTER[..]),
        ];
        let (bytes, _, _) = write(TrackCodec::Vp8, &frames);
        let found = inspect(&bytes).expect("the file parses");
        let times: Vec<u64> = found.blocks.iter().map(|b| b.0).collect();
        assert_eq!(times, [0, 100, 101, 102, 200]);
    }

    #[test]
    fn long_recordings_are_cut_into_clusters_whose_block_times_fit_16_bits() {
        // 80 s of audio: block times relative to one cluster would overflow an i16.
        let frames: Vec<(u64, u32, &[u8])> = (0..4_000u64)
            .map(|n| (n * 960, 48_000, &OPUS_SILENCE[..]))
            .collect();
        let (bytes, written, _) = write(TrackCodec::Opus { channels: 2 }, &frames);
        assert_eq!(written.duration_ms, 80_000);
        let found = inspect(&bytes).expect("the file parses");
        let times: Vec<u64> = found.blocks.iter().map(|b| b.0).collect();
        let expected: Vec<u64> = (0..4_000u64).map(|n| n * 20).collect();
        assert_eq!(times, expected);
    }

    #[test]
    fn a_writer_that_got_no_frame_leaves_an_empty_file() {
        let (bytes, written, skipped) = write(TrackCodec::Vp8, &[(0, 90_000, &VP8_INTER[..])]);
        assert_eq!(skipped, 1);
        assert_eq!(written, Written::default());
        assert!(bytes.is_empty());
    }

    /// Whether Debian's ffmpeg tools are installed: a skip with the fix locally, a failure
    /// when `CI=true` (`.ci/run` installs them).
    fn ffmpeg_tools() -> bool {
        let found = std::process::Command::new("ffprobe")
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true and ffprobe is missing: install it with `apt-get install -y ffmpeg`"
            );
            eprintln!("skipped: ffprobe is not installed (`apt-get install -y ffmpeg`)");
        }
        found
    }

    /// ffprobe's codec name and duration (seconds) of `path`, and whether ffmpeg decodes the
    /// whole file without an error.
    fn probe(path: &std::path::Path) -> (String, f64) {
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name:format=duration",
            ])
            .args(["-of", "default=noprint_wrappers=1"])
            .arg(path)
            .output()
            .expect("ffprobe runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "ffprobe: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("ffprobe shows no {name}: {text}"))
                .to_owned()
        };
        let decoded = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-f", "null", "-"])
            .output()
            .expect("ffmpeg runs");
        assert!(
            decoded.status.success() && decoded.stderr.is_empty(),
            "ffmpeg decodes {} without errors: {}",
            path.display(),
            String::from_utf8_lossy(&decoded.stderr)
        );
        (
            field("codec_name"),
            field("duration").parse().expect("a duration in seconds"),
        )
    }

    #[test]
    fn ffprobe_reads_the_codec_and_duration_and_ffmpeg_decodes_both_kinds_of_file() {
        if !ffmpeg_tools() {
            return;
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let audio = dir.path().join("audio.mka");
        let mut writer = MkvWriter::new(
            BufWriterFile::create(&audio),
            TrackCodec::Opus { channels: 1 },
        );
        for n in 0..150u64 {
            writer
                .write_frame(n * 960, 48_000, &OPUS_SILENCE)
                .expect("the file is writable");
        }
        writer.finish().expect("the file is writable");
        let (codec, seconds) = probe(&audio);
        assert_eq!(codec, "opus");
        assert!(
            (seconds - 3.0).abs() < 0.05,
            "3 s of audio, ffprobe says {seconds}"
        );

        // Key frame, inter frame, key frame...: 10 frames a second for 3 s.
        let video = dir.path().join("video.mkv");
        let mut writer = MkvWriter::new(BufWriterFile::create(&video), TrackCodec::Vp8);
        for n in 0..30u64 {
            let frame: &[u8] = if n % 2 == 0 { &VP8_KEY } else { &VP8_INTER };
            writer
                .write_frame(n * 9_000, 90_000, frame)
                .expect("the file is writable");
        }
        writer.finish().expect("the file is writable");
        let (codec, seconds) = probe(&video);
        assert_eq!(codec, "vp8");
        assert!(
            (seconds - 3.0).abs() < 0.05,
            "3 s of video, ffprobe says {seconds}"
        );
    }

    /// A buffered file, as the recorder writes.
    struct BufWriterFile;

    impl BufWriterFile {
        fn create(path: &std::path::Path) -> std::io::BufWriter<std::fs::File> {
            std::io::BufWriter::new(std::fs::File::create(path).expect("a writable folder"))
        }
    }

    #[test]
    fn an_unfinished_file_still_parses_up_to_its_last_cluster() {
        let mut writer = MkvWriter::new(Cursor::new(Vec::new()), TrackCodec::Vp8);
        for n in 0..3u64 {
            writer
                .write_frame(n * 3_000, 90_000, &VP8_KEY)
                .expect("in memory");
        }
        // Not finished: the Segment size still says unknown; two clusters were closed.
        let bytes = writer.out.get_ref().clone();
        let found = inspect(&bytes).expect("the file parses");
        assert!(!found.finished);
        assert_eq!(found.blocks.len(), 2);
    }
}
