//! The behaviour every [`RoomBackend`] adapter must share, written once over the port.
//!
//! Each case is an `async fn` taking the backend under test and panicking, with a message that
//! says what Twilio would have done, when the backend behaves differently. The suite runs
//! against the in-memory emulator store (`videoroom-emulator-adapter`) and against the Twilio
//! adapter talking HTTP to a standalone emulator, so the two cannot drift apart.
//!
//! The suite needs no runtime of its own and does no I/O besides the backend's: run it from
//! any async test. Every room it creates has a name unique to the run (a prefix taken from the
//! random SID of a room the backend creates first), so it can share an emulator with other
//! tests, and every room it leaves in progress is completed before the case returns.
//!
//! Run every case as its own test with [`contract_tests!`](crate::contract_tests), or all of
//! them in one with [`run_all`].

use std::sync::Arc;

use crate::port::{BackendError, RoomBackend, RoomKey, RoomQuery};
use crate::room::{Room, RoomName, RoomSpec, RoomStatus, RoomType};
use crate::service::RoomService;

/// Names of the rooms of one case: `<prefix>-<case>-<n>`, the prefix unique to the run.
struct Names {
    prefix: String,
    case: &'static str,
    next: u32,
}

impl Names {
    /// Takes a prefix no other run can have: the hex digits of a fresh, unnamed room's SID
    /// (which the backend generated at random), then completes that room.
    async fn new(backend: &Arc<dyn RoomBackend>, case: &'static str) -> Self {
        let scratch = backend
            .create_room(&RoomSpec::default())
            .await
            .unwrap_or_else(|e| panic!("[{case}] creating an unnamed room failed: {e:?}"));
        assert_eq!(
            scratch.unique_name,
            scratch.sid.as_str(),
            "[{case}] a room created without UniqueName must take its SID as unique_name"
        );
        complete(backend, case, &RoomKey::Sid(scratch.sid.clone())).await;
        Self {
            prefix: format!("ct{}", &scratch.sid.as_str()[2..14]),
            case,
            next: 0,
        }
    }

    fn fresh(&mut self) -> RoomName {
        self.next += 1;
        let name = format!("{}-{}-{}", self.prefix, self.case, self.next);
        RoomName::parse(&name).unwrap_or_else(|e| panic!("generated room name {name:?}: {e}"))
    }
}

async fn create(backend: &Arc<dyn RoomBackend>, case: &str, spec: &RoomSpec) -> Room {
    backend
        .create_room(spec)
        .await
        .unwrap_or_else(|e| panic!("[{case}] creating room {spec:?} failed: {e:?}"))
}

async fn complete(backend: &Arc<dyn RoomBackend>, case: &str, key: &RoomKey) -> Room {
    backend
        .complete_room(key)
        .await
        .unwrap_or_else(|e| panic!("[{case}] completing room {key:?} failed: {e:?}"))
}

async fn fetch(backend: &Arc<dyn RoomBackend>, case: &str, key: &RoomKey) -> Room {
    backend
        .fetch_room(key)
        .await
        .unwrap_or_else(|e| panic!("[{case}] fetching room {key:?} failed: {e:?}"))
}

fn sid_key(room: &Room) -> RoomKey {
    RoomKey::Sid(room.sid.clone())
}

/// Follows `next_page` from the first page to the last, returning every room in order.
async fn list_all(backend: &Arc<dyn RoomBackend>, case: &str, query: RoomQuery) -> Vec<Room> {
    let mut rooms = Vec::new();
    let mut query = query;
    // A backend that keeps answering with a next page would loop forever; no listing in this
    // suite has more than a few hundred pages.
    for _ in 0..1000 {
        let page = backend
            .list_rooms(&query)
            .await
            .unwrap_or_else(|e| panic!("[{case}] listing rooms with {query:?} failed: {e:?}"));
        if let Some(size) = query.page_size {
            assert!(
                page.rooms.len() <= size as usize,
                "[{case}] a page of size {size} held {} rooms",
                page.rooms.len()
            );
        }
        rooms.extend(page.rooms);
        match page.next_page {
            Some(token) => query.page_token = Some(token),
            None => return rooms,
        }
    }
    panic!("[{case}] listing with {query:?} did not end after 1000 pages");
}

