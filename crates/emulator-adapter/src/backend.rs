//! The port adapter: [`RoomBackend`] over a [`Store`].

use std::sync::Arc;

use async_trait::async_trait;
use videoroom_core::{
    twilio_codes, BackendError, Room, RoomBackend, RoomKey, RoomPage, RoomQuery, RoomSpec,
};

use crate::error::StoreError;
use crate::model::CreateRoom;
use crate::store::Store;

/// The token service's backend in emulator mode: the port answered straight from the store,
/// with no HTTP in between.
#[derive(Debug, Clone)]
pub struct EmulatorBackend {
    store: Arc<Store>,
}

impl EmulatorBackend {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// The store behind this backend.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// Maps a store error onto the port's terms: 20404 → `NotFound`, 53113 → `RoomExists`,
/// anything else → `Invalid { code, message }`.
impl From<StoreError> for BackendError {
    fn from(err: StoreError) -> Self {
        match err.code {
            twilio_codes::NOT_FOUND => BackendError::NotFound,
            twilio_codes::ROOM_EXISTS => BackendError::RoomExists,
            code => BackendError::Invalid {
                code,
                message: err.message,
            },
        }
    }
}

#[async_trait]
impl RoomBackend for EmulatorBackend {
    async fn create_room(&self, spec: &RoomSpec) -> Result<Room, BackendError> {
        Ok(self.store.create_room(&CreateRoom::from(spec))?.to_room())
    }

    async fn fetch_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        // The store resolves the key as the port says: a name among in-progress rooms only.
        Ok(self.store.fetch_room(key)?.to_room())
    }

    async fn list_rooms(&self, query: &RoomQuery) -> Result<RoomPage, BackendError> {
        let page = self.store.list_rooms(query)?;
        Ok(RoomPage {
            rooms: page.items.iter().map(|r| r.to_room()).collect(),
            next_page: page.next_page,
        })
    }

    async fn complete_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        Ok(self.store.complete_room(key)?.to_room())
    }
}
