//! The store's rules, each observed through its public API on a manual clock.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::mpsc::UnboundedReceiver;
use videoroom_core::{
    BackendError, Identity, RoomBackend, RoomKey, RoomName, RoomQuery, RoomSid, RoomStatus,
    RoomType,
};
use videoroom_emulator_adapter::{
    parse_rules, CallbackHosts, Clock, CreateRoom, DisconnectReason, EmulatorBackend, ManualClock,
    ParticipantKey, ParticipantQuery, ParticipantStatus, PublishTrack, RoomEndReason, RoomRecord,
    RuleSet, Store, StoreError, StoreEvent, StoreEventKind, TrackKind,
};

fn setup() -> (Arc<ManualClock>, Arc<Store>) {
    let clock = Arc::new(ManualClock::fixed());
    let store = Arc::new(Store::new(clock.clone()));
    (clock, store)
}

fn name(s: &str) -> RoomName {
    RoomName::parse(s).expect("test room names are valid")
}

fn id(s: &str) -> Identity {
    Identity::parse(s).expect("test identities are valid")
}

/// A room reference (a SID or a unique name), parsed as the REST face parses a path segment.
fn room_key(s: &str) -> RoomKey {
    RoomKey::parse(s).expect("test room references are valid")
}

/// A participant reference (a SID or an identity), parsed as the REST face parses one.
fn who(s: &str) -> ParticipantKey {
    ParticipantKey::parse(s).expect("test participant references are valid")
}

fn named(s: &str) -> CreateRoom {
    CreateRoom {
        unique_name: Some(name(s)),
        ..CreateRoom::default()
    }
}

fn typed(s: &str, room_type: RoomType) -> CreateRoom {
    CreateRoom {
        room_type: Some(room_type),
        ..named(s)
    }
}