/// A room asked for twice through the find-or-create use case is created once: the second
/// call returns the same SID.
pub async fn find_or_create_returns_the_same_room_on_the_second_call(
    backend: &Arc<dyn RoomBackend>,
) {
    const CASE: &str = "find-or-create";
    let mut names = Names::new(backend, CASE).await;
    let name = names.fresh();
    let service = RoomService::new(Arc::clone(backend), RoomType::Go);
    let first = service
        .find_or_create(&name)
        .await
        .unwrap_or_else(|e| panic!("[{CASE}] first find-or-create failed: {e:?}"));
    let second = service
        .find_or_create(&name)
        .await
        .unwrap_or_else(|e| panic!("[{CASE}] second find-or-create failed: {e:?}"));
    assert_eq!(
        first.sid, second.sid,
        "[{CASE}] the second find-or-create of {name} must return the room the first created"
    );
    assert_eq!(first.unique_name, name.as_str(), "[{CASE}] unique_name");
    assert_eq!(
        first.room_type,
        RoomType::Go,
        "[{CASE}] the service's room type"
    );
    assert_eq!(first.status, RoomStatus::InProgress, "[{CASE}] status");
    complete(backend, CASE, &sid_key(&first)).await;
}

/// Two token-service instances (two [`RoomService`]s on one backend) asked for the same new
/// room at the same moment, ten times each, all end up in one room: the loser of the creation
/// race gets 53113 and fetches the winner's room.
pub async fn two_services_racing_for_one_name_end_up_in_the_same_room(
    backend: &Arc<dyn RoomBackend>,
) {
    const CASE: &str = "racing-services";
    let mut names = Names::new(backend, CASE).await;
    let name = names.fresh();
    let first = RoomService::new(Arc::clone(backend), RoomType::Group);
    let second = RoomService::new(Arc::clone(backend), RoomType::Group);
    let requests = (0..20).map(|i| {
        let service = if i % 2 == 0 { &first } else { &second };
        service.find_or_create(&name)
    });
    let results = futures::future::join_all(requests).await;
    let mut sids: Vec<_> = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("[{CASE}] a racing find-or-create failed: {e:?}")))
        .map(|room| room.sid)
        .collect();
    sids.dedup();
    assert_eq!(
        sids.len(),
        1,
        "[{CASE}] every request for {name} must get the same room, got {sids:?}"
    );
    complete(backend, CASE, &RoomKey::Sid(sids.remove(0))).await;
}

/// A new room carries Twilio's defaults: in progress, the type's participant cap, 5-minute
/// timeouts, whole-second timestamps, no end time or duration yet; it can be fetched by SID
/// and by name.
pub async fn a_new_room_has_twilio_defaults_and_is_found_by_sid_and_name(
    backend: &Arc<dyn RoomBackend>,
) {
    const CASE: &str = "defaults";
    let mut names = Names::new(backend, CASE).await;
    for room_type in RoomType::ALL {
        let name = names.fresh();
        let room = create(backend, CASE, &RoomSpec::named(name.clone(), room_type)).await;
        let what = format!("[{CASE}] new {room_type} room {name}");
        assert_eq!(room.unique_name, name.as_str(), "{what}: unique_name");
        assert_eq!(room.status, RoomStatus::InProgress, "{what}: status");
        assert_eq!(room.room_type, room_type, "{what}: type");
        assert_eq!(
            room.max_participants,
            room_type.max_participants(),
            "{what}: max_participants defaults to the type's cap"
        );
        assert_eq!(room.empty_room_timeout, 5, "{what}: empty_room_timeout");
        assert_eq!(room.unused_room_timeout, 5, "{what}: unused_room_timeout");
        assert_eq!(room.end_time, None, "{what}: end_time while in progress");
        assert_eq!(room.duration, None, "{what}: duration while in progress");
        assert_eq!(
            room.date_created.nanosecond(),
            0,
            "{what}: timestamps are whole seconds"
        );
        assert!(
            room.date_updated >= room.date_created,
            "{what}: date_updated before date_created"
        );
        let by_sid = fetch(backend, CASE, &sid_key(&room)).await;
        assert_eq!(by_sid, room, "{what}: fetched by SID");
        let by_name = fetch(backend, CASE, &RoomKey::Name(name.clone())).await;
        assert_eq!(by_name.sid, room.sid, "{what}: fetched by name");
        complete(backend, CASE, &sid_key(&room)).await;
    }
}

