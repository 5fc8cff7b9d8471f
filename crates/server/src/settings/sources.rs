//! The layers, lowest first: the defaults of the key specs, an optional `videoroom.toml`, a
//! `.env` file, the environment, the command-line flags. Each layer is read under the names
//! its key specs give; the merged values are deserialized into the typed raw struct once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use config::{Config, ConfigError, File, FileFormat, Map, Source, Value};
use videoroom_core::credentials::first_set;
use videoroom_emulator::settings::read_dotenv;

use super::keys::{spec, KEYS};
use super::validation::did_you_mean;
use super::{Raw, Settings, SettingsError};

/// The variable that names the TOML file of layer 2 (as `--config` does).
pub const CONFIG_VAR: &str = "VIDEOROOM_CONFIG";

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
    pub(super) fn name_for(&self, key: &str) -> String {
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

/// The command-line flags that set keys: the top layer. `videoroom`'s command line flattens
/// this struct in, so a flag goes from clap straight into the layer; each field is serialized
/// under its dotted key, which must be in [`KEYS`] with the same flag (a test checks both).
/// `None` leaves the key to the lower layers. Values stay text, with no clap value parser
/// (not even for the enum flags), so that a bad one is reported like any other layer's, with
/// every other problem and a "did you mean" hint, rather than by clap alone.
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize)]
pub struct Overrides {
    /// Where rooms live: emulator or twilio [default: emulator]
    #[arg(long, global = true, value_name = "BACKEND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// IP address to bind [default: 127.0.0.1]
    #[arg(long, global = true, value_name = "IP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// TCP port; 0 picks a free one [default: 3000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Room joined when a request names none [default: myroom]
    #[arg(long, global = true, value_name = "NAME")]
    #[serde(rename = "room.name", skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Type of rooms created: group, go, peer-to-peer or group-small [default: group]
    #[arg(long, global = true, value_name = "TYPE")]
    #[serde(rename = "room.type", skip_serializing_if = "Option::is_none")]
    pub room_type: Option<String>,
    /// Whether a request's room parameter may choose another room [default: true]
    #[arg(long, global = true, value_name = "BOOL")]
    #[serde(rename = "room.allow_param", skip_serializing_if = "Option::is_none")]
    pub allow_room_param: Option<String>,
    /// Token lifetime in seconds, 1 to 86400 [default: 3600]
    #[arg(long, global = true, value_name = "SECONDS")]
    #[serde(rename = "token.ttl", skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<String>,
    /// Twilio region written into tokens as `twr` (e.g. jp1)
    #[arg(long, global = true)]
    #[serde(rename = "token.region", skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Video REST API base URL of the twilio backend [default: https://video.twilio.com]
    #[arg(long, global = true, value_name = "URL")]
    #[serde(rename = "twilio.base_url", skip_serializing_if = "Option::is_none")]
    pub twilio_base_url: Option<String>,
    /// Twilio region of the REST API for the twilio backend (e.g. ie1)
    #[arg(long, global = true)]
    #[serde(rename = "twilio.region", skip_serializing_if = "Option::is_none")]
    pub twilio_region: Option<String>,
    /// Twilio edge location of the REST API for the twilio backend (e.g. tokyo)
    #[arg(long, global = true)]
    #[serde(rename = "twilio.edge", skip_serializing_if = "Option::is_none")]
    pub twilio_edge: Option<String>,
    /// Emulator: whether connecting to a missing room creates it [default: true]
    #[arg(long, global = true, value_name = "BOOL")]
    #[serde(
        rename = "emulator.ad_hoc_rooms",
        skip_serializing_if = "Option::is_none"
    )]
    pub ad_hoc_rooms: Option<String>,
    /// Emulator: hosts status callbacks may go to besides loopback, comma separated (* for any)
    #[arg(long, global = true, value_name = "HOSTS")]
    #[serde(
        rename = "emulator.callback_hosts",
        skip_serializing_if = "Option::is_none"
    )]
    pub callback_hosts: Option<String>,
    /// Host names the server answers to besides localhost names, comma separated
    #[arg(long, global = true, value_name = "NAMES")]
    #[serde(
        rename = "server.allowed_hosts",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_hosts: Option<String>,
    /// Web origins whose pages may call this server cross-origin, comma separated
    #[arg(long, global = true, value_name = "ORIGINS")]
    #[serde(
        rename = "server.allowed_origins",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_origins: Option<String>,
    /// Directory of the workshop page [default: workshop]
    #[arg(long, global = true, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workshop_dir: Option<String>,
    /// Log line format on standard error: pretty or json [default: pretty]
    #[arg(long, global = true, value_name = "FORMAT")]
    #[serde(rename = "log.format", skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    /// Who may get a token: none, passcode or bearer [default: none]
    #[arg(long, global = true, value_name = "MODE")]
    #[serde(rename = "auth.mode", skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Start twilio mode on a non-loopback address without auth anyway (warned at every start)
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(
        rename = "auth.insecure_public",
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_public: Option<String>,
    /// Rooms a request may name besides the configured one: names or globs, comma separated
    #[arg(long, global = true, value_name = "ROOMS")]
    #[serde(rename = "room.allowed", skip_serializing_if = "Option::is_none")]
    pub allowed_rooms: Option<String>,
    /// Add a short random suffix to every identity [default: false]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(
        rename = "token.identity_suffix",
        skip_serializing_if = "Option::is_none"
    )]
    pub identity_suffix: Option<String>,
    // `--https` and `--lan` take their optional value only after `=`, so that `videoroom --lan
    // config` is the flag and the command, not `--lan` given "config".
    /// Serve HTTPS (self-signed unless --tls-cert/--tls-key); `--https` alone means true
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(rename = "tls.https", skip_serializing_if = "Option::is_none")]
    pub https: Option<String>,
    /// PEM certificate to serve HTTPS with (e.g. from mkcert); turns HTTPS on
    #[arg(long, global = true, value_name = "FILE")]
    #[serde(rename = "tls.cert", skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// PEM private key of --tls-cert
    #[arg(long, global = true, value_name = "FILE")]
    #[serde(rename = "tls.key", skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    /// With HTTPS: a plain-HTTP port that redirects to the HTTPS URL
    #[arg(long, global = true, value_name = "PORT")]
    #[serde(
        rename = "tls.http_redirect_port",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_redirect_port: Option<String>,
    /// Workshop preset for a room of devices: host 0.0.0.0 and HTTPS; `--lan` alone means true
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(rename = "lan", skip_serializing_if = "Option::is_none")]
    pub lan: Option<String>,
}