fn create(store: &Store, s: &str) -> RoomRecord {
    store
        .create_room(&named(s))
        .unwrap_or_else(|e| panic!("creating room {s}: {e}"))
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The fixed manual clock's start plus `offset` seconds.
fn t0_plus(offset: i64) -> OffsetDateTime {
    ManualClock::fixed().now() + time::Duration::seconds(offset)
}

fn drain(rx: &mut UnboundedReceiver<StoreEvent>) -> Vec<StoreEvent> {
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    events
}

fn kinds(events: &[StoreEvent]) -> Vec<StoreEventKind> {
    events.iter().map(|e| e.kind).collect()
}

fn video(client_id: &str) -> PublishTrack {
    PublishTrack {
        client_id: client_id.to_owned(),
        kind: TrackKind::Video,
        name: String::new(),
        enabled: true,
    }
}

// ----- Rooms ---------------------------------------------------------------------------------

#[test]
fn a_room_created_without_parameters_has_every_twilio_default() {
    let (clock, store) = setup();
    let room = store.create_room(&CreateRoom::default()).unwrap();
    assert!(room.sid.as_str().starts_with("RM"));
    assert_eq!(
        room.unique_name,
        room.sid.as_str(),
        "unique_name defaults to the SID"
    );
    assert_eq!(room.status, RoomStatus::InProgress);
    assert_eq!(room.room_type, RoomType::Group);
    assert_eq!(room.max_participants, 50);
    assert_eq!((room.empty_room_timeout, room.unused_room_timeout), (5, 5));
    assert!(room.enable_turn);
    assert_eq!(room.max_participant_duration, 14_400);
    assert_eq!(room.max_concurrent_published_tracks, 170);
    assert!(!room.record_participants_on_connect);
    assert_eq!(room.video_codecs, vec!["VP8".to_owned()]);
    assert_eq!(room.media_region, "us1");
    assert!(!room.audio_only && !room.large_room && !room.ad_hoc);
    assert_eq!(room.status_callback, None);
    assert_eq!(room.status_callback_method, "POST");
    assert_eq!(room.date_created, clock.now());
    assert_eq!(room.date_updated, room.date_created);
    assert_eq!(
        (room.end_time, room.duration, room.end_reason),
        (None, None, None)
    );
    let found = store.fetch_room(&room_key(room.sid.as_str())).unwrap();
    assert_eq!(found, room);
}

#[test]
fn timestamps_are_whole_utc_seconds_even_when_the_clock_is_not() {
    let (clock, store) = setup();
    clock.set(time::macros::datetime!(2026-03-01 12:00:00.999 +09:00));
    let room = create(&store, "r");
    assert_eq!(
        room.date_created,
        time::macros::datetime!(2026-03-01 03:00:00 UTC)
    );
    assert_eq!(room.date_created.offset(), time::UtcOffset::UTC);
}

#[test]
fn every_room_gets_its_own_sid() {
    let (_, store) = setup();
    let a = store.create_room(&CreateRoom::default()).unwrap();
    let b = store.create_room(&CreateRoom::default()).unwrap();
    assert_ne!(a.sid, b.sid);
}

#[test]
fn a_second_in_progress_room_with_the_same_name_is_refused_with_53113() {
    let (_, store) = setup();
    create(&store, "myroom");
    let err = store.create_room(&named("myroom")).unwrap_err();
    assert_eq!((err.code, err.message.as_str()), (53113, "Room exists"));
}

#[test]
fn max_participants_must_be_between_1_and_the_types_cap() {
    let (_, store) = setup();
    for (room_type, cap) in [
        (RoomType::Go, 2),
        (RoomType::PeerToPeer, 10),
        (RoomType::GroupSmall, 4),
        (RoomType::Group, 50),
    ] {
        let ok = store
            .create_room(&CreateRoom {
                max_participants: Some(cap),
                ..typed(&format!("{room_type}-ok"), room_type)
            })
            .unwrap();
        assert_eq!(ok.max_participants, cap);
        let default = store.create_room(&typed(&format!("{room_type}-default"), room_type));
        assert_eq!(
            default.unwrap().max_participants,
            cap,
            "{room_type} defaults to its cap"
        );
        for bad in [0, cap + 1] {
            let err = store
                .create_room(&CreateRoom {
                    max_participants: Some(bad),
                    ..typed(&format!("{room_type}-{bad}"), room_type)
                })
                .unwrap_err();
            assert_eq!(err.code, 53107, "{bad} on {room_type}");
            assert!(err.message.starts_with("MaxParticipants is out of range"));
        }
    }
}

#[test]
fn a_large_group_room_holds_up_to_100_and_is_refused_on_other_types() {
    let (_, store) = setup();
    let large = store
        .create_room(&CreateRoom {
            large_room: Some(true),
            max_participants: Some(100),
            ..named("large")
        })
        .unwrap();
    assert!(large.large_room);
    let err = store
        .create_room(&CreateRoom {
            large_room: Some(true),
            ..typed("large-go", RoomType::Go)
        })
        .unwrap_err();
    assert_eq!(err.code, 53114);
}

#[test]
fn room_timeouts_must_be_1_to_60_minutes() {
    let (_, store) = setup();
    for bad in [0, 61, u32::MAX] {
        for (empty, unused) in [(Some(bad), None), (None, Some(bad))] {
            let err = store
                .create_room(&CreateRoom {
                    empty_room_timeout: empty,
                    unused_room_timeout: unused,
                    ..named("t")
                })
                .unwrap_err();
            assert_eq!(err.code, 53109);
        }
    }
    let ok = store
        .create_room(&CreateRoom {
            empty_room_timeout: Some(1),
            unused_room_timeout: Some(60),
            ..named("t")
        })
        .unwrap();
    assert_eq!((ok.empty_room_timeout, ok.unused_room_timeout), (1, 60));
}

#[test]
fn max_participant_duration_must_be_at_most_24_hours() {
    let (_, store) = setup();
    for bad in [0, 86_401] {
        let err = store
            .create_room(&CreateRoom {
                max_participant_duration: Some(bad),
                ..named("d")
            })
            .unwrap_err();
        assert_eq!(err.code, 53109, "{bad}");
    }
    let ok = store
        .create_room(&CreateRoom {
            max_participant_duration: Some(86_400),
            ..named("d")
        })
        .unwrap();
    assert_eq!(ok.max_participant_duration, 86_400);
}

#[test]
fn a_status_callback_must_be_an_absolute_http_url_and_its_method_get_or_post() {
    let (_, store) = setup();
    let long = format!("https://example.test/{}", "a".repeat(2100));
    for bad in [
        "not a url",
        "/relative",
        "ftp://example.test/cb",
        "http://",
        long.as_str(),
    ] {
        let err = store
            .create_room(&CreateRoom {
                status_callback: Some(bad.to_owned()),
                ..named("cb")
            })
            .unwrap_err();
        assert_eq!(err.code, 53111, "{bad:?}");
    }
    let err = store
        .create_room(&CreateRoom {
            status_callback_method: Some("PUT".to_owned()),
            ..named("cb")
        })
        .unwrap_err();
    assert_eq!(err.code, 53110);
    let ok = store
        .create_room(&CreateRoom {
            status_callback: Some("http://127.0.0.1:9/cb?x=1".to_owned()),
            status_callback_method: Some("get".to_owned()),
            ..named("cb")
        })
        .unwrap();
    assert_eq!(
        ok.status_callback.as_deref(),
        Some("http://127.0.0.1:9/cb?x=1")
    );
    assert_eq!(ok.status_callback_method, "GET");
}

#[test]
fn a_status_callback_to_a_host_beyond_loopback_is_refused_unless_the_setting_allows_it() {
    let (_, store) = setup();
    for far in [
        "http://192.168.1.1/admin",
        "https://hooks.example.test/cb",
        "http://169.254.169.254/latest/meta-data",
    ] {
        let err = store
            .create_room(&CreateRoom {
                status_callback: Some(far.to_owned()),
                ..named("far")
            })
            .unwrap_err();
        assert_eq!(err.code, 53111, "{far}");
        assert!(
            err.message.contains("VIDEOROOM_CALLBACK_HOSTS"),
            "{}",
            err.message
        );
    }
    let open = Store::with_callback_hosts(
        Arc::new(ManualClock::fixed()),
        CallbackHosts::parse(["hooks.example.test"]).expect("a valid host"),
    );
    open.create_room(&CreateRoom {
        status_callback: Some("https://hooks.example.test/cb".to_owned()),
        ..named("far")
    })
    .expect("a configured callback host is accepted");
}

#[test]
fn an_inspection_copies_only_the_rooms_it_shows_and_counts_the_rest() {
    let (clock, store) = setup();
    for i in 0..30 {
        clock.advance(Duration::from_secs(1));
        let room = store.create_room(&named(&format!("r{i}"))).unwrap();
        if i % 3 != 0 {
            store.complete_room(&RoomKey::Sid(room.sid)).unwrap();
        }
    }
    let seen = store.inspect(4, 5, 10);
    assert_eq!((seen.in_progress_total, seen.ended_total), (10, 20));
    let names: Vec<&str> = seen
        .rooms
        .iter()
        .map(|r| r.record.unique_name.as_str())
        .collect();
    // The oldest in-progress rooms, then the most recently ended first.
    assert_eq!(
        names,
        ["r0", "r3", "r6", "r9", "r29", "r28", "r26", "r25", "r23"]
    );
}

#[test]
fn recording_and_audio_only_are_refused_on_room_types_that_cannot_have_them() {
    let (_, store) = setup();
    for room_type in [RoomType::Go, RoomType::PeerToPeer] {
        let err = store
            .create_room(&CreateRoom {
                record_participants_on_connect: Some(true),
                ..typed("rec", room_type)
            })
            .unwrap_err();
        assert_eq!(err.code, 53114, "recording on {room_type}");
    }
    for room_type in [RoomType::Go, RoomType::PeerToPeer, RoomType::GroupSmall] {
        let err = store
            .create_room(&CreateRoom {
                audio_only: Some(true),
                ..typed("audio", room_type)
            })
            .unwrap_err();
        assert_eq!(err.code, 53124, "audio-only on {room_type}");
    }
    let audio = store
        .create_room(&CreateRoom {
            audio_only: Some(true),
            record_participants_on_connect: Some(true),
            ..named("audio")
        })
        .unwrap();
    assert!(audio.audio_only && audio.record_participants_on_connect);
    assert!(
        audio.video_codecs.is_empty(),
        "audio-only rooms list no video codec"
    );
}

#[test]
fn media_regions_and_video_codecs_are_checked_and_normalised() {
    let (_, store) = setup();
    let err = store
        .create_room(&CreateRoom {
            media_region: Some("mars1".to_owned()),
            ..named("m")
        })
        .unwrap_err();
    assert_eq!(err.code, 53115);
    let err = store
        .create_room(&CreateRoom {
            video_codecs: Some(vec!["AV1".to_owned()]),
            ..named("m")
        })
        .unwrap_err();
    assert_eq!(err.code, 20001);
    let ok = store
        .create_room(&CreateRoom {
            media_region: Some("DE1".to_owned()),
            video_codecs: Some(vec!["h264".into(), "VP8".into(), "H264".into()]),
            ..named("m")
        })
        .unwrap();
    assert_eq!(ok.media_region, "de1");
    assert_eq!(ok.video_codecs, vec!["H264".to_owned(), "VP8".to_owned()]);
    for region in videoroom_emulator_adapter::MEDIA_REGIONS {
        let room = store
            .create_room(&CreateRoom {
                media_region: Some(region.to_owned()),
                ..CreateRoom::default()
            })
            .unwrap();
        assert_eq!(room.media_region, region);
    }
}

#[test]
fn completing_a_room_ends_it_frees_its_name_and_keeps_it_by_sid() {
    let (clock, store) = setup();
    let room = create(&store, "myroom");
    clock.advance(secs(90));
    let done = store.complete_room(&room_key("myroom")).unwrap();
    assert_eq!(done.status, RoomStatus::Completed);
    assert_eq!(done.end_time, Some(clock.now()));
    assert_eq!(done.duration, Some(90));
    assert_eq!(done.date_updated, clock.now());
    assert_eq!(done.end_reason, Some(RoomEndReason::Completed));

    let err = store.fetch_room(&room_key("myroom")).unwrap_err();
    assert_eq!(err.code, 20404);
    assert_eq!(
        err.message,
        "The requested resource /Rooms/myroom was not found"
    );
    assert_eq!(
        store.fetch_room(&room_key(room.sid.as_str())).unwrap(),
        done
    );

    let again = store.create_room(&named("myroom")).unwrap();
    assert_ne!(again.sid, room.sid);
    assert_eq!(
        store.fetch_room(&room_key("myroom")).unwrap().sid,
        again.sid
    );
}

// `Status=` of `POST /v1/Rooms/{room}` is read by the emulator's REST face, whose tests check
// that only `completed` is accepted (53112) and that an unknown room is a 404 whatever it says.

#[test]
fn only_in_progress_rooms_can_be_completed() {
    let (_, store) = setup();
    let room = create(&store, "r");
    store.complete_room(&room_key("r")).unwrap();
    let err = store
        .complete_room(&room_key(room.sid.as_str()))
        .unwrap_err();
    assert_eq!(err.code, 53112);
    let err = store.complete_room(&room_key("r")).unwrap_err();
    assert_eq!(
        err.code, 20404,
        "the name no longer resolves once the room ended"
    );
}

// Text that is no room reference at all ("", "é/?") never reaches the store: the REST face
// answers 404 for it, as its tests check.
#[test]
fn unknown_room_references_are_404s_not_panics() {
    let (_, store) = setup();
    for key in ["RM", "RMzz", "RM00000000000000000000000000000001"] {
        let key = room_key(key);
        let err = store.fetch_room(&key).unwrap_err();
        assert_eq!(err.code, 20404, "{key:?}");
        assert_eq!(store.complete_room(&key).unwrap_err().code, 20404);
        assert_eq!(
            store
                .fetch_participant(&key, &who("alice"))
                .unwrap_err()
                .code,
            20404
        );
    }
}

#[test]
fn listing_filters_by_status_name_and_creation_date_and_defaults_to_in_progress() {
    let (clock, store) = setup();
    let a = create(&store, "a");
    clock.advance(secs(10));
    let b = create(&store, "b");
    clock.advance(secs(10));
    let c = create(&store, "c");
    store.complete_room(&room_key("b")).unwrap();
    let sids = |q: RoomQuery| -> Vec<RoomSid> {
        store
            .list_rooms(&q)
            .unwrap()
            .items
            .into_iter()
            .map(|r| r.sid)
            .collect()
    };
    assert_eq!(
        sids(RoomQuery::default()),
        vec![a.sid.clone(), c.sid.clone()]
    );
    assert_eq!(
        sids(RoomQuery {
            status: Some(RoomStatus::Completed),
            ..RoomQuery::default()
        }),
        vec![b.sid.clone()]
    );
    assert_eq!(
        sids(RoomQuery {
            unique_name: Some("c".into()),
            ..RoomQuery::default()
        }),
        vec![c.sid.clone()]
    );
    assert_eq!(
        sids(RoomQuery {
            created_after: Some(b.date_created),
            ..RoomQuery::default()
        }),
        vec![c.sid.clone()],
        "DateCreatedAfter is inclusive, and b is completed"
    );
    assert_eq!(
        sids(RoomQuery {
            created_before: Some(c.date_created),
            ..RoomQuery::default()
        }),
        vec![a.sid.clone()],
        "DateCreatedBefore is exclusive"
    );
    let err = store
        .list_rooms(&RoomQuery {
            page_token: Some("garbage".into()),
            ..RoomQuery::default()
        })
        .unwrap_err();
    assert_eq!(err.code, 21481);
}

#[test]
fn listing_pages_through_rooms_created_in_the_same_second() {
    let (_, store) = setup();
    let mut created: Vec<RoomSid> = (0..7)
        .map(|i| create(&store, &format!("r{i}")).sid)
        .collect();
    created.sort();
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .list_rooms(&RoomQuery {
                page_size: Some(3),
                page_token: token,
                ..RoomQuery::default()
            })
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|r| r.sid));
        token = page.next_page;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        seen, created,
        "same-second rooms are ordered by SID, each once"
    );
}