/// Creating a room whose name an in-progress room has is refused with 53113 (`RoomExists`).
pub async fn a_duplicate_in_progress_name_is_refused_with_room_exists(
    backend: &Arc<dyn RoomBackend>,
) {
    const CASE: &str = "duplicate-name";
    let mut names = Names::new(backend, CASE).await;
    let name = names.fresh();
    let room = create(
        backend,
        CASE,
        &RoomSpec::named(name.clone(), RoomType::Group),
    )
    .await;
    let again = backend
        .create_room(&RoomSpec::named(name.clone(), RoomType::Group))
        .await;
    assert_eq!(
        again,
        Err(BackendError::RoomExists),
        "[{CASE}] creating {name} while it is in progress must fail with 53113"
    );
    complete(backend, CASE, &sid_key(&room)).await;
}

/// After completion a room is no longer found by name (404), but by SID it is, completed, with
/// `end_time` and a whole-second `duration`.
pub async fn a_completed_room_is_found_by_sid_but_not_by_name(backend: &Arc<dyn RoomBackend>) {
    const CASE: &str = "completed-lookup";
    let mut names = Names::new(backend, CASE).await;
    let name = names.fresh();
    let room = create(
        backend,
        CASE,
        &RoomSpec::named(name.clone(), RoomType::Group),
    )
    .await;
    let completed = complete(backend, CASE, &RoomKey::Name(name.clone())).await;
    assert_eq!(completed.sid, room.sid, "[{CASE}] completed the wrong room");
    assert_eq!(
        completed.status,
        RoomStatus::Completed,
        "[{CASE}] complete_room must answer with the completed room"
    );

    let by_name = backend.fetch_room(&RoomKey::Name(name.clone())).await;
    assert_eq!(
        by_name,
        Err(BackendError::NotFound),
        "[{CASE}] a name resolves only in-progress rooms, so {name} must now be 404"
    );

    let by_sid = fetch(backend, CASE, &sid_key(&room)).await;
    assert_eq!(
        by_sid.status,
        RoomStatus::Completed,
        "[{CASE}] status by SID"
    );
    let end = by_sid
        .end_time
        .unwrap_or_else(|| panic!("[{CASE}] a completed room must have end_time"));
    let duration = by_sid
        .duration
        .unwrap_or_else(|| panic!("[{CASE}] a completed room must have duration"));
    assert!(
        end >= room.date_created,
        "[{CASE}] end_time before date_created"
    );
    assert_eq!(end.nanosecond(), 0, "[{CASE}] end_time in whole seconds");
    assert_eq!(
        i64::try_from(duration).ok(),
        Some((end - by_sid.date_created).whole_seconds()),
        "[{CASE}] duration must be end_time - date_created in whole seconds"
    );
    assert!(
        by_sid.date_updated >= end,
        "[{CASE}] date_updated must move to the end"
    );
}

/// Completing a room that is no longer in progress is refused with 53112.
pub async fn completing_a_room_twice_is_refused_with_53112(backend: &Arc<dyn RoomBackend>) {
    const CASE: &str = "complete-twice";
    let mut names = Names::new(backend, CASE).await;
    let room = create(
        backend,
        CASE,
        &RoomSpec::named(names.fresh(), RoomType::Group),
    )
    .await;
    complete(backend, CASE, &sid_key(&room)).await;
    match backend.complete_room(&sid_key(&room)).await {
        Err(BackendError::Invalid { code: 53112, .. }) => {}
        other => panic!(
            "[{CASE}] completing {} again must fail with 53112, got {other:?}",
            room.sid
        ),
    }
}

/// Completion frees the name: a room created again under it is a new room (new SID), and the
/// name now resolves to it.
pub async fn a_name_is_free_again_after_completion(backend: &Arc<dyn RoomBackend>) {
    const CASE: &str = "name-freed";
    let mut names = Names::new(backend, CASE).await;
    let name = names.fresh();
    let first = create(
        backend,
        CASE,
        &RoomSpec::named(name.clone(), RoomType::Group),
    )
    .await;
    complete(backend, CASE, &sid_key(&first)).await;
    let second = create(
        backend,
        CASE,
        &RoomSpec::named(name.clone(), RoomType::Group),
    )
    .await;
    assert_ne!(
        first.sid, second.sid,
        "[{CASE}] the room created after completion must be a new room"
    );
    assert_eq!(
        second.status,
        RoomStatus::InProgress,
        "[{CASE}] new room status"
    );
    let by_name = fetch(backend, CASE, &RoomKey::Name(name.clone())).await;
    assert_eq!(
        by_name.sid, second.sid,
        "[{CASE}] {name} must resolve to the new room"
    );
    complete(backend, CASE, &sid_key(&second)).await;
}

