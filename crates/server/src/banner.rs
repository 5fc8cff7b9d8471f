//! The start-up banner: what is running and the URLs a person needs, printed once listening.
//!
//! Its last line is exactly `listening on http://127.0.0.1:<port>` (the real port, also after
//! `--port 0`; `https://` when serving HTTPS), which test harnesses parse.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use secrecy::{ExposeSecret, SecretString};
use videoroom_core::credentials::{
    ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN, TEST_API_KEY_SECRET,
    TEST_AUTH_TOKEN,
};

use crate::lan::Listening;
use crate::messages::{self, Label, Message};
use crate::settings::{BackendKind, Settings};
use crate::tls::CertSource;
use videoroom_emulator::media::MediaMode;

/// The banner for `settings` served over plain HTTP on `port`, with the media server's UDP
/// addresses when group rooms go through it (empty otherwise).
pub fn banner(settings: &Settings, port: u16, media: &[SocketAddr]) -> String {
    banner_for(settings, port, &Listening::plain(), media)
}

/// The banner for `settings` served on `port`, with HTTPS and the LAN URLs as `listening` says,
/// and the media server's UDP addresses when group rooms go through it (empty otherwise).
pub fn banner_for(
    settings: &Settings,
    port: u16,
    listening: &Listening,
    media: &[SocketAddr],
) -> String {
    let scheme = if listening.fingerprint.is_some() {
        "https"
    } else {
        "http"
    };
    // Loopback and "all interfaces" are reached as localhost; a specific address as itself.
    let base = match settings.host {
        IpAddr::V4(ip) if ip.is_loopback() || ip.is_unspecified() => {
            format!("{scheme}://localhost:{port}")
        }
        IpAddr::V6(ip) if ip.is_loopback() || ip.is_unspecified() => {
            format!("{scheme}://localhost:{port}")
        }
        IpAddr::V4(ip) => format!("{scheme}://{ip}:{port}"),
        IpAddr::V6(ip) => format!("{scheme}://[{ip}]:{port}"),
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
            match media {
                [] if settings.media.mode == MediaMode::Mesh => {
                    let _ = writeln!(
                        out,
                        "{}mesh (group rooms browser to browser)",
                        line(Label::MediaServer)
                    );
                }
                [] => {}
                addrs => {
                    let shown: Vec<String> =
                        addrs.iter().map(|addr| format!("udp://{addr}")).collect();
                    let _ = writeln!(
                        out,
                        "{}{}  (group rooms; ICE-lite, these addresses only)",
                        line(Label::MediaServer),
                        shown.join(" ")
                    );
                }
            }
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
    lan_section(&mut out, settings, port, listening);
    let _ = write!(out, "listening on {scheme}://{shown_host}:{port}");
    out
}

/// The LAN part of the banner (issue 10): with HTTPS, every URL other devices can open, the
/// certificate's fingerprint and a QR code of the main URL; on a LAN address without HTTPS,
/// the warning (Japanese and English) that other devices will get no camera. Empty on plain
/// loopback.
fn lan_section(out: &mut String, settings: &Settings, port: u16, listening: &Listening) {
    let urls: Vec<String> = listening
        .addresses
        .iter()
        .map(|ip| match ip {
            IpAddr::V4(ip) => format!("https://{ip}:{port}/index.html"),
            IpAddr::V6(ip) => format!("https://[{ip}]:{port}/index.html"),
        })
        .collect();
    // Every sentence comes from the message tables, Japanese first; addresses, URLs and the
    // fingerprint are shown once, untranslated.
    let say = |out: &mut String, message: Message<'_>| {
        for text in messages::bilingual(message).lines() {
            let _ = writeln!(out, "  {text}");
        }
    };
    let Some(fingerprint) = &listening.fingerprint else {
        if !settings.host.is_loopback() {
            say(out, Message::BannerLanNoCamera);
            let _ = writeln!(out);
        }
        return;
    };
    match &listening.source {
        Some(CertSource::Files { cert }) => say(out, Message::BannerCertFiles { cert }),
        Some(CertSource::SelfSigned { dir, reused }) => say(
            out,
            Message::BannerCertSelfSigned {
                dir,
                reused: *reused,
            },
        ),
        None => {}
    }
    if !urls.is_empty() {
        say(out, Message::BannerAttendeeUrls);
        for url in &urls {
            let _ = writeln!(out, "    {url}");
        }
    }
    if let Some(port) = listening.redirect_port {
        say(out, Message::BannerRedirect { port });
    }
    if matches!(listening.source, Some(CertSource::SelfSigned { .. })) {
        say(out, Message::BannerSelfSignedCheck);
    }
    let _ = writeln!(out, "  SHA-256 {fingerprint}");
    if let Some(main) = urls.first() {
        match qr_code(main) {
            Some(code) => {
                say(out, Message::BannerQr { url: main });
                let _ = writeln!(out, "{code}");
            }
            None => say(out, Message::BannerQrTooLong),
        }
    }
    let _ = writeln!(out);
}

