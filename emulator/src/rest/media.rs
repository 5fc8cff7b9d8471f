//! The media-backed resources the emulator does not make: `Compositions` and a room's
//! `Transcriptions` (`Recordings` are real: `rest/recordings.rs`).
//!
//! An emulated resource never claims what did not happen. Compositions would be made from the
//! recordings, and transcriptions from audio the emulator does not process: creating either is
//! refused with Twilio's 400 (20001) and a message naming the limitation, listing answers an
//! empty page and fetching answers 20404. Never a fake `completed`.
//!
//! `docs/emulator.md` ("Recordings, compositions and transcriptions") says the same for users.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use videoroom_emulator_adapter::{paginate, SortKey};

use super::{ctx, echoed, json, resource, Result};
use crate::error::ApiError;
use crate::paging::{envelope, Paging};
use crate::params::{parse_room_key, path_segment, Params};
use crate::resources::room_url;
use crate::Emulator;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/Compositions")
            .get(list_compositions)
            .post(create_composition),
    )
    .service(resource("/Compositions/{sid}").get(unknown).delete(unknown))
    .service(
        resource("/Rooms/{room}/Transcriptions")
            .get(list_transcriptions)
            .post(create_transcription),
    )
    .service(
        resource("/Rooms/{room}/Transcriptions/{sid}")
            .get(unknown_in_room)
            .post(unknown_in_room),
    );
}

impl super::Resource {
    pub(super) fn delete<F, Args>(self, handler: F) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        Self(self.0.route(web::delete().to(handler)))
    }
}

/// The status values of Twilio's composition enum, for filter checks.
const COMPOSITION_STATUSES: &[&str] = &["enqueued", "processing", "completed", "deleted", "failed"];

/// 20001 unless the filter `name`, when sent, is one of `allowed`.
fn check_enum(p: &Params, name: &str, allowed: &[&str]) -> Result<()> {
    match p.get(name) {
        Some(v) if !allowed.contains(&v) => Err(ApiError::invalid(format!(
            "Invalid {name}: expected one of {} (got '{v}')",
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// An empty page of `key` at `path`, after the filters and paging are checked as for a real
/// listing (dates, PageSize, PageToken).
fn empty_page(
    p: &Params,
    key: &str,
    path: &str,
    filters: &[&'static str],
    dates: &[&str],
) -> Result<HttpResponse> {
    for date in dates {
        p.date(date)?;
    }
    let paging = Paging::from_params(p)?;
    let none: [(); 0] = [];
    let page = paginate(
        &none,
        |_| SortKey::new(time::OffsetDateTime::UNIX_EPOCH, ""),
        paging.page_size,
        paging.page_token.as_deref(),
    )?;
    let body = envelope(key, path, &echoed(p, filters), &paging, &page, |_| ());
    Ok(json(StatusCode::OK, &body))
}

/// The room a `{room}` path names, which must exist (20404 otherwise), by SID.
fn existing_room(req: &HttpRequest, emulator: &Emulator) -> Result<String> {
    let room = parse_room_key(&path_segment(req, "room")?)?;
    Ok(emulator.store().fetch_room(&room)?.sid.as_str().to_owned())
}

async fn list_compositions(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let p = Params::from_query(req.query_string());
    check_enum(&p, "Status", COMPOSITION_STATUSES)?;
    empty_page(
        &p,
        "compositions",
        &format!("{}/v1/Compositions", ctx.base),
        &["Status", "DateCreatedAfter", "DateCreatedBefore", "RoomSid"],
        &["DateCreatedAfter", "DateCreatedBefore"],
    )
}

async fn list_transcriptions(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let sid = existing_room(&req, &emulator)?;
    let p = Params::from_query(req.query_string());
    empty_page(
        &p,
        "transcriptions",
        &format!("{}/Transcriptions", room_url(&ctx.base, &sid)),
        &[],
        &[],
    )
}

async fn create_composition(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    let params = crate::params::read_form(&req, body, emulator.settings().body_limits()).await?;
    let room = params
        .get("RoomSid")
        .ok_or_else(|| ApiError::missing_parameter("RoomSid"))?;
    // The room is looked up first, so an unknown room is a 404 as on Twilio.
    let room = parse_room_key(room)?;
    let sid = emulator.store().fetch_room(&room)?.sid;
    Err(ApiError::invalid(format!(
        "Compositions are not available in the emulator: it records the tracks of group rooms \
         (see /v1/Recordings) but does not compose them, so nothing is made for room {sid} \
         (see docs/emulator.md, \"Recordings, compositions and transcriptions\")"
    )))
}

async fn create_transcription(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    let sid = existing_room(&req, &emulator)?;
    Err(ApiError::invalid(format!(
        "Transcriptions are not available in the emulator: it does not process the audio of \
         room {sid} (see docs/emulator.md, \"Recordings, compositions and transcriptions\")"
    )))
}

/// A composition SID: none exists (see the module doc), so 20404 naming it.
async fn unknown(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    Err(ApiError::not_found(req.path()))
}

/// A transcription of a room: 20404 for the room if it does not exist, for the transcription
/// otherwise.
async fn unknown_in_room(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    existing_room(&req, &emulator)?;
    Err(ApiError::not_found(req.path()))
}
