//! Group rooms through the media server, driven as twilio-video.js 2.36 drives Twilio's: a
//! scripted WebSocket client for the signaling and a scripted str0m WebRTC client (the media
//! crate's own) for the media, both on loopback.
//!
//! What the SDK needs (see `emulator/src/signaling/media.rs`): the server answers the offer of
//! `connect` in `connected` on the client's id and revision, offers in `update` when others'
//! tracks arrive or leave (revision above every one seen), maps each forwarded m-line to a
//! track SID through `subscribed`, and never sends `create-offer` or `close`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use videoroom_core::token::{ApiKey, TokenSigner, TokenVerifier};
use videoroom_core::{Identity, RoomKey, RoomName, RoomType};
use videoroom_emulator::media::MediaPlane;
use videoroom_emulator::signaling::{Signaling, SignalingOptions};
use videoroom_emulator_adapter::{CreateRoom, ManualClock, ParticipantKey, Store};
use videoroom_test_support::seeded_key;
use videoroom_test_support::serve::{serve, Served};

#[path = "../../../crates/media/tests/it/client.rs"]
#[allow(dead_code)]
pub(crate) mod client;

use client::{pump, sections, Client as MediaClient};

const WAIT: Duration = Duration::from_secs(5);

pub(crate) struct Server {
    url: String,
    store: Arc<Store>,
    /// The key participants' tokens are signed with (its account's rooms are the ones joined).
    key: ApiKey,
    _served: Option<Served>,
}

impl Server {
    async fn start() -> Self {
        let store = Arc::new(Store::new(Arc::new(ManualClock::fixed())));
        let plane = Arc::new(MediaPlane::new(SocketAddr::from(([127, 0, 0, 1], 0))));
        let signaling = Signaling::new(
            store.clone(),
            TokenVerifier::new(vec![seeded_key()]),
            SignalingOptions {
                media: Some(plane),
                ..SignalingOptions::default()
            },
        );
        signaling.start();
        let served = serve(2, move |cfg| signaling.configure(cfg));
        Self {
            url: format!("ws://127.0.0.1:{}/signaling", served.port),
            store,
            key: seeded_key(),
            _served: Some(served),
        }
    }

    /// The signaling of a whole emulator (default settings: group rooms through its media
    /// server), served by `app`.
    pub(crate) fn of(app: &crate::helpers::TestEmulator) -> Self {
        Self::of_account(app, seeded_key())
    }

    /// [`Server::of`] for the account of `key`, whose tokens it signs.
    pub(crate) fn of_account(app: &crate::helpers::TestEmulator, key: ApiKey) -> Self {
        let account = app
            .emulator
            .account(key.account_sid.as_str())
            .expect("the key's account is one the emulator serves");
        Self {
            url: format!("{}/signaling", app.base.replacen("http://", "ws://", 1)),
            store: account.store(),
            key,
            _served: None,
        }
    }

    pub(crate) fn create_room(&self, name: &str, room_type: RoomType) {
        self.store
            .create_room(&CreateRoom {
                unique_name: Some(RoomName::parse(name).expect("room name")),
                room_type: Some(room_type),
                ..CreateRoom::default()
            })
            .expect("room created");
    }
}

/// One participant: its signaling socket, its WebRTC client, and every room message it got.
pub(crate) struct Participant {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub(crate) media: MediaClient,
    pc_id: String,
    seen: Vec<Value>,
}

impl Participant {
    /// Connects `name` to `room` as the SDK does: hello with `ice`, then `connect` with its
    /// camera track and its peer connection's first offer. Returns it and its `connected`.
    pub(crate) async fn join(server: &Server, name: &str, room: &str) -> (Self, Value) {
        Self::join_with(
            server,
            name,
            room,
            json!({"rules": [{"type": "include", "all": true}], "revision": 1}),
        )
        .await
    }

