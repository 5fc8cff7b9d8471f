//! The command line: `videoroom [serve] | token | config | decode | check`, and the flags that
//! form the top layer of the configuration.

use std::io::Read as _;
use std::path::PathBuf;

use clap::{Args, CommandFactory as _, Parser, Subcommand};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use videoroom_core::token::{decode_unverified, TokenErrorKind, TokenVerifier};
use videoroom_core::Identity;

use crate::settings::{Overrides, Settings, CONFIG_VAR, KEYS};

/// videoroom: a Twilio Video token service that runs against real Twilio or, offline, against
/// a built-in emulator of Twilio Video.
#[derive(Debug, Parser)]
#[command(name = "videoroom", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The command line as clap parses it, with each flag's help naming the environment variables
/// behind it (`[env: PORT]`) and the settings that have no flag listed after the options.
///
/// The names come from the key specs, so the help cannot drift from what is read. clap's own
/// `env` attribute would print the same but also read the variable itself, as a flag, ahead of
/// `.env` and with the wrong origin; the settings layer reads the environment instead.
pub fn command() -> clap::Command {
    let mut command = Cli::command().mut_arg("config", |arg| with_env(arg, &[CONFIG_VAR]));
    for spec in KEYS {
        if let Some(flag) = spec.flag {
            let id = flag.trim_start_matches("--").replace('-', "_");
            command = command.mut_arg(id, |arg| with_env(arg, spec.env));
        }
    }
    let without_flags: Vec<String> = KEYS
        .iter()
        .filter(|spec| spec.flag.is_none())
        .map(|spec| format!("  {:<34} {}", spec.env.join(", "), spec.meaning))
        .collect();
    command.after_help(format!(
        "Settings without a flag (environment, .env or videoroom.toml; see docs/configuration.md):\n{}\n  {:<34} log level, e.g. debug (environment only)",
        without_flags.join("\n"),
        "RUST_LOG"
    ))
}

fn with_env(arg: clap::Arg, env: &[&str]) -> clap::Arg {
    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    arg.help(format!("{help} [env: {}]", env.join(", ")))
}

/// Flags that override every other configuration layer (see docs/configuration.md): the file
/// to read, and the flags of the keys, which go straight into the settings' flag layer.
#[derive(Debug, Default, Args)]
pub struct SettingsArgs {
    /// TOML configuration file [default: videoroom.toml, if present]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: Overrides,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the token service (the default when no command is given)
    Serve,
    /// Print an access token, and nothing else, on standard output (no backend is contacted)
    Token {
        /// The participant's identity (grants.identity)
        #[arg(long)]
        identity: String,
    },
    /// Print the effective configuration and where each value came from (secrets redacted)
    Config,
    /// Show a token's header and claims and check its signature with the configured API key
    /// (the offline replacement for jwt.io)
    Decode {
        /// The token; read from standard input when absent or `-`
        token: Option<String>,
        /// Check validity against the clock of the emulator at this URL (e.g.
        /// http://localhost:3000), which /emulator/clock/advance may have moved ahead, rather
        /// than against this computer's clock
        #[arg(long, value_name = "URL")]
        server: Option<String>,
    },
    /// Check the configured Twilio credentials with one cheap request
    Check,
    /// The twilio-video.js the emulator serves: `fetch` it into the cache, or show its `status`
    Sdk {
        #[command(subcommand)]
        action: SdkCommand,
    },
    /// The workshop page built into videoroom: `init DIR` writes an editable copy of it
    Workshop {
        #[command(subcommand)]
        action: WorkshopCommand,
    },
}

/// `videoroom workshop …`: the page built into the binary. `workshop::run_workshop_command`
/// runs it.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum WorkshopCommand {
    /// Write an editable copy of the built-in page into DIR (created if missing; existing
    /// files are never overwritten). Serve it with --workshop-dir DIR, or name the folder
    /// `workshop` and start videoroom beside it
    Init {
        /// The folder to write index.html, video.js and style.css into
        dir: PathBuf,
    },
}

/// `videoroom token`: the token for `identity` in the configured room.
pub fn token(settings: &Settings, identity: &str) -> Result<String, String> {
    let identity = Identity::parse(identity).map_err(|e| format!("--identity: {e}"))?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let signer = settings.token_signer().map_err(|e| e.to_string())?;
    Ok(signer.mint(&identity, Some(settings.room.name.as_str()), now))
}

