//! Several accounts in one emulator (a seed's `[[accounts]]`, issue 9): each sees only its own
//! resources over REST, control routes, callbacks and signaling; a reset resets them all and
//! applies each account's seed again.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures::{SinkExt as _, StreamExt as _};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::{json, Value};
use sha1::Sha1;
use tokio_tungstenite::tungstenite::Message;
use videoroom_core::credentials::{
    TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID, TEST_AUTH_TOKEN,
};
use videoroom_core::token::{ApiKey, TokenSigner};
use videoroom_core::{AccountSid, ApiKeySid, Identity};
use videoroom_emulator::seed::SeedFile;
use videoroom_emulator::EmulatorSettings;

use crate::helpers::{assert_twilio_error, receiver, spawn_with, Behaviour, TestEmulator};

const B_SID: &str = "AC0000000000000000000000000000000b";
const B_TOKEN: &str = "tenant-b-token";
const B_KEY: &str = "SK0000000000000000000000000000000b";
const B_SECRET: &str = "tenant-b-secret";

const SEED: &str = r#"
[[rooms]]
UniqueName = "standup"

[[accounts]]
sid = "AC0000000000000000000000000000000b"
auth_token = "tenant-b-token"
api_keys = [{ sid = "SK0000000000000000000000000000000b", secret = "tenant-b-secret" }]

[[accounts.rooms]]
UniqueName = "standup"

[[accounts.rooms.participants]]
identity = "bea"
tracks = [{ kind = "audio", name = "mic" }]
"#;

/// The seeded test account (A) and account B, from [`SEED`].
async fn two_accounts() -> TestEmulator {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.toml");
    std::fs::write(&path, SEED).unwrap();
    let mut settings = EmulatorSettings::seeded();
    SeedFile::read(&path)
        .unwrap()
        .apply_to(&path, &mut settings)
        .unwrap();
    let app = spawn_with(settings).await;
    app.emulator.apply_seed().unwrap();
    app
}

/// Who a request authenticates as.
#[derive(Clone, Copy, Debug)]
enum As {
    A,
    BToken,
    BKey,
}

impl As {
    fn credentials(self) -> (&'static str, &'static str) {
        match self {
            As::A => (TEST_ACCOUNT_SID, TEST_AUTH_TOKEN),
            As::BToken => (B_SID, B_TOKEN),
            As::BKey => (B_KEY, B_SECRET),
        }
    }
}

async fn get(app: &TestEmulator, who: As, path: &str) -> reqwest::Response {
    let (user, password) = who.credentials();
    app.client
        .get(app.url(path))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
}

async fn post(app: &TestEmulator, who: As, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let (user, password) = who.credentials();
    app.client
        .post(app.url(path))
        .basic_auth(user, Some(password))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestEmulator, who: As, path: &str) -> reqwest::Response {
    let (user, password) = who.credentials();
    app.client
        .delete(app.url(path))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
}

