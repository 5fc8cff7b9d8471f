//! The access-control settings (issue 13): who may get a token, for which rooms, how often.
//!
//! Their value rules ([`FromSetting`]) and the rules that span keys live here, beside the rest
//! of the settings; what the server does with them lives in [`crate::access`]. Several defaults
//! depend on the backend, because the emulator is for a workshop on one laptop and twilio mode
//! spends the owner's money:
//!
//! | Key | emulator default | twilio default |
//! |---|---|---|
//! | `room.allow_param` | `true` | `false`, or `true` when `room.allowed` is set |
//! | `limits.token_rate` | off | 120 per minute (2 per second) per client |
//! | `limits.room_creations` | off | 60 per minute, for the whole server |

use std::num::NonZeroU32;

use secrecy::{ExposeSecret as _, SecretString};

use super::validation::{Checker, FromSetting, Parsed, SerdeEnum};
use super::BackendKind;
use crate::access::{AuthMode, AuthSettings, RoomPatterns, TrustedProxies};

/// Shortest passcode accepted: a class types it, but anything shorter is guessed in minutes
/// even at the rate limit's pace.
pub const MIN_PASSCODE_CHARS: usize = 6;
/// Shortest HS256 secret accepted: RFC 7518 §3.2 asks for a key as long as the hash (256 bits).
pub const MIN_AUTH_SECRET_BYTES: usize = 32;

/// Default per-client sustained rate in twilio mode, per minute (2 per second).
pub const DEFAULT_TOKEN_RATE: u32 = 120;
/// Default cap on rooms this server creates per minute in twilio mode.
pub const DEFAULT_ROOM_CREATIONS: u32 = 60;

impl FromSetting for AuthMode {
    fn from_setting(s: &str) -> Result<Self, String> {
        SerdeEnum::parse(s, &["none", "passcode", "bearer"])
    }
}

/// A count per minute, or `off` (also `0`) for no limit.
#[derive(Debug, Clone, Copy)]
pub(super) struct PerMinute(pub Option<NonZeroU32>);

impl FromSetting for PerMinute {
    fn from_setting(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(PerMinute(None));
        }
        match s.parse::<u32>() {
            Ok(n @ 0..=1_000_000) => Ok(PerMinute(NonZeroU32::new(n))),
            _ => Err(format!(
                "must be a whole number per minute from 1 to 1000000, or off (got '{s}')"
            )),
        }
    }
}

/// How many requests a client may make at once before the rate applies: 1 to a million.
#[derive(Debug, Clone, Copy)]
pub(super) struct Burst(pub NonZeroU32);

impl FromSetting for Burst {
    fn from_setting(s: &str) -> Result<Self, String> {
        match s.parse::<u32>().ok().and_then(NonZeroU32::new) {
            Some(n) if n.get() <= 1_000_000 => Ok(Burst(n)),
            _ => Err(format!(
                "must be a whole number of requests from 1 to 1000000 (got '{s}')"
            )),
        }
    }
}

impl FromSetting for RoomPatterns {
    fn from_setting(s: &str) -> Result<Self, String> {
        RoomPatterns::parse(s)
    }
}

impl FromSetting for TrustedProxies {
    fn from_setting(s: &str) -> Result<Self, String> {
        TrustedProxies::parse(s)
    }
}

/// Cross-key rule: the mode and the secret it needs. A passcode or secret set for another mode
/// is not an error (a `.env` may hold both while the operator switches).
pub(super) fn auth(
    check: &mut Checker<'_>,
    mode: Option<AuthMode>,
    passcode: Parsed<SecretString>,
    secret: Parsed<SecretString>,
) -> Option<AuthSettings> {
    let passcode = match passcode {
        Parsed::Valid(p) => Some(p),
        _ => None,
    };
    let secret = match secret {
        Parsed::Valid(s) => Some(s),
        _ => None,
    };
    match mode? {
        AuthMode::None => Some(AuthSettings::None),
        AuthMode::Passcode => match passcode {
            Some(p) if p.expose_secret().chars().count() >= MIN_PASSCODE_CHARS => {
                Some(AuthSettings::Passcode(p))
            }
            Some(_) => {
                check.problem(
                    "auth.passcode",
                    format!("must be at least {MIN_PASSCODE_CHARS} characters; choose a longer passcode"),
                );
                None
            }
            None => {
                check.problem(
                    "auth.mode",
                    "passcode mode needs a passcode: set VIDEOROOM_PASSCODE in .env or the environment",
                );
                None
            }
        },
        AuthMode::Bearer => match secret {
            Some(s) if s.expose_secret().len() >= MIN_AUTH_SECRET_BYTES => {
                Some(AuthSettings::Bearer(s))
            }
            Some(_) => {
                check.problem(
                    "auth.secret",
                    format!("must be at least {MIN_AUTH_SECRET_BYTES} bytes for HS256; generate one with `openssl rand -hex 32`"),
                );
                None
            }
            None => {
                check.problem(
                    "auth.mode",
                    "bearer mode needs the secret your application signs its JWTs with: set VIDEOROOM_AUTH_SECRET in .env or the environment",
                );
                None
            }
        },
    }
}

/// The backend's default where a key was left unset (see the table in the module doc).
pub(super) fn by_backend<T>(given: Option<T>, backend: BackendKind, emulator: T, twilio: T) -> T {
    given.unwrap_or(match backend {
        BackendKind::Emulator => emulator,
        BackendKind::Twilio => twilio,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_a_count_per_minute_or_off() {
        assert_eq!(PerMinute::from_setting("off").unwrap().0, None);
        assert_eq!(PerMinute::from_setting("0").unwrap().0, None);
        assert_eq!(
            PerMinute::from_setting("120")
                .unwrap()
                .0
                .map(NonZeroU32::get),
            Some(120)
        );
        let err = PerMinute::from_setting("2/s").unwrap_err();
        assert!(err.contains("per minute"), "{err}");
        assert!(Burst::from_setting("0").is_err());
    }

    #[test]
    fn the_auth_mode_suggests_the_value_probably_meant() {
        let err = AuthMode::from_setting("passcod").unwrap_err();
        assert!(err.contains("did you mean 'passcode'?"), "{err}");
    }
}
