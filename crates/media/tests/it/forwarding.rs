//! Forwarding between scripted clients: frames, track identity, keyframe requests and the
//! server's renegotiation when participants come and go.

use std::net::SocketAddr;

use str0m::media::KeyframeRequestKind;
use videoroom_media::{MediaError, Sfu};

use crate::client::{pump, sections, Client};

pub(crate) fn loopback_sfu() -> Sfu {
    Sfu::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("a free UDP port on loopback")
}

/// The sections of `offer` that send a track to the subscriber, by the track their msid names.
pub(crate) fn offered_tracks(offer: &str) -> Vec<String> {
    sections(offer)
        .into_iter()
        .filter(|s| !s.rejected && s.direction.as_deref() == Some("sendonly"))
        .filter_map(|s| s.msid_track)
        .collect()
}

/// Alice and Bob joined, each subscribed to the other, frames flowing both ways.
fn two_in_a_room(sfu: &Sfu) -> (Client, Client) {
    let mut alice = Client::new("alice");
    let mut bob = Client::new("bob");
    alice.join(sfu);
    bob.join(sfu);
    // Bob's track arrived after Alice joined: she gets a server offer for it.
    alice.renegotiate(sfu);
    pump(&mut [&mut alice, &mut bob], "frames both ways", |c| {
        c[0].frames_of("bob-camera") >= 3 && c[1].frames_of("alice-camera") >= 3
    });
    (alice, bob)
}

#[test]
fn two_publishers_each_receive_the_others_frames_under_the_publishers_track_id() {
    let sfu = loopback_sfu();
    let mut alice = Client::new("alice");
    let mut bob = Client::new("bob");
    alice.join(&sfu);
    assert_eq!(
        sfu.pending_offer(&alice.id).expect("alice joined"),
        None,
        "alone in the room, alice has nothing to receive"
    );

    let offer = bob.publish_offer();
    let answer = sfu
        .join(&bob.room, &bob.id, &offer)
        .expect("the media server answers bob");
    assert!(
        answer.contains("a=ice-lite"),
        "the media server is ICE-lite: {answer}"
    );
    assert!(
        answer.contains("a=candidate:") && answer.contains("127.0.0.1"),
        "the answer carries the loopback host candidate: {answer}"
    );
    bob.accept_answer(&answer);

    let to_bob = bob.renegotiate(&sfu).expect("bob is offered alice's track");
    assert_eq!(offered_tracks(&to_bob), ["alice-camera"]);
    let to_alice = alice
        .renegotiate(&sfu)
        .expect("alice is offered bob's track");
    assert_eq!(offered_tracks(&to_alice), ["bob-camera"]);

    pump(&mut [&mut alice, &mut bob], "frames both ways", |c| {
        c[0].frames_of("bob-camera") >= 5 && c[1].frames_of("alice-camera") >= 5
    });
    assert_eq!(
        alice.misrouted_frames(),
        0,
        "every frame alice got is named for its track"
    );
    assert_eq!(
        bob.misrouted_frames(),
        0,
        "every frame bob got is named for its track"
    );
}

#[test]
fn audio_is_forwarded_beside_video_each_under_its_own_track_id() {
    let sfu = loopback_sfu();
    let mut alice = Client::new("alice").with_microphone("alice-microphone");
    let mut bob = Client::new("bob").with_microphone("bob-microphone");
    alice.join(&sfu);
    let to_bob = {
        let offer = bob.publish_offer();
        let answer = sfu
            .join(&bob.room, &bob.id, &offer)
            .expect("the media server answers bob");
        bob.accept_answer(&answer);
        bob.renegotiate(&sfu)
            .expect("bob is offered alice's tracks")
    };
    assert_eq!(
        offered_tracks(&to_bob),
        ["alice-microphone", "alice-camera"]
    );
    alice
        .renegotiate(&sfu)
        .expect("alice is offered bob's tracks");

    pump(
        &mut [&mut alice, &mut bob],
        "audio and video both ways",
        |c| {
            c[0].frames_of("bob-microphone") >= 5
                && c[0].frames_of("bob-camera") >= 3
                && c[1].frames_of("alice-microphone") >= 5
                && c[1].frames_of("alice-camera") >= 3
        },
    );
    assert_eq!(alice.misrouted_frames(), 0);
    assert_eq!(bob.misrouted_frames(), 0);
}

