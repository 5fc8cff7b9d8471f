//! The configuration and media-backed resources of the OpenAPI file beyond Rooms and
//! Participants: RecordingRules, SubscribeRules, Anonymize, Recordings, Compositions and
//! Transcriptions.

use serde_json::{json, Value};

use crate::helpers::{assert_twilio_error, receiver, spawn, Behaviour};

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

#[actix_web::test]
async fn recording_and_composition_settings_are_stored_and_friendly_name_is_required() {
    let app = spawn().await;
    for segment in ["RecordingSettings", "CompositionSettings"] {
        let path = format!("/v1/{segment}/Default");
        let body: Value = app.get(&path).await.json().await.unwrap();
        assert!(body["friendly_name"].is_null(), "{body}");
        assert!(body["url"].as_str().unwrap().ends_with(&path), "{body}");
        assert_twilio_error(app.post(&path, &[]).await, 400, 20001).await;
        assert_twilio_error(
            app.post(
                &path,
                &[("FriendlyName", "x"), ("AwsS3Url", "ftp://bucket/x")],
            )
            .await,
            400,
            20001,
        )
        .await;
        let res = app
            .post(
                &path,
                &[
                    ("FriendlyName", "archive"),
                    ("AwsS3Url", "https://bucket.s3.amazonaws.com/recordings"),
                    ("AwsStorageEnabled", "true"),
                ],
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(body["friendly_name"], "archive");
        assert_eq!(body["aws_storage_enabled"], true);
    }
}

#[actix_web::test]
async fn composition_hooks_are_created_listed_filtered_updated_and_deleted() {
    let app = spawn().await;
    let res = app
        .post(
            "/v1/CompositionHooks",
            &[
                ("FriendlyName", "Audio only"),
                ("AudioSources", "*"),
                ("Format", "mp4"),
            ],
        )
        .await;
    assert_eq!(res.status(), 201);
    let audio: Value = res.json().await.unwrap();
    let sid = audio["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("HK") && sid.len() == 34, "{audio}");
    assert_eq!(audio["audio_sources"], json!(["*"]));
    assert_eq!(
        (audio["enabled"].clone(), audio["trim"].clone()),
        (json!(true), json!(true))
    );
    let res = app
        .post(
            "/v1/CompositionHooks",
            &[
                ("FriendlyName", "Grid"),
                ("VideoLayout", r#"{"grid":{"video_sources":["*"]}}"#),
                ("Enabled", "false"),
            ],
        )
        .await;
    assert_eq!(res.status(), 201);

    for (form, code) in [
        (vec![("AudioSources", "*")], 20001),
        (vec![("FriendlyName", "nothing")], 20001),
        (
            vec![
                ("FriendlyName", "f"),
                ("AudioSources", "*"),
                ("Format", "avi"),
            ],
            20001,
        ),
        (vec![("FriendlyName", "l"), ("VideoLayout", "[1]")], 20001),
        (
            vec![
                ("FriendlyName", "r"),
                ("AudioSources", "*"),
                ("Resolution", "big"),
            ],
            20001,
        ),
        (
            vec![
                ("FriendlyName", "c"),
                ("AudioSources", "*"),
                ("StatusCallback", "http://10.1.2.3/x"),
            ],
            53111,
        ),
    ] {
        assert_twilio_error(app.post("/v1/CompositionHooks", &form).await, 400, code).await;
    }

    let list: Value = app
        .get("/v1/CompositionHooks?PageSize=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["composition_hooks"].as_array().unwrap().len(), 1);
    assert!(list["meta"]["next_page_url"].is_string(), "{list}");
    let enabled: Value = app
        .get("/v1/CompositionHooks?Enabled=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(enabled["composition_hooks"][0]["sid"], sid.as_str());
    assert_eq!(enabled["composition_hooks"].as_array().unwrap().len(), 1);
    let named: Value = app
        .get("/v1/CompositionHooks?FriendlyName=grid")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(named["composition_hooks"][0]["friendly_name"], "Grid");

    let res = app
        .post(
            &format!("/v1/CompositionHooks/{sid}"),
            &[("FriendlyName", "Renamed"), ("Trim", "false")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["friendly_name"].clone(), body["trim"].clone()),
        (json!("Renamed"), json!(false))
    );
    assert!(body["date_updated"].is_string(), "{body}");

    let delete = |path: String| {
        app.client
            .delete(app.url(&path))
            .basic_auth(
                videoroom_core::credentials::TEST_ACCOUNT_SID,
                Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
            )
            .send()
    };
    let res = delete(format!("/v1/CompositionHooks/{sid}")).await.unwrap();
    assert_eq!(res.status(), 204);
    assert_twilio_error(
        app.get(&format!("/v1/CompositionHooks/{sid}")).await,
        404,
        20404,
    )
    .await;
    assert_twilio_error(
        delete(format!("/v1/CompositionHooks/{sid}")).await.unwrap(),
        404,
        20404,
    )
    .await;
    // Reset forgets the account's configuration with everything else.
    app.post("/emulator/reset", &[]).await;
    let list: Value = app.get("/v1/CompositionHooks").await.json().await.unwrap();
    assert_eq!(list["composition_hooks"], json!([]));
}

#[actix_web::test]
async fn anonymize_rewrites_the_identity_in_the_emulators_callback_log() {
    let app = spawn().await;
    let rx = receiver(Behaviour::Ok);
    let callback = format!("{}/status", rx.base);
    app.create_room(&[("UniqueName", "logged"), ("StatusCallback", &callback)])
        .await;
    let dana = app.join("logged", "dana").await;
    let sid = dana["sid"].as_str().unwrap();
    app.post(
        "/v1/Rooms/logged/Participants/dana",
        &[("Status", "disconnected")],
    )
    .await;
    let shows_dana = |deliveries: &[videoroom_emulator::Delivery]| {
        deliveries
            .iter()
            .filter(|d| d.params.get("ParticipantIdentity").map(String::as_str) == Some("dana"))
            .count()
    };
    let before = app.wait_for_deliveries(|d| shows_dana(d) == 2).await;
    assert_eq!(shows_dana(&before), 2, "connected and disconnected");
    let res = app
        .post(
            &format!("/v1/Rooms/logged/Participants/{sid}/Anonymize"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    let after = app.emulator.deliveries();
    assert_eq!(shows_dana(&after), 0, "{after:?}");
    let anonymized = after
        .iter()
        .filter(|d| d.params.get("ParticipantIdentity").map(String::as_str) == Some(sid))
        .count();
    assert_eq!(anonymized, 2);
}
