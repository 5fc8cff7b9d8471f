//! Configuration: one typed [`Settings`], read once from layered sources.
//!
//! Layers, lowest first: built-in defaults < an optional `videoroom.toml` < a `.env` file in the
//! working directory < environment variables < command-line flags. The `.env` file is read into
//! its own layer (never into the process environment), so what a value is and where it came
//! from can always be told apart; `videoroom config` shows both.
//!
//! Every value is checked here, at start-up, and every problem is reported at once with the
//! name the person used (the environment variable, the flag or the TOML key) and how to fix it.
//! After this module, invalid settings cannot exist: SIDs are typed, secrets are
//! [`SecretString`]s that `Debug` never shows, the token lifetime is within Twilio's limits.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use config::{Config, File, FileFormat, Map, Source, Value, ValueKind};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use videoroom_core::credentials::{
    ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN, TEST_ACCOUNT_SID,
    TEST_API_KEY_SECRET, TEST_API_KEY_SID, TEST_AUTH_TOKEN,
};
use videoroom_core::token::{ApiKey, TokenConfigError, TokenSigner, MAX_TTL_SECS};
use videoroom_core::{AccountSid, ApiKeySid, RoomName, RoomType};
use videoroom_twilio_adapter::{TwilioConfig, BASE_URL_VAR, EDGE_VAR, REGION_VAR};

/// Which backend holds the rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The built-in emulator of Twilio Video: offline, seeded credentials, no account needed.
    #[default]
    Emulator,
    /// Real Twilio, through its REST API.
    Twilio,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Emulator => "emulator",
            BackendKind::Twilio => "twilio",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How log lines are written (to standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Pretty => "pretty",
            LogFormat::Json => "json",
        }
    }
}

/// The room a token request joins.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    /// The room joined when a request names none (the workshop's `myroom`).
    pub name: RoomName,
    /// The type given to rooms this service creates.
    pub room_type: RoomType,
    /// Whether a request's `room` parameter may choose another room.
    pub allow_param: bool,
}

/// How tokens are minted.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// Lifetime in seconds, 1 to 86400.
    pub ttl_secs: u64,
    /// Twilio region written as the `twr` header, if any.
    pub region: Option<String>,
}

/// The Twilio account and API key. `Debug` shows the SIDs and never the secrets.
#[derive(Clone)]
pub struct Credentials {
    pub account_sid: AccountSid,
    /// Needed by the emulator (HTTP Basic password and callback signatures); optional for the
    /// token service against real Twilio, which authenticates with the API key.
    pub auth_token: Option<SecretString>,
    pub api_key_sid: ApiKeySid,
    pub api_key_secret: SecretString,
    /// True when these are the seeded, public test credentials.
    pub seeded: bool,
}

impl Credentials {
    /// The API key as core's token code wants it.
    pub fn api_key(&self) -> ApiKey {
        ApiKey {
            account_sid: self.account_sid.clone(),
            sid: self.api_key_sid.clone(),
            secret: self.api_key_secret.clone(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "[redacted]"),
            )
            .field("api_key_sid", &self.api_key_sid)
            .field("api_key_secret", &"[redacted]")
            .field("seeded", &self.seeded)
            .finish()
    }
}

/// Settings of the real-Twilio backend.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// Base URL of the Video REST API (point it at a standalone emulator to test).
    pub base_url: String,
    /// Twilio processing region of the REST API (`video.{region}.twilio.com`).
    pub region: Option<String>,
    /// Twilio edge location of the REST API (`video.{edge}.{region}.twilio.com`).
    pub edge: Option<String>,
}

