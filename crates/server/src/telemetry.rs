//! Logging: `tracing` to standard error, one span and one line per request with a request id.
//!
//! The setup is shared with `videoroom-emulator` and lives in [`videoroom_emulator::telemetry`],
//! so both binaries log alike (`--log-format pretty|json`, `RUST_LOG`). Nothing logged contains
//! a token or a secret: a request is logged by method and path only, never its query string.

pub use videoroom_emulator::telemetry::{
    echo_request_id, init, install_panic_hook, request_logging, LogFormat, REQUEST_ID_HEADER,
};
