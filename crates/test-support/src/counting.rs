//! A `RoomBackend` decorator that counts the calls reaching the backend and can slow them down.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use videoroom_core::{BackendError, Room, RoomBackend, RoomKey, RoomPage, RoomQuery, RoomSpec};

/// A backend decorator that counts calls and can add latency.
pub struct CountingBackend {
    inner: Arc<dyn RoomBackend>,
    latency: Duration,
    pub creates: AtomicUsize,
    pub fetches: AtomicUsize,
}

impl CountingBackend {
    /// Counts the calls to `inner`, each taking at least `latency` (as a real network would),
    /// so that concurrent requests overlap inside the backend.
    pub fn new(inner: Arc<dyn RoomBackend>, latency: Duration) -> Self {
        Self {
            inner,
            latency,
            creates: AtomicUsize::new(0),
            fetches: AtomicUsize::new(0),
        }
    }

    pub fn creates(&self) -> usize {
        self.creates.load(Ordering::SeqCst)
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub fn inner(&self) -> &Arc<dyn RoomBackend> {
        &self.inner
    }

    async fn wait(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

#[async_trait]
impl RoomBackend for CountingBackend {
    async fn create_room(&self, spec: &RoomSpec) -> Result<Room, BackendError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        self.wait().await;
        self.inner.create_room(spec).await
    }

    async fn fetch_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.wait().await;
        self.inner.fetch_room(key).await
    }

    async fn list_rooms(&self, query: &RoomQuery) -> Result<RoomPage, BackendError> {
        self.inner.list_rooms(query).await
    }

    async fn complete_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.inner.complete_room(key).await
    }
}