// ----- Lifecycle -------------------------------------------------------------------------------

#[test]
fn an_unused_room_ends_after_its_timeout_and_not_a_second_before() {
    let (clock, store) = setup();
    let room = create(&store, "r");
    clock.advance(secs(299));
    assert!(store.tick().is_empty());
    assert_eq!(
        store.fetch_room(&room_key("r")).unwrap().status,
        RoomStatus::InProgress
    );
    clock.advance(secs(1));
    let report = store.tick();
    assert_eq!(report.rooms_ended, vec![room.sid.clone()]);
    let ended = store.fetch_room(&room_key(room.sid.as_str())).unwrap();
    assert_eq!(ended.status, RoomStatus::Completed);
    assert_eq!(ended.duration, Some(300));
    assert_eq!(ended.end_reason, Some(RoomEndReason::UnusedTimeout));
}

#[test]
fn advancing_the_clock_ten_minutes_ends_the_room_in_one_tick_at_the_moment_it_was_due() {
    let (clock, store) = setup();
    let room = create(&store, "r");
    clock.advance(secs(600));
    store.tick();
    let ended = store.fetch_room(&room_key(room.sid.as_str())).unwrap();
    assert_eq!(ended.status, RoomStatus::Completed);
    assert_eq!(
        ended.duration,
        Some(300),
        "it ended when the timeout fell due"
    );
    assert_eq!(ended.end_time, Some(t0_plus(300)));
}

#[test]
fn a_read_after_the_deadline_sees_the_room_ended_even_without_a_tick() {
    let (clock, store) = setup();
    let room = create(&store, "r");
    clock.advance(secs(301));
    let err = store.fetch_room(&room_key("r")).unwrap_err();
    assert_eq!(err.code, 20404, "the name is freed by the timeout");
    assert_eq!(
        store
            .fetch_room(&room_key(room.sid.as_str()))
            .unwrap()
            .status,
        RoomStatus::Completed
    );
    assert!(
        store.create_room(&named("r")).is_ok(),
        "the name can be reused"
    );
}

#[test]
fn custom_timeouts_are_honoured() {
    let (clock, store) = setup();
    store
        .create_room(&CreateRoom {
            unused_room_timeout: Some(1),
            ..named("quick")
        })
        .unwrap();
    store
        .create_room(&CreateRoom {
            unused_room_timeout: Some(60),
            ..named("slow")
        })
        .unwrap();
    clock.advance(secs(60));
    store.tick();
    assert!(store.fetch_room(&room_key("quick")).is_err());
    clock.advance(secs(59 * 60 - 1));
    store.tick();
    assert!(store.fetch_room(&room_key("slow")).is_ok());
    clock.advance(secs(1));
    store.tick();
    assert!(store.fetch_room(&room_key("slow")).is_err());
}

#[test]
fn a_room_someone_joined_waits_for_the_empty_timeout_after_the_last_one_leaves() {
    let (clock, store) = setup();
    let room = create(&store, "r");
    clock.advance(secs(60));
    store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    clock.advance(secs(60));
    store
        .disconnect_participant(&room_key("r"), &who("alice"), DisconnectReason::Left)
        .unwrap();
    // The unused-room deadline (5 min after creation) passes: someone joined, so it does not apply.
    clock.advance(secs(299));
    store.tick();
    assert_eq!(
        store.fetch_room(&room_key("r")).unwrap().status,
        RoomStatus::InProgress
    );
    clock.advance(secs(1));
    store.tick();
    let ended = store.fetch_room(&room_key(room.sid.as_str())).unwrap();
    assert_eq!(ended.status, RoomStatus::Completed);
    assert_eq!(ended.end_reason, Some(RoomEndReason::EmptyTimeout));
    assert_eq!(ended.end_time, Some(t0_plus(120 + 300)));
}

#[test]
fn someone_rejoining_an_empty_room_cancels_its_empty_timeout() {
    let (clock, store) = setup();
    create(&store, "r");
    store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    store
        .disconnect_participant(&room_key("r"), &who("alice"), DisconnectReason::Left)
        .unwrap();
    clock.advance(secs(240));
    store
        .connect_participant(&room_key("r"), &id("bob"), None)
        .unwrap();
    clock.advance(secs(3600));
    store.tick();
    assert_eq!(
        store.fetch_room(&room_key("r")).unwrap().status,
        RoomStatus::InProgress
    );
}

