//! `room.allowed`: which rooms a request may name, as names or glob patterns (`class-*`,
//! `team-?`, `lab-[0-9]`), matched with rust-lang's `glob` on the whole name, case-sensitively
//! as Twilio's unique names are. A room outside the list is refused with 403 before any upstream
//! call, so a client cannot create rooms on the owner's account by inventing names. The
//! configured `room.name` is always allowed: it is the operator's own choice.

use glob::{MatchOptions, Pattern};
use videoroom_core::RoomName;

/// The parsed `room.allowed` list.
#[derive(Debug, Clone)]
pub struct RoomPatterns {
    patterns: Vec<Pattern>,
}

const WHOLE_NAME: MatchOptions = MatchOptions {
    case_sensitive: true,
    // Room names are not paths: a leading `.` is matched like any other character.
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

impl RoomPatterns {
    /// A comma-separated list of names or patterns.
    pub fn parse(list: &str) -> Result<Self, String> {
        let patterns = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                Pattern::new(item).map_err(|e| {
                    format!("'{item}' is not a room name or glob pattern ({e}); use names such as myroom or patterns such as class-*")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if patterns.is_empty() {
            return Err("give at least one room name or pattern (such as class-*), or leave it unset to allow any room".to_owned());
        }
        Ok(Self { patterns })
    }

    pub fn allows(&self, room: &RoomName) -> bool {
        self.patterns
            .iter()
            .any(|p| p.matches_with(room.as_str(), WHOLE_NAME))
    }

    /// The list as configured, for `videoroom config`.
    pub fn describe(&self) -> String {
        self.patterns
            .iter()
            .map(Pattern::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).expect("a valid test room name")
    }

    #[test]
    fn names_and_patterns_match_whole_names_only() {
        let allowed = RoomPatterns::parse("myroom, class-*, team-?").unwrap();
        for yes in ["myroom", "class-1", "class-", "class-a.b", "team-x"] {
            assert!(allowed.allows(&room(yes)), "{yes}");
        }
        for no in ["myroom2", "xmyroom", "Class-1", "team-xy", "other"] {
            assert!(!allowed.allows(&room(no)), "{no}");
        }
    }

    #[test]
    fn an_empty_or_malformed_list_is_refused_with_the_shape_wanted() {
        assert!(RoomPatterns::parse(" , ")
            .unwrap_err()
            .contains("at least one"));
        let err = RoomPatterns::parse("class-[").unwrap_err();
        assert!(err.contains("'class-['"), "{err}");
    }
}
