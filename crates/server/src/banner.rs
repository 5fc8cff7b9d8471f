//! The start-up banner: what is running and the URLs a person needs, printed once listening.
//!
//! Its last line is exactly `listening on http://127.0.0.1:<port>` (the real port, also after
//! `--port 0`), which test harnesses parse.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use secrecy::{ExposeSecret, SecretString};
use videoroom_core::credentials::{
    ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN, TEST_API_KEY_SECRET,
    TEST_AUTH_TOKEN,
};

use crate::settings::{BackendKind, Settings};
use videoroom_emulator::media::MediaMode;

/// The banner for `settings` served on `port`, with the media server's UDP address when group
/// rooms go through it.
pub fn banner(settings: &Settings, port: u16, media: Option<SocketAddr>) -> String {
    // Loopback and "all interfaces" are reached as localhost; a specific address as itself.
    let base = match settings.host {
        IpAddr::V4(ip) if ip.is_loopback() || ip.is_unspecified() => {
            format!("http://localhost:{port}")
        }
        IpAddr::V6(ip) if ip.is_loopback() || ip.is_unspecified() => {
            format!("http://localhost:{port}")
        }
        IpAddr::V4(ip) => format!("http://{ip}:{port}"),
        IpAddr::V6(ip) => format!("http://[{ip}]:{port}"),
    };
    let mut out = String::new();
    let mode = match settings.backend {
        BackendKind::Emulator => "emulator (offline, built in: no Twilio account needed)",
        BackendKind::Twilio => "twilio (real Twilio Video)",
    };
    let _ = writeln!(
        out,
        "videoroom {} — backend: {mode}",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "  Workshop page    {base}/index.html");
    let _ = writeln!(out, "  Access token     {base}/video-token?identity=alice");
    let room = &settings.room;
    let choice = if room.allow_param {
        "; ?room=NAME picks another"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "  Room             {} (type {}){choice}",
        room.name, room.room_type
    );
    match settings.backend {
        BackendKind::Emulator => {
            // Client libraries append `/v1/...` themselves: their base URL is the server root.
            let _ = writeln!(out, "  Emulator REST    {base}/v1/Rooms");
            let _ = writeln!(
                out,
                "  Client libraries video base URL = {base}  (twilio-node: client.video.baseUrl)"
            );
            let _ = writeln!(out, "  Inspector        {base}/emulator");
            match media {
                Some(addr) => {
                    let _ = writeln!(
                        out,
                        "  Media server     udp://{addr}  (group rooms; ICE-lite, this address only)"
                    );
                }
                None if settings.media.mode == MediaMode::Mesh => {
                    let _ = writeln!(
                        out,
                        "  Media            mesh (group rooms browser to browser)"
                    );
                }
                None => {}
            }
        }
        BackendKind::Twilio => {
            let _ = writeln!(out, "  Twilio REST      {}", settings.twilio.base_url);
        }
    }
    let _ = writeln!(out, "  Health           {base}/healthz");
    let _ = writeln!(out, "  Decode a token   videoroom decode <TOKEN>");
    let _ = writeln!(out);
    credentials(&mut out, settings);
    let _ = writeln!(out);
    let shown_host = match settings.host {
        // 0.0.0.0 includes the loopback interface, so the usual address is the one to show.
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    if settings.host.is_unspecified() {
        let _ = writeln!(
            out,
            "  Bound to {}: other computers on the network can connect too.",
            settings.host
        );
    }
    let _ = write!(out, "listening on http://{shown_host}:{port}");
    out
}

/// What a configured secret prints as. A terminal is often on a projector in a workshop, so a
/// secret is printed only when it is the seeded, public test value.
const NOT_SHOWN: &str = "[configured, not shown]";

/// The credentials block. SIDs are identifiers, not secrets, and are always shown (a client
/// library needs the account SID); a secret is printed only when it equals the seeded public
/// value, whatever else is configured, so setting `AUTH_TOKEN` alone never prints it.
fn credentials(out: &mut String, settings: &Settings) {
    let creds = &settings.credentials;
    let shown = |secret: &SecretString, seeded: &str| {
        if secret.expose_secret() == seeded {
            secret.expose_secret().to_owned()
        } else {
            NOT_SHOWN.to_owned()
        }
    };
    let all_seeded = creds.seeded
        && creds
            .auth_token
            .as_ref()
            .is_none_or(|token| token.expose_secret() == TEST_AUTH_TOKEN);
    if all_seeded {
        // The seeded values are public test credentials, printed so that a person can point
        // an official client library at the emulator.
        let _ = writeln!(out, "  Seeded test credentials (public, emulator only):");
    } else {
        let _ = writeln!(
            out,
            "  Credentials (configured secrets are not shown; seeded test values are):"
        );
    }
    let _ = writeln!(out, "    {}={}", ENV_ACCOUNT_SID[0], creds.account_sid);
    if let Some(token) = &creds.auth_token {
        let _ = writeln!(
            out,
            "    {}={}",
            ENV_AUTH_TOKEN[0],
            shown(token, TEST_AUTH_TOKEN)
        );
    }
    let _ = writeln!(out, "    {}={}", ENV_API_KEY_SID[0], creds.api_key_sid);
    let _ = writeln!(
        out,
        "    {}={}",
        ENV_API_KEY_SECRET[0],
        shown(&creds.api_key_secret, TEST_API_KEY_SECRET)
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::settings::Sources;

    const AUTH: &str = "configured-auth-token-value-1234";
    const SECRET: &str = "configured-api-secret-value-5678";

    /// Emulator-mode settings read from these variables alone.
    fn settings_with(env: &[(&str, &str)]) -> Settings {
        Sources {
            config_file: None,
            dotenv_file: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            overrides: Default::default(),
        }
        .load()
        .expect("valid settings")
    }

    /// The banner of emulator-mode settings read from these variables alone.
    fn banner_with(env: &[(&str, &str)]) -> String {
        let settings = settings_with(env);
        banner(
            &settings,
            3000,
            Some(SocketAddr::from(([127, 0, 0, 1], 40000))),
        )
    }

    #[test]
    fn the_banner_shows_where_group_rooms_send_media() {
        let text = banner_with(&[]);
        assert!(
            text.contains("Media server     udp://127.0.0.1:40000"),
            "{text}"
        );
        let mesh = settings_with(&[("VIDEOROOM_MEDIA_MODE", "mesh")]);
        let text = banner(&mesh, 3000, None);
        assert!(
            text.contains("mesh (group rooms browser to browser)"),
            "{text}"
        );
    }

    #[test]
    fn a_configured_auth_token_alone_is_not_printed() {
        let text = banner_with(&[(ENV_AUTH_TOKEN[0], AUTH)]);
        assert!(!text.contains(AUTH), "{text}");
        assert!(
            text.contains("AUTH_TOKEN=[configured, not shown]"),
            "{text}"
        );
        assert!(!text.contains("Seeded test credentials"), "{text}");
        // The seeded API secret is still public and still printed.
        assert!(text.contains(TEST_API_KEY_SECRET), "{text}");
    }

    #[test]
    fn a_configured_account_sid_alone_prints_only_seeded_secrets() {
        let sid = "AC00000000000000000000000000000001";
        let text = banner_with(&[(ENV_ACCOUNT_SID[0], sid)]);
        assert!(text.contains(&format!("ACCOUNT_SID={sid}")), "{text}");
        assert!(text.contains(TEST_AUTH_TOKEN), "{text}");
        assert!(text.contains(TEST_API_KEY_SECRET), "{text}");
        assert!(!text.contains("Seeded test credentials"), "{text}");
    }

    #[test]
    fn a_configured_api_key_prints_its_sid_but_not_its_secret() {
        let sid = "SK00000000000000000000000000000002";
        let text = banner_with(&[(ENV_API_KEY_SID[0], sid), (ENV_API_KEY_SECRET[0], SECRET)]);
        assert!(text.contains(&format!("API_KEY={sid}")), "{text}");
        assert!(!text.contains(SECRET), "{text}");
        assert!(
            text.contains("API_SECRET=[configured, not shown]"),
            "{text}"
        );
    }

    #[test]
    fn nothing_configured_prints_the_seeded_credentials() {
        let text = banner_with(&[]);
        assert!(text.contains("Seeded test credentials"), "{text}");
        assert!(text.contains(TEST_AUTH_TOKEN), "{text}");
        assert!(text.contains(TEST_API_KEY_SECRET), "{text}");
        assert!(!text.contains(NOT_SHOWN), "{text}");
    }
}
