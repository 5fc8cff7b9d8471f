//! The timing the media bench relies on (crates/media/benches/media.rs): when a frame left its
//! publisher and when the kernel queued it at the subscriber. A wrong order would show as a
//! latency of zero or a negative one clamped to zero, which no assertion of the bench sees.
//! Linux only: the arrival times are the kernel's (SO_TIMESTAMPNS).
#![cfg(target_os = "linux")]

use std::time::Duration;

use crate::client::{frame_number_of, pump, Client};
use crate::forwarding::loopback_sfu;

#[test]
fn a_frame_reaches_the_subscriber_s_socket_after_its_last_datagram_left_and_before_it_is_handed_over(
) {
    let sfu = loopback_sfu();
    let mut alice = Client::new("alice");
    let mut bob = Client::new("bob");
    bob.time_arrivals();
    alice.join(&sfu);
    bob.join(&sfu);
    alice.renegotiate(&sfu);
    pump(&mut [&mut alice, &mut bob], "alice's frames at bob", |c| {
        c[1].frames_of("alice-camera") >= 5
    });

    assert_eq!(
        bob.received_on_wire.len(),
        bob.received.len(),
        "every frame bob received has its arrival time on the wire"
    );
    let mut checked = 0;
    for (i, (named, payload)) in bob.received.iter().enumerate() {
        if named.as_deref() != Some("alice-camera") {
            continue;
        }
        let number = frame_number_of(payload).expect("a video frame carries its number") as usize;
        let (first_sent, last_sent) = (alice.written_at[number], alice.sent_whole_at[number]);
        let (on_wire, handed_over) = (bob.received_on_wire[i], bob.received_at[i]);
        assert!(
            first_sent <= last_sent,
            "frame {number}: its first datagram left after its last"
        );
        assert!(
            last_sent <= on_wire,
            "frame {number}: bob's kernel queued it {:?} before alice sent its last datagram",
            last_sent - on_wire
        );
        assert!(
            on_wire <= handed_over,
            "frame {number}: handed over before it arrived"
        );
        // On loopback, through one server, a frame takes well under a second.
        assert!(
            on_wire - last_sent < Duration::from_secs(1),
            "frame {number}: {:?} on the wire, the kernel's clock and ours disagree",
            on_wire - last_sent
        );
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} of alice's frames were checked"
    );
}

/// A client keeps its frame clock: a frame written late takes the slot it was due in, the next
/// is due one interval after that slot (not after the late write), and slots missed altogether
/// are skipped. The media bench spreads its publishers' phases over the frame interval; a clock
/// that restarted at each late write let them drift together under load.
#[test]
fn a_late_frame_keeps_the_client_s_phase() {
    use crate::client::slot;
    use std::time::Instant;
    let ms = Duration::from_millis;
    let from = Instant::now();
    let interval = ms(33);
    // The first frame, 5 ms late: its slot is the phase the benchmark gave.
    let first = slot(None, Some(from), interval, from + ms(5));
    assert_eq!(first, from);
    // The second, 10 ms late: due at 33 ms, still dated there.
    let second = slot(Some(first), Some(from), interval, from + ms(43));
    assert_eq!(second, from + ms(33));
    // A thread that slept 80 ms past the third slot: the missed slots are skipped, and the
    // frame takes the latest slot before now.
    let third = slot(Some(second), Some(from), interval, from + ms(33 + 33 + 80));
    assert_eq!(third, from + ms(33 * 4));
    // Without a phase, the first frame starts the clock.
    let now = Instant::now();
    assert_eq!(slot(None, None, interval, now), now);
}