/// Everything `videoroom` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub backend: BackendKind,
    /// Address to bind (default 127.0.0.1: only this computer can connect).
    pub host: IpAddr,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    pub room: RoomSettings,
    pub token: TokenSettings,
    pub credentials: Credentials,
    pub twilio: TwilioSettings,
    /// Emulator mode: whether an SDK client may create a room by connecting to a name that has
    /// none, as Twilio's "client-side room creation" account setting allows.
    pub ad_hoc_rooms: bool,
    /// Directory the workshop page is served from (attendees edit it and reload).
    pub workshop_dir: PathBuf,
    pub log_format: LogFormat,
    /// Where each key's value came from, for `videoroom config`.
    pub origins: BTreeMap<&'static str, Origin>,
}

impl Settings {
    /// Settings for tests and embedding: the defaults with no file, `.env` or environment
    /// consulted, plus the given flag overrides.
    pub fn defaults_with(overrides: Overrides) -> Result<Self, SettingsError> {
        Sources {
            config_file: None,
            dotenv_file: None,
            env: BTreeMap::new(),
            overrides,
        }
        .load()
    }

    /// A token signer for the configured key, lifetime and region. Settings from
    /// [`Sources::load`] always give one; the error remains possible only for settings changed
    /// by hand afterwards (a TTL over 24 hours, an empty secret).
    pub fn token_signer(&self) -> Result<TokenSigner, TokenConfigError> {
        TokenSigner::new(
            self.credentials.api_key(),
            self.token.ttl_secs,
            self.token.region.clone(),
        )
    }

    /// The Twilio adapter's configuration: these credentials, base URL, region and edge, with
    /// the adapter's default timeouts and retries. The error names the setting to fix.
    pub fn twilio_config(&self) -> Result<TwilioConfig, String> {
        let base_url = url::Url::parse(&self.twilio.base_url).map_err(|e| {
            format!(
                "TWILIO_VIDEO_BASE_URL must be an absolute URL such as https://video.twilio.com ({e})"
            )
        })?;
        let mut config = TwilioConfig::new(
            self.credentials.account_sid.clone(),
            self.credentials.api_key_sid.clone(),
            self.credentials.api_key_secret.clone(),
        );
        config.base_url = base_url;
        config.region = self.twilio.region.clone();
        config.edge = self.twilio.edge.clone();
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    /// The effective configuration as `key = value  (origin)` lines, secrets redacted.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for spec in KEYS {
            let value = match spec.key {
                "backend" => self.backend.to_string(),
                "host" => self.host.to_string(),
                "port" => self.port.to_string(),
                "room.name" => self.room.name.to_string(),
                "room.type" => self.room.room_type.to_string(),
                "room.allow_param" => self.room.allow_param.to_string(),
                "token.ttl" => self.token.ttl_secs.to_string(),
                "token.region" => self.token.region.clone().unwrap_or_else(|| "(none)".into()),
                "credentials.account_sid" => self.credentials.account_sid.to_string(),
                "credentials.auth_token" => match &self.credentials.auth_token {
                    Some(_) => "[redacted]".into(),
                    None => "(not set)".into(),
                },
                "credentials.api_key" => self.credentials.api_key_sid.to_string(),
                "credentials.api_secret" => "[redacted]".into(),
                "twilio.base_url" => self.twilio.base_url.clone(),
                "twilio.region" => self
                    .twilio
                    .region
                    .clone()
                    .unwrap_or_else(|| "(none)".into()),
                "twilio.edge" => self.twilio.edge.clone().unwrap_or_else(|| "(none)".into()),
                "emulator.ad_hoc_rooms" => self.ad_hoc_rooms.to_string(),
                "workshop_dir" => self.workshop_dir.display().to_string(),
                "log.format" => self.log_format.as_str().into(),
                _ => continue,
            };
            let origin = self
                .origins
                .get(spec.key)
                .map(ToString::to_string)
                .unwrap_or_else(|| "default".into());
            out.push_str(&format!("{:<24} = {:<40} ({origin})\n", spec.key, value));
        }
        if self.credentials.seeded {
            out.push_str(
                "\nThe credentials are the emulator's seeded test values (public, not secret).\n",
            );
        }
        out
    }
}

