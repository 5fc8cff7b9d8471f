//! The key specs: every configuration key's names in each layer, its default, its meaning and
//! how `videoroom config` shows its value. This table drives the layering, `videoroom config`
//! and the check that the documentation lists every key (see the tests below).

use videoroom_core::credentials::{
    ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN,
};
use videoroom_emulator::telemetry::LOG_FORMAT_VAR;
use videoroom_twilio_adapter::{BASE_URL_VAR, EDGE_VAR, REGION_VAR};

use super::Settings;
use crate::access::AuthSettings;

/// One configuration key.
#[derive(Debug)]
pub struct KeySpec {
    /// Dotted key, as in `videoroom.toml` (`room.name` is `[room] name = ...`).
    pub key: &'static str,
    /// Environment variable names, first wins when several are set.
    pub env: &'static [&'static str],
    /// Command-line flag, if any (credentials have none: flags show up in `ps`). The flag
    /// itself is a field of [`super::Overrides`]; a test checks that the two agree.
    pub flag: Option<&'static str>,
    /// Built-in default, if any.
    pub default: Option<&'static str>,
    /// Whether the value is a secret (never printed).
    pub secret: bool,
    pub meaning: &'static str,
    /// The effective value as `videoroom config` prints it (secrets redacted).
    pub show: fn(&Settings) -> String,
}

const NONE: &str = "(none)";
const REDACTED: &str = "[redacted]";

fn or_none(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| NONE.into())
}

fn list_or_none(values: &[String]) -> String {
    if values.is_empty() {
        NONE.into()
    } else {
        values.join(",")
    }
}

