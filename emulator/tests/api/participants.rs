use std::time::Duration;

use serde_json::Value;
use videoroom_core::credentials::TEST_ACCOUNT_SID;
use videoroom_core::RoomKey;
use videoroom_emulator_adapter::{ParticipantKey, PublishTrack, TrackKind};

use crate::helpers::{assert_twilio_error, spawn};

fn identities(page: &Value) -> Vec<String> {
    page["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn participants_are_listed_and_fetched_by_sid_or_identity() {
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "class")]).await;
    let room_sid = room["sid"].as_str().unwrap();
    let alice = app.join("class", "alice").await;
    app.join("class", "bob").await;
    let alice_sid = alice["sid"].as_str().unwrap();
    assert!(alice_sid.starts_with("PA") && alice_sid.len() == 34);
    assert_eq!(alice["room_sid"], room_sid);
    assert_eq!(alice["account_sid"], TEST_ACCOUNT_SID);
    assert_eq!(alice["status"], "connected");
    assert_eq!(alice["end_time"], Value::Null);
    assert_eq!(alice["duration"], Value::Null);
    let url = format!("{}/v1/Rooms/{room_sid}/Participants/{alice_sid}", app.base);
    assert_eq!(alice["url"], url);
    assert_eq!(
        alice["links"]["published_tracks"],
        format!("{url}/PublishedTracks")
    );
    assert_eq!(
        alice["links"]["subscribed_tracks"],
        format!("{url}/SubscribedTracks")
    );
    assert_eq!(
        alice["links"]["subscribe_rules"],
        format!("{url}/SubscribeRules")
    );
    assert_eq!(alice["links"]["anonymize"], format!("{url}/Anonymize"));

    let res = app.get("/v1/Rooms/class/Participants").await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    let mut names = identities(&list);
    // Same-second joins are ordered by SID, which is random: compare as a set.
    names.sort();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(list["meta"]["key"], "participants");
    assert_eq!(
        list["meta"]["url"],
        format!(
            "{}/v1/Rooms/{room_sid}/Participants?PageSize=50&Page=0",
            app.base
        )
    );

    for key in [alice_sid, "alice"] {
        let res = app
            .get(&format!("/v1/Rooms/{room_sid}/Participants/{key}"))
            .await;
        assert_eq!(res.status(), 200, "{key}");
        let fetched: Value = res.json().await.unwrap();
        assert_eq!(fetched["sid"], alice_sid);
    }
}

#[actix_web::test]
async fn disconnecting_a_participant_answers_202_and_changes_the_default_listing() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "class")]).await;
    let alice = app.join("class", "alice").await;
    app.join("class", "bob").await;
    app.emulator
        .advance_clock(Duration::from_secs(7))
        .expect("far below the clock cap");

    let res = app
        .post(
            "/v1/Rooms/class/Participants/alice",
            &[("Status", "disconnected")],
        )
        .await;
    assert_eq!(res.status(), 202);
    let gone: Value = res.json().await.unwrap();
    assert_eq!(gone["status"], "disconnected");
    assert_eq!(gone["duration"], 7);
    assert!(gone["end_time"].is_string());

    let connected: Value = app
        .get("/v1/Rooms/class/Participants")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(identities(&connected), ["bob"]);
    let disconnected: Value = app
        .get("/v1/Rooms/class/Participants?Status=disconnected")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(identities(&disconnected), ["alice"]);

    // By identity only connected participants are found; by SID any.
    assert_twilio_error(
        app.get("/v1/Rooms/class/Participants/alice").await,
        404,
        20404,
    )
    .await;
    let by_sid = app
        .get(&format!(
            "/v1/Rooms/class/Participants/{}",
            alice["sid"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_sid.status(), 200);
}

#[actix_web::test]
async fn participant_filters_combine_and_are_echoed_in_twilios_order() {
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "class")]).await;
    let room_sid = room["sid"].as_str().unwrap();
    app.join("class", "alice").await;
    app.join("class", "bob").await;
    let res = app
        .get("/v1/Rooms/class/Participants?Identity=bob&Status=connected&DateCreatedAfter=2000-01-01")
        .await;
    let list: Value = res.json().await.unwrap();
    assert_eq!(identities(&list), ["bob"]);
    assert_eq!(
        list["meta"]["url"],
        format!(
            "{}/v1/Rooms/{room_sid}/Participants?Status=connected&DateCreatedAfter=2000-01-01&Identity=bob&PageSize=50&Page=0",
            app.base
        )
    );
    let none: Value = app
        .get("/v1/Rooms/class/Participants?DateCreatedBefore=2000-01-01T00:00:00Z")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(identities(&none), Vec::<String>::new());
}

#[actix_web::test]
async fn participants_page_across_absolute_next_page_urls() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "big")]).await;
    for name in ["a", "b", "c", "d", "e"] {
        app.join("big", name).await;
    }
    let mut page: Value = app
        .get("/v1/Rooms/big/Participants?PageSize=2")
        .await
        .json()
        .await
        .unwrap();
    let mut all = identities(&page);
    while let Some(next) = page["meta"]["next_page_url"].as_str() {
        page = app.get_absolute(next).await.json().await.unwrap();
        all.extend(identities(&page));
    }
    all.sort();
    assert_eq!(all, ["a", "b", "c", "d", "e"]);
}

