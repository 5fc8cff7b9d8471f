//! The start-up banner: what is running and the URLs a person needs, printed once listening.
//!
//! Its last line is exactly `listening on http://127.0.0.1:<port>` (the real port, also after
//! `--port 0`), which test harnesses parse.

use std::fmt::Write as _;
use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use videoroom_core::credentials::{
    ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN, TEST_API_KEY_SECRET,
    TEST_AUTH_TOKEN,
};

use crate::messages::{self, Label, Message};
use crate::settings::{BackendKind, Settings};

/// The banner for `settings` served on `port`.
pub fn banner(settings: &Settings, port: u16) -> String {
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
    let _ = writeln!(
        out,
        "{}",
        messages::bilingual(Message::BannerBackend {
            version: env!("CARGO_PKG_VERSION"),
            emulator: settings.backend == BackendKind::Emulator,
        })
    );
    let _ = writeln!(out);
    let line = |label: Label| format!("  {}  ", messages::label(label));
    let _ = writeln!(out, "{}{base}/index.html", line(Label::WorkshopPage));
    let _ = writeln!(
        out,
        "{}{base}/video-token?identity=alice",
        line(Label::AccessToken)
    );
    let room = &settings.room;
    let choice = if room.allow_param {
        "; ?room=NAME picks another"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{}{} (type {}){choice}",
        line(Label::Room),
        room.name,
        room.room_type
    );
    match settings.backend {
        BackendKind::Emulator => {
            // Client libraries append `/v1/...` themselves: their base URL is the server root.
            let _ = writeln!(out, "{}{base}/v1/Rooms", line(Label::EmulatorRest));
            let _ = writeln!(
                out,
                "{}video base URL = {base}  (twilio-node: client.video.baseUrl)",
                line(Label::ClientLibraries)
            );
            let _ = writeln!(out, "{}{base}/emulator", line(Label::Inspector));
        }
        BackendKind::Twilio => {
            let _ = writeln!(
                out,
                "{}{}",
                line(Label::TwilioRest),
                settings.twilio.base_url
            );
        }
    }
    let _ = writeln!(out, "{}{base}/healthz", line(Label::Health));
    let _ = writeln!(out, "{}videoroom decode <TOKEN>", line(Label::DecodeToken));
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
        let host = settings.host.to_string();
        for text in messages::bilingual(Message::BannerBoundToAll { host: &host }).lines() {
            let _ = writeln!(out, "  {text}");
        }
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
    // The seeded values are public test credentials, printed so that a person can point an
    // official client library at the emulator.
    let heading = if all_seeded {
        Message::BannerSeededCredentials
    } else {
        Message::BannerCredentials
    };
    for text in messages::bilingual(heading).lines() {
        let _ = writeln!(out, "  {text}");
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

    /// The banner of emulator-mode settings read from these variables alone.
    fn banner_with(env: &[(&str, &str)]) -> String {
        let settings = Sources {
            config_file: None,
            dotenv_file: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            overrides: Default::default(),
        }
        .load()
        .expect("valid settings");
        banner(&settings, 3000)
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