    /// [`Participant::join`] with the `subscribe` the SDK sends for its `automaticSubscription`
    /// option.
    async fn join_with(server: &Server, name: &str, room: &str, subscribe: Value) -> (Self, Value) {
        let (ws, _) = tokio_tungstenite::connect_async(server.url.as_str())
            .await
            .expect("WebSocket upgrade");
        let mut media = MediaClient::in_room(name, room);
        let mut me = Self {
            ws,
            pc_id: format!("pc-{name}"),
            seen: Vec::new(),
            media: MediaClient::in_room(name, room),
        };
        let token = TokenSigner::new(server.key.clone(), 3600, None)
            .expect("signer")
            .mint(
                &Identity::parse(name).expect("identity"),
                Some(room),
                server.store.now().unix_timestamp(),
            );
        me.send(
            json!({"id": "h", "timeout": 5000, "type": "hello", "version": 2,
            "body": {"token": token, "type": "ice", "version": 1}}),
        )
        .await;
        assert_eq!(me.frame().await["type"], "welcome");
        assert_eq!(me.msg().await, json!({"type": "iced", "ice_servers": []}));
        let offer = media.publish_offer();
        me.media = media;
        me.send(json!({"type": "msg", "body": {
            "type": "connect", "version": 2, "name": null, "token": token, "format": "unified",
            "participant": {"revision": 1, "tracks": [
                {"id": me.media.track_id, "kind": "video", "name": "camera", "enabled": true, "priority": "standard"}
            ]},
            "peer_connections": [{"id": me.pc_id, "description": {"type": "offer", "revision": 1, "sdp": offer}}],
            "media_signaling": {}, "ice_servers": "acquire",
            "subscribe": subscribe,
        }}))
        .await;
        let connected = me.msg().await;
        assert_eq!(connected["type"], "connected", "{connected}");
        (me, connected)
    }

    /// A participant of `room` whose socket is open and greeted (`hello` without `ice`, then
    /// `welcome`), with the token it will `connect` with, for tests that send their own
    /// `connect`.
    async fn greeted(server: &Server, name: &str, room: &str) -> (Self, String) {
        let (ws, _) = tokio_tungstenite::connect_async(server.url.as_str())
            .await
            .expect("WebSocket upgrade");
        let mut me = Self {
            ws,
            media: MediaClient::in_room(name, room),
            pc_id: format!("pc-{name}"),
            seen: Vec::new(),
        };
        let token = TokenSigner::new(server.key.clone(), 3600, None)
            .expect("signer")
            .mint(
                &Identity::parse(name).expect("identity"),
                Some(room),
                server.store.now().unix_timestamp(),
            );
        me.send(json!({"id": "h", "timeout": 5000, "type": "hello", "version": 2}))
            .await;
        assert_eq!(me.frame().await["type"], "welcome");
        (me, token)
    }