#[test]
fn an_ad_hoc_room_is_created_by_a_join_and_ends_when_the_last_participant_leaves() {
    let (_, store) = setup();
    let mut events = store.subscribe();
    let template = CreateRoom {
        room_type: Some(RoomType::Go),
        empty_room_timeout: Some(30),
        ..CreateRoom::default()
    };
    let joined = store
        .connect_participant(&room_key("adhoc"), &id("alice"), Some(&template))
        .unwrap();
    assert!(joined.room_created);
    assert!(joined.room.ad_hoc);
    assert_eq!(joined.room.unique_name, "adhoc");
    assert_eq!(joined.room.room_type, RoomType::Go);
    assert_eq!(
        (
            joined.room.empty_room_timeout,
            joined.room.unused_room_timeout
        ),
        (0, 0),
        "ad-hoc rooms have both timeouts 0 whatever the template says"
    );
    let bob = store
        .connect_participant(&room_key("adhoc"), &id("bob"), Some(&template))
        .unwrap();
    assert!(!bob.room_created, "the second join finds the room");
    store
        .disconnect_participant(&room_key("adhoc"), &who("alice"), DisconnectReason::Left)
        .unwrap();
    assert_eq!(
        store.fetch_room(&room_key("adhoc")).unwrap().status,
        RoomStatus::InProgress
    );
    store
        .disconnect_participant(&room_key("adhoc"), &who("bob"), DisconnectReason::Left)
        .unwrap();
    let ended = store
        .fetch_room(&room_key(joined.room.sid.as_str()))
        .unwrap();
    assert_eq!(ended.status, RoomStatus::Completed);
    assert_eq!(ended.end_reason, Some(RoomEndReason::LastParticipantLeft));
    assert!(
        store.fetch_room(&room_key("adhoc")).is_err(),
        "the name is free at once"
    );
    assert_eq!(
        kinds(&drain(&mut events)),
        vec![
            StoreEventKind::RoomCreated,
            StoreEventKind::ParticipantConnected,
            StoreEventKind::ParticipantConnected,
            StoreEventKind::ParticipantDisconnected(DisconnectReason::Left),
            StoreEventKind::ParticipantDisconnected(DisconnectReason::Left),
            StoreEventKind::RoomEnded(RoomEndReason::LastParticipantLeft),
        ]
    );
}