impl Overrides {
    /// The flags given, as (dotted key, value).
    pub(super) fn pairs(&self) -> Vec<(String, String)> {
        let value = serde_json::to_value(self).expect("a struct of optional strings serializes");
        value
            .as_object()
            .expect("a struct serializes as a JSON object")
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
            .collect()
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
    /// The sources of a real process: `videoroom.toml` (or `config_path`, or the file
    /// `VIDEOROOM_CONFIG` names) and `.env` in the working directory, the process environment,
    /// and the flags. This is the one place that reads the process environment.
    pub fn from_process(config_path: Option<PathBuf>, overrides: Overrides) -> Self {
        // An empty value counts as unset here too, as for every other variable and flag.
        let env_config = std::env::var_os(CONFIG_VAR)
            .filter(|v| !v.to_string_lossy().trim().is_empty())
            .map(PathBuf::from);
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
                for spec in KEYS {
                    if alone.get::<Value>(spec.key).is_ok() {
                        origins.insert(spec.key, Origin::File(file.path.clone()));
                    }
                }
                // The raw struct refuses unknown keys; only the file can hold one, so it is
                // checked alone, where the problem can name the file.
                alone
                    .try_deserialize::<Raw>()
                    .map_err(|e| file_problem(&file.path, e))?;
                builder = builder.add_source(source);
            } else if file.required {
                return Err(SettingsError::single(format!(
                    "config file {} does not exist; create it or drop --config / {CONFIG_VAR}",
                    file.path.display()
                )));
            }
        }

        let mut warnings = Vec::new();
        if let Some(path) = &self.dotenv_file {
            let vars = read_dotenv(path).map_err(|e| SettingsError::single(e.to_string()))?;
            warnings.extend(ignored_in_dotenv(&vars));
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
            let spec = spec(&key).ok_or_else(|| {
                SettingsError::single(format!("the flag for {key} has no key spec"))
            })?;
            origins.insert(spec.key, Origin::Flag(spec.flag.unwrap_or(spec.key)));
            builder = builder
                .set_override(spec.key, value)
                .map_err(|e| SettingsError::single(e.to_string()))?;
        }

