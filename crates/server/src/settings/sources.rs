//! The layers, lowest first: the defaults of the key specs, an optional `videoroom.toml`, a
//! `.env` file, the environment, the command-line flags. Each layer is read under the names
//! its key specs give; the merged values are deserialized into the typed raw struct once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::builder::PossibleValuesParser;
use config::{Config, ConfigError, File, FileFormat, Map, Source, Value};
use videoroom_core::credentials::first_set;

use super::keys::{spec, KEYS};
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
/// `None` leaves the key to the lower layers. Values stay text so that a bad one is reported
/// like any other layer's, with every other problem.
#[derive(Debug, Clone, Default, clap::Args, serde::Serialize)]
pub struct Overrides {
    /// Where rooms live
    #[arg(long, global = true, value_parser = PossibleValuesParser::new(["emulator", "twilio"]))]
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
    /// Type of rooms created [default: group]
    #[arg(long, global = true, value_parser = PossibleValuesParser::new(["group", "go", "peer-to-peer", "group-small"]))]
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
    /// Log line format on standard error [default: pretty]
    #[arg(long, global = true, value_parser = PossibleValuesParser::new(["pretty", "json"]))]
    #[serde(rename = "log.format", skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
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
        let env_config = std::env::var_os(CONFIG_VAR).map(PathBuf::from);
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
        Settings::from_raw(raw, origins)
    }
}

/// A file that does not fit the raw struct: an unknown key (named in full, `room.nmae`), or a
/// table where a value belongs.
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
    match unknown {
        Some(field) => {
            let key = match table {
                Some(table) => format!("{table}.{field}"),
                None => field.to_owned(),
            };
            SettingsError::single(format!(
                "{}: unknown key(s) {key}; known keys are {}",
                path.display(),
                KEYS.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
            ))
        }
        None => SettingsError::single(format!("{}: {error}", path.display())),
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
                args.push(flag.to_owned());
                args.push(spec.default.unwrap_or("x").to_owned());
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
