//! Protocol tests of `/signaling` with a scripted WebSocket client, against a real actix server
//! on a loopback port, speaking exactly what twilio-video.js 2.x sends (see
//! `shared/reference/captures/signaling-two-participants.jsonl`).

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_core::token::{sign_parts, TokenSigner, TokenVerifier};
use videoroom_core::twilio_codes;
use videoroom_core::{Identity, RoomKey, RoomName, RoomType};
use videoroom_emulator::signaling::{Signaling, SignalingOptions};
use videoroom_emulator_adapter::{
    CreateRoom, ManualClock, ParticipantKey, ParticipantQuery, ParticipantStatus, Store,
};
use videoroom_test_support::seeded_key;
use videoroom_test_support::serve::{serve, Served};

const WAIT: Duration = Duration::from_secs(5);

struct TestServer {
    url: String,
    store: Arc<Store>,
    signaling: Signaling,
    /// Stops accepting when the test server is dropped.
    _served: Served,
}

impl TestServer {
    async fn start() -> Self {
        Self::start_with(SignalingOptions::default()).await
    }

    async fn start_with(options: SignalingOptions) -> Self {
        let store = Arc::new(Store::new(Arc::new(ManualClock::fixed())));
        let signaling = Signaling::new(
            store.clone(),
            TokenVerifier::new(vec![seeded_key()]),
            options,
        );
        signaling.start();
        let mounted = signaling.clone();
        let served = serve(2, move |cfg| mounted.configure(cfg));
        Self {
            url: format!("ws://127.0.0.1:{}/signaling", served.port),
            store,
            signaling,
            _served: served,
        }
    }

    fn now(&self) -> i64 {
        self.store.now().unix_timestamp()
    }

    /// A good token for `identity`, granting `room` (any room when `None`).
    fn token(&self, identity: &str, room: Option<&str>) -> String {
        TokenSigner::new(seeded_key(), 3600, None)
            .expect("signer")
            .mint(
                &Identity::parse(identity).expect("identity"),
                room,
                self.now(),
            )
    }

    fn create_room(&self, name: &str, room_type: RoomType) {
        self.store
            .create_room(&CreateRoom {
                unique_name: Some(RoomName::parse(name).expect("room name")),
                room_type: Some(room_type),
                ..CreateRoom::default()
            })
            .expect("room created");
    }

    fn connected_identities(&self, room: &str) -> Vec<String> {
        let mut identities: Vec<String> = self
            .store
            .connected_participants(&room_key(room))
            .expect("room exists")
            .into_iter()
            .map(|p| p.identity.as_str().to_owned())
            .collect();
        identities.sort();
        identities
    }

    /// Connects `identity` to `room` (named in the token's grant, `name: null` in `connect`, as
    /// the workshop page does) publishing one video track, and returns the client and its
    /// `connected` message.
    async fn join(&self, identity: &str, room: &str) -> (Client, Value) {
        let mut client = Client::open(self).await;
        let connected = client
            .handshake_and_connect(
                &self.token(identity, Some(room)),
                None,
                &[video_track(identity)],
            )
            .await;
        (client, connected)
    }
}

fn video_track(owner: &str) -> Value {
    json!({
        "enabled": true,
        "id": format!("track-{owner}"),
        "kind": "video",
        "name": format!("camera-{owner}"),
        "priority": "standard",
    })
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Client {
    ws: Socket,
    session: Option<String>,
}

/// What the server did next, as a scripted client sees it.
#[derive(Debug)]
enum Seen {
    Frame(Value),
    Closed(Option<u16>),
}

impl Client {
    async fn open(server: &TestServer) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(server.url.as_str())
            .await
            .expect("WebSocket upgrade");
        Self { ws, session: None }
    }

    async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send a frame");
    }

    async fn send_msg(&mut self, mut body: Value) {
        if let (Some(session), Some(object)) = (&self.session, body.as_object_mut()) {
            object
                .entry("session")
                .or_insert_with(|| json!(session.clone()));
            object.entry("version").or_insert(json!(2));
        }
        self.send(json!({"type": "msg", "body": body})).await;
    }

    /// The next text frame or close, skipping the server's heartbeats.
    async fn next(&mut self) -> Seen {
        loop {
            let item = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the server said something within 5 s");
            match item {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).expect("server frames are JSON");
                    if frame["type"] != "heartbeat" {
                        return Seen::Frame(frame);
                    }
                }
                Some(Ok(Message::Close(close))) => {
                    return Seen::Closed(close.map(|c| u16::from(c.code)))
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Seen::Closed(None),
            }
        }
    }

    async fn frame(&mut self) -> Value {
        match self.next().await {
            Seen::Frame(frame) => frame,
            Seen::Closed(code) => panic!("expected a frame, the server closed ({code:?})"),
        }
    }

    /// The body of the next `msg` frame.
    async fn msg(&mut self) -> Value {
        let frame = self.frame().await;
        assert_eq!(frame["type"], "msg", "expected a msg frame: {frame}");
        frame["body"].clone()
    }

    /// Waits for the close frame, skipping whatever comes before; returns its code.
    async fn closed(&mut self) -> Option<u16> {
        loop {
            if let Seen::Closed(code) = self.next().await {
                return code;
            }
        }
    }

    /// Asserts that nothing but heartbeats arrives for `quiet`.
    async fn silent_for(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Text(text)))) => {
                    let frame: Value = serde_json::from_str(&text).expect("JSON");
                    assert_eq!(frame["type"], "heartbeat", "unexpected frame {frame}");
                }
                Ok(other) => panic!("unexpected {other:?}"),
            }
        }
    }

    async fn hello(&mut self, body: Option<Value>) -> Value {
        let mut hello = json!({
            "id": "f52eb845-722a-4270-b48b-f283735816ae",
            "timeout": 5000,
            "type": "hello",
            "version": 2,
        });
        if let Some(body) = body {
            hello["body"] = body;
        }
        self.send(hello).await;
        self.frame().await
    }

    /// Sends `connect` as the SDK does and returns the server's answer (`connected` or `error`).
    async fn connect(&mut self, token: &str, name: Option<&str>, tracks: &[Value]) -> Value {
        self.send(json!({"type": "msg", "body": {
            "name": name,
            "participant": {"revision": 2, "tracks": tracks},
            "peer_connections": [{"description": {"type": "offer", "revision": 1, "sdp": "v=0 initial"}, "id": "initial-offer"}],
            "type": "connect",
            "version": 2,
            "ice_servers": "acquire",
            "publisher": {"name": "twilio-video.js", "sdk_version": "2.36.0", "user_agent": "scripted"},
            "media_signaling": {},
            "subscribe": {"rules": [{"type": "include", "all": true}], "revision": 1},
            "format": "unified",
            "token": token,
        }}))
        .await;
        let answer = self.msg().await;
        if answer["type"] == "connected" {
            self.session = answer["session"].as_str().map(str::to_owned);
        }
        answer
    }

    async fn handshake_and_connect(
        &mut self,
        token: &str,
        name: Option<&str>,
        tracks: &[Value],
    ) -> Value {
        let welcome = self
            .hello(Some(
                json!({"edge": "roaming", "token": token, "type": "ice", "version": 1}),
            ))
            .await;
        assert_eq!(welcome["type"], "welcome");
        let iced = self.msg().await;
        assert_eq!(iced, json!({"type": "iced", "ice_servers": []}));
        let connected = self.connect(token, name, tracks).await;
        assert_eq!(
            connected["type"], "connected",
            "connect failed: {connected}"
        );
        connected
    }

    async fn leave(mut self) {
        self.send_msg(json!({"type": "disconnect"})).await;
        self.send(json!({"type": "bye"})).await;
        let _ = self.ws.close(None).await;
    }
}

