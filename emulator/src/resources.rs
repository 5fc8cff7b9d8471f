//! The JSON of Twilio's Video resources: every field of the OpenAPI schema, snake_case, in the
//! schema's order, with whole-second UTC timestamps and absolute URLs.

use serde::Serialize;
use videoroom_emulator_adapter::{
    CompositionHook, MediaSettings, ParticipantRecord, Priority, PublishedTrack, RoomRecord, Rule,
    Rules, SubscribedTrack, TrackKind,
};

use crate::params::format_time;

/// `video.v1.room`.
#[derive(Debug, Clone, Serialize)]
pub struct RoomJson {
    pub sid: String,
    pub status: &'static str,
    pub date_created: String,
    pub date_updated: String,
    pub account_sid: String,
    pub enable_turn: bool,
    pub unique_name: String,
    pub status_callback: Option<String>,
    pub status_callback_method: String,
    pub end_time: Option<String>,
    pub duration: Option<u64>,
    #[serde(rename = "type")]
    pub room_type: &'static str,
    pub max_participants: u32,
    pub max_participant_duration: u32,
    pub max_concurrent_published_tracks: u32,
    pub record_participants_on_connect: bool,
    pub video_codecs: Vec<String>,
    pub media_region: String,
    pub audio_only: bool,
    pub empty_room_timeout: u32,
    pub unused_room_timeout: u32,
    pub large_room: bool,
    pub url: String,
    pub links: RoomLinks,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoomLinks {
    pub participants: String,
    pub recordings: String,
    pub transcriptions: String,
    pub recording_rules: String,
}

/// The absolute URL of a room, `{base}/v1/Rooms/{RM…}`.
pub fn room_url(base: &str, sid: &str) -> String {
    format!("{base}/v1/Rooms/{sid}")
}

/// The absolute URL of a participant.
pub fn participant_url(base: &str, room_sid: &str, sid: &str) -> String {
    format!("{}/Participants/{sid}", room_url(base, room_sid))
}

impl RoomJson {
    pub fn new(room: &RoomRecord, base: &str, account_sid: &str) -> Self {
        let url = room_url(base, room.sid.as_str());
        Self {
            sid: room.sid.as_str().to_owned(),
            status: room.status.as_str(),
            date_created: format_time(room.date_created),
            date_updated: format_time(room.date_updated),
            account_sid: account_sid.to_owned(),
            enable_turn: room.enable_turn,
            unique_name: room.unique_name.clone(),
            status_callback: room.status_callback.clone(),
            status_callback_method: room.status_callback_method.clone(),
            end_time: room.end_time.map(format_time),
            duration: room.duration,
            room_type: room.room_type.as_str(),
            max_participants: room.max_participants,
            max_participant_duration: room.max_participant_duration,
            max_concurrent_published_tracks: room.max_concurrent_published_tracks,
            record_participants_on_connect: room.record_participants_on_connect,
            video_codecs: room.video_codecs.clone(),
            media_region: room.media_region.clone(),
            audio_only: room.audio_only,
            empty_room_timeout: room.empty_room_timeout,
            unused_room_timeout: room.unused_room_timeout,
            large_room: room.large_room,
            links: RoomLinks {
                participants: format!("{url}/Participants"),
                recordings: format!("{url}/Recordings"),
                transcriptions: format!("{url}/Transcriptions"),
                recording_rules: format!("{url}/RecordingRules"),
            },
            url,
        }
    }
}

/// `video.v1.room.room_participant`.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantJson {
    pub sid: String,
    pub room_sid: String,
    pub account_sid: String,
    pub status: &'static str,
    pub identity: String,
    pub date_created: String,
    pub date_updated: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub duration: Option<u64>,
    pub url: String,
    pub links: ParticipantLinks,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParticipantLinks {
    pub published_tracks: String,
    pub subscribed_tracks: String,
    pub subscribe_rules: String,
    pub anonymize: String,
}

impl ParticipantJson {
    pub fn new(p: &ParticipantRecord, base: &str, account_sid: &str) -> Self {
        let url = participant_url(base, p.room_sid.as_str(), p.sid.as_str());
        Self {
            sid: p.sid.as_str().to_owned(),
            room_sid: p.room_sid.as_str().to_owned(),
            account_sid: account_sid.to_owned(),
            status: p.status.as_str(),
            identity: p.identity.as_str().to_owned(),
            date_created: format_time(p.date_created),
            date_updated: format_time(p.date_updated),
            start_time: format_time(p.start_time),
            end_time: p.end_time.map(format_time),
            duration: p.duration,
            links: ParticipantLinks {
                published_tracks: format!("{url}/PublishedTracks"),
                subscribed_tracks: format!("{url}/SubscribedTracks"),
                subscribe_rules: format!("{url}/SubscribeRules"),
                anonymize: format!("{url}/Anonymize"),
            },
            url,
        }
    }
}

/// `video.v1.room.room_participant.room_participant_published_track`.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedTrackJson {
    pub sid: String,
    pub participant_sid: String,
    pub room_sid: String,
    pub name: String,
    pub date_created: String,
    pub date_updated: String,
    pub enabled: bool,
    pub kind: &'static str,
    pub url: String,
}

