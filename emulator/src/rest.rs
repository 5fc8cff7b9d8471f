//! Twilio's Video REST API under `/v1`: Rooms, Participants, PublishedTracks, SubscribedTracks.

use std::str::FromStr;

use actix_web::http::{Method, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use videoroom_core::{twilio_codes, RoomKey, RoomName, RoomQuery, RoomStatus, RoomType};
use videoroom_emulator_adapter::{
    paginate, CreateRoom, DisconnectReason, ParticipantKey, ParticipantQuery, ParticipantRecord,
    ParticipantStatus, PublishedTrack, RoomRecord, RuleSet, SortKey, Store, StoreError,
    SubscribedTrack,
};

use crate::auth::authenticate;
use crate::error::{twilio_scope, twilio_shaped, ApiError};
use crate::paging::{base_url, envelope, Paging};
use crate::params::{
    parse_participant_key, parse_room_key, participant_key, path_segment, read_form, room_key,
    Params,
};
use crate::resources::{
    participant_url, room_url, ParticipantJson, PublishedTrackJson, RoomJson, SubscribedTrackJson,
};
use crate::Emulator;

mod account;
mod media;
mod recordings;
mod rules;

type Result<T> = std::result::Result<T, ApiError>;
type StoreResult<T> = std::result::Result<T, StoreError>;

pub fn configure(emulator: &Emulator, cfg: &mut web::ServiceConfig) {
    let room = "/Rooms/{room}";
    let participant = "/Rooms/{room}/Participants/{participant}";
    cfg.service(
        twilio_scope("/v1")
            .app_data(web::Data::new(emulator.clone()))
            .wrap(twilio_shaped())
            // Injected 5xx, 429, latency and cut answers, when a test asks (see `faults`).
            .wrap(from_fn(crate::faults::inject))
            // Cross-origin calls only from configured origins; see `guard`.
            .wrap(from_fn(crate::guard::cors))
            // Outermost: the emulator handlers see is the request's account's (see `accounts`).
            .wrap(from_fn(crate::accounts::resolve))
            .service(resource("/Rooms").get(list_rooms).post(create_room))
            .service(resource(room).get(fetch_room).post(update_room))
            .service(resource(&format!("{room}/Participants")).get(list_participants))
            .service(
                resource(participant)
                    .get(fetch_participant)
                    .post(update_participant),
            )
            .service(
                resource(&format!("{participant}/PublishedTracks"))
                    .get(list_tracks::<PublishedTrack>),
            )
            .service(
                resource(&format!("{participant}/PublishedTracks/{{track}}"))
                    .get(fetch_track::<PublishedTrack>),
            )
            .service(
                resource(&format!("{participant}/SubscribedTracks"))
                    .get(list_tracks::<SubscribedTrack>),
            )
            .service(
                resource(&format!("{participant}/SubscribedTracks/{{track}}"))
                    .get(fetch_track::<SubscribedTrack>),
            )
            // The resources added for the whole OpenAPI file, each in its own module.
            .configure(rules::configure)
            .configure(media::configure)
            .configure(recordings::configure)
            .configure(account::configure)
            .default_service(web::to(unknown_route)),
    );
}

/// The temporary URLs recordings' `/Media` redirects to, outside `/v1` (see `recordings`).
pub fn configure_media_downloads(emulator: &Emulator, cfg: &mut web::ServiceConfig) {
    recordings::configure_downloads(emulator, cfg);
}

/// A resource builder whose unsupported methods get Twilio's 405 (and OPTIONS a preflight
/// answer) instead of actix's empty 405.
struct Resource(actix_web::Resource);

fn resource(path: &str) -> Resource {
    Resource(web::resource(path).default_service(web::to(wrong_method)))
}

impl Resource {
    fn get<F, Args>(self, handler: F) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        Self(self.0.route(web::get().to(handler)))
    }

    fn post<F, Args>(self, handler: F) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        Self(self.0.route(web::post().to(handler)))
    }
}

impl actix_web::dev::HttpServiceFactory for Resource {
    fn register(self, config: &mut actix_web::dev::AppService) {
        self.0.register(config)
    }
}

async fn wrong_method(req: HttpRequest) -> Result<HttpResponse> {
    if req.method() == Method::OPTIONS {
        return Ok(HttpResponse::NoContent().finish());
    }
    Err(ApiError::method_not_allowed(
        req.method().as_str(),
        req.path(),
    ))
}

