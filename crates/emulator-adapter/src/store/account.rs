//! The account-level configuration of Twilio Video's REST API: the default recording and
//! composition settings, and composition hooks. They configure media work the emulator does not
//! do (see `docs/emulator.md`), so the store keeps and validates them and nothing else: no hook
//! ever fires, no file is ever stored in S3.

use time::OffsetDateTime;
use videoroom_core::twilio_codes;

use super::{validate_status_callback, Store};
use crate::error::StoreError;
use crate::paging::{paginate, Page, SortKey};

/// `RecordingSettings/Default` or `CompositionSettings/Default`: the same fields for both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaSettings {
    pub friendly_name: Option<String>,
    pub aws_credentials_sid: Option<String>,
    pub aws_s3_url: Option<String>,
    pub aws_storage_enabled: Option<bool>,
    pub encryption_key_sid: Option<String>,
    pub encryption_enabled: Option<bool>,
}

/// Which of the two settings resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsKind {
    Recording,
    Composition,
}

/// A composition hook as the store keeps it: Twilio's fields but `account_sid` and `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompositionHook {
    pub sid: String,
    pub friendly_name: String,
    pub enabled: bool,
    pub date_created: OffsetDateTime,
    pub date_updated: Option<OffsetDateTime>,
    pub audio_sources: Vec<String>,
    pub audio_sources_excluded: Vec<String>,
    /// The `VideoLayout` JSON object as sent, checked to be an object.
    pub video_layout: Option<String>,
    pub resolution: String,
    pub trim: bool,
    pub format: String,
    pub status_callback: Option<String>,
    pub status_callback_method: String,
}

/// The parameters of a hook's create or update (`FriendlyName` is required by both).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookRequest {
    pub friendly_name: Option<String>,
    pub enabled: Option<bool>,
    pub video_layout: Option<String>,
    pub audio_sources: Option<Vec<String>>,
    pub audio_sources_excluded: Option<Vec<String>>,
    pub resolution: Option<String>,
    pub format: Option<String>,
    pub status_callback: Option<String>,
    pub status_callback_method: Option<String>,
    pub trim: Option<bool>,
}

/// Filters of `GET /CompositionHooks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookQuery {
    pub enabled: Option<bool>,
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
    pub friendly_name: Option<String>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// Twilio's cap on a hook's friendly name.
const MAX_FRIENDLY_NAME: usize = 100;

impl Store {
    /// The account's default recording or composition settings; never set, every field null.
    pub fn media_settings(&self, kind: SettingsKind) -> MediaSettings {
        let (state, _) = self.settled();
        match kind {
            SettingsKind::Recording => state.recording_settings.clone(),
            SettingsKind::Composition => state.composition_settings.clone(),
        }
    }

    /// Replaces the settings. `FriendlyName` is required (20001); an `AwsS3Url` must be an
    /// absolute https URL (20001). Nothing is ever uploaded: the emulator stores no media.
    pub fn set_media_settings(
        &self,
        kind: SettingsKind,
        settings: MediaSettings,
    ) -> Result<MediaSettings, StoreError> {
        if settings.friendly_name.as_deref().is_none_or(str::is_empty) {
            return Err(invalid(
                "Missing required parameter FriendlyName in the post body",
            ));
        }
        if let Some(s3) = &settings.aws_s3_url {
            let ok = url::Url::parse(s3).is_ok_and(|u| u.scheme() == "https");
            if !ok {
                return Err(invalid(format!(
                    "Invalid AwsS3Url: expected an absolute https URL (got '{s3}')"
                )));
            }
        }
        let (mut state, _) = self.settled();
        let slot = match kind {
            SettingsKind::Recording => &mut state.recording_settings,
            SettingsKind::Composition => &mut state.composition_settings,
        };
        *slot = settings.clone();
        Ok(settings)
    }

    /// Creates a hook. Errors: 20001 (see [`check_hook`]), 53111/53110 for the callback.
    pub fn create_composition_hook(
        &self,
        request: &HookRequest,
    ) -> Result<CompositionHook, StoreError> {
        let (mut state, now) = self.settled();
        let sid = loop {
            let candidate = format!("HK{:032x}", rand::random::<u128>());
            if !state.composition_hooks.contains_key(&candidate) {
                break candidate;
            }
        };
        let hook = CompositionHook {
            sid: sid.clone(),
            friendly_name: String::new(),
            enabled: true,
            date_created: now,
            date_updated: None,
            audio_sources: Vec::new(),
            audio_sources_excluded: Vec::new(),
            video_layout: None,
            resolution: "640x480".to_owned(),
            trim: true,
            format: "webm".to_owned(),
            status_callback: None,
            status_callback_method: "POST".to_owned(),
        };
        let hook = apply_hook(hook, request, self.callback_hosts(), None)?;
        state.composition_hooks.insert(sid, hook.clone());
        Ok(hook)
    }

    /// A hook by SID; 20404 otherwise.
    pub fn fetch_composition_hook(&self, sid: &str) -> Result<CompositionHook, StoreError> {
        let (state, _) = self.settled();
        state
            .composition_hooks
            .get(sid)
            .cloned()
            .ok_or_else(|| StoreError::not_found(format_args!("/CompositionHooks/{sid}")))
    }

