//! Helpers that several crates' tests (and the signaling benchmark) need, written once:
//!
//! - [`binary`]: a project binary started on port 0 with no developer credentials, read up to
//!   its `listening on` line;
//! - [`serve`] (feature `emulator`): an actix app or a whole emulator on a loopback port;
//! - [`assert_token_snapshot!`]: an insta snapshot of a token without its time-dependent claims;
//! - [`counting::CountingBackend`]: a `RoomBackend` decorator that counts calls;
//! - [`load`]: the benchmarks' lean HTTP/1.1 keep-alive load generator.
//!
//! This crate is only ever a dev-dependency (see its Cargo.toml).

// A panic is how a test helper reports a broken set-up.
#![allow(clippy::unwrap_used)]

pub mod binary;
pub mod chart;
pub mod counting;
pub mod load;
pub mod measure;
#[cfg(feature = "emulator")]
pub mod serve;
pub mod token;

/// Re-exported so that [`assert_token_snapshot!`] works in crates that name insta only through
/// this one.
pub use insta;

use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_core::token::ApiKey;
use videoroom_core::{AccountSid, ApiKeySid};

/// The seeded API key, as the emulator and `videoroom` use it when nothing is configured.
pub fn seeded_key() -> ApiKey {
    ApiKey {
        account_sid: AccountSid::parse(TEST_ACCOUNT_SID).expect("the seeded account SID is valid"),
        sid: ApiKeySid::parse(TEST_API_KEY_SID).expect("the seeded API key SID is valid"),
        secret: TEST_API_KEY_SECRET.to_owned().into(),
    }
}
