//! Seed data (`videoroom-emulator --seed FILE`): the accounts, extra API keys, rooms, simulated
//! participants and their tracks a test suite expects to find, applied when the emulator
//! starts and again after every `POST /emulator/reset`.
//!
//! A seed file is TOML (`.toml`) or JSON (`.json`), with the same fields in both:
//!
//! ```toml
//! [account]                      # optional: the first (default) account
//! sid = "AC0123456789abcdef0123456789abcdef"
//! auth_token = "ci-auth-token"   # optional; the configured or seeded token otherwise
//!
//! [[api_keys]]                   # keys of the first account besides the configured one
//! sid = "SK0123456789abcdef0123456789abcdef"
//! secret = "ci-api-secret"
//!
//! [[rooms]]                      # POST /v1/Rooms's parameters, spelt as Twilio spells them
//! UniqueName = "standup"
//! MaxParticipants = 10
//!
//! [[rooms.participants]]         # simulated participants, connected in this order
//! identity = "alice"
//! tracks = [{ kind = "audio", name = "mic" }, { kind = "video" }]
//!
//! [[accounts]]                   # more accounts, each with its own keys and rooms
//! sid = "AC00000000000000000000000000000002"
//! auth_token = "tenant-two-token"
//! api_keys = [{ sid = "SK00000000000000000000000000000002", secret = "tenant-two-secret" }]
//! rooms = [{ UniqueName = "standup" }]
//! ```
//!
//! Rooms go through the same parameter parser and the same store as `POST /v1/Rooms`, so a
//! seeded room is exactly a room a client could have created, with the same checks and the
//! same error codes. The first account is the one the configuration names (`[account]` in the
//! seed replaces it); each `[[accounts]]` entry is one more, which sees only its own resources,
//! as a Twilio account or subaccount does (see [`crate::accounts`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use videoroom_core::token::ApiKey;
use videoroom_core::{AccountSid, ApiKeySid, Identity, RoomKey};
use videoroom_emulator_adapter::{parse_rules, PublishTrack, Rule, RuleSet, Store, TrackKind};

use crate::params::Params;
use crate::rest::{create_request, CREATE_ROOM_PARAMETERS};
use crate::settings::did_you_mean;
use crate::EmulatorSettings;

/// The variable behind `--seed`.
pub const SEED_VAR: &str = "EMULATOR_SEED";

/// A seed file as written, before it is checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    #[serde(default)]
    pub account: Option<SeedAccount>,
    #[serde(default)]
    pub api_keys: Vec<SeedApiKey>,
    #[serde(default)]
    pub rooms: Vec<SeedRoom>,
    /// Accounts besides the first, each with its own credentials, keys and rooms.
    #[serde(default)]
    pub accounts: Vec<SeedOtherAccount>,
}

/// One more account (`[[accounts]]`): a tenant or subaccount with its own resources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOtherAccount {
    pub sid: String,
    pub auth_token: SecretString,
    #[serde(default)]
    pub api_keys: Vec<SeedApiKey>,
    #[serde(default)]
    pub rooms: Vec<SeedRoom>,
}

/// The first account the emulator serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAccount {
    pub sid: String,
    #[serde(default)]
    pub auth_token: Option<SecretString>,
}

/// One more API key of the account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApiKey {
    pub sid: String,
    pub secret: SecretString,
}

/// One room: `POST /v1/Rooms`'s parameters, and who is in it.
#[derive(Debug, Clone, Deserialize)]
pub struct SeedRoom {
    #[serde(default)]
    pub participants: Vec<SeedParticipant>,
    /// The room's recording rules, as `POST /v1/Rooms/{Room}/RecordingRules` takes them
    /// (`[{ type = "include", all = true }]`), checked by the same parser (53120 when invalid).
    /// They are stored like rules set over REST; no recording is made from them (see
    /// docs/emulator.md).
    #[serde(default)]
    pub recording_rules: Option<serde_json::Value>,
    /// Every other field: a parameter of `POST /v1/Rooms` (`UniqueName`, `Type`, …).
    #[serde(flatten)]
    pub parameters: BTreeMap<String, ParameterValue>,
}

/// A `POST /v1/Rooms` parameter's value as a seed file writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ParameterValue {
    Text(String),
    Number(i64),
    Flag(bool),
    /// Array parameters (`VideoCodecs`): the form repeats the key.
    List(Vec<String>),
}

/// A simulated participant, as `POST /emulator/rooms/{Room}/participants` adds one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedParticipant {
    pub identity: String,
    #[serde(default)]
    pub tracks: Vec<SeedTrack>,
}

