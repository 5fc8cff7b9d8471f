//! The seeded test credentials the emulator uses when none are configured.
//!
//! They are public on purpose: they let a workshop run with no Twilio account. They are
//! shaped like real ones (AC/SK SIDs with 32 hex digits) so every validation path is the same,
//! and they are refused by nothing but real Twilio, where they do not exist.

/// The environment variables that carry credentials, each as (workshop name, Twilio name): the
/// first one set (and not empty) wins. `videoroom` and `videoroom-emulator` both read exactly
/// these, so the two binaries agree on the account.
pub const ENV_ACCOUNT_SID: [&str; 2] = ["ACCOUNT_SID", "TWILIO_ACCOUNT_SID"];
pub const ENV_AUTH_TOKEN: [&str; 2] = ["AUTH_TOKEN", "TWILIO_AUTH_TOKEN"];
pub const ENV_API_KEY_SID: [&str; 2] = ["API_KEY", "TWILIO_API_KEY_SID"];
pub const ENV_API_KEY_SECRET: [&str; 2] = ["API_SECRET", "TWILIO_API_KEY_SECRET"];

/// Account SID of the emulator's seeded account.
pub const TEST_ACCOUNT_SID: &str = "AC7e570000000000000000000000000000";
/// Auth token of the seeded account (HTTP Basic password, and the key of callback signatures).
pub const TEST_AUTH_TOKEN: &str = "emulator-auth-token-not-a-secret";
/// API key SID of the seeded account (the `iss` of tokens the emulator accepts).
pub const TEST_API_KEY_SID: &str = "SK7e570000000000000000000000000000";
/// API key secret of the seeded account (signs and verifies access tokens).
pub const TEST_API_KEY_SECRET: &str = "emulator-api-secret-not-a-secret";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::{AccountSid, ApiKeySid};

    #[test]
    fn the_seeded_credentials_are_well_formed() {
        assert!(AccountSid::parse(TEST_ACCOUNT_SID).is_ok());
        assert!(ApiKeySid::parse(TEST_API_KEY_SID).is_ok());
        assert_eq!(TEST_AUTH_TOKEN.len(), 32);
        assert!(!TEST_API_KEY_SECRET.is_empty());
    }
}
