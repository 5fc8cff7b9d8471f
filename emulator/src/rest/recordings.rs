//! `Recordings` (top level and per room) and their `/Media`: the tracks the media server
//! recorded (see `crate::recordings` for what is recorded and when).
//!
//! `/Media` answers as Twilio's does: `302 Found` to a temporary URL (valid for
//! [`crate::recordings::MEDIA_URL_TTL_SECS`]), with the same URL in a JSON body
//! `{"redirect_to": …}` for clients that do not follow redirects (Twilio's own samples read
//! `redirect_to`). The temporary URL, under `/emulator/recordings/{sid}/media`, needs no
//! credentials (like Twilio's pre-signed storage URLs) and serves the Matroska file as
//! `audio/x-matroska` or `video/x-matroska`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use videoroom_emulator_adapter::{RecordingQuery, RecordingRecord, RecordingStatus, TrackKind};

use super::{ctx, echoed, json, resource, Result};
use crate::error::ApiError;
use crate::paging::{envelope, Paging};
use crate::params::{format_time, parse_room_key, path_segment, Params};
use crate::resources::room_url;
use crate::Emulator;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/Recordings").get(list_recordings))
        .service(
            resource("/Recordings/{sid}")
                .get(fetch_recording)
                .delete(delete_recording),
        )
        .service(resource("/Recordings/{sid}/Media").get(recording_media))
        .service(resource("/Rooms/{room}/Recordings").get(list_room_recordings))
        .service(
            resource("/Rooms/{room}/Recordings/{sid}")
                .get(fetch_room_recording)
                .delete(delete_room_recording),
        )
        .service(resource("/Rooms/{room}/Recordings/{sid}/Media").get(room_recording_media));
}

/// The temporary media URLs `/Media` redirects to (outside `/v1`: no credentials).
pub fn configure_downloads(emulator: &Emulator, cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/emulator/recordings/{sid}/media")
            .app_data(web::Data::new(emulator.clone()))
            .route(web::get().to(download)),
    );
}

/// The Recording resource as Twilio shows it at `/v1/Recordings/{sid}`.
#[derive(Debug, Serialize)]
pub struct RecordingJson {
    account_sid: String,
    status: &'static str,
    date_created: String,
    sid: String,
    source_sid: String,
    size: Option<u64>,
    url: String,
    #[serde(rename = "type")]
    kind: &'static str,
    duration: Option<u64>,
    container_format: &'static str,
    codec: Option<String>,
    grouping_sids: GroupingSids,
    track_name: String,
    offset: u64,
    media_external_location: Option<String>,
    status_callback: Option<String>,
    status_callback_method: Option<String>,
    links: MediaLink,
}

/// The RoomRecording resource, at `/v1/Rooms/{room}/Recordings/{sid}`.
#[derive(Debug, Serialize)]
pub struct RoomRecordingJson {
    account_sid: String,
    status: &'static str,
    date_created: String,
    sid: String,
    source_sid: String,
    size: Option<u64>,
    #[serde(rename = "type")]
    kind: &'static str,
    duration: Option<u64>,
    container_format: &'static str,
    codec: Option<String>,
    grouping_sids: GroupingSids,
    track_name: String,
    offset: u64,
    media_external_location: Option<String>,
    room_sid: String,
    url: String,
    links: MediaLink,
}

#[derive(Debug, Serialize)]
struct GroupingSids {
    room_sid: String,
    participant_sid: String,
}

#[derive(Debug, Serialize)]
struct MediaLink {
    media: String,
}

fn recording_url(base: &str, sid: &str) -> String {
    format!("{base}/v1/Recordings/{sid}")
}

fn room_recording_url(base: &str, room: &str, sid: &str) -> String {
    format!("{}/Recordings/{sid}", room_url(base, room))
}

fn grouping(r: &RecordingRecord) -> GroupingSids {
    GroupingSids {
        room_sid: r.room_sid.as_str().to_owned(),
        participant_sid: r.participant_sid.as_str().to_owned(),
    }
}

impl RecordingJson {
    pub fn new(r: &RecordingRecord, base: &str, account_sid: &str) -> Self {
        let url = recording_url(base, &r.sid);
        Self {
            account_sid: account_sid.to_owned(),
            status: r.status.as_str(),
            date_created: format_time(r.date_created),
            sid: r.sid.clone(),
            source_sid: r.source_sid.as_str().to_owned(),
            size: r.size,
            links: MediaLink {
                media: format!("{url}/Media"),
            },
            url,
            kind: r.kind.as_str(),
            duration: r.duration,
            container_format: r.container_format,
            codec: r.codec.clone(),
            grouping_sids: grouping(r),
            track_name: r.track_name.clone(),
            offset: r.offset,
            media_external_location: None,
            status_callback: r.status_callback.clone(),
            status_callback_method: r
                .status_callback
                .as_ref()
                .map(|_| r.status_callback_method.to_ascii_uppercase()),
        }
    }
}