fn is_sid(value: &Value, prefix: &str) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == 34 && s.starts_with(prefix))
}

// ----- Join and leave ----------------------------------------------------------------------------

#[actix_web::test]
async fn joining_answers_welcome_iced_and_connected_in_the_shape_the_sdk_checks() {
    let server = TestServer::start().await;
    let mut client = Client::open(&server).await;
    let token = server.token("alice", Some("workshop"));

    let welcome = client
        .hello(Some(
            json!({"edge": "roaming", "token": token, "type": "ice", "version": 1}),
        ))
        .await;
    assert_eq!(
        welcome,
        json!({"type": "welcome", "negotiatedTimeout": 5000})
    );
    assert_eq!(
        client.msg().await,
        json!({"type": "iced", "ice_servers": []})
    );

    let connected = client.connect(&token, None, &[video_track("alice")]).await;
    assert_eq!(connected["type"], "connected");
    assert_eq!(connected["version"], 2);
    assert_eq!(connected["session"].as_str().map(str::len), Some(16));
    assert!(is_sid(&connected["sid"], "RM"), "{connected}");
    assert_eq!(connected["name"], "workshop");
    assert!(is_sid(&connected["participant"]["sid"], "PA"));
    assert_eq!(connected["participant"]["identity"], "alice");
    assert_eq!(connected["participants"], json!([]));
    assert_eq!(connected["published"]["revision"], 1);
    let published = &connected["published"]["tracks"][0];
    assert_eq!(published["id"], "track-alice");
    assert_eq!(published["state"], "ready");
    assert!(is_sid(&published["sid"], "MT"));
    assert_eq!(
        connected["subscribed"],
        json!({"revision": 1, "tracks": []})
    );
    assert_eq!(connected["peer_connections"], json!([]));
    assert_eq!(connected["options"], json!({"session_timeout": 30}));

    // The participant and its track are in the store, so the REST API shows them.
    let participant_sid = connected["participant"]["sid"].as_str().expect("sid");
    let record = server
        .store
        .fetch_participant(&room_key("workshop"), &who(participant_sid))
        .expect("participant in the store");
    assert_eq!(record.status, ParticipantStatus::Connected);
    assert_eq!(record.identity.as_str(), "alice");
    let tracks = server
        .store
        .published_tracks(&room_key("workshop"), &who(participant_sid))
        .expect("tracks");
    assert_eq!(tracks.len(), 1);
    assert_eq!(
        tracks[0].sid.as_str(),
        published["sid"].as_str().expect("sid")
    );
    assert_eq!(tracks[0].client_id, "track-alice");
    assert_eq!(tracks[0].name, "camera-alice");
}

#[actix_web::test]
async fn a_hello_carrying_connect_directly_is_welcomed_and_connected() {
    let server = TestServer::start().await;
    let mut client = Client::open(&server).await;
    let token = server.token("alice", None);
    // With `iceServers` given, the SDK skips `ice` and puts `connect` in the hello.
    client
        .send(
            json!({"type": "hello", "id": "x", "timeout": 5000, "version": 2, "body": {
                "type": "connect", "version": 2, "name": "direct", "token": token,
                "participant": {"revision": 1, "tracks": []}, "peer_connections": [],
            }}),
        )
        .await;
    assert_eq!(client.frame().await["type"], "welcome");
    let connected = client.msg().await;
    assert_eq!(connected["type"], "connected");
    assert_eq!(connected["name"], "direct");
}

#[actix_web::test]
async fn the_second_participant_sees_the_first_and_the_first_is_asked_to_offer() {
    let server = TestServer::start().await;
    let (mut alice, alice_connected) = server.join("alice", "workshop").await;
    let (_bob, bob_connected) = server.join("bob", "workshop").await;

    let alice_sid = alice_connected["participant"]["sid"].clone();
    let alice_track_sid = alice_connected["published"]["tracks"][0]["sid"].clone();
    assert_eq!(
        bob_connected["participants"],
        json!([{
            "sid": alice_sid,
            "identity": "alice",
            "revision": 2,
            "state": "connected",
            "tracks": [{
                "sid": alice_track_sid, "id": "track-alice", "kind": "video",
                "name": "camera-alice", "enabled": true, "priority": "standard",
            }],
        }])
    );
    assert_eq!(
        bob_connected["subscribed"],
        json!({"revision": 1, "tracks": [{"sid": alice_track_sid, "id": "track-alice"}]})
    );
    assert_eq!(bob_connected["sid"], alice_connected["sid"]);

    let update = alice.msg().await;
    assert_eq!(update["type"], "update");
    assert_eq!(update["participants"][0]["identity"], "bob");
    assert_eq!(update["participants"][0]["state"], "connected");
    assert_eq!(update["participants"][0]["revision"], 2);
    let bob_track_sid = bob_connected["published"]["tracks"][0]["sid"].clone();
    assert_eq!(
        update["subscribed"],
        json!({"revision": 2, "tracks": [{"sid": bob_track_sid, "id": "track-bob"}]})
    );
    let offers = update["peer_connections"]
        .as_array()
        .expect("peer_connections");
    assert_eq!(offers.len(), 1);
    assert_eq!(
        offers[0]["description"],
        json!({"type": "create-offer", "revision": 1})
    );

    // The store derives what each one receives from what the other publishes.
    let subscribed = server
        .store
        .subscribed_tracks(&room_key("workshop"), &who("alice"))
        .expect("alice's subscribed tracks");
    assert_eq!(subscribed.len(), 1);
    assert_eq!(subscribed[0].client_id, "track-bob");
    assert_eq!(server.connected_identities("workshop"), ["alice", "bob"]);
}

/// Joins alice then bob and returns them with the id of their peer connection.
async fn pair(server: &TestServer, room: &str) -> (Client, Client, String) {
    let (mut alice, _) = server.join("alice", room).await;
    let (bob, _) = server.join("bob", room).await;
    let update = alice.msg().await;
    let id = update["peer_connections"][0]["id"]
        .as_str()
        .expect("peer connection id")
        .to_owned();
    (alice, bob, id)
}