/// The clock a token's validity is checked against.
#[derive(Debug, Clone)]
pub enum Clock {
    /// This computer's clock.
    Local,
    /// The clock of a running emulator: this computer's plus the offset that
    /// `/emulator/clock/advance` added.
    Emulator { url: String, offset_secs: i64 },
}

impl Clock {
    /// The emulator's clock, read from its `GET /emulator/state` (`clock_offset_seconds`).
    pub async fn of_emulator(url: &str) -> Result<Clock, String> {
        let base = url.trim_end_matches('/');
        let state_url = format!("{base}/emulator/state");
        let unreachable = |e: &dyn std::fmt::Display| {
            format!("--server: could not read the emulator's clock from {state_url} ({e}); is a videoroom in emulator mode (or videoroom-emulator) running there?")
        };
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| unreachable(&e))?;
        let response = client
            .get(&state_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unreachable(&e))?;
        let state: serde_json::Value = response.json().await.map_err(|e| unreachable(&e))?;
        let offset_secs = state
            .get("clock_offset_seconds")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| unreachable(&"the answer has no clock_offset_seconds"))?;
        Ok(Clock::Emulator {
            url: base.to_owned(),
            offset_secs,
        })
    }

    /// The time on this clock, in Unix seconds.
    pub fn now(&self) -> i64 {
        let local = OffsetDateTime::now_utc().unix_timestamp();
        match self {
            Clock::Local => local,
            Clock::Emulator { offset_secs, .. } => local.saturating_add(*offset_secs),
        }
    }

    /// Which clock this is, as `decode` prints it.
    fn describe(&self, now: i64) -> String {
        let shown = OffsetDateTime::from_unix_timestamp(now)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| now.to_string());
        match self {
            Clock::Local => format!(
                "this computer's clock, {shown} (an emulator whose clock was advanced is ahead of it: add --server URL to use its clock)"
            ),
            Clock::Emulator { url, offset_secs } => format!(
                "the emulator's clock at {url}, {shown} ({offset_secs} s ahead of this computer's)"
            ),
        }
    }
}

/// The outcome of `videoroom decode`: the text to print and whether the token verified.
pub struct Decoded {
    pub text: String,
    pub verified: bool,
}

/// `videoroom decode`: header, claims, signature check, validity, as a person reads them.
pub fn decode(settings: &Settings, token: Option<&str>, clock: &Clock) -> Result<Decoded, String> {
    let token = match token {
        Some(t) if t != "-" => t.trim().to_owned(),
        _ => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| format!("could not read the token from standard input: {e}"))?;
            input.trim().to_owned()
        }
    };
    // Accept a whole /video-token answer too, as people paste what they have.
    let token = serde_json::from_str::<serde_json::Value>(&token)
        .ok()
        .and_then(|v| v.get("token").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or(token);
    let decoded = decode_unverified(&token).map_err(|e| format!("not a token: {e}"))?;
    let mut text = format!(
        "Header:\n{}\n\nPayload:\n{}\n\n",
        pretty_part(&token, 0),
        pretty_part(&token, 1)
    );
    for (name, label) in [("iat", "issued"), ("nbf", "not before"), ("exp", "expires")] {
        if let Some(at) = decoded.claims.get(name).and_then(|v| v.as_i64()) {
            let shown = OffsetDateTime::from_unix_timestamp(at)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok());
            if let Some(shown) = shown {
                text.push_str(&format!("{label:<11} {shown} ({name} {at})\n"));
            }
        }
    }
    let key = settings.credentials.api_key();
    let key_sid = key.sid.to_string();
    let now = clock.now();
    let verified = match TokenVerifier::new(vec![key]).verify(&token, now) {
        Ok(v) => {
            text.push_str(&format!(
                "\nSignature: valid (HS256 with the secret of API key {key_sid})\nValid now: yes, for {} more seconds; grants identity '{}', room {}\n",
                v.expires_at - now,
                v.identity,
                v.room.as_deref().map(|r| format!("'{r}'")).unwrap_or_else(|| "(any)".into())
            ));
            true
        }
        Err(e) => {
            // The verifier checks the signature before expiry, not-before and grants, so
            // those three failures mean the signature itself is good.
            let signature_ok = matches!(
                e.kind,
                TokenErrorKind::Expired
                    | TokenErrorKind::NotYetValid
                    | TokenErrorKind::InvalidGrants
            );
            if signature_ok {
                text.push_str(&format!(
                    "\nSignature: valid (HS256 with the secret of API key {key_sid})\n"
                ));
            } else {
                text.push_str("\nSignature: NOT verified\n");
            }
            text.push_str(&format!(
                "Refused:   {} {} — {}\n",
                e.code(),
                e.kind.message(),
                e.detail
            ));
            false
        }
    };
    // Validity depends on the clock; say which one was used.
    text.push_str(&format!("Clock:     {}\n", clock.describe(now)));
    Ok(Decoded { text, verified })
}