impl PublishedTrackJson {
    pub fn new(t: &PublishedTrack, base: &str) -> Self {
        Self {
            sid: t.sid.as_str().to_owned(),
            participant_sid: t.participant_sid.as_str().to_owned(),
            room_sid: t.room_sid.as_str().to_owned(),
            name: t.name.clone(),
            date_created: format_time(t.date_created),
            date_updated: format_time(t.date_updated),
            enabled: t.enabled,
            kind: t.kind.as_str(),
            url: format!(
                "{}/PublishedTracks/{}",
                participant_url(base, t.room_sid.as_str(), t.participant_sid.as_str()),
                t.sid
            ),
        }
    }
}

/// `video.v1.room.room_participant.room_participant_subscribed_track`.
#[derive(Debug, Clone, Serialize)]
pub struct SubscribedTrackJson {
    pub sid: String,
    pub participant_sid: String,
    pub publisher_sid: String,
    pub room_sid: String,
    pub name: String,
    pub date_created: String,
    pub date_updated: String,
    pub enabled: bool,
    pub kind: &'static str,
    pub url: String,
}

impl SubscribedTrackJson {
    pub fn new(t: &SubscribedTrack, base: &str) -> Self {
        Self {
            sid: t.sid.as_str().to_owned(),
            participant_sid: t.participant_sid.as_str().to_owned(),
            publisher_sid: t.publisher_sid.as_str().to_owned(),
            room_sid: t.room_sid.as_str().to_owned(),
            name: t.name.clone(),
            date_created: format_time(t.date_created),
            date_updated: format_time(t.date_updated),
            enabled: t.enabled,
            kind: t.kind.as_str(),
            url: format!(
                "{}/SubscribedTracks/{}",
                participant_url(base, t.room_sid.as_str(), t.participant_sid.as_str()),
                t.sid
            ),
        }
    }
}

/// One recording rule as Twilio shows it: unset filters left out (the schema's `NON_NULL`).
#[derive(Debug, Clone, Serialize)]
pub struct RecordingRuleJson {
    #[serde(rename = "type")]
    pub rule_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
}

impl RecordingRuleJson {
    pub fn new(rule: &Rule) -> Self {
        Self {
            rule_type: rule.rule_type.as_str(),
            all: rule.all.then_some(true),
            publisher: rule.publisher.clone(),
            track: rule.track.clone(),
            kind: rule.kind.map(TrackKind::as_str),
        }
    }
}

/// `video.v1.room.room_recording_rule`.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingRulesJson {
    pub room_sid: String,
    pub rules: Vec<RecordingRuleJson>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
}

impl RecordingRulesJson {
    pub fn new(room_sid: &str, rules: &Rules) -> Self {
        Self {
            room_sid: room_sid.to_owned(),
            rules: rules.rules.iter().map(RecordingRuleJson::new).collect(),
            date_created: rules.date_created.map(format_time),
            date_updated: rules.date_updated.map(format_time),
        }
    }
}

/// One subscribe rule as Twilio shows it: every filter, unset ones as `null`.
#[derive(Debug, Clone, Serialize)]
pub struct SubscribeRuleJson {
    #[serde(rename = "type")]
    pub rule_type: &'static str,
    pub all: Option<bool>,
    pub publisher: Option<String>,
    pub track: Option<String>,
    pub kind: Option<&'static str>,
    pub priority: Option<&'static str>,
}

/// `video.v1.room.room_participant.room_participant_subscribe_rule`.
#[derive(Debug, Clone, Serialize)]
pub struct SubscribeRulesJson {
    pub participant_sid: String,
    pub room_sid: String,
    pub rules: Vec<SubscribeRuleJson>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
}

