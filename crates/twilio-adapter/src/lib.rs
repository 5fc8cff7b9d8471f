//! The videoroom backend port over Twilio's Video REST API.
//!
//! [`TwilioAdapter`] implements [`videoroom_core::RoomBackend`] with reqwest (rustls): HTTP
//! Basic authentication with an API key, Twilio's PascalCase form bodies, its JSON rooms and
//! paging envelope, and its error JSON mapped to [`videoroom_core::BackendError`]. It reaches
//! real Twilio (optionally through a region and edge) or, through
//! [`TwilioConfig::base_url`], the local emulator. Requests that are safe to repeat are
//! retried with exponential backoff and jitter within a bounded time ([`retry`] has the
//! policy), and [`TwilioAdapter::check`] explains why credentials do not work.
//!
//! It deliberately knows nothing of tokens, HTTP serving or configuration files: the server
//! builds a [`TwilioConfig`] and hands the adapter to the core as `Arc<dyn RoomBackend>`. It
//! never logs or returns the API key secret or raw upstream bodies: errors carry Twilio's code
//! and its (cleaned, shortened) message, nothing more.

mod adapter;
mod check;
mod config;
pub mod retry;
mod wire;

pub use adapter::TwilioAdapter;
pub use check::{CheckError, CheckReport, Unreachable};
pub use config::{
    ConfigError, TwilioConfig, BASE_URL_VAR, DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_RETRIES, DEFAULT_RETRY_BUDGET,
    DEFAULT_TIMEOUT, EDGE_VAR, REGION_VAR,
};
