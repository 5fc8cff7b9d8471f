//! What an emulator is configured with: the account it pretends to be, and a few knobs; and
//! the one reader of `.env` files, shared with `videoroom` so both binaries read the same file
//! the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use videoroom_core::credentials::{
    Credentials, Found, TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID, TEST_AUTH_TOKEN,
};
use videoroom_core::token::ApiKey;
use videoroom_core::{AccountSid, ApiKeySid, SidError};
pub use videoroom_emulator_adapter::CallbackHosts;

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
    /// Hosts callbacks may go to: loopback by default (see [`CallbackHosts`]).
    pub hosts: CallbackHosts,
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
            hosts: CallbackHosts::loopback(),
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
    /// How long an ended room is kept after its end, on the emulator's clock (then it is
    /// forgotten with its participants, so memory stays bounded).
    pub retention: Duration,
    /// Rooms, participants and tracks created at start and after every reset (`--seed`).
    pub seed: crate::seed::Seed,
    /// The media server of group rooms (`media.*`).
    pub media: crate::media::MediaSettings,
}

/// A credential setting that cannot work, naming the variable and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{var} must be an Account SID: AC followed by 32 hex digits ({shown})")]
    AccountSid { var: &'static str, shown: String },
    #[error("{var} must be an API key SID: SK followed by 32 hex digits ({shown})")]
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
            retention: videoroom_emulator_adapter::DEFAULT_RETENTION,
            seed: crate::seed::Seed::default(),
            media: crate::media::MediaSettings::default(),
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
        Self::from_credentials(Credentials::from_lookup(lookup))
    }

    /// The seeded settings with the credentials `found` sets instead of the test values.
    fn from_credentials(found: Credentials) -> Result<Self, SettingsError> {
        let mut settings = Self::seeded();
        if let Some(Found { var, value }) = found.account_sid {
            settings.account_sid =
                AccountSid::parse(&value).map_err(|e| SettingsError::AccountSid {
                    var,
                    shown: what_is_wrong(&e, &value),
                })?;
        }
        if let Some(token) = found.auth_token {
            settings.auth_token = token.value;
        }
        let key = match (found.api_key_sid, found.api_key_secret) {
            (Some(Found { var, value: sid }), Some(secret)) => ApiKey {
                account_sid: settings.account_sid.clone(),
                sid: ApiKeySid::parse(&sid).map_err(|e| SettingsError::ApiKeySid {
                    var,
                    shown: what_is_wrong(&e, &sid),
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

    /// The seeded settings with each credential that the environment, or else the `.env` file,
    /// sets. As in `videoroom`, the `.env` file is a layer below the environment, key by key:
    /// a credential set in the environment (under either of its names) wins over the same
    /// credential in `.env`, and an empty value counts as unset in both.
    pub fn from_layers(
        env: impl Fn(&str) -> Option<String>,
        dotenv: &BTreeMap<String, String>,
    ) -> Result<Self, SettingsError> {
        let from_env = Credentials::from_lookup(env);
        let from_file = Credentials::from_lookup(|name| dotenv.get(name).cloned());
        let merged = Credentials {
            account_sid: from_env.account_sid.or(from_file.account_sid),
            auth_token: from_env.auth_token.or(from_file.auth_token),
            api_key_sid: from_env.api_key_sid.or(from_file.api_key_sid),
            api_key_secret: from_env.api_key_secret.or(from_file.api_key_secret),
        };
        Self::from_credentials(merged)
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

/// The candidate closest to `given`, when it is close enough to be a typo (for the "did you
/// mean" of both binaries' settings): at most one edit
/// (a swap of two neighbours counts as one) in three characters of the longer word (`twilo`
/// for `twilio`, `jsno` for `json`, `peer2peer` for `peer-to-peer`), ignoring case.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&given, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(distance, c)| {
            let longer = given.chars().count().max(c.chars().count());
            *distance <= (longer / 3).max(1)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Why a `.env` file could not be read. Each message names the file and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum DotenvError {
    #[error("could not read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Windows Notepad's "Unicode" encodings, and PowerShell 5's `>` redirection, write UTF-16.
    #[error("{path} is saved as UTF-16; save it as UTF-8 without BOM (Notepad: File › Save as › Encoding: \"UTF-8\"; VS Code: \"Save with Encoding\" › UTF-8)")]
    Utf16 { path: PathBuf },
    /// Notepad's "UTF-8 with BOM" starts the file with an invisible character that would
    /// become part of the first variable's name.
    #[error("{path} starts with a byte-order mark (BOM); save it as UTF-8 without BOM (Notepad: File › Save as › Encoding: \"UTF-8\", not \"UTF-8 with BOM\"; VS Code: \"Save with Encoding\" › UTF-8)")]
    Bom { path: PathBuf },
    #[error("{path} is not valid UTF-8 (byte {offset}); save it as UTF-8 without BOM")]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{path} has a line that is not NAME=value: {detail}")]
    Line { path: PathBuf, detail: String },
}

/// Reads a `.env` file into its variables, without touching the process environment. A
/// missing file is an empty one. A file saved as UTF-16 or with a byte-order mark is refused
/// with how to save it: read as it is, its first name (or every name) would silently never
/// match.
pub fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, DotenvError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(DotenvError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let path_buf = || path.to_owned();
    // UTF-16 starts with a byte-order mark, or (without one) has a zero byte beside every
    // ASCII character; no text .env has a zero byte otherwise.
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) || bytes.contains(&0) {
        return Err(DotenvError::Utf16 { path: path_buf() });
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(DotenvError::Bom { path: path_buf() });
    }
    if let Err(e) = std::str::from_utf8(&bytes) {
        return Err(DotenvError::NotUtf8 {
            path: path_buf(),
            offset: e.valid_up_to(),
        });
    }
    let mut vars = BTreeMap::new();
    for item in dotenvy::from_read_iter(bytes.as_slice()) {
        let (name, value) = item.map_err(|e| DotenvError::Line {
            path: path_buf(),
            detail: e.to_string(),
        })?;
        vars.insert(name, value);
    }
    Ok(vars)
}

/// Whether an API key is the public seeded one (safe to print).
pub fn api_key_is_seeded(key: &ApiKey) -> bool {
    key.sid.as_str() == TEST_API_KEY_SID && key.secret.expose_secret() == TEST_API_KEY_SECRET
}

/// What is wrong with a refused SID, without showing it whole: its first non-hex character
/// when that is the problem (a placeholder such as `ACxxxx…`), else its first characters.
fn what_is_wrong(error: &SidError, value: &str) -> String {
    match error {
        SidError::NotHex { position, bad, .. } => {
            format!("character {position} is '{bad}', not a hex digit; a placeholder?")
        }
        _ => format!("got '{}'", preview(value)),
    }
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
    AccountSid::parse(TEST_ACCOUNT_SID)
        .expect("the seeded account SID is well formed (core tests it)")
}

fn seeded_key() -> ApiKeySid {
    ApiKeySid::parse(TEST_API_KEY_SID)
        .expect("the seeded API key SID is well formed (core tests it)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use videoroom_core::credentials::lookup_in as env;

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
    fn a_placeholder_account_sid_is_named_by_its_first_non_hex_character() {
        let err = EmulatorSettings::from_lookup(env(&[(
            ENV_ACCOUNT_SID[0],
            "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        )]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("character 3 is 'x', not a hex digit"), "{err}");
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
    fn the_environment_wins_over_dotenv_credential_by_credential() {
        let dotenv: BTreeMap<String, String> = [
            (ENV_ACCOUNT_SID[0], "AC00000000000000000000000000000001"),
            (ENV_AUTH_TOKEN[0], "from-dotenv"),
            (ENV_API_KEY_SID[0], ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = EmulatorSettings::from_layers(
            env(&[(ENV_ACCOUNT_SID[1], "AC00000000000000000000000000000002")]),
            &dotenv,
        )
        .unwrap();
        // The Twilio name in the environment beats the workshop name in .env, as in videoroom.
        assert_eq!(s.account_sid.as_str(), "AC00000000000000000000000000000002");
        assert_eq!(s.auth_token.expose_secret(), "from-dotenv");
        assert!(api_key_is_seeded(&s.api_keys[0]));
    }

    #[test]
    fn a_dotenv_file_saved_as_utf16_or_with_a_bom_is_refused_with_how_to_save_it() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let path = dir.path().join(".env");
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("API_KEY=SK1\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        std::fs::write(&path, utf16).unwrap();
        let text = read_dotenv(&path).unwrap_err().to_string();
        assert!(
            text.contains("UTF-16") && text.contains("UTF-8 without BOM"),
            "{text}"
        );

        std::fs::write(&path, b"\xEF\xBB\xBFAPI_KEY=SK1\n").unwrap();
        let text = read_dotenv(&path).unwrap_err().to_string();
        assert!(
            text.contains("byte-order mark") && text.contains("Notepad"),
            "{text}"
        );

        std::fs::write(&path, "API_KEY=SK1\n").unwrap();
        assert_eq!(read_dotenv(&path).unwrap()["API_KEY"], "SK1");
        assert!(read_dotenv(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let text = format!("{:?}", EmulatorSettings::seeded());
        assert!(!text.contains(TEST_AUTH_TOKEN), "{text}");
        assert!(!text.contains(TEST_API_KEY_SECRET), "{text}");
    }
}