        let raw = builder
            .build()
            .and_then(Config::try_deserialize::<Raw>)
            .map_err(|e| SettingsError::single(format!("could not read the configuration: {e}")))?;
        let mut settings = Settings::from_raw(raw, origins)?;
        settings.warnings = warnings;
        Ok(settings)
    }
}

impl Sources {
    /// What the layers say, key by key (the highest layer winning), before any check: what
    /// `videoroom config` prints when the settings cannot be used, so that a person sees what
    /// is set, where, and what is not set rather than nothing (the problems themselves go to
    /// standard error). Secrets are shown only as set or not.
    pub fn describe_unchecked(&self) -> String {
        let mut values: BTreeMap<&'static str, (String, Origin)> = KEYS
            .iter()
            .filter_map(|spec| Some((spec.key, (spec.default?.to_owned(), Origin::Default))))
            .collect();
        if let Some(file) = self.config_file.as_ref().filter(|f| f.path.exists()) {
            let read = Config::builder()
                .add_source(File::from(file.path.as_path()).format(FileFormat::Toml))
                .build();
            if let Ok(alone) = read {
                for spec in KEYS {
                    if let Ok(value) = alone.get::<String>(spec.key) {
                        values.insert(spec.key, (value, Origin::File(file.path.clone())));
                    }
                }
            }
        }
        let dotenv = self
            .dotenv_file
            .as_deref()
            .and_then(|path| read_dotenv(path).ok())
            .unwrap_or_default();
        for layer in [
            Layer::from_vars(&dotenv, Origin::DotEnv),
            Layer::from_vars(&self.env, Origin::Env),
        ] {
            values.extend(layer.values);
        }
        for (key, value) in self.overrides.pairs() {
            if let Some(spec) = spec(&key) {
                values.insert(
                    spec.key,
                    (value, Origin::Flag(spec.flag.unwrap_or(spec.key))),
                );
            }
        }
        let mut out = String::new();
        for spec in KEYS {
            let line = match values.get(spec.key) {
                Some((_, origin)) if spec.secret => format!("{:<40} ({origin})", "[redacted]"),
                Some((value, origin)) => format!("{value:<40} ({origin})"),
                None => "(not set)".to_owned(),
            };
            out.push_str(&format!("{:<24} = {line}\n", spec.key).replace(" \n", "\n"));
        }
        out
    }
}

/// A file that does not fit the raw struct: an unknown key (named in full, `room.nmae`, with
/// the known key it is probably meant to be), or a value where a table belongs (`room =
/// "myroom"` for `[room] name = "myroom"`).
fn file_problem(path: &Path, error: ConfigError) -> SettingsError {
    // config wraps the error of a nested table's field in `At { key: "room" }`; serde's own
    // message names the unknown field itself.
    let (table, inner) = match &error {
        ConfigError::At {
            error,
            key: Some(key),
            ..
        } => (Some(key.as_str()), error.to_string()),
        other => (None, other.to_string()),
    };
    let unknown = inner
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    if let Some(field) = unknown {
        let key = match table {
            Some(table) => format!("{table}.{field}"),
            None => field.to_owned(),
        };
        let hint = match likely_key(&key) {
            Some(known) => format!(" (did you mean {}?)", toml_form(known)),
            None => String::new(),
        };
        return SettingsError::single(format!(
            "{}: unknown key(s) {key}{hint}; known keys are {}",
            path.display(),
            KEYS.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
        ));
    }
    // A value given for a table: serde says "expected struct RawRoom" for the key `room`.
    if let Some(table) = table.filter(|t| inner.contains("expected struct") && is_table(t)) {
        return SettingsError::single(format!(
            "{}: `{table}` is a table, not a value: {}",
            path.display(),
            table_hint(table)
        ));
    }
    SettingsError::single(format!("{}: {error}", path.display()))
}

/// Whether `name` is a table of the TOML file (the first part of a dotted key).
fn is_table(name: &str) -> bool {
    KEYS.iter()
        .any(|s| s.key.split_once('.').is_some_and(|(t, _)| t == name))
}