#[actix_web::test]
async fn participant_errors_get_their_codes() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "class")]).await;
    app.join("class", "alice").await;
    assert_twilio_error(
        app.post(
            "/v1/Rooms/class/Participants/alice",
            &[("Status", "connected")],
        )
        .await,
        400,
        53209,
    )
    .await;
    assert_twilio_error(
        app.post("/v1/Rooms/class/Participants/alice", &[]).await,
        400,
        20001,
    )
    .await;
    assert_twilio_error(
        app.get("/v1/Rooms/class/Participants/nobody").await,
        404,
        20404,
    )
    .await;
    assert_twilio_error(app.get("/v1/Rooms/nowhere/Participants").await, 404, 20404).await;
    assert_twilio_error(
        app.get("/v1/Rooms/class/Participants?Status=away").await,
        400,
        20001,
    )
    .await;
}

#[actix_web::test]
async fn published_and_subscribed_tracks_are_listed_and_fetched() {
    let app = spawn().await;
    let room = app.create_room(&[("UniqueName", "class")]).await;
    let room_sid = room["sid"].as_str().unwrap().to_owned();
    let alice = app.join("class", "alice").await;
    let bob = app.join("class", "bob").await;
    let alice_sid = alice["sid"].as_str().unwrap();
    let bob_sid = bob["sid"].as_str().unwrap();

    // Nothing published yet: empty lists, not errors.
    let empty: Value = app
        .get("/v1/Rooms/class/Participants/alice/PublishedTracks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["published_tracks"], serde_json::json!([]));
    assert_eq!(empty["meta"]["key"], "published_tracks");

    // Tracks appear when signaling publishes them; here the store is driven directly.
    let track = app
        .emulator
        .store()
        .publish_track(
            &RoomKey::parse(&room_sid).unwrap(),
            &ParticipantKey::parse(alice_sid).unwrap(),
            PublishTrack {
                client_id: "cam-1".to_owned(),
                kind: TrackKind::Video,
                name: "camera".to_owned(),
                enabled: true,
            },
        )
        .unwrap();
    let track_sid = track.sid.as_str();

    let published: Value = app
        .get("/v1/Rooms/class/Participants/alice/PublishedTracks")
        .await
        .json()
        .await
        .unwrap();
    let first = &published["published_tracks"][0];
    assert_eq!(first["sid"], track_sid);
    assert_eq!(first["name"], "camera");
    assert_eq!(first["kind"], "video");
    assert_eq!(first["enabled"], true);
    assert_eq!(first["participant_sid"], alice_sid);
    assert_eq!(first["room_sid"], room_sid.as_str());
    let url = format!(
        "{}/v1/Rooms/{room_sid}/Participants/{alice_sid}/PublishedTracks/{track_sid}",
        app.base
    );
    assert_eq!(first["url"], url);
    let fetched = app.get_absolute(&url).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.json::<Value>().await.unwrap()["name"], "camera");

    let subscribed: Value = app
        .get(&format!(
            "/v1/Rooms/{room_sid}/Participants/{bob_sid}/SubscribedTracks"
        ))
        .await
        .json()
        .await
        .unwrap();
    let sub = &subscribed["subscribed_tracks"][0];
    assert_eq!(sub["sid"], track_sid);
    assert_eq!(sub["publisher_sid"], alice_sid);
    assert_eq!(sub["participant_sid"], bob_sid);
    let fetched = app
        .get(&format!(
            "/v1/Rooms/{room_sid}/Participants/{bob_sid}/SubscribedTracks/{track_sid}"
        ))
        .await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.json::<Value>().await.unwrap()["kind"], "video");

    // Twilio also addresses a track by its name.
    let by_name = app
        .get("/v1/Rooms/class/Participants/alice/PublishedTracks/camera")
        .await;
    assert_eq!(by_name.status(), 200);
    assert_eq!(by_name.json::<Value>().await.unwrap()["sid"], track_sid);
    let by_name = app
        .get("/v1/Rooms/class/Participants/bob/SubscribedTracks/camera")
        .await;
    assert_eq!(by_name.status(), 200);
    assert_eq!(by_name.json::<Value>().await.unwrap()["sid"], track_sid);

    assert_twilio_error(
        app.get(&format!(
            "/v1/Rooms/{room_sid}/Participants/{alice_sid}/PublishedTracks/MT00000000000000000000000000000000"
        ))
        .await,
        404,
        20404,
    )
    .await;
}

#[actix_web::test]
async fn the_reconnecting_filter_is_valid_and_matches_nobody() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "class")]).await;
    app.join("class", "alice").await;
    let res = app
        .get("/v1/Rooms/class/Participants?Status=reconnecting")
        .await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    assert!(identities(&list).is_empty());
    assert!(list["meta"]["url"]
        .as_str()
        .unwrap()
        .contains("Status=reconnecting"));
    // A participant cannot be moved into it over REST: only `disconnected` is an update.
    let res = app
        .post(
            "/v1/Rooms/class/Participants/alice",
            &[("Status", "reconnecting")],
        )
        .await;
    assert_twilio_error(res, 400, 53209).await;
}
