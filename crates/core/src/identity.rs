//! The identity of a participant, as carried in an access token's `grants.identity`.

use std::fmt;

use crate::twilio_codes;

/// Longest identity Twilio accepts, in characters.
pub const MAX_IDENTITY_CHARS: usize = 128;

/// A participant identity: 1 to 128 characters, none of them a control character.
///
/// Twilio refuses an empty identity (53200) and one over 128 characters (53201); control
/// characters (newlines, NUL, escape sequences) would also corrupt logs and the SDK's
/// rendering, so they are refused here, at the edge, rather than downstream.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Identity(String);

/// Why a string cannot be an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("identity must not be empty")]
    Empty,
    #[error("identity must be at most {MAX_IDENTITY_CHARS} characters (got {0})")]
    TooLong(usize),
    #[error("identity must not contain control characters (found U+{0:04X})")]
    ControlCharacter(u32),
}

impl IdentityError {
    /// The Twilio error code for this rule (53200 empty, 53201 too long, 53202 characters).
    pub fn twilio_code(&self) -> u32 {
        match self {
            IdentityError::Empty => twilio_codes::IDENTITY_INVALID,
            IdentityError::TooLong(_) => twilio_codes::IDENTITY_TOO_LONG,
            IdentityError::ControlCharacter(_) => twilio_codes::IDENTITY_INVALID_CHARACTERS,
        }
    }
}

impl Identity {
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        if s.is_empty() {
            return Err(IdentityError::Empty);
        }
        let count = s.chars().count();
        if count > MAX_IDENTITY_CHARS {
            return Err(IdentityError::TooLong(count));
        }
        if let Some(c) = s.chars().find(|c| c.is_control()) {
            return Err(IdentityError::ControlCharacter(c as u32));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Identity {
    type Error = IdentityError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({:?})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Identity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_and_japanese_names_are_identities() {
        assert_eq!(Identity::parse("alice").unwrap().as_str(), "alice");
        assert_eq!(Identity::parse("山田 太郎").unwrap().as_str(), "山田 太郎");
    }

    #[test]
    fn an_empty_identity_is_refused_with_53200() {
        let err = Identity::parse("").unwrap_err();
        assert_eq!(err, IdentityError::Empty);
        assert_eq!(err.twilio_code(), 53200);
    }

    #[test]
    fn length_is_counted_in_characters_so_128_fit_and_129_do_not() {
        assert!(Identity::parse(&"あ".repeat(128)).is_ok());
        let err = Identity::parse(&"a".repeat(129)).unwrap_err();
        assert_eq!(err, IdentityError::TooLong(129));
        assert_eq!(
            err.to_string(),
            "identity must be at most 128 characters (got 129)"
        );
    }

    #[test]
    fn control_characters_are_refused_and_named() {
        for bad in ["a\nb", "\u{0}", "tab\there", "esc\u{1b}[31m", "del\u{7f}"] {
            assert!(
                matches!(
                    Identity::parse(bad),
                    Err(IdentityError::ControlCharacter(_))
                ),
                "{bad:?} should be refused"
            );
        }
        assert_eq!(
            Identity::parse("a\nb").unwrap_err().to_string(),
            "identity must not contain control characters (found U+000A)"
        );
    }
}