/// One configuration key: its names in every layer, its default and its meaning. This table
/// drives the layering, `videoroom config` and the documentation.
#[derive(Debug)]
pub struct KeySpec {
    /// Dotted key, as in `videoroom.toml` (`room.name` is `[room] name = ...`).
    pub key: &'static str,
    /// Environment variable names, first wins when several are set.
    pub env: &'static [&'static str],
    /// Command-line flag, if any (credentials have none: flags show up in `ps`).
    pub flag: Option<&'static str>,
    /// Built-in default, if any.
    pub default: Option<&'static str>,
    /// Whether the value is a secret (never printed).
    pub secret: bool,
    pub meaning: &'static str,
}

/// Every configuration key.
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        key: "backend",
        env: &["VIDEOROOM_BACKEND"],
        flag: Some("--backend"),
        default: Some("emulator"),
        secret: false,
        meaning: "emulator (offline, built in) or twilio (real Twilio REST API)",
    },
    KeySpec {
        key: "host",
        env: &["VIDEOROOM_HOST"],
        flag: Some("--host"),
        default: Some("127.0.0.1"),
        secret: false,
        meaning: "IP address to bind; 0.0.0.0 lets other computers connect",
    },
    KeySpec {
        key: "port",
        env: &["PORT"],
        flag: Some("--port"),
        default: Some("3000"),
        secret: false,
        meaning: "TCP port; 0 picks a free one (the banner prints it)",
    },
    KeySpec {
        key: "room.name",
        env: &["VIDEOROOM_ROOM"],
        flag: Some("--room"),
        default: Some("myroom"),
        secret: false,
        meaning: "room joined when a request names none",
    },
    KeySpec {
        key: "room.type",
        env: &["VIDEOROOM_ROOM_TYPE"],
        flag: Some("--room-type"),
        default: Some("group"),
        secret: false,
        meaning: "type of rooms created: group, go, peer-to-peer or group-small",
    },
    KeySpec {
        key: "room.allow_param",
        env: &["VIDEOROOM_ALLOW_ROOM_PARAM"],
        flag: Some("--allow-room-param"),
        default: Some("true"),
        secret: false,
        meaning: "whether a request's room parameter may choose another room",
    },
    KeySpec {
        key: "token.ttl",
        env: &["VIDEOROOM_TOKEN_TTL"],
        flag: Some("--token-ttl"),
        default: Some("3600"),
        secret: false,
        meaning: "token lifetime in seconds, 1 to 86400",
    },
    KeySpec {
        key: "token.region",
        env: &["VIDEOROOM_REGION"],
        flag: Some("--region"),
        default: None,
        secret: false,
        meaning: "Twilio region written into tokens as the twr header (e.g. jp1)",
    },
    KeySpec {
        key: "credentials.account_sid",
        env: &ENV_ACCOUNT_SID,
        flag: None,
        default: None,
        secret: false,
        meaning: "Account SID (AC…); emulator default: the seeded test account",
    },
    KeySpec {
        key: "credentials.auth_token",
        env: &ENV_AUTH_TOKEN,
        flag: None,
        default: None,
        secret: true,
        meaning: "Auth Token; emulator default: the seeded test token",
    },
    KeySpec {
        key: "credentials.api_key",
        env: &ENV_API_KEY_SID,
        flag: None,
        default: None,
        secret: false,
        meaning: "API key SID (SK…) that signs tokens; emulator default: the seeded key",
    },
    KeySpec {
        key: "credentials.api_secret",
        env: &ENV_API_KEY_SECRET,
        flag: None,
        default: None,
        secret: true,
        meaning: "API key secret; emulator default: the seeded secret",
    },
    KeySpec {
        key: "twilio.base_url",
        env: &[BASE_URL_VAR],
        flag: Some("--twilio-base-url"),
        default: Some("https://video.twilio.com"),
        secret: false,
        meaning: "Video REST API base URL used by the twilio backend",
    },
    KeySpec {
        key: "twilio.region",
        env: &[REGION_VAR],
        flag: Some("--twilio-region"),
        default: None,
        secret: false,
        meaning: "Twilio region of the REST API used by the twilio backend (e.g. ie1)",
    },
    KeySpec {
        key: "twilio.edge",
        env: &[EDGE_VAR],
        flag: Some("--twilio-edge"),
        default: None,
        secret: false,
        meaning: "Twilio edge location of the REST API used by the twilio backend (e.g. tokyo)",
    },
    KeySpec {
        key: "emulator.ad_hoc_rooms",
        env: &["VIDEOROOM_AD_HOC_ROOMS"],
        flag: Some("--ad-hoc-rooms"),
        default: Some("true"),
        secret: false,
        meaning: "emulator: an SDK client connecting to a room that does not exist creates it",
    },
    KeySpec {
        key: "workshop_dir",
        env: &["VIDEOROOM_WORKSHOP_DIR"],
        flag: Some("--workshop-dir"),
        default: Some("workshop"),
        secret: false,
        meaning: "directory of the workshop page (index.html, video.js, style.css)",
    },
    KeySpec {
        key: "log.format",
        env: &["VIDEOROOM_LOG_FORMAT"],
        flag: Some("--log-format"),
        default: Some("pretty"),
        secret: false,
        meaning: "log lines on stderr: pretty or json (level: RUST_LOG)",
    },
];