#[actix_web::test]
async fn offers_answers_and_ice_reach_the_other_peer_unchanged() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, id) = pair(&server, "workshop").await;

    let offer = json!({"description": {"type": "offer", "revision": 2, "sdp": "v=0 offer from alice"}, "id": id});
    alice
        .send_msg(json!({"type": "update", "peer_connections": [offer],
                         "participant": {"revision": 2, "tracks": [video_track("alice")]}}))
        .await;
    assert_eq!(
        bob.msg().await,
        json!({"type": "update", "peer_connections": [offer]})
    );

    let answer = json!({"description": {"type": "answer", "revision": 2, "sdp": "v=0 answer from bob"}, "id": id});
    bob.send_msg(json!({"type": "update", "peer_connections": [answer]}))
        .await;
    assert_eq!(
        alice.msg().await,
        json!({"type": "update", "peer_connections": [answer]})
    );

    let ice = json!({"ice": {"candidates": [{"candidate": "candidate:1 1 udp 2122194687 127.0.0.1 45948 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "j2Qy"}], "ufrag": "j2Qy", "complete": true, "revision": 3}, "id": id});
    bob.send_msg(json!({"type": "update", "peer_connections": [ice]}))
        .await;
    assert_eq!(
        alice.msg().await,
        json!({"type": "update", "peer_connections": [ice]})
    );
}

#[actix_web::test]
async fn states_for_peer_connections_the_server_never_announced_are_dropped() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, id) = pair(&server, "workshop").await;

    // The offer that came with `connect`, and an id nobody knows, have no peer.
    alice
        .send_msg(json!({"type": "update", "peer_connections": [
            {"description": {"type": "offer", "revision": 3, "sdp": "x"}, "id": "initial-offer"},
            {"description": {"type": "offer", "revision": 1, "sdp": "x"}, "id": "made-up"},
        ]}))
        .await;
    let known = json!({"ice": {"candidates": [], "ufrag": "a", "revision": 1}, "id": id});
    alice
        .send_msg(json!({"type": "update", "peer_connections": [known]}))
        .await;
    assert_eq!(
        bob.msg().await,
        json!({"type": "update", "peer_connections": [known]})
    );
    alice.silent_for(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn three_participants_get_one_peer_connection_per_pair() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, alice_bob) = pair(&server, "mesh").await;
    let (mut carol, carol_connected) = server.join("carol", "mesh").await;
    assert_eq!(
        carol_connected["participants"]
            .as_array()
            .expect("participants")
            .iter()
            .map(|p| p["identity"].clone())
            .collect::<Vec<_>>(),
        [json!("alice"), json!("bob")]
    );
    assert_eq!(
        carol_connected["subscribed"]["tracks"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let to_alice = alice.msg().await;
    let to_bob = bob.msg().await;
    let alice_carol = to_alice["peer_connections"][0]["id"].clone();
    let bob_carol = to_bob["peer_connections"][0]["id"].clone();
    assert_eq!(
        to_alice["peer_connections"][0]["description"]["type"],
        "create-offer"
    );
    assert_eq!(
        to_bob["peer_connections"][0]["description"]["type"],
        "create-offer"
    );
    let ids = [json!(alice_bob), alice_carol.clone(), bob_carol.clone()];
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
    assert_eq!(to_alice["subscribed"]["revision"], 3);
    assert_eq!(
        to_alice["subscribed"]["tracks"].as_array().map(Vec::len),
        Some(2)
    );

    // Each id reaches exactly the other member of its pair.
    let offer = json!({"description": {"type": "offer", "revision": 2, "sdp": "alice to carol"}, "id": alice_carol});
    alice
        .send_msg(json!({"type": "update", "peer_connections": [offer]}))
        .await;
    assert_eq!(carol.msg().await["peer_connections"], json!([offer]));
    let offer = json!({"description": {"type": "offer", "revision": 2, "sdp": "bob to carol"}, "id": bob_carol});
    bob.send_msg(json!({"type": "update", "peer_connections": [offer]}))
        .await;
    assert_eq!(carol.msg().await["peer_connections"], json!([offer]));
    alice.silent_for(Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn leaving_tells_the_others_with_a_higher_revision_and_closes_the_pair() {
    let server = TestServer::start().await;
    server.create_room("lasting", RoomType::Group);
    let (mut alice, mut bob, id) = pair(&server, "lasting").await;
    alice
        .send_msg(json!({"type": "update", "peer_connections": [
            {"description": {"type": "offer", "revision": 5, "sdp": "x"}, "id": id}]}))
        .await;
    // Once bob has the offer, the server has relayed revision 5.
    assert_eq!(
        bob.msg().await["peer_connections"][0]["description"]["revision"],
        5
    );

    bob.leave().await;
    let update = alice.msg().await;
    assert_eq!(update["type"], "update");
    let gone = &update["participants"][0];
    assert_eq!(gone["identity"], "bob");
    assert_eq!(gone["state"], "disconnected");
    assert_eq!(gone["revision"], 3, "above the revision bob joined with");
    assert!(gone["tracks"].is_array());
    assert_eq!(update["subscribed"], json!({"revision": 3, "tracks": []}));
    let close = &update["peer_connections"][0];
    assert_eq!(close["id"], json!(id));
    assert_eq!(close["description"]["type"], "close");
    assert!(
        close["description"]["revision"].as_u64() > Some(5),
        "close must outrank the last offer: {close}"
    );

    assert_eq!(server.connected_identities("lasting"), ["alice"]);
    let bob_record = server
        .store
        .list_participants(
            &room_key("lasting"),
            &ParticipantQuery {
                status: Some(ParticipantStatus::Disconnected),
                ..ParticipantQuery::default()
            },
        )
        .expect("participants");
    assert_eq!(bob_record.items.len(), 1);
    assert_eq!(bob_record.items[0].identity.as_str(), "bob");
}

#[actix_web::test]
async fn an_ad_hoc_room_ends_when_its_last_participant_leaves() {
    let server = TestServer::start().await;
    let (alice, connected) = server.join("alice", "adhoc").await;
    let sid = connected["sid"].as_str().expect("room sid").to_owned();
    assert!(
        server
            .store
            .fetch_room(&room_key(&sid))
            .expect("room")
            .ad_hoc
    );
    alice.leave().await;
    wait_until(|| {
        !server
            .store
            .fetch_room(&room_key(&sid))
            .expect("room")
            .is_in_progress()
    })
    .await;
    assert_eq!(server.signaling.connected_count(), 0);
}

#[actix_web::test]
async fn connect_without_any_room_name_creates_a_room_named_by_its_sid() {
    let server = TestServer::start().await;
    let mut client = Client::open(&server).await;
    let connected = client
        .handshake_and_connect(&server.token("alice", None), None, &[])
        .await;
    assert_eq!(connected["name"], connected["sid"]);
}

async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ----- Revisions and tracks ----------------------------------------------------------------------

#[actix_web::test]
async fn publishing_a_track_later_raises_published_subscribed_and_participant_revisions() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, _) = pair(&server, "workshop").await;

    let audio = json!({"enabled": true, "id": "mic-alice", "kind": "audio", "name": "mic", "priority": "standard"});
    alice
        .send_msg(json!({"type": "update", "participant": {"revision": 3, "tracks": [video_track("alice"), audio]}}))
        .await;
    let published = alice.msg().await;
    assert_eq!(published["published"]["revision"], 2);
    let tracks = published["published"]["tracks"].as_array().expect("tracks");
    assert_eq!(tracks.len(), 2);
    assert!(tracks
        .iter()
        .all(|t| t["state"] == "ready" && is_sid(&t["sid"], "MT")));

    let update = bob.msg().await;
    assert_eq!(update["participants"][0]["identity"], "alice");
    assert_eq!(update["participants"][0]["revision"], 3);
    assert_eq!(
        update["participants"][0]["tracks"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(update["subscribed"]["revision"], 2);
    assert_eq!(
        update["subscribed"]["tracks"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        server
            .store
            .published_tracks(&room_key("workshop"), &who("alice"))
            .expect("tracks")
            .len(),
        2
    );

    // A stale participant state (lower revision) changes nothing and is not broadcast.
    alice
        .send_msg(json!({"type": "update", "participant": {"revision": 2, "tracks": []}}))
        .await;
    bob.silent_for(Duration::from_millis(200)).await;
    assert_eq!(
        server
            .store
            .published_tracks(&room_key("workshop"), &who("alice"))
            .expect("tracks")
            .len(),
        2
    );

    // Unpublishing removes the track from the store and from bob's subscriptions.
    alice
        .send_msg(json!({"type": "update", "participant": {"revision": 4, "tracks": [video_track("alice")]}}))
        .await;
    assert_eq!(alice.msg().await["published"]["revision"], 3);
    let update = bob.msg().await;
    assert_eq!(update["participants"][0]["revision"], 4);
    assert_eq!(update["subscribed"]["revision"], 3);
    assert_eq!(
        update["subscribed"]["tracks"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        server
            .store
            .subscribed_tracks(&room_key("workshop"), &who("bob"))
            .expect("tracks")
            .len(),
        1
    );
}

#[actix_web::test]
async fn every_revision_a_client_receives_only_goes_up() {
    let server = TestServer::start().await;
    let (mut alice, _) = server.join("alice", "revisions").await;
    let mut subscribed_revisions = vec![1];
    let mut others = Vec::new();
    for name in ["bob", "carol", "dave"] {
        let (client, _) = server.join(name, "revisions").await;
        let update = alice.msg().await;
        subscribed_revisions.push(update["subscribed"]["revision"].as_u64().expect("revision"));
        others.push(client);
    }
    for client in others {
        client.leave().await;
        let update = alice.msg().await;
        subscribed_revisions.push(update["subscribed"]["revision"].as_u64().expect("revision"));
    }
    assert!(
        subscribed_revisions.windows(2).all(|w| w[0] < w[1]),
        "{subscribed_revisions:?}"
    );
}

// ----- Room rules --------------------------------------------------------------------------------

/// The largest integer a JavaScript number (how the SDK compares revisions) holds exactly.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

#[actix_web::test]
async fn a_participant_revision_that_cannot_rise_is_refused_and_its_departure_still_counts() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, _) = pair(&server, "ghost").await;
    bob.send_msg(json!({"type": "update", "participant": {
        "revision": u64::MAX, "tracks": [video_track("bob")]}}))
        .await;
    let refused = bob.msg().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["code"],
        twilio_codes::SIGNALING_OUTGOING_MESSAGE_INVALID
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("revision"),
        "{refused}"
    );
    assert_eq!(bob.closed().await, Some(1000));

    // alice last saw bob at the revision it joined with (2); its departure must rise above it,
    // or the SDK ignores it and bob stays on alice's screen.
    let update = alice.msg().await;
    assert_eq!(update["participants"][0]["identity"], "bob");
    assert_eq!(update["participants"][0]["state"], "disconnected");
    let revision = update["participants"][0]["revision"]
        .as_u64()
        .expect("a revision");
    assert!((3..=MAX_SAFE_INTEGER).contains(&revision), "{update}");
}

#[actix_web::test]
async fn a_peer_connection_revision_that_cannot_rise_is_refused_before_it_is_relayed() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, id) = pair(&server, "ghost-pc").await;
    alice
        .send_msg(json!({"type": "update", "peer_connections": [
            {"description": {"type": "offer", "revision": u64::MAX, "sdp": "x"}, "id": id}]}))
        .await;
    let refused = alice.msg().await;
    assert_eq!(
        refused["code"],
        twilio_codes::SIGNALING_OUTGOING_MESSAGE_INVALID,
        "{refused}"
    );

    // bob never got the offer: the next thing it hears is alice leaving, with a `close` whose
    // revision is above the pair's last one and still exact in JavaScript.
    let update = bob.msg().await;
    assert_eq!(
        update["participants"][0]["state"], "disconnected",
        "{update}"
    );
    let close = &update["peer_connections"][0]["description"];
    assert_eq!(close["type"], "close");
    let revision = close["revision"].as_u64().expect("a revision");
    assert!((2..=MAX_SAFE_INTEGER).contains(&revision), "{update}");
}

/// Reads frames until the next `msg`, asserting that no frame is larger than `max_bytes`.
async fn small_msg(client: &mut Client, max_bytes: usize) -> Value {
    loop {
        let text = match tokio::time::timeout(WAIT, client.ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => text,
            other => panic!("expected a frame, got {other:?}"),
        };
        assert!(
            text.len() <= max_bytes,
            "a frame of {} bytes (at most {max_bytes} expected): {}…",
            text.len(),
            &text[..200.min(text.len())]
        );
        let frame: Value = serde_json::from_str(&text).expect("server frames are JSON");
        if frame["type"] == "msg" {
            return frame["body"].clone();
        }
    }
}

#[actix_web::test]
async fn oversized_track_fields_fail_their_track_and_never_reach_the_others() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, _) = pair(&server, "fields").await;
    let huge_id = "i".repeat(200 * 1024);
    bob.send_msg(json!({"type": "update", "participant": {"revision": 3, "tracks": [
        video_track("bob"),
        {"enabled": true, "id": huge_id, "kind": "audio", "name": "mic", "priority": "standard"},
        {"enabled": true, "id": "t-priority", "kind": "audio", "name": "p", "priority": "p".repeat(8000)},
        {"enabled": true, "id": "t-kind", "kind": "k".repeat(8000), "name": "k", "priority": "low"},
        {"enabled": true, "id": "t-name", "kind": "audio", "name": "n".repeat(129), "priority": "low"},
    ]}}))
    .await;

    // bob's answer names each failure with the SDK's code, and echoes nothing large.
    let published = small_msg(&mut bob, 4096).await;
    let tracks = published["published"]["tracks"]
        .as_array()
        .expect("published tracks")
        .clone();
    assert_eq!(tracks.len(), 5, "{published}");
    assert_eq!(tracks[0]["state"], "ready");
    let codes: Vec<&Value> = tracks[1..].iter().map(|t| &t["error"]["code"]).collect();
    assert_eq!(
        codes,
        [
            twilio_codes::TRACK_INVALID,
            twilio_codes::TRACK_INVALID,
            twilio_codes::TRACK_INVALID,
            twilio_codes::TRACK_NAME_TOO_LONG
        ]
    );

    // alice hears of bob's one good track only, in a small frame.
    let update = small_msg(&mut alice, 4096).await;
    let seen = update["participants"][0]["tracks"]
        .as_array()
        .expect("bob's tracks");
    assert_eq!(seen.len(), 1, "{update}");
    assert_eq!(seen[0]["id"], "track-bob");
}

#[actix_web::test]
async fn an_update_listing_thousands_of_tracks_is_refused_with_53004_in_a_small_answer() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, _) = pair(&server, "many").await;
    let tracks: Vec<Value> = (0..5000)
        .map(|i| json!({"id": format!("t{i}"), "kind": "audio"}))
        .collect();
    bob.send_msg(json!({"type": "update", "participant": {"revision": 3, "tracks": tracks}}))
        .await;
    let refused = small_msg(&mut bob, 4096).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["code"],
        twilio_codes::SIGNALING_OUTGOING_MESSAGE_INVALID
    );
    assert_eq!(bob.closed().await, Some(1000));
    let update = small_msg(&mut alice, 4096).await;
    assert_eq!(update["participants"][0]["state"], "disconnected");
    assert_eq!(server.connected_identities("many"), ["alice"]);
}

