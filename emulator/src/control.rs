//! Control routes under `/emulator/...` (same authentication as `/v1`): reset, clock, simulated
//! participants, the delivered callbacks; and the inspector page with its JSON feed (no
//! authentication: it shows no secret).

use std::str::FromStr;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, Resource};
use serde::Serialize;
use videoroom_core::{Identity, RoomKey};
use videoroom_emulator_adapter::{DisconnectReason, PublishTrack, StoreError, TrackKind};

use crate::auth::authenticate;
use crate::error::{twilio_scope, twilio_shaped, ApiError};
use crate::paging::base_url;
use crate::params::{
    format_time, parse_participant_key, parse_room_key, participant_key, path_segment, read_form,
    room_key, Params,
};
use crate::resources::{ParticipantJson, PublishedTrackJson};
use crate::{inspector, Emulator};

type Result<T> = std::result::Result<T, ApiError>;

/// The longest single clock advance, in seconds (a year): far beyond every Twilio timeout,
/// small enough that no timestamp arithmetic can overflow.
const MAX_ADVANCE_SECONDS: u64 = 366 * 24 * 3600;

/// A control route's parameters: the query string, then the form body (which wins), so that
/// both `curl -d Seconds=600` and `curl -X POST '…?Seconds=600'` work.
async fn control_params(
    req: &HttpRequest,
    body: web::Payload,
    emulator: &Emulator,
) -> Result<Params> {
    let mut params = Params::from_query(req.query_string());
    params.extend(read_form(req, body, emulator.settings().body_limits()).await?);
    Ok(params)
}

pub fn configure(emulator: &Emulator, cfg: &mut web::ServiceConfig) {
    cfg.service(
        twilio_scope("/emulator")
            .app_data(web::Data::new(emulator.clone()))
            .wrap(twilio_shaped())
            // Outermost: the emulator handlers see is the request's account's (see `accounts`).
            .wrap(actix_web::middleware::from_fn(crate::accounts::resolve))
            .service(
                web::resource(["", "/"])
                    .route(web::get().to(inspector::page))
                    .default_service(web::to(wrong_method)),
            )
            .service(resource("/state").route(web::get().to(inspector::state)))
            .service(resource("/reset").route(web::post().to(reset)))
            .service(resource("/clock/advance").route(web::post().to(advance_clock)))
            .service(resource("/rooms/{room}/participants").route(web::post().to(add_participant)))
            .service(
                resource("/rooms/{room}/participants/{participant}")
                    .route(web::delete().to(remove_participant)),
            )
            .service(
                resource("/rooms/{room}/participants/{participant}/disconnect")
                    .route(web::post().to(remove_participant)),
            )
            .service(
                resource("/rooms/{room}/participants/{participant}/tracks")
                    .route(web::post().to(publish_track)),
            )
            .service(
                resource("/rooms/{room}/participants/{participant}/tracks/{track}")
                    .route(web::delete().to(unpublish_track)),
            )
            .service(resource("/callbacks").route(web::get().to(callbacks)))
            .service(crate::faults::resource().default_service(web::to(wrong_method)))
            .default_service(web::to(unknown_route)),
    );
}

/// A resource whose unsupported methods get Twilio's 405 instead of actix's empty one. (The
/// inspector page, served at two paths, says the same by hand: actix does not export the trait
/// its multi-path form needs.)
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(wrong_method))
}

async fn wrong_method(req: HttpRequest) -> Result<HttpResponse> {
    Err(ApiError::method_not_allowed(
        req.method().as_str(),
        req.path(),
    ))
}

async fn unknown_route(req: HttpRequest) -> Result<HttpResponse> {
    Err(ApiError::not_found(req.path()))
}

#[derive(Serialize)]
struct ResetDone {
    reset: bool,
}

/// `POST /emulator/reset`: every room, participant, track and recorded callback is forgotten.
async fn reset(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    authenticate(&req, emulator.settings())?;
    emulator.reset();
    Ok(HttpResponse::Ok().json(ResetDone { reset: true }))
}

#[derive(Serialize)]
struct Advanced {
    advanced_seconds: u64,
    /// How far the emulator's clock is now ahead of the real one.
    offset_seconds: u64,
    now: String,
    rooms_ended: Vec<String>,
    participants_removed: Vec<String>,
}

/// `POST /emulator/clock/advance` with `Seconds=N`: moves the clock and applies at once
/// whatever became due (timeouts end rooms, their callbacks go out).
async fn advance_clock(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    authenticate(&req, emulator.settings())?;
    let params = control_params(&req, body, &emulator).await?;
    let raw = params
        .get("Seconds")
        .ok_or_else(|| ApiError::missing_parameter("Seconds"))?;
    let seconds = raw
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|s| (1..=MAX_ADVANCE_SECONDS).contains(s))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid Seconds: expected a whole number from 1 to {MAX_ADVANCE_SECONDS} (got '{raw}')"
            ))
        })?;
    let report = emulator
        .advance_clock(Duration::from_secs(seconds))
        .map_err(|limit| ApiError::invalid(format!("Invalid Seconds: {limit} (got '{raw}')")))?;
    Ok(HttpResponse::Ok().json(Advanced {
        advanced_seconds: seconds,
        offset_seconds: emulator.offset_clock().offset().as_secs(),
        now: format_time(emulator.store().now()),
        rooms_ended: report.rooms_ended.iter().map(|s| s.to_string()).collect(),
        participants_removed: report
            .participants_removed
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }))
}

