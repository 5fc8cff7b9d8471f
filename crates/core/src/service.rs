//! The find-or-create use case (step 3 of the workshop), done right.
//!
//! The workshop's original handler lists the in-progress room by name and creates it when the
//! list is empty. When a whole class clicks "join" at once that races: several requests see no
//! room, all try to create it, and all but one fail. Here:
//!
//! 1. concurrent requests for the same room share one lookup-and-create (single flight), so
//!    300 simultaneous first requests make exactly one backend creation;
//! 2. a creation that fails because the name now exists (53113, another server instance won the
//!    race) is followed by one more fetch, which finds the winner's room;
//! 3. backend failures come back as a typed [`BackendError`], never a panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::{BoxFuture, FutureExt, Shared};

use crate::port::{BackendError, RoomBackend, RoomKey};
use crate::room::{Room, RoomName, RoomSpec, RoomType};

type Flight = Shared<BoxFuture<'static, Result<Room, BackendError>>>;

/// Finds the in-progress room with a given name, creating it when there is none.
pub struct RoomService {
    backend: Arc<dyn RoomBackend>,
    room_type: RoomType,
    /// Where the rooms this service creates send their status callbacks, if anywhere.
    status_callback: Option<String>,
    in_flight: Mutex<HashMap<RoomName, Flight>>,
}

impl RoomService {
    /// A service whose new rooms are of `room_type`.
    pub fn new(backend: Arc<dyn RoomBackend>, room_type: RoomType) -> Self {
        Self {
            backend,
            room_type,
            status_callback: None,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The same service, with every room it creates carrying `url` as its `StatusCallback`
    /// (so that the token service hears when its rooms end and can forget them).
    pub fn with_status_callback(mut self, url: Option<String>) -> Self {
        self.status_callback = url;
        self
    }

    /// The backend this service talks to.
    pub fn backend(&self) -> &Arc<dyn RoomBackend> {
        &self.backend
    }

    /// The type given to rooms this service creates.
    pub fn room_type(&self) -> RoomType {
        self.room_type
    }

    /// Returns the in-progress room named `name`, creating it when absent.
    ///
    /// Callers asking for the same name while a lookup is under way wait for that lookup and
    /// get its result instead of starting their own.
    pub async fn find_or_create(&self, name: &RoomName) -> Result<Room, BackendError> {
        let (flight, leader) = {
            let mut map = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match map.get(name) {
                Some(flight) => (flight.clone(), false),
                None => {
                    let mut spec = RoomSpec::named(name.clone(), self.room_type);
                    spec.status_callback.clone_from(&self.status_callback);
                    let flight = find_or_create_once(Arc::clone(&self.backend), spec)
                        .boxed()
                        .shared();
                    map.insert(name.clone(), flight.clone());
                    (flight, true)
                }
            }
        };
        // Whoever started the flight removes it once it lands, even if this future is dropped
        // midway (the guard runs on drop), so a cancelled request cannot wedge the name.
        let _guard = leader.then(|| FlightGuard {
            map: &self.in_flight,
            name,
        });
        flight.await
    }
}

struct FlightGuard<'a> {
    map: &'a Mutex<HashMap<RoomName, Flight>>,
    name: &'a RoomName,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.name);
    }
}

