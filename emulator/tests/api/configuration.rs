//! The configuration and media-backed resources of the OpenAPI file beyond Rooms and
//! Participants: RecordingRules, SubscribeRules, Anonymize, Recordings, Compositions and
//! Transcriptions.

use serde_json::{json, Value};

use crate::helpers::{assert_twilio_error, spawn};

#[actix_web::test]
async fn recording_rules_are_fetched_and_replaced_for_a_room_just_created() {
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "rec")]).await;
    let sid = room["sid"].as_str().unwrap();
    // The room's link is the resource: the 404 that schemathesis found is gone.
    let res = app
        .get_absolute(room["links"]["recording_rules"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["room_sid"], sid);
    assert_eq!(
        body["rules"],
        json!([]),
        "no rule without RecordParticipantsOnConnect"
    );
    assert!(body["date_created"].is_string(), "{body}");

    let rules =
        r#"[{"type":"exclude","all":true},{"type":"include","publisher":"alice","kind":"audio"}]"#;
    let res = app
        .post("/v1/Rooms/rec/RecordingRules", &[("Rules", rules)])
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["rules"],
        json!([
            {"type": "exclude", "all": true},
            {"type": "include", "publisher": "alice", "kind": "audio"}
        ])
    );
    let fetched: Value = app
        .get(&format!("/v1/Rooms/{sid}/RecordingRules"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["rules"], body["rules"]);
}

#[actix_web::test]
async fn a_room_recording_on_connect_starts_with_an_include_all_rule() {
    let app = spawn().await;
    app.create_room(&[
        ("UniqueName", "on"),
        ("RecordParticipantsOnConnect", "true"),
    ])
    .await;
    let body: Value = app
        .get("/v1/Rooms/on/RecordingRules")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["rules"], json!([{"type": "include", "all": true}]));
}

#[actix_web::test]
async fn invalid_recording_rules_are_refused_with_53120_and_create_no_room() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "bad")]).await;
    for rules in [
        "[]",
        "nope",
        r#"[{"type":"include"}]"#,
        r#"[{"type":"x","all":true}]"#,
    ] {
        let res = app
            .post("/v1/Rooms/bad/RecordingRules", &[("Rules", rules)])
            .await;
        assert_twilio_error(res, 400, 53120).await;
    }
    assert_twilio_error(
        app.post("/v1/Rooms/bad/RecordingRules", &[]).await,
        400,
        53120,
    )
    .await;
    assert_twilio_error(
        app.post("/v1/Rooms/nowhere/RecordingRules", &[("Rules", "[]")])
            .await,
        404,
        20404,
    )
    .await;
    // At room creation too, and the refused room does not exist afterwards.
    let res = app
        .post(
            "/v1/Rooms",
            &[("UniqueName", "ruled"), ("RecordingRules", "[1]")],
        )
        .await;
    assert_twilio_error(res, 400, 53120).await;
    assert_twilio_error(app.get("/v1/Rooms/ruled").await, 404, 20404).await;
    let res = app
        .post(
            "/v1/Rooms",
            &[
                ("UniqueName", "ruled"),
                ("RecordingRules", r#"[{"type":"include","kind":"video"}]"#),
            ],
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = app
        .get("/v1/Rooms/ruled/RecordingRules")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["rules"], json!([{"type": "include", "kind": "video"}]));
}

#[actix_web::test]
async fn subscribe_rules_default_to_everything_and_can_be_replaced() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "sub")]).await;
    let alice = app.join("sub", "alice").await;
    let path = format!(
        "/v1/Rooms/sub/Participants/{}/SubscribeRules",
        alice["sid"].as_str().unwrap()
    );
    let body: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(body["participant_sid"], alice["sid"]);
    assert_eq!(
        body["rules"],
        json!([{"type": "include", "all": true, "publisher": null, "track": null,
                "kind": null, "priority": null}])
    );
    assert!(body["date_created"].is_null(), "{body}");

    let rules = r#"[{"type":"include","track":"screen","priority":"high"}]"#;
    let res = app.post(&path, &[("Rules", rules)]).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["rules"][0]["track"], "screen");
    assert_eq!(body["rules"][0]["priority"], "high");
    assert!(body["date_updated"].is_string(), "{body}");
    // The store's read API, which media forwarding uses, sees the same rules.
    let (_, stored) = app
        .emulator
        .store()
        .subscribe_rules(
            &videoroom_core::RoomKey::parse("sub").unwrap(),
            &videoroom_emulator_adapter::ParticipantKey::parse("alice").unwrap(),
        )
        .unwrap();
    assert_eq!(stored.rules[0].track.as_deref(), Some("screen"));

    let res = app
        .post(
            &path,
            &[(
                "Rules",
                r#"[{"type":"include","all":true,"priority":"urgent"}]"#,
            )],
        )
        .await;
    assert_twilio_error(res, 400, 53215).await;
}