/// One part of a token as pretty JSON, with its keys in the token's own order (as jwt.io
/// shows them; `serde_json::Value` would sort them): the text is transcoded straight from the
/// parser to the pretty printer, with no map in between.
fn pretty_part(token: &str, index: usize) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let Some(bytes) = token
        .split('.')
        .nth(index)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
    else {
        return String::new();
    };
    let mut out = Vec::new();
    let mut reader = serde_json::Deserializer::from_slice(&bytes);
    let mut writer = serde_json::Serializer::pretty(&mut out);
    let transcoded =
        serde_transcode::transcode(&mut reader, &mut writer).and_then(|()| reader.end());
    match transcoded {
        Ok(()) => String::from_utf8(out).expect("serde_json writes UTF-8 only"),
        // A part that is not JSON shows as nothing; the signature check says the rest.
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The subcommands of `videoroom`, as `--help` lists them.
    fn subcommands() -> Vec<String> {
        command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect()
    }

    fn doc(path: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} cannot be read: {e}", path.display()))
    }

    #[test]
    fn the_architectures_cli_list_is_the_binarys_list_of_commands() {
        let text = doc("docs/architecture.md");
        let list = text
            .split("the CLI (")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .expect("docs/architecture.md names the CLI's commands as `the CLI (...)`");
        let documented: Vec<String> = list
            .split(',')
            .map(|name| name.trim().trim_matches('`').to_owned())
            .collect();
        assert_eq!(documented, subcommands(), "docs/architecture.md: {list}");
    }

    #[test]
    fn the_configuration_reference_shows_every_command() {
        let text = doc("docs/configuration.md");
        let block = text
            .split("## Command line")
            .nth(1)
            .and_then(|rest| rest.split("```").nth(1))
            .expect("docs/configuration.md has a command line block");
        for name in subcommands() {
            let shown = block.lines().any(|line| {
                line.starts_with("videoroom ")
                    && line
                        .split_whitespace()
                        .any(|word| word.trim_matches(|c| c == '[' || c == ']') == name)
            });
            assert!(
                shown,
                "docs/configuration.md's command line block lacks `{name}`"
            );
        }
    }

    #[test]
    fn decoded_parts_keep_the_tokens_key_order() {
        let token = videoroom_core::token::sign_parts(
            &serde_json::json!({"alg": "HS256"}),
            &serde_json::json!({"z": 1, "a": {"y": [true, null], "b": "x"}}),
            "secret",
        );
        // json! sorts keys, so build the payload text by hand to control the order.
        let payload = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(br#"{"z":1,"a":{"y":[true,null],"b":"x"}}"#)
        };
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &payload;
        let pretty = pretty_part(&parts.join("."), 1);
        assert!(pretty.find("\"z\"") < pretty.find("\"a\""), "{pretty}");
        assert!(pretty.find("\"y\"") < pretty.find("\"b\""), "{pretty}");
    }
}

/// `videoroom sdk …`: the SDK cache from the command line, e.g. to prepare a laptop for an
/// offline workshop while it still has network access. `workshop::run_sdk_command` runs it.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum SdkCommand {
    /// Fetch the pinned twilio-video.js with npm into the cache and verify it (nothing to do
    /// when it is already there)
    Fetch,
    /// Say whether the pinned twilio-video.js is cached and where
    Status,
}
