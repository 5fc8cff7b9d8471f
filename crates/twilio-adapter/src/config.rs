//! The adapter's settings: credentials, where Twilio is, and how patient to be.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;
use videoroom_core::{AccountSid, ApiKeySid};

/// Twilio's Video REST API host.
pub const DEFAULT_BASE_URL: &str = "https://video.twilio.com";
/// How long to wait for a TCP (and TLS) connection before giving up on an attempt.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt may take in all, from connecting to the last byte of the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries after the first attempt (so at most four attempts).
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// The first backoff delay; each retry doubles it, up to [`DEFAULT_MAX_BACKOFF`].
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// The longest backoff delay between two attempts (a longer `Retry-After` still wins).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(4);
/// The time all attempts of one call may take together, waits included. A call never starts a
/// wait that would end past it, so a token request fails within this time rather than hanging.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(20);

/// The environment variable that overrides [`DEFAULT_BASE_URL`] (to reach the emulator).
pub const BASE_URL_VAR: &str = "TWILIO_VIDEO_BASE_URL";
/// The environment variable naming Twilio's processing region (`us1`, `ie1`, `au1`, …).
pub const REGION_VAR: &str = "TWILIO_REGION";
/// The environment variable naming Twilio's edge location (`tokyo`, `dublin`, …).
pub const EDGE_VAR: &str = "TWILIO_EDGE";

/// Everything the adapter needs to talk to Twilio's Video REST API.
///
/// Requests authenticate with the API key (Basic `SK…:secret`); the account SID is not part of
/// Video URLs and is kept to name the account in messages and to check that the key belongs to
/// it ([`TwilioAdapter::check`](crate::TwilioAdapter::check)).
///
/// Its `Debug` output shows `[REDACTED]` in place of the secret (`SecretString` redacts
/// itself), so the whole configuration can be logged.
#[derive(Clone, Debug)]
pub struct TwilioConfig {
    pub account_sid: AccountSid,
    pub api_key_sid: ApiKeySid,
    pub api_key_secret: SecretString,
    /// Scheme, host, port and optional path prefix under which `/v1/Rooms` lives.
    pub base_url: Url,
    /// Twilio processing region (`video.{region}.twilio.com`); only for `*.twilio.com` hosts.
    pub region: Option<String>,
    /// Twilio edge location (`video.{edge}.{region}.twilio.com`, region `us1` when unset).
    pub edge: Option<String>,
    pub connect_timeout: Duration,
    /// The limit of one attempt, connecting included.
    pub timeout: Duration,
    /// Retries after the first attempt, for requests that are safe to repeat.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The limit of one call, all attempts and waits included.
    pub retry_budget: Duration,
}

/// A setting that cannot work, named with the key to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the API key secret ({var}) must not be empty")]
    EmptySecret { var: &'static str },
    #[error(
        "{BASE_URL_VAR} must be an absolute http(s) URL such as {DEFAULT_BASE_URL} (got '{0}')"
    )]
    InvalidBaseUrl(String),
    #[error(
        "{BASE_URL_VAR} must not contain credentials, a query or a fragment; \
         credentials belong in the API key settings"
    )]
    BaseUrlExtras,
    #[error("{BASE_URL_VAR} must use https for twilio.com hosts (got '{0}')")]
    PlainHttpToTwilio(String),
    #[error(
        "{REGION_VAR}/{EDGE_VAR} apply only to *.twilio.com hosts, but {BASE_URL_VAR} is '{0}'; \
         unset the region and edge, or the base URL"
    )]
    RegionOnForeignHost(String),
    #[error("{var} must be lowercase letters, digits and '-' such as '{example}' (got '{got}')")]
    InvalidLocation {
        var: &'static str,
        example: &'static str,
        got: String,
    },
    #[error("{what} must be longer than zero")]
    ZeroDuration { what: &'static str },
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

impl TwilioConfig {
    /// Settings for real Twilio with these credentials and every other value at its default.
    pub fn new(
        account_sid: AccountSid,
        api_key_sid: ApiKeySid,
        api_key_secret: SecretString,
    ) -> Self {
        Self {
            account_sid,
            api_key_sid,
            api_key_secret,
            base_url: default_base_url(),
            region: None,
            edge: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            retry_budget: DEFAULT_RETRY_BUDGET,
        }
    }

    /// Checks every setting, naming the one to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.api_key_secret.expose_secret().is_empty() {
            return Err(ConfigError::EmptySecret {
                var: "API_SECRET / TWILIO_API_KEY_SECRET",
            });
        }
        for (what, d) in [
            ("the connect timeout", self.connect_timeout),
            ("the request timeout", self.timeout),
            ("the retry budget", self.retry_budget),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration { what });
            }
        }
        self.effective_base_url().map(|_| ())
    }

    /// The base URL requests go to: [`base_url`](Self::base_url) with the region and edge
    /// applied as Twilio's helper libraries apply them (`video.{edge}.{region}.twilio.com`,
    /// region `us1` when only an edge is set), without a trailing slash.
    pub fn effective_base_url(&self) -> Result<Url, ConfigError> {
        let base = &self.base_url;
        let shown = base.as_str().to_owned();
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ConfigError::InvalidBaseUrl(shown));
        }
        let Some(host) = base.host_str().map(str::to_ascii_lowercase) else {
            return Err(ConfigError::InvalidBaseUrl(shown));
        };
        if !base.username().is_empty()
            || base.password().is_some()
            || base.query().is_some()
            || base.fragment().is_some()
        {
            return Err(ConfigError::BaseUrlExtras);
        }
        let twilio_host = host == "twilio.com" || host.ends_with(".twilio.com");
        if twilio_host && base.scheme() != "https" {
            return Err(ConfigError::PlainHttpToTwilio(shown));
        }
        let region = location(REGION_VAR, "ie1", self.region.as_deref())?;
        let edge = location(EDGE_VAR, "tokyo", self.edge.as_deref())?;
        let mut url = base.clone();
        if region.is_some() || edge.is_some() {
            if !twilio_host {
                return Err(ConfigError::RegionOnForeignHost(shown));
            }
            // Twilio's libraries keep the product label and the domain, and replace whatever
            // edge and region the host already names.
            let labels: Vec<&str> = host.split('.').collect();
            let product = labels.first().copied().unwrap_or("video");
            let region = region.or(edge.map(|_| "us1"));
            let rewritten: Vec<&str> = [Some(product), edge, region, Some("twilio"), Some("com")]
                .into_iter()
                .flatten()
                .collect();
            url.set_host(Some(&rewritten.join(".")))
                .map_err(|_| ConfigError::InvalidBaseUrl(shown))?;
        }
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Ok(url)
    }

    /// Whether requests stay on this machine (then system proxies are bypassed).
    pub(crate) fn is_loopback(url: &Url) -> bool {
        match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
    }
}

