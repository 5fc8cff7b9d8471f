//! `RecordingRules` (per room), `SubscribeRules` (per participant) and `Anonymize`: the
//! configuration sub-resources of rooms and participants. The store checks and keeps them
//! (`videoroom_emulator_adapter::rules`); these handlers only read the form and shape the JSON.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use videoroom_core::{twilio_codes, RoomKey};
use videoroom_emulator_adapter::{parse_rules, ParticipantKey, RuleSet, StoreError};

use super::{ctx, json, resource, Result};
use crate::error::ApiError;
use crate::media::uses_media_server;
use crate::params::{parse_participant_key, parse_room_key, path_segment, read_form};
use crate::resources::{AnonymizeJson, RecordingRulesJson, SubscribeRulesJson};
use crate::Emulator;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    let participant = "/Rooms/{room}/Participants/{participant}";
    cfg.service(
        resource("/Rooms/{room}/RecordingRules")
            .get(fetch_recording_rules)
            .post(update_recording_rules),
    )
    .service(
        resource(&format!("{participant}/SubscribeRules"))
            .get(fetch_subscribe_rules)
            .post(update_subscribe_rules),
    )
    .service(resource(&format!("{participant}/Anonymize")).post(anonymize));
}

/// The `Rules` form parameter, checked for `set`; 53120/53215 when it is missing, as for any
/// invalid rules.
fn rules_param(
    params: &crate::params::Params,
    set: RuleSet,
) -> Result<Vec<videoroom_emulator_adapter::Rule>> {
    let text = params.get("Rules").unwrap_or("");
    Ok(parse_rules(set, text)?)
}

async fn fetch_recording_rules(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    let room = parse_room_key(&path_segment(&req, "room")?)?;
    let (sid, rules) = emulator.store().recording_rules(&room)?;
    Ok(json(
        StatusCode::OK,
        &RecordingRulesJson::new(sid.as_str(), &rules),
    ))
}

async fn update_recording_rules(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    let room = path_segment(&req, "room")?;
    let params = read_form(&req, body, emulator.settings().body_limits()).await?;
    let room = parse_room_key(&room)?;
    let store = emulator.store();
    // An unknown room is a 404 whatever the rules say.
    store.fetch_room(&room)?;
    let rules = rules_param(&params, RuleSet::Recording)?;
    let (sid, rules) = store.set_recording_rules(&room, rules)?;
    // Rules changed mid-room start and stop recordings at once, as on Twilio.
    emulator.recordings().sync_room(&RoomKey::Sid(sid.clone()));
    Ok(json(
        StatusCode::OK,
        &RecordingRulesJson::new(sid.as_str(), &rules),
    ))
}

async fn fetch_subscribe_rules(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    let store = emulator.store();
    let (room, participant) = participant_path(&req, &store)?;
    let (record, rules) = store.subscribe_rules(&room, &participant)?;
    Ok(json(
        StatusCode::OK,
        &SubscribeRulesJson::new(&record, &rules),
    ))
}

async fn update_subscribe_rules(
    req: HttpRequest,
    body: web::Payload,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse> {
    ctx(&req, &emulator)?;
    let room = path_segment(&req, "room")?;
    let participant = path_segment(&req, "participant")?;
    let params = read_form(&req, body, emulator.settings().body_limits()).await?;
    let store = emulator.store();
    let room = parse_room_key(&room)?;
    let participant = parse_participant_key(&store, &room, &participant)?;
    let room_record = store.fetch_room(&room)?;
    store.fetch_participant(&room, &participant)?;
    // A mesh cannot leave a track out: the browsers connect to each other directly. Rules
    // that would not be applied are refused rather than shown as if they were.
    if emulator.inner.media.is_none() || !uses_media_server(room_record.room_type) {
        return Err(StoreError::new(
            twilio_codes::PARAMETER_INCOMPATIBLE_WITH_TYPE,
            format!(
                "Subscribe rules apply only to rooms that go through the media server (group \
                 and group-small rooms, with media.mode sfu); room {} is a {} room{}",
                room_record.sid,
                room_record.room_type.as_str(),
                if emulator.inner.media.is_none() {
                    " and the emulator runs with media.mode mesh"
                } else {
                    ""
                }
            ),
        )
        .into());
    }
    let rules = rules_param(&params, RuleSet::Subscribe)?;
    let (record, rules) = store.set_subscribe_rules(&room, &participant, rules)?;
    // The client's `subscribed` list and the media server follow the new rules.
    emulator
        .inner
        .signaling
        .subscriptions_changed(&record.room_sid, &record.sid);
    Ok(json(
        StatusCode::OK,
        &SubscribeRulesJson::new(&record, &rules),
    ))
}

async fn anonymize(req: HttpRequest, emulator: web::Data<Emulator>) -> Result<HttpResponse> {
    let ctx = ctx(&req, &emulator)?;
    let store = emulator.store();
    let (room, participant) = participant_path(&req, &store)?;
    let record = store.anonymize_participant(&room, &participant)?;
    // The store's record is what REST, the inspector and later callbacks show; the callback
    // log keeps copies of what was sent, rewritten here.
    emulator.account.callbacks.anonymize(record.sid.as_str());
    Ok(json(
        StatusCode::OK,
        &AnonymizeJson::new(&record, &ctx.base, &ctx.account_sid),
    ))
}

fn participant_path(
    req: &HttpRequest,
    store: &videoroom_emulator_adapter::Store,
) -> std::result::Result<(RoomKey, ParticipantKey), ApiError> {
    let room = parse_room_key(&path_segment(req, "room")?)?;
    let participant = parse_participant_key(store, &room, &path_segment(req, "participant")?)?;
    Ok((room, participant))
}
