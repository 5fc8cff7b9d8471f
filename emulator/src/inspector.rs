//! The inspector: a live page at `GET /emulator` showing rooms, participants, tracks and status
//! callbacks, fed by `GET /emulator/state`. The page is open; its feed is open to this computer
//! (loopback clients) and asks other clients for the account's credentials (see [`state`]).
//! Neither shows a secret: callback URLs lose their query strings (they may carry tokens) and
//! no credential appears.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use std::collections::HashMap;

use videoroom_emulator_adapter::InspectedRoom;
#[cfg(doc)]
use videoroom_emulator_adapter::Store;
use videoroom_media::forward::{ParticipantStats, TrackStats};

use crate::auth::authenticate;
use crate::error::ApiError;
use crate::guard::is_loopback_peer;
use crate::params::{format_time, Params};
use crate::Emulator;

/// How many in-progress rooms the inspector shows by default (the oldest).
const DEFAULT_IN_PROGRESS_ROOMS: usize = 100;
/// How many ended rooms the inspector shows by default (the most recent).
const DEFAULT_ENDED_ROOMS: usize = 20;
/// The most rooms of either kind one answer may show.
const MAX_ROOMS_SHOWN: usize = 1000;
/// How many participants of one room are shown (connected ones first).
const PARTICIPANTS_PER_ROOM: usize = 100;
/// How many callbacks the inspector shows (the most recent).
const RECENT_CALLBACKS: usize = 50;

const PAGE: &str = include_str!("inspector.html");

pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(PAGE)
}

#[derive(Serialize)]
struct State {
    now: String,
    clock_offset_seconds: u64,
    /// The account shown (`AccountSid=`, the first account by default).
    account_sid: String,
    /// Every account of the emulator, the first one first, for the page's account choice.
    accounts: Vec<String>,
    /// In-progress rooms in all (the answer shows at most `PageSize` of them).
    rooms_in_progress: usize,
    /// Ended rooms in all (the answer shows the `ended` most recent).
    rooms_ended: usize,
    rooms: Vec<RoomView>,
    callbacks: Vec<CallbackView>,
}

#[derive(Serialize)]
struct RoomView {
    sid: String,
    unique_name: String,
    status: &'static str,
    #[serde(rename = "type")]
    room_type: &'static str,
    max_participants: u32,
    date_created: String,
    end_time: Option<String>,
    has_status_callback: bool,
    /// Participants that ever joined (at most 100 are shown).
    participants_total: usize,
    participants: Vec<ParticipantView>,
}

#[derive(Serialize)]
struct ParticipantView {
    sid: String,
    identity: String,
    status: &'static str,
    start_time: String,
    end_time: Option<String>,
    tracks: Vec<TrackView>,
    /// What the media server carries for it (group rooms through the media server only).
    #[serde(skip_serializing_if = "Option::is_none")]
    media: Option<MediaView>,
}

/// A participant's tracks on the media server, with its packet counts.
#[derive(Serialize)]
struct MediaView {
    /// Tracks it sends to the server.
    publishes: Vec<MediaTrackView>,
    /// Other participants' tracks the server sends it.
    receives: Vec<MediaTrackView>,
}

#[derive(Serialize)]
struct MediaTrackView {
    /// The publisher's participant SID.
    publisher: String,
    /// The publisher's id of the track (its `a=msid`).
    track_id: String,
    kind: &'static str,
    packets: u64,
    bytes: u64,
    bitrate_bps: u64,
}

impl MediaView {
    fn of(stats: &ParticipantStats) -> Self {
        let tracks = |list: &[TrackStats]| {
            list.iter()
                .map(|t| MediaTrackView {
                    publisher: t.publisher.clone(),
                    track_id: t.track_id.clone(),
                    kind: t.kind,
                    packets: t.counters.packets,
                    bytes: t.counters.bytes,
                    bitrate_bps: t.counters.bitrate_bps,
                })
                .collect()
        };
        Self {
            publishes: tracks(&stats.publishes),
            receives: tracks(&stats.receives),
        }
    }
}

#[derive(Serialize)]
struct TrackView {
    sid: String,
    name: String,
    kind: &'static str,
    enabled: bool,
}

#[derive(Serialize)]
struct CallbackView {
    id: u64,
    event: String,
    room_sid: String,
    /// Scheme, host and path only.
    url: String,
    method: String,
    state: crate::DeliveryState,
    status_code: Option<u16>,
    error: Option<String>,
    attempts: u32,
    timestamp: String,
}

