//! Recording through the media server: a publisher's frames land in one Matroska file per
//! track, with their RTP times, while the forwarding goes on.

use std::net::SocketAddr;

use videoroom_media::record::mkv::{inspect, Inspected};
use videoroom_media::{MediaError, Sfu, TrackCodec};

use crate::client::{frame_number_of, pump, Client};

fn loopback_sfu() -> Sfu {
    Sfu::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("a free UDP port on loopback")
}

fn read(path: &std::path::Path) -> Inspected {
    let bytes = std::fs::read(path).expect("the recording file exists");
    inspect(&bytes).expect("the recording parses as Matroska")
}

/// The frame numbers the scripted client wrote into the recorded frames, in file order.
fn numbers(found: &Inspected) -> Vec<u64> {
    found
        .blocks
        .iter()
        .map(|(_, _, frame)| frame_number_of(frame).expect("a numbered frame"))
        .collect()
}

#[test]
fn a_publisher_s_audio_and_video_are_recorded_each_in_its_own_file_with_every_frame() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sfu = loopback_sfu();
    let mut alice = Client::new("alice").with_microphone("alice-microphone");
    let mut bob = Client::new("bob");
    let video = dir.path().join("camera.mkv");
    let audio = dir.path().join("microphone.mka");
    // Asked before the tracks are published: the recorders wait for their first frames.
    sfu.record(&alice.id, "alice-camera", &video)
        .expect("the folder is writable");
    sfu.record(&alice.id, "alice-microphone", &audio)
        .expect("the folder is writable");
    assert!(matches!(
        sfu.record(&alice.id, "alice-camera", &video),
        Err(MediaError::AlreadyRecording { .. })
    ));
    alice.join(&sfu);
    bob.join(&sfu);
    alice.renegotiate(&sfu);
    pump(
        &mut [&mut alice, &mut bob],
        "frames recorded and forwarded",
        |c| c[0].frames_written() >= 30 && c[1].frames_of("alice-camera") >= 10,
    );

    let progress = sfu
        .recording_progress(&alice.id, "alice-camera")
        .expect("the camera is being recorded");
    assert!(
        progress.frames > 0 && progress.error.is_none(),
        "{progress:?}"
    );
    let summary = sfu
        .stop_recording(&alice.id, "alice-camera")
        .expect("the camera was being recorded");
    assert_eq!(summary.error, None);
    assert_eq!(summary.codec, Some(TrackCodec::Vp8));
    let found = read(&video);
    assert!(found.finished, "the file was finished");
    assert_eq!(found.codec_id, "V_VP8");
    assert_eq!(summary.written.frames, found.blocks.len() as u64);
    assert_eq!(
        summary.written.bytes,
        std::fs::metadata(&video).expect("a file").len()
    );
    let frames = numbers(&found);
    assert!(frames.len() >= 25, "most of the 30 frames: {frames:?}");
    assert!(
        frames.windows(2).all(|w| w[1] == w[0] + 1),
        "every frame, in order: {frames:?}"
    );
    // The client's RTP clock advances 3000 ticks of 90 kHz per frame: 33 ms.
    let first = found.blocks[0].0;
    assert_eq!(first, 0, "times start at the first frame");
    let last = found.blocks.last().expect("frames").0;
    let expected = (frames.len() as u64 - 1) * 100 / 3;
    assert!(
        last.abs_diff(expected) <= 1,
        "last frame at {last} ms, expected {expected}"
    );
    assert_eq!(found.duration_ms as u64, summary.written.duration_ms);

    let summary = sfu
        .stop_recording(&alice.id, "alice-microphone")
        .expect("the microphone was being recorded");
    assert_eq!(summary.error, None);
    assert!(matches!(summary.codec, Some(TrackCodec::Opus { .. })));
    let found = read(&audio);
    assert_eq!(found.codec_id, "A_OPUS");
    let frames = numbers(&found);
    assert!(
        frames.len() >= 30,
        "about 1.5 frames per video frame: {frames:?}"
    );
    assert!(frames.windows(2).all(|w| w[1] == w[0] + 1), "{frames:?}");
    let times: Vec<u64> = found.blocks.iter().map(|b| b.0).take(3).collect();
    assert_eq!(times, [0, 20, 40], "20 ms apart, from the RTP clock");

    assert!(
        sfu.stop_recording(&alice.id, "alice-camera").is_none(),
        "a recording ends once"
    );
    // Forwarding went on after the recording stopped.
    let before = bob.frames_of("alice-camera");
    pump(
        &mut [&mut alice, &mut bob],
        "forwarding after recording",
        |c| c[1].frames_of("alice-camera") >= before + 5,
    );
}

#[test]
fn an_h264_track_is_not_recorded_and_the_summary_says_why() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sfu = loopback_sfu();
    let mut carol = Client::h264_only("carol");
    let path = dir.path().join("camera.mkv");
    sfu.record(&carol.id, "carol-camera", &path)
        .expect("the folder is writable");
    carol.join(&sfu);
    pump(&mut [&mut carol], "H.264 frames sent", |c| {
        c[0].frames_written() >= 5
    });
    let progress = sfu
        .recording_progress(&carol.id, "carol-camera")
        .expect("the camera is being recorded");
    assert_eq!(progress.codec.as_deref(), Some("H264"));
    assert!(progress.error.is_some_and(|e| e.contains("H.264")));
    let summary = sfu
        .stop_recording(&carol.id, "carol-camera")
        .expect("the camera was being recorded");
    let error = summary.error.expect("H.264 is refused");
    assert!(error.contains("H.264") && error.contains("VP8"), "{error}");
    assert_eq!(summary.written.frames, 0);
}

#[test]
fn a_recording_in_a_missing_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sfu = loopback_sfu();
    let path = dir.path().join("no-such-folder").join("x.mka");
    let err = sfu
        .record("PAx", "track", &path)
        .expect_err("the folder does not exist");
    assert!(matches!(err, MediaError::RecordingFile { .. }), "{err}");
    assert!(err.to_string().contains("media.recordings_dir"), "{err}");
}
