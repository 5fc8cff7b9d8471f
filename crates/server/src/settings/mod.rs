//! Configuration: one typed [`Settings`], read once from layered sources.
//!
//! - `keys`: the key specs, one per key (TOML key, variables, flag, default, meaning);
//! - `sources`: the layers and where each value came from ([`Origin`]);
//! - `validation`: the rule of each value type and the rules that span several keys;
//! - here: the typed [`Settings`] and the raw struct the merged layers are read into.
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
//!
//! # Add a setting
//!
//! 1. Its key spec in [`KEYS`] (`keys.rs`): TOML key, environment variable, flag if any, default,
//!    meaning, and how `videoroom config` shows it. A flag is also a field of [`Overrides`]
//!    (clap help text, `#[serde(rename = "the.key")]`); a test checks the two agree.
//! 2. Its typed field: in the raw struct below (`Raw` or one of its tables) as
//!    `Parsed<T>` (`Parsed<Option<T>>` when it has no default), in [`Settings`], and the line
//!    of `Settings::from_raw` that moves it across. If `T` is a new kind of value, implement
//!    `validation::FromSetting` for it: that is its single-key rule and its error message.
//! 3. A rule that involves other keys, if any, in `validation`.
//! 4. Its rows in the key tables of `docs/configuration.md` and `README.md`: a test fails
//!    until every key spec's TOML key, variables and flag are there.

mod access;
mod keys;
mod sources;
mod upstream;
mod validation;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use videoroom_core::token::{ApiKey, TokenConfigError, TokenSigner};
use videoroom_core::{AccountSid, ApiKeySid, RoomName, RoomType};
use videoroom_emulator::sdk::{SdkOptions, SdkSource};
use videoroom_twilio_adapter::{TwilioConfig, BASE_URL_VAR, EDGE_VAR, REGION_VAR};

use crate::access::{AccessSettings, AuthMode, RoomPatterns};
pub use keys::{KeySpec, KEYS};
pub use sources::{ConfigFile, Origin, Overrides, Sources, CONFIG_VAR};
pub use upstream::UpstreamSettings;
use validation::AdvertisedIps;
use validation::{
    BaseUrl, Checker, ConnectionCap, FetchTimeout, HostList, OriginList, Parsed, RegionId, TtlSecs,
};
use videoroom_emulator::guard::AccessPolicy;
use videoroom_emulator::media::{MediaMode, MediaSettings};
use videoroom_emulator::settings::CallbackHosts;

