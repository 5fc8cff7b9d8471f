//! Simulcast: which one of a publisher's layers (rids) the media server forwards.
//!
//! A publisher that sends simulcast sends the same track several times, at several qualities,
//! each with its own rid. A subscriber's leg carries one stream, so the media server forwards
//! one layer: the highest that arrives, measured by the bytes each layer brought in the last
//! [`LAYER_WINDOW`] (rids are names a client chooses; their order says nothing). It switches
//! only on a keyframe of the new layer, so the subscriber's decoder never gets a frame that
//! refers to another layer's frames, and asks the publisher for that keyframe meanwhile. When
//! the forwarded layer stops (nothing for [`LAYER_TIMEOUT`]), the next highest takes over the
//! same way. Frames without a rid (no simulcast) are not handled here.

use std::time::{Duration, Instant};

use str0m::media::Rid;

/// How long a layer may send nothing before it counts as stopped.
pub const LAYER_TIMEOUT: Duration = Duration::from_millis(500);

/// The window over which each layer's bytes are counted to rank the layers.
pub const LAYER_WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Layer {
    rid: Rid,
    last_frame: Instant,
    window_start: Instant,
    /// Bytes in the current window, and in the one before.
    bytes: u64,
    previous_bytes: u64,
}

impl Layer {
    /// The layer's rank: its bytes over the longer of the two windows, so that a window that
    /// just began does not make a layer look smaller than it is.
    fn rate(&self) -> u64 {
        self.bytes.max(self.previous_bytes)
    }

    fn is_active(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_frame) < LAYER_TIMEOUT
    }
}

/// What to do with one frame of a simulcast track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Whether the frame is written to the subscribers' legs.
    pub forward: bool,
    /// The layer to ask the publisher a keyframe of, to switch to it.
    pub keyframe_of: Option<Rid>,
}

/// The layers of one published track seen so far, and the one forwarded.
#[derive(Debug, Default)]
pub(crate) struct Layers {
    seen: Vec<Layer>,
    forwarded: Option<Rid>,
}

impl Layers {
    /// The layer forwarded now, if any.
    pub fn forwarded(&self) -> Option<Rid> {
        self.forwarded
    }

    /// Takes a frame of layer `rid` (`bytes` long, a keyframe or not) at `now`.
    pub fn take(&mut self, rid: Rid, bytes: usize, keyframe: bool, now: Instant) -> Decision {
        let index = match self.seen.iter().position(|l| l.rid == rid) {
            Some(index) => index,
            None => {
                self.seen.push(Layer {
                    rid,
                    last_frame: now,
                    window_start: now,
                    bytes: 0,
                    previous_bytes: 0,
                });
                self.seen.len() - 1
            }
        };
        let layer = &mut self.seen[index];
        if now.saturating_duration_since(layer.window_start) >= LAYER_WINDOW {
            layer.previous_bytes = layer.bytes;
            layer.bytes = 0;
            layer.window_start = now;
        }
        layer.bytes += bytes as u64;
        layer.last_frame = now;

        let best = self
            .seen
            .iter()
            .filter(|l| l.is_active(now))
            .max_by_key(|l| l.rate())
            .map(|l| l.rid)
            .expect("the layer of this frame is active");
        if self.forwarded == Some(best) {
            return Decision {
                forward: rid == best,
                keyframe_of: None,
            };
        }
        // The switch happens on the new layer's keyframe.
        if rid == best && keyframe {
            self.forwarded = Some(best);
            return Decision {
                forward: true,
                keyframe_of: None,
            };
        }
        // Meanwhile the layer forwarded so far goes on, while it still arrives.
        let current_active = self
            .forwarded
            .and_then(|f| self.seen.iter().find(|l| l.rid == f))
            .is_some_and(|l| l.is_active(now));
        Decision {
            forward: current_active && self.forwarded == Some(rid),
            keyframe_of: Some(best),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_biggest_layer_wins_on_its_keyframe_and_the_next_takes_over_when_it_stops() {
        let (high, low) = (Rid::from("h"), Rid::from("l"));
        let mut layers = Layers::default();
        let t0 = Instant::now();
        // The low layer arrives first: forwarded from its first keyframe.
        assert!(layers.take(low, 100, true, t0).forward);
        // The high layer is bigger, but its first frame is no keyframe: ask for one, keep low.
        let d = layers.take(high, 1000, false, t0);
        assert_eq!(
            d,
            Decision {
                forward: false,
                keyframe_of: Some(high)
            }
        );
        assert!(layers.take(low, 100, false, t0).forward);
        assert!(
            layers.take(high, 1000, true, t0).forward,
            "switched up on its keyframe"
        );
        assert!(!layers.take(low, 100, true, t0).forward);
        assert_eq!(layers.forwarded(), Some(high));
        // The high layer stops; after the timeout the low one takes over on a keyframe.
        let later = t0 + LAYER_TIMEOUT + Duration::from_millis(1);
        let d = layers.take(low, 100, false, later);
        assert_eq!(
            d,
            Decision {
                forward: false,
                keyframe_of: Some(low)
            }
        );
        assert!(layers.take(low, 100, true, later).forward);
        assert_eq!(layers.forwarded(), Some(low));
    }
}