#[test]
fn a_join_naming_no_room_creates_an_unnamed_ad_hoc_room_for_itself() {
    let (_, store) = setup();
    let mut events = store.subscribe();
    let template = typed("ignored", RoomType::PeerToPeer);
    let joined = store
        .connect_participant_to_new_room(&id("alice"), &template)
        .unwrap();
    assert!(joined.room_created && joined.room.ad_hoc);
    assert_eq!(
        joined.room.unique_name,
        joined.room.sid.as_str(),
        "its SID stands for the name"
    );
    assert_eq!(joined.room.room_type, RoomType::PeerToPeer);
    let other = store
        .connect_participant_to_new_room(&id("alice"), &template)
        .unwrap();
    assert_ne!(
        other.room.sid, joined.room.sid,
        "every such join gets its own room"
    );
    store
        .disconnect_participant(
            &room_key(joined.room.sid.as_str()),
            &who("alice"),
            DisconnectReason::Left,
        )
        .unwrap();
    let ended = store
        .fetch_room(&room_key(joined.room.sid.as_str()))
        .unwrap();
    assert_eq!(ended.end_reason, Some(RoomEndReason::LastParticipantLeft));
    assert_eq!(
        kinds(&drain(&mut events))[..2],
        [
            StoreEventKind::RoomCreated,
            StoreEventKind::ParticipantConnected
        ]
    );
    let err = store
        .connect_participant_to_new_room(
            &id("bob"),
            &CreateRoom {
                max_participants: Some(0),
                ..CreateRoom::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        err.code, 53107,
        "the template is validated like a REST creation"
    );
}

#[test]
fn joining_a_missing_or_ended_room_without_ad_hoc_creation_is_refused_with_53106() {
    let (_, store) = setup();
    let err = store
        .connect_participant(&room_key("nope"), &id("a"), None)
        .unwrap_err();
    assert_eq!(err.code, 53106);
    let room = create(&store, "r");
    store.complete_room(&room_key("r")).unwrap();
    let err = store
        .connect_participant(
            &room_key(room.sid.as_str()),
            &id("a"),
            Some(&CreateRoom::default()),
        )
        .unwrap_err();
    assert_eq!(err.code, 53106, "an ended room by SID is not revived");
    // Text that is no valid room name never reaches the store as a key: the joining edge
    // (signaling) parses it, and refuses it with the name's own code when it would have
    // created the room ad hoc.
    let err = StoreError::from(RoomKey::parse("bad/name").unwrap_err());
    assert_eq!(err.code, 53102, "an ad-hoc name must be a valid room name");
}

#[test]
fn a_room_ends_after_24_hours_and_disconnects_everyone() {
    let (clock, store) = setup();
    let room = store
        .create_room(&CreateRoom {
            max_participant_duration: Some(86_400),
            ..named("long")
        })
        .unwrap();
    clock.advance(secs(60));
    let alice = store
        .connect_participant(&room_key("long"), &id("alice"), None)
        .unwrap();
    clock.advance(secs(86_400 - 61));
    store.tick();
    assert_eq!(
        store.fetch_room(&room_key("long")).unwrap().status,
        RoomStatus::InProgress
    );
    clock.advance(secs(3600));
    let report = store.tick();
    assert_eq!(report.rooms_ended, vec![room.sid.clone()]);
    assert_eq!(
        report.participants_removed,
        vec![alice.participant.sid.clone()]
    );
    let ended = store.fetch_room(&room_key(room.sid.as_str())).unwrap();
    assert_eq!(ended.end_reason, Some(RoomEndReason::MaxDuration));
    assert_eq!(ended.duration, Some(86_400));
    let p = store
        .fetch_participant(
            &room_key(room.sid.as_str()),
            &who(alice.participant.sid.as_str()),
        )
        .unwrap();
    assert_eq!(p.status, ParticipantStatus::Disconnected);
    assert_eq!(p.disconnect_reason, Some(DisconnectReason::RoomCompleted));
    assert_eq!(p.duration, Some(86_400 - 60));
}

#[test]
fn a_participant_is_removed_after_the_rooms_max_participant_duration() {
    let (clock, store) = setup();
    let room = store
        .create_room(&CreateRoom {
            max_participant_duration: Some(600),
            ..named("r")
        })
        .unwrap();
    let alice = store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    clock.advance(secs(300));
    store
        .connect_participant(&room_key("r"), &id("bob"), None)
        .unwrap();
    clock.advance(secs(299));
    assert!(store.tick().is_empty());
    clock.advance(secs(1));
    let report = store.tick();
    assert_eq!(
        report.participants_removed,
        vec![alice.participant.sid.clone()]
    );
    let p = store
        .fetch_participant(&room_key("r"), &who(alice.participant.sid.as_str()))
        .unwrap();
    assert_eq!(
        p.disconnect_reason,
        Some(DisconnectReason::MaxParticipantDuration)
    );
    assert_eq!(p.duration, Some(600));
    // Bob's turn comes 300 s later; then the room is empty and its timeout runs: one big
    // advance applies both, each at its own moment.
    clock.advance(secs(3600));
    let report = store.tick();
    assert_eq!(report.rooms_ended, vec![room.sid.clone()]);
    let ended = store.fetch_room(&room_key(room.sid.as_str())).unwrap();
    assert_eq!(ended.end_time, Some(t0_plus(900 + 300)));
}

// ----- Participants ------------------------------------------------------------------------------

#[test]
fn a_join_is_recorded_with_a_participant_sid_and_start_time() {
    let (clock, store) = setup();
    create(&store, "r");
    clock.advance(secs(5));
    let joined = store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    let p = &joined.participant;
    assert!(p.sid.as_str().starts_with("PA"));
    assert_eq!(p.status, ParticipantStatus::Connected);
    assert_eq!(p.identity, id("alice"));
    assert_eq!(p.start_time, t0_plus(5));
    assert_eq!(
        (p.end_time, p.duration, p.disconnect_reason),
        (None, None, None)
    );
    assert_eq!(joined.replaced, None);
    assert_eq!(
        &store
            .fetch_participant(&room_key("r"), &who("alice"))
            .unwrap(),
        p
    );
    assert_eq!(
        &store
            .fetch_participant(&room_key("r"), &who(p.sid.as_str()))
            .unwrap(),
        p
    );
}

#[test]
fn a_full_room_refuses_the_next_participant_with_53105_until_someone_leaves() {
    let (_, store) = setup();
    store.create_room(&typed("go", RoomType::Go)).unwrap();
    store
        .connect_participant(&room_key("go"), &id("a"), None)
        .unwrap();
    store
        .connect_participant(&room_key("go"), &id("b"), None)
        .unwrap();
    let err = store
        .connect_participant(&room_key("go"), &id("c"), None)
        .unwrap_err();
    assert_eq!(err.code, 53105);
    assert!(err
        .message
        .starts_with("Room contains too many Participants"));
    store
        .disconnect_participant(&room_key("go"), &who("a"), DisconnectReason::Left)
        .unwrap();
    store
        .connect_participant(&room_key("go"), &id("c"), None)
        .unwrap();
}

#[test]
fn the_same_identity_joining_again_replaces_the_older_connection() {
    let (_, store) = setup();
    store.create_room(&typed("go", RoomType::Go)).unwrap();
    let first = store
        .connect_participant(&room_key("go"), &id("alice"), None)
        .unwrap();
    store
        .connect_participant(&room_key("go"), &id("bob"), None)
        .unwrap();
    let mut events = store.subscribe();
    let second = store
        .connect_participant(&room_key("go"), &id("alice"), None)
        .expect("a duplicate identity does not count against the cap");
    let replaced = second.replaced.expect("the older alice is returned");
    assert_eq!(replaced.sid, first.participant.sid);
    assert_eq!(replaced.status, ParticipantStatus::Disconnected);
    assert_eq!(
        replaced.disconnect_reason,
        Some(DisconnectReason::DuplicateIdentity)
    );
    assert_eq!(
        DisconnectReason::DuplicateIdentity.sdk_error_code(),
        Some(53205)
    );
    assert_ne!(second.participant.sid, first.participant.sid);
    assert_eq!(
        store
            .fetch_participant(&room_key("go"), &who("alice"))
            .unwrap()
            .sid,
        second.participant.sid,
        "the identity now names the new connection"
    );
    assert_eq!(
        kinds(&drain(&mut events)),
        vec![
            StoreEventKind::ParticipantDisconnected(DisconnectReason::DuplicateIdentity),
            StoreEventKind::ParticipantConnected,
        ]
    );
}

#[test]
fn a_disconnected_participant_is_found_by_sid_but_not_by_identity() {
    let (clock, store) = setup();
    create(&store, "r");
    let alice = store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    clock.advance(secs(42));
    let gone = store
        .disconnect_participant(&room_key("r"), &who("alice"), DisconnectReason::Left)
        .unwrap();
    assert_eq!(gone.status, ParticipantStatus::Disconnected);
    assert_eq!(gone.end_time, Some(t0_plus(42)));
    assert_eq!(gone.duration, Some(42));
    assert_eq!(gone.date_updated, t0_plus(42));
    let err = store
        .fetch_participant(&room_key("r"), &who("alice"))
        .unwrap_err();
    assert_eq!(err.code, 20404);
    assert_eq!(
        err.message,
        "The requested resource /Rooms/r/Participants/alice was not found"
    );
    let by_sid = store
        .fetch_participant(&room_key("r"), &who(alice.participant.sid.as_str()))
        .unwrap();
    assert_eq!(by_sid, gone);
    let again = store
        .disconnect_participant(
            &room_key("r"),
            &who(alice.participant.sid.as_str()),
            DisconnectReason::Kicked,
        )
        .unwrap();
    assert_eq!(again, gone, "disconnecting twice changes nothing");
}

#[test]
fn a_participant_sid_of_another_room_is_not_found_in_this_one() {
    let (_, store) = setup();
    create(&store, "a");
    create(&store, "b");
    let alice = store
        .connect_participant(&room_key("a"), &id("alice"), None)
        .unwrap();
    let err = store
        .fetch_participant(&room_key("b"), &who(alice.participant.sid.as_str()))
        .unwrap_err();
    assert_eq!(err.code, 20404);
}

#[test]
fn participant_listings_default_to_connected_in_progress_and_disconnected_when_ended() {
    let (clock, store) = setup();
    let room = create(&store, "r");
    store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    clock.advance(secs(10));
    store
        .connect_participant(&room_key("r"), &id("bob"), None)
        .unwrap();
    store
        .disconnect_participant(&room_key("r"), &who("alice"), DisconnectReason::Left)
        .unwrap();
    let identities = |room: &str, q: ParticipantQuery| -> Vec<String> {
        store
            .list_participants(&room_key(room), &q)
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.identity.to_string())
            .collect()
    };
    assert_eq!(identities("r", ParticipantQuery::default()), vec!["bob"]);
    assert_eq!(
        identities(
            "r",
            ParticipantQuery {
                status: Some(ParticipantStatus::Disconnected),
                ..ParticipantQuery::default()
            }
        ),
        vec!["alice"]
    );
    assert_eq!(
        identities(
            "r",
            ParticipantQuery {
                identity: Some("alice".into()),
                ..ParticipantQuery::default()
            }
        ),
        Vec::<String>::new(),
        "alice is not connected"
    );
    store.complete_room(&room_key("r")).unwrap();
    let sid = room.sid.as_str();
    assert_eq!(
        identities(sid, ParticipantQuery::default()),
        vec!["alice", "bob"]
    );
    assert_eq!(
        identities(
            sid,
            ParticipantQuery {
                status: Some(ParticipantStatus::Connected),
                ..ParticipantQuery::default()
            }
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        identities(
            sid,
            ParticipantQuery {
                created_after: Some(t0_plus(10)),
                ..ParticipantQuery::default()
            }
        ),
        vec!["bob"]
    );
    assert_eq!(
        identities(
            sid,
            ParticipantQuery {
                created_before: Some(t0_plus(10)),
                ..ParticipantQuery::default()
            }
        ),
        vec!["alice"]
    );
}

#[test]
fn completing_a_room_disconnects_everyone_with_room_completed() {
    let (_, store) = setup();
    let room = create(&store, "r");
    store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    store
        .connect_participant(&room_key("r"), &id("bob"), None)
        .unwrap();
    store.complete_room(&room_key("r")).unwrap();
    let all = store
        .list_participants(&room_key(room.sid.as_str()), &ParticipantQuery::default())
        .unwrap()
        .items;
    assert_eq!(all.len(), 2);
    for p in all {
        assert_eq!(p.status, ParticipantStatus::Disconnected);
        assert_eq!(p.disconnect_reason, Some(DisconnectReason::RoomCompleted));
        assert_eq!(
            p.disconnect_reason.and_then(|r| r.sdk_error_code()),
            Some(53118)
        );
    }
    assert!(store
        .connected_participants(&room_key(room.sid.as_str()))
        .unwrap()
        .is_empty());
}

// ----- Tracks ----------------------------------------------------------------------------------

#[test]
fn a_published_track_gets_an_mt_sid_and_publishing_it_again_is_a_no_op() {
    let (_, store) = setup();
    create(&store, "r");
    let alice = store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    let mut events = store.subscribe();
    let track = store
        .publish_track(&room_key("r"), &who("alice"), video("cam-1"))
        .unwrap();
    assert!(track.sid.as_str().starts_with("MT"));
    assert_eq!(
        track.name, "cam-1",
        "an unnamed track is named after its id"
    );
    assert_eq!(track.participant_sid, alice.participant.sid);
    assert_eq!((track.kind, track.enabled), (TrackKind::Video, true));
    let again = store
        .publish_track(&room_key("r"), &who("alice"), video("cam-1"))
        .unwrap();
    assert_eq!(again, track);
    assert_eq!(kinds(&drain(&mut events)), vec![StoreEventKind::TrackAdded]);
    assert_eq!(
        store
            .published_tracks(&room_key("r"), &who("alice"))
            .unwrap(),
        vec![track.clone()]
    );
    assert_eq!(
        store
            .fetch_published_track(&room_key("r"), &who("alice"), track.sid.as_str())
            .unwrap(),
        track
    );
    assert_eq!(
        store
            .fetch_published_track(&room_key("r"), &who("alice"), "cam-1")
            .unwrap(),
        track
    );
}

#[test]
fn track_names_must_be_unique_short_and_printable() {
    let (_, store) = setup();
    create(&store, "r");
    store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    let named_track = |client_id: &str, name: &str| PublishTrack {
        name: name.to_owned(),
        ..video(client_id)
    };
    store
        .publish_track(&room_key("r"), &who("alice"), named_track("a", "camera"))
        .unwrap();
    let err = store
        .publish_track(&room_key("r"), &who("alice"), named_track("b", "camera"))
        .unwrap_err();
    assert_eq!(err.code, 53304);
    let err = store
        .publish_track(
            &room_key("r"),
            &who("alice"),
            named_track("c", &"x".repeat(129)),
        )
        .unwrap_err();
    assert_eq!(err.code, 53302);
    let err = store
        .publish_track(&room_key("r"), &who("alice"), named_track("d", "a\nb"))
        .unwrap_err();
    assert_eq!(err.code, 53303);
    let err = store
        .publish_track(&room_key("r"), &who("alice"), video(""))
        .unwrap_err();
    assert_eq!(err.code, 53300);
}

#[test]
fn only_connected_participants_publish() {
    let (_, store) = setup();
    create(&store, "r");
    let alice = store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    store
        .disconnect_participant(&room_key("r"), &who("alice"), DisconnectReason::Left)
        .unwrap();
    let err = store
        .publish_track(
            &room_key("r"),
            &who(alice.participant.sid.as_str()),
            video("v"),
        )
        .unwrap_err();
    assert_eq!(err.code, 20404);
}

#[test]
fn a_room_refuses_tracks_beyond_its_concurrent_published_track_limit() {
    let (_, store) = setup();
    let room = create(&store, "r");
    let limit = room.max_concurrent_published_tracks as usize;
    let mut published = 0;
    'outer: for p in 0..50 {
        let identity = format!("p{p}");
        store
            .connect_participant(&room_key("r"), &id(&identity), None)
            .unwrap();
        for t in 0..4 {
            if published == limit {
                break 'outer;
            }
            store
                .publish_track(
                    &room_key("r"),
                    &who(&identity),
                    video(&format!("{identity}-{t}")),
                )
                .unwrap();
            published += 1;
        }
    }
    store
        .connect_participant(&room_key("r"), &id("late"), None)
        .unwrap();
    let err = store
        .publish_track(&room_key("r"), &who("late"), video("one-too-many"))
        .unwrap_err();
    assert_eq!(err.code, 53203);
}