/// Which backend holds the rooms.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Deserialize,
    serde::Serialize,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum BackendKind {
    /// The built-in emulator of Twilio Video: offline, seeded credentials, no account needed.
    #[default]
    Emulator,
    /// Real Twilio, through its REST API.
    Twilio,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

// The log format is the emulator's, so both binaries take the same `--log-format`.
pub use videoroom_emulator::telemetry::LogFormat;
// The connection caps are the emulator's too: both binaries enforce them with its middleware.
pub use videoroom_emulator::limits::ConnectionLimits;

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

/// The Twilio account and API key. `Debug` shows the SIDs and never the secrets (they are
/// [`SecretString`]s).
#[derive(Debug, Clone)]
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

/// Where the workshop page's twilio-video.js comes from, when the settings say.
#[derive(Debug, Clone)]
pub struct SdkSettings {
    /// A `twilio-video.min.js` or the npm tarball to serve instead of the cache.
    pub path: Option<PathBuf>,
    /// The cache folder (the SDK version is a subfolder of it).
    pub cache_dir: Option<PathBuf>,
    /// Whether a missing SDK is fetched with `npm pack` at start-up. Tests and offline machines
    /// turn it off, so nothing reaches a package registry.
    pub fetch: bool,
    /// How long `npm pack` may take before the fetch gives up and explains the offline ways.
    pub fetch_timeout: Duration,
}

impl SdkSettings {
    /// The SDK module's options for these settings, with `source` for a missing SDK.
    pub fn options(&self, source: SdkSource) -> SdkOptions {
        SdkOptions {
            cache_dir: self.cache_dir.clone(),
            override_path: self.path.clone(),
            source,
            // The workshop kit keeps the SDK beside the binary.
            kit_dir: videoroom_emulator::sdk::binary_dir(),
        }
    }

    /// `npm pack`, stopped after `sdk.fetch_timeout`.
    pub fn npm_source(&self) -> SdkSource {
        SdkSource::Npm {
            program: None,
            timeout: self.fetch_timeout,
        }
    }

    /// Where the server's start-up gets a missing SDK: `npm pack`, unless `sdk.fetch` is off.
    pub fn startup_source(&self) -> SdkSource {
        if self.fetch {
            self.npm_source()
        } else {
            SdkSource::Disabled
        }
    }
}

/// HTTPS for the LAN workshop (see `crate::tls`).
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// Whether the server speaks HTTPS: `tls.https`, or implied by `lan` or a given certificate.
    pub https: bool,
    /// A given certificate and its key (both or neither); self-signed when HTTPS is on without.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// A plain-HTTP port that redirects to the HTTPS one.
    pub http_redirect_port: Option<u16>,
    /// The workshop preset was asked for (the banner then lists LAN URLs and a QR code).
    pub lan: bool,
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
    /// Emulator mode: hosts status callbacks may go to (loopback unless configured).
    pub callback_hosts: CallbackHosts,
    /// Host names the server answers to besides the localhost names and IP addresses.
    pub allowed_hosts: Vec<String>,
    /// Web origins whose pages may call the server cross-origin.
    pub allowed_origins: Vec<String>,
    /// Directory the workshop page is served from (attendees edit it and reload).
    pub workshop_dir: PathBuf,
    pub log_format: LogFormat,
    pub sdk: SdkSettings,
    /// How many connections one client address may hold, on HTTP and on `/signaling`.
    pub limits: ConnectionLimits,
    /// Who may get a token, how often, for which rooms (issue 13; see `crate::access`).
    pub access: AccessSettings,
    /// The room cache, stale-if-error, the request deadline and the status callback URL.
    pub upstream: UpstreamSettings,
    /// HTTPS and the LAN preset.
    pub tls: TlsSettings,
    /// Emulator mode: the media server of group rooms.
    pub media: MediaSettings,
    /// Where each key's value came from, for `videoroom config`.
    pub origins: BTreeMap<&'static str, Origin>,
    /// Things that are not errors but will not do what the person meant (a variable in `.env`
    /// that is read before it); the binary prints them on standard error.
    pub warnings: Vec<String>,
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

    /// The name a person used for `key`: its flag, variable (`(in .env)` when from there) or
    /// TOML key, as the value's origin says.
    pub fn name_of(&self, key: &str) -> String {
        validation::name_in(&self.origins, key)
    }

    /// The Twilio adapter's configuration: these credentials, base URL, region and edge, with
    /// the adapter's default timeouts and retries. The error names the setting to fix, under
    /// the name the person used for it (the adapter's own messages name its variables).
    pub fn twilio_config(&self) -> Result<TwilioConfig, String> {
        let renamed = |message: String| {
            [
                (BASE_URL_VAR, "twilio.base_url"),
                (REGION_VAR, "twilio.region"),
                (EDGE_VAR, "twilio.edge"),
            ]
            .into_iter()
            .filter(|(_, key)| self.origins.contains_key(key))
            .fold(message, |text, (var, key)| {
                text.replace(var, &self.name_of(key))
            })
        };
        let base_url = url::Url::parse(&self.twilio.base_url).map_err(|e| {
            renamed(format!(
                "{BASE_URL_VAR} must be an absolute URL such as https://video.twilio.com ({e})"
            ))
        })?;
        let mut config = TwilioConfig::new(
            self.credentials.account_sid.clone(),
            self.credentials.api_key_sid.clone(),
            self.credentials.api_key_secret.clone(),
        );
        config.base_url = base_url;
        config.region = self.twilio.region.clone();
        config.edge = self.twilio.edge.clone();
        config.validate().map_err(|e| renamed(e.to_string()))?;
        Ok(config)
    }

    /// Where the workshop page comes from: the folder of `workshop_dir` when it was set, or
    /// when the default `workshop/` exists in the working directory; otherwise the page built
    /// into the binary, so a copied or installed `videoroom` still serves it.
    pub fn workshop_page(&self) -> crate::workshop::PageSource {
        let set = !matches!(
            self.origins.get("workshop_dir"),
            None | Some(Origin::Default)
        );
        if set || self.workshop_dir.is_dir() {
            crate::workshop::PageSource::Folder(self.workshop_dir.clone())
        } else {
            crate::workshop::PageSource::Embedded
        }
    }

    /// Who may reach the server from a browser: the `Host` names it answers to (the
    /// configured ones, plus this machine's names when bound beyond loopback) and the origins
    /// allowed cross-origin. See `videoroom_emulator::guard`.
    pub fn access_policy(&self) -> AccessPolicy {
        let mut hosts = self.allowed_hosts.clone();
        if !self.host.is_loopback() {
            hosts.extend(machine_names());
        }
        // Each list was checked when the settings were read, and the machine's names are
        // kept only when they pass the same check.
        AccessPolicy::new(&hosts, &self.allowed_origins)
            .or_else(|_| AccessPolicy::new(&self.allowed_hosts, &self.allowed_origins))
            .expect("the configured lists were validated when the settings were read")
    }

    /// The effective configuration as `key = value  (origin)` lines, secrets redacted.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for spec in KEYS {
            let value = (spec.show)(self);
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

    /// The typed settings from the merged layers, with every problem reported at once.
    fn from_raw(raw: Raw, origins: BTreeMap<&'static str, Origin>) -> Result<Self, SettingsError> {
        let mut check = Checker::new(&origins);
        let backend = check.value("backend", raw.backend);
        let host = check.value("host", raw.host);
        let port = check.value("port", raw.port);
        let name = check.value("room.name", raw.room.name);
        let room_type = check.value("room.type", raw.room.r#type);
        let allow_param = check.optional("room.allow_param", raw.room.allow_param);
        let ttl = check.value("token.ttl", raw.token.ttl);
        let region = check.optional("token.region", raw.token.region);
        let base_url = check.value("twilio.base_url", raw.twilio.base_url);
        let twilio_region = check.optional("twilio.region", raw.twilio.region);
        let twilio_edge = check.optional("twilio.edge", raw.twilio.edge);
        let ad_hoc_rooms = check.value("emulator.ad_hoc_rooms", raw.emulator.ad_hoc_rooms);
        let callback_hosts = check.optional("emulator.callback_hosts", raw.emulator.callback_hosts);
        let allowed_hosts = check.optional("server.allowed_hosts", raw.server.allowed_hosts);
        let allowed_origins = check.optional("server.allowed_origins", raw.server.allowed_origins);
        let workshop_dir = check.value("workshop_dir", raw.workshop_dir);
        let log_format = check.value("log.format", raw.log.format);
        let sdk_path = check.optional("sdk.path", raw.sdk.path);
        let sdk_cache_dir = check.optional("sdk.cache_dir", raw.sdk.cache_dir);
        let sdk_fetch = check.value("sdk.fetch", raw.sdk.fetch);
        let sdk_fetch_timeout = check.value("sdk.fetch_timeout", raw.sdk.fetch_timeout);
        let http_per_client = check.value("limits.http_per_client", raw.limits.http_per_client);
        let signaling_per_client = check.value(
            "limits.signaling_per_client",
            raw.limits.signaling_per_client,
        );
        let public_url = check.optional("twilio.public_url", raw.twilio.public_url);
        let cache_ttl = check.value("twilio.cache_ttl", raw.twilio.cache_ttl);
        let stale_if_error = check.value("twilio.stale_if_error", raw.twilio.stale_if_error);
        let deadline = check.value("token.deadline", raw.token.deadline);
        let idle_probe = check.value("twilio.idle_probe", raw.twilio.idle_probe);
        // Access control (issue 13): several defaults depend on the backend (settings/access.rs).
        let auth_mode = check.value("auth.mode", raw.auth.mode);
        let auth = access::auth(&mut check, auth_mode, raw.auth.passcode, raw.auth.secret);
        let insecure_public = check.value("auth.insecure_public", raw.auth.insecure_public);
        let allowed_rooms = check.optional("room.allowed", raw.room.allowed);
        let token_burst = check.value("limits.token_burst", raw.limits.token_burst);
        let token_rate = check.optional("limits.token_rate", raw.limits.token_rate);
        let room_creations = check.optional("limits.room_creations", raw.limits.room_creations);
        let identity_suffix = check.value("token.identity_suffix", raw.token.identity_suffix);
        let trusted_proxies = check.optional("server.trusted_proxies", raw.server.trusted_proxies);
        let https = check.value("tls.https", raw.tls.https);
        let tls_cert = check.optional("tls.cert", raw.tls.cert);
        let tls_key = check.optional("tls.key", raw.tls.key);
        let http_redirect_port =
            check.optional("tls.http_redirect_port", raw.tls.http_redirect_port);
        let lan = check.value("lan", raw.lan);
        let media_mode = check.value("media.mode", raw.media.mode);
        let media_udp_port = check.value("media.udp_port", raw.media.udp_port);
        let media_advertise = check.optional("media.advertise", raw.media.advertise);
        let media_recordings_dir = check.optional("media.recordings_dir", raw.media.recordings_dir);
        let credentials =
            validation::credentials(&mut check, backend.unwrap_or_default(), raw.credentials);

        // `finish` returned every problem, and a value is `None` only with a problem recorded.
        const CHECKED: &str = "a refused value is a recorded problem, and finish() reported it";
        let tls = validation::tls(
            &mut check,
            https,
            tls_cert,
            tls_key,
            http_redirect_port,
            lan,
        );
        let host = host.map(|host| match &tls {
            Some(tls) if tls.lan && !check.is_set("host") => IpAddr::from([0, 0, 0, 0]),
            _ => host,
        });
        check.finish()?;
        // A value the LAN preset or a given certificate decided is shown by `videoroom config`
        // as coming from there, not as the default it replaced.
        let mut origins = origins;
        if let Some(tls) = &tls {
            let implied_by = if tls.lan { "lan" } else { "tls.cert" };
            if let Some(origin) = origins.get(implied_by).cloned() {
                for key in ["tls.https", "host"] {
                    let applies = key == "tls.https" || tls.lan;
                    if applies && !origins.contains_key(key) {
                        origins.insert(key, origin.clone());
                    }
                }
            }
        }
        let backend = backend.expect(CHECKED);
        let access = AccessSettings {
            auth: auth.expect(CHECKED),
            insecure_public: insecure_public.expect(CHECKED),
            allowed_rooms: allowed_rooms.expect(CHECKED),
            token_burst: token_burst.expect(CHECKED).0,
            token_rate: access::by_backend(
                token_rate.expect(CHECKED).map(|r| r.0),
                backend,
                None,
                std::num::NonZeroU32::new(access::DEFAULT_TOKEN_RATE),
            ),
            room_creations: access::by_backend(
                room_creations.expect(CHECKED).map(|r| r.0),
                backend,
                None,
                std::num::NonZeroU32::new(access::DEFAULT_ROOM_CREATIONS),
            ),
            identity_suffix: identity_suffix.expect(CHECKED),
            trusted_proxies: trusted_proxies.expect(CHECKED).unwrap_or_default(),
        };
        let settings = Settings {
            backend,
            host: host.expect(CHECKED),
            port: port.expect(CHECKED),
            room: RoomSettings {
                name: name.expect(CHECKED),
                room_type: room_type.expect(CHECKED),
                allow_param: access::by_backend(
                    allow_param.expect(CHECKED),
                    backend,
                    true,
                    access.allowed_rooms.is_some(),
                ),
            },
            token: TokenSettings {
                ttl_secs: ttl.expect(CHECKED).0,
                region: region.expect(CHECKED).map(|r| r.0),
            },
            credentials: credentials.expect(CHECKED),
            twilio: TwilioSettings {
                base_url: base_url.expect(CHECKED).0,
                region: twilio_region.expect(CHECKED),
                edge: twilio_edge.expect(CHECKED),
            },
            ad_hoc_rooms: ad_hoc_rooms.expect(CHECKED),
            callback_hosts: callback_hosts.expect(CHECKED).unwrap_or_default(),
            allowed_hosts: allowed_hosts.expect(CHECKED).unwrap_or_default().0,
            allowed_origins: allowed_origins.expect(CHECKED).unwrap_or_default().0,
            // As the person gave it: relative to the working directory. It used to fall back to
            // the sources' own `workshop/`, a path baked in at build time; the page built into
            // the binary is that fallback now (see `Settings::workshop_page`).
            workshop_dir: workshop_dir.expect(CHECKED),
            log_format: log_format.expect(CHECKED),
            sdk: SdkSettings {
                path: sdk_path.expect(CHECKED),
                cache_dir: sdk_cache_dir.expect(CHECKED),
                fetch: sdk_fetch.expect(CHECKED),
                fetch_timeout: sdk_fetch_timeout.expect(CHECKED).0,
            },
            limits: ConnectionLimits {
                http_per_client: http_per_client.expect(CHECKED).0,
                signaling_per_client: signaling_per_client.expect(CHECKED).0,
            },
            access,
            upstream: UpstreamSettings {
                public_url: public_url.expect(CHECKED).map(|u| u.0),
                cache_ttl: cache_ttl.expect(CHECKED).0,
                stale_if_error: stale_if_error.expect(CHECKED).0,
                deadline: deadline.expect(CHECKED).0,
                idle_probe: idle_probe.expect(CHECKED).0,
            },
            tls: tls.expect(CHECKED),
            media: MediaSettings {
                mode: media_mode.expect(CHECKED),
                udp_port: media_udp_port.expect(CHECKED),
                advertise: media_advertise
                    .expect(CHECKED)
                    .map(|ips| ips.0)
                    .unwrap_or_default(),
                recordings_dir: media_recordings_dir.expect(CHECKED),
            },
            origins,
            warnings: Vec::new(),
        };
        validation::whole(&settings)?;
        upstream::check(&settings)?;
        Ok(settings)
    }
}

/// The merged layers as typed values, before the rules that span keys. Its shape is the TOML
/// file's; an unknown key is refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Raw {
    backend: Parsed<BackendKind>,
    host: Parsed<IpAddr>,
    port: Parsed<u16>,
    room: RawRoom,
    token: RawToken,
    credentials: RawCredentials,
    twilio: RawTwilio,
    emulator: RawEmulator,
    server: RawServer,
    workshop_dir: Parsed<PathBuf>,
    log: RawLog,
    sdk: RawSdk,
    limits: RawLimits,
    auth: RawAuth,
    tls: RawTls,
    lan: Parsed<bool>,
    media: RawMedia,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMedia {
    mode: Parsed<MediaMode>,
    udp_port: Parsed<u16>,
    advertise: Parsed<Option<AdvertisedIps>>,
    recordings_dir: Parsed<Option<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRoom {
    name: Parsed<RoomName>,
    r#type: Parsed<RoomType>,
    allow_param: Parsed<Option<bool>>,
    allowed: Parsed<Option<RoomPatterns>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawToken {
    ttl: Parsed<TtlSecs>,
    region: Parsed<Option<RegionId>>,
    identity_suffix: Parsed<bool>,
    deadline: Parsed<upstream::DeadlineSecs>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCredentials {
    account_sid: Parsed<AccountSid>,
    auth_token: Parsed<SecretString>,
    api_key: Parsed<ApiKeySid>,
    api_secret: Parsed<SecretString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTwilio {
    base_url: Parsed<BaseUrl>,
    region: Parsed<Option<String>>,
    edge: Parsed<Option<String>>,
    public_url: Parsed<Option<upstream::PublicUrl>>,
    cache_ttl: Parsed<upstream::CacheSecs>,
    stale_if_error: Parsed<upstream::CacheSecs>,
    idle_probe: Parsed<upstream::CacheSecs>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEmulator {
    ad_hoc_rooms: Parsed<bool>,
    callback_hosts: Parsed<Option<CallbackHosts>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    allowed_hosts: Parsed<Option<HostList>>,
    allowed_origins: Parsed<Option<OriginList>>,
    trusted_proxies: Parsed<Option<crate::access::TrustedProxies>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: Parsed<LogFormat>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSdk {
    path: Parsed<Option<PathBuf>>,
    cache_dir: Parsed<Option<PathBuf>>,
    fetch: Parsed<bool>,
    fetch_timeout: Parsed<FetchTimeout>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    http_per_client: Parsed<ConnectionCap>,
    signaling_per_client: Parsed<ConnectionCap>,
    token_burst: Parsed<access::Burst>,
    token_rate: Parsed<Option<access::PerMinute>>,
    room_creations: Parsed<Option<access::PerMinute>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAuth {
    mode: Parsed<AuthMode>,
    passcode: Parsed<SecretString>,
    secret: Parsed<SecretString>,
    insecure_public: Parsed<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    https: Parsed<bool>,
    cert: Parsed<Option<PathBuf>>,
    key: Parsed<Option<PathBuf>>,
    http_redirect_port: Parsed<Option<u16>>,
}

/// Invalid settings: every problem found, each naming its key and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct SettingsError {
    pub problems: Vec<String>,
}

impl SettingsError {
    pub(super) fn single(problem: String) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

/// This machine's host name and its `.local` (mDNS) form, by which LAN clients reach it when
/// the server is bound beyond loopback. Read from the kernel on Linux and from `HOSTNAME`
/// elsewhere; none when neither says.
pub(crate) fn machine_names() -> Vec<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty() && AccessPolicy::new([n.as_str()], [""; 0]).is_ok());
    match name {
        Some(name) if name.ends_with(".local") => vec![name],
        Some(name) => vec![format!("{name}.local"), name],
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_spec_fits_the_raw_struct() {
        let mut builder = config::Config::builder();
        for spec in KEYS {
            builder = builder
                .set_override(spec.key, "x")
                .expect("a dotted key is a valid config path");
        }
        let config = builder.build().expect("overrides alone always build");
        config
            .try_deserialize::<Raw>()
            .expect("the raw struct has a field for every key spec");
    }
}