fn spec(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|s| s.key == key)
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    DotEnv(&'static str),
    Env(&'static str),
    Flag(&'static str),
}

impl Origin {
    /// The name a person used for the key in this layer, for error messages.
    fn name_for(&self, key: &str) -> String {
        match self {
            Origin::Default => key.to_owned(),
            Origin::File(path) => format!("{key} (in {})", path.display()),
            Origin::DotEnv(var) => format!("{var} (in .env)"),
            Origin::Env(var) => (*var).to_owned(),
            Origin::Flag(flag) => (*flag).to_owned(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "file {}", path.display()),
            Origin::DotEnv(var) => write!(f, ".env {var}"),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// Values given on the command line; `None` leaves the key to the lower layers.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub backend: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub room: Option<String>,
    pub room_type: Option<String>,
    pub allow_room_param: Option<String>,
    pub token_ttl: Option<String>,
    pub region: Option<String>,
    pub twilio_base_url: Option<String>,
    pub twilio_region: Option<String>,
    pub twilio_edge: Option<String>,
    pub ad_hoc_rooms: Option<String>,
    pub workshop_dir: Option<String>,
    pub log_format: Option<String>,
}

impl Overrides {
    fn pairs(&self) -> Vec<(&'static str, &Option<String>)> {
        vec![
            ("backend", &self.backend),
            ("host", &self.host),
            ("port", &self.port),
            ("room.name", &self.room),
            ("room.type", &self.room_type),
            ("room.allow_param", &self.allow_room_param),
            ("token.ttl", &self.token_ttl),
            ("token.region", &self.region),
            ("twilio.base_url", &self.twilio_base_url),
            ("twilio.region", &self.twilio_region),
            ("twilio.edge", &self.twilio_edge),
            ("emulator.ad_hoc_rooms", &self.ad_hoc_rooms),
            ("workshop_dir", &self.workshop_dir),
            ("log.format", &self.log_format),
        ]
    }
}

/// The layers to read, made explicit so tests never touch the process environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `videoroom.toml` (or `--config PATH`); `None` skips the file layer.
    pub config_file: Option<ConfigFile>,
    /// The `.env` file; `None` skips it. A missing file is not an error.
    pub dotenv_file: Option<PathBuf>,
    /// Environment variables (only the names in [`KEYS`] are read).
    pub env: BTreeMap<String, String>,
    pub overrides: Overrides,
}

/// The TOML file layer.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// A file named explicitly (`--config`) must exist; the default one may be absent.
    pub required: bool,
}

impl Sources {
    /// The sources of a real process: `videoroom.toml` (or `config_path`) and `.env` in the
    /// working directory, the process environment, and the flags.
    pub fn from_process(config_path: Option<PathBuf>, overrides: Overrides) -> Self {
        let env_config = std::env::var_os("VIDEOROOM_CONFIG").map(PathBuf::from);
        let config_file = match config_path.or(env_config) {
            Some(path) => ConfigFile {
                path,
                required: true,
            },
            None => ConfigFile {
                path: PathBuf::from("videoroom.toml"),
                required: false,
            },
        };
        let env = KEYS
            .iter()
            .flat_map(|s| s.env.iter())
            .filter_map(|name| Some(((*name).to_owned(), std::env::var(name).ok()?)))
            .collect();
        Self {
            config_file: Some(config_file),
            dotenv_file: Some(PathBuf::from(".env")),
            env,
            overrides,
        }
    }

    /// Reads and validates every layer.
    pub fn load(&self) -> Result<Settings, SettingsError> {
        let mut origins: BTreeMap<&'static str, Origin> = BTreeMap::new();
        let mut builder = Config::builder();
        for spec in KEYS {
            if let Some(default) = spec.default {
                builder = builder
                    .set_default(spec.key, default)
                    .map_err(|e| SettingsError::single(e.to_string()))?;
            }
        }

        if let Some(file) = &self.config_file {
            if file.path.exists() {
                let source = File::from(file.path.as_path())
                    .format(FileFormat::Toml)
                    .required(true);
                let alone = Config::builder()
                    .add_source(source.clone())
                    .build()
                    .map_err(|e| {
                        SettingsError::single(format!(
                            "{} is not valid TOML: {e}",
                            file.path.display()
                        ))
                    })?;
                let mut unknown = Vec::new();
                collect_leaf_keys(&alone.cache, String::new(), &mut unknown);
                unknown.retain(|k| spec(k).is_none());
                if !unknown.is_empty() {
                    return Err(SettingsError::single(format!(
                        "{}: unknown key(s) {}; known keys are {}",
                        file.path.display(),
                        unknown.join(", "),
                        KEYS.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
                    )));
                }
                for spec in KEYS {
                    if alone.get::<Value>(spec.key).is_ok() {
                        origins.insert(spec.key, Origin::File(file.path.clone()));
                    }
                }
                builder = builder.add_source(source);
            } else if file.required {
                return Err(SettingsError::single(format!(
                    "config file {} does not exist; create it or drop --config / VIDEOROOM_CONFIG",
                    file.path.display()
                )));
            }
        }

        if let Some(path) = &self.dotenv_file {
            let vars = read_dotenv(path)?;
            let layer = Layer::from_vars(&vars, Origin::DotEnv);
            for (key, (_, origin)) in &layer.values {
                origins.insert(key, origin.clone());
            }
            builder = builder.add_source(layer);
        }

        let layer = Layer::from_vars(&self.env, Origin::Env);
        for (key, (_, origin)) in &layer.values {
            origins.insert(key, origin.clone());
        }
        builder = builder.add_source(layer);

        for (key, value) in self.overrides.pairs() {
            if let Some(value) = value {
                let flag = spec(key).and_then(|s| s.flag).unwrap_or(key);
                origins.insert(key, Origin::Flag(flag));
                builder = builder
                    .set_override(key, value.as_str())
                    .map_err(|e| SettingsError::single(e.to_string()))?;
            }
        }

        let config = builder
            .build()
            .map_err(|e| SettingsError::single(format!("could not read the configuration: {e}")))?;
        Validator {
            config,
            origins,
            problems: Vec::new(),
        }
        .validate()
    }
}

fn collect_leaf_keys(value: &Value, prefix: String, out: &mut Vec<String>) {
    match &value.kind {
        ValueKind::Table(table) => {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                collect_leaf_keys(v, key, out);
            }
        }
        _ => out.push(prefix),
    }
}

fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, SettingsError> {
    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(e) if e.not_found() => return Ok(BTreeMap::new()),
        Err(e) => {
            return Err(SettingsError::single(format!(
                "could not read {}: {e}",
                path.display()
            )))
        }
    };
    let mut vars = BTreeMap::new();
    for item in iter {
        let (name, value) = item.map_err(|e| {
            SettingsError::single(format!(
                "{} has a line that is not NAME=value: {e}",
                path.display()
            ))
        })?;
        vars.insert(name, value);
    }
    Ok(vars)
}