#[actix_web::test]
async fn a_room_holds_at_most_170_tracks_and_the_rest_fail_with_53203() {
    let server = TestServer::start().await;
    // A peer-to-peer room: Twilio sets no track limit on it, the emulator's hub does.
    server.create_room("crowded", RoomType::PeerToPeer);
    let tracks = |owner: &str| -> Vec<Value> {
        (0..32)
            .map(|i| json!({"id": format!("{owner}-{i}"), "kind": "audio", "name": format!("{owner}-{i}")}))
            .collect()
    };
    let mut clients = Vec::new();
    let mut last = Value::Null;
    for owner in ["p1", "p2", "p3", "p4", "p5", "p6"] {
        let mut client = Client::open(&server).await;
        last = client
            .handshake_and_connect(&server.token(owner, Some("crowded")), None, &tracks(owner))
            .await;
        clients.push(client);
    }
    // Five participants publish 160 tracks; the sixth gets 10 more, then 53203.
    let published = last["published"]["tracks"].as_array().expect("published");
    let ready = published.iter().filter(|t| t["state"] == "ready").count();
    assert_eq!(ready, 10, "{last}");
    assert!(published
        .iter()
        .filter(|t| t["state"] == "failed")
        .all(|t| t["error"]["code"] == twilio_codes::ROOM_TRACK_LIMIT_REACHED));
}