/// `POST /emulator/rooms/{room}/participants` with `Identity=alice`: a simulated participant
/// joins (as if an SDK client connected), so Participants and callbacks can be exercised
/// without a browser. It never creates a room.
async fn add_participant(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    authenticate(&req, emulator.settings())?;
    let segment = path_segment(&req, "room")?;
    let params = control_params(&req, body, &emulator).await?;
    let raw = params
        .get("Identity")
        .ok_or_else(|| ApiError::missing_parameter("Identity"))?;
    let identity = Identity::parse(raw).map_err(StoreError::from)?;
    // Text that is no room reference at all names no room to join: 53106, as for a room that
    // does not exist.
    let room = RoomKey::parse(&segment).map_err(|_| StoreError::no_room_to_join(&segment))?;
    let joined = emulator
        .store()
        .connect_participant(&room, &identity, None)?;
    let settings = emulator.settings();
    Ok(
        HttpResponse::build(StatusCode::CREATED).json(ParticipantJson::new(
            &joined.participant,
            &base_url(&req),
            settings.account_sid.as_str(),
        )),
    )
}

/// `DELETE /emulator/rooms/{room}/participants/{sid or identity}` (or `POST …/disconnect`):
/// the simulated participant leaves, as a client that hangs up.
async fn remove_participant(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    authenticate(&req, emulator.settings())?;
    let store = emulator.store();
    let room = room_key(&req)?;
    let participant = participant_key(&req, &store, &room)?;
    let record = store.disconnect_participant(&room, &participant, DisconnectReason::Left)?;
    Ok(HttpResponse::Ok().json(ParticipantJson::new(
        &record,
        &base_url(&req),
        emulator.settings().account_sid.as_str(),
    )))
}

/// `POST /emulator/rooms/{room}/participants/{p}/tracks` with `Kind=audio|video|data` and
/// optionally `Name=` and `Enabled=false`: the simulated participant publishes a track (as an
/// SDK client would), so track resources and `track-added` callbacks can be shown without a
/// browser. The track's client id is its name.
async fn publish_track(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    authenticate(&req, emulator.settings())?;
    let store = emulator.store();
    // The segments are read first and parsed after the parameters, so a malformed request is
    // told about its parameters before an unknown participant, as for any other.
    let room = path_segment(&req, "room")?;
    let participant = path_segment(&req, "participant")?;
    let params = control_params(&req, body, &emulator).await?;
    let raw_kind = params
        .get("Kind")
        .ok_or_else(|| ApiError::missing_parameter("Kind"))?;
    let kind = TrackKind::from_str(raw_kind).map_err(|_| {
        ApiError::invalid(format!(
            "Invalid Kind: expected audio, video or data (got '{raw_kind}')"
        ))
    })?;
    let name = params
        .get("Name")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{kind}-{}", rand::random::<u32>()));
    let enabled = params.bool("Enabled")?.unwrap_or(true);
    let room = parse_room_key(&room)?;
    let participant = parse_participant_key(&store, &room, &participant)?;
    let track = store.publish_track(
        &room,
        &participant,
        PublishTrack {
            client_id: name.clone(),
            kind,
            name,
            enabled,
        },
    )?;
    Ok(HttpResponse::build(StatusCode::CREATED)
        .json(PublishedTrackJson::new(&track, &base_url(&req))))
}

/// `DELETE /emulator/rooms/{room}/participants/{p}/tracks/{sid or name}`: the track is
/// unpublished (`track-removed`).
async fn unpublish_track(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    authenticate(&req, emulator.settings())?;
    let store = emulator.store();
    let room = room_key(&req)?;
    let participant = participant_key(&req, &store, &room)?;
    let track = path_segment(&req, "track")?;
    let removed = store.unpublish_track(&room, &participant, &track)?;
    Ok(HttpResponse::Ok().json(PublishedTrackJson::new(&removed, &base_url(&req))))
}

#[derive(Serialize)]
struct CallbackList {
    callbacks: Vec<crate::Delivery>,
}

/// `GET /emulator/callbacks`: every status callback remembered, oldest first, with its
/// outcome; `RoomSid=` and `StatusCallbackEvent=` narrow the list.
async fn callbacks(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    authenticate(&req, emulator.settings())?;
    let query = Params::from_query(req.query_string());
    let room = query.get("RoomSid");
    let event = query.get("StatusCallbackEvent");
    let callbacks = emulator
        .deliveries()
        .into_iter()
        .filter(|d| room.is_none_or(|r| d.room_sid == r))
        .filter(|d| event.is_none_or(|e| d.event == e))
        .collect();
    Ok(HttpResponse::Ok().json(CallbackList { callbacks }))
}