/// A layer of values found under environment-variable names (`.env` or the environment).
#[derive(Debug, Clone)]
struct Layer {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Layer {
    fn from_vars(vars: &BTreeMap<String, String>, origin: fn(&'static str) -> Origin) -> Self {
        let mut values = BTreeMap::new();
        for spec in KEYS {
            // The first name of each pair wins; an empty value counts as unset, so a copied
            // `.env.example` with blank lines does not override the defaults.
            let found = spec.env.iter().find_map(|name| {
                vars.get(*name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (v.clone(), origin(name)))
            });
            if let Some(found) = found {
                values.insert(spec.key, found);
            }
        }
        Self { values }
    }
}

impl Source for Layer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(self
            .values
            .iter()
            .map(|(key, (value, origin))| {
                let origin = origin.to_string();
                ((*key).to_owned(), Value::new(Some(&origin), value.as_str()))
            })
            .collect())
    }
}

/// Invalid settings: every problem found, each naming its key and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct SettingsError {
    pub problems: Vec<String>,
}

impl SettingsError {
    fn single(problem: String) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

struct Validator {
    config: Config,
    origins: BTreeMap<&'static str, Origin>,
    problems: Vec<String>,
}

impl Validator {
    fn name(&self, key: &str) -> String {
        self.origins
            .get(key)
            .cloned()
            .unwrap_or(Origin::Default)
            .name_for(key)
    }

