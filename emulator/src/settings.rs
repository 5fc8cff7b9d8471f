//! What an emulator is configured with: the account it pretends to be, and a few knobs.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use videoroom_core::credentials::{
    Credentials, Found, TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID, TEST_AUTH_TOKEN,
};
use videoroom_core::token::ApiKey;
use videoroom_core::{AccountSid, ApiKeySid};

// The credential variables are named once, in core, for both binaries.
pub use videoroom_core::credentials::{
    ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN,
};

/// How status callbacks are delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackSettings {
    /// Longest wait for one attempt (connect, send, answer).
    pub attempt_timeout: Duration,
    /// Attempts per callback, the first included (at least 1).
    pub max_attempts: u32,
    /// Pause before the second attempt; it doubles before each further one.
    pub first_backoff: Duration,
    /// Callbacks waiting for delivery to one destination (scheme, host and port) beyond this
    /// are dropped (and logged as dropped), so a dead receiver cannot make the emulator's
    /// memory grow without bound.
    pub queue_capacity: usize,
    /// Deliveries in flight at once to one destination. Each destination has its own slots,
    /// so a receiver that hangs delays only its own callbacks.
    pub concurrency: usize,
    /// Destinations with callbacks queued at once; a callback to one more is dropped. With
    /// `queue_capacity` it bounds what the queues can hold.
    pub max_destinations: usize,
    /// How many deliveries `GET /emulator/callbacks` remembers (oldest forgotten first).
    pub log_capacity: usize,
}

impl Default for CallbackSettings {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(5),
            max_attempts: 3,
            first_backoff: Duration::from_millis(500),
            queue_capacity: 1024,
            concurrency: 8,
            max_destinations: 64,
            log_capacity: 1000,
        }
    }
}

/// The emulator's configuration. Build it with [`EmulatorSettings::seeded`] or
/// [`EmulatorSettings::from_env`] and adjust fields with struct update syntax. `Debug` shows
/// the secrets as `[REDACTED]` (they are `SecretString`s).
#[derive(Debug, Clone)]
pub struct EmulatorSettings {
    /// The one account the emulator serves (`account_sid` of every resource).
    pub account_sid: AccountSid,
    /// HTTP Basic password with the account SID, and the key of callback signatures.
    pub auth_token: SecretString,
    /// API keys accepted for HTTP Basic (SID + secret) and for access tokens.
    pub api_keys: Vec<ApiKey>,
    /// Whether an SDK client may create a room by connecting to a name that has none, as
    /// Twilio's "client-side room creation" console setting allows.
    pub ad_hoc_rooms: bool,
    /// Largest request body accepted, in bytes; larger bodies get a Twilio-shaped 413.
    pub max_body_bytes: usize,
    /// Longest time a whole request body may take to arrive; slower ones get a Twilio-shaped
    /// 408, so a client trickling bytes cannot hold a connection for ever.
    pub body_read_timeout: Duration,
    /// Status callback delivery.
    pub callbacks: CallbackSettings,
}

/// A credential setting that cannot work, naming the variable and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{var} must be an Account SID: AC followed by 32 hex digits (got '{shown}')")]
    AccountSid { var: &'static str, shown: String },
    #[error("{var} must be an API key SID: SK followed by 32 hex digits (got '{shown}')")]
    ApiKeySid { var: &'static str, shown: String },
    #[error("{set} is set but {missing} is not: an API key needs both its SID and its secret")]
    HalfKey {
        set: &'static str,
        missing: &'static str,
    },
}

impl EmulatorSettings {
    /// The seeded, public test account of `videoroom_core::credentials`, ad-hoc rooms allowed.
    pub fn seeded() -> Self {
        let account_sid = seeded_account();
        Self {
            api_keys: vec![ApiKey {
                account_sid: account_sid.clone(),
                sid: seeded_key(),
                secret: SecretString::from(TEST_API_KEY_SECRET),
            }],
            account_sid,
            auth_token: SecretString::from(TEST_AUTH_TOKEN),
            ad_hoc_rooms: true,
            max_body_bytes: 64 * 1024,
            body_read_timeout: crate::body::READ_TIMEOUT,
            callbacks: CallbackSettings::default(),
        }
    }

    /// The seeded settings with each credential the environment sets (see [`ENV_ACCOUNT_SID`]
    /// and the others) instead of the test value.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`EmulatorSettings::from_env`], reading variables through `lookup` (for tests). The
    /// variables are read by core's one reader, so this binary and `videoroom` agree on which
    /// name wins and on what counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let found = Credentials::from_lookup(lookup);
        let mut settings = Self::seeded();
        if let Some(Found { var, value }) = found.account_sid {
            settings.account_sid =
                AccountSid::parse(&value).map_err(|_| SettingsError::AccountSid {
                    var,
                    shown: preview(&value),
                })?;
        }
        if let Some(token) = found.auth_token {
            settings.auth_token = token.value;
        }
        let key = match (found.api_key_sid, found.api_key_secret) {
            (Some(Found { var, value: sid }), Some(secret)) => ApiKey {
                account_sid: settings.account_sid.clone(),
                sid: ApiKeySid::parse(&sid).map_err(|_| SettingsError::ApiKeySid {
                    var,
                    shown: preview(&sid),
                })?,
                secret: secret.value,
            },
            (Some(sid), None) => {
                return Err(SettingsError::HalfKey {
                    set: sid.var,
                    missing: ENV_API_KEY_SECRET[0],
                })
            }
            (None, Some(secret)) => {
                return Err(SettingsError::HalfKey {
                    set: secret.var,
                    missing: ENV_API_KEY_SID[0],
                })
            }
            (None, None) => ApiKey {
                account_sid: settings.account_sid.clone(),
                sid: seeded_key(),
                secret: SecretString::from(TEST_API_KEY_SECRET),
            },
        };
        settings.api_keys = vec![key];
        Ok(settings)
    }

    /// The limits of reading one request body.
    pub fn body_limits(&self) -> crate::body::BodyLimits {
        crate::body::BodyLimits {
            max_bytes: self.max_body_bytes,
            read_timeout: self.body_read_timeout,
        }
    }

    /// Whether the auth token is the public seeded one (safe to print).
    pub fn auth_token_is_seeded(&self) -> bool {
        self.auth_token.expose_secret() == TEST_AUTH_TOKEN
    }
}