/// A track the simulated participant publishes (no media flows), as
/// `POST /emulator/rooms/{Room}/participants/{Participant}/tracks` publishes one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedTrack {
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// What is re-applied to an empty store on every reset: checked rooms, participants and
/// tracks. The accounts and keys are settings, which a reset leaves as they are.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// Where the seed came from, for messages.
    pub source: Option<PathBuf>,
    rooms: Vec<CheckedRoom>,
    /// The accounts besides the first (`[[accounts]]`), checked.
    accounts: Vec<SeededAccount>,
}

/// One account of `[[accounts]]`, checked: its credentials and what its store starts with.
#[derive(Debug, Clone)]
pub struct SeededAccount {
    pub sid: AccountSid,
    pub auth_token: SecretString,
    /// Its keys, each with `account_sid` set to [`SeededAccount::sid`].
    pub api_keys: Vec<ApiKey>,
    rooms: Vec<CheckedRoom>,
}

impl SeededAccount {
    /// The seed of this account's own store: its rooms, and no further accounts.
    pub fn seed(&self, source: Option<PathBuf>) -> Seed {
        Seed {
            source,
            rooms: self.rooms.clone(),
            accounts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct CheckedRoom {
    /// `rooms[i]` or `accounts[a].rooms[i]`, for messages.
    at: String,
    parameters: Params,
    participants: Vec<(Identity, Vec<PublishTrack>)>,
    recording_rules: Option<Vec<Rule>>,
}

/// Why a seed file cannot be used. Each message names the file and the field, and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("seed file {path}: cannot read it: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("seed file {path}: the name must end in .toml or .json, which tells its format")]
    Format { path: PathBuf },
    #[error("seed file {path}: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("seed file {path}: {field}: {detail}")]
    Field {
        path: PathBuf,
        field: String,
        detail: String,
    },
}

impl SeedFile {
    /// Reads a seed file; its extension (`.toml` or `.json`) says how.
    pub fn read(path: &Path) -> Result<Self, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.to_owned(),
            source,
        })?;
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let parsed = match extension.as_deref() {
            Some("toml") => toml::from_str(&text).map_err(|e| toml_error(&text, &e)),
            Some("json") => serde_json::from_str(&text).map_err(|e| e.to_string()),
            _ => {
                return Err(SeedError::Format {
                    path: path.to_owned(),
                })
            }
        };
        parsed.map_err(|detail| SeedError::Parse {
            path: path.to_owned(),
            detail: detail.trim().to_owned(),
        })
    }

    /// Checks the file and applies its account and keys to `settings`; the rooms are kept in
    /// `settings.seed`, for [`Seed::apply`]. The account's SID becomes the account of every
    /// key, so keys configured in the environment keep working for the seeded account.
    pub fn apply_to(self, path: &Path, settings: &mut EmulatorSettings) -> Result<(), SeedError> {
        let field = |field: String, detail: String| SeedError::Field {
            path: path.to_owned(),
            field,
            detail,
        };
        if let Some(account) = self.account {
            settings.account_sid = AccountSid::parse(&account.sid).map_err(|_| {
                field(
                    "account.sid".into(),
                    format!(
                        "must be an Account SID: AC followed by 32 hex digits (got '{}')",
                        account.sid
                    ),
                )
            })?;
            if let Some(token) = account.auth_token {
                settings.auth_token = token;
            }
            for key in &mut settings.api_keys {
                key.account_sid = settings.account_sid.clone();
            }
        }
        for (i, key) in self.api_keys.into_iter().enumerate() {
            let sid = ApiKeySid::parse(&key.sid).map_err(|_| {
                field(
                    format!("api_keys[{i}].sid"),
                    format!(
                        "must be an API key SID: SK followed by 32 hex digits (got '{}')",
                        key.sid
                    ),
                )
            })?;
            if settings.api_keys.iter().any(|k| k.sid == sid) {
                return Err(field(
                    format!("api_keys[{i}].sid"),
                    format!("{sid} is already a key of the account; give each key its own SID"),
                ));
            }
            settings.api_keys.push(ApiKey {
                account_sid: settings.account_sid.clone(),
                sid,
                secret: key.secret,
            });
        }
        let mut rooms = Vec::new();
        for (index, room) in self.rooms.into_iter().enumerate() {
            rooms.push(
                check_room(format!("rooms[{index}]"), room)
                    .map_err(|(name, detail)| field(name, detail))?,
            );
        }
        let mut accounts: Vec<SeededAccount> = Vec::new();
        for (a, account) in self.accounts.into_iter().enumerate() {
            let checked = check_account(format!("accounts[{a}]"), account, settings, &accounts)
                .map_err(|(name, detail)| field(name, detail))?;
            accounts.push(checked);
        }
        settings.seed = Seed {
            source: Some(path.to_owned()),
            rooms,
            accounts,
        };
        Ok(())
    }
}