    fn raw(&self, key: &str) -> Option<String> {
        self.config.get_string(key).ok()
    }

    fn problem(&mut self, key: &str, message: impl fmt::Display) {
        let name = self.name(key);
        self.problems.push(format!("{name}: {message}"));
    }

    /// An optional free-form value; blank means unset.
    fn optional(&self, key: &str) -> Option<String> {
        self.raw(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn parse<T>(&mut self, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let raw = self.raw(key)?;
        match parse(raw.trim()) {
            Ok(v) => Some(v),
            Err(message) => {
                self.problem(key, message);
                None
            }
        }
    }

    fn validate(mut self) -> Result<Settings, SettingsError> {
        let backend = self.parse("backend", parse_enum::<BackendKind>);
        let host = self.parse("host", |s| {
            if s == "localhost" {
                return Ok(IpAddr::from([127, 0, 0, 1]));
            }
            s.parse::<IpAddr>().map_err(|_| {
                format!("must be an IP address such as 127.0.0.1 or 0.0.0.0 (got '{s}')")
            })
        });
        let port = self.parse("port", |s| {
            s.parse::<u16>()
                .map_err(|_| format!("must be a port number from 0 to 65535 (got '{s}')"))
        });
        let room_name = self.parse("room.name", |s| {
            RoomName::parse(s).map_err(|e| format!("{e}; choose another room name"))
        });
        let room_type = self.parse("room.type", |s| {
            s.parse::<RoomType>().map_err(|e| e.to_string())
        });
        let allow_param = self.parse("room.allow_param", parse_bool);
        let ttl = self.parse("token.ttl", |s| {
            let ttl = s
                .parse::<u64>()
                .map_err(|_| format!("must be a whole number of seconds (got '{s}')"))?;
            if ttl == 0 || ttl > MAX_TTL_SECS {
                return Err(format!(
                    "must be between 1 and {MAX_TTL_SECS} seconds (got {ttl}); Twilio refuses tokens that live longer than 24 hours"
                ));
            }
            Ok(ttl)
        });
        let region = match self.raw("token.region") {
            None => Some(None),
            Some(r) if r.trim().is_empty() => Some(None),
            Some(_) => self
                .parse("token.region", |s| {
                    if s.len() <= 16
                        && s.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    {
                        Ok(s.to_owned())
                    } else {
                        Err(format!(
                            "must be a Twilio region id such as us1, ie1 or jp1 (got '{s}')"
                        ))
                    }
                })
                .map(Some),
        };
        let base_url = self.parse("twilio.base_url", |s| {
            if (s.starts_with("http://") || s.starts_with("https://")) && s.len() > 8 {
                Ok(s.trim_end_matches('/').to_owned())
            } else {
                Err(format!(
                    "must be an http:// or https:// URL such as https://video.twilio.com (got '{s}')"
                ))
            }
        });
        let ad_hoc_rooms = self.parse("emulator.ad_hoc_rooms", parse_bool);
        let twilio_region = self.optional("twilio.region");
        let twilio_edge = self.optional("twilio.edge");
        let workshop_dir = self
            .raw("workshop_dir")
            .map(|s| resolve_workshop_dir(Path::new(s.trim())));
        let log_format = self.parse("log.format", parse_enum::<LogFormat>);
        let credentials = self.credentials(backend.unwrap_or_default());

        match (
            backend,
            host,
            port,
            room_name,
            room_type,
            allow_param,
            ttl,
            region,
            base_url,
            workshop_dir,
            log_format,
            credentials,
            ad_hoc_rooms,
        ) {
            (
                Some(backend),
                Some(host),
                Some(port),
                Some(name),
                Some(room_type),
                Some(allow_param),
                Some(ttl_secs),
                Some(region),
                Some(base_url),
                Some(workshop_dir),
                Some(log_format),
                Some(credentials),
                Some(ad_hoc_rooms),
            ) if self.problems.is_empty() => {
                let settings = Settings {
                    backend,
                    host,
                    port,
                    room: RoomSettings {
                        name,
                        room_type,
                        allow_param,
                    },
                    token: TokenSettings { ttl_secs, region },
                    credentials,
                    twilio: TwilioSettings {
                        base_url,
                        region: twilio_region,
                        edge: twilio_edge,
                    },
                    ad_hoc_rooms,
                    workshop_dir,
                    log_format,
                    origins: self.origins,
                };
                if let Err(e) = settings.token_signer() {
                    return Err(SettingsError::single(format!(
                        "API_SECRET (or TWILIO_API_KEY_SECRET): {e}"
                    )));
                }
                // The Twilio adapter has the last word on its own settings (region and edge
                // apply only to twilio.com hosts, https only, ...), but only when it is used.
                if settings.backend == BackendKind::Twilio {
                    if let Err(e) = settings.twilio_config() {
                        return Err(SettingsError::single(e));
                    }
                }
                Ok(settings)
            }
            _ => {
                if self.problems.is_empty() {
                    self.problems
                        .push("a required setting is missing".to_owned());
                }
                Err(SettingsError {
                    problems: self.problems,
                })
            }
        }
    }

    fn credentials(&mut self, backend: BackendKind) -> Option<Credentials> {
        let account = self.raw("credentials.account_sid");
        let auth_token = self.raw("credentials.auth_token");
        let api_key = self.raw("credentials.api_key");
        let api_secret = self.raw("credentials.api_secret");

        if backend == BackendKind::Twilio {
            let missing: Vec<&str> = [
                ("ACCOUNT_SID (or TWILIO_ACCOUNT_SID)", &account),
                ("API_KEY (or TWILIO_API_KEY_SID)", &api_key),
                ("API_SECRET (or TWILIO_API_KEY_SECRET)", &api_secret),
            ]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(name, _)| name)
            .collect();
            if !missing.is_empty() {
                self.problems.push(format!(
                    "the twilio backend needs your Twilio credentials: set {} in .env or the environment (Console: Account Info and API keys), or use --backend emulator to run offline",
                    missing.join(", ")
                ));
                return None;
            }
        }

        // An API key is a pair: a SID with another key's secret would mint tokens that
        // nothing accepts, so a half-configured key is refused rather than completed with a
        // seeded value.
        let half_key = match (&api_key, &api_secret) {
            (Some(_), None) => Some((
                self.name("credentials.api_key"),
                "API_SECRET (or TWILIO_API_KEY_SECRET)",
            )),
            (None, Some(_)) => Some((
                self.name("credentials.api_secret"),
                "API_KEY (or TWILIO_API_KEY_SID)",
            )),
            _ => None,
        };
        if let Some((set, missing)) = &half_key {
            self.problems.push(format!(
                "{set} is set but {missing} is not: an API key needs both its SID and its secret"
            ));
        }
        let seeded = account.is_none() && api_key.is_none() && api_secret.is_none();
        let account_sid =
            self.parse_sid("credentials.account_sid", account, TEST_ACCOUNT_SID, |s| {
                AccountSid::parse(s).map_err(|e| {
                    let hint = if s.starts_with("SK") {
                        "; that looks like an API key SID, which goes in API_KEY"
                    } else {
                        "; copy the Account SID from the Twilio Console's Account Info"
                    };
                    format!("{e}{hint}")
                })
            });
        let api_key_sid = self.parse_sid("credentials.api_key", api_key, TEST_API_KEY_SID, |s| {
            ApiKeySid::parse(s).map_err(|e| {
                let hint = if s.starts_with("AC") {
                    "; that looks like the Account SID: create an API key (Console › API keys) and use its SK… SID"
                } else {
                    "; use the SID of an API key (Console › API keys)"
                };
                format!("{e}{hint}")
            })
        });
        let auth_token = match (auth_token, backend) {
            (Some(t), _) => Some(SecretString::from(t)),
            (None, BackendKind::Emulator) => Some(SecretString::from(TEST_AUTH_TOKEN)),
            (None, BackendKind::Twilio) => None,
        };
        let api_key_secret =
            SecretString::from(api_secret.unwrap_or_else(|| TEST_API_KEY_SECRET.to_owned()));
        if half_key.is_some() {
            return None;
        }
        Some(Credentials {
            account_sid: account_sid?,
            auth_token,
            api_key_sid: api_key_sid?,
            api_key_secret,
            seeded,
        })
    }

    fn parse_sid<T>(
        &mut self,
        key: &str,
        value: Option<String>,
        seeded: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = value.unwrap_or_else(|| seeded.to_owned());
        match parse(value.trim()) {
            Ok(v) => Some(v),
            Err(message) => {
                self.problem(key, message);
                None
            }
        }
    }
}

/// Parses one of a serde enum's lowercase names, with serde's "expected one of" message.
fn parse_enum<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s);
    T::deserialize(de).map_err(|e| e.to_string())
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("must be true or false (got '{s}')")),
    }
}

/// Resolves the workshop directory: as given when absolute or when it exists relative to the
/// working directory; otherwise the project's own `workshop/` folder, so `cargo run` from a
/// crate directory still finds the page.
fn resolve_workshop_dir(given: &Path) -> PathBuf {
    if given.is_absolute() || given.exists() {
        return given.to_path_buf();
    }
    let beside_sources = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(given);
    if beside_sources.exists() {
        beside_sources.canonicalize().unwrap_or(beside_sources)
    } else {
        given.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_overridable_key_is_in_the_key_table() {
        for (key, _) in Overrides::default().pairs() {
            assert!(spec(key).is_some(), "{key} is missing from KEYS");
        }
    }

    #[test]
    fn booleans_accept_the_usual_spellings_and_name_the_rule_otherwise() {
        assert_eq!(parse_bool("Yes"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(
            parse_bool("maybe"),
            Err("must be true or false (got 'maybe')".to_owned())
        );
    }
}