    /// Updates a hook: the sent parameters replace the stored ones. Errors: 20404, 20001.
    pub fn update_composition_hook(
        &self,
        sid: &str,
        request: &HookRequest,
    ) -> Result<CompositionHook, StoreError> {
        let (mut state, now) = self.settled();
        let current = state
            .composition_hooks
            .get(sid)
            .cloned()
            .ok_or_else(|| StoreError::not_found(format_args!("/CompositionHooks/{sid}")))?;
        let hook = apply_hook(current, request, self.callback_hosts(), Some(now))?;
        state.composition_hooks.insert(sid.to_owned(), hook.clone());
        Ok(hook)
    }

    /// Deletes a hook; 20404 for an unknown SID.
    pub fn delete_composition_hook(&self, sid: &str) -> Result<(), StoreError> {
        let (mut state, _) = self.settled();
        state
            .composition_hooks
            .remove(sid)
            .map(|_| ())
            .ok_or_else(|| StoreError::not_found(format_args!("/CompositionHooks/{sid}")))
    }

    /// Lists hooks, oldest first, filtered as Twilio filters them (`FriendlyName` is a
    /// case-insensitive substring, inferred from Twilio's "contains" wording).
    pub fn list_composition_hooks(
        &self,
        query: &HookQuery,
    ) -> Result<Page<CompositionHook>, StoreError> {
        let hooks: Vec<CompositionHook> = {
            let (state, _) = self.settled();
            let name = query.friendly_name.as_deref().map(str::to_lowercase);
            state
                .composition_hooks
                .values()
                .filter(|h| query.enabled.is_none_or(|e| h.enabled == e))
                .filter(|h| query.created_after.is_none_or(|t| h.date_created >= t))
                .filter(|h| query.created_before.is_none_or(|t| h.date_created < t))
                .filter(|h| {
                    name.as_deref()
                        .is_none_or(|n| h.friendly_name.to_lowercase().contains(n))
                })
                .cloned()
                .collect()
        };
        let mut hooks = hooks;
        hooks.sort_by(|a, b| (a.date_created, &a.sid).cmp(&(b.date_created, &b.sid)));
        paginate(
            &hooks,
            |h| SortKey::new(h.date_created, h.sid.as_str()),
            query.page_size,
            query.page_token.as_deref(),
        )
    }
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::new(twilio_codes::INVALID_PARAMETER, message)
}

/// Applies a create or update request to `hook` and checks the result: a friendly name of 1 to
/// 100 characters; `Format` `mp4` or `webm`; `Resolution` `WIDTHxHEIGHT`; `VideoLayout` a JSON
/// object; and, as Twilio requires, audio sources or a video layout to compose.
fn apply_hook(
    mut hook: CompositionHook,
    request: &HookRequest,
    hosts: &crate::CallbackHosts,
    updated: Option<OffsetDateTime>,
) -> Result<CompositionHook, StoreError> {
    let name = request
        .friendly_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("Missing required parameter FriendlyName in the post body"))?;
    if name.chars().count() > MAX_FRIENDLY_NAME {
        return Err(invalid(format!(
            "Invalid FriendlyName: at most {MAX_FRIENDLY_NAME} characters"
        )));
    }
    hook.friendly_name = name.to_owned();
    if let Some(enabled) = request.enabled {
        hook.enabled = enabled;
    }
    if let Some(trim) = request.trim {
        hook.trim = trim;
    }
    if let Some(format) = &request.format {
        if format != "mp4" && format != "webm" {
            return Err(invalid(format!(
                "Invalid Format: expected mp4 or webm (got '{format}')"
            )));
        }
        hook.format = format.clone();
    }
    if let Some(resolution) = &request.resolution {
        let valid = resolution.split_once('x').is_some_and(|(w, h)| {
            w.parse::<u16>().is_ok_and(|w| w > 0) && h.parse::<u16>().is_ok_and(|h| h > 0)
        });
        if !valid {
            return Err(invalid(format!(
                "Invalid Resolution: expected WIDTHxHEIGHT such as 1280x720 (got '{resolution}')"
            )));
        }
        hook.resolution = resolution.clone();
    }
    if let Some(layout) = &request.video_layout {
        let is_object =
            serde_json::from_str::<serde_json::Value>(layout).is_ok_and(|v| v.is_object());
        if !is_object {
            return Err(invalid("Invalid VideoLayout: expected a JSON object"));
        }
        hook.video_layout = Some(layout.clone());
    }
    if let Some(sources) = &request.audio_sources {
        hook.audio_sources = sources.clone();
    }
    if let Some(sources) = &request.audio_sources_excluded {
        hook.audio_sources_excluded = sources.clone();
    }
    if hook.audio_sources.is_empty() && hook.video_layout.is_none() {
        return Err(invalid(
            "A composition hook needs AudioSources or a VideoLayout: there would be nothing to compose",
        ));
    }
    if let Some(callback) = request.status_callback.as_deref() {
        hook.status_callback = match callback {
            "" => None,
            url => Some(validate_status_callback(url, hosts)?),
        };
    }
    if let Some(method) = request.status_callback_method.as_deref() {
        if !(method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("POST")) {
            return Err(StoreError::new(
                twilio_codes::STATUS_CALLBACK_METHOD_INVALID,
                format!("StatusCallbackMethod is invalid: must be GET or POST (got '{method}')"),
            ));
        }
        hook.status_callback_method = method.to_ascii_uppercase();
    }
    if updated.is_some() {
        hook.date_updated = updated;
    }
    Ok(hook)
}
