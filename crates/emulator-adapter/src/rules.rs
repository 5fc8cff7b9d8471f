//! Recording rules (per room) and subscribe rules (per participant): what they may say, how a
//! client's JSON is checked, and which tracks they select.
//!
//! Both are Twilio's `Rules` parameter, a JSON-encoded array of rules. A rule has a `type`
//! (`include` or `exclude`) and one or more filters: `all` (only `true`), or any of
//! `publisher` (an identity or a participant SID), `track` (a track name or SID) and `kind`
//! (`audio`, `video`, `data`), which must all match. Subscribe rules may also carry a `priority`
//! (`low`, `standard`, `high`). What the emulator enforces, and where it comes from:
//!
//! | Check | Recording rules | Subscribe rules | Source |
//! |---|---|---|---|
//! | not a JSON array of objects | 53120 | 53215 | Twilio docs (53120); 53215 inferred |
//! | empty array | 53120 | 53215 | Twilio's 53120 page; inferred for subscribe |
//! | more than [`MAX_RULES`] rules | 53120 | 53215 | Twilio's 53120 page; inferred for subscribe |
//! | unknown key, a filterless rule, `all` beside another filter, `all: false` | 53120 | 53215 | inferred |
//! | `priority` | refused | `low`/`standard`/`high` | Twilio's track-priority values |
//!
//! Selection ([`admits`]) is inferred from Twilio's examples ("exclude all, then include
//! alice's audio"): rules are read in order and the last rule that matches a track decides;
//! a track no rule matches is not selected.
//!
//! This module is pure: the store keeps the rules ([`crate::Store::recording_rules`],
//! [`crate::Store::subscribe_rules`]) and the media server reads them through it.

use std::str::FromStr;

use serde_json::Value;
use time::OffsetDateTime;
use videoroom_core::twilio_codes;

use crate::error::StoreError;
use crate::model::TrackKind;

/// Twilio's cap on the number of rules in one `Rules` array.
pub const MAX_RULES: usize = 20;

/// Whether a matching rule selects or deselects a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum RuleType {
    Include,
    Exclude,
}

impl RuleType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A subscribe rule's track priority (what the SDK's `setPriority` sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum Priority {
    Low,
    Standard,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Which of the two rule sets a `Rules` array is for: it decides the error code and whether
/// `priority` is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSet {
    Recording,
    Subscribe,
}

impl RuleSet {
    fn code(self) -> u32 {
        match self {
            Self::Recording => twilio_codes::RECORDING_RULES_INVALID,
            Self::Subscribe => twilio_codes::SUBSCRIBE_RULES_INVALID,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Recording => "Recording",
            Self::Subscribe => "Subscribe",
        }
    }

    fn invalid(self, detail: impl std::fmt::Display) -> StoreError {
        StoreError::new(
            self.code(),
            format!("Invalid {} Rule(s): {detail}", self.what()),
        )
    }
}

/// One rule. `all` is `true` only alone; otherwise at least one of the other filters is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub rule_type: RuleType,
    pub all: bool,
    pub publisher: Option<String>,
    pub track: Option<String>,
    pub kind: Option<TrackKind>,
    /// Subscribe rules only.
    pub priority: Option<Priority>,
}

impl Rule {
    /// `{"type": <t>, "all": true}`.
    pub fn all(rule_type: RuleType) -> Self {
        Self {
            rule_type,
            all: true,
            publisher: None,
            track: None,
            kind: None,
            priority: None,
        }
    }

    /// Whether every filter of the rule matches the track.
    pub fn matches(&self, track: &TrackFacts<'_>) -> bool {
        if self.all {
            return true;
        }
        let publisher = self
            .publisher
            .as_deref()
            .is_none_or(|p| p == track.publisher_identity || p == track.publisher_sid);
        let name = self
            .track
            .as_deref()
            .is_none_or(|t| t == track.track_name || t == track.track_sid);
        let kind = self.kind.is_none_or(|k| k == track.kind);
        publisher && name && kind
    }
}

/// What rules are matched against: a published track and its publisher.
#[derive(Debug, Clone, Copy)]
pub struct TrackFacts<'a> {
    pub publisher_identity: &'a str,
    pub publisher_sid: &'a str,
    pub track_name: &'a str,
    pub track_sid: &'a str,
    pub kind: TrackKind,
}

/// Whether `rules` select the track: the last matching rule decides; no match, not selected.
pub fn admits(rules: &[Rule], track: &TrackFacts<'_>) -> bool {
    rules
        .iter()
        .rev()
        .find(|r| r.matches(track))
        .is_some_and(|r| r.rule_type == RuleType::Include)
}

/// The rules of a room or participant as the store keeps them, with Twilio's timestamps
/// (`None` where Twilio shows `null`: subscribe rules nobody has set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub rules: Vec<Rule>,
    pub date_created: Option<OffsetDateTime>,
    pub date_updated: Option<OffsetDateTime>,
}

