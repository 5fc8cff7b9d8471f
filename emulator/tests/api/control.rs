use serde_json::Value;

use crate::helpers::{assert_twilio_error, spawn};

#[actix_web::test]
async fn reset_forgets_every_room() {
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "r")]).await;
    app.join("r", "alice").await;
    let res = app.post("/emulator/reset", &[]).await;
    assert_eq!(res.status(), 200);
    assert_twilio_error(
        app.get(&format!("/v1/Rooms/{}", room["sid"].as_str().unwrap()))
            .await,
        404,
        20404,
    )
    .await;
    let list: Value = app
        .get("/v1/Rooms?Status=completed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["rooms"], serde_json::json!([]));
    // The name is free again.
    app.create_room(&[("UniqueName", "r")]).await;
}

#[actix_web::test]
async fn advancing_the_clock_applies_the_unused_room_timeout_at_once() {
    let app = spawn().await;
    let idle = app.create_room(&[("UniqueName", "idle")]).await;
    let patient = app
        .create_room(&[("UniqueName", "patient"), ("UnusedRoomTimeout", "30")])
        .await;
    let res = app
        .post("/emulator/clock/advance", &[("Seconds", "600")])
        .await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["advanced_seconds"], 600);
    assert!(report["offset_seconds"].as_u64().unwrap() >= 600);
    // The background ticker may apply the timeout a moment before the route's own tick does,
    // so the report is only checked not to name the patient room; the fetch below is the proof.
    assert!(!report["rooms_ended"]
        .to_string()
        .contains(patient["sid"].as_str().unwrap()));

    let idle_now: Value = app
        .get(&format!("/v1/Rooms/{}", idle["sid"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(idle_now["status"], "completed");
    assert_eq!(
        idle_now["duration"], 300,
        "it ended when its 5 minutes ran out"
    );
    let patient_now: Value = app.get("/v1/Rooms/patient").await.json().await.unwrap();
    assert_eq!(patient_now["sid"], patient["sid"]);
    assert_eq!(patient_now["status"], "in-progress");
}

#[actix_web::test]
async fn control_parameters_may_also_come_in_the_query_string() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "q")]).await;
    let res = app
        .post("/emulator/rooms/q/participants?Identity=carol", &[])
        .await;
    assert_eq!(res.status(), 201);
    let res = app.post("/emulator/clock/advance?Seconds=5", &[]).await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["advanced_seconds"], 5);
}

#[actix_web::test]
async fn clock_advance_refuses_missing_or_nonsensical_seconds() {
    let app = spawn().await;
    assert_twilio_error(app.post("/emulator/clock/advance", &[]).await, 400, 20001).await;
    for bad in ["0", "-5", "soon", "99999999999"] {
        assert_twilio_error(
            app.post("/emulator/clock/advance", &[("Seconds", bad)])
                .await,
            400,
            20001,
        )
        .await;
    }
}

#[actix_web::test]
async fn simulated_participants_join_and_leave_by_identity_or_sid() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "demo")]).await;
    let alice = app.join("demo", "alice").await;
    app.join("demo", "bob").await;

    let res = app
        .client
        .delete(app.url("/emulator/rooms/demo/participants/alice"))
        .basic_auth(
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let gone: Value = res.json().await.unwrap();
    assert_eq!(gone["sid"], alice["sid"]);
    assert_eq!(gone["status"], "disconnected");

    let bob = app
        .get("/v1/Rooms/demo/Participants/bob")
        .await
        .json::<Value>()
        .await
        .unwrap();
    let res = app
        .post(
            &format!(
                "/emulator/rooms/demo/participants/{}/disconnect",
                bob["sid"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(res.status(), 200);
    let list: Value = app
        .get("/v1/Rooms/demo/Participants")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["participants"], serde_json::json!([]));
}

#[actix_web::test]
async fn simulated_participants_obey_room_rules() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "pair"), ("Type", "go")])
        .await;
    app.join("pair", "a").await;
    app.join("pair", "b").await;
    let full = app
        .post("/emulator/rooms/pair/participants", &[("Identity", "c")])
        .await;
    assert_twilio_error(full, 400, 53105).await;
    assert_twilio_error(
        app.post("/emulator/rooms/pair/participants", &[]).await,
        400,
        20001,
    )
    .await;
    let nowhere = app
        .post("/emulator/rooms/nowhere/participants", &[("Identity", "a")])
        .await;
    assert!(nowhere.status().is_client_error(), "{}", nowhere.status());
    let body: Value = nowhere.json().await.unwrap();
    assert!(body["code"].is_u64(), "{body}");
}