impl RoomRecordingJson {
    pub fn new(r: &RecordingRecord, base: &str, account_sid: &str) -> Self {
        let url = room_recording_url(base, r.room_sid.as_str(), &r.sid);
        Self {
            account_sid: account_sid.to_owned(),
            status: r.status.as_str(),
            date_created: format_time(r.date_created),
            sid: r.sid.clone(),
            source_sid: r.source_sid.as_str().to_owned(),
            size: r.size,
            kind: r.kind.as_str(),
            duration: r.duration,
            container_format: r.container_format,
            codec: r.codec.clone(),
            grouping_sids: grouping(r),
            track_name: r.track_name.clone(),
            offset: r.offset,
            media_external_location: None,
            room_sid: r.room_sid.as_str().to_owned(),
            links: MediaLink {
                media: format!("{url}/Media"),
            },
            url,
        }
    }
}

/// The filters both listings share: Status, SourceSid and the creation dates.
fn common_query(p: &Params) -> Result<RecordingQuery> {
    let status = match p.get("Status") {
        None => None,
        Some(v) => Some(v.parse::<RecordingStatus>().map_err(|_| {
            ApiError::invalid(format!(
                "Invalid Status: expected one of processing, completed, deleted, failed (got '{v}')"
            ))
        })?),
    };
    let paging = Paging::from_params(p)?;
    Ok(RecordingQuery {
        status,
        source_sid: p.get("SourceSid").map(str::to_owned),
        created_after: p.date("DateCreatedAfter")?,
        created_before: p.date("DateCreatedBefore")?,
        page_size: paging.page_size,
        page_token: paging.page_token,
        ..RecordingQuery::default()
    })
}

async fn list_recordings(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let p = Params::from_query(req.query_string());
    let mut query = common_query(&p)?;
    query.grouping_sids = p.all("GroupingSid");
    query.media_type = match p.get("MediaType") {
        None => None,
        Some("audio") => Some(TrackKind::Audio),
        Some("video") => Some(TrackKind::Video),
        // Twilio's enum lists data, which is never recorded: nothing matches it.
        Some("data") => Some(TrackKind::Data),
        Some(v) => {
            return Err(ApiError::invalid(format!(
                "Invalid MediaType: expected one of audio, video, data (got '{v}')"
            )))
        }
    };
    let page = emulator.store().list_recordings(&query)?;
    let paging = Paging::from_params(&p)?;
    let mut filters = echoed(
        &p,
        &[
            "Status",
            "SourceSid",
            "DateCreatedAfter",
            "DateCreatedBefore",
            "MediaType",
        ],
    );
    filters.extend(
        query
            .grouping_sids
            .iter()
            .map(|g| ("GroupingSid", g.clone())),
    );
    let body = envelope(
        "recordings",
        &format!("{}/v1/Recordings", ctx.base),
        &filters,
        &paging,
        &page,
        |r| RecordingJson::new(r, &ctx.base, &ctx.account_sid),
    );
    Ok(json(StatusCode::OK, &body))
}

async fn list_room_recordings(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let room = parse_room_key(&path_segment(&req, "room")?)?;
    let room = emulator.store().fetch_room(&room)?.sid;
    let p = Params::from_query(req.query_string());
    let mut query = common_query(&p)?;
    query.room = Some(room.clone());
    let page = emulator.store().list_recordings(&query)?;
    let paging = Paging::from_params(&p)?;
    let body = envelope(
        "recordings",
        &format!("{}/Recordings", room_url(&ctx.base, room.as_str())),
        &echoed(
            &p,
            &[
                "Status",
                "SourceSid",
                "DateCreatedAfter",
                "DateCreatedBefore",
            ],
        ),
        &paging,
        &page,
        |r| RoomRecordingJson::new(r, &ctx.base, &ctx.account_sid),
    );
    Ok(json(StatusCode::OK, &body))
}

/// The recording `{sid}` names (20404 naming the path otherwise).
fn recording(req: &HttpRequest, emulator: &Emulator) -> Result<RecordingRecord> {
    let sid = path_segment(req, "sid")?;
    emulator
        .store()
        .fetch_recording(&sid)
        .map_err(|_| ApiError::not_found(req.path()))
}

