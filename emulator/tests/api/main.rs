//! The emulator over real HTTP on a loopback port: one test binary, one module per area.

// Helpers outside `#[test]` functions unwrap too: in a test, a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod access;
mod accounts;
mod auth_and_errors;
mod binary;
mod callbacks;
mod ci;
mod configuration;
mod control;
mod docs;
mod faults;
mod group_media;
mod helpers;
mod hostile;
mod hostile_signaling;
mod listing;
mod openapi;
mod participants;
mod recordings;
mod rooms;
mod signaling;
