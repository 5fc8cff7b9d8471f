use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
use videoroom_core::RoomKey;
use videoroom_emulator::{CallbackSettings, DeliveryState, EmulatorSettings};
use videoroom_emulator_adapter::ParticipantKey;

use crate::helpers::{receiver, spawn, spawn_with, Behaviour, Received, TestEmulator};

/// Twilio's signature computed here from scratch (not with the emulator's signer): the URL,
/// then every name and value in name order, HMAC-SHA1 with the auth token, base64.
fn expected_signature(url: &str, form: &BTreeMap<String, String>) -> String {
    let mut data = url.to_owned();
    for (k, v) in form {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(TEST_AUTH_TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn form(body: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn wait_for_requests(rx: &crate::helpers::Receiver, n: usize) -> Vec<Received> {
    for _ in 0..200 {
        let got = rx.requests();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("receiver got only {:#?}", rx.requests());
}

fn fast_retries() -> EmulatorSettings {
    EmulatorSettings {
        callbacks: CallbackSettings {
            attempt_timeout: Duration::from_millis(500),
            max_attempts: 3,
            first_backoff: Duration::from_millis(20),
            ..CallbackSettings::default()
        },
        ..EmulatorSettings::seeded()
    }
}

#[actix_web::test]
async fn room_and_participant_events_are_posted_signed_with_twilios_fields() {
    let app = spawn().await;
    let rx = receiver(Behaviour::Ok);
    let callback = format!("{}/status?source=test", rx.base);
    let room = app
        .create_room(&[("UniqueName", "cb"), ("StatusCallback", &callback)])
        .await;
    let room_sid = room["sid"].as_str().unwrap().to_owned();
    app.join("cb", "alice").await;
    app.emulator
        .advance_clock(Duration::from_secs(3))
        .expect("far below the clock cap");
    let res = app
        .post(
            "/v1/Rooms/cb/Participants/alice",
            &[("Status", "disconnected")],
        )
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(
        app.post("/v1/Rooms/cb", &[("Status", "completed")])
            .await
            .status(),
        202
    );

    let got = wait_for_requests(&rx, 4).await;
    let mut events: Vec<BTreeMap<String, String>> = Vec::new();
    for request in &got {
        assert_eq!(request.method, "POST");
        assert_eq!(request.uri, "/status?source=test");
        assert!(request
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")));
        let fields = form(&request.body);
        assert_eq!(
            request.signature.as_deref(),
            Some(expected_signature(&callback, &fields).as_str()),
            "signature of {fields:?}"
        );
        events.push(fields);
    }
    // Deliveries run concurrently; Twilio too says to order by Timestamp / SequenceNumber.
    events.sort_by_key(|e| e["SequenceNumber"].parse::<u64>().unwrap());
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["StatusCallbackEvent"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "room-created",
            "participant-connected",
            "participant-disconnected",
            "room-ended"
        ]
    );
    for e in &events {
        assert_eq!(e["AccountSid"], TEST_ACCOUNT_SID);
        assert_eq!(e["RoomSid"], room_sid);
        assert_eq!(e["RoomName"], "cb");
        assert_eq!(e["RoomType"], "group");
        assert!(e["Timestamp"].ends_with('Z'), "{}", e["Timestamp"]);
    }
    assert_eq!(events[0]["RoomStatus"], "in-progress");
    assert_eq!(events[1]["ParticipantIdentity"], "alice");
    assert_eq!(events[1]["ParticipantStatus"], "connected");
    assert!(events[1]["ParticipantSid"].starts_with("PA"));
    assert_eq!(events[2]["ParticipantStatus"], "disconnected");
    assert_eq!(events[3]["RoomStatus"], "completed");
    // The emulator's clock is the system clock plus the 3 s advance, so the durations are 3 s
    // plus the real time the test took, in whole seconds: 4 when that time crossed a second
    // boundary (seen under CI load). The callbacks must say what the resources say.
    let participant: serde_json::Value = app
        .get(&format!(
            "/v1/Rooms/{room_sid}/Participants/{}",
            events[1]["ParticipantSid"]
        ))
        .await
        .json()
        .await
        .unwrap();
    let room_now: serde_json::Value = app
        .get(&format!("/v1/Rooms/{room_sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        events[2]["ParticipantDuration"],
        participant["duration"].to_string()
    );
    assert_eq!(events[3]["RoomDuration"], room_now["duration"].to_string());
    for duration in [
        &events[2]["ParticipantDuration"],
        &events[3]["RoomDuration"],
    ] {
        let seconds: u64 = duration.parse().unwrap();
        assert!((3..=5).contains(&seconds), "duration {duration}");
    }
    assert!(!events[0].contains_key("ParticipantSid"));
    assert!(!events[1].contains_key("ParticipantDuration"));

    let recorded = app
        .wait_for_deliveries(|d| {
            d.len() == 4 && d.iter().all(|x| x.state == DeliveryState::Delivered)
        })
        .await;
    assert!(recorded
        .iter()
        .all(|d| d.status_code == Some(200) && d.attempts == 1));
}

#[actix_web::test]
async fn get_callbacks_carry_the_fields_in_the_query_and_sign_the_full_url() {
    let app = spawn().await;
    let rx = receiver(Behaviour::Ok);
    let callback = format!("{}/status", rx.base);
    app.create_room(&[
        ("UniqueName", "get"),
        ("StatusCallback", &callback),
        ("StatusCallbackMethod", "GET"),
    ])
    .await;
    let got = wait_for_requests(&rx, 1).await;
    let request = &got[0];
    assert_eq!(request.method, "GET");
    assert!(request.body.is_empty());
    let (path, query) = request.uri.split_once('?').unwrap();
    assert_eq!(path, "/status");
    let fields = form(query);
    assert_eq!(fields["StatusCallbackEvent"], "room-created");
    assert_eq!(fields["RoomName"], "get");
    let full_url = format!("{}{}", rx.base, request.uri);
    assert_eq!(
        request.signature.as_deref(),
        Some(expected_signature(&full_url, &BTreeMap::new()).as_str())
    );
}

#[actix_web::test]
async fn track_events_carry_the_track_fields() {
    let app = spawn().await;
    let rx = receiver(Behaviour::Ok);
    let room = app
        .create_room(&[
            ("UniqueName", "t"),
            ("StatusCallback", &format!("{}/s", rx.base)),
        ])
        .await;
    let alice = app.join("t", "alice").await;
    let store = app.emulator.store();
    let track = store
        .publish_track(
            &RoomKey::parse(room["sid"].as_str().unwrap()).unwrap(),
            &ParticipantKey::parse(alice["sid"].as_str().unwrap()).unwrap(),
            videoroom_emulator_adapter::PublishTrack {
                client_id: "mic".to_owned(),
                kind: videoroom_emulator_adapter::TrackKind::Audio,
                name: "mic".to_owned(),
                enabled: true,
            },
        )
        .unwrap();
    store
        .unpublish_track(
            &RoomKey::parse("t").unwrap(),
            &ParticipantKey::parse("alice").unwrap(),
            track.sid.as_str(),
        )
        .unwrap();
    let got = wait_for_requests(&rx, 4).await;
    let track_events: Vec<BTreeMap<String, String>> = got
        .iter()
        .map(|r| form(&r.body))
        .filter(|f| f["StatusCallbackEvent"].starts_with("track-"))
        .collect();
    assert_eq!(track_events.len(), 2, "{track_events:?}");
    for e in &track_events {
        assert_eq!(e["TrackSid"], track.sid.as_str());
        assert_eq!(e["TrackKind"], "audio");
        assert_eq!(e["ParticipantIdentity"], "alice");
    }
}

#[actix_web::test]
async fn rooms_without_status_callback_send_nothing() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "quiet")]).await;
    app.join("quiet", "alice").await;
    // Give the pipeline time to (wrongly) produce something.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.emulator.deliveries().is_empty());
}

#[actix_web::test]
async fn a_failing_receiver_is_retried_then_recorded_as_failed() {
    let app = spawn_with(fast_retries()).await;
    let rx = receiver(Behaviour::Fail);
    app.create_room(&[("StatusCallback", &format!("{}/fail", rx.base))])
        .await;
    let recorded = app
        .wait_for_deliveries(|d| d.len() == 1 && d[0].state == DeliveryState::Failed)
        .await;
    assert_eq!(recorded[0].attempts, 3);
    assert_eq!(recorded[0].status_code, Some(500));
    assert_eq!(rx.requests().len(), 3);

    let listed: Value = app.get("/emulator/callbacks").await.json().await.unwrap();
    let entry = &listed["callbacks"][0];
    assert_eq!(entry["event"], "room-created");
    assert_eq!(entry["state"], "failed");
    assert_eq!(entry["status_code"], 500);
    assert_eq!(entry["attempts"], 3);
    assert_eq!(entry["url"], format!("{}/fail", rx.base));
}

#[actix_web::test]
async fn an_unreachable_receiver_is_recorded_with_its_error() {
    let app = spawn_with(fast_retries()).await;
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    app.create_room(&[("StatusCallback", &format!("http://127.0.0.1:{port}/cb"))])
        .await;
    let recorded = app
        .wait_for_deliveries(|d| d.len() == 1 && d[0].state == DeliveryState::Failed)
        .await;
    assert_eq!(recorded[0].attempts, 3);
    assert_eq!(recorded[0].status_code, None);
    assert!(
        recorded[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("connection")),
        "{:?}",
        recorded[0]
    );
}

/// The REST answers while a delivery hangs: if the API waited for callbacks, these requests
/// would wait for the 60-second attempt timeout and the outer timeout would fail the test.
#[actix_web::test]
async fn a_receiver_that_hangs_does_not_slow_the_rest_api() {
    let app: TestEmulator = spawn_with(EmulatorSettings {
        callbacks: CallbackSettings {
            attempt_timeout: Duration::from_secs(60),
            ..CallbackSettings::default()
        },
        ..EmulatorSettings::seeded()
    })
    .await;
    let rx = receiver(Behaviour::Hang);
    let work = async {
        app.create_room(&[
            ("UniqueName", "slow"),
            ("StatusCallback", &format!("{}/hang", rx.base)),
        ])
        .await;
        for i in 0..20 {
            app.join("slow", &format!("user-{i}")).await;
            let res = app.get("/v1/Rooms/slow/Participants").await;
            assert_eq!(res.status(), 200);
        }
    };
    tokio::time::timeout(Duration::from_secs(15), work)
        .await
        .expect("REST calls finished while callbacks hang");
    let got = wait_for_requests(&rx, 2).await;
    assert!(!got.is_empty());
    let deliveries = app.emulator.deliveries();
    assert_eq!(deliveries.len(), 21);
    assert!(deliveries.iter().any(|d| d.state == DeliveryState::Pending));
}

#[actix_web::test]
async fn reset_clears_the_callback_log_and_sends_nothing_for_the_vanished_rooms() {
    let app = spawn().await;
    let rx = receiver(Behaviour::Ok);
    app.create_room(&[("StatusCallback", &format!("{}/s", rx.base))])
        .await;
    app.wait_for_deliveries(|d| d.len() == 1 && d[0].state == DeliveryState::Delivered)
        .await;
    assert_eq!(app.post("/emulator/reset", &[]).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.emulator.deliveries().is_empty());
    assert_eq!(rx.requests().len(), 1, "no room-ended for a reset");
}

#[actix_web::test]
async fn a_timeout_applied_by_the_clock_route_sends_room_ended_with_the_room_duration() {
    let app = spawn().await;
    let rx = receiver(Behaviour::Ok);
    app.create_room(&[
        ("UniqueName", "idle"),
        ("StatusCallback", &format!("{}/s", rx.base)),
    ])
    .await;
    assert_eq!(
        app.post("/emulator/clock/advance", &[("Seconds", "600")])
            .await
            .status(),
        200
    );
    let got = wait_for_requests(&rx, 2).await;
    let ended = got
        .iter()
        .map(|r| form(&r.body))
        .find(|f| f["StatusCallbackEvent"] == "room-ended")
        .expect("a room-ended callback");
    assert_eq!(ended["RoomStatus"], "completed");
    assert_eq!(
        ended["RoomDuration"], "300",
        "the unused-room timeout is 5 minutes"
    );
}

/// Only the background ticker can end this room: the clock moves without any request or tick.
#[actix_web::test]
async fn the_background_ticker_ends_idle_rooms_without_any_request() {
    let app = spawn().await;
    let rx = receiver(Behaviour::Ok);
    app.create_room(&[
        ("UniqueName", "forgotten"),
        ("UnusedRoomTimeout", "1"),
        ("StatusCallback", &format!("{}/s", rx.base)),
    ])
    .await;
    app.emulator.offset_clock().advance(Duration::from_secs(61));
    let got = wait_for_requests(&rx, 2).await;
    assert!(got
        .iter()
        .any(|r| form(&r.body)["StatusCallbackEvent"] == "room-ended"));
}