#[actix_web::test]
async fn a_relayed_state_over_64_kib_is_refused_with_53004_and_not_relayed() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, id) = pair(&server, "big-sdp").await;
    let sdp = "a".repeat(100 * 1024);
    alice
        .send_msg(json!({"type": "update", "peer_connections": [
            {"description": {"type": "offer", "revision": 2, "sdp": sdp}, "id": id}]}))
        .await;
    let refused = small_msg(&mut alice, 4096).await;
    assert_eq!(
        refused["code"],
        twilio_codes::SIGNALING_OUTGOING_MESSAGE_INVALID,
        "{refused}"
    );
    let update = small_msg(&mut bob, 4096).await;
    assert_eq!(
        update["participants"][0]["state"], "disconnected",
        "{update}"
    );
}

#[actix_web::test]
async fn a_third_participant_in_a_go_room_is_refused_with_53105() {
    let server = TestServer::start().await;
    server.create_room("tiny", RoomType::Go);
    let (_alice, _) = server.join("alice", "tiny").await;
    let (_bob, _) = server.join("bob", "tiny").await;

    let mut carol = Client::open(&server).await;
    carol.hello(None).await;
    let answer = carol
        .connect(&server.token("carol", Some("tiny")), None, &[])
        .await;
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["code"], 53105);
    assert_eq!(carol.closed().await, Some(1000));
    assert_eq!(server.connected_identities("tiny"), ["alice", "bob"]);
}

#[actix_web::test]
async fn the_same_identity_joining_again_disconnects_the_older_connection_with_53205() {
    let server = TestServer::start().await;
    let (mut first, first_connected) = server.join("alice", "workshop").await;
    let (mut bob, _) = server.join("bob", "workshop").await;
    first.msg().await; // bob arrived

    let (_second, second_connected) = server.join("alice", "workshop").await;
    let error = first.msg().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], 53205);
    assert_eq!(first.closed().await, Some(1000));

    // bob sees the old alice leave, then the new one arrive.
    let left = bob.msg().await;
    assert_eq!(
        left["participants"][0]["sid"],
        first_connected["participant"]["sid"]
    );
    assert_eq!(left["participants"][0]["state"], "disconnected");
    let arrived = bob.msg().await;
    assert_eq!(
        arrived["participants"][0]["sid"],
        second_connected["participant"]["sid"]
    );
    assert_eq!(arrived["participants"][0]["state"], "connected");
    // The newcomer does not see its own older self.
    assert_eq!(
        second_connected["participants"]
            .as_array()
            .expect("participants")
            .iter()
            .map(|p| p["identity"].clone())
            .collect::<Vec<_>>(),
        [json!("bob")]
    );
    assert_eq!(server.connected_identities("workshop"), ["alice", "bob"]);
}

#[actix_web::test]
async fn completing_the_room_over_rest_disconnects_everyone_with_status_completed() {
    let server = TestServer::start().await;
    server.create_room("ending", RoomType::Group);
    let (mut alice, mut bob, _) = pair(&server, "ending").await;

    server
        .store
        .complete_room(&room_key("ending"))
        .expect("completed");
    for client in [&mut alice, &mut bob] {
        assert_eq!(
            client.msg().await,
            json!({"type": "disconnected", "status": "completed"})
        );
        assert_eq!(client.closed().await, Some(1000));
    }
    assert_eq!(server.signaling.connected_count(), 0);
}

#[actix_web::test]
async fn removing_a_participant_over_rest_disconnects_that_client_and_tells_the_others() {
    let server = TestServer::start().await;
    server.create_room("kick", RoomType::Group);
    let (mut alice, mut bob, id) = pair(&server, "kick").await;

    server
        .store
        // What `POST …/Participants/bob` with `Status=disconnected` does.
        .disconnect_participant(
            &room_key("kick"),
            &who("bob"),
            videoroom_emulator_adapter::DisconnectReason::Kicked,
        )
        .expect("kicked");
    assert_eq!(bob.msg().await, json!({"type": "disconnected"}));
    assert_eq!(bob.closed().await, Some(1000));

    let update = alice.msg().await;
    assert_eq!(update["participants"][0]["identity"], "bob");
    assert_eq!(update["participants"][0]["state"], "disconnected");
    assert_eq!(update["peer_connections"][0]["id"], json!(id));
    assert_eq!(
        update["peer_connections"][0]["description"]["type"],
        "close"
    );
    assert_eq!(server.connected_identities("kick"), ["alice"]);
}

#[actix_web::test]
async fn without_ad_hoc_rooms_an_unknown_room_is_refused_with_53106() {
    let server = TestServer::start_with(SignalingOptions {
        ad_hoc_rooms: false,
        ..SignalingOptions::default()
    })
    .await;
    let mut client = Client::open(&server).await;
    client.hello(None).await;
    let answer = client
        .connect(&server.token("alice", Some("nowhere")), None, &[])
        .await;
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["code"], 53106);
}

