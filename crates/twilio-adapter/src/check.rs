//! The outcome of `videoroom check`: do the configured credentials open Twilio's Video API?

use std::fmt;
use std::time::Duration;

use url::Url;
use videoroom_core::{twilio_codes, AccountSid, ApiKeySid};

/// The credentials work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Where the request went (region and edge applied).
    pub base_url: Url,
    pub api_key_sid: ApiKeySid,
    pub account_sid: AccountSid,
    /// Whether an in-progress room was listed whose `account_sid` is the configured one. An
    /// API key alone does not name its account in Video URLs, so this is the only way the
    /// check can confirm the account; `false` means "not confirmed" (no room in progress).
    pub account_confirmed: bool,
    /// How long the request took.
    pub elapsed: Duration,
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} accepted API key {} in {} ms",
            self.base_url.as_str().trim_end_matches('/'),
            self.api_key_sid,
            self.elapsed.as_millis()
        )?;
        if self.account_confirmed {
            write!(f, "; it belongs to account {}", self.account_sid)
        } else {
            write!(
                f,
                "; no room is in progress, so the account ({}) could not be confirmed",
                self.account_sid
            )
        }
    }
}

/// Why the host could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens on the host's port.
    ConnectionRefused,
    /// No connection within the connect timeout (a firewall dropping packets, a wrong IP).
    ConnectTimeout(Duration),
    /// The TLS handshake failed (a proxy intercepting TLS, a wrong port, plain HTTP).
    Tls(String),
    /// Any other connection failure, described by the network stack.
    Other(String),
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreachable::Dns => f.write_str("its name does not resolve (DNS)"),
            Unreachable::ConnectionRefused => f.write_str("the connection was refused"),
            Unreachable::ConnectTimeout(after) => {
                write!(f, "no connection within {} ms", after.as_millis())
            }
            Unreachable::Tls(detail) => write!(f, "the TLS handshake failed ({detail})"),
            Unreachable::Other(detail) => f.write_str(detail),
        }
    }
}

/// Why the check failed, with what to do about it (the `Display` text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// 401 / [`AUTHENTICATE`](twilio_codes::AUTHENTICATE). Twilio answers the same for an unknown key SID, a wrong secret, a deleted
    /// key and a suspended account, so the message cannot say which.
    #[error(
        "{host} refused API key {api_key_sid} (401, code {code}): the key SID or the secret is \
         wrong, or the key was deleted. Twilio does not say which. Check API_KEY / \
         TWILIO_API_KEY_SID and API_SECRET / TWILIO_API_KEY_SECRET (an API key is created \
         in the Twilio console under Account > API keys; its secret is shown only once)",
        code = twilio_codes::AUTHENTICATE
    )]
    BadCredentials {
        host: String,
        api_key_sid: ApiKeySid,
    },
    /// 403: the key authenticates but may not use Video.
    #[error(
        "{host} authenticated API key {api_key_sid} but refused it access to Video (403{}): \
         a restricted key needs the Video permissions; a standard key has them",
        code.map(|c| format!(", code {c}")).unwrap_or_default()
    )]
    Forbidden {
        host: String,
        api_key_sid: ApiKeySid,
        code: Option<u32>,
    },
    /// The key works but belongs to another account than the configured one.
    #[error(
        "API key {api_key_sid} belongs to account {actual}, not to the configured {configured}; \
         tokens minted with this key and account would be refused ({code}). Set ACCOUNT_SID / \
         TWILIO_ACCOUNT_SID to {actual}, or use a key of {configured}",
        code = twilio_codes::TOKEN_ISSUER_OR_SUBJECT_INVALID
    )]
    AccountMismatch {
        api_key_sid: ApiKeySid,
        configured: AccountSid,
        actual: String,
    },
    #[error(
        "cannot reach {host}: {reason}. Check the network, proxy settings and \
         TWILIO_VIDEO_BASE_URL / TWILIO_REGION / TWILIO_EDGE"
    )]
    Unreachable { host: String, reason: Unreachable },
    #[error(
        "{host} accepted the connection but sent no complete answer within {} ms; \
         try again, or raise the request timeout",
        after.as_millis()
    )]
    TimedOut { host: String, after: Duration },
    #[error(
        "{host} is throttling this account (429, code {code}){}; the credentials could not be \
         checked, try again",
        retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default(),
        code = twilio_codes::TOO_MANY_REQUESTS
    )]
    RateLimited {
        host: String,
        retry_after: Option<Duration>,
    },
    #[error("{host} failed on its side (HTTP {status}); try again later")]
    ServerError { host: String, status: u16 },
    #[error("{host} refused the check request (HTTP {status}, code {code}): {message}")]
    Refused {
        host: String,
        status: u16,
        code: u32,
        message: String,
    },
    #[error(
        "{host} answered, but not as Twilio's Video API does ({detail}); is \
         TWILIO_VIDEO_BASE_URL the Video API (https://video.twilio.com or the emulator)?"
    )]
    UnexpectedAnswer { host: String, detail: String },
}
