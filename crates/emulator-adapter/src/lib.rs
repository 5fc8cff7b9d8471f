//! An in-memory room store with Twilio Video's semantics (placeholder, built in issue 2).