// ----- Tokens ------------------------------------------------------------------------------------

#[actix_web::test]
async fn every_kind_of_bad_token_is_refused_with_its_twilio_code() {
    let server = TestServer::start().await;
    let now = server.now();
    let header = json!({"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"});
    let claims = |change: &dyn Fn(&mut Value)| {
        let mut claims = json!({
            "jti": "SK-1", "grants": {"identity": "alice", "video": {"room": "workshop"}},
            "iat": now, "exp": now + 3600, "iss": TEST_API_KEY_SID, "sub": TEST_ACCOUNT_SID,
        });
        change(&mut claims);
        claims
    };
    let good = |claims: Value| sign_parts(&header, &claims, TEST_API_KEY_SECRET);
    let cases: Vec<(&str, String, u32)> = vec![
        ("not a JWT", "not-a-token".to_owned(), 20101),
        (
            "wrong header",
            sign_parts(
                &json!({"alg": "HS256", "typ": "JWT"}),
                &claims(&|_| {}),
                TEST_API_KEY_SECRET,
            ),
            20102,
        ),
        (
            "unknown API key",
            good(claims(&|c| {
                c["iss"] = json!("SK00000000000000000000000000000000")
            })),
            20103,
        ),
        (
            "expired",
            good(claims(&|c| c["exp"] = json!(now - 10))),
            20104,
        ),
        (
            "not yet valid",
            good(claims(&|c| c["nbf"] = json!(now + 600))),
            20105,
        ),
        (
            "no identity",
            good(claims(&|c| c["grants"] = json!({"video": {}}))),
            20106,
        ),
        (
            "signed with another secret",
            sign_parts(&header, &claims(&|_| {}), "some-other-secret"),
            20107,
        ),
    ];
    for (what, token, code) in cases {
        let mut client = Client::open(&server).await;
        client.hello(None).await;
        let answer = client.connect(&token, None, &[]).await;
        assert_eq!(answer["type"], "error", "{what}: {answer}");
        assert_eq!(answer["code"], code, "{what}: {answer}");
        assert!(answer["message"].is_string(), "{what}");
        assert_eq!(client.closed().await, Some(1000), "{what}");
    }
    assert_eq!(server.signaling.connected_count(), 0);
}

#[actix_web::test]
async fn a_token_granting_another_room_is_refused_with_20106() {
    let server = TestServer::start().await;
    let mut client = Client::open(&server).await;
    client.hello(None).await;
    let answer = client
        .connect(&server.token("alice", Some("granted")), Some("other"), &[])
        .await;
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["code"], 20106);
}

// ----- Hostile and broken clients ----------------------------------------------------------------

/// alice and bob in a room, to check that nothing a hostile client does reaches them.
async fn bystanders(server: &TestServer) -> (Client, Client, String) {
    pair(server, "bystanders").await
}

async fn bystanders_still_relay(alice: &mut Client, bob: &mut Client, id: &str) {
    let ice = json!({"ice": {"candidates": [], "ufrag": "z", "revision": 9}, "id": id});
    alice
        .send_msg(json!({"type": "update", "peer_connections": [ice]}))
        .await;
    assert_eq!(bob.msg().await["peer_connections"], json!([ice]));
}

#[actix_web::test]
async fn malformed_frames_close_the_socket_with_a_code_and_hurt_nobody_else() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, id) = bystanders(&server).await;
    let huge = format!(
        "{{\"type\":\"heartbeat\",\"pad\":\"{}\"}}",
        "x".repeat(300 * 1024)
    );

    let cases: Vec<(&str, bool, String, u16)> = vec![
        ("invalid JSON", true, "{not json".to_owned(), 1007),
        ("a JSON array", true, "[1,2,3]".to_owned(), 1007),
        (
            "an unknown frame type",
            true,
            json!({"type": "gossip"}).to_string(),
            1008,
        ),
        (
            "a msg before hello",
            false,
            json!({"type": "msg", "body": {"type": "ice"}}).to_string(),
            1008,
        ),
        ("a frame over 256 KiB", true, huge, 1009),
    ];
    for (what, say_hello, text, code) in cases {
        let mut hostile = Client::open(&server).await;
        if say_hello {
            hostile.hello(None).await;
        }
        hostile.send_text(&text).await;
        assert_eq!(hostile.closed().await, Some(code), "{what}");
    }

    let mut binary = Client::open(&server).await;
    binary
        .ws
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send");
    assert_eq!(binary.closed().await, Some(1003));

    alice.silent_for(Duration::from_millis(100)).await;
    bystanders_still_relay(&mut alice, &mut bob, &id).await;
    assert_eq!(server.connected_identities("bystanders"), ["alice", "bob"]);
}

#[actix_web::test]
async fn a_participant_that_turns_hostile_is_removed_and_the_others_are_told() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, _) = bystanders(&server).await;
    let (mut mallory, _) = server.join("mallory", "bystanders").await;
    alice.msg().await;
    bob.msg().await;

    mallory.send_text("{\"type\": ").await;
    assert_eq!(mallory.closed().await, Some(1007));
    for client in [&mut alice, &mut bob] {
        let update = client.msg().await;
        assert_eq!(update["participants"][0]["identity"], "mallory");
        assert_eq!(update["participants"][0]["state"], "disconnected");
    }
    assert_eq!(server.connected_identities("bystanders"), ["alice", "bob"]);
}