#[test]
fn h264_from_a_publisher_without_vp8_reaches_a_subscriber_that_has_both() {
    let sfu = loopback_sfu();
    let mut alice = Client::h264_only("alice");
    let mut bob = Client::new("bob");
    alice.join(&sfu);
    let to_bob = {
        let offer = bob.publish_offer();
        let answer = sfu
            .join(&bob.room, &bob.id, &offer)
            .expect("the media server answers bob");
        bob.accept_answer(&answer);
        bob.renegotiate(&sfu)
            .expect("bob is offered alice's camera")
    };
    assert!(
        to_bob.contains("H264/90000"),
        "the server offers H.264: {to_bob}"
    );
    alice.renegotiate(&sfu);

    pump(
        &mut [&mut alice, &mut bob],
        "alice's H.264 frames at bob",
        |c| c[1].frames_of("alice-camera") >= 3,
    );
    assert_eq!(bob.misrouted_frames(), 0);
}

#[test]
fn an_answered_leg_asks_the_publisher_for_a_keyframe_and_subscriber_requests_reach_it() {
    let sfu = loopback_sfu();
    let (mut alice, mut bob) = two_in_a_room(&sfu);
    // The server's own requests (a new subscriber leg) are PLIs.
    pump(&mut [&mut alice, &mut bob], "a PLI for each new leg", |c| {
        c.iter()
            .all(|c| c.keyframe_requests.contains(&KeyframeRequestKind::Pli))
    });

    // A FIR can only have come from the subscriber, through the server.
    assert!(!alice.keyframe_requests.contains(&KeyframeRequestKind::Fir));
    bob.request_keyframe("alice-camera", KeyframeRequestKind::Fir);
    pump(&mut [&mut alice, &mut bob], "bob's FIR at alice", |c| {
        c[0].keyframe_requests.contains(&KeyframeRequestKind::Fir)
    });
}

#[test]
fn a_third_participant_is_offered_to_the_others_and_receives_them() {
    let sfu = loopback_sfu();
    let (mut alice, mut bob) = two_in_a_room(&sfu);

    let mut carol = Client::new("carol");
    let offer = carol.publish_offer();
    let answer = sfu
        .join(&carol.room, &carol.id, &offer)
        .expect("the media server answers carol");
    carol.accept_answer(&answer);
    let to_carol = carol
        .renegotiate(&sfu)
        .expect("carol is offered the room's tracks");
    let mut tracks = offered_tracks(&to_carol);
    tracks.sort();
    assert_eq!(tracks, ["alice-camera", "bob-camera"]);

    let to_alice = alice
        .renegotiate(&sfu)
        .expect("alice is offered carol's track");
    assert_eq!(offered_tracks(&to_alice), ["bob-camera", "carol-camera"]);
    let to_bob = bob.renegotiate(&sfu).expect("bob is offered carol's track");
    assert_eq!(offered_tracks(&to_bob), ["alice-camera", "carol-camera"]);

    pump(
        &mut [&mut alice, &mut bob, &mut carol],
        "everyone's frames everywhere",
        |c| {
            c[0].frames_of("carol-camera") >= 3
                && c[1].frames_of("carol-camera") >= 3
                && c[2].frames_of("alice-camera") >= 3
                && c[2].frames_of("bob-camera") >= 3
        },
    );
    for client in [&alice, &bob, &carol] {
        assert_eq!(
            client.misrouted_frames(),
            0,
            "{} got a misrouted frame",
            client.id
        );
    }
}

