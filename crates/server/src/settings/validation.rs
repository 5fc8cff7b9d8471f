//! Checking values: the rule of each value type ([`FromSetting`]), the collection of every
//! problem under the name the person used ([`Checker`]), and the few rules that span several
//! keys (the credentials, the token signer, the Twilio adapter's configuration).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use videoroom_core::credentials::{
    describe, ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, TEST_ACCOUNT_SID,
    TEST_API_KEY_SECRET, TEST_API_KEY_SID, TEST_AUTH_TOKEN,
};
use videoroom_core::token::MAX_TTL_SECS;
use videoroom_core::{AccountSid, ApiKeySid, RoomName, RoomType};
use videoroom_emulator::guard::AccessPolicy;
use videoroom_emulator::settings::CallbackHosts;

use super::sources::Origin;
use super::{
    BackendKind, Credentials, LogFormat, RawCredentials, Settings, SettingsError, TlsSettings,
};
pub(super) use videoroom_emulator::settings::did_you_mean;

/// One value of the raw struct: absent, valid, or refused with the rule it broke. Parsing
/// never fails the whole struct, so every problem can be reported at once.
#[derive(Debug, Default)]
pub(super) enum Parsed<T> {
    #[default]
    Unset,
    Valid(T),
    Invalid(String),
}

/// A value type as a setting: how its text (trimmed) becomes the value, or the rule it broke.
pub(super) trait FromSetting: Sized {
    fn from_setting(text: &str) -> Result<Self, String>;
}

impl<'de, T: FromSetting> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = deserializer.deserialize_any(Text)?;
        Ok(match T::from_setting(text.trim()) {
            Ok(value) => Parsed::Valid(value),
            Err(rule) => Parsed::Invalid(rule),
        })
    }
}

/// Reads any scalar as its text: layers of variables and flags give text, TOML gives numbers
/// and booleans too, and every value is checked by the same rule.
struct Text;

impl<'de> Visitor<'de> for Text {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value (text, number or boolean), not a table")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
    /// A TOML list (`allowed_hosts = ["a", "b"]`) reads as the comma-separated text the
    /// variables and flags give.
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(items.join(","))
    }
}

/// An optional value: blank means unset.
impl<T: FromSetting> FromSetting for Option<T> {
    fn from_setting(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            Ok(None)
        } else {
            T::from_setting(text).map(Some)
        }
    }
}

/// `rule` with "did you mean 'x'?" appended when `given` is a near miss of one of `choices`.
fn with_suggestion(rule: String, given: &str, choices: &[&str]) -> String {
    match did_you_mean(given, choices.iter().copied()) {
        Some(choice) => format!("{rule}; did you mean '{choice}'?"),
        None => rule,
    }
}

/// One of a serde enum's lowercase names, with serde's "expected one of" message and, for a
/// near miss, the name probably meant.
pub(super) struct SerdeEnum<T>(PhantomData<T>);

impl<T: DeserializeOwned> SerdeEnum<T> {
    pub(super) fn parse(s: &str, choices: &[&str]) -> Result<T, String> {
        let de = de::value::StrDeserializer::<de::value::Error>::new(s);
        T::deserialize(de).map_err(|e| with_suggestion(e.to_string(), s, choices))
    }
}

impl FromSetting for BackendKind {
    fn from_setting(s: &str) -> Result<Self, String> {
        SerdeEnum::parse(s, &["emulator", "twilio"])
    }
}

impl FromSetting for LogFormat {
    fn from_setting(s: &str) -> Result<Self, String> {
        SerdeEnum::parse(s, &["pretty", "json"])
    }
}

impl FromSetting for IpAddr {
    fn from_setting(s: &str) -> Result<Self, String> {
        if s == "localhost" {
            return Ok(IpAddr::from([127, 0, 0, 1]));
        }
        s.parse::<IpAddr>()
            .map_err(|_| format!("must be an IP address such as 127.0.0.1 or 0.0.0.0 (got '{s}')"))
    }
}

/// The one `u16` setting is the port.
impl FromSetting for u16 {
    fn from_setting(s: &str) -> Result<Self, String> {
        s.parse::<u16>()
            .map_err(|_| format!("must be a port number from 0 to 65535 (got '{s}')"))
    }
}