/// How to write the keys of `table`: `[room]` then `name = ...`, and the table's keys.
fn table_hint(table: &str) -> String {
    let keys: Vec<&str> = KEYS
        .iter()
        .filter_map(|s| s.key.strip_prefix(table)?.strip_prefix('.'))
        .collect();
    let example = keys.iter().find(|k| **k == "name").unwrap_or(&keys[0]);
    format!(
        "write `[{table}]` on a line of its own and `{example} = ...` under it (the keys of [{table}] are {})",
        keys.join(", ")
    )
}

/// The known key an unknown one is probably meant to be: the same last part in another table
/// (`[room] ttl` for `token.ttl`), else a near spelling (`room.nmae`), else a near last part
/// (a top-level `nmae` for `room.name`).
fn likely_key(unknown: &str) -> Option<&'static str> {
    fn last_part(key: &str) -> &str {
        key.rsplit('.').next().unwrap_or(key)
    }
    let keys = || KEYS.iter().map(|s| s.key);
    keys()
        .find(|key| last_part(key) == last_part(unknown))
        .or_else(|| did_you_mean(unknown, keys()))
        .or_else(|| {
            let last = did_you_mean(last_part(unknown), keys().map(last_part))?;
            keys().find(|key| last_part(key) == last)
        })
}

/// A dotted key as it is written in the TOML file.
fn toml_form(key: &str) -> String {
    match key.split_once('.') {
        Some((table, rest)) => format!("`{rest}` under `[{table}]` ({key})"),
        None => format!("`{key}` at the top of the file, before any [table]"),
    }
}

/// Variables a `.env` file may hold that are read before it, or by something other than the
/// settings, and so cannot take effect from there. Each is named with a warning rather than
/// silently ignored. (Honouring them was weighed: `VIDEOROOM_CONFIG` would let a lower layer
/// choose the file beneath it, and `RUST_LOG` is read by the logger, which both binaries
/// start before or without their settings.)
const READ_BEFORE_DOTENV: &[(&str, &str)] = &[
    (
        CONFIG_VAR,
        "the TOML file is chosen before .env is read; use --config PATH or set it in the environment",
    ),
    (
        "RUST_LOG",
        "the log level is read from the environment only; set it there (RUST_LOG=debug cargo run, or $env:RUST_LOG=\"debug\" in PowerShell)",
    ),
];

fn ignored_in_dotenv(vars: &BTreeMap<String, String>) -> Vec<String> {
    READ_BEFORE_DOTENV
        .iter()
        .filter(|(name, _)| vars.get(*name).is_some_and(|v| !v.trim().is_empty()))
        .map(|(name, why)| format!("{name} in .env is ignored: {why}"))
        .collect()
}

/// A layer of values found under environment-variable names (`.env` or the environment).
#[derive(Debug, Clone)]
struct Layer {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Layer {
    /// Reads every key's variables with core's credential reader, so every variable (the
    /// credentials and the rest) follows the same rules as in `videoroom-emulator`: the first
    /// name of each pair wins, and an empty value counts as unset.
    fn from_vars(vars: &BTreeMap<String, String>, origin: fn(&'static str) -> Origin) -> Self {
        let values = KEYS
            .iter()
            .filter_map(|spec| {
                let found = first_set(spec.env, |name| vars.get(name).cloned())?;
                Some((spec.key, (found.value, origin(found.var))))
            })
            .collect();
        Self { values }
    }
}

impl Source for Layer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, ConfigError> {
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// Every flag in [`Overrides`] feeds a key whose spec names that same flag, and every key
    /// spec with a flag has it in [`Overrides`].
    #[test]
    fn the_flags_and_the_key_specs_agree() {
        let mut args = vec!["videoroom".to_owned()];
        for spec in KEYS {
            if let Some(flag) = spec.flag {
                // `--flag=value`, the one form every flag takes (`--https` and `--lan` take
                // their optional value only after `=`).
                args.push(format!("{flag}={}", spec.default.unwrap_or("x")));
            }
        }
        let cli = crate::cli::Cli::try_parse_from(&args).expect("every key spec's flag parses");
        let pairs = cli.settings.overrides.pairs();
        let with_flags = KEYS.iter().filter(|s| s.flag.is_some()).count();
        assert_eq!(pairs.len(), with_flags, "{pairs:?}");
        for (key, _) in pairs {
            let spec = spec(&key).unwrap_or_else(|| panic!("{key} is missing from KEYS"));
            assert!(
                spec.flag.is_some(),
                "{key} has a flag but its spec has none"
            );
        }
    }
}