async fn unknown_route(req: HttpRequest) -> Result<HttpResponse> {
    if req.method() == Method::OPTIONS {
        return Ok(HttpResponse::NoContent().finish());
    }
    Err(ApiError::not_found(req.path()))
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// The per-request context every handler starts with: authenticated, with the base URL.
struct Ctx {
    base: String,
    account_sid: String,
}

fn ctx(req: &HttpRequest, emulator: &Emulator) -> Result<Ctx> {
    authenticate(req, emulator.settings())?;
    Ok(Ctx {
        base: base_url(req),
        account_sid: emulator.settings().account_sid.as_str().to_owned(),
    })
}

// ----- Rooms ---------------------------------------------------------------------------------

async fn create_room(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let params = read_form(&req, body, emulator.settings().body_limits()).await?;
    let request = create_request(&params)?;
    // Rules are checked before the room exists, so invalid rules (53120) create no room.
    let rules = params
        .get("RecordingRules")
        .map(|text| videoroom_emulator_adapter::parse_rules(RuleSet::Recording, text))
        .transpose()?;
    let room = emulator.store().create_room(&request)?;
    if let Some(rules) = rules {
        emulator
            .store()
            .set_recording_rules(&RoomKey::Sid(room.sid.clone()), rules)?;
    }
    Ok(json(
        StatusCode::CREATED,
        &RoomJson::new(&room, &ctx.base, &ctx.account_sid),
    ))
}

/// Every parameter [`create_request`] reads, as Twilio spells them (seed files are checked
/// against this list, so a misspelt one is named instead of ignored).
pub(crate) const CREATE_ROOM_PARAMETERS: &[&str] = &[
    "UniqueName",
    "Type",
    "MaxParticipants",
    "EmptyRoomTimeout",
    "UnusedRoomTimeout",
    "StatusCallback",
    "StatusCallbackMethod",
    "RecordParticipantsOnConnect",
    "VideoCodecs",
    "MediaRegion",
    "MaxParticipantDuration",
    "AudioOnly",
    "LargeRoom",
    "EnableTurn",
];

/// `POST /v1/Rooms` parameters; the store checks ranges and combinations.
pub(crate) fn create_request(p: &Params) -> Result<CreateRoom> {
    let unique_name = p
        .get("UniqueName")
        .map(RoomName::parse)
        .transpose()
        .map_err(StoreError::from)?;
    let room_type = p
        .get("Type")
        .map(RoomType::from_str)
        .transpose()
        .map_err(|e| StoreError::invalid_room_type(&e))?;
    let video_codecs = p.has("VideoCodecs").then(|| {
        p.all("VideoCodecs")
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect()
    });
    Ok(CreateRoom {
        unique_name,
        room_type,
        max_participants: p.u32("MaxParticipants")?,
        empty_room_timeout: p.u32("EmptyRoomTimeout")?,
        unused_room_timeout: p.u32("UnusedRoomTimeout")?,
        status_callback: p.get("StatusCallback").map(str::to_owned),
        status_callback_method: p.get("StatusCallbackMethod").map(str::to_owned),
        record_participants_on_connect: p.bool("RecordParticipantsOnConnect")?,
        video_codecs,
        media_region: p.get("MediaRegion").map(str::to_owned),
        max_participant_duration: p.u32("MaxParticipantDuration")?,
        audio_only: p.bool("AudioOnly")?,
        large_room: p.bool("LargeRoom")?,
        enable_turn: p.bool("EnableTurn")?,
    })
}

async fn list_rooms(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let p = Params::from_query(req.query_string());
    let status = p
        .get("Status")
        .map(|s| {
            RoomStatus::from_str(s).map_err(|_| {
                ApiError::invalid(format!(
                    "Invalid Status: expected in-progress, completed or failed (got '{s}')"
                ))
            })
        })
        .transpose()?;
    let paging = Paging::from_params(&p)?;
    let query = RoomQuery {
        status,
        unique_name: p.get("UniqueName").map(str::to_owned),
        created_after: p.date("DateCreatedAfter")?,
        created_before: p.date("DateCreatedBefore")?,
        page_size: paging.page_size,
        page_token: paging.page_token.clone(),
    };
    let page = emulator.store().list_rooms(&query)?;
    let filters = echoed(
        &p,
        &[
            "Status",
            "UniqueName",
            "DateCreatedAfter",
            "DateCreatedBefore",
        ],
    );
    let body = envelope(
        "rooms",
        &format!("{}/v1/Rooms", ctx.base),
        &filters,
        &paging,
        &page,
        |r| RoomJson::new(r, &ctx.base, &ctx.account_sid),
    );
    Ok(json(StatusCode::OK, &body))
}

/// The filters the client sent, in the given order, values as sent (for the meta URLs).
fn echoed<'a>(p: &Params, names: &[&'a str]) -> Vec<(&'a str, String)> {
    names
        .iter()
        .filter_map(|n| p.get(n).map(|v| (*n, v.to_owned())))
        .collect()
}

