//! A whole class clicking "join" at once: 300 simultaneous first requests for a new room.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use videoroom_core::{RoomQuery, RoomStatus};
use videoroom_server::settings::Overrides;

use crate::helpers::spawn_app_with_latency;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_simultaneous_requests_for_a_new_room_create_exactly_one_room() {
    // Each backend call takes 50 ms, as over a network, so the requests overlap inside the
    // lookup; without single flight, many of them would try to create the room.
    let app =
        Arc::new(spawn_app_with_latency(Overrides::default(), Duration::from_millis(50)).await);
    let barrier = Arc::new(tokio::sync::Barrier::new(300));
    let requests: Vec<_> = (0..300)
        .map(|i| {
            let (app, barrier) = (app.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let response = app
                    .get(&format!("/video-token?identity=student{i}&room=ClassOf300"))
                    .await;
                let status = response.status().as_u16();
                let body: Value = response.json().await.expect("a JSON answer");
                (status, body)
            })
        })
        .collect();

    let mut sids = HashSet::new();
    for request in requests {
        let (status, body) = request.await.expect("the request task finishes");
        assert_eq!(status, 200, "{body}");
        sids.insert(body["roomSid"].as_str().expect("roomSid").to_owned());
    }
    let backend = app.backend.as_ref().expect("a counting backend");
    assert_eq!(
        backend.creates(),
        1,
        "exactly one creation reached the backend"
    );
    assert_eq!(
        sids.len(),
        1,
        "every answer carries the one room's SID: {sids:?}"
    );

    let listed = backend
        .inner()
        .list_rooms(&RoomQuery {
            status: Some(RoomStatus::InProgress),
            unique_name: Some("ClassOf300".into()),
            ..RoomQuery::default()
        })
        .await
        .expect("the backend lists rooms");
    assert_eq!(listed.rooms.len(), 1);
    assert!(sids.contains(listed.rooms[0].sid.as_str()));
}
