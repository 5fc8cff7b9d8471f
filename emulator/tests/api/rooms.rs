use serde_json::Value;
use videoroom_core::credentials::TEST_ACCOUNT_SID;

use crate::helpers::{assert_twilio_error, spawn};

fn is_twilio_time(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    // 2017-04-03T22:21:49Z: whole seconds, UTC.
    s.len() == 20
        && s.ends_with('Z')
        && s.as_bytes()[10] == b'T'
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

#[actix_web::test]
async fn creating_a_room_answers_201_with_twilios_room_json() {
    let app = spawn().await;
    let room = app
        .create_room(&[("UniqueName", "DailyStandup"), ("Type", "go")])
        .await;
    let sid = room["sid"].as_str().unwrap();
    assert!(sid.starts_with("RM") && sid.len() == 34, "{sid}");
    assert_eq!(room["unique_name"], "DailyStandup");
    assert_eq!(room["status"], "in-progress");
    assert_eq!(room["type"], "go");
    assert_eq!(room["max_participants"], 2);
    assert_eq!(room["account_sid"], TEST_ACCOUNT_SID);
    assert_eq!(room["end_time"], Value::Null);
    assert_eq!(room["duration"], Value::Null);
    assert_eq!(room["empty_room_timeout"], 5);
    assert_eq!(room["unused_room_timeout"], 5);
    assert_eq!(room["status_callback_method"], "POST");
    assert!(
        is_twilio_time(&room["date_created"]),
        "{}",
        room["date_created"]
    );
    let url = format!("{}/v1/Rooms/{sid}", app.base);
    assert_eq!(room["url"], url);
    assert_eq!(room["links"]["participants"], format!("{url}/Participants"));
    assert_eq!(room["links"]["recordings"], format!("{url}/Recordings"));
    assert_eq!(
        room["links"]["transcriptions"],
        format!("{url}/Transcriptions")
    );
    assert_eq!(
        room["links"]["recording_rules"],
        format!("{url}/RecordingRules")
    );
}

#[actix_web::test]
async fn an_empty_create_makes_a_group_room_named_after_its_sid() {
    let app = spawn().await;
    let room = app.create_room(&[]).await;
    assert_eq!(room["type"], "group");
    assert_eq!(room["max_participants"], 50);
    assert_eq!(room["unique_name"], room["sid"]);
}

#[actix_web::test]
async fn all_four_room_types_are_accepted_with_their_caps() {
    let app = spawn().await;
    for (kind, cap) in [
        ("group", 50),
        ("go", 2),
        ("peer-to-peer", 10),
        ("group-small", 4),
    ] {
        let room = app.create_room(&[("Type", kind)]).await;
        assert_eq!(room["type"], kind);
        assert_eq!(room["max_participants"], cap, "{kind}");
    }
}

#[actix_web::test]
async fn array_and_boolean_parameters_are_read_as_twilio_sends_them() {
    let app = spawn().await;
    let room = app
        .create_room(&[
            ("VideoCodecs", "VP8"),
            ("VideoCodecs", "H264"),
            ("RecordParticipantsOnConnect", "true"),
            ("MediaRegion", "jp1"),
            ("EmptyRoomTimeout", "10"),
            ("UnusedRoomTimeout", "1"),
            ("MaxParticipantDuration", "600"),
            ("SomethingTwilioAddsLater", "ignored"),
        ])
        .await;
    assert_eq!(room["video_codecs"], serde_json::json!(["VP8", "H264"]));
    assert_eq!(room["record_participants_on_connect"], true);
    assert_eq!(room["media_region"], "jp1");
    assert_eq!(room["empty_room_timeout"], 10);
    assert_eq!(room["unused_room_timeout"], 1);
    assert_eq!(room["max_participant_duration"], 600);
}

#[actix_web::test]
async fn a_room_is_fetched_by_sid_and_by_unique_name_while_in_progress() {
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "standup")]).await;
    let sid = room["sid"].as_str().unwrap();

    let by_sid: Value = app
        .get(&format!("/v1/Rooms/{sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_sid["sid"], sid);
    let res = app.get("/v1/Rooms/standup").await;
    assert_eq!(res.status(), 200);
    let by_name: Value = res.json().await.unwrap();
    assert_eq!(by_name["sid"], sid);
    assert_eq!(by_name["url"], format!("{}/v1/Rooms/{sid}", app.base));
}

#[actix_web::test]
async fn unique_names_with_spaces_percent_signs_and_non_ascii_are_percent_decoded() {
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "日本語 100%")]).await;
    let res = app
        .get("/v1/Rooms/%E6%97%A5%E6%9C%AC%E8%AA%9E%20100%25")
        .await;
    assert_eq!(res.status(), 200);
    let fetched: Value = res.json().await.unwrap();
    assert_eq!(fetched["sid"], room["sid"]);
}