async fn fetch_room(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let room = room_key(&req)?;
    let record = emulator.store().fetch_room(&room)?;
    Ok(json(
        StatusCode::OK,
        &RoomJson::new(&record, &ctx.base, &ctx.account_sid),
    ))
}

async fn update_room(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    // The segment is read first and parsed after the body, so the answers keep their order: a
    // path that is not UTF-8, then the form, then an unknown room.
    let room = path_segment(&req, "room")?;
    let params = read_form(&req, body, emulator.settings().body_limits()).await?;
    let status = params
        .get("Status")
        .ok_or_else(|| ApiError::missing_parameter("Status"))?;
    let room = parse_room_key(&room)?;
    let record = complete_on_status(&emulator.store(), &room, status)?;
    Ok(json(
        StatusCode::ACCEPTED,
        &RoomJson::new(&record, &ctx.base, &ctx.account_sid),
    ))
}

/// `Status=<status>` of `POST /v1/Rooms/{room}`: Twilio accepts only `completed` (53112
/// otherwise), which completes the room.
fn complete_on_status(store: &Store, room: &RoomKey, status: &str) -> Result<RoomRecord> {
    if !matches!(status.parse::<RoomStatus>(), Ok(RoomStatus::Completed)) {
        // The room is looked up first, so an unknown room is a 404 whatever the status says.
        store.fetch_room(room)?;
        return Err(ApiError::coded(
            twilio_codes::ROOM_STATUS_INVALID,
            format!(
                "Status is invalid: a room can only be updated to 'completed' (got '{status}')"
            ),
        ));
    }
    Ok(store.complete_room(room)?)
}

// ----- Participants --------------------------------------------------------------------------

async fn list_participants(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let room = path_segment(&req, "room")?;
    let p = Params::from_query(req.query_string());
    let status = p
        .get("Status")
        .map(|s| {
            ParticipantStatus::from_str(s).map_err(|_| {
                ApiError::invalid(format!(
                    "Invalid Status: expected connected, disconnected or reconnecting (got '{s}')"
                ))
            })
        })
        .transpose()?;
    let paging = Paging::from_params(&p)?;
    let store = emulator.store();
    let room_sid = store.fetch_room(&parse_room_key(&room)?)?.sid;
    let query = ParticipantQuery {
        status,
        identity: p.get("Identity").map(str::to_owned),
        created_after: p.date("DateCreatedAfter")?,
        created_before: p.date("DateCreatedBefore")?,
        page_size: paging.page_size,
        page_token: paging.page_token.clone(),
    };
    let page = store.list_participants(&RoomKey::Sid(room_sid.clone()), &query)?;
    let filters = echoed(
        &p,
        &[
            "Status",
            "DateCreatedAfter",
            "DateCreatedBefore",
            "Identity",
        ],
    );
    let body = envelope(
        "participants",
        &format!("{}/Participants", room_url(&ctx.base, room_sid.as_str())),
        &filters,
        &paging,
        &page,
        |x| ParticipantJson::new(x, &ctx.base, &ctx.account_sid),
    );
    Ok(json(StatusCode::OK, &body))
}

async fn fetch_participant(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let store = emulator.store();
    let room = room_key(&req)?;
    let participant = participant_key(&req, &store, &room)?;
    let record = store.fetch_participant(&room, &participant)?;
    Ok(json(
        StatusCode::OK,
        &ParticipantJson::new(&record, &ctx.base, &ctx.account_sid),
    ))
}

async fn update_participant(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let store = emulator.store();
    // Read first, parsed after the body, as in `update_room`.
    let room = path_segment(&req, "room")?;
    let participant = path_segment(&req, "participant")?;
    let params = read_form(&req, body, emulator.settings().body_limits()).await?;
    let status = params
        .get("Status")
        .ok_or_else(|| ApiError::missing_parameter("Status"))?;
    let room = parse_room_key(&room)?;
    let participant = parse_participant_key(&store, &room, &participant)?;
    let record = disconnect_on_status(&store, &room, &participant, status)?;
    Ok(json(
        StatusCode::ACCEPTED,
        &ParticipantJson::new(&record, &ctx.base, &ctx.account_sid),
    ))
}

