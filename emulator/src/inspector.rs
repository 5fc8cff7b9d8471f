//! The inspector: a live page at `GET /emulator` showing rooms, participants, tracks and status
//! callbacks, fed by `GET /emulator/state`. Both are open without credentials so a workshop
//! attendee can keep the page in a tab, so neither shows a secret: callback URLs lose their
//! query strings (they may carry tokens) and no credential appears.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use videoroom_core::{RoomKey, RoomQuery, RoomStatus};
use videoroom_emulator_adapter::{
    ParticipantKey, ParticipantQuery, ParticipantStatus, RoomRecord, Store, MAX_PAGE_SIZE,
};

use crate::params::format_time;
use crate::Emulator;

/// How many ended rooms the inspector shows (the most recent).
const RECENT_ENDED_ROOMS: usize = 20;
/// How many callbacks the inspector shows (the most recent).
const RECENT_CALLBACKS: usize = 50;
/// Upper bound on the pages read per listing, so a huge store cannot stall the page.
const MAX_PAGES: usize = 20;

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
    account_sid: String,
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

pub async fn state(emulator: web::Data<Emulator>) -> HttpResponse {
    let store = emulator.store();
    let mut rooms = all_rooms(&store, RoomStatus::InProgress);
    let mut ended = all_rooms(&store, RoomStatus::Completed);
    let skip = ended.len().saturating_sub(RECENT_ENDED_ROOMS);
    rooms.extend(ended.drain(skip..).rev());
    let rooms = rooms.iter().map(|r| room_view(&store, r)).collect();
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
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(State {
            now: format_time(store.now()),
            clock_offset_seconds: emulator.offset_clock().offset().as_secs(),
            account_sid: emulator.settings().account_sid.as_str().to_owned(),
            rooms,
            callbacks,
        })
}

fn all_rooms(store: &Store, status: RoomStatus) -> Vec<RoomRecord> {
    let mut out = Vec::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let query = RoomQuery {
            status: Some(status),
            page_size: Some(MAX_PAGE_SIZE),
            page_token: token.take(),
            ..RoomQuery::default()
        };
        let Ok(page) = store.list_rooms(&query) else {
            break;
        };
        out.extend(page.items);
        match page.next_page {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    out
}

fn room_view(store: &Store, room: &RoomRecord) -> RoomView {
    let key = RoomKey::Sid(room.sid.clone());
    let mut participants = Vec::new();
    for status in [
        ParticipantStatus::Connected,
        ParticipantStatus::Disconnected,
    ] {
        let query = ParticipantQuery {
            status: Some(status),
            page_size: Some(MAX_PAGE_SIZE),
            ..ParticipantQuery::default()
        };
        if let Ok(page) = store.list_participants(&key, &query) {
            participants.extend(page.items.into_iter().map(|p| {
                // A participant removed by a reset since the listing simply shows no tracks.
                let tracks = store
                    .published_tracks(&key, &ParticipantKey::Sid(p.sid.clone()))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| TrackView {
                        sid: t.sid.as_str().to_owned(),
                        name: t.name,
                        kind: t.kind.as_str(),
                        enabled: t.enabled,
                    })
                    .collect();
                ParticipantView {
                    sid: p.sid.as_str().to_owned(),
                    identity: p.identity.as_str().to_owned(),
                    status: p.status.as_str(),
                    start_time: format_time(p.start_time),
                    end_time: p.end_time.map(format_time),
                    tracks,
                }
            }));
        }
    }
    RoomView {
        sid: room.sid.as_str().to_owned(),
        unique_name: room.unique_name.clone(),
        status: room.status.as_str(),
        room_type: room.room_type.as_str(),
        max_participants: room.max_participants,
        date_created: format_time(room.date_created),
        end_time: room.end_time.map(format_time),
        has_status_callback: room.status_callback.is_some(),
        participants,
    }
}
