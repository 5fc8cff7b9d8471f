//! The port's contract suite, run through the Twilio adapter over HTTP against a standalone
//! emulator, so that the adapter and the emulator's REST face cannot drift from the in-memory
//! store (which runs the same suite directly).
//!
//! One emulator serves every case: it runs on its own thread, under its own actix system, on
//! a loopback port chosen by the OS. The suite names its rooms uniquely per case, so the cases
//! can share it and run in parallel; each case gets a fresh adapter on its own runtime.

use std::sync::{Arc, OnceLock};

use secrecy::SecretString;
use url::Url;
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_core::{
    AccountSid, ApiKeySid, BackendError, RoomBackend, RoomKey, RoomName, RoomQuery, RoomSpec,
    RoomStatus, RoomType,
};
use videoroom_emulator::EmulatorSettings;
use videoroom_test_support::serve;
use videoroom_twilio_adapter::{CheckError, TwilioAdapter, TwilioConfig};

/// The base URL of the shared emulator, started on first use.
fn emulator_base_url() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| serve::emulator_on_own_thread(EmulatorSettings::seeded(), 2))
}

fn seeded_config() -> TwilioConfig {
    let mut config = TwilioConfig::new(
        AccountSid::parse(TEST_ACCOUNT_SID).expect("seeded account SID"),
        ApiKeySid::parse(TEST_API_KEY_SID).expect("seeded API key SID"),
        SecretString::from(TEST_API_KEY_SECRET),
    );
    config.base_url = Url::parse(emulator_base_url()).expect("emulator URL");
    config
}

async fn backend() -> Arc<dyn RoomBackend> {
    Arc::new(TwilioAdapter::new(seeded_config()).expect("valid settings"))
}

videoroom_core::contract_tests!(backend);

#[tokio::test]
async fn check_accepts_the_emulators_seeded_api_key_and_confirms_its_account() {
    let adapter = TwilioAdapter::new(seeded_config()).expect("valid settings");
    // With a room in progress the check can see which account the key belongs to.
    let room = adapter
        .create_room(&RoomSpec::default())
        .await
        .expect("a room to look at");
    let report = adapter.check().await;
    adapter
        .complete_room(&RoomKey::Sid(room.sid))
        .await
        .expect("completed");
    let report = report.expect("the seeded key opens the emulator");
    assert_eq!(report.api_key_sid.as_str(), TEST_API_KEY_SID);
    assert!(report.account_confirmed, "{report}");
}

#[tokio::test]
async fn check_against_the_emulator_explains_a_wrong_secret() {
    let mut config = seeded_config();
    config.api_key_secret = SecretString::from("not-the-secret");
    let adapter = TwilioAdapter::new(config).expect("valid settings");
    let err = adapter
        .check()
        .await
        .expect_err("a wrong secret is refused");
    assert!(matches!(err, CheckError::BadCredentials { .. }), "{err:?}");
}

/// The contract suite names rooms in ASCII; the workshop's attendees do not. A name with a
/// space and Japanese letters must survive percent-encoding in the path (fetch, complete) and
/// in the query (the `UniqueName` filter) both ways.
#[tokio::test]
async fn a_japanese_room_name_with_a_space_round_trips_through_path_and_query() {
    let adapter = TwilioAdapter::new(seeded_config()).expect("valid settings");
    let scratch = adapter
        .create_room(&RoomSpec::default())
        .await
        .expect("an unnamed room for a unique suffix");
    adapter
        .complete_room(&RoomKey::Sid(scratch.sid.clone()))
        .await
        .expect("completed");
    let name = RoomName::parse(&format!("会議室 {}", &scratch.sid.as_str()[2..10]))
        .expect("a valid room name");
    let created = adapter
        .create_room(&RoomSpec::named(name.clone(), RoomType::Go))
        .await
        .expect("created");
    assert_eq!(created.unique_name, name.as_str());
    let by_name = RoomKey::Name(name.clone());
    let fetched = adapter.fetch_room(&by_name).await.expect("found by name");
    assert_eq!(fetched.sid, created.sid);
    let listed = adapter
        .list_rooms(&RoomQuery {
            unique_name: Some(name.as_str().to_owned()),
            ..RoomQuery::default()
        })
        .await
        .expect("listed");
    assert_eq!(
        listed.rooms.iter().map(|r| &r.sid).collect::<Vec<_>>(),
        [&created.sid]
    );
    let completed = adapter
        .complete_room(&by_name)
        .await
        .expect("completed by name");
    assert_eq!(
        (completed.sid, completed.status),
        (created.sid, RoomStatus::Completed)
    );
}

#[tokio::test]
async fn a_wrong_secret_makes_every_operation_unauthorized() {
    let mut config = seeded_config();
    config.api_key_secret = SecretString::from("not-the-secret");
    let adapter = TwilioAdapter::new(config).expect("valid settings");
    assert_eq!(
        adapter.create_room(&RoomSpec::default()).await,
        Err(BackendError::Unauthorized)
    );
    assert_eq!(
        adapter.list_rooms(&RoomQuery::default()).await,
        Err(BackendError::Unauthorized)
    );
}