/// Checks one `[[accounts]]` entry against the first account (`settings`) and the entries
/// before it: SIDs of accounts and of keys must each name one thing only, because a request's
/// user name (an account or key SID) is what tells which account it acts as.
fn check_account(
    at: String,
    account: SeedOtherAccount,
    settings: &EmulatorSettings,
    before: &[SeededAccount],
) -> Result<SeededAccount, (String, String)> {
    let sid = AccountSid::parse(&account.sid).map_err(|_| {
        (
            format!("{at}.sid"),
            format!(
                "must be an Account SID: AC followed by 32 hex digits (got '{}')",
                account.sid
            ),
        )
    })?;
    if sid == settings.account_sid || before.iter().any(|b| b.sid == sid) {
        return Err((
            format!("{at}.sid"),
            format!("{sid} is already an account of this emulator; give each account its own SID"),
        ));
    }
    if account.auth_token.expose_secret().is_empty() {
        return Err((
            format!("{at}.auth_token"),
            "must not be empty: it is the account's HTTP Basic password".to_owned(),
        ));
    }
    let mut api_keys: Vec<ApiKey> = Vec::new();
    for (k, key) in account.api_keys.into_iter().enumerate() {
        let key_sid = ApiKeySid::parse(&key.sid).map_err(|_| {
            (
                format!("{at}.api_keys[{k}].sid"),
                format!(
                    "must be an API key SID: SK followed by 32 hex digits (got '{}')",
                    key.sid
                ),
            )
        })?;
        let taken = settings
            .api_keys
            .iter()
            .chain(before.iter().flat_map(|b| b.api_keys.iter()))
            .chain(api_keys.iter())
            .any(|k| k.sid == key_sid);
        if taken {
            return Err((
                format!("{at}.api_keys[{k}].sid"),
                format!("{key_sid} is already a key of an account; give each key its own SID"),
            ));
        }
        api_keys.push(ApiKey {
            account_sid: sid.clone(),
            sid: key_sid,
            secret: key.secret,
        });
    }
    let mut rooms = Vec::new();
    for (index, room) in account.rooms.into_iter().enumerate() {
        rooms.push(check_room(format!("{at}.rooms[{index}]"), room)?);
    }
    Ok(SeededAccount {
        sid,
        auth_token: account.auth_token,
        api_keys,
        rooms,
    })
}

/// A TOML error as its message and position, without the quoted source line that the
/// error's `Display` adds: that line may hold a secret (`auth_token`, `secret`).
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end_matches('.');
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("{message} (line {line}, column {column})")
        }
        None => message.to_owned(),
    }
}

/// Checks one room's fields; the error is the field's name and what is wrong with it.
fn check_room(room_at: String, room: SeedRoom) -> Result<CheckedRoom, (String, String)> {
    let at = |field: &str| format!("{room_at}.{field}");
    let recording_rules = match &room.recording_rules {
        None => None,
        Some(rules) => Some(
            parse_rules(RuleSet::Recording, &rules.to_string()).map_err(|e| {
                (
                    at("recording_rules"),
                    format!("{} (code {})", e.message, e.code),
                )
            })?,
        ),
    };
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in &room.parameters {
        if !CREATE_ROOM_PARAMETERS.contains(&name.as_str()) {
            let hint = did_you_mean(name, CREATE_ROOM_PARAMETERS.iter().copied())
                .map(|c| format!("; did you mean '{c}'?"))
                .unwrap_or_default();
            return Err((
                at(name),
                format!(
                    "not a parameter of POST /v1/Rooms (those are {}){hint}",
                    CREATE_ROOM_PARAMETERS.join(", ")
                ),
            ));
        }
        match value {
            ParameterValue::Text(text) => form.append_pair(name, text),
            ParameterValue::Number(n) => form.append_pair(name, &n.to_string()),
            ParameterValue::Flag(b) => form.append_pair(name, &b.to_string()),
            ParameterValue::List(items) => {
                for item in items {
                    form.append_pair(name, item);
                }
                &mut form
            }
        };
    }
    let parameters = Params::from_query(&form.finish());
    // The REST face's own parser, so a seed is refused where a client's request would be.
    create_request(&parameters).map_err(|e| (room_at.clone(), e.to_string()))?;
    let mut participants = Vec::new();
    for (p, participant) in room.participants.into_iter().enumerate() {
        let field = |name: &str| at(&format!("participants[{p}].{name}"));
        let identity = Identity::parse(&participant.identity)
            .map_err(|e| (field("identity"), e.to_string()))?;
        let mut tracks = Vec::new();
        for (t, track) in participant.tracks.into_iter().enumerate() {
            let kind = TrackKind::from_str(&track.kind).map_err(|_| {
                (
                    field(&format!("tracks[{t}].kind")),
                    format!("must be audio, video or data (got '{}')", track.kind),
                )
            })?;
            // As the control route names an unnamed track, but predictably: a test can
            // address the seeded track by this name after every reset.
            let name = track.name.unwrap_or_else(|| format!("{kind}-{t}"));
            tracks.push(PublishTrack {
                client_id: name.clone(),
                kind,
                name,
                enabled: track.enabled,
            });
        }
        participants.push((identity, tracks));
    }
    Ok(CheckedRoom {
        at: room_at,
        parameters,
        participants,
        recording_rules,
    })
}