/// Parses and checks a `Rules` parameter (a JSON array) for `set`.
pub fn parse_rules(set: RuleSet, text: &str) -> Result<Vec<Rule>, StoreError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| set.invalid(format!("Rules must be a JSON array of rules ({e})")))?;
    let items = value
        .as_array()
        .ok_or_else(|| set.invalid("Rules must be a JSON array of rules"))?;
    if items.is_empty() {
        return Err(set.invalid("Rules must hold at least one rule"));
    }
    if items.len() > MAX_RULES {
        return Err(set.invalid(format!(
            "at most {MAX_RULES} rules are allowed (got {})",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_rule(set, item).map_err(|e| set.invalid(format!("rule {i}: {e}"))))
        .collect()
}

fn parse_rule(set: RuleSet, item: &Value) -> Result<Rule, String> {
    let object = item.as_object().ok_or("each rule must be a JSON object")?;
    let mut rule_type = None;
    let mut rule = Rule::all(RuleType::Include);
    rule.all = false;
    for (key, value) in object {
        // Twilio's own answers show unset filters as null; a client echoing them back is
        // accepted.
        if value.is_null() && key != "type" {
            continue;
        }
        match key.as_str() {
            "type" => {
                let text = value.as_str().ok_or("type must be a string")?;
                rule_type =
                    Some(RuleType::from_str(text).map_err(|_| {
                        format!("type must be 'include' or 'exclude' (got '{text}')")
                    })?);
            }
            "all" => match value.as_bool() {
                Some(true) => rule.all = true,
                _ => return Err("all must be true when present".to_owned()),
            },
            "publisher" => rule.publisher = Some(text_filter(key, value)?),
            "track" => rule.track = Some(text_filter(key, value)?),
            "kind" => {
                let text = value.as_str().ok_or("kind must be a string")?;
                rule.kind = Some(TrackKind::from_str(text).map_err(|_| {
                    format!("kind must be 'audio', 'video' or 'data' (got '{text}')")
                })?);
            }
            "priority" if set == RuleSet::Subscribe => {
                let text = value.as_str().ok_or("priority must be a string")?;
                rule.priority = Some(Priority::from_str(text).map_err(|_| {
                    format!("priority must be 'low', 'standard' or 'high' (got '{text}')")
                })?);
            }
            other => return Err(format!("unknown key '{other}'")),
        }
    }
    rule.rule_type = rule_type.ok_or("type ('include' or 'exclude') is required")?;
    let filters = rule.publisher.is_some() || rule.track.is_some() || rule.kind.is_some();
    if rule.all && filters {
        return Err("all cannot be combined with publisher, track or kind".to_owned());
    }
    if !rule.all && !filters {
        return Err("a rule needs all, publisher, track or kind".to_owned());
    }
    Ok(rule)
}

fn text_filter(key: &str, value: &Value) -> Result<String, String> {
    match value.as_str() {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(format!("{key} must be a non-empty string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(identity: &'static str, name: &'static str, kind: TrackKind) -> TrackFacts<'static> {
        TrackFacts {
            publisher_identity: identity,
            publisher_sid: "PA00000000000000000000000000000001",
            track_name: name,
            track_sid: "MT00000000000000000000000000000001",
            kind,
        }
    }

    #[test]
    fn twilios_example_rules_parse() {
        let rules = parse_rules(RuleSet::Recording, r#"[{"type":"exclude","all": true}]"#).unwrap();
        assert_eq!(rules, vec![Rule::all(RuleType::Exclude)]);
        let rules = parse_rules(
            RuleSet::Subscribe,
            r#"[{"type":"include","publisher":"alice","kind":"audio","priority":"high",
                "track":null}]"#,
        )
        .unwrap();
        assert_eq!(rules[0].publisher.as_deref(), Some("alice"));
        assert_eq!(rules[0].kind, Some(TrackKind::Audio));
        assert_eq!(rules[0].priority, Some(Priority::High));
    }

    #[test]
    fn invalid_recording_rules_are_refused_with_53120() {
        let too_many = format!(
            "[{}]",
            vec![r#"{"type":"include","all":true}"#; 21].join(",")
        );
        for bad in [
            "",
            "not json",
            "{}",
            "[]",
            "[1]",
            r#"[{"all":true}]"#,
            r#"[{"type":"keep","all":true}]"#,
            r#"[{"type":"include"}]"#,
            r#"[{"type":"include","all":false}]"#,
            r#"[{"type":"include","all":true,"kind":"audio"}]"#,
            r#"[{"type":"include","kind":"screen"}]"#,
            r#"[{"type":"include","publisher":""}]"#,
            r#"[{"type":"include","all":true,"priority":"high"}]"#,
            r#"[{"type":"include","all":true,"colour":"red"}]"#,
            too_many.as_str(),
        ] {
            let err = parse_rules(RuleSet::Recording, bad).unwrap_err();
            assert_eq!(err.code, 53120, "{bad}: {err}");
            assert!(
                err.message.starts_with("Invalid Recording Rule(s)"),
                "{err}"
            );
        }
        let twenty = format!(
            "[{}]",
            vec![r#"{"type":"include","all":true}"#; 20].join(",")
        );
        assert_eq!(parse_rules(RuleSet::Recording, &twenty).unwrap().len(), 20);
    }

    #[test]
    fn invalid_subscribe_rules_are_refused_with_53215() {
        let err = parse_rules(
            RuleSet::Subscribe,
            r#"[{"type":"include","priority":"top","all":true}]"#,
        )
        .unwrap_err();
        assert_eq!(err.code, 53215);
        assert!(err.message.contains("priority"), "{err}");
    }

    #[test]
    fn the_last_matching_rule_decides_and_no_match_selects_nothing() {
        let rules = parse_rules(
            RuleSet::Subscribe,
            r#"[{"type":"exclude","all":true},{"type":"include","publisher":"alice","kind":"audio"}]"#,
        )
        .unwrap();
        assert!(admits(&rules, &facts("alice", "mic", TrackKind::Audio)));
        assert!(!admits(&rules, &facts("alice", "cam", TrackKind::Video)));
        assert!(!admits(&rules, &facts("bob", "mic", TrackKind::Audio)));
        let by_track =
            parse_rules(RuleSet::Recording, r#"[{"type":"include","track":"cam"}]"#).unwrap();
        assert!(admits(&by_track, &facts("bob", "cam", TrackKind::Video)));
        assert!(!admits(&by_track, &facts("bob", "mic", TrackKind::Audio)));
        assert!(!admits(&[], &facts("bob", "cam", TrackKind::Video)));
    }
}