#[actix_web::test]
async fn anonymize_replaces_the_identity_with_the_sid_everywhere_it_is_shown() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "anon")]).await;
    let alice = app.join("anon", "alice").await;
    let sid = alice["sid"].as_str().unwrap();
    let path = format!("/v1/Rooms/anon/Participants/{sid}/Anonymize");
    // A connected participant's identity is in its clients' hands: refused.
    assert_twilio_error(app.post(&path, &[]).await, 400, 20001).await;
    app.post(
        &format!("/v1/Rooms/anon/Participants/{sid}"),
        &[("Status", "disconnected")],
    )
    .await;
    let res = app.post(&path, &[]).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["identity"], sid);
    assert_eq!(body["status"], "disconnected");

    let fetched: Value = app
        .get(&format!("/v1/Rooms/anon/Participants/{sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["identity"], sid);
    let listed = app
        .get("/v1/Rooms/anon/Participants?Identity=alice")
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("\"alice\""), "{listed}");
    let state = app.get("/emulator/state").await.text().await.unwrap();
    assert!(state.contains(sid), "{state}");
    assert!(
        !state.contains("\"alice\""),
        "the inspector still shows alice: {state}"
    );
    assert_twilio_error(
        app.post(
            "/v1/Rooms/anon/Participants/PA00000000000000000000000000000000/Anonymize",
            &[],
        )
        .await,
        404,
        20404,
    )
    .await;
}

#[actix_web::test]
async fn recordings_are_never_invented_lists_are_empty_and_sids_unknown() {
    let app = spawn().await;
    let room = app
        .create_room(&[("UniqueName", "r"), ("RecordParticipantsOnConnect", "true")])
        .await;
    let sid = room["sid"].as_str().unwrap();
    app.join("r", "alice").await;
    for path in [
        "/v1/Recordings".to_owned(),
        "/v1/Recordings?Status=completed&MediaType=audio&PageSize=5".to_owned(),
        format!("/v1/Rooms/{sid}/Recordings"),
    ] {
        let res = app.get(&path).await;
        assert_eq!(res.status(), 200, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["recordings"], json!([]), "{path}");
        assert_eq!(body["meta"]["key"], "recordings");
    }
    assert_twilio_error(app.get("/v1/Recordings?Status=done").await, 400, 20001).await;
    let rt = "RT00000000000000000000000000000000";
    assert_twilio_error(app.get(&format!("/v1/Recordings/{rt}")).await, 404, 20404).await;
    let res = app
        .client
        .delete(app.url(&format!("/v1/Rooms/{sid}/Recordings/{rt}")))
        .basic_auth(
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .send()
        .await
        .unwrap();
    assert_twilio_error(res, 404, 20404).await;
    assert_twilio_error(app.get("/v1/Rooms/nowhere/Recordings").await, 404, 20404).await;
}

#[actix_web::test]
async fn compositions_and_transcriptions_are_refused_naming_the_limitation_never_faked() {
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "c")]).await;
    let sid = room["sid"].as_str().unwrap();
    let body = assert_twilio_error(
        app.post("/v1/Compositions", &[("RoomSid", sid)]).await,
        400,
        20001,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not available in the emulator"),
        "{body}"
    );
    assert_twilio_error(
        app.post(
            "/v1/Compositions",
            &[("RoomSid", "RM00000000000000000000000000000000")],
        )
        .await,
        404,
        20404,
    )
    .await;
    let list: Value = app.get("/v1/Compositions").await.json().await.unwrap();
    assert_eq!(list["compositions"], json!([]));
    let body = assert_twilio_error(
        app.post(&format!("/v1/Rooms/{sid}/Transcriptions"), &[])
            .await,
        400,
        20001,
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("Transcriptions"),
        "{body}"
    );
    let list: Value = app
        .get(&format!("/v1/Rooms/{sid}/Transcriptions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["transcriptions"], json!([]));
}