/// Paging with `page_size` 2 over rooms that share a name (five completed generations of one
/// name) returns each exactly once, oldest first, across three pages.
pub async fn paging_by_unique_name_returns_every_room_exactly_once(backend: &Arc<dyn RoomBackend>) {
    const CASE: &str = "paging-by-name";
    let mut names = Names::new(backend, CASE).await;
    let name = names.fresh();
    let mut created = Vec::new();
    for _ in 0..5 {
        let room = create(
            backend,
            CASE,
            &RoomSpec::named(name.clone(), RoomType::Group),
        )
        .await;
        complete(backend, CASE, &sid_key(&room)).await;
        created.push(room.sid);
    }
    let query = RoomQuery {
        status: Some(RoomStatus::Completed),
        unique_name: Some(name.to_string()),
        page_size: Some(2),
        ..RoomQuery::default()
    };
    let first = backend
        .list_rooms(&query)
        .await
        .unwrap_or_else(|e| panic!("[{CASE}] first page failed: {e:?}"));
    assert_eq!(
        first.rooms.len(),
        2,
        "[{CASE}] first page of 5 with page_size 2"
    );
    assert!(
        first.next_page.is_some(),
        "[{CASE}] first page must have a next page"
    );

    let listed = list_all(backend, CASE, query).await;
    let listed_sids: Vec<_> = listed.iter().map(|r| r.sid.clone()).collect();
    let mut expected = created.clone();
    let mut got = listed_sids.clone();
    expected.sort();
    got.sort();
    assert_eq!(
        got, expected,
        "[{CASE}] paging over the 5 completed rooms named {name} must return each exactly once"
    );
    for pair in listed.windows(2) {
        assert!(
            pair[0].date_created <= pair[1].date_created,
            "[{CASE}] rooms must come oldest first"
        );
    }
    assert!(
        listed.iter().all(|r| r.status == RoomStatus::Completed),
        "[{CASE}] the status filter must hold on every page"
    );
}

/// Paging with `page_size` 2 and a creation-date filter over in-progress rooms returns each of
/// this case's rooms exactly once and never the same room twice, even when other tests create
/// rooms on the same backend meanwhile.
pub async fn paging_by_creation_date_returns_every_room_exactly_once(
    backend: &Arc<dyn RoomBackend>,
) {
    const CASE: &str = "paging-by-date";
    let mut names = Names::new(backend, CASE).await;
    let mut created = Vec::new();
    for _ in 0..6 {
        created.push(
            create(
                backend,
                CASE,
                &RoomSpec::named(names.fresh(), RoomType::Group),
            )
            .await,
        );
    }
    let since = created[0].date_created;
    let listed = list_all(
        backend,
        CASE,
        RoomQuery {
            created_after: Some(since),
            page_size: Some(2),
            ..RoomQuery::default()
        },
    )
    .await;
    let mut seen = std::collections::HashSet::new();
    for room in &listed {
        assert!(
            seen.insert(room.sid.clone()),
            "[{CASE}] room {} appeared on two pages",
            room.sid
        );
        assert!(
            room.date_created >= since,
            "[{CASE}] room {} was created before the DateCreatedAfter filter",
            room.sid
        );
        assert_eq!(
            room.status,
            RoomStatus::InProgress,
            "[{CASE}] the default status filter is in-progress"
        );
    }
    for room in &created {
        assert!(
            seen.contains(&room.sid),
            "[{CASE}] room {} ({}) is missing from the pages",
            room.sid,
            room.unique_name
        );
    }

    // A date filter that ends before the first room excludes all of them.
    let before = list_all(
        backend,
        CASE,
        RoomQuery {
            created_after: Some(since),
            created_before: Some(since),
            page_size: Some(2),
            ..RoomQuery::default()
        },
    )
    .await;
    assert!(
        before.is_empty(),
        "[{CASE}] after >= t and before < t must match nothing, got {} rooms",
        before.len()
    );
    for room in &created {
        complete(backend, CASE, &sid_key(room)).await;
    }
}