    pub(crate) async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send a frame");
    }

    async fn frame(&mut self) -> Value {
        loop {
            let item = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the server said something within 5 s");
            match item {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).expect("JSON");
                    if frame["type"] != "heartbeat" {
                        return frame;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the socket ended: {other:?}"),
            }
        }
    }

    async fn msg(&mut self) -> Value {
        let frame = self.frame().await;
        assert_eq!(frame["type"], "msg", "{frame}");
        self.seen.push(frame["body"].clone());
        frame["body"].clone()
    }

    /// Reads messages until one carries a description for this client's peer connection;
    /// returns that description.
    pub(crate) async fn next_description(&mut self) -> Value {
        loop {
            let body = self.msg().await;
            for state in body["peer_connections"].as_array().into_iter().flatten() {
                assert_eq!(
                    state["id"],
                    json!(self.pc_id),
                    "a second peer connection: {body}"
                );
                if state.get("description").is_some() {
                    return state["description"].clone();
                }
            }
        }
    }

    /// Answers the server's offer as the SDK does: same id, same revision.
    pub(crate) async fn answer(&mut self, offer: &Value) {
        assert_eq!(offer["type"], "offer", "{offer}");
        let answer = self
            .media
            .accept_offer(offer["sdp"].as_str().expect("the offer has SDP"));
        self.send(json!({"type": "msg", "body": {"type": "update", "version": 2,
            "peer_connections": [{"id": self.pc_id, "description": {"type": "answer", "revision": offer["revision"], "sdp": answer}}]}}))
            .await;
    }

    /// Every description type the server ever sent this client.
    fn description_types(&self) -> Vec<String> {
        self.seen
            .iter()
            .flat_map(|b| {
                b["peer_connections"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|s| s["description"]["type"].as_str().map(str::to_owned))
            .collect()
    }
}

/// Drives both WebRTC clients on a blocking thread until `done` holds.
pub(crate) async fn pump_pair(
    a: MediaClient,
    b: MediaClient,
    what: &'static str,
    done: impl Fn(&[&mut MediaClient]) -> bool + Send + 'static,
) -> (MediaClient, MediaClient) {
    tokio::task::spawn_blocking(move || {
        let (mut a, mut b) = (a, b);
        pump(&mut [&mut a, &mut b], what, done);
        (a, b)
    })
    .await
    .expect("the pump thread")
}

#[actix_web::test]
async fn a_group_room_goes_through_the_media_server_with_one_peer_connection_each() {
    let server = Server::start().await;
    let (mut alice, alice_connected) = Participant::join(&server, "alice", "sfu").await;
    let answer = &alice_connected["peer_connections"][0];
    assert_eq!(answer["id"], "pc-alice");
    assert_eq!(answer["description"]["type"], "answer");
    assert_eq!(answer["description"]["revision"], 1);
    let sdp = answer["description"]["sdp"].as_str().expect("SDP");
    assert!(
        sdp.contains("a=ice-lite") && sdp.contains("127.0.0.1"),
        "{sdp}"
    );
    alice.media.accept_answer(sdp);

    let (mut bob, bob_connected) = Participant::join(&server, "bob", "sfu").await;
    let alice_sid = alice_connected["published"]["tracks"][0]["sid"].clone();
    assert_eq!(
        bob_connected["subscribed"]["tracks"],
        json!([{"sid": alice_sid, "id": "alice-camera"}])
    );
    bob.media.accept_answer(
        bob_connected["peer_connections"][0]["description"]["sdp"]
            .as_str()
            .expect("SDP"),
    );
    // The server offers bob alice's camera on bob's own peer connection, revision 2, with the
    // publisher's track id in `a=msid`, which `subscribed` maps to its SID.
    let offer = bob.next_description().await;
    assert_eq!(offer["revision"], 2);
    let msids: Vec<String> = sections(offer["sdp"].as_str().expect("SDP"))
        .into_iter()
        .filter_map(|s| s.msid_track)
        .collect();
    assert!(msids.contains(&"alice-camera".to_owned()), "{msids:?}");
    bob.answer(&offer).await;
    let offer = alice.next_description().await;
    assert_eq!(offer["revision"], 2);
    alice.answer(&offer).await;

    let (alice_media, bob_media) = pump_pair(alice.media, bob.media, "frames both ways", |c| {
        c[0].frames_of("bob-camera") >= 3 && c[1].frames_of("alice-camera") >= 3
    })
    .await;
    alice.media = alice_media;
    bob.media = bob_media;
    assert_eq!(alice.media.misrouted_frames(), 0);

    // The store holds the publications and what each one receives.
    let subscribed = server
        .store
        .subscribed_tracks(
            &RoomKey::parse("sfu").expect("room key"),
            &ParticipantKey::Identity(Identity::parse("bob").expect("identity")),
        )
        .expect("bob's subscribed tracks");
    assert_eq!(subscribed.len(), 1);
    assert_eq!(subscribed[0].client_id, "alice-camera");

    // Bob leaves: alice sees him disconnected and gets an offer that stops his m-line on her
    // one peer connection; nothing closes it.
    bob.send(json!({"type": "msg", "body": {"type": "disconnect", "version": 2}}))
        .await;
    let offer = alice.next_description().await;
    assert_eq!(offer["type"], "offer");
    assert_eq!(offer["revision"], 3);
    let stopped = sections(offer["sdp"].as_str().expect("SDP"))
        .into_iter()
        .any(|s| s.rejected);
    assert!(stopped, "bob's m-line is stopped: {offer}");
    alice.answer(&offer).await;
    let departed = alice
        .seen
        .iter()
        .flat_map(|b| b["participants"].as_array().cloned().unwrap_or_default())
        .any(|p| p["identity"] == "bob" && p["state"] == "disconnected");
    assert!(departed, "alice was told bob left: {:?}", alice.seen);
    for who in [&alice, &bob] {
        let types = who.description_types();
        assert!(
            types.iter().all(|t| t == "offer" || t == "answer"),
            "never create-offer nor close: {types:?}"
        );
    }
}

#[actix_web::test]
async fn a_client_offer_is_answered_with_its_revision_and_peer_to_peer_rooms_stay_a_mesh() {
    let server = Server::start().await;
    let (mut alice, connected) = Participant::join(&server, "alice", "reoffer").await;
    alice.media.accept_answer(
        connected["peer_connections"][0]["description"]["sdp"]
            .as_str()
            .expect("SDP"),
    );
    // The client publishes a second track: it re-offers with its next revision.
    let offer = alice.media.add_track_offer("alice-screen");
    alice
        .send(json!({"type": "msg", "body": {"type": "update", "version": 2,
            "participant": {"revision": 2, "tracks": [
                {"id": "alice-camera", "kind": "video", "name": "camera", "enabled": true},
                {"id": "alice-screen", "kind": "video", "name": "screen", "enabled": true}]},
            "peer_connections": [{"id": "pc-alice", "description": {"type": "offer", "revision": 2, "sdp": offer}}]}}))
        .await;
    let answer = alice.next_description().await;
    assert_eq!(answer["type"], "answer");
    assert_eq!(answer["revision"], 2);

    // A peer-to-peer room keeps today's mesh: no answer in `connected`, `create-offer` for
    // the pair when a second participant arrives.
    server.create_room("p2p", RoomType::PeerToPeer);
    let (mut carol, connected) = Participant::join(&server, "carol", "p2p").await;
    assert_eq!(connected["peer_connections"], json!([]));
    let (_dave, _) = Participant::join(&server, "dave", "p2p").await;
    let update = carol.msg().await;
    assert_eq!(
        update["peer_connections"][0]["description"],
        json!({"type": "create-offer", "revision": 1})
    );
}

#[actix_web::test]
async fn an_offer_the_media_server_cannot_parse_is_refused_with_53404() {
    let server = Server::start().await;
    let (mut me, token) = Participant::greeted(&server, "eve", "bad").await;
    me.send(json!({"type": "msg", "body": {"type": "connect", "version": 2, "token": token,
        "peer_connections": [{"id": "pc-eve", "description": {"type": "offer", "revision": 1, "sdp": "v=0 not sdp"}}]}}))
        .await;
    let error = me.msg().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], 53404, "{error}");
    // The refused participant is not left connected in the store.
    let connected = server
        .store
        .connected_participants(&RoomKey::parse("bad").expect("room key"))
        .map(|p| p.len())
        .unwrap_or(0);
    assert_eq!(connected, 0);
}

