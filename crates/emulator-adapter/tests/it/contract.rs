//! The port's contract suite against the in-memory store, through `EmulatorBackend`.

use std::sync::Arc;

use videoroom_core::RoomBackend;
use videoroom_emulator_adapter::{EmulatorBackend, Store};

/// A fresh store on the system clock: the suite must hold with real time passing.
async fn backend() -> Arc<dyn RoomBackend> {
    Arc::new(EmulatorBackend::new(Arc::new(Store::default())))
}

videoroom_core::contract_tests!(backend);

/// All cases in sequence against one shared store, as they run against a shared emulator.
#[tokio::test]
async fn the_whole_suite_passes_against_one_shared_store() {
    videoroom_core::contract::run_all(backend().await).await;
}
