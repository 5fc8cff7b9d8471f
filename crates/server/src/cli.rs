//! The command line: `videoroom [serve] | token | config | decode | check`, and the flags that
//! form the top layer of the configuration.

use std::io::Read as _;
use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use videoroom_core::token::{decode_unverified, TokenErrorKind, TokenVerifier};
use videoroom_core::Identity;

use crate::settings::{Overrides, Settings};

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

/// Flags that override every other configuration layer (see docs/configuration.md).
#[derive(Debug, Default, Args)]
pub struct SettingsArgs {
    /// TOML configuration file [default: videoroom.toml, if present]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Where rooms live
    #[arg(long, global = true, value_parser = PossibleValuesParser::new(["emulator", "twilio"]))]
    pub backend: Option<String>,
    /// IP address to bind [default: 127.0.0.1]
    #[arg(long, global = true, value_name = "IP")]
    pub host: Option<String>,
    /// TCP port; 0 picks a free one [default: 3000]
    #[arg(long, global = true)]
    pub port: Option<String>,
    /// Room joined when a request names none [default: myroom]
    #[arg(long, global = true, value_name = "NAME")]
    pub room: Option<String>,
    /// Type of rooms created [default: group]
    #[arg(long, global = true, value_parser = PossibleValuesParser::new(["group", "go", "peer-to-peer", "group-small"]))]
    pub room_type: Option<String>,
    /// Whether a request's room parameter may choose another room [default: true]
    #[arg(long, global = true, value_name = "BOOL")]
    pub allow_room_param: Option<String>,
    /// Token lifetime in seconds, 1 to 86400 [default: 3600]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub token_ttl: Option<String>,
    /// Twilio region written into tokens as `twr` (e.g. jp1)
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Video REST API base URL of the twilio backend [default: https://video.twilio.com]
    #[arg(long, global = true, value_name = "URL")]
    pub twilio_base_url: Option<String>,
    /// Twilio region of the REST API for the twilio backend (e.g. ie1)
    #[arg(long, global = true)]
    pub twilio_region: Option<String>,
    /// Twilio edge location of the REST API for the twilio backend (e.g. tokyo)
    #[arg(long, global = true)]
    pub twilio_edge: Option<String>,
    /// Emulator: whether connecting to a missing room creates it [default: true]
    #[arg(long, global = true, value_name = "BOOL")]
    pub ad_hoc_rooms: Option<String>,
    /// Directory of the workshop page [default: workshop]
    #[arg(long, global = true, value_name = "DIR")]
    pub workshop_dir: Option<String>,
    /// Log line format on standard error [default: pretty]
    #[arg(long, global = true, value_parser = PossibleValuesParser::new(["pretty", "json"]))]
    pub log_format: Option<String>,
}

impl SettingsArgs {
    /// The flags as the top configuration layer.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            backend: self.backend.clone(),
            host: self.host.clone(),
            port: self.port.clone(),
            room: self.room.clone(),
            room_type: self.room_type.clone(),
            allow_room_param: self.allow_room_param.clone(),
            token_ttl: self.token_ttl.clone(),
            region: self.region.clone(),
            twilio_base_url: self.twilio_base_url.clone(),
            twilio_region: self.twilio_region.clone(),
            twilio_edge: self.twilio_edge.clone(),
            ad_hoc_rooms: self.ad_hoc_rooms.clone(),
            workshop_dir: self.workshop_dir.clone(),
            log_format: self.log_format.clone(),
        }
    }
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
    },
    /// Check the configured Twilio credentials with one cheap request
    Check,
    /// The twilio-video.js the emulator serves: `fetch` it into the cache, or show its `status`
    Sdk {
        #[command(subcommand)]
        action: SdkCommand,
    },
}

/// `videoroom token`: the token for `identity` in the configured room.
pub fn token(settings: &Settings, identity: &str) -> Result<String, String> {
    let identity = Identity::parse(identity).map_err(|e| format!("--identity: {e}"))?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let signer = settings.token_signer().map_err(|e| e.to_string())?;
    Ok(signer.mint(&identity, Some(settings.room.name.as_str()), now))
}

/// The outcome of `videoroom decode`: the text to print and whether the token verified.
pub struct Decoded {
    pub text: String,
    pub verified: bool,
}

/// `videoroom decode`: header, claims, signature check, validity, as a person reads them.
pub fn decode(settings: &Settings, token: Option<&str>) -> Result<Decoded, String> {
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
    let now = OffsetDateTime::now_utc().unix_timestamp();
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
    Ok(Decoded { text, verified })
}

/// One part of a token as pretty JSON, with its keys in the token's own order (as jwt.io
/// shows them; `serde_json::Value` would sort them).
fn pretty_part(token: &str, index: usize) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let ordered = token
        .split('.')
        .nth(index)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice::<Ordered>(&bytes).ok());
    ordered
        .and_then(|o| serde_json::to_string_pretty(&o).ok())
        .unwrap_or_default()
}

/// A JSON value whose objects keep their keys in document order.
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Array(Vec<Ordered>),
    Scalar(serde_json::Value),
}

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(v.into()))
            }
            fn visit_unit<E>(self) -> Result<Ordered, E> {
                Ok(Ordered::Scalar(serde_json::Value::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Ordered, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Ordered::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered::Object(entries))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl serde::Serialize for Ordered {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap as _, SerializeSeq as _};
        match self {
            Ordered::Scalar(v) => v.serialize(s),
            Ordered::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Ordered::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