#[test]
fn a_leaving_participant_s_m_line_is_stopped_in_the_others_next_offer() {
    let sfu = loopback_sfu();
    let (mut alice, mut bob) = two_in_a_room(&sfu);
    let mut carol = Client::new("carol");
    carol.join(&sfu);
    alice
        .renegotiate(&sfu)
        .expect("alice is offered carol's track");
    bob.renegotiate(&sfu).expect("bob is offered carol's track");
    pump(
        &mut [&mut alice, &mut bob, &mut carol],
        "carol's frames at alice and bob",
        |c| c[0].frames_of("carol-camera") >= 3 && c[1].frames_of("carol-camera") >= 3,
    );

    sfu.leave(&carol.id).expect("carol was on the media server");
    drop(carol);
    for client in [&mut alice, &mut bob] {
        let carol_mid = client
            .mid_of("carol-camera")
            .expect("carol's track was offered");
        let offer = client
            .renegotiate(&sfu)
            .expect("the others are offered carol's removal");
        let carol_line = sections(&offer)
            .into_iter()
            .find(|s| s.mid.as_deref() == Some(&*carol_mid))
            .expect("an m-line is never removed from an offer, only stopped");
        assert!(
            carol_line.rejected,
            "carol's m-line is stopped (port 0) in {}'s offer: {offer}",
            client.id
        );
        assert!(!offered_tracks(&offer).contains(&"carol-camera".to_owned()));
        assert_eq!(client.mid_of("carol-camera"), None);
    }
    assert_eq!(sfu.pending_offer(&alice.id).expect("alice is there"), None);

    // The rest of the room keeps its media.
    let (alice_before, bob_before) = (alice.frames_of("bob-camera"), bob.frames_of("alice-camera"));
    pump(
        &mut [&mut alice, &mut bob],
        "frames both ways after carol left",
        |c| {
            c[0].frames_of("bob-camera") >= alice_before + 3
                && c[1].frames_of("alice-camera") >= bob_before + 3
        },
    );
}

#[test]
fn participants_of_another_room_are_neither_offered_nor_sent_anything() {
    let sfu = loopback_sfu();
    let (mut alice, mut bob) = two_in_a_room(&sfu);
    let mut dave = Client::in_room("dave", "RMother");
    dave.join(&sfu);
    assert_eq!(sfu.pending_offer(&dave.id).expect("dave joined"), None);
    assert_eq!(sfu.pending_offer(&alice.id).expect("alice is there"), None);
    assert_eq!(sfu.pending_offer(&bob.id).expect("bob is there"), None);

    let mut erin = Client::in_room("erin", "RMother");
    erin.join(&sfu);
    let to_dave = dave
        .renegotiate(&sfu)
        .expect("dave is offered erin's track");
    assert_eq!(offered_tracks(&to_dave), ["erin-camera"]);
    pump(
        &mut [&mut alice, &mut bob, &mut dave, &mut erin],
        "frames in both rooms",
        |c| {
            c[0].frames_of("bob-camera") >= 3
                && c[2].frames_of("erin-camera") >= 3
                && c[3].frames_of("dave-camera") >= 3
        },
    );
    for client in [&alice, &bob, &dave, &erin] {
        assert_eq!(
            client.misrouted_frames(),
            0,
            "{} got a misrouted frame",
            client.id
        );
    }
}

#[test]
fn a_track_published_later_is_offered_to_the_others() {
    let sfu = loopback_sfu();
    let (mut alice, mut bob) = two_in_a_room(&sfu);

    let offer = alice.add_track_offer("alice-screen");
    let answer = sfu
        .offer(&alice.id, &offer)
        .expect("the media server answers alice's re-offer");
    alice.accept_answer(&answer);
    assert_eq!(sfu.pending_offer(&alice.id).expect("alice is there"), None);

    let to_bob = bob
        .renegotiate(&sfu)
        .expect("bob is offered alice's new track");
    assert_eq!(offered_tracks(&to_bob), ["alice-camera", "alice-screen"]);
    // Frames still flow on the legs negotiated before.
    let before = bob.frames_of("alice-camera");
    pump(
        &mut [&mut alice, &mut bob],
        "alice's camera at bob after the re-offer",
        |c| c[1].frames_of("alice-camera") >= before + 3,
    );
}