#[actix_web::test]
async fn a_flood_of_updates_is_cut_off() {
    let server = TestServer::start_with(SignalingOptions {
        flood_burst: 20,
        flood_per_second: 5,
        ..SignalingOptions::default()
    })
    .await;
    let (mut alice, mut bob, _) = pair(&server, "flood").await;
    let (mut mallory, _) = server.join("mallory", "flood").await;
    alice.msg().await;
    bob.msg().await;

    for revision in 0..100 {
        let frame = json!({"type": "msg", "body": {"type": "update", "peer_connections": [
            {"ice": {"candidates": [], "ufrag": "f", "revision": revision}, "id": "nobody"}]}});
        if mallory
            .ws
            .send(Message::text(frame.to_string()))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(mallory.closed().await, Some(1008));
    let update = alice.msg().await;
    assert_eq!(update["participants"][0]["identity"], "mallory");
    assert_eq!(server.connected_identities("flood"), ["alice", "bob"]);
}

#[actix_web::test]
async fn a_client_whose_updates_make_the_server_send_too_much_to_the_room_is_cut_off() {
    let server = TestServer::start_with(SignalingOptions {
        fanout_burst_bytes: 64 * 1024,
        fanout_bytes_per_second: 8 * 1024,
        ..SignalingOptions::default()
    })
    .await;
    let (mut alice, mut bob, _) = pair(&server, "fanout").await;
    let (mut mallory, _) = server.join("mallory", "fanout").await;
    alice.msg().await;
    bob.msg().await;

    // Every update toggles 32 tracks with the longest names allowed: each goes to both others.
    let tracks = |enabled: bool| -> Vec<Value> {
        (0..32)
            .map(|i| {
                json!({"id": format!("m{i}"), "kind": "audio", "enabled": enabled,
                            "name": format!("{i:0>128}")})
            })
            .collect()
    };
    let mut closed = None;
    for revision in 3..200u64 {
        let update = json!({"type": "msg", "body": {"type": "update", "participant":
            {"revision": revision, "tracks": tracks(revision % 2 == 0)}}});
        if mallory
            .ws
            .send(Message::text(update.to_string()))
            .await
            .is_err()
        {
            break;
        }
        if let Ok(Some(Ok(Message::Close(frame)))) =
            tokio::time::timeout(Duration::from_millis(5), mallory.ws.next()).await
        {
            closed = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    let closed = match closed {
        Some(code) => Some(code),
        None => mallory.closed().await,
    };
    assert_eq!(closed, Some(1008));
    wait_until(|| server.connected_identities("fanout") == ["alice", "bob"]).await;
    // The others stay, and are told mallory left.
    let update = loop {
        let update = alice.msg().await;
        if update["participants"][0]["state"] == "disconnected" {
            break update;
        }
    };
    assert_eq!(update["participants"][0]["identity"], "mallory");
}

#[actix_web::test]
async fn a_socket_that_vanishes_mid_negotiation_is_cleaned_up_and_the_other_side_is_told() {
    let server = TestServer::start().await;
    server.create_room("vanish", RoomType::Group);
    let (mut alice, mut bob, id) = pair(&server, "vanish").await;
    alice
        .send_msg(json!({"type": "update", "peer_connections": [
            {"description": {"type": "offer", "revision": 2, "sdp": "x"}, "id": id}]}))
        .await;
    // bob has the offer and vanishes before answering.
    assert_eq!(
        bob.msg().await["peer_connections"][0]["description"]["type"],
        "offer"
    );

    // No disconnect, no bye, no close frame: the TCP connection just goes away.
    drop(bob);
    let update = alice.msg().await;
    assert_eq!(update["participants"][0]["identity"], "bob");
    assert_eq!(update["participants"][0]["state"], "disconnected");
    assert_eq!(
        update["peer_connections"][0]["description"]["type"],
        "close"
    );
    assert_eq!(server.connected_identities("vanish"), ["alice"]);
}

#[actix_web::test]
async fn the_server_sends_heartbeats_and_closes_a_silent_client_with_3001() {
    let server = TestServer::start_with(SignalingOptions {
        min_heartbeat: Duration::from_millis(200),
        min_silence: Duration::ZERO,
        ..SignalingOptions::default()
    })
    .await;
    let (mut alice, _) = server.join("alice", "quiet").await;
    let mut silent = Client::open(&server).await;
    silent
        .send(json!({"type": "hello", "id": "x", "timeout": 300, "version": 2,
                     "body": {"type": "connect", "version": 2, "token": server.token("silent", Some("quiet")),
                              "participant": {"revision": 1, "tracks": []}}}))
        .await;
    assert_eq!(
        silent.frame().await,
        json!({"type": "welcome", "negotiatedTimeout": 300})
    );
    assert_eq!(silent.msg().await["type"], "connected");
    alice.msg().await; // silent arrived

    // Heartbeats arrive without being asked for.
    let heartbeat = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(Ok(Message::Text(text))) = silent.ws.next().await {
                if text.contains("heartbeat") {
                    return;
                }
            }
        }
    })
    .await;
    assert!(heartbeat.is_ok(), "no heartbeat from the server");

    // Saying nothing for 3 negotiated timeouts ends the session.
    assert_eq!(silent.closed().await, Some(3001));
    let update = alice.msg().await;
    assert_eq!(update["participants"][0]["identity"], "silent");
    assert_eq!(update["participants"][0]["state"], "disconnected");
}

#[actix_web::test]
async fn a_client_that_does_not_read_is_disconnected_instead_of_buffered() {
    let server = TestServer::start_with(SignalingOptions {
        outgoing_queue: 4,
        send_timeout: Duration::from_millis(200),
        flood_burst: 1000,
        ..SignalingOptions::default()
    })
    .await;
    let (mut alice, bob, id) = pair(&server, "slow").await;
    // bob never reads: alice's large offers (within the 64 KiB a relayed state may take) pile up
    // until bob's queue overflows.
    let sdp = "a".repeat(60 * 1024);
    for revision in 2..2000 {
        let offer =
            json!({"description": {"type": "offer", "revision": revision, "sdp": sdp}, "id": id});
        alice
            .send_msg(json!({"type": "update", "peer_connections": [offer]}))
            .await;
        if server.connected_identities("slow").len() == 1 {
            break;
        }
    }
    wait_until(|| server.connected_identities("slow") == ["alice"]).await;
    let update = alice.msg().await;
    assert_eq!(update["participants"][0]["identity"], "bob");
    assert_eq!(update["participants"][0]["state"], "disconnected");
    drop(bob);
}

/// A client whose socket takes almost nothing: a receive window of a few KB, and it never reads
/// once connected, so the server's frames back up at once instead of filling megabytes of
/// kernel buffers first.
async fn join_without_reading(server: &TestServer, identity: &str, room: &str) -> Client {
    let address = server
        .url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .expect("host:port in the URL");
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("a small receive buffer");
    let stream = socket
        .connect(address.parse().expect("a socket address"))
        .await
        .expect("TCP connect");
    let (ws, _) =
        tokio_tungstenite::client_async(server.url.as_str(), MaybeTlsStream::Plain(stream))
            .await
            .expect("WebSocket upgrade");
    let mut client = Client { ws, session: None };
    client
        .handshake_and_connect(
            &server.token(identity, Some(room)),
            None,
            &[video_track(identity)],
        )
        .await;
    client
}

#[actix_web::test]
async fn a_client_dropped_for_not_reading_is_let_go_within_the_close_timeout() {
    let server = TestServer::start_with(SignalingOptions {
        send_timeout: Duration::from_millis(200),
        flood_burst: 10_000,
        ..SignalingOptions::default()
    })
    .await;
    let (mut alice, _) = server.join("alice", "stuck").await;
    let bob = join_without_reading(&server, "bob", "stuck").await;
    let update = alice.msg().await;
    let id = update["peer_connections"][0]["id"]
        .as_str()
        .expect("peer connection id")
        .to_owned();
    assert_eq!(server.signaling.open_connections(), 2);

    let sdp = "a".repeat(60 * 1024);
    for revision in 2..2000 {
        let offer =
            json!({"description": {"type": "offer", "revision": revision, "sdp": sdp}, "id": id});
        alice
            .send_msg(json!({"type": "update", "peer_connections": [offer]}))
            .await;
        if server.connected_identities("stuck").len() == 1 {
            break;
        }
    }
    wait_until(|| server.connected_identities("stuck") == ["alice"]).await;
    // bob still holds its socket open and reads nothing, yet the server lets go of it: its task,
    // its queue and the frames it could not send are freed.
    wait_until(|| server.signaling.open_connections() == 1).await;
    drop(bob);
}