/// `Status=<status>` of `POST …/Participants/{participant}`: Twilio accepts only
/// `disconnected` (53209 otherwise), which removes the participant (reason
/// [`DisconnectReason::Kicked`]).
fn disconnect_on_status(
    store: &Store,
    room: &RoomKey,
    participant: &ParticipantKey,
    status: &str,
) -> Result<ParticipantRecord> {
    if !matches!(
        status.parse::<ParticipantStatus>(),
        Ok(ParticipantStatus::Disconnected)
    ) {
        // The participant is looked up first, so an unknown one is a 404 whatever the status.
        store.fetch_participant(room, participant)?;
        return Err(ApiError::coded(
            twilio_codes::PARTICIPANT_STATUS_INVALID,
            format!(
                "Participant status is invalid: a participant can only be updated to \
                 'disconnected' (got '{status}')"
            ),
        ));
    }
    Ok(store.disconnect_participant(room, participant, DisconnectReason::Kicked)?)
}

// ----- Tracks --------------------------------------------------------------------------------

/// What tells a participant's PublishedTracks from its SubscribedTracks. The two resources are
/// listed and fetched the same way, so the handlers are written once, in [`list_tracks`] and
/// [`fetch_track`], and cannot drift apart.
trait TrackResource: Clone {
    /// The URL segment under the participant, `PublishedTracks`.
    const SEGMENT: &'static str;
    /// The list envelope's key, `published_tracks`.
    const KEY: &'static str;
    type Json: Serialize;

    fn list(store: &Store, room: &RoomKey, participant: &ParticipantKey) -> StoreResult<Vec<Self>>;
    fn fetch(
        store: &Store,
        room: &RoomKey,
        participant: &ParticipantKey,
        track: &str,
    ) -> StoreResult<Self>;
    fn name(&self) -> &str;
    fn sort_key(&self) -> SortKey;
    fn json(&self, base: &str) -> Self::Json;
}

impl TrackResource for PublishedTrack {
    const SEGMENT: &'static str = "PublishedTracks";
    const KEY: &'static str = "published_tracks";
    type Json = PublishedTrackJson;

    fn list(store: &Store, room: &RoomKey, participant: &ParticipantKey) -> StoreResult<Vec<Self>> {
        store.published_tracks(room, participant)
    }
    fn fetch(
        store: &Store,
        room: &RoomKey,
        participant: &ParticipantKey,
        track: &str,
    ) -> StoreResult<Self> {
        store.fetch_published_track(room, participant, track)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn sort_key(&self) -> SortKey {
        SortKey::new(self.date_created, self.sid.as_str())
    }
    fn json(&self, base: &str) -> PublishedTrackJson {
        PublishedTrackJson::new(self, base)
    }
}

impl TrackResource for SubscribedTrack {
    const SEGMENT: &'static str = "SubscribedTracks";
    const KEY: &'static str = "subscribed_tracks";
    type Json = SubscribedTrackJson;

    fn list(store: &Store, room: &RoomKey, participant: &ParticipantKey) -> StoreResult<Vec<Self>> {
        store.subscribed_tracks(room, participant)
    }
    fn fetch(
        store: &Store,
        room: &RoomKey,
        participant: &ParticipantKey,
        track: &str,
    ) -> StoreResult<Self> {
        store.fetch_subscribed_track(room, participant, track)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn sort_key(&self) -> SortKey {
        SortKey::new(self.date_created, self.sid.as_str())
    }
    fn json(&self, base: &str) -> SubscribedTrackJson {
        SubscribedTrackJson::new(self, base)
    }
}

async fn list_tracks<T: TrackResource>(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let store = emulator.store();
    let room = room_key(&req)?;
    let participant = participant_key(&req, &store, &room)?;
    let who = store.fetch_participant(&room, &participant)?;
    let tracks = T::list(
        &store,
        &RoomKey::Sid(who.room_sid.clone()),
        &ParticipantKey::Sid(who.sid.clone()),
    )?;
    let p = Params::from_query(req.query_string());
    let paging = Paging::from_params(&p)?;
    let page = paginate(
        &tracks,
        T::sort_key,
        paging.page_size,
        paging.page_token.as_deref(),
    )?;
    let path = format!(
        "{}/{}",
        participant_url(&ctx.base, who.room_sid.as_str(), who.sid.as_str()),
        T::SEGMENT
    );
    let body = envelope(T::KEY, &path, &[], &paging, &page, |t| t.json(&ctx.base));
    Ok(json(StatusCode::OK, &body))
}

async fn fetch_track<T: TrackResource>(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let store = emulator.store();
    let room = room_key(&req)?;
    let participant = participant_key(&req, &store, &room)?;
    let track = path_segment(&req, "track")?;
    // Twilio addresses a track by SID or by name ({TrackNameOrSid}); the store also knows the
    // SDK's own track id.
    let record = match T::fetch(&store, &room, &participant, &track) {
        Err(err) if err.is_not_found() => T::list(&store, &room, &participant)?
            .into_iter()
            .find(|t| t.name() == track)
            .ok_or(err)?,
        other => other?,
    };
    Ok(json(StatusCode::OK, &record.json(&ctx.base)))
}

#[cfg(test)]
mod tests {
    use videoroom_core::Identity;

