//! Seed data (`videoroom-emulator --seed FILE`): the account, extra API keys, rooms, simulated
//! participants and their tracks a test suite expects to find, applied when the emulator
//! starts and again after every `POST /emulator/reset`.
//!
//! A seed file is TOML (`.toml`) or JSON (`.json`), with the same fields in both:
//!
//! ```toml
//! [account]                      # optional: the one account the emulator serves
//! sid = "AC0123456789abcdef0123456789abcdef"
//! auth_token = "ci-auth-token"   # optional; the configured or seeded token otherwise
//!
//! [[api_keys]]                   # keys accepted besides the configured (or seeded) one
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
//! ```
//!
//! Rooms go through the same parameter parser and the same store as `POST /v1/Rooms`, so a
//! seeded room is exactly a room a client could have created, with the same checks and the
//! same error codes. The emulator holds one account (see the crate's documentation); a seed
//! names that account, it does not add a second one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use secrecy::SecretString;
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
}

/// The account the emulator serves.
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
/// tracks. The account and keys are settings, which a reset leaves as they are.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// Where the seed came from, for messages.
    pub source: Option<PathBuf>,
    rooms: Vec<CheckedRoom>,
}

#[derive(Debug, Clone)]
struct CheckedRoom {
    /// `rooms[i]`, for messages.
    index: usize,
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
            rooms.push(check_room(index, room).map_err(|(name, detail)| field(name, detail))?);
        }
        settings.seed = Seed {
            source: Some(path.to_owned()),
            rooms,
        };
        Ok(())
    }
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
fn check_room(index: usize, room: SeedRoom) -> Result<CheckedRoom, (String, String)> {
    let at = |field: &str| format!("rooms[{index}].{field}");
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
    create_request(&parameters).map_err(|e| (format!("rooms[{index}]"), e.to_string()))?;
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
        index,
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
            let at = format!("rooms[{}]", room.index);
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
}