#[test]
fn a_track_published_again_while_its_old_m_line_is_being_stopped_gets_a_new_one() {
    let sfu = loopback_sfu();
    let (mut alice, mut bob) = two_in_a_room(&sfu);
    let old_mid = bob
        .mid_of("alice-camera")
        .expect("bob receives alice's camera");

    let unpublish = alice.camera_offer(false);
    let answer = sfu.offer(&alice.id, &unpublish).expect("alice unpublishes");
    alice.accept_answer(&answer);
    let stop = sfu
        .pending_offer(&bob.id)
        .expect("bob is there")
        .expect("bob is offered the stop of alice's camera");
    // Alice publishes again before bob has answered the stop.
    let republish = alice.camera_offer(true);
    let answer = sfu
        .offer(&alice.id, &republish)
        .expect("alice publishes again");
    alice.accept_answer(&answer);
    let stop_answer = bob.accept_offer(&stop);
    sfu.answer(&bob.id, &stop_answer)
        .expect("bob answers the stop");

    let to_bob = bob
        .renegotiate(&sfu)
        .expect("bob is offered alice's camera again");
    assert_eq!(offered_tracks(&to_bob), ["alice-camera"]);
    let new_mid = bob.mid_of("alice-camera").expect("on a new m-line");
    assert_ne!(new_mid, old_mid, "an m-line is never re-pointed");
}

#[test]
fn a_client_offer_that_crosses_the_server_s_offer_is_refused() {
    let sfu = loopback_sfu();
    let (mut alice, _bob) = two_in_a_room(&sfu);
    let mut carol = Client::new("carol");
    carol.join(&sfu);
    let server_offer = sfu.pending_offer(&alice.id).expect("alice is there");
    assert!(server_offer.is_some(), "alice is offered carol's track");

    // Alice publishes before she has seen the server's offer (glare). Accepting her offer
    // would silently drop the server's; she answers it first and offers again.
    let crossing = alice.add_track_offer("alice-screen");
    let err = sfu
        .offer(&alice.id, &crossing)
        .expect_err("the server's offer is pending");
    assert!(
        matches!(err, MediaError::OfferCollision(ref id) if *id == alice.id),
        "{err}"
    );
    assert_eq!(
        sfu.pending_offer(&alice.id).expect("alice is there"),
        None,
        "the server's offer still waits for its answer"
    );
}

/// Chrome refuses a re-offer that renumbers a payload type or header extension already
/// negotiated in the bundle ("RTP extension ID reassignment not supported"): every
/// `a=rtpmap` and `a=extmap` number must keep its meaning across all descriptions the server
/// sends one participant.
#[test]
fn the_server_s_descriptions_keep_payload_types_and_extension_ids_stable() {
    let sfu = loopback_sfu();
    let mut alice = Client::new("alice").with_microphone("alice-microphone");
    let offer = alice.publish_offer();
    let answer = sfu
        .join(&alice.room, &alice.id, &offer)
        .expect("the media server answers alice");
    alice.accept_answer(&answer);
    let mut descriptions = vec![answer];
    for name in ["bob", "carol"] {
        let mut other = Client::new(name).with_microphone(&format!("{name}-microphone"));
        other.join(&sfu);
        descriptions.push(
            alice
                .renegotiate(&sfu)
                .expect("alice is offered the newcomer"),
        );
    }

    let mut meaning: std::collections::HashMap<String, String> = Default::default();
    for description in &descriptions {
        for line in description.split("\r\n") {
            let Some((attribute, rest)) = line
                .strip_prefix("a=rtpmap:")
                .map(|r| ("rtpmap", r))
                .or_else(|| line.strip_prefix("a=extmap:").map(|r| ("extmap", r)))
            else {
                continue;
            };
            let (number, what) = rest.split_once(' ').expect("a number and its meaning");
            let number = number.split('/').next().expect("an extmap id");
            let key = format!("{attribute} {number}");
            let known = meaning
                .entry(key.clone())
                .or_insert_with(|| what.to_owned());
            assert_eq!(known, what, "{key} changed meaning in: {description}");
        }
    }
    assert!(
        meaning.keys().any(|k| k.starts_with("extmap")),
        "extensions were negotiated"
    );
}

#[test]
fn the_media_server_can_be_shared_by_the_signaling_s_tasks() {
    fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<Sfu>();
}

