//! What the CLI says to the people who meet it at a workshop (attendees, often on Windows and
//! reading Japanese first): one typed [`Message`] per thing said, and one table per language
//! (`ja.rs`, `en.rs`) that must cover every message, since each is an exhaustive `match`.
//!
//! [`bilingual`] puts the Japanese line first and the English one after it, as the workshop
//! page does. Technical detail that comes from elsewhere (a cause, a path, a URL) is passed in
//! as it is and shown once, after both lines, rather than translated.

mod en;
mod ja;

use std::path::Path;

/// A language of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

/// Everything the attendee-facing CLI says, with its parameters.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    /// Banner: the heading line with the backend.
    BannerBackend { version: &'a str, emulator: bool },
    /// Banner: the label in front of a URL or a value.
    BannerLabel(Label),
    /// Banner: the heading of the credentials, all of them the seeded public test values.
    BannerSeededCredentials,
    /// Banner: the heading of the credentials, some of them configured.
    BannerCredentials,
    /// Banner: the server is bound to every interface.
    BannerBoundToAll { host: &'a str },
    /// Banner: serving plain HTTP on a LAN address, where other devices get no camera.
    BannerLanNoCamera,
    /// Banner: the HTTPS certificate is the operator's own files.
    BannerCertFiles { cert: &'a Path },
    /// Banner: the HTTPS certificate is self-signed, kept in `dir`; `reused` when an earlier
    /// one still names the same hosts and addresses.
    BannerCertSelfSigned { dir: &'a Path, reused: bool },
    /// Banner: the heading of the URLs attendees open on their devices.
    BannerAttendeeUrls,
    /// Banner: plain HTTP on `port` redirects to the HTTPS URLs.
    BannerRedirect { port: u16 },
    /// Banner: what to do about the browser's warning for a self-signed certificate.
    BannerSelfSignedCheck,
    /// Banner: the heading of the QR code of `url`.
    BannerQr { url: &'a str },
    /// Banner: the URL does not fit a QR code.
    BannerQrTooLong,
    /// The settings were refused at start-up (the English detail follows).
    StartupRefused,
    /// The server could not start (port in use, ...; the English detail follows).
    StartupFailed,
    /// `videoroom sdk`: a fetch starts.
    SdkFetching { version: &'a str, cache: &'a Path },
    /// `videoroom sdk`: npm still runs.
    SdkStillWaiting { waited: u64, limit: u64 },
    /// `videoroom sdk`: the tarball arrived, with its size.
    SdkDownloaded { bytes: u64 },
    /// `videoroom sdk`: the SDK is ready; `checked` when it passed the pinned hash (a
    /// `twilio-video.min.js` named by `sdk.path` is served as it is, unchecked).
    SdkReady {
        version: &'a str,
        source: &'a str,
        checked: bool,
    },
    /// `videoroom sdk`: it is not (the English reason follows).
    SdkUnavailable { version: &'a str },
    /// `videoroom check` in emulator mode.
    CheckEmulator { seeded: bool },
    /// `videoroom check`: the credentials work (the detail follows).
    CheckOk,
    /// `videoroom check`: they do not (the detail follows).
    CheckFailed,
    /// `videoroom decode`: the signature verified and the token is valid now.
    DecodeValid,
    /// `videoroom decode`: not verified, or not valid now (the detail follows).
    DecodeRefused,
    /// `videoroom decode`: the input is not a token at all (the detail follows).
    DecodeError,
    /// `videoroom workshop init`: the copy was written.
    WorkshopInitDone { dir: &'a Path },
    /// `videoroom workshop init`: nothing was written (the detail follows).
    WorkshopInitFailed,
}

/// The labels of the banner's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter)]
pub enum Label {
    WorkshopPage,
    AccessToken,
    Room,
    EmulatorRest,
    ClientLibraries,
    Inspector,
    MediaServer,
    TwilioRest,
    Health,
    DecodeToken,
}

/// `message` in one language.
pub fn text(lang: Lang, message: Message<'_>) -> String {
    match lang {
        Lang::Ja => ja::text(message),
        Lang::En => en::text(message),
    }
}

/// Japanese, then English, each on its own line.
pub fn bilingual(message: Message<'_>) -> String {
    format!("{}\n{}", ja::text(message), en::text(message))
}

/// [`bilingual`], then the untranslated `detail` (a cause, a list of paths) on its own lines.
pub fn with_detail(message: Message<'_>, detail: &str) -> String {
    format!("{}\n{detail}", bilingual(message))
}

/// A banner label as `日本語 / English`, padded to the terminal columns of the longest label
/// (a kana or kanji takes two columns), so that the values after it line up.
pub fn label(label: Label) -> String {
    use strum::IntoEnumIterator as _;
    let widest = Label::iter()
        .map(|l| columns(&plain_label(l)))
        .max()
        .unwrap_or(0);
    let text = plain_label(label);
    let pad = widest.saturating_sub(columns(&text));
    format!("{text}{}", " ".repeat(pad))
}

fn plain_label(label: Label) -> String {
    format!(
        "{} / {}",
        ja::text(Message::BannerLabel(label)),
        en::text(Message::BannerLabel(label))
    )
}

/// The columns `text` takes in a terminal: two for East Asian wide characters, one otherwise.
fn columns(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '\u{1100}'..='\u{115f}'
            | '\u{2e80}'..='\u{a4cf}'
            | '\u{ac00}'..='\u{d7a3}'
            | '\u{f900}'..='\u{faff}'
            | '\u{fe30}'..='\u{fe4f}'
            | '\u{ff00}'..='\u{ff60}'
            | '\u{ffe0}'..='\u{ffe6}' => 2,
            _ => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator as _;

    /// One of each message, so that both tables are read for every kind.
    fn every_message() -> Vec<Message<'static>> {
        let mut all = vec![
            Message::BannerBackend {
                version: "0.1.0",
                emulator: true,
            },
            Message::BannerBackend {
                version: "0.1.0",
                emulator: false,
            },
            Message::BannerBoundToAll { host: "0.0.0.0" },
            Message::BannerSeededCredentials,
            Message::BannerCredentials,
            Message::BannerLanNoCamera,
            Message::BannerCertFiles {
                cert: Path::new("/etc/videoroom/cert.pem"),
            },
            Message::BannerCertSelfSigned {
                dir: Path::new("/cache/tls"),
                reused: true,
            },
            Message::BannerCertSelfSigned {
                dir: Path::new("/cache/tls"),
                reused: false,
            },
            Message::BannerAttendeeUrls,
            Message::BannerRedirect { port: 8080 },
            Message::BannerSelfSignedCheck,
            Message::BannerQr {
                url: "https://192.0.2.7:3000/index.html",
            },
            Message::BannerQrTooLong,
            Message::StartupRefused,
            Message::StartupFailed,
            Message::SdkFetching {
                version: "2.36.0",
                cache: Path::new("/cache"),
            },
            Message::SdkStillWaiting {
                waited: 5,
                limit: 30,
            },
            Message::SdkDownloaded { bytes: 1_234_567 },
            Message::SdkReady {
                version: "2.36.0",
                source: "/cache/twilio-video.min.js",
                checked: true,
            },
            Message::SdkReady {
                version: "2.36.0",
                source: "VIDEOROOM_SDK_PATH=/my/twilio-video.min.js",
                checked: false,
            },
            Message::SdkUnavailable { version: "2.36.0" },
            Message::CheckEmulator { seeded: true },
            Message::CheckOk,
            Message::CheckFailed,
            Message::DecodeValid,
            Message::DecodeRefused,
            Message::DecodeError,
            Message::WorkshopInitDone {
                dir: Path::new("my-page"),
            },
            Message::WorkshopInitFailed,
        ];
        all.extend(Label::iter().map(Message::BannerLabel));
        all
    }

    #[test]
    fn every_message_has_japanese_text_and_english_text_that_differ() {
        for message in every_message() {
            let ja = text(Lang::Ja, message);
            let en = text(Lang::En, message);
            assert!(
                ja.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)
                    || ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{message:?}: the Japanese text has no kana or kanji: {ja}"
            );
            assert!(
                !en.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)
                    || ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{message:?}: the English text has Japanese in it: {en}"
            );
            assert_ne!(ja, en, "{message:?}");
        }
    }

    #[test]
    fn banner_labels_line_up_in_terminal_columns() {
        let widths: Vec<usize> = Label::iter().map(|l| columns(&label(l))).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{widths:?}");
        assert_eq!(columns("ルーム / Room"), 6 + 7);
    }

    #[test]
    fn bilingual_text_puts_japanese_first() {
        let both = bilingual(Message::CheckOk);
        let (first, second) = both.split_once('\n').expect("two lines");
        assert_eq!(first, text(Lang::Ja, Message::CheckOk));
        assert_eq!(second, text(Lang::En, Message::CheckOk));
    }
}
