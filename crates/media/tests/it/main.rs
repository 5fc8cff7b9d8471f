//! The media server's tests, in one binary: scripted WebRTC clients (str0m, the same library)
//! talk to an [`videoroom_media::Sfu`] over 127.0.0.1 only.

mod client;
mod forwarding;
mod recording;
mod simulcast;
mod subscriptions;
mod timing;
