//! Subscriptions: the media server forwards a track only to subscribers whose subscriptions
//! admit it, and renegotiates when they change (the emulator's subscribe rules).

use videoroom_media::Subscriptions;

use crate::client::{pump, sections, Client};
use crate::forwarding::{loopback_sfu, offered_tracks};

#[test]
fn excluding_a_publisher_s_video_stops_its_frames_and_including_it_again_brings_them_back() {
    let sfu = loopback_sfu();
    let mut alice = Client::new("alice").with_microphone("alice-microphone");
    let mut bob = Client::new("bob");
    alice.join(&sfu);
    bob.join(&sfu);
    alice
        .renegotiate(&sfu)
        .expect("alice is offered bob's camera");
    pump(&mut [&mut alice, &mut bob], "alice's tracks at bob", |c| {
        c[1].frames_of("alice-camera") >= 3 && c[1].frames_of("alice-microphone") >= 3
    });

    // Bob's rules now exclude alice's video: he keeps her microphone only.
    sfu.subscribe(
        &bob.id,
        Subscriptions::only([(alice.id.as_str(), "alice-microphone")]),
    )
    .expect("bob is on the media server");
    let camera_mid = bob
        .mid_of("alice-camera")
        .expect("alice's camera was offered");
    let offer = bob
        .renegotiate(&sfu)
        .expect("bob is offered the camera's removal");
    let camera_line = sections(&offer)
        .into_iter()
        .find(|s| s.mid.as_deref() == Some(&*camera_mid))
        .expect("the camera's m-line stays in the offer, stopped");
    assert!(
        camera_line.rejected,
        "the camera's m-line is stopped: {offer}"
    );
    assert_eq!(offered_tracks(&offer), ["alice-microphone"]);
    assert_eq!(
        sfu.pending_offer(&alice.id).expect("alice is there"),
        None,
        "alice's own subscriptions did not change"
    );

    let camera_before = bob.frames_of("alice-camera");
    let microphone_before = bob.frames_of("alice-microphone");
    let at_alice_before = alice.frames_of("bob-camera");
    pump(
        &mut [&mut alice, &mut bob],
        "alice's microphone at bob and bob's camera at alice, for a while",
        |c| {
            c[1].frames_of("alice-microphone") >= microphone_before + 25
                && c[0].frames_of("bob-camera") >= at_alice_before + 10
        },
    );
    assert_eq!(
        bob.frames_of("alice-camera"),
        camera_before,
        "no frame of alice's excluded camera reached bob"
    );
    assert_eq!(
        bob.misrouted_frames(),
        0,
        "nothing arrived on the stopped m-line"
    );

    // Included again: a new m-line, and frames again.
    sfu.subscribe(&bob.id, Subscriptions::All)
        .expect("bob is on the media server");
    let offer = bob
        .renegotiate(&sfu)
        .expect("bob is offered alice's camera again");
    assert_eq!(offered_tracks(&offer), ["alice-microphone", "alice-camera"]);
    let new_mid = bob
        .mid_of("alice-camera")
        .expect("alice's camera is offered again");
    assert_ne!(new_mid, camera_mid, "a stopped m-line is never reused");
    pump(
        &mut [&mut alice, &mut bob],
        "alice's camera at bob again",
        |c| c[1].frames_of("alice-camera") >= camera_before + 3,
    );
    assert_eq!(bob.misrouted_frames(), 0);
}

#[test]
fn a_track_published_later_reaches_only_subscribers_that_admit_it() {
    let sfu = loopback_sfu();
    let mut alice = Client::new("alice");
    let mut bob = Client::new("bob");
    let mut carol = Client::new("carol");
    alice.join(&sfu);
    // Bob admits nothing of alice's but her camera, before anything was offered to him.
    let offer = bob.publish_offer();
    let answer = sfu
        .join(&bob.room, &bob.id, &offer)
        .expect("the media server answers bob");
    bob.accept_answer(&answer);
    sfu.subscribe(
        &bob.id,
        Subscriptions::only([(alice.id.as_str(), "alice-camera")]),
    )
    .expect("bob is on the media server");
    let to_bob = bob
        .renegotiate(&sfu)
        .expect("bob is offered alice's camera");
    assert_eq!(offered_tracks(&to_bob), ["alice-camera"]);
    carol.join(&sfu);
    alice.renegotiate(&sfu);
    assert_eq!(
        sfu.pending_offer(&bob.id).expect("bob is there"),
        None,
        "carol's camera is not admitted by bob's subscriptions"
    );

    let offer = alice.add_track_offer("alice-screen");
    let answer = sfu
        .offer(&alice.id, &offer)
        .expect("alice's re-offer is answered");
    alice.accept_answer(&answer);
    let to_carol = carol
        .renegotiate(&sfu)
        .expect("carol admits everything: she is offered the screen");
    assert!(offered_tracks(&to_carol).contains(&"alice-screen".to_owned()));
    assert_eq!(
        sfu.pending_offer(&bob.id).expect("bob is there"),
        None,
        "bob does not admit alice's screen"
    );
}
