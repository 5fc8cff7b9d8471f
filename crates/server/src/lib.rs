//! `videoroom-server`: the token service of the Twilio Video workshop, as a library that the
//! `videoroom` binary wires up.
//!
//! It answers `GET`/`POST /video-token` (find or create the room, mint the access token),
//! `GET /healthz`, serves the workshop page, and in emulator mode mounts the emulator's REST,
//! signaling and inspector routes on its own port, so one `cargo run` serves a whole workshop.
//! It reads its [`settings::Settings`] once, from layered sources, and refuses to start on an
//! invalid value.
//!
//! It deliberately holds no room logic of its own: rooms are found or created by
//! `videoroom_core::RoomService` through the backend port, and tokens are minted by core's
//! `TokenSigner`. No input produces a 500 or a panic; no token or secret is ever logged.

pub mod access;
pub mod banner;
pub mod cli;
pub mod error;
mod idle_probe;
pub mod lan;
pub mod messages;
pub mod metrics;
pub mod params;
pub mod resilience;
pub mod settings;
pub mod startup;
mod startup_upstream;
pub mod status_callback;
pub mod telemetry;
pub mod tls;
pub mod video_token;
pub mod workshop;

pub use settings::Settings;
pub use startup::{Application, Backend};