fn path_or_none(value: &Option<std::path::PathBuf>) -> String {
    value
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| NONE.into())
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
        show: |s| s.backend.to_string(),
    },
    KeySpec {
        key: "host",
        env: &["VIDEOROOM_HOST"],
        flag: Some("--host"),
        default: Some("127.0.0.1"),
        secret: false,
        meaning: "IP address to bind; 0.0.0.0 lets other computers connect",
        show: |s| s.host.to_string(),
    },
    KeySpec {
        key: "port",
        env: &["PORT"],
        flag: Some("--port"),
        default: Some("3000"),
        secret: false,
        meaning: "TCP port; 0 picks a free one (the banner prints it)",
        show: |s| s.port.to_string(),
    },
    KeySpec {
        key: "room.name",
        env: &["VIDEOROOM_ROOM"],
        flag: Some("--room"),
        default: Some("myroom"),
        secret: false,
        meaning: "room joined when a request names none",
        show: |s| s.room.name.to_string(),
    },
    KeySpec {
        key: "room.type",
        env: &["VIDEOROOM_ROOM_TYPE"],
        flag: Some("--room-type"),
        default: Some("group"),
        secret: false,
        meaning: "type of rooms created: group, go, peer-to-peer or group-small",
        show: |s| s.room.room_type.to_string(),
    },
    KeySpec {
        key: "room.allow_param",
        env: &["VIDEOROOM_ALLOW_ROOM_PARAM"],
        flag: Some("--allow-room-param"),
        default: None,
        secret: false,
        meaning: "whether a request's room parameter may choose another room; default: true with the emulator, false with twilio unless room.allowed is set",
        show: |s| s.room.allow_param.to_string(),
    },
    KeySpec {
        key: "token.ttl",
        env: &["VIDEOROOM_TOKEN_TTL"],
        flag: Some("--token-ttl"),
        default: Some("3600"),
        secret: false,
        meaning: "token lifetime in seconds, 1 to 86400",
        show: |s| s.token.ttl_secs.to_string(),
    },
    KeySpec {
        key: "token.region",
        env: &["VIDEOROOM_REGION"],
        flag: Some("--region"),
        default: None,
        secret: false,
        meaning: "Twilio region written into tokens as the twr header (e.g. jp1)",
        show: |s| or_none(&s.token.region),
    },
    KeySpec {
        key: "credentials.account_sid",
        env: &ENV_ACCOUNT_SID,
        flag: None,
        default: None,
        secret: false,
        meaning: "Account SID (AC…); emulator default: the seeded test account",
        show: |s| s.credentials.account_sid.to_string(),
    },
    KeySpec {
        key: "credentials.auth_token",
        env: &ENV_AUTH_TOKEN,
        flag: None,
        default: None,
        secret: true,
        meaning: "Auth Token; emulator default: the seeded test token",
        show: |s| match &s.credentials.auth_token {
            Some(_) => REDACTED.into(),
            None => "(not set)".into(),
        },
    },
    KeySpec {
        key: "credentials.api_key",
        env: &ENV_API_KEY_SID,
        flag: None,
        default: None,
        secret: false,
        meaning: "API key SID (SK…) that signs tokens; emulator default: the seeded key",
        show: |s| s.credentials.api_key_sid.to_string(),
    },
    KeySpec {
        key: "credentials.api_secret",
        env: &ENV_API_KEY_SECRET,
        flag: None,
        default: None,
        secret: true,
        meaning: "API key secret; emulator default: the seeded secret",
        show: |_| REDACTED.into(),
    },
    KeySpec {
        key: "twilio.base_url",
        env: &[BASE_URL_VAR],
        flag: Some("--twilio-base-url"),
        default: Some("https://video.twilio.com"),
        secret: false,
        meaning: "Video REST API base URL used by the twilio backend",
        show: |s| s.twilio.base_url.clone(),
    },
    KeySpec {
        key: "twilio.region",
        env: &[REGION_VAR],
        flag: Some("--twilio-region"),
        default: None,
        secret: false,
        meaning: "Twilio region of the REST API used by the twilio backend (e.g. ie1)",
        show: |s| or_none(&s.twilio.region),
    },
    KeySpec {
        key: "twilio.edge",
        env: &[EDGE_VAR],
        flag: Some("--twilio-edge"),
        default: None,
        secret: false,
        meaning: "Twilio edge location of the REST API used by the twilio backend (e.g. tokyo)",
        show: |s| or_none(&s.twilio.edge),
    },
    KeySpec {
        key: "emulator.ad_hoc_rooms",
        env: &["VIDEOROOM_AD_HOC_ROOMS"],
        flag: Some("--ad-hoc-rooms"),
        default: Some("true"),
        secret: false,
        meaning: "emulator: an SDK client connecting to a room that does not exist creates it",
        show: |s| s.ad_hoc_rooms.to_string(),
    },
    KeySpec {
        key: "emulator.callback_hosts",
        env: &["VIDEOROOM_CALLBACK_HOSTS"],
        flag: Some("--callback-hosts"),
        default: None,
        secret: false,
        meaning: "emulator: hosts status callbacks may go to besides localhost, 127.0.0.0/8 and ::1 (comma separated; * for any)",
        show: |s| s.callback_hosts.describe(),
    },
    KeySpec {
        key: "server.allowed_hosts",
        env: &["VIDEOROOM_ALLOWED_HOSTS"],
        flag: Some("--allowed-hosts"),
        default: None,
        secret: false,
        meaning: "host names the server answers to besides localhost names and IP addresses (comma separated; .example.test for subdomains)",
        show: |s| list_or_none(&s.allowed_hosts),
    },
    KeySpec {
        key: "server.allowed_origins",
        env: &["VIDEOROOM_ALLOWED_ORIGINS"],
        flag: Some("--allowed-origins"),
        default: None,
        secret: false,
        meaning: "web origins (http://host:port) whose pages may read /v1 (CORS), send changes (POST, DELETE) and open /signaling cross-origin (comma separated)",
        show: |s| list_or_none(&s.allowed_origins),
    },
    KeySpec {
        key: "workshop_dir",
        env: &["VIDEOROOM_WORKSHOP_DIR"],
        flag: Some("--workshop-dir"),
        default: Some("workshop"),
        secret: false,
        meaning: "directory of the workshop page (index.html, video.js, style.css); unset and without workshop/ here, the page built into the binary",
        show: |s| s.workshop_dir.display().to_string(),
    },
    KeySpec {
        key: "log.format",
        env: &[LOG_FORMAT_VAR],
        flag: Some("--log-format"),
        default: Some("pretty"),
        secret: false,
        meaning: "log lines on stderr: pretty or json (level: RUST_LOG)",
        show: |s| s.log_format.as_str().into(),
    },
    KeySpec {
        key: "sdk.path",
        env: &["VIDEOROOM_SDK_PATH"],
        flag: None,
        default: None,
        secret: false,
        meaning:
            "a twilio-video.min.js or npm .tgz served instead of the SDK cache; nothing is fetched",
        show: |s| path_or_none(&s.sdk.path),
    },
    KeySpec {
        key: "sdk.cache_dir",
        env: &["VIDEOROOM_SDK_CACHE_DIR"],
        flag: None,
        default: None,
        secret: false,
        meaning: "folder of the twilio-video.js cache (the version is a subfolder)",
        show: |s| path_or_none(&s.sdk.cache_dir),
    },
    KeySpec {
        key: "sdk.fetch",
        env: &["VIDEOROOM_SDK_FETCH"],
        flag: None,
        default: Some("true"),
        secret: false,
        meaning:
            "emulator: fetch a missing twilio-video.js with `npm pack` at start-up (false: never)",
        show: |s| s.sdk.fetch.to_string(),
    },
    KeySpec {
        key: "sdk.fetch_timeout",
        env: &["VIDEOROOM_SDK_FETCH_TIMEOUT"],
        flag: None,
        default: Some("30"),
        secret: false,
        meaning: "seconds `npm pack` may take before a fetch of twilio-video.js gives up, 1 to 600",
        show: |s| s.sdk.fetch_timeout.as_secs().to_string(),
    },
    KeySpec {
        key: "limits.http_per_client",
        env: &["VIDEOROOM_HTTP_PER_CLIENT"],
        flag: None,
        default: Some("512"),
        secret: false,
        meaning: "HTTP requests in progress one client address may hold at once (429 beyond)",
        show: |s| s.limits.http_per_client.to_string(),
    },
    KeySpec {
        key: "limits.signaling_per_client",
        env: &["VIDEOROOM_SIGNALING_PER_CLIENT"],
        flag: None,
        default: Some("64"),
        secret: false,
        meaning: "emulator: /signaling WebSockets one client address may hold open (429 beyond)",
        show: |s| s.limits.signaling_per_client.to_string(),
    },
    // Access control of /video-token (issue 13): see crates/server/src/access/.
    KeySpec {
        key: "auth.mode",
        env: &["VIDEOROOM_AUTH"],
        flag: Some("--auth"),
        default: Some("none"),
        secret: false,
        meaning: "who may get a token: none, passcode (VIDEOROOM_PASSCODE) or bearer (a JWT signed with VIDEOROOM_AUTH_SECRET)",
        show: |s| s.access.auth.mode().to_string(),
    },
    KeySpec {
        key: "auth.passcode",
        env: &["VIDEOROOM_PASSCODE"],
        flag: None,
        default: None,
        secret: true,
        meaning: "passcode mode: the passcode a request must carry (at least 6 characters)",
        show: |s| match &s.access.auth {
            AuthSettings::Passcode(_) => REDACTED.into(),
            _ => "(not used)".into(),
        },
    },
    KeySpec {
        key: "auth.secret",
        env: &["VIDEOROOM_AUTH_SECRET"],
        flag: None,
        default: None,
        secret: true,
        meaning: "bearer mode: the HS256 secret your application's login signs JWTs with (at least 32 bytes)",
        show: |s| match &s.access.auth {
            AuthSettings::Bearer(_) => REDACTED.into(),
            _ => "(not used)".into(),
        },
    },
    KeySpec {
        key: "auth.insecure_public",
        env: &["VIDEOROOM_INSECURE_PUBLIC"],
        flag: Some("--insecure-public"),
        default: Some("false"),
        secret: false,
        meaning: "start twilio mode on a non-loopback address with auth.mode none anyway (something else protects it); warned at every start",
        show: |s| s.access.insecure_public.to_string(),
    },
    KeySpec {
        key: "room.allowed",
        env: &["VIDEOROOM_ALLOWED_ROOMS"],
        flag: Some("--allowed-rooms"),
        default: None,
        secret: false,
        meaning: "rooms a request may name besides room.name: names or glob patterns such as class-* (comma separated); unset: any",
        show: |s| {
            s.access
                .allowed_rooms
                .as_ref()
                .map(|r| r.describe())
                .unwrap_or_else(|| "(any)".into())
        },
    },
    KeySpec {
        key: "limits.token_burst",
        env: &["VIDEOROOM_TOKEN_BURST"],
        flag: None,
        default: Some("120"),
        secret: false,
        meaning: "token requests one client (address, or bearer subject) may make at once before limits.token_rate applies",
        show: |s| s.access.token_burst.to_string(),
    },
    KeySpec {
        key: "limits.token_rate",
        env: &["VIDEOROOM_TOKEN_RATE"],
        flag: None,
        default: None,
        secret: false,
        meaning: "token requests per minute one client may sustain (429 beyond), or off; default: 120 with twilio, off with the emulator",
        show: |s| per_minute_or_off(s.access.token_rate),
    },
    KeySpec {
        key: "limits.room_creations",
        env: &["VIDEOROOM_ROOM_CREATIONS"],
        flag: None,
        default: None,
        secret: false,
        meaning: "rooms the server may create per minute (429 beyond), or off; default: 60 with twilio, off with the emulator",
        show: |s| per_minute_or_off(s.access.room_creations),
    },
    KeySpec {
        key: "token.identity_suffix",
        env: &["VIDEOROOM_IDENTITY_SUFFIX"],
        flag: Some("--identity-suffix"),
        default: Some("false"),
        secret: false,
        meaning: "add a short random suffix to every identity (alice-3f9a), so two attendees who type the same name do not disconnect each other",
        show: |s| s.access.identity_suffix.to_string(),
    },
    // Issue 13: the upstream's cache, resilience and status callbacks (settings/upstream.rs).
    KeySpec {
        key: "twilio.public_url",
        env: &["VIDEOROOM_PUBLIC_URL"],
        flag: None,
        default: None,
        secret: false,
        meaning: "twilio: the https URL Twilio reaches this service at; rooms then send status callbacks to {url}/twilio/status-callback",
        show: |s| or_none(&s.upstream.public_url),
    },
    KeySpec {
        key: "twilio.cache_ttl",
        env: &["VIDEOROOM_ROOM_CACHE_TTL"],
        flag: None,
        default: Some("30"),
        secret: false,
        meaning: "twilio: seconds a room lookup is reused without asking Twilio (0: off)",
        show: |s| s.upstream.cache_ttl.as_secs().to_string(),
    },
    KeySpec {
        key: "twilio.stale_if_error",
        env: &["VIDEOROOM_STALE_IF_ERROR"],
        flag: None,
        default: Some("300"),
        secret: false,
        meaning: "twilio: seconds past the cache TTL a cached room is still served while Twilio fails (0: off)",
        show: |s| s.upstream.stale_if_error.as_secs().to_string(),
    },
    KeySpec {
        key: "token.deadline",
        env: &["VIDEOROOM_TOKEN_DEADLINE"],
        flag: None,
        default: Some("5"),
        secret: false,
        meaning: "seconds a token request may wait for its room before a 503 (1 to 120)",
        show: |s| s.upstream.deadline.as_secs().to_string(),
    },
    // The LAN workshop (issue 10): HTTPS, so that other devices get the camera.
    KeySpec {
        key: "tls.https",
        env: &["VIDEOROOM_HTTPS"],
        flag: Some("--https"),
        default: Some("false"),
        secret: false,
        meaning: "serve HTTPS (and wss:// signaling), with a self-signed certificate unless tls.cert and tls.key are given; needed for cameras on other devices",
        show: |s| s.tls.https.to_string(),
    },
    KeySpec {
        key: "tls.cert",
        env: &["VIDEOROOM_TLS_CERT"],
        flag: Some("--tls-cert"),
        default: None,
        secret: false,
        meaning: "PEM certificate (chain) to serve HTTPS with instead of the self-signed one, e.g. from mkcert; turns HTTPS on",
        show: |s| path_or_none(&s.tls.cert),
    },
    KeySpec {
        key: "tls.key",
        env: &["VIDEOROOM_TLS_KEY"],
        flag: Some("--tls-key"),
        default: None,
        secret: false,
        meaning: "PEM private key of tls.cert",
        show: |s| path_or_none(&s.tls.key),
    },
    KeySpec {
        key: "tls.http_redirect_port",
        env: &["VIDEOROOM_HTTP_REDIRECT_PORT"],
        flag: Some("--http-redirect-port"),
        default: None,
        secret: false,
        meaning: "with HTTPS: also listen for plain HTTP on this port and redirect every request to the HTTPS URL",
        show: |s| s.tls.http_redirect_port.map_or_else(|| NONE.into(), |p| p.to_string()),
    },
    KeySpec {
        key: "lan",
        env: &["VIDEOROOM_LAN"],
        flag: Some("--lan"),
        default: Some("false"),
        secret: false,
        meaning: "workshop preset for a room of devices: host 0.0.0.0 (unless host is set) and HTTPS; the banner prints every LAN URL, the certificate fingerprint and a QR code",
        show: |s| s.tls.lan.to_string(),
    },
    KeySpec {
        key: "media.mode",
        env: &["VIDEOROOM_MEDIA_MODE"],
        flag: None,
        default: Some("sfu"),
        secret: false,
        meaning: "emulator: group rooms through the media server (sfu, as Twilio) or browser to browser (mesh); peer-to-peer and go rooms are always a mesh",
        show: |s| s.media.mode.as_str().into(),
    },
    KeySpec {
        key: "media.udp_port",
        env: &["VIDEOROOM_MEDIA_UDP_PORT"],
        flag: None,
        default: Some("0"),
        secret: false,
        meaning: "emulator: the media server's one UDP port for every client (0 picks a free one; the banner shows it)",
        show: |s| s.media.udp_port.to_string(),
    },
    KeySpec {
        key: "media.advertise",
        env: &["VIDEOROOM_MEDIA_ADVERTISE"],
        flag: None,
        default: None,
        secret: false,
        meaning: "emulator: the IP addresses, comma-separated, the media server binds (one UDP socket each, on media.udp_port) and gives browsers as its ICE candidates (default: host when it is a concrete address; on 0.0.0.0, as --lan binds, every LAN IPv4 address plus 127.0.0.1; else 127.0.0.1)",
        show: |s| {
            crate::startup::media_settings(s, &crate::tls::machine_addresses())
                .advertised(s.host)
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        },
    },
    KeySpec {
        key: "media.recordings_dir",
        env: &["VIDEOROOM_MEDIA_RECORDINGS_DIR"],
        flag: None,
        default: None,
        secret: false,
        meaning: "emulator: folder of the recordings of group rooms' tracks (.mka, .mkv); default: a temporary folder removed when the server stops",
        show: |s| path_or_none(&s.media.recordings_dir),
    },
    // Issue 13: the client's address behind a reverse proxy (access/client_address.rs).
    KeySpec {
        key: "server.trusted_proxies",
        env: &["VIDEOROOM_TRUSTED_PROXIES"],
        flag: None,
        default: None,
        secret: false,
        meaning: "reverse proxies (addresses or networks such as 10.0.0.0/8, comma separated) whose Forwarded / X-Forwarded-For name the client for rate limits and logs; unset: none, the peer address is the client",
        show: |s| s.access.trusted_proxies.describe(),
    },
    // Issue 13: /readyz on an idle instance (idle_probe.rs).
    KeySpec {
        key: "twilio.idle_probe",
        env: &["VIDEOROOM_IDLE_PROBE"],
        flag: None,
        default: Some("10"),
        secret: false,
        meaning: "twilio: seconds without an upstream outcome after which an idle instance lists one room itself, so /readyz follows Twilio without traffic (0: off)",
        show: |s| s.upstream.idle_probe.as_secs().to_string(),
    },
];