/// The recording `{sid}` of the room `{room}`: 20404 for the room if it does not exist, for
/// the recording if it is not one of that room's.
fn room_recording(req: &HttpRequest, emulator: &Emulator) -> Result<RecordingRecord> {
    let room = parse_room_key(&path_segment(req, "room")?)?;
    let room = emulator.store().fetch_room(&room)?.sid;
    let record = recording(req, emulator)?;
    if record.room_sid != room {
        return Err(ApiError::not_found(req.path()));
    }
    Ok(record)
}

async fn fetch_recording(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let record = recording(&req, &emulator)?;
    Ok(json(
        StatusCode::OK,
        &RecordingJson::new(&record, &ctx.base, &ctx.account_sid),
    ))
}

async fn fetch_room_recording(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let record = room_recording(&req, &emulator)?;
    Ok(json(
        StatusCode::OK,
        &RoomRecordingJson::new(&record, &ctx.base, &ctx.account_sid),
    ))
}

async fn delete_recording(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    let record = recording(&req, &emulator)?;
    emulator.recordings().delete(&record.sid)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn delete_room_recording(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    let record = room_recording(&req, &emulator)?;
    emulator.recordings().delete(&record.sid)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn recording_media(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let record = recording(&req, &emulator)?;
    media_redirect(&req, &emulator, &ctx.base, &record)
}

async fn room_recording_media(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let record = room_recording(&req, &emulator)?;
    media_redirect(&req, &emulator, &ctx.base, &record)
}

#[derive(Debug, Serialize)]
struct Redirect {
    redirect_to: String,
}

/// 302 to the temporary URL of a completed recording's file; 20404 for a recording with no
/// media (still processing, failed or deleted), as for a file that does not exist.
fn media_redirect(
    req: &HttpRequest,
    emulator: &Emulator,
    base: &str,
    record: &RecordingRecord,
) -> Result<HttpResponse> {
    if record.status != RecordingStatus::Completed {
        return Err(ApiError::not_found(req.path()));
    }
    let url = emulator.recordings().media_url(base, &record.sid);
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url.clone()))
        .json(Redirect { redirect_to: url }))
}

/// `GET /emulator/recordings/{sid}/media?Expires=…&Signature=…`: the file, if the URL is one
/// `/Media` gave out and has not expired (403 otherwise, as a pre-signed URL would).
async fn download(req: HttpRequest, emulator: web::Data<Emulator>) -> HttpResponse {
    let p = Params::from_query(req.query_string());
    let sid = req.match_info().get("sid").unwrap_or_default().to_owned();
    // The URL carries no credentials: the recording's own account (whose recorder signed the
    // URL) is the one whose store knows its SID; SIDs are unique across accounts.
    let emulator = emulator
        .account_sids()
        .iter()
        .filter_map(|account| emulator.account(account))
        .find(|view| view.store().fetch_recording(&sid).is_ok())
        .unwrap_or_else(|| emulator.get_ref().clone());
    let expires = p.get("Expires").and_then(|e| e.parse::<i64>().ok());
    let signature = p.get("Signature").unwrap_or_default();
    let valid = expires.is_some_and(|e| emulator.recordings().check_media_url(&sid, e, signature));
    if !valid {
        return HttpResponse::Forbidden().json(serde_json::json!({
            "error": {
                "code": "invalid_media_url",
                "message": "This media URL is invalid or expired: ask /v1/Recordings/{Sid}/Media for a new one"
            }
        }));
    }
    let record = match emulator.store().fetch_recording(&sid) {
        Ok(r) if r.status == RecordingStatus::Completed => r,
        _ => {
            return HttpResponse::NotFound().json(serde_json::json!({
                "error": {
                    "code": "no_media",
                    "message": format!("Recording {sid} has no media (deleted or forgotten)")
                }
            }))
        }
    };
    match std::fs::read(&record.media_path) {
        Ok(bytes) => HttpResponse::Ok()
            .content_type(match record.kind {
                TrackKind::Audio => "audio/x-matroska",
                _ => "video/x-matroska",
            })
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}.{}\"",
                    record.sid, record.container_format
                ),
            ))
            .body(bytes),
        Err(e) => {
            tracing::warn!(recording = %sid, error = %e, "recording media unreadable");
            HttpResponse::NotFound().json(serde_json::json!({
                "error": {
                    "code": "no_media",
                    "message": format!("Recording {sid}'s file cannot be read; it was removed from the recordings folder")
                }
            }))
        }
    }
}