/// `text` as a QR code drawn with half blocks, light modules as blocks so that it reads on the
/// usual dark terminal, with its quiet zone. `None` when it does not fit a QR code.
fn qr_code(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
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
            &[
                SocketAddr::from(([192, 168, 1, 23], 40000)),
                SocketAddr::from(([127, 0, 0, 1], 40000)),
            ],
        )
    }

    #[test]
    fn the_banner_shows_where_group_rooms_send_media() {
        let text = banner_with(&[]);
        assert!(
            text.contains("Media server")
                && text.contains("udp://192.168.1.23:40000 udp://127.0.0.1:40000"),
            "{text}"
        );
        let mesh = settings_with(&[("VIDEOROOM_MEDIA_MODE", "mesh")]);
        let text = banner(&mesh, 3000, &[]);
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

    fn lan_settings(overrides: crate::settings::Overrides) -> Settings {
        Settings::defaults_with(overrides).expect("valid settings")
    }

    #[test]
    fn a_lan_address_without_https_warns_in_japanese_and_english_and_names_lan() {
        let settings = lan_settings(crate::settings::Overrides {
            host: Some("0.0.0.0".into()),
            ..Default::default()
        });
        let text = banner(&settings, 3000, &[]);
        assert!(
            text.contains(
                "警告: ほかの端末のブラウザーは、この http:// のアドレスではカメラを使わせません"
            ),
            "{text}"
        );
        assert!(text.contains("Warning: browsers on other devices refuse the camera on this plain http:// address"), "{text}");
        assert!(text.contains("Start with --lan"), "{text}");
        assert!(
            text.ends_with("listening on http://127.0.0.1:3000"),
            "{text}"
        );

        // On loopback only this computer's browsers connect, and localhost is a secure context.
        let text = banner_with(&[]);
        assert!(!text.contains("Warning"), "{text}");
        assert!(!text.contains("SHA-256"), "{text}");
    }

    #[test]
    fn with_https_the_banner_lists_every_lan_url_the_fingerprint_and_a_qr_code() {
        let settings = lan_settings(crate::settings::Overrides {
            lan: Some("true".into()),
            ..Default::default()
        });
        let mut listening = Listening::plain();
        listening.fingerprint = Some("AB:CD:EF".into());
        listening.source = Some(CertSource::SelfSigned {
            dir: "/cache/videoroom/tls".into(),
            reused: false,
        });
        listening.addresses = vec![
            IpAddr::from([192, 168, 1, 23]),
            "fd00::23".parse().expect("an IPv6 address"),
        ];
        listening.redirect_port = Some(8080);
        let text = banner_for(&settings, 3000, &listening, &[]);

        assert!(
            text.contains("    https://192.168.1.23:3000/index.html\n"),
            "{text}"
        );
        assert!(
            text.contains("    https://[fd00::23]:3000/index.html\n"),
            "{text}"
        );
        assert!(text.contains("  SHA-256 AB:CD:EF\n"), "{text}");
        assert!(
            text.contains("self-signed, made now and kept in /cache/videoroom/tls"),
            "{text}"
        );
        assert!(
            text.contains("proceed when its SHA-256 fingerprint is this one"),
            "{text}"
        );
        assert!(text.contains("http:// on port 8080 redirects"), "{text}");
        let main = "https://192.168.1.23:3000/index.html";
        assert!(text.contains(&format!("QR code of {main}")), "{text}");
        let code = qr_code(main).expect("a short URL fits a QR code");
        assert!(text.contains(&code), "{text}");
        assert!(code.lines().count() > 10 && code.contains('█'), "{code}");
        assert!(!text.contains("Warning"), "{text}");
        assert!(
            text.lines().any(|line| line.contains("Workshop page")
                && line.ends_with("https://localhost:3000/index.html")),
            "{text}"
        );
        assert!(
            text.ends_with("listening on https://127.0.0.1:3000"),
            "{text}"
        );

        // A given certificate: its file, and no self-signed advice.
        listening.source = Some(CertSource::Files {
            cert: "/home/me/localhost+2.pem".into(),
        });
        let text = banner_for(&settings, 3000, &listening, &[]);
        assert!(
            text.contains("HTTPS 証明書: /home/me/localhost+2.pem\n  HTTPS certificate: /home/me/localhost+2.pem"),
            "{text}"
        );
        assert!(!text.contains("self-signed"), "{text}");
        assert!(!text.contains("自己署名"), "{text}");
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