/// A page token the backend did not issue is refused with 21481.
pub async fn an_invalid_page_token_is_refused_with_21481(backend: &Arc<dyn RoomBackend>) {
    const CASE: &str = "page-token";
    let query = RoomQuery {
        page_token: Some("not-a-token".to_owned()),
        ..RoomQuery::default()
    };
    match backend.list_rooms(&query).await {
        Err(BackendError::Invalid { code: 21481, .. }) => {}
        other => panic!("[{CASE}] an invalid PageToken must fail with 21481, got {other:?}"),
    }
}

/// Listing with status `completed` returns completed rooms and none in progress.
pub async fn listing_completed_rooms_returns_only_completed_ones(backend: &Arc<dyn RoomBackend>) {
    const CASE: &str = "list-completed";
    let mut names = Names::new(backend, CASE).await;
    let done = create(
        backend,
        CASE,
        &RoomSpec::named(names.fresh(), RoomType::Group),
    )
    .await;
    complete(backend, CASE, &sid_key(&done)).await;
    let live = create(
        backend,
        CASE,
        &RoomSpec::named(names.fresh(), RoomType::Group),
    )
    .await;
    let since = done.date_created;
    let completed = list_all(
        backend,
        CASE,
        RoomQuery {
            status: Some(RoomStatus::Completed),
            created_after: Some(since),
            page_size: Some(50),
            ..RoomQuery::default()
        },
    )
    .await;
    assert!(
        completed.iter().any(|r| r.sid == done.sid),
        "[{CASE}] the completed room {} is missing from Status=completed",
        done.sid
    );
    assert!(
        completed.iter().all(|r| r.status == RoomStatus::Completed),
        "[{CASE}] Status=completed returned a room in another status"
    );
    assert!(
        !completed.iter().any(|r| r.sid == live.sid),
        "[{CASE}] the in-progress room {} appeared in Status=completed",
        live.sid
    );
    let in_progress = list_all(
        backend,
        CASE,
        RoomQuery {
            unique_name: Some(live.unique_name.clone()),
            ..RoomQuery::default()
        },
    )
    .await;
    assert_eq!(
        in_progress.iter().map(|r| &r.sid).collect::<Vec<_>>(),
        vec![&live.sid],
        "[{CASE}] the default listing (in-progress) by name must return just the live room"
    );
    complete(backend, CASE, &sid_key(&live)).await;
}

/// Unknown rooms are `NotFound`, by SID and by name.
pub async fn an_unknown_room_is_not_found(backend: &Arc<dyn RoomBackend>) {
    const CASE: &str = "not-found";
    let mut names = Names::new(backend, CASE).await;
    let unknown_sid = RoomKey::Sid(crate::sid::RoomSid::from_u128(0xdead_beef));
    assert_eq!(
        backend.fetch_room(&unknown_sid).await,
        Err(BackendError::NotFound),
        "[{CASE}] fetching an unknown SID"
    );
    assert_eq!(
        backend.fetch_room(&RoomKey::Name(names.fresh())).await,
        Err(BackendError::NotFound),
        "[{CASE}] fetching a name no room has"
    );
    assert_eq!(
        backend.complete_room(&RoomKey::Name(names.fresh())).await,
        Err(BackendError::NotFound),
        "[{CASE}] completing a name no room has"
    );
}

/// `max_participants` outside 1 to the type's cap is refused with 53107.
pub async fn max_participants_out_of_range_is_refused_with_53107(backend: &Arc<dyn RoomBackend>) {
    const CASE: &str = "max-participants";
    let mut names = Names::new(backend, CASE).await;
    for (room_type, bad) in [
        (RoomType::Go, 3),
        (RoomType::Group, 51),
        (RoomType::GroupSmall, 5),
        (RoomType::PeerToPeer, 11),
        (RoomType::Group, 0),
    ] {
        let spec = RoomSpec {
            max_participants: Some(bad),
            ..RoomSpec::named(names.fresh(), room_type)
        };
        match backend.create_room(&spec).await {
            Err(BackendError::Invalid { code: 53107, .. }) => {}
            other => panic!(
                "[{CASE}] MaxParticipants={bad} on a {room_type} room must fail with 53107, \
                 got {other:?}"
            ),
        }
    }
    let ok = create(
        backend,
        CASE,
        &RoomSpec {
            max_participants: Some(2),
            ..RoomSpec::named(names.fresh(), RoomType::Go)
        },
    )
    .await;
    assert_eq!(
        ok.max_participants, 2,
        "[{CASE}] MaxParticipants=2 on a go room"
    );
    complete(backend, CASE, &sid_key(&ok)).await;
}