#[test]
fn everyone_subscribes_to_every_track_of_the_other_connected_participants() {
    let (clock, store) = setup();
    create(&store, "r");
    let alice = store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    let cam = store
        .publish_track(&room_key("r"), &who("alice"), video("alice-cam"))
        .unwrap();
    clock.advance(secs(7));
    let bob = store
        .connect_participant(&room_key("r"), &id("bob"), None)
        .unwrap();
    let mic = store
        .publish_track(
            &room_key("r"),
            &who("bob"),
            PublishTrack {
                kind: TrackKind::Audio,
                ..video("bob-mic")
            },
        )
        .unwrap();

    let bob_gets = store
        .subscribed_tracks(&room_key("r"), &who("bob"))
        .unwrap();
    assert_eq!(bob_gets.len(), 1);
    let sub = &bob_gets[0];
    assert_eq!(sub.sid, cam.sid);
    assert_eq!(sub.participant_sid, bob.participant.sid);
    assert_eq!(sub.publisher_sid, alice.participant.sid);
    assert_eq!(sub.client_id, "alice-cam");
    assert_eq!(sub.date_created, t0_plus(7), "subscribed when bob arrived");
    let alice_gets = store
        .subscribed_tracks(&room_key("r"), &who("alice"))
        .unwrap();
    assert_eq!(
        alice_gets.iter().map(|t| &t.sid).collect::<Vec<_>>(),
        vec![&mic.sid]
    );
    assert_eq!(
        store
            .fetch_subscribed_track(&room_key("r"), &who("alice"), mic.sid.as_str())
            .unwrap()
            .kind,
        TrackKind::Audio
    );
    assert_eq!(
        store
            .fetch_subscribed_track(&room_key("r"), &who("alice"), cam.sid.as_str())
            .unwrap_err()
            .code,
        20404,
        "nobody subscribes to their own track"
    );

    store
        .disconnect_participant(&room_key("r"), &who("alice"), DisconnectReason::Left)
        .unwrap();
    assert!(store
        .subscribed_tracks(&room_key("r"), &who("bob"))
        .unwrap()
        .is_empty());
    assert!(
        store
            .published_tracks(&room_key("r"), &who(alice.participant.sid.as_str()))
            .unwrap()
            .is_empty(),
        "a participant's tracks go when it leaves"
    );
}