impl FromSetting for videoroom_emulator::media::MediaMode {
    fn from_setting(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// The media server's advertised addresses, comma-separated (a TOML list reads the same):
/// concrete IPs browsers can send to, each bound by a socket of its own.
#[derive(Debug)]
pub(super) struct AdvertisedIps(pub Vec<IpAddr>);

impl FromSetting for AdvertisedIps {
    fn from_setting(s: &str) -> Result<Self, String> {
        let mut ips = Vec::new();
        for item in s.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(format!(
                    "must be IP addresses separated by commas, such as 192.168.1.20,127.0.0.1 \
                     (got an empty item in '{s}')"
                ));
            }
            let ip = IpAddr::from_setting(item)?;
            if ip.is_unspecified() {
                return Err(format!(
                    "must be an address browsers can reach, such as 127.0.0.1 or this \
                     machine's LAN address, not {ip}: the media server binds exactly the \
                     addresses it advertises"
                ));
            }
            if ips.contains(&ip) {
                return Err(format!("lists {ip} twice; give each address once"));
            }
            ips.push(ip);
        }
        Ok(Self(ips))
    }
}

impl FromSetting for bool {
    fn from_setting(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("must be true or false (got '{s}')")),
        }
    }
}

impl FromSetting for RoomName {
    fn from_setting(s: &str) -> Result<Self, String> {
        RoomName::parse(s).map_err(|e| format!("{e}; choose another room name"))
    }
}

impl FromSetting for RoomType {
    fn from_setting(s: &str) -> Result<Self, String> {
        s.parse::<RoomType>().map_err(|e| {
            let choices: Vec<&str> = RoomType::ALL.iter().map(|t| t.as_str()).collect();
            with_suggestion(e.to_string(), s, &choices)
        })
    }
}

/// A token lifetime in seconds, within Twilio's limit.
#[derive(Debug)]
pub(super) struct TtlSecs(pub u64);

impl FromSetting for TtlSecs {
    fn from_setting(s: &str) -> Result<Self, String> {
        let ttl = s
            .parse::<u64>()
            .map_err(|_| format!("must be a whole number of seconds (got '{s}')"))?;
        if ttl == 0 || ttl > MAX_TTL_SECS {
            return Err(format!(
                "must be between 1 and {MAX_TTL_SECS} seconds (got {ttl}); Twilio refuses tokens that live longer than 24 hours"
            ));
        }
        Ok(TtlSecs(ttl))
    }
}

/// How long `npm pack` may take: whole seconds, 1 to 600.
#[derive(Debug)]
pub(super) struct FetchTimeout(pub std::time::Duration);

impl FromSetting for FetchTimeout {
    fn from_setting(s: &str) -> Result<Self, String> {
        match s.parse::<u64>() {
            Ok(secs @ 1..=600) => Ok(FetchTimeout(std::time::Duration::from_secs(secs))),
            _ => Err(format!(
                "must be a whole number of seconds from 1 to 600 (got '{s}')"
            )),
        }
    }
}

/// A cap on one client address's connections: at least 1, at most a million.
#[derive(Debug)]
pub(super) struct ConnectionCap(pub usize);

impl FromSetting for ConnectionCap {
    fn from_setting(s: &str) -> Result<Self, String> {
        match s.parse::<usize>() {
            Ok(cap @ 1..=1_000_000) => Ok(ConnectionCap(cap)),
            _ => Err(format!(
                "must be a whole number of connections from 1 to 1000000 (got '{s}')"
            )),
        }
    }
}

/// A Twilio region id as written into tokens (`twr`).
#[derive(Debug)]
pub(super) struct RegionId(pub String);

impl FromSetting for RegionId {
    fn from_setting(s: &str) -> Result<Self, String> {
        let shaped = s.len() <= 16
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if shaped {
            Ok(RegionId(s.to_owned()))
        } else {
            Err(format!(
                "must be a Twilio region id such as us1, ie1 or jp1 (got '{s}')"
            ))
        }
    }
}