#[actix_web::test]
async fn resuming_a_session_is_answered_with_53001() {
    let server = TestServer::start().await;
    let mut client = Client::open(&server).await;
    client
        .send(
            json!({"type": "hello", "id": "x", "timeout": 5000, "version": 2,
                     "body": {"type": "sync", "version": 2, "session": "4374aa6f57e9fa0c",
                              "token": server.token("alice", Some("workshop"))}}),
        )
        .await;
    assert_eq!(client.frame().await["type"], "welcome");
    let answer = client.msg().await;
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["code"], 53001);
    assert_eq!(client.closed().await, Some(1000));
}

#[actix_web::test]
async fn a_plain_http_request_to_signaling_is_refused_without_harm() {
    let server = TestServer::start().await;
    let http = server.url.replace("ws://", "http://");
    let response = reqwest::get(&http).await.expect("HTTP request");
    assert!(response.status().is_client_error(), "{}", response.status());
    let (_alice, connected) = server.join("alice", "after-http").await;
    assert_eq!(connected["type"], "connected");
}

#[actix_web::test]
async fn disabling_a_track_reaches_the_store_and_the_other_participant() {
    let server = TestServer::start().await;
    let (mut alice, mut bob, _) = pair(&server, "workshop").await;
    let mut muted = video_track("alice");
    muted["enabled"] = json!(false);
    alice
        .send_msg(json!({"type": "update", "participant": {"revision": 3, "tracks": [muted]}}))
        .await;
    assert_eq!(alice.msg().await["published"]["revision"], 2);
    let update = bob.msg().await;
    assert_eq!(update["participants"][0]["tracks"][0]["enabled"], false);
    let tracks = server
        .store
        .published_tracks(&room_key("workshop"), &who("alice"))
        .expect("tracks");
    assert!(!tracks[0].enabled, "the REST API shows the track disabled");
}

#[actix_web::test]
async fn a_session_emits_the_store_events_that_status_callbacks_are_made_of() {
    let server = TestServer::start().await;
    let mut events = server.store.subscribe();
    let (alice, _) = server.join("alice", "callbacks").await;
    let (bob, _) = server.join("bob", "callbacks").await;
    bob.leave().await;
    alice.leave().await;
    let mut seen = Vec::new();
    while seen.last() != Some(&"room-ended") {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("an event within 5 s")
            .expect("the store is alive");
        seen.push(event.kind.as_str());
    }
    assert_eq!(
        seen,
        [
            "room-created",
            "participant-connected",
            "track-added",
            "participant-connected",
            "track-added",
            "track-removed",
            "participant-disconnected",
            "track-removed",
            "participant-disconnected",
            "room-ended",
        ]
    );
}

#[actix_web::test]
async fn a_client_silent_for_a_few_heartbeats_is_kept_like_a_throttled_background_tab() {
    let server = TestServer::start_with(SignalingOptions {
        min_heartbeat: Duration::from_millis(200),
        min_silence: Duration::from_secs(2),
        ..SignalingOptions::default()
    })
    .await;
    let mut sleepy = Client::open(&server).await;
    sleepy
        .send(json!({"type": "hello", "id": "x", "timeout": 200, "version": 2,
                     "body": {"type": "connect", "version": 2, "token": server.token("sleepy", Some("tabs")),
                              "participant": {"revision": 1, "tracks": []}}}))
        .await;
    assert_eq!(sleepy.frame().await["type"], "welcome");
    assert_eq!(sleepy.msg().await["type"], "connected");

    // Five heartbeat periods of silence: still in the room.
    sleepy.silent_for(Duration::from_millis(1000)).await;
    assert_eq!(server.connected_identities("tabs"), ["sleepy"]);
    // Past the floor, it is closed.
    assert_eq!(sleepy.closed().await, Some(3001));
    wait_until(|| server.signaling.connected_count() == 0).await;
}

/// A room reference (SID or unique name), parsed as the REST face parses a path segment.
fn room_key(s: &str) -> RoomKey {
    RoomKey::parse(s).expect("test room references are valid")
}

/// A participant reference (SID or identity), parsed as the REST face parses one.
fn who(s: &str) -> ParticipantKey {
    ParticipantKey::parse(s).expect("test participant references are valid")
}

// ----- Participants connected without signaling --------------------------------------------------

fn simulate(server: &TestServer, room: &str, identity: &str) -> String {
    server
        .store
        .connect_participant(
            &room_key(room),
            &Identity::parse(identity).expect("identity"),
            None,
        )
        .expect("simulated participant connects")
        .participant
        .sid
        .as_str()
        .to_owned()
}

#[actix_web::test]
async fn a_simulated_participant_is_shown_to_sdk_clients_without_tracks() {
    let server = TestServer::start().await;
    server.create_room("sim", RoomType::Group);
    let early = simulate(&server, "sim", "robot");
    let (mut alice, connected) = server.join("alice", "sim").await;
    assert_eq!(
        connected["participants"],
        json!([{"sid": early, "identity": "robot", "revision": 1, "state": "connected", "tracks": []}])
    );
    assert_eq!(connected["subscribed"]["tracks"], json!([]));

    let late = simulate(&server, "sim", "echo");
    let arrived = alice.msg().await;
    assert_eq!(
        arrived,
        json!({"type": "update", "participants": [
            {"sid": late, "identity": "echo", "revision": 1, "state": "connected", "tracks": []}]})
    );

    server
        .store
        .disconnect_participant(
            &room_key("sim"),
            &who("echo"),
            videoroom_emulator_adapter::DisconnectReason::Left,
        )
        .expect("leaves");
    let left = alice.msg().await;
    assert_eq!(left["participants"][0]["sid"], json!(late));
    assert_eq!(left["participants"][0]["state"], "disconnected");
    assert_eq!(left["participants"][0]["revision"], 2);
}

#[actix_web::test]
async fn an_sdk_client_taking_a_simulated_participants_identity_replaces_it() {
    let server = TestServer::start().await;
    server.create_room("sim", RoomType::Group);
    let robot = simulate(&server, "sim", "robot");
    let (mut alice, _) = server.join("alice", "sim").await;
    let (_robot_client, connected) = server.join("robot", "sim").await;
    assert_eq!(connected["participants"][0]["identity"], "alice");
    assert_eq!(connected["participants"].as_array().map(Vec::len), Some(1));

    let left = alice.msg().await;
    assert_eq!(left["participants"][0]["sid"], json!(robot));
    assert_eq!(left["participants"][0]["state"], "disconnected");
    let arrived = alice.msg().await;
    assert_eq!(arrived["participants"][0]["identity"], "robot");
    assert_eq!(arrived["participants"][0]["state"], "connected");
    assert_ne!(arrived["participants"][0]["sid"], json!(robot));
}

#[test]
fn starting_outside_a_runtime_is_refused_without_a_panic() {
    let store = Arc::new(Store::new(Arc::new(ManualClock::fixed())));
    let signaling = Signaling::new(
        store.clone(),
        TokenVerifier::new(vec![seeded_key()]),
        SignalingOptions::default(),
    );
    signaling.start();
    assert_eq!(signaling.connected_count(), 0);
}