impl SubscribeRulesJson {
    pub fn new(p: &ParticipantRecord, rules: &Rules) -> Self {
        Self {
            participant_sid: p.sid.as_str().to_owned(),
            room_sid: p.room_sid.as_str().to_owned(),
            rules: rules
                .rules
                .iter()
                .map(|r| SubscribeRuleJson {
                    rule_type: r.rule_type.as_str(),
                    all: r.all.then_some(true),
                    publisher: r.publisher.clone(),
                    track: r.track.clone(),
                    kind: r.kind.map(TrackKind::as_str),
                    priority: r.priority.map(Priority::as_str),
                })
                .collect(),
            date_created: rules.date_created.map(format_time),
            date_updated: rules.date_updated.map(format_time),
        }
    }
}

/// `video.v1.room.room_participant.room_participant_anonymize`: the participant without its
/// links.
#[derive(Debug, Clone, Serialize)]
pub struct AnonymizeJson {
    pub sid: String,
    pub room_sid: String,
    pub account_sid: String,
    pub status: &'static str,
    pub identity: String,
    pub date_created: String,
    pub date_updated: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub duration: Option<u64>,
    pub url: String,
}

impl AnonymizeJson {
    pub fn new(p: &ParticipantRecord, base: &str, account_sid: &str) -> Self {
        let full = ParticipantJson::new(p, base, account_sid);
        Self {
            sid: full.sid,
            room_sid: full.room_sid,
            account_sid: full.account_sid,
            status: full.status,
            identity: full.identity,
            date_created: full.date_created,
            date_updated: full.date_updated,
            start_time: full.start_time,
            end_time: full.end_time,
            duration: full.duration,
            url: format!("{}/Anonymize", full.url),
        }
    }
}

/// `video.v1.recording_settings` and `video.v1.composition_settings` (the same fields).
#[derive(Debug, Clone, Serialize)]
pub struct MediaSettingsJson {
    pub account_sid: String,
    pub friendly_name: Option<String>,
    pub aws_credentials_sid: Option<String>,
    pub aws_s3_url: Option<String>,
    pub aws_storage_enabled: Option<bool>,
    pub encryption_key_sid: Option<String>,
    pub encryption_enabled: Option<bool>,
    pub url: String,
}

impl MediaSettingsJson {
    /// `segment` is `RecordingSettings` or `CompositionSettings`.
    pub fn new(s: &MediaSettings, base: &str, account_sid: &str, segment: &str) -> Self {
        Self {
            account_sid: account_sid.to_owned(),
            friendly_name: s.friendly_name.clone(),
            aws_credentials_sid: s.aws_credentials_sid.clone(),
            aws_s3_url: s.aws_s3_url.clone(),
            aws_storage_enabled: s.aws_storage_enabled,
            encryption_key_sid: s.encryption_key_sid.clone(),
            encryption_enabled: s.encryption_enabled,
            url: format!("{base}/v1/{segment}/Default"),
        }
    }
}

/// `video.v1.composition_hook`.
#[derive(Debug, Clone, Serialize)]
pub struct CompositionHookJson {
    pub account_sid: String,
    pub friendly_name: String,
    pub enabled: bool,
    pub date_created: String,
    pub date_updated: Option<String>,
    pub sid: String,
    pub audio_sources: Vec<String>,
    pub audio_sources_excluded: Vec<String>,
    pub video_layout: serde_json::Value,
    pub resolution: String,
    pub trim: bool,
    pub format: String,
    pub status_callback: Option<String>,
    pub status_callback_method: String,
    pub url: String,
}

impl CompositionHookJson {
    pub fn new(h: &CompositionHook, base: &str, account_sid: &str) -> Self {
        // The store keeps the layout as the JSON object text it checked.
        let video_layout = h
            .video_layout
            .as_deref()
            .map(|text| serde_json::from_str(text).expect("the store checked it is JSON"))
            .unwrap_or_else(|| serde_json::json!({}));
        Self {
            account_sid: account_sid.to_owned(),
            friendly_name: h.friendly_name.clone(),
            enabled: h.enabled,
            date_created: format_time(h.date_created),
            date_updated: h.date_updated.map(format_time),
            sid: h.sid.clone(),
            audio_sources: h.audio_sources.clone(),
            audio_sources_excluded: h.audio_sources_excluded.clone(),
            video_layout,
            resolution: h.resolution.clone(),
            trim: h.trim,
            format: h.format.clone(),
            status_callback: h.status_callback.clone(),
            status_callback_method: h.status_callback_method.clone(),
            url: format!("{base}/v1/CompositionHooks/{}", h.sid),
        }
    }
}
