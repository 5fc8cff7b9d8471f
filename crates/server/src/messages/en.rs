//! The English table: every [`Message`] in English. Keep it in step with `ja.rs`.

use super::{Label, Message};

pub(super) fn text(message: Message<'_>) -> String {
    match message {
        Message::BannerBackend { version, emulator } => {
            let mode = if emulator {
                "emulator (offline, built in: no Twilio account needed)"
            } else {
                "twilio (real Twilio Video)"
            };
            format!("videoroom {version} — backend: {mode}")
        }
        Message::BannerLabel(label) => match label {
            Label::WorkshopPage => "Workshop page",
            Label::AccessToken => "Access token",
            Label::Room => "Room",
            Label::EmulatorRest => "Emulator REST",
            Label::ClientLibraries => "Client libraries",
            Label::Inspector => "Inspector",
            Label::MediaServer => "Media server",
            Label::TwilioRest => "Twilio REST",
            Label::Health => "Health",
            Label::DecodeToken => "Decode a token",
        }
        .to_owned(),
        Message::BannerSeededCredentials => {
            "Seeded test credentials (public, emulator only):".to_owned()
        }
        Message::BannerCredentials => {
            "Credentials (configured secrets are not shown; seeded test values are):".to_owned()
        }
        Message::BannerBoundToAll { host } => {
            format!("Bound to {host}: other computers on the network can connect too.")
        }
        Message::StartupRefused => {
            "The settings were refused, so videoroom does not start; fix the values named below."
                .to_owned()
        }
        Message::BannerLanNoCamera => {
            "Warning: browsers on other devices refuse the camera on this plain http:// address (they need https or localhost). Start with --lan to serve HTTPS.".to_owned()
        }
        Message::BannerCertFiles { cert } => format!("HTTPS certificate: {}", cert.display()),
        Message::BannerCertSelfSigned { dir, reused: true } => format!(
            "HTTPS certificate: self-signed, reused from {} (same names and addresses as before)",
            dir.display()
        ),
        Message::BannerCertSelfSigned { dir, reused: false } => format!(
            "HTTPS certificate: self-signed, made now and kept in {}",
            dir.display()
        ),
        Message::BannerAttendeeUrls => "Attendees open (on the same Wi-Fi):".to_owned(),
        Message::BannerRedirect { port } => {
            format!("http:// on port {port} redirects to these https:// URLs")
        }
        Message::BannerSelfSignedCheck => {
            "Browsers warn about this self-signed certificate: proceed when its SHA-256 fingerprint is this one.".to_owned()
        }
        Message::BannerQr { url } => format!("QR code of {url} (phones):"),
        Message::BannerQrTooLong => "(the URL is too long for a QR code)".to_owned(),
        Message::StartupFailed => "videoroom could not start:".to_owned(),
        Message::SdkFetching { version, cache } => format!(
            "fetching twilio-video.js {version} with `npm pack` into {} ...",
            cache.display()
        ),
        Message::SdkStillWaiting { waited, limit } => format!(
            "  still waiting for npm ({waited} s of at most {limit} s; sdk.fetch_timeout)"
        ),
        Message::SdkDownloaded { bytes } => {
            format!("  downloaded {} KB; checking its integrity ...", bytes.div_ceil(1024))
        }
        Message::SdkReady {
            version,
            source,
            checked,
        } => {
            let how = if checked {
                "integrity checked"
            } else {
                "the file you named, served as it is"
            };
            format!("twilio-video.js {version} is ready ({how}): {source}")
        }
        Message::SdkUnavailable { version } => {
            format!("twilio-video.js {version} is not available:")
        }
        Message::CheckEmulator { seeded } => format!(
            "backend: emulator. Nothing to check: the built-in emulator accepts the configured credentials ({}). Run `videoroom check --backend twilio` to check real Twilio credentials.",
            if seeded { "the seeded test values" } else { "yours" }
        ),
        Message::CheckOk => "The Twilio credentials work.".to_owned(),
        Message::CheckFailed => "The Twilio credentials could not be confirmed:".to_owned(),
        Message::DecodeValid => "The signature is valid and the token is valid now.".to_owned(),
        Message::DecodeRefused => {
            "This token cannot be used now (signature not verified, or outside its validity); details below."
                .to_owned()
        }
        Message::DecodeError => "Could not read the token:".to_owned(),
        Message::WorkshopInitDone { dir } => format!(
            "Wrote the workshop page into {}. Start `videoroom --workshop-dir {}` and every edit shows on reload.",
            dir.display(),
            dir.display()
        ),
        Message::WorkshopInitFailed => {
            "Nothing was written (existing files are never overwritten):".to_owned()
        }
    }
}
