use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{assert_twilio_error, spawn};

fn sids(page: &Value, key: &str) -> Vec<String> {
    page[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sid"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn an_empty_listing_is_twilios_read_empty_envelope() {
    let app = spawn().await;
    let res = app.get("/v1/Rooms").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.starts_with(r#"{"rooms":[],"meta":{"#), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let expected_url = format!("{}/v1/Rooms?PageSize=50&Page=0", app.base);
    assert_eq!(
        body["meta"],
        serde_json::json!({
            "page": 0,
            "page_size": 50,
            "first_page_url": expected_url,
            "previous_page_url": null,
            "url": expected_url,
            "next_page_url": null,
            "key": "rooms",
        })
    );
}

#[actix_web::test]
async fn paging_follows_absolute_next_page_urls_across_every_room_once() {
    let app = spawn().await;
    let mut created = HashSet::new();
    for i in 0..5 {
        let room = app
            .create_room(&[("UniqueName", &format!("room-{i}"))])
            .await;
        created.insert(room["sid"].as_str().unwrap().to_owned());
    }
    let first: Value = app.get("/v1/Rooms?PageSize=2").await.json().await.unwrap();
    assert_eq!(first["meta"]["page_size"], 2);
    assert_eq!(first["meta"]["previous_page_url"], Value::Null);

    let mut seen = sids(&first, "rooms");
    let mut page = first;
    let mut pages = 1;
    while let Some(next) = page["meta"]["next_page_url"].as_str() {
        assert!(next.starts_with(&app.base), "absolute and ours: {next}");
        assert!(next.contains("PageSize=2&Page="), "{next}");
        let res = app.get_absolute(next).await;
        assert_eq!(res.status(), 200);
        page = res.json().await.unwrap();
        assert!(page["meta"]["previous_page_url"].is_string());
        seen.extend(sids(&page, "rooms"));
        pages += 1;
        assert!(pages <= 5, "paging must end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), created);

    // And back: the previous page of the last page is the second page.
    let previous = page["meta"]["previous_page_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let back: Value = app.get_absolute(&previous).await.json().await.unwrap();
    assert_eq!(back["rooms"].as_array().unwrap().len(), 2);
    assert_eq!(back["meta"]["page"], 1);
}

#[actix_web::test]
async fn filters_select_rooms_and_appear_before_paging_in_meta_urls() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "live")]).await;
    app.create_room(&[("UniqueName", "over")]).await;
    assert_eq!(
        app.post("/v1/Rooms/over", &[("Status", "completed")])
            .await
            .status(),
        202
    );

    let default: Value = app.get("/v1/Rooms").await.json().await.unwrap();
    let names: Vec<&str> = default["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["unique_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["live"], "Status defaults to in-progress");

    let completed: Value = app
        .get("/v1/Rooms?Status=completed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(completed["rooms"][0]["unique_name"], "over");
    assert_eq!(completed["rooms"].as_array().unwrap().len(), 1);
    assert_eq!(
        completed["meta"]["url"],
        format!("{}/v1/Rooms?Status=completed&PageSize=50&Page=0", app.base)
    );

    let by_name: Value = app
        .get("/v1/Rooms?UniqueName=live")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_name["rooms"].as_array().unwrap().len(), 1);
    let by_completed_name: Value = app
        .get("/v1/Rooms?UniqueName=over")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_completed_name["rooms"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn date_filters_accept_both_formats_after_inclusive_before_exclusive() {
    let app = spawn().await;
    // The early room must outlive the clock jump, so its unused-room timeout is the longest.
    let early = app
        .create_room(&[("UniqueName", "early"), ("UnusedRoomTimeout", "60")])
        .await;
    app.emulator
        .advance_clock(Duration::from_secs(1200))
        .expect("far below the clock cap");
    let late = app.create_room(&[("UniqueName", "late")]).await;
    let late_created = late["date_created"].as_str().unwrap().to_owned();
    let early_created = early["date_created"].as_str().unwrap().to_owned();

    let after: Value = app
        .get(&format!("/v1/Rooms?DateCreatedAfter={late_created}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sids(&after, "rooms"), [late["sid"].as_str().unwrap()]);
    let before: Value = app
        .get(&format!("/v1/Rooms?DateCreatedBefore={late_created}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sids(&before, "rooms"), [early["sid"].as_str().unwrap()]);
    assert!(
        before["meta"]["url"]
            .as_str()
            .unwrap()
            .contains("DateCreatedBefore=")
            && before["meta"]["url"].as_str().unwrap().contains("%3A"),
        "values are percent-encoded: {}",
        before["meta"]["url"]
    );

    // A bare day covers both rooms when the day starts before them.
    let day = &early_created[..10];
    let from_day: Value = app
        .get(&format!("/v1/Rooms?DateCreatedAfter={day}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(from_day["rooms"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn bad_list_parameters_are_twilio_errors() {
    let app = spawn().await;
    assert_twilio_error(app.get("/v1/Rooms?PageSize=0").await, 400, 20001).await;
    assert_twilio_error(app.get("/v1/Rooms?PageSize=1001").await, 400, 20001).await;
    assert_twilio_error(app.get("/v1/Rooms?PageSize=ten").await, 400, 20001).await;
    assert_twilio_error(app.get("/v1/Rooms?Status=sleeping").await, 400, 20001).await;
    assert_twilio_error(
        app.get("/v1/Rooms?DateCreatedAfter=yesterday").await,
        400,
        20001,
    )
    .await;
    let body = assert_twilio_error(app.get("/v1/Rooms?PageToken=forged").await, 400, 21481).await;
    assert_eq!(body["message"], "Invalid PageToken");
}

#[actix_web::test]
async fn page_size_1000_is_accepted() {
    let app = spawn().await;
    let body: Value = app
        .get("/v1/Rooms?PageSize=1000")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["meta"]["page_size"], 1000);
}