/// An http(s) base URL, without its trailing slash.
#[derive(Debug)]
pub(super) struct BaseUrl(pub String);

impl FromSetting for BaseUrl {
    fn from_setting(s: &str) -> Result<Self, String> {
        if (s.starts_with("http://") || s.starts_with("https://")) && s.len() > 8 {
            Ok(BaseUrl(s.trim_end_matches('/').to_owned()))
        } else {
            Err(format!(
                "must be an http:// or https:// URL such as https://video.twilio.com (got '{s}')"
            ))
        }
    }
}

/// The items of a comma-separated list, trimmed, blanks dropped.
fn list_items(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Host names the server answers to besides the localhost names (`server.allowed_hosts`).
#[derive(Debug, Clone, Default)]
pub(super) struct HostList(pub Vec<String>);

impl FromSetting for HostList {
    fn from_setting(s: &str) -> Result<Self, String> {
        let hosts = list_items(s);
        AccessPolicy::new(&hosts, [""; 0]).map_err(|e| e.to_string())?;
        Ok(HostList(hosts))
    }
}

/// Origins allowed to call the server cross-origin (`server.allowed_origins`).
#[derive(Debug, Clone, Default)]
pub(super) struct OriginList(pub Vec<String>);

impl FromSetting for OriginList {
    fn from_setting(s: &str) -> Result<Self, String> {
        let origins = list_items(s);
        AccessPolicy::new([""; 0], &origins).map_err(|e| e.to_string())?;
        Ok(OriginList(origins))
    }
}

impl FromSetting for CallbackHosts {
    fn from_setting(s: &str) -> Result<Self, String> {
        let hosts = list_items(s);
        CallbackHosts::parse(hosts.iter().map(String::as_str))
    }
}

/// Free-form text (Twilio's region and edge names are checked by the adapter).
impl FromSetting for String {
    fn from_setting(s: &str) -> Result<Self, String> {
        Ok(s.to_owned())
    }
}

impl FromSetting for PathBuf {
    fn from_setting(s: &str) -> Result<Self, String> {
        Ok(PathBuf::from(s))
    }
}

impl FromSetting for SecretString {
    fn from_setting(s: &str) -> Result<Self, String> {
        Ok(SecretString::from(s))
    }
}

impl FromSetting for AccountSid {
    fn from_setting(s: &str) -> Result<Self, String> {
        AccountSid::parse(s).map_err(|e| {
            let hint = if s.starts_with("SK") {
                format!(
                    "; that looks like an API key SID, which goes in {}",
                    ENV_API_KEY_SID[0]
                )
            } else {
                "; copy the Account SID from the Twilio Console's Account Info".to_owned()
            };
            format!("{e}{hint}")
        })
    }
}

impl FromSetting for ApiKeySid {
    fn from_setting(s: &str) -> Result<Self, String> {
        ApiKeySid::parse(s).map_err(|e| {
            let hint = if s.starts_with("AC") {
                "; that looks like the Account SID: create an API key (Console › API keys) and use its SK… SID"
            } else {
                "; use the SID of an API key (Console › API keys)"
            };
            format!("{e}{hint}")
        })
    }
}

/// The name a person used for `key`, as its origin in `origins` says.
pub(super) fn name_in(origins: &BTreeMap<&'static str, Origin>, key: &str) -> String {
    origins
        .get(key)
        .cloned()
        .unwrap_or(Origin::Default)
        .name_for(key)
}

/// Collects every problem, each under the name the person used for its key.
pub(super) struct Checker<'a> {
    origins: &'a BTreeMap<&'static str, Origin>,
    problems: Vec<String>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(origins: &'a BTreeMap<&'static str, Origin>) -> Self {
        Self {
            origins,
            problems: Vec::new(),
        }
    }

    fn name(&self, key: &str) -> String {
        name_in(self.origins, key)
    }

    pub(super) fn problem(&mut self, key: &str, message: impl fmt::Display) {
        let name = self.name(key);
        self.problems.push(format!("{name}: {message}"));
    }

    /// A key with a default: `None` (and a recorded problem) when its value is refused.
    pub(super) fn value<T>(&mut self, key: &str, parsed: Parsed<T>) -> Option<T> {
        match parsed {
            Parsed::Valid(value) => Some(value),
            Parsed::Invalid(rule) => {
                self.problem(key, rule);
                None
            }
            Parsed::Unset => {
                self.problem(key, "a required setting is missing");
                None
            }
        }
    }

    /// A key without a default: `Some(None)` when unset, `None` when refused.
    pub(super) fn optional<T>(
        &mut self,
        key: &str,
        parsed: Parsed<Option<T>>,
    ) -> Option<Option<T>> {
        match parsed {
            Parsed::Unset => Some(None),
            other => self.value(key, other),
        }
    }

    /// Whether a layer above the defaults set `key`.
    pub(super) fn is_set(&self, key: &str) -> bool {
        self.origins.contains_key(key)
    }

    /// The problems found, if any.
    pub(super) fn finish(self) -> Result<(), SettingsError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(SettingsError {
                problems: self.problems,
            })
        }
    }
}