#[actix_web::test]
async fn the_inspector_shows_what_the_media_server_carries_for_each_participant() {
    let app = crate::helpers::spawn().await;
    let server = Server::of(&app);
    let (mut alice, connected) = Participant::join(&server, "alice", "inspected").await;
    let alice_sid = connected["participant"]["sid"].clone();
    alice.media.accept_answer(
        connected["peer_connections"][0]["description"]["sdp"]
            .as_str()
            .expect("SDP"),
    );
    let (mut bob, connected) = Participant::join(&server, "bob", "inspected").await;
    bob.media.accept_answer(
        connected["peer_connections"][0]["description"]["sdp"]
            .as_str()
            .expect("SDP"),
    );
    let offer = bob.next_description().await;
    bob.answer(&offer).await;
    let offer = alice.next_description().await;
    alice.answer(&offer).await;

    let shows_media = |state: &Value| {
        let participants = state["rooms"][0]["participants"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        participants.iter().any(|p| {
            p["sid"] == alice_sid
                && p["media"]["publishes"][0]["track_id"] == "alice-camera"
                && p["media"]["publishes"][0]["packets"].as_u64() > Some(0)
                && p["media"]["receives"][0]["track_id"] == "bob-camera"
                && p["media"]["receives"][0]["bitrate_bps"].as_u64() > Some(0)
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let (mut a, mut b) = (alice.media, bob.media);
    loop {
        (a, b) = pump_pair(a, b, "frames", |c| c[0].frames_of("bob-camera") > 0).await;
        let state: Value = app.get("/emulator/state").await.json().await.expect("JSON");
        if shows_media(&state) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no media figures: {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads messages until one carries a `subscribed` list; returns its tracks' client ids.
async fn next_subscribed(who: &mut Participant) -> Vec<String> {
    loop {
        let body = who.msg().await;
        if let Some(tracks) = body["subscribed"]["tracks"].as_array() {
            return tracks
                .iter()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect();
        }
    }
}

/// The client ids of the tracks REST lists as `who`'s SubscribedTracks in `room`.
async fn rest_subscribed(app: &crate::helpers::TestEmulator, room: &str, who: &str) -> Vec<String> {
    let sid = app
        .emulator
        .store()
        .fetch_participant(
            &RoomKey::parse(room).expect("room key"),
            &ParticipantKey::Identity(Identity::parse(who).expect("identity")),
        )
        .expect("the participant")
        .sid;
    let body: Value = app
        .get(&format!(
            "/v1/Rooms/{room}/Participants/{sid}/SubscribedTracks"
        ))
        .await
        .json()
        .await
        .expect("JSON");
    body["subscribed_tracks"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

/// Alice and Bob in `room` of the emulator `app`, each receiving the other's camera.
async fn two_receiving(server: &Server, room: &str) -> (Participant, Participant) {
    let (mut alice, connected) = Participant::join(server, "alice", room).await;
    alice.media.accept_answer(
        connected["peer_connections"][0]["description"]["sdp"]
            .as_str()
            .expect("SDP"),
    );
    let (mut bob, connected) = Participant::join(server, "bob", room).await;
    bob.media.accept_answer(
        connected["peer_connections"][0]["description"]["sdp"]
            .as_str()
            .expect("SDP"),
    );
    let offer = bob.next_description().await;
    bob.answer(&offer).await;
    let offer = alice.next_description().await;
    alice.answer(&offer).await;
    let (a, b) = pump_pair(alice.media, bob.media, "frames both ways", |c| {
        c[0].frames_of("bob-camera") >= 3 && c[1].frames_of("alice-camera") >= 3
    })
    .await;
    alice.media = a;
    bob.media = b;
    (alice, bob)
}

#[actix_web::test]
async fn a_subscribe_rule_over_rest_stops_a_track_for_one_subscriber_and_lifting_it_resumes_it() {
    let app = crate::helpers::spawn().await;
    let server = Server::of(&app);
    let (mut alice, mut bob) = two_receiving(&server, "ruled").await;
    let rules_path = |sid: &str| format!("/v1/Rooms/ruled/Participants/{sid}/SubscribeRules");
    let bob_sid = app
        .emulator
        .store()
        .fetch_participant(
            &RoomKey::parse("ruled").expect("room key"),
            &ParticipantKey::Identity(Identity::parse("bob").expect("identity")),
        )
        .expect("bob")
        .sid;

    // Twilio's example: everything but alice's video.
    let res = app
        .post(
            &rules_path(bob_sid.as_str()),
            &[(
                "Rules",
                r#"[{"type":"include","all":true},{"type":"exclude","publisher":"alice","kind":"video"}]"#,
            )],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        next_subscribed(&mut bob).await,
        Vec::<String>::new(),
        "bob's subscribed list drops alice's camera"
    );
    let camera_mid = bob.media.mid_of("alice-camera").expect("offered before");
    let offer = bob.next_description().await;
    let stopped = sections(offer["sdp"].as_str().expect("SDP"))
        .into_iter()
        .find(|s| s.mid.as_deref() == Some(&*camera_mid))
        .expect("the camera's m-line stays in the offer");
    assert!(stopped.rejected, "the camera's m-line is stopped: {offer}");
    bob.answer(&offer).await;
    assert_eq!(
        rest_subscribed(&app, "ruled", "bob").await,
        Vec::<String>::new()
    );
    assert_eq!(rest_subscribed(&app, "ruled", "alice").await, ["camera"]);

    let before = bob.media.frames_of("alice-camera");
    let at_alice = alice.media.frames_of("bob-camera");
    let (a, b) = pump_pair(alice.media, bob.media, "bob's camera at alice", move |c| {
        c[0].frames_of("bob-camera") >= at_alice + 10
    })
    .await;
    alice.media = a;
    bob.media = b;
    assert_eq!(
        bob.media.frames_of("alice-camera"),
        before,
        "no frame of the excluded camera reached bob"
    );
    assert_eq!(bob.media.misrouted_frames(), 0);

    // Lifted: the track is subscribed again, on a new m-line, and its frames come back.
    let res = app
        .post(
            &rules_path(bob_sid.as_str()),
            &[("Rules", r#"[{"type":"include","all":true}]"#)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(next_subscribed(&mut bob).await, ["alice-camera"]);
    let offer = bob.next_description().await;
    let reopened: Vec<String> = sections(offer["sdp"].as_str().expect("SDP"))
        .into_iter()
        .filter(|s| !s.rejected)
        .filter_map(|s| s.msid_track)
        .collect();
    assert!(reopened.contains(&"alice-camera".to_owned()), "{offer}");
    bob.answer(&offer).await;
    assert_eq!(rest_subscribed(&app, "ruled", "bob").await, ["camera"]);
    let types = bob.description_types();
    assert!(
        types.iter().all(|t| t == "offer" || t == "answer"),
        "never create-offer nor close: {types:?}"
    );
    let (_a, b) = pump_pair(
        alice.media,
        bob.media,
        "alice's camera at bob again",
        move |c| c[1].frames_of("alice-camera") >= before + 3,
    )
    .await;
    assert_eq!(b.misrouted_frames(), 0);
}

#[actix_web::test]
async fn automatic_subscription_off_receives_nothing_until_rules_include_a_track() {
    let app = crate::helpers::spawn().await;
    let server = Server::of(&app);
    let (mut alice, connected) = Participant::join(&server, "alice", "manual").await;
    alice.media.accept_answer(
        connected["peer_connections"][0]["description"]["sdp"]
            .as_str()
            .expect("SDP"),
    );
    // What twilio-video.js sends for `automaticSubscription: false`.
    let (mut bob, connected) = Participant::join_with(
        &server,
        "bob",
        "manual",
        json!({"rules": [{"type": "exclude", "all": true}], "revision": 1}),
    )
    .await;
    assert_eq!(connected["subscribed"]["tracks"], json!([]), "{connected}");
    bob.media.accept_answer(
        connected["peer_connections"][0]["description"]["sdp"]
            .as_str()
            .expect("SDP"),
    );
    assert_eq!(
        rest_subscribed(&app, "manual", "bob").await,
        Vec::<String>::new()
    );
    let bob_sid = connected["participant"]["sid"]
        .as_str()
        .expect("bob's SID")
        .to_owned();
    let rules: Value = app
        .get(&format!(
            "/v1/Rooms/manual/Participants/{bob_sid}/SubscribeRules"
        ))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(rules["rules"][0]["type"], "exclude", "{rules}");
    // Alice, who subscribes automatically, is offered bob's camera.
    let offer = alice.next_description().await;
    alice.answer(&offer).await;

    let res = app
        .post(
            &format!("/v1/Rooms/manual/Participants/{bob_sid}/SubscribeRules"),
            &[("Rules", r#"[{"type":"include","publisher":"alice"}]"#)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(next_subscribed(&mut bob).await, ["alice-camera"]);
    let offer = bob.next_description().await;
    assert_eq!(offer["type"], "offer");
    bob.answer(&offer).await;
    pump_pair(alice.media, bob.media, "alice's camera at bob", |c| {
        c[1].frames_of("alice-camera") >= 3
    })
    .await;
}

#[actix_web::test]
async fn subscribe_rules_are_refused_in_a_room_the_media_server_does_not_carry() {
    let app = crate::helpers::spawn().await;
    app.create_room(&[("UniqueName", "mesh"), ("Type", "peer-to-peer")])
        .await;
    let alice = app.join("mesh", "alice").await;
    let path = format!(
        "/v1/Rooms/mesh/Participants/{}/SubscribeRules",
        alice["sid"].as_str().expect("a SID")
    );
    let res = app
        .post(&path, &[("Rules", r#"[{"type":"exclude","all":true}]"#)])
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["code"], 53114, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("peer-to-peer"),
        "{body}"
    );
    // Nothing was stored: the rules still read as Twilio's default.
    let rules: Value = app.get(&path).await.json().await.expect("JSON");
    assert_eq!(rules["rules"][0]["type"], "include", "{rules}");
}

#[actix_web::test]
async fn invalid_subscribe_rules_in_connect_are_refused_with_53215() {
    let server = Server::start().await;
    let (mut me, token) = Participant::greeted(&server, "mallory", "rules").await;
    let offer = me.media.publish_offer();
    me.send(json!({"type": "msg", "body": {"type": "connect", "version": 2, "token": token,
        "peer_connections": [{"id": "pc-mallory", "description": {"type": "offer", "revision": 1, "sdp": offer}}],
        "subscribe": {"rules": [{"type": "keep", "all": true}], "revision": 1}}}))
        .await;
    let error = me.msg().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], 53215, "{error}");
    assert!(
        error["message"].as_str().unwrap_or("").contains("type"),
        "the message names what is wrong: {error}"
    );
    let connected = server
        .store
        .connected_participants(&RoomKey::parse("rules").expect("room key"))
        .map(|p| p.len())
        .unwrap_or(0);
    assert_eq!(connected, 0, "a refused join leaves nobody in the store");
}