#[actix_web::test]
async fn the_inspector_page_and_feed_show_rooms_without_secrets_or_credentials() {
    let app = spawn().await;
    app.create_room(&[
        ("UniqueName", "<b>shown as text<b>"),
        ("StatusCallback", "http://127.0.0.1:9/cb?token=s3cret"),
    ])
    .await;
    app.join("<b>shown as text<b>", "alice").await;

    // No credentials needed.
    let page = app.client.get(app.url("/emulator")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("ルーム") && html.contains("Rooms"),
        "Japanese first, English beside"
    );

    let state = app
        .client
        .get(app.url("/emulator/state"))
        .send()
        .await
        .unwrap();
    assert_eq!(state.status(), 200);
    let text = state.text().await.unwrap();
    let state: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(state["rooms"][0]["unique_name"], "<b>shown as text<b>");
    assert_eq!(state["rooms"][0]["participants"][0]["identity"], "alice");
    assert!(!text.contains(videoroom_core::credentials::TEST_AUTH_TOKEN));
    assert!(!text.contains(videoroom_core::credentials::TEST_API_KEY_SECRET));
    let deliveries = app.wait_for_deliveries(|d| d.len() >= 2).await;
    assert!(!deliveries.is_empty());
    let state: Value = app
        .client
        .get(app.url("/emulator/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = state["callbacks"].to_string();
    assert!(shown.contains("http://127.0.0.1:9/cb"), "{shown}");
    assert!(
        !shown.contains("s3cret"),
        "callback query strings are hidden: {shown}"
    );
}

#[actix_web::test]
async fn simulated_participants_publish_and_unpublish_tracks() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "demo")]).await;
    app.join("demo", "alice").await;
    app.join("demo", "bob").await;

    let res = app
        .post(
            "/emulator/rooms/demo/participants/alice/tracks",
            &[("Kind", "video"), ("Name", "camera")],
        )
        .await;
    assert_eq!(res.status(), 201);
    let track: Value = res.json().await.unwrap();
    assert!(track["sid"].as_str().unwrap().starts_with("MT"));
    assert_eq!(track["kind"], "video");

    let published: Value = app
        .get("/v1/Rooms/demo/Participants/alice/PublishedTracks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(published["published_tracks"][0]["sid"], track["sid"]);
    let subscribed: Value = app
        .get("/v1/Rooms/demo/Participants/bob/SubscribedTracks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(subscribed["subscribed_tracks"][0]["name"], "camera");

    let res = app
        .client
        .delete(app.url("/emulator/rooms/demo/participants/alice/tracks/camera"))
        .basic_auth(
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let published: Value = app
        .get("/v1/Rooms/demo/Participants/alice/PublishedTracks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(published["published_tracks"], serde_json::json!([]));

    assert_twilio_error(
        app.post(
            "/emulator/rooms/demo/participants/alice/tracks",
            &[("Kind", "smell")],
        )
        .await,
        400,
        20001,
    )
    .await;
    assert_twilio_error(
        app.post("/emulator/rooms/demo/participants/alice/tracks", &[])
            .await,
        400,
        20001,
    )
    .await;
}

#[actix_web::test]
async fn the_callback_list_can_be_narrowed_to_a_room_and_an_event() {
    let app = spawn().await;
    let first = app
        .create_room(&[
            ("UniqueName", "a"),
            ("StatusCallback", "http://127.0.0.1:9/a"),
        ])
        .await;
    app.create_room(&[
        ("UniqueName", "b"),
        ("StatusCallback", "http://127.0.0.1:9/b"),
    ])
    .await;
    app.join("a", "alice").await;
    app.wait_for_deliveries(|d| d.len() == 3).await;

    let sid = first["sid"].as_str().unwrap();
    let listed: Value = app
        .get(&format!("/emulator/callbacks?RoomSid={sid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["callbacks"].as_array().unwrap().len(), 2);
    let listed: Value = app
        .get(&format!(
            "/emulator/callbacks?RoomSid={sid}&StatusCallbackEvent=participant-connected"
        ))
        .await
        .json()
        .await
        .unwrap();
    let only = listed["callbacks"].as_array().unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["params"]["ParticipantIdentity"], "alice");
}