fn per_minute_or_off(value: Option<std::num::NonZeroU32>) -> String {
    value.map_or_else(|| "off".into(), |n| n.to_string())
}

/// The spec of `key`, if it is one.
pub fn spec(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The rows of the first Markdown table in `text` whose header starts with `| key (TOML)`.
    fn key_table_rows(text: &str) -> Vec<&str> {
        text.lines()
            .skip_while(|l| !l.starts_with("| key (TOML)"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect()
    }

    /// What is wrong with `doc`'s key table: every key needs a row naming its TOML key, each
    /// of its environment variables and its flag.
    fn undocumented(doc: &str) -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(doc);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} cannot be read: {e}", path.display()));
        let rows = key_table_rows(&text);
        assert!(!rows.is_empty(), "{doc} has no `| key (TOML) |` table");
        let mut problems = Vec::new();
        for spec in KEYS {
            let Some(row) = rows
                .iter()
                .find(|r| r.starts_with(&format!("| `{}` |", spec.key)))
            else {
                problems.push(format!("{doc}: no row for `{}`", spec.key));
                continue;
            };
            for name in spec.env.iter().copied().chain(spec.flag) {
                if !row.contains(&format!("`{name}`")) {
                    problems.push(format!("{doc}: the row of `{}` lacks `{name}`", spec.key));
                }
            }
        }
        problems
    }

    #[test]
    fn every_key_is_documented_in_the_configuration_reference_and_the_readme() {
        let problems: Vec<String> = ["docs/configuration.md", "README.md"]
            .into_iter()
            .flat_map(undocumented)
            .collect();
        assert!(
            problems.is_empty(),
            "add these to the key tables:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn keys_are_unique_and_named_in_every_layer() {
        for (i, spec) in KEYS.iter().enumerate() {
            assert!(
                KEYS[..i].iter().all(|other| other.key != spec.key),
                "{} twice",
                spec.key
            );
            assert!(!spec.env.is_empty(), "{} has no variable", spec.key);
            assert!(!spec.meaning.is_empty(), "{} has no meaning", spec.key);
        }
    }
}
