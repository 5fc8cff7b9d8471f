//! Helpers that several crates' tests (and the signaling benchmark) need, written once:
//!
//! - [`binary`]: a project binary started on port 0 with no developer credentials, read up to
//!   its `listening on` line;
//! - [`serve`] (feature `emulator`): an actix app or a whole emulator on a loopback port;
//! - [`assert_token_snapshot!`]: an insta snapshot of a token without its time-dependent claims;
//! - [`counting::CountingBackend`]: a `RoomBackend` decorator that counts calls.
//!
//! This crate is only ever a dev-dependency (see its Cargo.toml).

// A panic is how a test helper reports a broken set-up.
#![allow(clippy::unwrap_used)]

pub mod binary;
pub mod counting;
#[cfg(feature = "emulator")]
pub mod serve;
pub mod token;

/// Re-exported so that [`assert_token_snapshot!`] works in crates that name insta only through
/// this one.
pub use insta;