/// Whether an API key is the public seeded one (safe to print).
pub fn api_key_is_seeded(key: &ApiKey) -> bool {
    key.sid.as_str() == TEST_API_KEY_SID && key.secret.expose_secret() == TEST_API_KEY_SECRET
}

/// The first characters of a refused value: enough to recognise it, never a whole secret.
fn preview(value: &str) -> String {
    let head: String = value.chars().take(4).collect();
    if value.chars().count() > 4 {
        format!("{head}…")
    } else {
        head
    }
}

fn seeded_account() -> AccountSid {
    match AccountSid::parse(TEST_ACCOUNT_SID) {
        Ok(sid) => sid,
        // The constant is checked by core's own tests; this arm is unreachable in practice.
        Err(_) => AccountSid::from_u128(0x7e57),
    }
}

fn seeded_key() -> ApiKeySid {
    match ApiKeySid::parse(TEST_API_KEY_SID) {
        Ok(sid) => sid,
        Err(_) => ApiKeySid::from_u128(0x7e57),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn no_environment_gives_the_seeded_test_account() {
        let s = EmulatorSettings::from_lookup(env(&[])).unwrap();
        assert_eq!(s.account_sid.as_str(), TEST_ACCOUNT_SID);
        assert!(s.auth_token_is_seeded());
        assert_eq!(s.api_keys.len(), 1);
        assert!(api_key_is_seeded(&s.api_keys[0]));
    }

    #[test]
    fn empty_variables_count_as_unset_like_videoroom_reads_them() {
        let s = EmulatorSettings::from_lookup(env(&[
            (ENV_ACCOUNT_SID[0], ""),
            (ENV_ACCOUNT_SID[1], "AC00000000000000000000000000000002"),
            (ENV_AUTH_TOKEN[0], "  "),
            (ENV_API_KEY_SID[0], ""),
            (ENV_API_KEY_SECRET[0], ""),
        ]))
        .unwrap();
        assert_eq!(s.account_sid.as_str(), "AC00000000000000000000000000000002");
        assert!(s.auth_token_is_seeded());
        assert!(api_key_is_seeded(&s.api_keys[0]));
    }

    #[test]
    fn the_first_name_of_each_pair_wins() {
        let s = EmulatorSettings::from_lookup(env(&[
            (ENV_ACCOUNT_SID[0], "AC00000000000000000000000000000001"),
            (ENV_ACCOUNT_SID[1], "AC00000000000000000000000000000002"),
            (ENV_AUTH_TOKEN[1], "tok"),
            (ENV_API_KEY_SID[1], "SK00000000000000000000000000000003"),
            (ENV_API_KEY_SECRET[0], "sec"),
        ]))
        .unwrap();
        assert_eq!(s.account_sid.as_str(), "AC00000000000000000000000000000001");
        assert_eq!(s.auth_token.expose_secret(), "tok");
        assert_eq!(
            s.api_keys[0].sid.as_str(),
            "SK00000000000000000000000000000003"
        );
        assert_eq!(s.api_keys[0].secret.expose_secret(), "sec");
        assert_eq!(s.api_keys[0].account_sid, s.account_sid);
    }

    #[test]
    fn a_malformed_account_sid_names_the_variable_without_echoing_it_whole() {
        let err = EmulatorSettings::from_lookup(env(&[(ENV_ACCOUNT_SID[0], "SKsecretish-value")]))
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("ACCOUNT_SID must be an Account SID"),
            "{text}"
        );
        assert!(!text.contains("secretish"), "{text}");
    }

    #[test]
    fn half_an_api_key_is_refused() {
        let err = EmulatorSettings::from_lookup(env(&[(
            ENV_API_KEY_SID[0],
            "SK00000000000000000000000000000003",
        )]))
        .unwrap_err();
        assert_eq!(
            err,
            SettingsError::HalfKey {
                set: ENV_API_KEY_SID[0],
                missing: ENV_API_KEY_SECRET[0]
            }
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let text = format!("{:?}", EmulatorSettings::seeded());
        assert!(!text.contains(TEST_AUTH_TOKEN), "{text}");
        assert!(!text.contains(TEST_API_KEY_SECRET), "{text}");
    }
}