#[test]
fn subscribe_rules_decide_which_tracks_a_participant_receives() {
    let (_, store) = setup();
    create(&store, "r");
    let alice = store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    let cam = store
        .publish_track(&room_key("r"), &who("alice"), video("alice-cam"))
        .unwrap();
    let mic = store
        .publish_track(
            &room_key("r"),
            &who("alice"),
            PublishTrack {
                kind: TrackKind::Audio,
                ..video("alice-mic")
            },
        )
        .unwrap();
    store
        .connect_participant(&room_key("r"), &id("bob"), None)
        .unwrap();
    let received = |store: &Store| {
        store
            .subscribed_tracks(&room_key("r"), &who("bob"))
            .unwrap()
            .into_iter()
            .map(|t| t.sid)
            .collect::<Vec<_>>()
    };
    assert_eq!(received(&store), vec![cam.sid.clone(), mic.sid.clone()]);

    // Twilio's own example: everything of alice's but her video.
    let rules = parse_rules(
        RuleSet::Subscribe,
        r#"[{"type":"include","all":true},{"type":"exclude","publisher":"alice","kind":"video"}]"#,
    )
    .unwrap();
    store
        .set_subscribe_rules(&room_key("r"), &who("bob"), rules)
        .unwrap();
    assert_eq!(received(&store), vec![mic.sid.clone()]);
    assert_eq!(
        store
            .fetch_subscribed_track(&room_key("r"), &who("bob"), cam.sid.as_str())
            .unwrap_err()
            .code,
        20404,
        "an excluded track is not a subscribed track"
    );

    // By publisher SID too, and "exclude all" receives nothing.
    let by_sid = format!(
        r#"[{{"type":"include","publisher":"{}","kind":"video"}}]"#,
        alice.participant.sid
    );
    store
        .set_subscribe_rules(
            &room_key("r"),
            &who("bob"),
            parse_rules(RuleSet::Subscribe, &by_sid).unwrap(),
        )
        .unwrap();
    assert_eq!(received(&store), vec![cam.sid.clone()]);
    store
        .set_subscribe_rules(
            &room_key("r"),
            &who("bob"),
            parse_rules(RuleSet::Subscribe, r#"[{"type":"exclude","all":true}]"#).unwrap(),
        )
        .unwrap();
    assert!(received(&store).is_empty());
    assert_eq!(
        store
            .subscribed_tracks(&room_key("r"), &who("alice"))
            .unwrap()
            .len(),
        0,
        "bob publishes nothing; alice's own rules are untouched"
    );
}

#[test]
fn unpublishing_and_toggling_a_track_emit_their_events() {
    let (_, store) = setup();
    create(&store, "r");
    store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    let track = store
        .publish_track(&room_key("r"), &who("alice"), video("cam"))
        .unwrap();
    let mut events = store.subscribe();
    let off = store
        .set_track_enabled(&room_key("r"), &who("alice"), "cam", false)
        .unwrap();
    assert!(!off.enabled);
    store
        .set_track_enabled(&room_key("r"), &who("alice"), "cam", false)
        .unwrap();
    store
        .set_track_enabled(&room_key("r"), &who("alice"), track.sid.as_str(), true)
        .unwrap();
    let removed = store
        .unpublish_track(&room_key("r"), &who("alice"), "cam")
        .unwrap();
    assert_eq!(removed.sid, track.sid);
    assert_eq!(
        store
            .unpublish_track(&room_key("r"), &who("alice"), "cam")
            .unwrap_err()
            .code,
        20404
    );
    let seen = drain(&mut events);
    assert_eq!(
        kinds(&seen),
        vec![
            StoreEventKind::TrackDisabled,
            StoreEventKind::TrackEnabled,
            StoreEventKind::TrackRemoved,
        ]
    );
    assert!(seen
        .iter()
        .all(|e| e.track.as_ref().map(|t| &t.sid) == Some(&track.sid)));
}

// ----- Events ------------------------------------------------------------------------------------

#[test]
fn events_arrive_in_order_with_per_room_sequence_numbers_and_reasons() {
    let (clock, store) = setup();
    let mut events = store.subscribe();
    let room = store
        .create_room(&CreateRoom {
            status_callback: Some("http://127.0.0.1:9/cb".into()),
            ..named("r")
        })
        .unwrap();
    clock.advance(secs(1));
    store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    store
        .publish_track(&room_key("r"), &who("alice"), video("cam"))
        .unwrap();
    clock.advance(secs(1));
    store
        .connect_participant(&room_key("r"), &id("bob"), None)
        .unwrap();
    // What `POST …/Participants/alice` with `Status=disconnected` does.
    store
        .disconnect_participant(&room_key("r"), &who("alice"), DisconnectReason::Kicked)
        .unwrap();
    clock.advance(secs(1));
    store.complete_room(&room_key("r")).unwrap();

    let seen = drain(&mut events);
    assert_eq!(
        kinds(&seen),
        vec![
            StoreEventKind::RoomCreated,
            StoreEventKind::ParticipantConnected,
            StoreEventKind::TrackAdded,
            StoreEventKind::ParticipantConnected,
            StoreEventKind::TrackRemoved,
            StoreEventKind::ParticipantDisconnected(DisconnectReason::Kicked),
            StoreEventKind::ParticipantDisconnected(DisconnectReason::RoomCompleted),
            StoreEventKind::RoomEnded(RoomEndReason::Completed),
        ]
    );
    let numbers: Vec<u64> = seen.iter().map(|e| e.sequence_number).collect();
    assert_eq!(numbers, (0..8).collect::<Vec<u64>>());
    assert!(seen.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    assert!(seen.iter().all(|e| e.room.sid == room.sid));
    assert_eq!(seen[0].callback_event(), Some("room-created"));
    assert_eq!(
        seen[0].room.status_callback.as_deref(),
        Some("http://127.0.0.1:9/cb")
    );
    let kicked = &seen[5];
    let alice = kicked.participant.as_ref().unwrap();
    assert_eq!(alice.identity, id("alice"));
    assert_eq!(
        alice.duration,
        Some(1),
        "ParticipantDuration is in the record"
    );
    assert_eq!(kicked.callback_event(), Some("participant-disconnected"));
    let ended = &seen[7];
    assert_eq!(ended.room.status, RoomStatus::Completed);
    assert_eq!(
        ended.room.duration,
        Some(3),
        "RoomDuration is in the record"
    );
    assert_eq!(ended.timestamp, t0_plus(3));
}

#[test]
fn sequence_numbers_count_per_room() {
    let (_, store) = setup();
    let mut events = store.subscribe();
    create(&store, "a");
    create(&store, "b");
    store
        .connect_participant(&room_key("a"), &id("x"), None)
        .unwrap();
    let seen = drain(&mut events);
    let pairs: Vec<(String, u64)> = seen
        .iter()
        .map(|e| (e.room.unique_name.clone(), e.sequence_number))
        .collect();
    assert_eq!(
        pairs,
        vec![("a".into(), 0), ("b".into(), 0), ("a".into(), 1)]
    );
}

#[test]
fn timeouts_emit_room_ended_with_their_reason_at_the_moment_they_fell_due() {
    let (clock, store) = setup();
    let mut events = store.subscribe();
    create(&store, "r");
    clock.advance(secs(3600));
    store.tick();
    let seen = drain(&mut events);
    let ended = seen.last().unwrap();
    assert_eq!(
        ended.kind,
        StoreEventKind::RoomEnded(RoomEndReason::UnusedTimeout)
    );
    assert_eq!(ended.timestamp, t0_plus(300));
    assert_eq!(ended.callback_event(), Some("room-ended"));
}

#[test]
fn every_subscriber_gets_every_event_and_a_dropped_one_is_forgotten() {
    let (_, store) = setup();
    let mut first = store.subscribe();
    let second = store.subscribe();
    let mut third = store.subscribe();
    drop(second);
    create(&store, "r");
    store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    let a = drain(&mut first);
    let c = drain(&mut third);
    assert_eq!(a.len(), 2);
    assert_eq!(a, c);
    assert!(format!("{store:?}").contains("subscribers: 2"));
}

#[test]
fn reset_clears_everything_and_marks_its_events_as_no_callback() {
    let (_, store) = setup();
    let room = create(&store, "r");
    store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    store
        .publish_track(&room_key("r"), &who("alice"), video("cam"))
        .unwrap();
    create(&store, "done");
    store.complete_room(&room_key("done")).unwrap();
    let mut events = store.subscribe();
    store.reset();
    let seen = drain(&mut events);
    assert_eq!(
        kinds(&seen),
        vec![
            StoreEventKind::TrackRemoved,
            StoreEventKind::ParticipantDisconnected(DisconnectReason::Reset),
            StoreEventKind::RoomEnded(RoomEndReason::Reset),
        ],
        "only in-progress rooms are ended, so signaling can close their sessions"
    );
    assert!(seen
        .iter()
        .all(|e| e.caused_by_reset() && e.callback_event().is_none()));
    assert_eq!(
        seen[1]
            .participant
            .as_ref()
            .and_then(|p| p.disconnect_reason?.sdk_error_code()),
        Some(53118)
    );
    assert_eq!(
        store
            .fetch_room(&room_key(room.sid.as_str()))
            .unwrap_err()
            .code,
        20404
    );
    assert!(store
        .list_rooms(&RoomQuery {
            status: Some(RoomStatus::Completed),
            ..RoomQuery::default()
        })
        .unwrap()
        .items
        .is_empty());
    create(&store, "r");
    assert_eq!(drain(&mut events).len(), 1, "subscribers survive a reset");
}

// ----- Concurrency ---------------------------------------------------------------------------------

#[test]
fn many_threads_creating_the_same_name_get_exactly_one_room() {
    let (_, store) = setup();
    let barrier = Arc::new(std::sync::Barrier::new(32));
    let handles: Vec<_> = (0..32)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.create_room(&named("stampede"))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1);
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| e.code == 53113));
}