/// Cross-key rule: the credentials. The twilio backend needs an account and an API key; the
/// emulator completes what is unset with the seeded test account; an API key is a pair.
pub(super) fn credentials(
    check: &mut Checker<'_>,
    backend: BackendKind,
    raw: RawCredentials,
) -> Option<Credentials> {
    let (account_set, key_set, secret_set) = (
        set_of(&raw.account_sid),
        set_of(&raw.api_key),
        set_of(&raw.api_secret),
    );

    if backend == BackendKind::Twilio {
        let missing: Vec<String> = [
            (ENV_ACCOUNT_SID, account_set),
            (ENV_API_KEY_SID, key_set),
            (ENV_API_KEY_SECRET, secret_set),
        ]
        .into_iter()
        .filter(|(_, set)| !set)
        .map(|(names, _)| describe(names))
        .collect();
        if !missing.is_empty() {
            check.problems.push(format!(
                "the twilio backend needs your Twilio credentials: set {} in .env or the environment (Console: Account Info and API keys), or use --backend emulator to run offline",
                missing.join(", ")
            ));
            return None;
        }
    }

    // An API key is a pair: a SID with another key's secret would mint tokens that nothing
    // accepts, so a half-configured key is refused rather than completed with a seeded value.
    let half_key = match (key_set, secret_set) {
        (true, false) => Some((
            check.name("credentials.api_key"),
            describe(ENV_API_KEY_SECRET),
        )),
        (false, true) => Some((
            check.name("credentials.api_secret"),
            describe(ENV_API_KEY_SID),
        )),
        _ => None,
    };
    if let Some((set, missing)) = &half_key {
        check.problems.push(format!(
            "{set} is set but {missing} is not: an API key needs both its SID and its secret"
        ));
    }
    let seeded = !account_set && !key_set && !secret_set;
    let account_sid = or_seeded(
        check,
        "credentials.account_sid",
        raw.account_sid,
        TEST_ACCOUNT_SID,
    );
    let api_key_sid = or_seeded(check, "credentials.api_key", raw.api_key, TEST_API_KEY_SID);
    let auth_token = match (raw.auth_token, backend) {
        (Parsed::Valid(token), _) => Some(token),
        (_, BackendKind::Emulator) => Some(SecretString::from(TEST_AUTH_TOKEN)),
        (_, BackendKind::Twilio) => None,
    };
    let api_key_secret = match raw.api_secret {
        Parsed::Valid(secret) => secret,
        _ => SecretString::from(TEST_API_KEY_SECRET),
    };
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

/// Cross-key rule: HTTPS. `lan` and a given certificate turn it on, so `tls.https` set to
/// false beside either is a contradiction; a certificate needs its key and the other way
/// round; the redirect port only makes sense with HTTPS. `None` when a problem was recorded.
pub(super) fn tls(
    check: &mut Checker<'_>,
    https: Option<bool>,
    cert: Option<Option<PathBuf>>,
    key: Option<Option<PathBuf>>,
    http_redirect_port: Option<Option<u16>>,
    lan: Option<bool>,
) -> Option<TlsSettings> {
    let (https, cert, key, http_redirect_port, lan) =
        (https?, cert?, key?, http_redirect_port?, lan?);
    let mut ok = true;
    match (&cert, &key) {
        (Some(_), None) => {
            check.problem(
                "tls.cert",
                format!(
                    "a certificate needs its private key: set {} too (mkcert prints both file names)",
                    check.name("tls.key")
                ),
            );
            ok = false;
        }
        (None, Some(_)) => {
            check.problem(
                "tls.key",
                format!(
                    "a private key needs its certificate: set {} too (mkcert prints both file names)",
                    check.name("tls.cert")
                ),
            );
            ok = false;
        }
        _ => {}
    }
    let turned_on_by = if lan {
        Some(check.name("lan"))
    } else {
        cert.as_ref().map(|_| check.name("tls.cert"))
    };
    if let (false, true, Some(by)) = (https, check.is_set("tls.https"), &turned_on_by) {
        check.problem(
            "tls.https",
            format!("is false, but {by} serves HTTPS: drop one of the two"),
        );
        ok = false;
    }
    let https = https || turned_on_by.is_some();
    if let (Some(_), false) = (http_redirect_port, https) {
        check.problem(
            "tls.http_redirect_port",
            "redirects plain HTTP to HTTPS, but HTTPS is off: add --https (or --lan), or drop it",
        );
        ok = false;
    }
    ok.then_some(TlsSettings {
        https,
        cert,
        key,
        http_redirect_port,
        lan,
    })
}

fn set_of<T>(parsed: &Parsed<T>) -> bool {
    !matches!(parsed, Parsed::Unset)
}

/// The value, or the seeded one when unset.
fn or_seeded<T: FromSetting>(
    check: &mut Checker<'_>,
    key: &str,
    parsed: Parsed<T>,
    seeded: &str,
) -> Option<T> {
    match parsed {
        Parsed::Unset => Some(T::from_setting(seeded).expect("core's tests check the seeded SIDs")),
        other => check.value(key, other),
    }
}

/// Cross-key rules on the assembled settings: the key signs tokens with this lifetime and
/// region, and the Twilio adapter, when used, accepts its base URL, region and edge.
pub(super) fn whole(settings: &Settings) -> Result<(), SettingsError> {
    if let Err(e) = settings.token_signer() {
        return Err(SettingsError::single(format!(
            "{}: {e}",
            settings.name_of("credentials.api_secret")
        )));
    }
    if let Some(redirect) = settings.tls.http_redirect_port {
        if redirect != 0 && redirect == settings.port {
            return Err(SettingsError::single(format!(
                "{}: {redirect} is also the HTTPS port ({}); choose another port for the plain-HTTP redirect (80 or 8080 are usual)",
                settings.name_of("tls.http_redirect_port"),
                settings.name_of("port")
            )));
        }
    }
    // The Twilio adapter has the last word on its own settings (region and edge apply only to
    // twilio.com hosts, https only, ...), but only when it is used.
    if settings.backend == BackendKind::Twilio {
        settings.twilio_config().map_err(SettingsError::single)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enum_setting_suggests_the_value_probably_meant() {
        let backend = BackendKind::from_setting("twilo").unwrap_err();
        assert!(backend.contains("did you mean 'twilio'?"), "{backend}");
        let format = LogFormat::from_setting("jsno").unwrap_err();
        assert!(format.contains("did you mean 'json'?"), "{format}");
        let room_type = RoomType::from_setting("peer2peer").unwrap_err();
        assert!(
            room_type.contains("did you mean 'peer-to-peer'?"),
            "{room_type}"
        );
        let far = BackendKind::from_setting("zoom").unwrap_err();
        assert!(!far.contains("did you mean"), "{far}");
    }

    #[test]
    fn booleans_accept_the_usual_spellings_and_name_the_rule_otherwise() {
        assert_eq!(bool::from_setting("Yes"), Ok(true));
        assert_eq!(bool::from_setting("0"), Ok(false));
        assert_eq!(
            bool::from_setting("maybe"),
            Err("must be true or false (got 'maybe')".to_owned())
        );
    }
}
