//! Recordings of group rooms' tracks (issue 9): a scripted WebRTC client publishes through the
//! emulator's media server, and `/v1/Recordings` shows what was really written, with the file
//! behind `/Media`, the callbacks, the filters and DELETE.

use std::time::Duration;

use serde_json::{json, Value};
use videoroom_media::record::mkv::inspect;

use crate::group_media::client::{frame_number_of, pump, Client as MediaClient};
use crate::group_media::{Participant, Server};
use crate::helpers::{assert_twilio_error, spawn, spawn_with, TestEmulator};

/// Sends the client's camera frames for `frames` more frames (33 ms each).
pub(crate) async fn publish_for(client: MediaClient, frames: u64) -> MediaClient {
    tokio::task::spawn_blocking(move || {
        let mut client = client;
        let target = client.frames_written() + frames;
        pump(&mut [&mut client], "frames sent", |c| {
            c[0].frames_written() >= target
        });
        client
    })
    .await
    .expect("the pump thread")
}

/// GETs `path` until `done` holds for its JSON (the recorder looks at the media server every
/// second), or fails after 15 s with the last body.
async fn wait_for(app: &TestEmulator, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let body: Value = app.get(path).await.json().await.expect("JSON");
        if done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never got there: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count(body: &Value) -> usize {
    body["recordings"].as_array().map_or(0, Vec::len)
}

pub(crate) async fn join_and_connect(
    server: &Server,
    name: &str,
    room: &str,
) -> (Participant, Value) {
    let (mut p, connected) = Participant::join(server, name, room).await;
    p.media.accept_answer(
        connected["peer_connections"][0]["description"]["sdp"]
            .as_str()
            .expect("the answer's SDP"),
    );
    (p, connected)
}

#[actix_web::test]
async fn a_track_recorded_on_connect_is_completed_when_its_participant_leaves_with_its_file_behind_media(
) {
    let app = spawn().await;
    let server = Server::of(&app);
    let room = app
        .create_room(&[
            ("UniqueName", "recorded"),
            ("Type", "group"),
            ("RecordParticipantsOnConnect", "true"),
            // Nothing listens there: the deliveries are logged all the same.
            ("StatusCallback", "http://127.0.0.1:9/status"),
        ])
        .await;
    let room_sid = room["sid"].as_str().expect("a room SID").to_owned();
    let (mut alice, connected) = join_and_connect(&server, "alice", "recorded").await;
    let alice_sid = connected["participant"]["sid"]
        .as_str()
        .expect("alice's SID")
        .to_owned();
    alice.media = publish_for(alice.media, 45).await;

    let processing = wait_for(&app, "/v1/Recordings?Status=processing", |b| count(b) == 1).await;
    let rec = &processing["recordings"][0];
    let sid = rec["sid"].as_str().expect("a recording SID").to_owned();
    assert!(sid.starts_with("RT") && sid.len() == 34, "{rec}");
    assert_eq!(rec["type"], "video");
    assert_eq!(rec["container_format"], "mkv");
    assert_eq!(rec["codec"], "VP8");
    assert_eq!(rec["duration"], Value::Null, "still being captured");
    assert_eq!(
        rec["grouping_sids"],
        json!({"room_sid": room_sid, "participant_sid": alice_sid})
    );
    assert_eq!(rec["track_name"], "camera");
    let track_sid = rec["source_sid"]
        .as_str()
        .expect("the track SID")
        .to_owned();
    assert!(track_sid.starts_with("MT"), "{rec}");
    assert_eq!(rec["url"], format!("{}/v1/Recordings/{sid}", app.base));
    assert_eq!(
        rec["links"]["media"],
        format!("{}/v1/Recordings/{sid}/Media", app.base)
    );
    // No media yet: a processing recording has nothing to download.
    assert_twilio_error(
        app.get(&format!("/v1/Recordings/{sid}/Media")).await,
        404,
        20404,
    )
    .await;

    alice
        .send(json!({"type": "msg", "body": {"type": "disconnect", "version": 2}}))
        .await;
    let completed = wait_for(&app, "/v1/Recordings?Status=completed", |b| count(b) == 1).await;
    let rec = completed["recordings"][0].clone();
    assert_eq!(rec["sid"], sid);
    assert!(rec["duration"].as_u64() >= Some(1), "{rec}");
    let size = rec["size"].as_u64().expect("a size");
    assert!(size > 0, "{rec}");

    let fetched: Value = app
        .get(&format!("/v1/Recordings/{sid}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(fetched, rec);
    let in_room: Value = app
        .get(&format!("/v1/Rooms/{room_sid}/Recordings/{sid}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(in_room["room_sid"], room_sid);
    assert_eq!(
        in_room["url"],
        format!("{}/v1/Rooms/{room_sid}/Recordings/{sid}", app.base)
    );
    let listed: Value = app
        .get(&format!("/v1/Rooms/{room_sid}/Recordings"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(count(&listed), 1);

    for (query, expected) in [
        (format!("SourceSid={track_sid}"), 1),
        (format!("GroupingSid={room_sid}"), 1),
        (format!("GroupingSid={room_sid}&GroupingSid={alice_sid}"), 1),
        (
            "GroupingSid=PA00000000000000000000000000000000".to_owned(),
            0,
        ),
        ("MediaType=video".to_owned(), 1),
        ("MediaType=audio".to_owned(), 0),
        ("Status=failed".to_owned(), 0),
        ("DateCreatedAfter=2999-01-01T00:00:00Z".to_owned(), 0),
        ("DateCreatedBefore=2000-01-01T00:00:00Z".to_owned(), 0),
    ] {
        let body: Value = app
            .get(&format!("/v1/Recordings?{query}"))
            .await
            .json()
            .await
            .expect("JSON");
        assert_eq!(count(&body), expected, "{query}: {body}");
    }
    assert_twilio_error(app.get("/v1/Recordings?MediaType=smell").await, 400, 20001).await;
    let paged: Value = app
        .get("/v1/Recordings?PageSize=1")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(paged["meta"]["page_size"], 1);
    assert_eq!(paged["meta"]["key"], "recordings");

    // /Media: a redirect to a temporary URL, also named in the JSON body.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let res = no_redirects
        .get(app.url(&format!("/v1/Recordings/{sid}/Media")))
        .basic_auth(
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().expect("text").to_owned();
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["redirect_to"], location);
    let media = no_redirects.get(&location).send().await.expect("an answer");
    assert_eq!(media.status(), 200);
    assert_eq!(media.headers()["content-type"], "video/x-matroska");
    let bytes = media.bytes().await.expect("the file");
    assert_eq!(bytes.len() as u64, size);
    let file = inspect(&bytes).expect("the file is Matroska");
    assert!(file.finished);
    assert_eq!(file.codec_id, "V_VP8");
    let numbers: Vec<u64> = file
        .blocks
        .iter()
        .map(|(_, _, f)| frame_number_of(f).expect("a numbered frame"))
        .collect();
    assert!(numbers.len() >= 20, "most of the frames: {numbers:?}");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    let tampered = location.replace("Signature=", "Signature=00");
    assert_eq!(
        no_redirects
            .get(&tampered)
            .send()
            .await
            .expect("an answer")
            .status(),
        403
    );
    // The official client follows the redirect: the room-scoped /Media gives the same bytes.
    let followed = app
        .get(&format!("/v1/Rooms/{room_sid}/Recordings/{sid}/Media"))
        .await;
    assert_eq!(followed.status(), 200);
    assert_eq!(followed.bytes().await.expect("the file"), bytes);

    // recording-started and recording-completed went to the room's StatusCallback.
    let deliveries = app
        .wait_for_deliveries(|d| d.iter().any(|d| d.event == "recording-completed"))
        .await;
    let started = deliveries
        .iter()
        .find(|d| d.event == "recording-started")
        .expect("recording-started");
    assert_eq!(started.params["RecordingSid"], sid);
    assert_eq!(started.params["SourceSid"], track_sid);
    assert_eq!(started.params["Container"], "mkv");
    assert_eq!(started.params["Codec"], "VP8");
    assert_eq!(started.params["RoomSid"], room_sid);
    let done = deliveries
        .iter()
        .find(|d| d.event == "recording-completed")
        .expect("recording-completed");
    assert_eq!(done.params["Size"], size.to_string());
    assert_eq!(
        done.params["MediaUri"],
        format!("/v1/Recordings/{sid}/Media")
    );
    assert!(started.id < done.id);

    // DELETE: the record stays as deleted, the media goes.
    let res = app
        .client
        .delete(app.url(&format!("/v1/Recordings/{sid}")))
        .basic_auth(
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), 204);
    let deleted: Value = app
        .get(&format!("/v1/Recordings/{sid}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(deleted["status"], "deleted");
    assert_twilio_error(
        app.get(&format!("/v1/Recordings/{sid}/Media")).await,
        404,
        20404,
    )
    .await;
    assert_eq!(
        no_redirects
            .get(&location)
            .send()
            .await
            .expect("an answer")
            .status(),
        404
    );
    assert_twilio_error(
        app.get("/v1/Recordings/RT00000000000000000000000000000000")
            .await,
        404,
        20404,
    )
    .await;
}

#[actix_web::test]
async fn recording_rules_changed_mid_room_start_and_stop_a_recording() {
    let app = spawn().await;
    let server = Server::of(&app);
    app.create_room(&[("UniqueName", "ruled"), ("Type", "group")])
        .await;
    let (mut alice, _) = join_and_connect(&server, "alice", "ruled").await;
    alice.media = publish_for(alice.media, 40).await;
    // No rule admits the camera: nothing is recorded (the recorder looks every second).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let none: Value = app.get("/v1/Recordings").await.json().await.expect("JSON");
    assert_eq!(count(&none), 0, "{none}");

    let res = app
        .post(
            "/v1/Rooms/ruled/RecordingRules",
            &[("Rules", r#"[{"type":"include","all":true}]"#)],
        )
        .await;
    assert_eq!(res.status(), 200);
    alice.media = publish_for(alice.media, 40).await;
    wait_for(&app, "/v1/Recordings?Status=processing", |b| count(b) == 1).await;

    let res = app
        .post(
            "/v1/Rooms/ruled/RecordingRules",
            &[("Rules", r#"[{"type":"exclude","all":true}]"#)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let done = wait_for(&app, "/v1/Recordings?Status=completed", |b| count(b) == 1).await;
    assert!(done["recordings"][0]["size"].as_u64() > Some(0), "{done}");
    let sid = done["recordings"][0]["sid"]
        .as_str()
        .expect("a SID")
        .to_owned();
    drop(alice);

    // Recordings are forgotten with their room, files included: the room ends and passes the
    // retention (24 h of emulator time).
    let folder = app
        .emulator
        .recordings()
        .folder()
        .expect("the folder was made");
    let files = || std::fs::read_dir(&folder).expect("the folder").count();
    assert_eq!(files(), 1, "the one recording's file");
    let res = app
        .post("/v1/Rooms/ruled", &[("Status", "completed")])
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    app.emulator
        .advance_clock(Duration::from_secs(25 * 3600))
        .expect("within the clock's cap");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while files() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the forgotten recording's file is still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_twilio_error(app.get(&format!("/v1/Recordings/{sid}")).await, 404, 20404).await;
}

#[actix_web::test]
async fn a_recording_whose_file_cannot_be_made_fails_with_recording_failed_and_no_media() {
    let dir = tempfile::tempdir().unwrap();
    // A file where a folder should be: no recordings folder can be made under it.
    let blocked = dir.path().join("not-a-folder");
    std::fs::write(&blocked, b"").unwrap();
    let mut settings = videoroom_emulator::EmulatorSettings::seeded();
    settings.media.recordings_dir = Some(blocked.join("recordings"));
    let app = spawn_with(settings).await;
    let server = Server::of(&app);
    app.create_room(&[
        ("UniqueName", "unwritable"),
        ("Type", "group"),
        ("RecordParticipantsOnConnect", "true"),
        ("StatusCallback", "http://127.0.0.1:9/status"),
    ])
    .await;
    let (_alice, _) = join_and_connect(&server, "alice", "unwritable").await;

    let failed = wait_for(&app, "/v1/Recordings?Status=failed", |b| count(b) == 1).await;
    let sid = failed["recordings"][0]["sid"]
        .as_str()
        .expect("a recording SID")
        .to_owned();
    assert_eq!(failed["recordings"][0]["size"], Value::Null);
    assert_twilio_error(
        app.get(&format!("/v1/Recordings/{sid}/Media")).await,
        404,
        20404,
    )
    .await;
    let deliveries = app
        .wait_for_deliveries(|d| d.iter().any(|d| d.event == "recording-failed"))
        .await;
    let failed = deliveries
        .iter()
        .find(|d| d.event == "recording-failed")
        .expect("recording-failed");
    assert_eq!(failed.params["RecordingSid"], sid);
    assert!(
        failed.params["FailedOperation"].contains("media.recordings_dir"),
        "{:?}",
        failed.params
    );
    let none: Value = app
        .get("/v1/Recordings?Status=completed")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(count(&none), 0);
}
