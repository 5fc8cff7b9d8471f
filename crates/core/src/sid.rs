//! Twilio resource identifiers: a two-letter prefix and 32 lowercase hex digits.
//!
//! Each kind of SID is its own type, so an API key SID can never be passed where an account
//! SID is expected. Parsing accepts upper- or lowercase hex (Twilio's pattern does) and keeps
//! the text as given; generation takes the 128 random bits from the caller, because this crate
//! does no I/O (not even reading the OS random source).

use std::fmt;
use std::str::FromStr;

/// Why a string is not a SID of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidError {
    #[error("{kind} must start with {prefix} (got '{got}')")]
    WrongPrefix {
        kind: &'static str,
        prefix: &'static str,
        got: String,
    },
    #[error("{kind} must be {prefix} followed by 32 hexadecimal digits (got {len} characters)")]
    WrongShape {
        kind: &'static str,
        prefix: &'static str,
        len: usize,
    },
    /// The length is right but a character is not a hex digit: usually a placeholder such as
    /// `ACxxxx…` copied from an example, so the message shows the first bad character rather
    /// than a length that is not the problem.
    #[error("{kind} must be {prefix} followed by 32 hexadecimal digits (0-9, a-f), but character {position} is '{bad}' (a placeholder?)")]
    NotHex {
        kind: &'static str,
        prefix: &'static str,
        /// 1-based position in the whole SID, prefix included.
        position: usize,
        bad: char,
    },
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The two-letter prefix of this kind of SID.
            pub const PREFIX: &'static str = $prefix;

            /// Parses a SID, naming the rule it breaks when it is not one.
            pub fn parse(s: &str) -> Result<Self, SidError> {
                let shown: String = s.chars().take(6).collect();
                if !s.starts_with($prefix) {
                    let got = if s.chars().count() > 6 { format!("{shown}…") } else { shown };
                    return Err(SidError::WrongPrefix { kind: $kind, prefix: $prefix, got });
                }
                let digits = &s[2..];
                if digits.chars().count() == 32 {
                    if let Some((i, bad)) = digits.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
                        return Err(SidError::NotHex { kind: $kind, prefix: $prefix, position: i + 3, bad });
                    }
                }
                if digits.len() != 32 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(SidError::WrongShape { kind: $kind, prefix: $prefix, len: s.chars().count() });
                }
                Ok(Self(s.to_owned()))
            }

            /// Builds a SID from 128 bits the caller chose (randomly, in production).
            pub fn from_u128(bits: u128) -> Self {
                Self(format!("{}{:032x}", $prefix, bits))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = SidError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

sid_type!(
    /// An account SID (`AC…`).
    AccountSid, "AC", "Account SID"
);
sid_type!(
    /// An API key SID (`SK…`): the `iss` of an access token.
    ApiKeySid, "SK", "API key SID"
);
sid_type!(
    /// A room SID (`RM…`).
    RoomSid, "RM", "Room SID"
);
sid_type!(
    /// A participant SID (`PA…`).
    ParticipantSid, "PA", "Participant SID"
);
sid_type!(
    /// A published track SID (`MT…`).
    TrackSid, "MT", "Track SID"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_sid_parses_and_prints_back_unchanged() {
        let s = "RMca86eeac00a04e28a40e99ed26e7d406";
        assert_eq!(RoomSid::parse(s).map(|r| r.to_string()), Ok(s.to_owned()));
    }

    #[test]
    fn a_sid_of_another_kind_is_refused_with_the_expected_prefix_named() {
        let err = ApiKeySid::parse("ACca86eeac00a04e28a40e99ed26e7d406").unwrap_err();
        assert_eq!(
            err.to_string(),
            "API key SID must start with SK (got 'ACca86…')"
        );
    }

    #[test]
    fn a_sid_with_the_wrong_length_or_non_hex_digits_is_refused() {
        assert!(matches!(
            RoomSid::parse("RM1234"),
            Err(SidError::WrongShape { .. })
        ));
        assert!(RoomSid::parse("RMzz86eeac00a04e28a40e99ed26e7d406").is_err());
        assert!(RoomSid::parse("RMca86eeac00a04e28a40e99ed26e7d4066").is_err());
        assert!(RoomSid::parse("").is_err());
    }

    #[test]
    fn a_placeholder_of_the_right_length_is_refused_for_its_first_non_hex_character() {
        let err = AccountSid::parse("ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx").unwrap_err();
        assert_eq!(
            err,
            SidError::NotHex {
                kind: "Account SID",
                prefix: "AC",
                position: 3,
                bad: 'x'
            }
        );
        let text = err.to_string();
        assert!(text.contains("character 3 is 'x'"), "{text}");
        assert!(!text.contains("34 characters"), "{text}");
    }

    #[test]
    fn generated_sids_have_the_prefix_and_32_lowercase_hex_digits() {
        let sid = ParticipantSid::from_u128(0xABC);
        assert_eq!(sid.as_str(), "PA00000000000000000000000000000abc");
        assert_eq!(ParticipantSid::parse(sid.as_str()), Ok(sid));
        assert_eq!(TrackSid::from_u128(u128::MAX).as_str().len(), 34);
    }

    #[test]
    fn a_non_ascii_input_is_refused_without_panicking() {
        assert!(RoomSid::parse("RMé").is_err());
        assert!(RoomSid::parse("RMéééééééééééééééé").is_err());
    }
}