async fn ok_json(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

async fn room_names(app: &TestEmulator, who: As) -> Vec<String> {
    let list = ok_json(get(app, who, "/v1/Rooms").await, 200).await;
    let mut names: Vec<String> = list["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["unique_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[actix_web::test]
async fn each_account_sees_only_its_own_rooms_participants_tracks_rules_and_settings() {
    let app = two_accounts().await;
    let a_room = ok_json(
        post(&app, As::A, "/v1/Rooms", &[("UniqueName", "a-only")]).await,
        201,
    )
    .await;
    assert_eq!(a_room["account_sid"], TEST_ACCOUNT_SID);
    let b_room = ok_json(
        post(&app, As::BKey, "/v1/Rooms", &[("UniqueName", "b-only")]).await,
        201,
    )
    .await;
    assert_eq!(
        b_room["account_sid"], B_SID,
        "an API key acts as its account"
    );
    let b_sid = b_room["sid"].as_str().unwrap().to_owned();

    // Rooms: each list holds its own; unique names are per account, as on Twilio.
    assert_eq!(room_names(&app, As::A).await, ["a-only", "standup"]);
    assert_eq!(room_names(&app, As::BToken).await, ["b-only", "standup"]);
    let a_standup = ok_json(get(&app, As::A, "/v1/Rooms/standup").await, 200).await;
    let b_standup = ok_json(get(&app, As::BKey, "/v1/Rooms/standup").await, 200).await;
    assert_ne!(a_standup["sid"], b_standup["sid"]);
    assert_eq!(b_standup["account_sid"], B_SID);
    assert_eq!(
        b_standup["url"].as_str().unwrap(),
        app.url(&format!("/v1/Rooms/{}", b_standup["sid"].as_str().unwrap()))
    );
    // Another account's room, by SID or by name, does not exist for A: 20404.
    assert_twilio_error(
        get(&app, As::A, &format!("/v1/Rooms/{b_sid}")).await,
        404,
        20404,
    )
    .await;
    assert_twilio_error(get(&app, As::A, "/v1/Rooms/b-only").await, 404, 20404).await;
    assert_twilio_error(
        post(
            &app,
            As::A,
            &format!("/v1/Rooms/{b_sid}"),
            &[("Status", "completed")],
        )
        .await,
        404,
        20404,
    )
    .await;

    // Participants and tracks: B's seeded participant is B's only.
    let b_standup_sid = b_standup["sid"].as_str().unwrap();
    let participants = ok_json(
        get(
            &app,
            As::BToken,
            &format!("/v1/Rooms/{b_standup_sid}/Participants"),
        )
        .await,
        200,
    )
    .await;
    let bea = &participants["participants"][0];
    assert_eq!(bea["identity"], "bea");
    assert_eq!(bea["account_sid"], B_SID);
    let bea_sid = bea["sid"].as_str().unwrap();
    let a_participants = ok_json(
        get(&app, As::A, "/v1/Rooms/standup/Participants").await,
        200,
    )
    .await;
    assert_eq!(a_participants["participants"], json!([]));
    let participant = format!("/v1/Rooms/{b_standup_sid}/Participants/{bea_sid}");
    for path in [
        format!("/v1/Rooms/{b_standup_sid}/Participants"),
        participant.clone(),
        format!("{participant}/PublishedTracks"),
        format!("{participant}/PublishedTracks/mic"),
        format!("{participant}/SubscribedTracks"),
        format!("{participant}/SubscribeRules"),
        format!("/v1/Rooms/{b_standup_sid}/RecordingRules"),
        format!("/v1/Rooms/{b_standup_sid}/Recordings"),
        format!("/v1/Rooms/{b_standup_sid}/Transcriptions"),
    ] {
        assert_twilio_error(get(&app, As::A, &path).await, 404, 20404).await;
        assert_eq!(get(&app, As::BKey, &path).await.status(), 200, "{path}");
    }
    let tracks = ok_json(
        get(&app, As::BKey, &format!("{participant}/PublishedTracks")).await,
        200,
    )
    .await;
    assert_eq!(tracks["published_tracks"][0]["name"], "mic");

    // Writes to another account's room or participant are 20404 too, and change nothing.
    let rules = r#"[{"type":"include","kind":"audio"}]"#;
    for (path, form) in [
        (
            format!("/v1/Rooms/{b_standup_sid}/RecordingRules"),
            ("Rules", rules),
        ),
        (format!("{participant}/SubscribeRules"), ("Rules", rules)),
        (participant.clone(), ("Status", "disconnected")),
        (format!("{participant}/Anonymize"), ("Unused", "")),
    ] {
        assert_twilio_error(post(&app, As::A, &path, &[form]).await, 404, 20404).await;
    }
    // A composition of another account's room names a room A does not have.
    let res = post(&app, As::A, "/v1/Compositions", &[("RoomSid", &b_sid)]).await;
    assert_twilio_error(res, 404, 20404).await;
    let still = ok_json(get(&app, As::BKey, &participant).await, 200).await;
    assert_eq!(
        (still["status"].as_str(), still["identity"].as_str()),
        (Some("connected"), Some("bea"))
    );
    let b_rules = ok_json(
        post(
            &app,
            As::BKey,
            &format!("/v1/Rooms/{b_standup_sid}/RecordingRules"),
            &[("Rules", rules)],
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        b_rules["rules"],
        json!([{"type": "include", "kind": "audio"}])
    );
    let a_rules = ok_json(
        get(&app, As::A, "/v1/Rooms/standup/RecordingRules").await,
        200,
    )
    .await;
    assert_ne!(
        a_rules["rules"], b_rules["rules"],
        "A's room of the same name keeps its own rules"
    );

    // Account settings: each account has its own.
    for segment in ["RecordingSettings", "CompositionSettings"] {
        let path = format!("/v1/{segment}/Default");
        let set = ok_json(
            post(&app, As::BToken, &path, &[("FriendlyName", "tenant b")]).await,
            200,
        )
        .await;
        assert_eq!(
            (set["friendly_name"].as_str(), set["account_sid"].as_str()),
            (Some("tenant b"), Some(B_SID))
        );
        let a = ok_json(get(&app, As::A, &path).await, 200).await;
        assert_ne!(a["friendly_name"], "tenant b", "{segment}");
        assert_eq!(a["account_sid"], TEST_ACCOUNT_SID);
    }

    // Composition hooks: listed, fetched, updated and deleted only by their account.
    let hook = ok_json(
        post(
            &app,
            As::BKey,
            "/v1/CompositionHooks",
            &[("FriendlyName", "b-hook"), ("AudioSources", "*")],
        )
        .await,
        201,
    )
    .await;
    assert_eq!(hook["account_sid"], B_SID);
    let hook_path = format!("/v1/CompositionHooks/{}", hook["sid"].as_str().unwrap());
    let a_hooks = ok_json(get(&app, As::A, "/v1/CompositionHooks").await, 200).await;
    assert_eq!(a_hooks["composition_hooks"], json!([]));
    assert_twilio_error(get(&app, As::A, &hook_path).await, 404, 20404).await;
    assert_twilio_error(
        post(&app, As::A, &hook_path, &[("FriendlyName", "mine")]).await,
        404,
        20404,
    )
    .await;
    assert_twilio_error(delete(&app, As::A, &hook_path).await, 404, 20404).await;
    let b_hooks = ok_json(get(&app, As::BToken, "/v1/CompositionHooks").await, 200).await;
    assert_eq!(b_hooks["composition_hooks"][0]["friendly_name"], "b-hook");

    // Control routes act as the account too: A cannot add a participant to B's room.
    let res = post(
        &app,
        As::A,
        &format!("/emulator/rooms/{b_sid}/participants"),
        &[("Identity", "mallory")],
    )
    .await;
    assert_twilio_error(res, 404, 53106).await;
    let joined = ok_json(
        post(
            &app,
            As::BKey,
            &format!("/emulator/rooms/{b_sid}/participants"),
            &[("Identity", "bob")],
        )
        .await,
        201,
    )
    .await;
    assert_eq!(joined["account_sid"], B_SID);

    // Crossed credentials stay refused.
    let (user, _) = As::BKey.credentials();
    let crossed = app
        .client
        .get(app.url("/v1/Rooms"))
        .basic_auth(user, Some(TEST_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_twilio_error(crossed, 401, 20003).await;
    let crossed = app
        .client
        .get(app.url("/v1/Rooms"))
        .basic_auth(TEST_API_KEY_SID, Some(B_SECRET))
        .send()
        .await
        .unwrap();
    assert_twilio_error(crossed, 401, 20003).await;
    let _ = TEST_API_KEY_SECRET;
}

/// Twilio's signature with `auth_token`: the URL, then every name and value in name order,
/// HMAC-SHA1, base64.
fn signature(auth_token: &str, url: &str, form: &BTreeMap<String, String>) -> String {
    let mut data = url.to_owned();
    for (k, v) in form {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[actix_web::test]
async fn callbacks_carry_their_accounts_sid_and_signature_and_are_listed_to_it_only() {
    let app = two_accounts().await;
    let rx = receiver(Behaviour::Ok);
    let callback = format!("{}/b-hook", rx.base);
    let room = ok_json(
        post(
            &app,
            As::BKey,
            "/v1/Rooms",
            &[("UniqueName", "cb"), ("StatusCallback", &callback)],
        )
        .await,
        201,
    )
    .await;
    let b = app.emulator.account(B_SID).expect("account B is served");
    for _ in 0..200 {
        if !rx.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let request = rx
        .requests()
        .into_iter()
        .next()
        .expect("room-created was delivered");
    let fields: BTreeMap<String, String> = url::form_urlencoded::parse(request.body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(fields["AccountSid"], B_SID);
    assert_eq!(fields["RoomSid"], room["sid"].as_str().unwrap());
    assert_eq!(
        request.signature.as_deref(),
        Some(signature(B_TOKEN, &callback, &fields).as_str()),
        "signed with B's auth token"
    );
    assert_eq!(b.deliveries().len(), 1);
    assert!(
        app.emulator.deliveries().is_empty(),
        "A's log has none of B's callbacks"
    );
    let listed = ok_json(get(&app, As::A, "/emulator/callbacks").await, 200).await;
    assert_eq!(listed["callbacks"], json!([]));
    let listed = ok_json(get(&app, As::BToken, "/emulator/callbacks").await, 200).await;
    assert_eq!(listed["callbacks"][0]["room_sid"], room["sid"]);
}

#[actix_web::test]
async fn the_inspector_shows_one_account_at_a_time_and_lists_them_all() {
    let app = two_accounts().await;
    let first = ok_json(get(&app, As::A, "/emulator/state").await, 200).await;
    assert_eq!(first["account_sid"], TEST_ACCOUNT_SID);
    assert_eq!(first["accounts"], json!([TEST_ACCOUNT_SID, B_SID]));
    let b = ok_json(
        get(&app, As::A, &format!("/emulator/state?AccountSid={B_SID}")).await,
        200,
    )
    .await;
    assert_eq!(b["account_sid"], B_SID);
    assert_eq!(b["rooms"][0]["participants"][0]["identity"], "bea");
    assert_eq!(first["rooms"][0]["participants"], json!([]));
    let unknown = get(
        &app,
        As::A,
        "/emulator/state?AccountSid=AC00000000000000000000000000000099",
    )
    .await;
    assert_twilio_error(unknown, 400, 20001).await;
}

/// Opens `/signaling`, says hello and connects with `token`; returns the server's answer to
/// `connect` (`connected` or `error`) and the socket, left open while it is held.
async fn connect(app: &TestEmulator, token: &str) -> (Value, impl Sized) {
    let url = format!("{}/signaling", app.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let hello = json!({"id": "f52eb845-722a-4270-b48b-f283735816ae", "timeout": 5000, "type": "hello", "version": 2,
        "body": {"edge": "roaming", "token": token, "type": "ice", "version": 1}});
    let connect = json!({"type": "msg", "body": {
        "name": null,
        "participant": {"revision": 1, "tracks": []},
        "peer_connections": [],
        "type": "connect",
        "version": 2,
        "ice_servers": "acquire",
        "publisher": {"name": "twilio-video.js", "sdk_version": "2.36.0", "user_agent": "scripted"},
        "media_signaling": {},
        "subscribe": {"rules": [{"type": "include", "all": true}], "revision": 1},
        "format": "unified",
        "token": token,
    }});
    for frame in [hello, connect] {
        ws.send(Message::text(frame.to_string())).await.unwrap();
    }
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the server answers within 5 s")
            .expect("the socket is open")
            .unwrap();
        let Message::Text(text) = frame else { continue };
        let frame: Value = serde_json::from_str(&text).unwrap();
        let body = &frame["body"];
        if matches!(body["type"].as_str(), Some("connected" | "error")) {
            return (body.clone(), ws);
        }
    }
}

fn token(app: &TestEmulator, account: &str, key: &str, secret: &str, identity: &str) -> String {
    let key = ApiKey {
        account_sid: AccountSid::parse(account).unwrap(),
        sid: ApiKeySid::parse(key).unwrap(),
        secret: SecretString::from(secret.to_owned()),
    };
    TokenSigner::new(key, 3600, None).unwrap().mint(
        &Identity::parse(identity).unwrap(),
        Some("standup"),
        app.emulator.store().now().unix_timestamp(),
    )
}

#[actix_web::test]
async fn a_token_joins_the_rooms_of_its_keys_account_and_a_mismatched_sub_is_refused() {
    let app = two_accounts().await;
    let a_standup = ok_json(get(&app, As::A, "/v1/Rooms/standup").await, 200).await;
    let b_standup = ok_json(get(&app, As::BKey, "/v1/Rooms/standup").await, 200).await;

    let (answer, _b_socket) = connect(&app, &token(&app, B_SID, B_KEY, B_SECRET, "carol")).await;
    assert_eq!(answer["type"], "connected", "{answer}");
    assert_eq!(answer["sid"], b_standup["sid"], "B's token joins B's room");
    assert_eq!(answer["participants"][0]["identity"], "bea");
    let (answer, _a_socket) = connect(
        &app,
        &token(
            &app,
            TEST_ACCOUNT_SID,
            TEST_API_KEY_SID,
            TEST_API_KEY_SECRET,
            "dave",
        ),
    )
    .await;
    assert_eq!(answer["sid"], a_standup["sid"], "A's token joins A's room");
    assert_eq!(answer["participants"], json!([]));

    let connected = |list: &Value| -> Vec<String> {
        let mut ids: Vec<String> = list["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["identity"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let b_list = ok_json(
        get(
            &app,
            As::BKey,
            "/v1/Rooms/standup/Participants?Status=connected",
        )
        .await,
        200,
    )
    .await;
    assert_eq!(connected(&b_list), ["bea", "carol"]);
    let a_list = ok_json(
        get(
            &app,
            As::A,
            "/v1/Rooms/standup/Participants?Status=connected",
        )
        .await,
        200,
    )
    .await;
    assert_eq!(connected(&a_list), ["dave"]);

    // B's key with A as the subject: the key does not belong to that account (20103).
    let (answer, _) = connect(&app, &token(&app, TEST_ACCOUNT_SID, B_KEY, B_SECRET, "eve")).await;
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_u64()),
        (Some("error"), Some(20103)),
        "{answer}"
    );
    // A key of no account: 20103 as before.
    let unknown = "SK000000000000000000000000000000ff";
    let (answer, _) = connect(&app, &token(&app, B_SID, unknown, B_SECRET, "eve")).await;
    assert_eq!(answer["code"], 20103, "{answer}");
    // B's key signed with another secret: 20107, from B's hub.
    let (answer, _) = connect(&app, &token(&app, B_SID, B_KEY, "not-the-secret", "eve")).await;
    assert_eq!(answer["code"], 20107, "{answer}");
}

#[actix_web::test]
async fn a_reset_empties_every_account_and_applies_each_seed_again() {
    let app = two_accounts().await;
    let before = ok_json(get(&app, As::BKey, "/v1/Rooms/standup").await, 200).await;
    ok_json(
        post(&app, As::BKey, "/v1/Rooms", &[("UniqueName", "scratch")]).await,
        201,
    )
    .await;
    ok_json(
        post(&app, As::A, "/v1/Rooms", &[("UniqueName", "scratch")]).await,
        201,
    )
    .await;
    // Any account's credentials reset the whole emulator.
    let reset = post(&app, As::BToken, "/emulator/reset", &[]).await;
    assert_eq!(reset.status(), 200);
    assert_eq!(room_names(&app, As::A).await, ["standup"]);
    assert_eq!(room_names(&app, As::BKey).await, ["standup"]);
    let after = ok_json(get(&app, As::BKey, "/v1/Rooms/standup").await, 200).await;
    assert_ne!(after["sid"], before["sid"], "a new room");
    let bea = ok_json(
        get(&app, As::BKey, "/v1/Rooms/standup/Participants/bea").await,
        200,
    )
    .await;
    assert_eq!(bea["status"], "connected");
}

#[actix_web::test]
async fn the_clock_and_the_faults_are_shared_by_every_account() {
    let app = two_accounts().await;
    let idle = ok_json(
        post(
            &app,
            As::BKey,
            "/v1/Rooms",
            &[("UniqueName", "idle"), ("UnusedRoomTimeout", "1")],
        )
        .await,
        201,
    )
    .await;
    // A moves the clock: B's unused room ends too; A's answer lists only A's rooms.
    let advanced = ok_json(
        post(
            &app,
            As::A,
            "/emulator/clock/advance",
            &[("Seconds", "120")],
        )
        .await,
        200,
    )
    .await;
    assert_eq!(advanced["rooms_ended"], json!([]), "{advanced}");
    let ended = ok_json(
        get(
            &app,
            As::BKey,
            &format!("/v1/Rooms/{}", idle["sid"].as_str().unwrap()),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ended["status"], "completed");

    // Faults set by A apply to B's requests.
    ok_json(
        post(&app, As::A, "/emulator/faults", &[("Rate503", "1")]).await,
        200,
    )
    .await;
    assert_eq!(get(&app, As::BToken, "/v1/Rooms").await.status(), 503);
    assert_eq!(
        delete(&app, As::BToken, "/emulator/faults").await.status(),
        200
    );
    assert_eq!(get(&app, As::A, "/v1/Rooms").await.status(), 200);
}

/// A recording of account B's group room (one media server carries every account's rooms) is
/// filed in B's store: B lists and downloads it, A does not see it, and the temporary media URL,
/// which carries no credentials, finds B's recording by its SID.
#[actix_web::test]
async fn a_recording_is_its_accounts_only_and_its_media_url_finds_it() {
    let app = two_accounts().await;
    let room = ok_json(
        post(
            &app,
            As::BKey,
            "/v1/Rooms",
            &[
                ("UniqueName", "taped"),
                ("Type", "group"),
                ("RecordParticipantsOnConnect", "true"),
            ],
        )
        .await,
        201,
    )
    .await;
    assert_eq!(room["account_sid"], B_SID);
    let key = ApiKey {
        account_sid: AccountSid::parse(B_SID).unwrap(),
        sid: ApiKeySid::parse(B_KEY).unwrap(),
        secret: SecretString::from(B_SECRET.to_owned()),
    };
    let server = crate::group_media::Server::of_account(&app, key);
    let (mut bea, _) = crate::recordings::join_and_connect(&server, "bea", "taped").await;
    bea.media = crate::recordings::publish_for(bea.media, 45).await;
    bea.send(json!({"type": "msg", "body": {"type": "disconnect", "version": 2}}))
        .await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let listed = loop {
        let body = ok_json(
            get(&app, As::BKey, "/v1/Recordings?Status=completed").await,
            200,
        )
        .await;
        if body["recordings"].as_array().map_or(0, Vec::len) == 1 {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B's recording never completed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rec = &listed["recordings"][0];
    assert_eq!(rec["account_sid"], B_SID, "{rec}");
    let sid = rec["sid"].as_str().unwrap().to_owned();

    let of_a = ok_json(get(&app, As::A, "/v1/Recordings").await, 200).await;
    assert_eq!(of_a["recordings"], json!([]), "{of_a}");
    assert_twilio_error(
        get(&app, As::A, &format!("/v1/Recordings/{sid}")).await,
        404,
        20404,
    )
    .await;
    assert_twilio_error(
        get(&app, As::A, &format!("/v1/Recordings/{sid}/Media")).await,
        404,
        20404,
    )
    .await;

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = no_redirects
        .get(app.url(&format!("/v1/Recordings/{sid}/Media")))
        .basic_auth(B_KEY, Some(B_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    let media = no_redirects.get(&location).send().await.unwrap();
    assert_eq!(media.status(), 200, "{location}");
    let bytes = media.bytes().await.unwrap();
    let file = videoroom_media::record::mkv::inspect(&bytes).expect("the file is Matroska");
    assert_eq!(file.codec_id, "V_VP8");
    assert!(!file.blocks.is_empty());
}