#[test]
fn calls_name_the_participant_and_the_fix() {
    let sfu = loopback_sfu();
    let mut alice = Client::new("alice");
    alice.join(&sfu);

    let second_offer = Client::new("alice").publish_offer();
    let err = sfu
        .join(&alice.room, &alice.id, &second_offer)
        .expect_err("alice is already there");
    assert!(
        matches!(err, MediaError::AlreadyJoined(ref id) if *id == alice.id),
        "{err}"
    );
    let err = sfu.answer("PAnobody", "v=0").expect_err("nobody joined");
    assert!(err.to_string().contains("PAnobody"), "{err}");
    let err = sfu
        .answer(&alice.id, "v=0")
        .expect_err("no offer was made to alice");
    assert!(matches!(err, MediaError::NoOfferPending(_)), "{err}");
    let err = sfu
        .join("RMroom", "PAbroken", "not sdp")
        .expect_err("garbage is not an offer");
    assert!(matches!(err, MediaError::BadSdp { .. }), "{err}");
    let err =
        Sfu::bind(SocketAddr::from(([0, 0, 0, 0], 0))).expect_err("0.0.0.0 is not advertisable");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}

#[test]
fn stats_count_what_each_participant_publishes_and_receives() {
    let sfu = loopback_sfu();
    let (mut alice, mut bob) = two_in_a_room(&sfu);
    // str0m reports every second: pump until both directions have a report with a bitrate.
    let reported = |sfu: &Sfu| {
        let stats = sfu.stats();
        let alice = stats.iter().find(|p| p.participant == "PAalice");
        alice.is_some_and(|a| {
            a.publishes.iter().any(|t| {
                t.track_id == "alice-camera" && t.counters.packets > 0 && t.counters.bitrate_bps > 0
            }) && a.receives.iter().any(|t| {
                t.track_id == "bob-camera"
                    && t.publisher == "PAbob"
                    && t.counters.packets > 0
                    && t.counters.bitrate_bps > 0
            })
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !reported(&sfu) {
        assert!(
            std::time::Instant::now() < deadline,
            "no stats: {:?}",
            sfu.stats()
        );
        pump(&mut [&mut alice, &mut bob], "a few more frames", |c| {
            c[0].frames_of("bob-camera") > 0
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stats = sfu.stats();
    let bob_stats = stats
        .iter()
        .find(|p| p.participant == "PAbob")
        .expect("bob");
    assert_eq!(bob_stats.room, "RMroom");
    assert_eq!(bob_stats.publishes[0].kind, "video");
}

#[test]
fn every_advertised_address_gets_its_own_socket_on_one_port_and_a_client_can_use_the_second() {
    use std::net::IpAddr;
    let ips: [IpAddr; 2] = [[127, 0, 0, 1].into(), [127, 0, 0, 2].into()];
    let sfu = Sfu::bind_all(&ips, 0).expect("127.0.0.1 and 127.0.0.2 are both on lo");
    let addrs = sfu.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    assert_eq!(addrs[0].ip(), ips[0]);
    assert_eq!(addrs[1].ip(), ips[1]);
    assert_eq!(
        addrs[0].port(),
        addrs[1].port(),
        "one port for every address"
    );
    assert_ne!(addrs[0].port(), 0);

    // Alice reaches the server only through 127.0.0.1, Bob only through 127.0.0.2.
    let mut alice = Client::new("alice").reaching(addrs[0]);
    let mut bob = Client::new("bob").reaching(addrs[1]);
    alice.join(&sfu);
    let offer = bob.publish_offer();
    let answer = sfu
        .join(&bob.room, &bob.id, &offer)
        .expect("the media server answers bob");
    for addr in &addrs {
        assert!(
            answer.contains(&format!("{} {} typ host", addr.ip(), addr.port())),
            "one host candidate per address ({addr}): {answer}"
        );
    }
    bob.accept_answer(&answer);
    bob.renegotiate(&sfu).expect("bob is offered alice's track");
    alice
        .renegotiate(&sfu)
        .expect("alice is offered bob's track");
    pump(&mut [&mut alice, &mut bob], "frames both ways", |c| {
        c[0].frames_of("bob-camera") >= 3 && c[1].frames_of("alice-camera") >= 3
    });
    assert_eq!(
        bob.server_addresses_seen(),
        vec![addrs[1]],
        "bob only ever heard from 127.0.0.2"
    );
    assert_eq!(alice.server_addresses_seen(), vec![addrs[0]]);

    // Ports in use: a clear error naming the address.
    let taken = Sfu::bind_all(&ips, addrs[0].port()).expect_err("the port is taken");
    assert!(taken.to_string().contains("127.0.0.1"), "{taken}");
    assert!(matches!(Sfu::bind_all(&[], 0), Err(MediaError::NoAddress)));
}