    use super::*;
    use crate::params::{parse_participant_key, parse_room_key};

    fn store_with_room(name: &str) -> (Store, RoomRecord) {
        let store = Store::default();
        let room = store
            .create_room(&CreateRoom {
                unique_name: Some(RoomName::parse(name).unwrap()),
                ..CreateRoom::default()
            })
            .unwrap();
        (store, room)
    }

    // Moved from the store's tests when `Status=` parsing left the store for this layer.
    #[test]
    fn only_in_progress_rooms_can_be_completed_and_only_to_completed() {
        let (store, room) = store_with_room("r");
        let r = parse_room_key("r").unwrap();
        let err = complete_on_status(&store, &r, "in-progress").unwrap_err();
        assert_eq!((err.code, err.status), (53112, 400));
        let err = complete_on_status(&store, &r, "").unwrap_err();
        assert_eq!(err.code, 53112);
        complete_on_status(&store, &r, "completed").unwrap();
        let err = ApiError::from(store.complete_room(&RoomKey::Sid(room.sid)).unwrap_err());
        assert_eq!((err.code, err.status), (53112, 400));
        let err = complete_on_status(&store, &r, "completed").unwrap_err();
        assert_eq!(
            err.code, 20404,
            "the name no longer resolves once the room ended"
        );
        let nosuchroom = parse_room_key("nosuchroom").unwrap();
        let err = complete_on_status(&store, &nosuchroom, "bogus").unwrap_err();
        assert_eq!(
            err.code, 20404,
            "an unknown room is a 404 whatever the status"
        );
    }

    // Moved from the store's tests when path segments began to be parsed here, once.
    #[test]
    fn unknown_or_malformed_room_references_are_404s_not_panics() {
        let store = Store::default();
        let alice = || ParticipantKey::parse("alice").unwrap();
        for key in [
            "",
            "RM",
            "RMzz",
            "RM00000000000000000000000000000001",
            "é/?",
            "\u{0}",
        ] {
            let err = parse_room_key(key)
                .and_then(|k| Ok(store.fetch_room(&k)?))
                .unwrap_err();
            assert_eq!(err.code, 20404, "{key:?}");
            assert_eq!(
                parse_room_key(key)
                    .and_then(|k| Ok(store.complete_room(&k)?))
                    .unwrap_err()
                    .code,
                20404
            );
            assert_eq!(
                parse_room_key(key)
                    .and_then(|k| Ok(store.fetch_participant(&k, &alice())?))
                    .unwrap_err()
                    .code,
                20404
            );
        }
    }

    #[test]
    fn a_participant_reference_that_is_no_identity_is_a_404_after_the_room() {
        let (store, _) = store_with_room("r");
        let too_long = "x".repeat(200);
        let err =
            parse_participant_key(&store, &parse_room_key("r").unwrap(), &too_long).unwrap_err();
        assert_eq!(
            err.message,
            format!("The requested resource /Rooms/r/Participants/{too_long} was not found")
        );
        let err =
            parse_participant_key(&store, &parse_room_key("gone").unwrap(), &too_long).unwrap_err();
        assert_eq!(
            err.message,
            "The requested resource /Rooms/gone was not found"
        );
    }

    // Moved from the store's tests when `Status=` parsing left the store for this layer.
    #[test]
    fn kicking_over_rest_accepts_only_disconnected() {
        let (store, _) = store_with_room("r");
        let r = parse_room_key("r").unwrap();
        let alice = Identity::parse("alice").unwrap();
        store.connect_participant(&r, &alice, None).unwrap();
        let alice = ParticipantKey::from(alice);
        let err = disconnect_on_status(&store, &r, &alice, "connected").unwrap_err();
        assert_eq!((err.code, err.status), (53209, 400));
        let kicked = disconnect_on_status(&store, &r, &alice, "disconnected").unwrap();
        assert_eq!(kicked.disconnect_reason, Some(DisconnectReason::Kicked));
        let nobody = ParticipantKey::parse("nobody").unwrap();
        let err = disconnect_on_status(&store, &r, &nobody, "disconnected").unwrap_err();
        assert_eq!(err.code, 20404);
    }
}