/// Timeouts outside 1 to 60 minutes are refused with 53109; values inside are kept.
pub async fn timeouts_out_of_range_are_refused_with_53109(backend: &Arc<dyn RoomBackend>) {
    const CASE: &str = "timeouts";
    let mut names = Names::new(backend, CASE).await;
    for bad in [0, 61] {
        for empty in [true, false] {
            let mut spec = RoomSpec::named(names.fresh(), RoomType::Group);
            let field = if empty {
                spec.empty_room_timeout = Some(bad);
                "EmptyRoomTimeout"
            } else {
                spec.unused_room_timeout = Some(bad);
                "UnusedRoomTimeout"
            };
            match backend.create_room(&spec).await {
                Err(BackendError::Invalid { code: 53109, .. }) => {}
                other => panic!("[{CASE}] {field}={bad} must fail with 53109, got {other:?}"),
            }
        }
    }
    let ok = create(
        backend,
        CASE,
        &RoomSpec {
            empty_room_timeout: Some(1),
            unused_room_timeout: Some(60),
            ..RoomSpec::named(names.fresh(), RoomType::Group)
        },
    )
    .await;
    assert_eq!(
        (ok.empty_room_timeout, ok.unused_room_timeout),
        (1, 60),
        "[{CASE}] timeouts 1 and 60 are in range and must be kept"
    );
    complete(backend, CASE, &sid_key(&ok)).await;
}

/// Runs every case, one after the other.
pub async fn run_all(backend: Arc<dyn RoomBackend>) {
    let b = &backend;
    find_or_create_returns_the_same_room_on_the_second_call(b).await;
    two_services_racing_for_one_name_end_up_in_the_same_room(b).await;
    a_new_room_has_twilio_defaults_and_is_found_by_sid_and_name(b).await;
    a_duplicate_in_progress_name_is_refused_with_room_exists(b).await;
    a_completed_room_is_found_by_sid_but_not_by_name(b).await;
    completing_a_room_twice_is_refused_with_53112(b).await;
    a_name_is_free_again_after_completion(b).await;
    paging_by_unique_name_returns_every_room_exactly_once(b).await;
    paging_by_creation_date_returns_every_room_exactly_once(b).await;
    an_invalid_page_token_is_refused_with_21481(b).await;
    listing_completed_rooms_returns_only_completed_ones(b).await;
    an_unknown_room_is_not_found(b).await;
    max_participants_out_of_range_is_refused_with_53107(b).await;
    timeouts_out_of_range_are_refused_with_53109(b).await;
}

/// Declares one `#[tokio::test]` per contract case, each on a backend from `$make`, an async
/// function returning `Arc<dyn RoomBackend>` (the calling crate needs `tokio` as a
/// dev-dependency):
///
/// ```ignore
/// async fn backend() -> Arc<dyn RoomBackend> { /* … */ }
/// videoroom_core::contract_tests!(backend);
/// ```
#[macro_export]
macro_rules! contract_tests {
    ($make:path) => {
        $crate::contract_tests!(@cases $make;
            find_or_create_returns_the_same_room_on_the_second_call,
            two_services_racing_for_one_name_end_up_in_the_same_room,
            a_new_room_has_twilio_defaults_and_is_found_by_sid_and_name,
            a_duplicate_in_progress_name_is_refused_with_room_exists,
            a_completed_room_is_found_by_sid_but_not_by_name,
            completing_a_room_twice_is_refused_with_53112,
            a_name_is_free_again_after_completion,
            paging_by_unique_name_returns_every_room_exactly_once,
            paging_by_creation_date_returns_every_room_exactly_once,
            an_invalid_page_token_is_refused_with_21481,
            listing_completed_rooms_returns_only_completed_ones,
            an_unknown_room_is_not_found,
            max_participants_out_of_range_is_refused_with_53107,
            timeouts_out_of_range_are_refused_with_53109,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let backend = $make().await;
                $crate::contract::$case(&backend).await;
            }
        )*
    };
}
