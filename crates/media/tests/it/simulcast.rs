//! Simulcast: a publisher sending two layers (rids) reaches a subscriber as one layer, the
//! highest that arrives, and the next one when it stops.

use crate::client::{pump, Client};
use crate::forwarding::loopback_sfu;

#[test]
fn of_two_simulcast_layers_the_higher_is_forwarded_and_the_lower_takes_over_when_it_stops() {
    let sfu = loopback_sfu();
    let mut alice = Client::new("alice").with_simulcast(&[("h", 1000), ("l", 10)]);
    let mut bob = Client::new("bob");
    alice.join(&sfu);
    bob.join(&sfu);
    alice.renegotiate(&sfu);
    pump(
        &mut [&mut alice, &mut bob],
        "alice's high layer at bob",
        |c| c[1].frames_of_layer("h") >= 10,
    );
    // Once on the high layer, the low one is not forwarded beside it.
    let low_before = bob.frames_of_layer("l");
    let high_before = bob.frames_of_layer("h");
    pump(&mut [&mut alice, &mut bob], "more of the high layer", |c| {
        c[1].frames_of_layer("h") >= high_before + 20
    });
    assert_eq!(
        bob.frames_of_layer("l"),
        low_before,
        "only one layer reaches bob"
    );
    assert_eq!(bob.misrouted_frames(), 0);

    // The high layer stops (as a browser's does when its uplink shrinks): the low one takes
    // over, and only it arrives.
    alice.sending_layers.retain(|(rid, _)| rid == "l");
    let high_stopped = bob.frames_of_layer("h");
    pump(&mut [&mut alice, &mut bob], "the low layer at bob", |c| {
        c[1].frames_of_layer("l") >= low_before + 10
    });
    assert!(
        bob.frames_of_layer("h") <= high_stopped + 1,
        "no high-layer frame after it stopped (one may have been in flight)"
    );

    // It comes back: the server switches up again.
    alice.sending_layers = vec![("h".to_owned(), 1000), ("l".to_owned(), 10)];
    let high_again = bob.frames_of_layer("h");
    pump(
        &mut [&mut alice, &mut bob],
        "the high layer at bob again",
        |c| c[1].frames_of_layer("h") >= high_again + 10,
    );
}