async fn find_or_create_once(
    backend: Arc<dyn RoomBackend>,
    spec: RoomSpec,
) -> Result<Room, BackendError> {
    let name = spec
        .unique_name
        .clone()
        .expect("find_or_create always names the room it looks up");
    let key = RoomKey::Name(name);
    match backend.fetch_room(&key).await {
        Ok(room) => return Ok(room),
        Err(BackendError::NotFound) => {}
        Err(other) => return Err(other),
    }
    match backend.create_room(&spec).await {
        Ok(room) => Ok(room),
        // Someone else created it between our fetch and our create: theirs is the room.
        Err(BackendError::RoomExists) => backend.fetch_room(&key).await,
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex as StdMutex;

    use async_trait::async_trait;
    use time::OffsetDateTime;

    use super::*;
    use crate::port::{RoomPage, RoomQuery};
    use crate::room::RoomStatus;
    use crate::sid::RoomSid;

    /// A backend that answers after yielding, counts calls, and can be told to lose the
    /// creation race once (answer 53113 although the fetch saw no room).
    #[derive(Default)]
    struct CountingBackend {
        fetches: AtomicUsize,
        creates: AtomicUsize,
        rooms: StdMutex<Vec<Room>>,
        lose_race_once: StdMutex<bool>,
    }

    fn room(name: &str, n: u128) -> Room {
        let at = OffsetDateTime::UNIX_EPOCH;
        Room {
            sid: RoomSid::from_u128(n),
            unique_name: name.to_owned(),
            status: RoomStatus::InProgress,
            room_type: RoomType::Group,
            max_participants: 50,
            date_created: at,
            date_updated: at,
            end_time: None,
            duration: None,
            empty_room_timeout: 5,
            unused_room_timeout: 5,
        }
    }

    #[async_trait]
    impl RoomBackend for CountingBackend {
        async fn create_room(&self, spec: &RoomSpec) -> Result<Room, BackendError> {
            tokio::task::yield_now().await;
            let n = self.creates.fetch_add(1, Ordering::SeqCst) as u128 + 1;
            let name = spec
                .unique_name
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_default();
            let mut lose = self.lose_race_once.lock().unwrap();
            if *lose {
                *lose = false;
                // The "other instance" created the room a moment ago.
                self.rooms.lock().unwrap().push(room(&name, 999));
                return Err(BackendError::RoomExists);
            }
            let created = room(&name, n);
            self.rooms.lock().unwrap().push(created.clone());
            Ok(created)
        }

        async fn fetch_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
            tokio::task::yield_now().await;
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let rooms = self.rooms.lock().unwrap();
            rooms
                .iter()
                .find(|r| r.unique_name == key.as_path_segment())
                .cloned()
                .ok_or(BackendError::NotFound)
        }

        async fn list_rooms(&self, _: &RoomQuery) -> Result<RoomPage, BackendError> {
            unreachable!("find-or-create does not list")
        }

        async fn complete_room(&self, _: &RoomKey) -> Result<Room, BackendError> {
            unreachable!("find-or-create does not complete")
        }
    }

    fn name(s: &str) -> RoomName {
        RoomName::parse(s).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn three_hundred_simultaneous_first_requests_create_exactly_one_room() {
        let backend = Arc::new(CountingBackend::default());
        let service = Arc::new(RoomService::new(backend.clone(), RoomType::Group));
        let barrier = Arc::new(tokio::sync::Barrier::new(300));
        let tasks: Vec<_> = (0..300)
            .map(|_| {
                let (service, barrier) = (service.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    service.find_or_create(&name("myroom")).await
                })
            })
            .collect();
        let mut sids = std::collections::HashSet::new();
        for task in tasks {
            sids.insert(task.await.unwrap().unwrap().sid);
        }
        assert_eq!(backend.creates.load(Ordering::SeqCst), 1);
        assert_eq!(
            sids.len(),
            1,
            "every request answers with the one room's SID"
        );
    }

    #[tokio::test]
    async fn an_existing_room_is_returned_without_creating_another() {
        let backend = Arc::new(CountingBackend::default());
        backend.rooms.lock().unwrap().push(room("myroom", 7));
        let service = RoomService::new(backend.clone(), RoomType::Go);
        let found = service.find_or_create(&name("myroom")).await.unwrap();
        assert_eq!(found.sid, RoomSid::from_u128(7));
        assert_eq!(backend.creates.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn losing_the_creation_race_to_another_instance_returns_the_winners_room() {
        let backend = Arc::new(CountingBackend::default());
        *backend.lose_race_once.lock().unwrap() = true;
        let service = RoomService::new(backend.clone(), RoomType::Group);
        let found = service.find_or_create(&name("myroom")).await.unwrap();
        assert_eq!(found.sid, RoomSid::from_u128(999));
        assert_eq!(backend.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn created_rooms_carry_the_configured_status_callback() {
        #[derive(Default)]
        struct Recording(StdMutex<Vec<RoomSpec>>);
        #[async_trait]
        impl RoomBackend for Recording {
            async fn create_room(&self, spec: &RoomSpec) -> Result<Room, BackendError> {
                self.0.lock().unwrap().push(spec.clone());
                Ok(room("cb", 1))
            }
            async fn fetch_room(&self, _: &RoomKey) -> Result<Room, BackendError> {
                Err(BackendError::NotFound)
            }
            async fn list_rooms(&self, _: &RoomQuery) -> Result<RoomPage, BackendError> {
                unreachable!("find-or-create does not list")
            }
            async fn complete_room(&self, _: &RoomKey) -> Result<Room, BackendError> {
                unreachable!("find-or-create does not complete")
            }
        }
        let backend = Arc::new(Recording::default());
        let url = "https://tokens.example.test/twilio/status-callback";
        let service = RoomService::new(backend.clone(), RoomType::Group)
            .with_status_callback(Some(url.into()));
        service.find_or_create(&name("cb")).await.unwrap();
        let specs = backend.0.lock().unwrap();
        assert_eq!(specs[0].status_callback.as_deref(), Some(url));
        assert_eq!(specs[0].unique_name, Some(name("cb")));
    }

    #[tokio::test]
    async fn later_requests_start_a_new_lookup_once_the_first_has_landed() {
        let backend = Arc::new(CountingBackend::default());
        let service = RoomService::new(backend.clone(), RoomType::Group);
        service.find_or_create(&name("a")).await.unwrap();
        service.find_or_create(&name("a")).await.unwrap();
        assert_eq!(backend.fetches.load(Ordering::SeqCst), 2);
        assert_eq!(backend.creates.load(Ordering::SeqCst), 1);
        assert!(service.in_flight.lock().unwrap().is_empty());
    }
}