/// `GET /emulator/state`: the inspector's feed, bounded whatever the store holds: the oldest
/// `PageSize` in-progress rooms (default 100), the `ended` most recently ended rooms (default
/// 20), at most 100 participants per room, and the last 50 callbacks, with totals so the page
/// can say what it left out. It copies only what it shows (see [`Store::inspect`]), which
/// costs about as much as one REST page, so it runs on the worker like one (no `web::block`).
///
/// Who may read it: a client on this computer (a loopback peer) freely, as the inspector tab
/// of the person running the server; any other client only with the account's credentials
/// (HTTP Basic, as `/v1`), because the feed lists every room and identity and, bound to a LAN
/// address, the whole network could otherwise read it. The page asks for them on a 401.
pub async fn state(
    req: HttpRequest,
    emulator: web::Data<Emulator>,
) -> Result<HttpResponse, ApiError> {
    let query = Params::from_query(req.query_string());
    // One account at a time, as each sees only its own rooms; from another computer, only the
    // account whose credentials came with the request (they are checked against it below).
    let emulator = match query.get("AccountSid") {
        None => emulator.get_ref().clone(),
        Some(sid) => emulator.account(sid).ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid AccountSid: '{sid}' is not an account of this emulator (the first \
                 account is shown without AccountSid)"
            ))
        })?,
    };
    if !is_loopback_peer(&req) {
        authenticate(&req, emulator.settings())?;
    }
    let in_progress = limit(&query, "PageSize", DEFAULT_IN_PROGRESS_ROOMS)?;
    let ended = limit(&query, "ended", DEFAULT_ENDED_ROOMS)?;
    let store = emulator.store();
    let seen = store.inspect(in_progress, ended, PARTICIPANTS_PER_ROOM);
    // The media server's figures, by participant SID (it knows participants by their SID).
    let media: HashMap<String, ParticipantStats> = emulator
        .media_plane()
        .and_then(|plane| plane.bound().map(videoroom_media::Sfu::stats))
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.participant.clone(), p))
        .collect();
    let rooms = seen.rooms.iter().map(|r| room_view(r, &media)).collect();
    let deliveries = emulator.deliveries();
    let skip = deliveries.len().saturating_sub(RECENT_CALLBACKS);
    let callbacks = deliveries[skip..]
        .iter()
        .rev()
        .map(|d| CallbackView {
            id: d.id,
            event: d.event.clone(),
            room_sid: d.room_sid.clone(),
            url: crate::callbacks::without_query(&d.url),
            method: d.method.clone(),
            state: d.state,
            status_code: d.status_code,
            error: d.error.clone(),
            attempts: d.attempts,
            timestamp: d.timestamp.clone(),
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(State {
            now: format_time(seen.now),
            clock_offset_seconds: emulator.offset_clock().offset().as_secs(),
            account_sid: emulator.settings().account_sid.as_str().to_owned(),
            accounts: emulator.account_sids(),
            rooms_in_progress: seen.in_progress_total,
            rooms_ended: seen.ended_total,
            rooms,
            callbacks,
        }))
}

/// A count parameter from 0 to [`MAX_ROOMS_SHOWN`], or `default` when absent.
fn limit(query: &Params, name: &str, default: usize) -> Result<usize, ApiError> {
    let Some(raw) = query.get(name) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n <= MAX_ROOMS_SHOWN)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid {name}: expected a whole number from 0 to {MAX_ROOMS_SHOWN} (got '{raw}')"
            ))
        })
}

fn room_view(room: &InspectedRoom, media: &HashMap<String, ParticipantStats>) -> RoomView {
    let participants = room
        .participants
        .iter()
        .map(|p| ParticipantView {
            sid: p.record.sid.as_str().to_owned(),
            identity: p.record.identity.as_str().to_owned(),
            status: p.record.status.as_str(),
            start_time: format_time(p.record.start_time),
            end_time: p.record.end_time.map(format_time),
            tracks: p
                .tracks
                .iter()
                .map(|t| TrackView {
                    sid: t.sid.as_str().to_owned(),
                    name: t.name.clone(),
                    kind: t.kind.as_str(),
                    enabled: t.enabled,
                })
                .collect(),
            media: media.get(p.record.sid.as_str()).map(MediaView::of),
        })
        .collect();
    let record = &room.record;
    RoomView {
        sid: record.sid.as_str().to_owned(),
        unique_name: record.unique_name.clone(),
        status: record.status.as_str(),
        room_type: record.room_type.as_str(),
        max_participants: record.max_participants,
        date_created: format_time(record.date_created),
        end_time: record.end_time.map(format_time),
        has_status_callback: record.status_callback.is_some(),
        participants_total: room.participants_total,
        participants,
    }
}
