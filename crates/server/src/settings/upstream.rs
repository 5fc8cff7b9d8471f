//! The settings of how the token service treats its upstream (issue 13, "Fewer upstream calls"
//! and "Resilience"): the room cache, stale-if-error, the per-request deadline, and the public
//! URL Twilio's status callbacks come back to. Their key specs are the last block of `KEYS`.

use std::time::Duration;

use super::validation::FromSetting;
use super::{BackendKind, Settings, SettingsError};

/// How the token service spares and survives its upstream.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// The address the internet reaches this service at (`https://tokens.example.com`). When
    /// set, rooms this service creates carry `StatusCallback = {public_url}/twilio/status-callback`
    /// and that route is mounted.
    pub public_url: Option<String>,
    /// How long a room lookup is reused without asking the upstream (twilio mode; zero turns the
    /// cache off).
    pub cache_ttl: Duration,
    /// How much older than `cache_ttl` a cached room may be and still be served when the
    /// upstream fails (stale-if-error; zero turns it off).
    pub stale_if_error: Duration,
    /// The longest a token request may wait for its room.
    pub deadline: Duration,
    /// Twilio mode: how old the last upstream outcome may get before an idle instance asks the
    /// upstream itself, so `/readyz` stays true without traffic (zero turns it off; see
    /// `crate::idle_probe`).
    pub idle_probe: Duration,
}

impl UpstreamSettings {
    /// The status callback URL rooms are created with, if the public URL is known.
    pub fn status_callback_url(&self) -> Option<String> {
        self.public_url
            .as_ref()
            .map(|base| format!("{base}{}", crate::status_callback::PATH))
    }
}

/// Whole seconds from 0 to 86400 (zero turns the feature off).
#[derive(Debug)]
pub(super) struct CacheSecs(pub Duration);

impl FromSetting for CacheSecs {
    fn from_setting(s: &str) -> Result<Self, String> {
        match s.parse::<u64>() {
            Ok(secs @ 0..=86_400) => Ok(CacheSecs(Duration::from_secs(secs))),
            _ => Err(format!(
                "must be a whole number of seconds from 0 (off) to 86400 (got '{s}')"
            )),
        }
    }
}

/// A request deadline: whole seconds from 1 to 120.
#[derive(Debug)]
pub(super) struct DeadlineSecs(pub Duration);

impl FromSetting for DeadlineSecs {
    fn from_setting(s: &str) -> Result<Self, String> {
        match s.parse::<u64>() {
            Ok(secs @ 1..=120) => Ok(DeadlineSecs(Duration::from_secs(secs))),
            _ => Err(format!(
                "must be a whole number of seconds from 1 to 120 (got '{s}'); clients give up long before two minutes"
            )),
        }
    }
}

/// The public base URL of this service: `http(s)://host[:port][/prefix]`, no query or fragment,
/// kept without a trailing slash.
#[derive(Debug)]
pub(super) struct PublicUrl(pub String);

impl FromSetting for PublicUrl {
    fn from_setting(s: &str) -> Result<Self, String> {
        let rule = || {
            format!(
                "must be the absolute http(s) URL Twilio reaches this service at, such as https://tokens.example.com, without query or fragment (got '{}')",
                s.chars().take(100).collect::<String>()
            )
        };
        let url = url::Url::parse(s).map_err(|_| rule())?;
        let usable = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none();
        if !usable {
            return Err(rule());
        }
        Ok(PublicUrl(s.trim_end_matches('/').to_owned()))
    }
}

/// The rule across keys: status callbacks are verified with the auth token, so a public URL in
/// twilio mode needs one (a callback route that cannot verify would accept forgeries).
pub(super) fn check(settings: &Settings) -> Result<(), SettingsError> {
    let needs_token = settings.upstream.public_url.is_some()
        && settings.backend == BackendKind::Twilio
        && settings.credentials.auth_token.is_none();
    if needs_token {
        return Err(SettingsError::single(format!(
            "{} is set, so Twilio's status callbacks come back signed with your auth token: set {} (Console: Account Info) or unset the public URL",
            settings.name_of("twilio.public_url"),
            videoroom_core::credentials::describe(videoroom_core::credentials::ENV_AUTH_TOKEN),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_must_be_absolute_http_without_query() {
        assert_eq!(
            PublicUrl::from_setting("https://t.example.com/").unwrap().0,
            "https://t.example.com"
        );
        for bad in [
            "t.example.com",
            "ftp://t.example.com",
            "https://t.example.com/?a=1",
            "https://user:pw@t.example.com",
        ] {
            assert!(PublicUrl::from_setting(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_name_their_range() {
        assert_eq!(CacheSecs::from_setting("0").unwrap().0, Duration::ZERO);
        assert!(CacheSecs::from_setting("-1")
            .unwrap_err()
            .contains("0 (off)"));
        assert!(DeadlineSecs::from_setting("0").is_err());
        assert_eq!(
            DeadlineSecs::from_setting("5").unwrap().0,
            Duration::from_secs(5)
        );
    }
}