impl Seed {
    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// The accounts besides the first (`[[accounts]]`), in the file's order.
    pub fn accounts(&self) -> &[SeededAccount] {
        &self.accounts
    }

    /// Creates the seeded rooms, connects their participants and publishes their tracks,
    /// through the store's ordinary calls (so events and callbacks are those of the same calls
    /// made over HTTP). Returns how many rooms it created.
    pub fn apply(&self, store: &Store) -> Result<usize, SeedError> {
        let path = self.source.clone().unwrap_or_default();
        let field = |field: String, detail: String| SeedError::Field {
            path: path.clone(),
            field,
            detail,
        };
        for room in &self.rooms {
            let at = room.at.clone();
            let request =
                create_request(&room.parameters).map_err(|e| field(at.clone(), e.to_string()))?;
            let created = store
                .create_room(&request)
                .map_err(|e| field(at.clone(), format!("{} (code {})", e.message, e.code)))?;
            let key = RoomKey::Sid(created.sid.clone());
            if let Some(rules) = &room.recording_rules {
                store
                    .set_recording_rules(&key, rules.clone())
                    .map_err(|e| {
                        field(
                            format!("{at}.recording_rules"),
                            format!("{} (code {})", e.message, e.code),
                        )
                    })?;
            }
            for (p, (identity, tracks)) in room.participants.iter().enumerate() {
                let at = format!("{at}.participants[{p}]");
                let joined = store
                    .connect_participant(&key, identity, None)
                    .map_err(|e| field(at.clone(), format!("{} (code {})", e.message, e.code)))?;
                let participant =
                    videoroom_emulator_adapter::ParticipantKey::Sid(joined.participant.sid.clone());
                for (t, track) in tracks.iter().enumerate() {
                    store
                        .publish_track(&key, &participant, track.clone())
                        .map_err(|e| {
                            field(
                                format!("{at}.tracks[{t}]"),
                                format!("{} (code {})", e.message, e.code),
                            )
                        })?;
                }
            }
        }
        Ok(self.rooms.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_error_names_the_line_without_quoting_it() {
        let text = "[account]\nsid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"s3cret-value\" junk\n";
        let error = toml::from_str::<SeedFile>(text).unwrap_err();
        let shown = toml_error(text, &error);
        assert!(shown.contains("line 3"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            error.to_string().contains("s3cret"),
            "the Display form would have shown it"
        );
    }

    fn apply(text: &str) -> Result<EmulatorSettings, SeedError> {
        let mut settings = EmulatorSettings::seeded();
        toml::from_str::<SeedFile>(text)
            .map_err(|e| SeedError::Parse {
                path: "seed.toml".into(),
                // As `SeedFile::read` shows it: without the quoted line.
                detail: toml_error(text, &e),
            })?
            .apply_to(Path::new("seed.toml"), &mut settings)?;
        Ok(settings)
    }

    const B: &str = "AC0000000000000000000000000000000b";
    const B_KEY: &str = "SK0000000000000000000000000000000b";

    #[test]
    fn more_accounts_are_read_with_their_keys_and_rooms_beside_the_first() {
        let settings = apply(&format!(
            "[[rooms]]\nUniqueName = \"a\"\n\
             [[accounts]]\nsid = \"{B}\"\nauth_token = \"tb\"\n\
             api_keys = [{{ sid = \"{B_KEY}\", secret = \"sb\" }}]\n\
             [[accounts.rooms]]\nUniqueName = \"b1\"\n[[accounts.rooms]]\nUniqueName = \"b2\"\n"
        ))
        .unwrap();
        assert_eq!(
            settings.account_sid.as_str(),
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            "the first account stays the configured one"
        );
        assert_eq!(settings.seed.rooms.len(), 1);
        let [b] = settings.seed.accounts() else {
            panic!("one more account: {:?}", settings.seed.accounts());
        };
        assert_eq!(b.sid.as_str(), B);
        assert_eq!(b.auth_token.expose_secret(), "tb");
        assert_eq!(b.api_keys.len(), 1);
        assert_eq!(b.api_keys[0].sid.as_str(), B_KEY);
        assert_eq!(
            b.api_keys[0].account_sid, b.sid,
            "a key belongs to its account"
        );
        let seed = b.seed(None);
        assert_eq!(seed.rooms.len(), 2);
        assert!(seed.accounts().is_empty());
        assert!(!settings.api_keys.iter().any(|k| k.sid.as_str() == B_KEY));
    }

    #[test]
    fn accounts_and_keys_must_each_have_their_own_sid() {
        let field = |text: &str| match apply(text).unwrap_err() {
            SeedError::Field { field, detail, .. } => format!("{field}: {detail}"),
            other => panic!("{other}"),
        };
        let first = videoroom_core::credentials::TEST_ACCOUNT_SID;
        let shown = field(&format!(
            "[[accounts]]\nsid = \"{first}\"\nauth_token = \"t\"\n"
        ));
        assert!(
            shown.starts_with("accounts[0].sid: ") && shown.contains("already an account"),
            "{shown}"
        );
        let shown = field(&format!(
            "[[accounts]]\nsid = \"{B}\"\nauth_token = \"t\"\n[[accounts]]\nsid = \"{B}\"\nauth_token = \"u\"\n"
        ));
        assert!(shown.starts_with("accounts[1].sid: "), "{shown}");
        let seeded_key = videoroom_core::credentials::TEST_API_KEY_SID;
        let shown = field(&format!(
            "[[accounts]]\nsid = \"{B}\"\nauth_token = \"t\"\napi_keys = [{{ sid = \"{seeded_key}\", secret = \"s\" }}]\n"
        ));
        assert!(
            shown.starts_with("accounts[0].api_keys[0].sid: ") && shown.contains("already a key"),
            "{shown}"
        );
        let shown = field(&format!("[[accounts]]\nsid = \"{B}\"\nauth_token = \"\"\n"));
        assert!(
            shown.starts_with("accounts[0].auth_token: must not be empty"),
            "{shown}"
        );
        let shown = field("[[accounts]]\nsid = \"ACnope\"\nauth_token = \"t\"\n");
        assert!(
            shown.starts_with("accounts[0].sid: must be an Account SID"),
            "{shown}"
        );
        let shown = field(&format!(
            "[[accounts]]\nsid = \"{B}\"\nauth_token = \"t\"\n[[accounts.rooms]]\nUniqeName = \"x\"\n"
        ));
        assert!(
            shown.starts_with("accounts[0].rooms[0].UniqeName: ")
                && shown.contains("did you mean 'UniqueName'?"),
            "{shown}"
        );
    }

    #[test]
    fn a_json_seed_declares_accounts_with_the_same_fields() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("seed.json");
        let text = format!(
            r#"{{"accounts": [{{"sid": "{B}", "auth_token": "tb",
                "api_keys": [{{"sid": "{B_KEY}", "secret": "sb"}}],
                "rooms": [{{"UniqueName": "b1", "participants": [{{"identity": "bea"}}]}}]}}]}}"#
        );
        std::fs::write(&path, text).expect("the seed is written");
        let mut settings = EmulatorSettings::seeded();
        SeedFile::read(&path)
            .and_then(|seed| seed.apply_to(&path, &mut settings))
            .unwrap();
        let [b] = settings.seed.accounts() else {
            panic!("one more account: {:?}", settings.seed.accounts());
        };
        assert_eq!((b.sid.as_str(), b.api_keys.len()), (B, 1));
        assert_eq!(b.seed(None).rooms[0].participants.len(), 1);
    }

    #[test]
    fn an_account_without_its_auth_token_or_with_an_unknown_field_is_refused() {
        let missing = apply(&format!("[[accounts]]\nsid = \"{B}\"\n")).unwrap_err();
        assert!(missing.to_string().contains("auth_token"), "{missing}");
        let unknown = apply(&format!(
            "[[accounts]]\nsid = \"{B}\"\nauth_token = \"t\"\nauthtoken = \"t\"\n"
        ))
        .unwrap_err();
        assert!(unknown.to_string().contains("authtoken"), "{unknown}");
        assert!(
            !unknown.to_string().contains("= \"t\""),
            "no secret quoted: {unknown}"
        );
    }
}