#[actix_web::test]
async fn completing_a_room_answers_202_and_frees_its_name() {
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "once")]).await;
    let sid = room["sid"].as_str().unwrap();

    let res = app.post("/v1/Rooms/once", &[("Status", "completed")]).await;
    assert_eq!(res.status(), 202);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["status"], "completed");
    assert!(is_twilio_time(&done["end_time"]), "{}", done["end_time"]);
    assert!(done["duration"].is_u64(), "{}", done["duration"]);

    // By SID it is still there; by name it is gone, and the name can be used again.
    let by_sid: Value = app
        .get(&format!("/v1/Rooms/{sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_sid["status"], "completed");
    assert_twilio_error(app.get("/v1/Rooms/once").await, 404, 20404).await;
    let again = app.create_room(&[("UniqueName", "once")]).await;
    assert_ne!(again["sid"], room["sid"]);
}

#[actix_web::test]
async fn completing_a_completed_room_by_sid_is_53112() {
    let app = spawn().await;
    let room = app.create_room(&[]).await;
    let path = format!("/v1/Rooms/{}", room["sid"].as_str().unwrap());
    assert_eq!(
        app.post(&path, &[("Status", "completed")]).await.status(),
        202
    );
    assert_twilio_error(
        app.post(&path, &[("Status", "completed")]).await,
        400,
        53112,
    )
    .await;
}

#[actix_web::test]
async fn updating_a_room_without_status_is_twilios_20001() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "r")]).await;
    let body = assert_twilio_error(app.post("/v1/Rooms/r", &[]).await, 400, 20001).await;
    assert_eq!(
        body["message"],
        "Missing required parameter Status in the post body"
    );
}

#[actix_web::test]
async fn updating_a_room_to_another_status_is_53112() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "r")]).await;
    assert_twilio_error(
        app.post("/v1/Rooms/r", &[("Status", "in-progress")]).await,
        400,
        53112,
    )
    .await;
}

#[actix_web::test]
async fn a_duplicate_in_progress_name_is_53113_room_exists() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "dup")]).await;
    let body = assert_twilio_error(
        app.post("/v1/Rooms", &[("UniqueName", "dup")]).await,
        400,
        53113,
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().starts_with("Room exists"),
        "{body}"
    );
}

#[actix_web::test]
async fn invalid_create_parameters_get_their_twilio_codes() {
    let app = spawn().await;
    let cases: &[(&[(&str, &str)], u64)] = &[
        (&[("Type", "huge")], 53108),
        (&[("Type", "go"), ("MaxParticipants", "3")], 53107),
        (&[("MaxParticipants", "0")], 53107),
        (&[("EmptyRoomTimeout", "61")], 53109),
        (&[("UnusedRoomTimeout", "0")], 53109),
        (&[("StatusCallbackMethod", "PUT")], 53110),
        (&[("StatusCallback", "not a url")], 53111),
        (&[("MediaRegion", "mars1")], 53115),
        (&[("UniqueName", "a/b")], 53102),
        (&[("MaxParticipants", "many")], 20001),
        (&[("AudioOnly", "yes")], 20001),
    ];
    for (form, code) in cases {
        let res = app.post("/v1/Rooms", form).await;
        assert_twilio_error(res, 400, *code).await;
    }
}

#[actix_web::test]
async fn an_unknown_room_is_20404_naming_the_path_without_v1() {
    let app = spawn().await;
    let body = assert_twilio_error(app.get("/v1/Rooms/nowhere").await, 404, 20404).await;
    assert_eq!(
        body["message"],
        "The requested resource /Rooms/nowhere was not found"
    );
    assert_twilio_error(
        app.post("/v1/Rooms/nowhere", &[("Status", "completed")])
            .await,
        404,
        20404,
    )
    .await;
}

#[actix_web::test]
async fn responses_carry_no_cors_header_for_origins_nobody_configured() {
    // Twilio answers `Access-Control-Allow-Origin: *`; the emulator no longer does, because its
    // seeded credentials are public and any page could use them (see `guard` and
    // `access::v1_allows_cross_origin_reads_only_from_configured_origins_and_never_star`).
    let app = spawn().await;
    let res = app.get("/v1/Rooms").await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_eq!(res.headers()["vary"], "Origin");

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/Rooms"))
        .header("Origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert!(preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[actix_web::test]
async fn urls_follow_the_host_the_client_used() {
    let app = spawn().await;
    let room: Value = app
        .client
        .post(app.url("/v1/Rooms"))
        .basic_auth(
            TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .header("Host", "video.example.test:8443")
        .form(&[("UniqueName", "h")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = room["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://video.example.test:8443/v1/Rooms/RM"),
        "{url}"
    );
}
