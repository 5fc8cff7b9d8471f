//! The credential variables, the one reader of them, and the seeded test credentials.
//!
//! Both binaries (`videoroom` and `videoroom-emulator`) read the account through
//! [`Credentials::from_lookup`], so they agree on which variable wins and on what counts as
//! unset. The reader is pure: it is handed a lookup (the process environment, a `.env` file, a
//! test's map) and never touches the environment itself.
//!
//! The seeded test credentials are public on purpose: they let a workshop run with no Twilio
//! account. They are shaped like real ones (AC/SK SIDs with 32 hex digits) so every validation
//! path is the same, and they are refused by nothing but real Twilio, where they do not exist.

use secrecy::SecretString;

/// The environment variables that carry credentials, each as (workshop name, Twilio name): the
/// first one set (and not empty) wins. `videoroom` and `videoroom-emulator` both read exactly
/// these, so the two binaries agree on the account.
pub const ENV_ACCOUNT_SID: [&str; 2] = ["ACCOUNT_SID", "TWILIO_ACCOUNT_SID"];
pub const ENV_AUTH_TOKEN: [&str; 2] = ["AUTH_TOKEN", "TWILIO_AUTH_TOKEN"];
pub const ENV_API_KEY_SID: [&str; 2] = ["API_KEY", "TWILIO_API_KEY_SID"];
pub const ENV_API_KEY_SECRET: [&str; 2] = ["API_SECRET", "TWILIO_API_KEY_SECRET"];

/// Every credential variable, for callers that must clear them all (a test's child process).
pub const ENV_ALL: [&str; 8] = [
    ENV_ACCOUNT_SID[0],
    ENV_ACCOUNT_SID[1],
    ENV_AUTH_TOKEN[0],
    ENV_AUTH_TOKEN[1],
    ENV_API_KEY_SID[0],
    ENV_API_KEY_SID[1],
    ENV_API_KEY_SECRET[0],
    ENV_API_KEY_SECRET[1],
];

/// The names of a pair as people read them in a message: `API_KEY (or TWILIO_API_KEY_SID)`.
pub fn describe(names: [&str; 2]) -> String {
    format!("{} (or {})", names[0], names[1])
}

/// The first of `names` that `lookup` finds set, with the name it was found under. A value
/// that is empty or only blanks counts as unset, so a copied `.env.example` with lines such as
/// `API_KEY=` does not change the outcome; the value found is trimmed.
pub fn first_set(
    names: &[&'static str],
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<Found<String>> {
    names.iter().find_map(|name| {
        let value = lookup(name)?;
        let value = value.trim();
        (!value.is_empty()).then(|| Found {
            var: name,
            value: value.to_owned(),
        })
    })
}

/// A value and the variable it was read from (for messages that name it).
#[derive(Debug, Clone)]
pub struct Found<T> {
    pub var: &'static str,
    pub value: T,
}

/// The four credential values a lookup sets, each `None` when neither of its names is set.
/// Nothing is parsed or defaulted here: each binary decides what an unset value means (the
/// emulator falls back to the seeded account, the twilio backend refuses to start). `Debug`
/// shows the secrets as `[REDACTED]`.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub account_sid: Option<Found<String>>,
    pub auth_token: Option<Found<SecretString>>,
    pub api_key_sid: Option<Found<String>>,
    pub api_key_secret: Option<Found<SecretString>>,
}

impl Credentials {
    /// Reads the four values through `lookup`; of each pair in [`ENV_ACCOUNT_SID`] and the
    /// others, the first name set wins.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let secret = |names: &[&'static str]| {
            first_set(names, &lookup).map(|found| Found {
                var: found.var,
                value: SecretString::from(found.value),
            })
        };
        Self {
            account_sid: first_set(&ENV_ACCOUNT_SID, &lookup),
            auth_token: secret(&ENV_AUTH_TOKEN),
            api_key_sid: first_set(&ENV_API_KEY_SID, &lookup),
            api_key_secret: secret(&ENV_API_KEY_SECRET),
        }
    }
}

/// Account SID of the emulator's seeded account.
pub const TEST_ACCOUNT_SID: &str = "AC7e570000000000000000000000000000";
/// Auth token of the seeded account (HTTP Basic password, and the key of callback signatures).
pub const TEST_AUTH_TOKEN: &str = "emulator-auth-token-not-a-secret";
/// API key SID of the seeded account (the `iss` of tokens the emulator accepts).
pub const TEST_API_KEY_SID: &str = "SK7e570000000000000000000000000000";
/// API key secret of the seeded account (signs and verifies access tokens).
pub const TEST_API_KEY_SECRET: &str = "emulator-api-secret-not-a-secret";

/// A lookup over fixed `(name, value)` pairs, for [`Credentials::from_lookup`] when the values
/// come from a map rather than the process environment (an embedding program, a test).
pub fn lookup_in(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::{AccountSid, ApiKeySid};

    use secrecy::ExposeSecret as _;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        lookup_in(pairs)
    }

    #[test]
    fn nothing_set_reads_as_four_unset_values() {
        let found = Credentials::from_lookup(lookup(&[]));
        assert!(found.account_sid.is_none() && found.auth_token.is_none());
        assert!(found.api_key_sid.is_none() && found.api_key_secret.is_none());
    }

    #[test]
    fn the_first_name_of_each_pair_wins_and_blank_counts_as_unset() {
        let found = Credentials::from_lookup(lookup(&[
            (ENV_ACCOUNT_SID[0], " "),
            (ENV_ACCOUNT_SID[1], "AC2"),
            (ENV_AUTH_TOKEN[1], "tok"),
            (ENV_API_KEY_SID[0], " SK1 "),
            (ENV_API_KEY_SID[1], "SK2"),
            (ENV_API_KEY_SECRET[0], "sec"),
        ]));
        let account = found.account_sid.expect("the Twilio name is set");
        assert_eq!(
            (account.var, account.value.as_str()),
            (ENV_ACCOUNT_SID[1], "AC2")
        );
        let token = found.auth_token.expect("set");
        assert_eq!(token.var, ENV_AUTH_TOKEN[1]);
        assert_eq!(token.value.expose_secret(), "tok");
        let key = found.api_key_sid.expect("set");
        assert_eq!((key.var, key.value.as_str()), (ENV_API_KEY_SID[0], "SK1"));
        assert_eq!(
            found.api_key_secret.expect("set").value.expose_secret(),
            "sec"
        );
    }

    #[test]
    fn debug_output_never_shows_the_secrets() {
        let found = Credentials::from_lookup(lookup(&[
            (ENV_AUTH_TOKEN[0], "secret-token"),
            (ENV_API_KEY_SECRET[0], "secret-key"),
        ]));
        let debug = format!("{found:?}");
        assert!(!debug.contains("secret-"), "{debug}");
    }

    #[test]
    fn a_pair_is_described_with_both_names() {
        assert_eq!(describe(ENV_API_KEY_SID), "API_KEY (or TWILIO_API_KEY_SID)");
    }

    #[test]
    fn the_seeded_credentials_are_well_formed() {
        assert!(AccountSid::parse(TEST_ACCOUNT_SID).is_ok());
        assert!(ApiKeySid::parse(TEST_API_KEY_SID).is_ok());
        assert_eq!(TEST_AUTH_TOKEN.len(), 32);
        assert!(!TEST_API_KEY_SECRET.is_empty());
    }
}
