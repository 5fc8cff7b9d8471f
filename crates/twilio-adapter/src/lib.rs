//! The backend port over Twilio's Video REST API.
//!
//! Placeholder until the adapter is built (issue 3): it knows Twilio's default base URL so
//! configuration can already name it.

/// Twilio's Video REST API host.
pub const DEFAULT_BASE_URL: &str = "https://video.twilio.com";