fn default_base_url() -> Url {
    Url::parse(DEFAULT_BASE_URL).expect("DEFAULT_BASE_URL is a valid URL")
}

fn location<'a>(
    var: &'static str,
    example: &'static str,
    value: Option<&'a str>,
) -> Result<Option<&'a str>, ConfigError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let ok = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(Some(value))
    } else {
        Err(ConfigError::InvalidLocation {
            var,
            example,
            got: value.chars().take(40).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TwilioConfig {
        TwilioConfig::new(
            AccountSid::from_u128(1),
            ApiKeySid::from_u128(2),
            SecretString::from("s3cr3t-value"),
        )
    }

    fn host_with(region: Option<&str>, edge: Option<&str>) -> String {
        let mut c = config();
        c.region = region.map(str::to_owned);
        c.edge = edge.map(str::to_owned);
        c.effective_base_url().expect("valid location").to_string()
    }

    #[test]
    fn region_and_edge_rewrite_the_host_as_twilios_libraries_do() {
        assert_eq!(host_with(None, None), "https://video.twilio.com/");
        assert_eq!(
            host_with(Some("ie1"), None),
            "https://video.ie1.twilio.com/"
        );
        assert_eq!(
            host_with(Some("jp1"), Some("tokyo")),
            "https://video.tokyo.jp1.twilio.com/"
        );
        assert_eq!(
            host_with(None, Some("sydney")),
            "https://video.sydney.us1.twilio.com/"
        );
    }

    #[test]
    fn a_region_already_in_the_base_url_is_replaced_not_stacked() {
        let mut c = config();
        c.base_url = Url::parse("https://video.dublin.ie1.twilio.com").expect("url");
        c.region = Some("au1".into());
        assert_eq!(
            c.effective_base_url().expect("valid").as_str(),
            "https://video.au1.twilio.com/"
        );
    }

    #[test]
    fn a_region_with_a_custom_base_url_is_refused_naming_both_settings() {
        let mut c = config();
        c.base_url = Url::parse("http://127.0.0.1:4010").expect("url");
        c.region = Some("ie1".into());
        let err = c.validate().expect_err("refused");
        assert!(matches!(err, ConfigError::RegionOnForeignHost(_)));
        assert!(err.to_string().contains("TWILIO_REGION"), "{err}");
    }

    #[test]
    fn a_malformed_region_or_edge_is_refused() {
        for bad in ["IE1", "ie1.evil.com", "ie 1", "-ie1", "ie1/"] {
            let mut c = config();
            c.region = Some(bad.into());
            assert!(
                matches!(c.validate(), Err(ConfigError::InvalidLocation { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_emulator_over_plain_http_is_accepted_but_twilio_over_http_is_not() {
        let mut c = config();
        c.base_url = Url::parse("http://127.0.0.1:4010/").expect("url");
        assert_eq!(
            c.effective_base_url().expect("valid").as_str(),
            "http://127.0.0.1:4010/"
        );
        c.base_url = Url::parse("http://video.twilio.com").expect("url");
        assert!(matches!(
            c.validate(),
            Err(ConfigError::PlainHttpToTwilio(_))
        ));
    }

    #[test]
    fn a_base_url_with_credentials_or_a_query_is_refused() {
        for bad in [
            "https://u:p@video.twilio.com",
            "https://video.twilio.com/?x=1",
            "ftp://x",
        ] {
            let mut c = config();
            c.base_url = Url::parse(bad).expect("url");
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_shows_the_key_sid_but_never_the_secret() {
        let shown = format!("{:?}", config());
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("[REDACTED]"), "{shown}");
        assert!(shown.contains(ApiKeySid::from_u128(2).as_str()));
    }
}