#[test]
fn many_threads_joining_a_go_room_leave_exactly_two_inside() {
    let (_, store) = setup();
    store.create_room(&typed("go", RoomType::Go)).unwrap();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                store.connect_participant(&room_key("go"), &id(&format!("p{i}")), None)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2);
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| e.code == 53105));
    assert_eq!(
        store.connected_participants(&room_key("go")).unwrap().len(),
        2
    );
}

// ----- The port adapter ------------------------------------------------------------------------

#[tokio::test]
async fn the_port_maps_store_errors_to_backend_errors() {
    let (_, store) = setup();
    let backend = EmulatorBackend::new(store.clone());
    let spec = videoroom_core::RoomSpec::named(name("r"), RoomType::Go);
    let room = backend.create_room(&spec).await.unwrap();
    assert_eq!(room.room_type, RoomType::Go);
    assert_eq!(
        backend.create_room(&spec).await,
        Err(BackendError::RoomExists)
    );
    let bad = videoroom_core::RoomSpec {
        status_callback_method: Some("PUT".into()),
        ..videoroom_core::RoomSpec::named(name("s"), RoomType::Group)
    };
    assert!(matches!(
        backend.create_room(&bad).await,
        Err(BackendError::Invalid { code: 53110, .. })
    ));
    assert_eq!(
        backend.fetch_room(&RoomKey::Name(name("nope"))).await,
        Err(BackendError::NotFound)
    );
    assert!(matches!(
        backend
            .list_rooms(&RoomQuery {
                page_token: Some("x".into()),
                ..RoomQuery::default()
            })
            .await,
        Err(BackendError::Invalid { code: 21481, .. })
    ));
    // The port sees what the REST face and signaling see: one store.
    assert_eq!(store.fetch_room(&room_key("r")).unwrap().sid, room.sid);
}

#[tokio::test]
async fn a_name_key_never_finds_an_ended_room_even_when_the_name_is_its_sid() {
    let (_, store) = setup();
    let backend = EmulatorBackend::new(store.clone());
    let room = store.create_room(&CreateRoom::default()).unwrap();
    store.complete_room(&room_key(room.sid.as_str())).unwrap();
    let key = RoomKey::Name(name(room.sid.as_str()));
    assert_eq!(backend.fetch_room(&key).await, Err(BackendError::NotFound));
    let by_sid = backend.fetch_room(&RoomKey::Sid(room.sid.clone())).await;
    assert_eq!(by_sid.unwrap().status, RoomStatus::Completed);
}

// ----- Hostile clocks --------------------------------------------------------------------------

#[test]
fn a_clock_at_the_end_of_time_or_going_backwards_never_panics() {
    let (clock, store) = setup();
    let room = create(&store, "r");
    store
        .connect_participant(&room_key("r"), &id("alice"), None)
        .unwrap();
    clock.set(t0_plus(-86_400));
    let gone = store
        .disconnect_participant(&room_key("r"), &who("alice"), DisconnectReason::Left)
        .unwrap();
    assert_eq!(
        gone.duration,
        Some(0),
        "a clock that went back gives 0, not a panic"
    );
    let done = store.complete_room(&room_key(room.sid.as_str())).unwrap();
    assert_eq!(done.duration, Some(0));

    clock.set(time::PrimitiveDateTime::MAX.assume_utc());
    create(&store, "late");
    store
        .connect_participant(&room_key("late"), &id("bob"), None)
        .unwrap();
    store.tick();
    clock.advance(Duration::MAX);
    store.tick();
    assert_eq!(
        store.fetch_room(&room_key("late")).unwrap().status,
        RoomStatus::InProgress
    );
}

#[test]
fn the_emulator_clock_saturates_instead_of_overflowing() {
    let clock = videoroom_emulator_adapter::OffsetClock::new();
    clock.advance(Duration::MAX);
    clock.advance(Duration::MAX);
    let store = Store::new(Arc::new(clock));
    create(&store, "r");
    store.tick();
}

// ----- Retention of ended rooms ----------------------------------------------------------------

#[test]
fn ended_rooms_are_forgotten_with_their_participants_once_the_retention_has_passed() {
    let clock = Arc::new(ManualClock::fixed());
    let store = Store::new(clock.clone()).with_retention(secs(3600));
    let old = create(&store, "old");
    let alice = store
        .connect_participant(&room_key("old"), &id("alice"), None)
        .unwrap()
        .participant;
    store.complete_room(&room_key("old")).unwrap();
    clock.advance(secs(1800));
    let recent = create(&store, "recent");
    store.complete_room(&room_key("recent")).unwrap();
    let open = create(&store, "open");
    store
        .connect_participant(&room_key("open"), &id("bob"), None)
        .unwrap();

    // One second short of the retention, the old room is still there.
    clock.advance(secs(1799));
    store.tick();
    assert!(store.fetch_room(&RoomKey::Sid(old.sid.clone())).is_ok());

    clock.advance(secs(1));
    store.tick();
    let gone = store
        .fetch_room(&RoomKey::Sid(old.sid.clone()))
        .unwrap_err();
    assert_eq!(gone.code, 20404, "{gone}");
    let participant = store
        .fetch_participant(
            &RoomKey::Sid(old.sid.clone()),
            &ParticipantKey::Sid(alice.sid.clone()),
        )
        .unwrap_err();
    assert_eq!(participant.code, 20404, "{participant}");
    assert!(store.fetch_room(&RoomKey::Sid(recent.sid.clone())).is_ok());
    assert!(
        store.fetch_room(&RoomKey::Sid(open.sid.clone())).is_ok(),
        "an in-progress room is never forgotten, however old"
    );
    let inspection = store.inspect(10, 10, 10);
    assert_eq!(
        inspection.ended_total, 1,
        "only the recent ended room is left"
    );
    assert!(format!("{store:?}").contains("rooms: 2"), "{store:?}");
}

#[test]
fn the_default_retention_is_a_day_of_the_stores_clock() {
    let clock = Arc::new(ManualClock::fixed());
    let store = Store::new(clock.clone());
    assert_eq!(store.retention(), secs(24 * 3600));
    let room = create(&store, "r");
    store.complete_room(&room_key("r")).unwrap();
    clock.advance(secs(24 * 3600 - 1));
    store.tick();
    assert!(store.fetch_room(&RoomKey::Sid(room.sid.clone())).is_ok());
    clock.advance(secs(1));
    store.tick();
    assert!(store.fetch_room(&RoomKey::Sid(room.sid.clone())).is_err());
}
