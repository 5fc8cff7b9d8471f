use serde_json::Value;
use videoroom_core::credentials::{
    TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID, TEST_AUTH_TOKEN,
};
use videoroom_emulator::EmulatorSettings;

use crate::helpers::{assert_twilio_error, spawn, spawn_with};

#[actix_web::test]
async fn the_account_sid_with_its_auth_token_is_accepted() {
    let app = spawn().await;
    let res = app
        .client
        .get(app.url("/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn an_api_key_sid_with_its_secret_is_accepted() {
    let app = spawn().await;
    let res = app
        .client
        .post(app.url("/v1/Rooms"))
        .basic_auth(TEST_API_KEY_SID, Some(TEST_API_KEY_SECRET))
        .form(&[("UniqueName", "keyed")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[actix_web::test]
async fn wrong_or_missing_credentials_get_twilios_exact_401() {
    let app = spawn().await;
    let attempts = [
        Some((TEST_ACCOUNT_SID, "wrong")),
        Some((TEST_API_KEY_SID, TEST_AUTH_TOKEN)),
        Some((TEST_ACCOUNT_SID, TEST_API_KEY_SECRET)),
        Some(("ACffffffffffffffffffffffffffffffff", TEST_AUTH_TOKEN)),
        None,
    ];
    for attempt in attempts {
        let mut req = app.client.get(app.url("/v1/Rooms"));
        if let Some((user, password)) = attempt {
            req = req.basic_auth(user, Some(password));
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{attempt:?}");
        let text = res.text().await.unwrap();
        assert_eq!(
            text,
            r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#
        );
    }
}

#[actix_web::test]
async fn control_routes_need_the_same_credentials() {
    let app = spawn().await;
    let res = app
        .client
        .post(app.url("/emulator/reset"))
        .send()
        .await
        .unwrap();
    assert_twilio_error(res, 401, 20003).await;
    let res = app
        .client
        .get(app.url("/emulator/callbacks"))
        .basic_auth(TEST_ACCOUNT_SID, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_twilio_error(res, 401, 20003).await;
}

#[actix_web::test]
async fn configured_credentials_replace_the_seeded_ones() {
    let settings = EmulatorSettings::from_lookup(|name| match name {
        "ACCOUNT_SID" => Some("AC0123456789abcdef0123456789abcdef".to_owned()),
        "AUTH_TOKEN" => Some("configured-token".to_owned()),
        _ => None,
    })
    .unwrap();
    let app = spawn_with(settings).await;
    let seeded = app
        .client
        .get(app.url("/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), 401);
    let room: Value = app
        .client
        .post(app.url("/v1/Rooms"))
        .basic_auth(
            "AC0123456789abcdef0123456789abcdef",
            Some("configured-token"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(room["account_sid"], "AC0123456789abcdef0123456789abcdef");
}

#[actix_web::test]
async fn unknown_routes_are_20404_and_wrong_methods_20004() {
    let app = spawn().await;
    // A path of no Twilio resource (Compositions, used here before, now exists).
    let body = assert_twilio_error(app.get("/v1/NoSuchResource").await, 404, 20404).await;
    assert_eq!(
        body["message"],
        "The requested resource /NoSuchResource was not found"
    );
    assert_twilio_error(app.get("/emulator/nothing-here").await, 404, 20404).await;

    let res = app
        .client
        .delete(app.url("/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_twilio_error(res, 405, 20004).await;
    let res = app
        .client
        .put(app.url("/emulator/reset"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_twilio_error(res, 405, 20004).await;
}

#[actix_web::test]
async fn invalid_utf8_bodies_are_a_twilio_400() {
    let app = spawn().await;
    let res = app
        .post_raw("/v1/Rooms", b"UniqueName=\xff\xfe".to_vec())
        .await;
    assert_twilio_error(res, 400, 20001).await;
    let res = app
        .post_raw("/v1/Rooms", b"UniqueName=%C3%28".to_vec())
        .await;
    assert_twilio_error(res, 400, 20001).await;
    // Nothing was created by the refused requests.
    let list: Value = app.get("/v1/Rooms").await.json().await.unwrap();
    assert_eq!(list["rooms"], serde_json::json!([]));
}

#[actix_web::test]
async fn malformed_form_bodies_are_read_leniently_as_twilio_does() {
    let app = spawn().await;
    // A JSON body is not form data: it yields no known parameter, so the room gets defaults.
    let res = app
        .client
        .post(app.url("/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .header("Content-Type", "application/json")
        .body(r#"{"UniqueName":"json"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let room: Value = res.json().await.unwrap();
    assert_eq!(room["unique_name"], room["sid"]);
    // A lone '%', empty pairs and a key without '=' do not break parsing.
    let res = app
        .post_raw("/v1/Rooms", b"&&UniqueName=100%&=x&Unknown".to_vec())
        .await;
    assert_eq!(res.status(), 201);
    let room: Value = res.json().await.unwrap();
    assert_eq!(room["unique_name"], "100%");
}

#[actix_web::test]
async fn oversize_bodies_are_a_twilio_413_without_reading_them_whole() {
    let app = spawn().await;
    let huge = format!("UniqueName={}", "a".repeat(2 * 1024 * 1024));
    let res = app.post_raw("/v1/Rooms", huge.into_bytes()).await;
    assert_twilio_error(res, 413, 20001).await;

    // Without a Content-Length (chunked), the limit still applies as the body streams in.
    let status_line = chunked_post(&app.base, "/v1/Rooms", 100, 4096).await;
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
}

/// Sends a chunked POST of `chunks` chunks of `size` bytes over a raw socket (reqwest cannot
/// stream a body without an extra feature) and returns the response's status line and body.
async fn chunked_post(base: &str, path: &str, chunks: usize, size: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{TEST_ACCOUNT_SID}:{TEST_AUTH_TOKEN}"),
    );
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{size:x}\r\n{}\r\n", "a".repeat(size));
    for _ in 0..chunks {
        // The server may answer and close before the whole body is sent; that is the point.
        if socket.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert!(text.contains(r#""code":20001"#), "{text}");
    text
}

/// Odd but possible requests: every one gets an answer below 500, and every refusal is
/// Twilio-shaped JSON.
#[actix_web::test]
async fn no_odd_request_gets_a_server_error_or_a_non_twilio_body() {
    let app = spawn().await;
    app.create_room(&[("UniqueName", "r")]).await;
    app.join("r", "alice").await;
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("GET", "/v1/Rooms/%FF", vec![]),
        ("GET", "/v1/Rooms/r/Participants/%C3%28", vec![]),
        (
            "GET",
            "/v1/Rooms/r/Participants/alice/PublishedTracks/%00",
            vec![],
        ),
        ("GET", "/v1/Rooms/", vec![]),
        ("GET", "/v1/Rooms?PageToken=%FF%FE", vec![]),
        ("GET", "/v1/Rooms?Page=-1", vec![]),
        ("GET", "/v1/Rooms?DateCreatedAfter=9999-99-99", vec![]),
        ("GET", "/v1/Rooms?PageSize=99999999999999999999", vec![]),
        (
            "POST",
            "/v1/Rooms",
            b"MaxParticipants=99999999999999999999".to_vec(),
        ),
        ("POST", "/v1/Rooms", b"EmptyRoomTimeout=%00".to_vec()),
        ("POST", "/v1/Rooms", b"UniqueName=%".to_vec()),
        ("POST", "/v1/Rooms", b"UniqueName=".to_vec()),
        (
            "POST",
            "/v1/Rooms",
            format!("UniqueName={}", "x".repeat(200)).into_bytes(),
        ),
        (
            "POST",
            "/v1/Rooms",
            b"StatusCallback=ftp://example.test/".to_vec(),
        ),
        ("POST", "/v1/Rooms", b"VideoCodecs=AV1".to_vec()),
        ("POST", "/v1/Rooms/r", b"Status=".to_vec()),
        (
            "POST",
            "/v1/Rooms/r/Participants/alice",
            b"Status=%FF".to_vec(),
        ),
        ("PUT", "/v1/Rooms/r", vec![]),
        ("PATCH", "/v1/Rooms/r/Participants", vec![]),
        (
            "POST",
            "/emulator/rooms/r/participants",
            b"Identity=".to_vec(),
        ),
        (
            "POST",
            "/emulator/rooms/r/participants",
            format!("Identity={}", "y".repeat(300)).into_bytes(),
        ),
        (
            "POST",
            "/emulator/clock/advance",
            b"Seconds=18446744073709551616".to_vec(),
        ),
        ("DELETE", "/emulator/rooms/r/participants/nobody", vec![]),
    ];
    for (method, path, body) in cases {
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!(status < 500, "{method} {path}: {status}");
        if status >= 400 {
            let body: Value = res
                .json()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e})"));
            assert_eq!(body["status"], status, "{method} {path}: {body}");
            assert!(body["code"].is_u64(), "{method} {path}: {body}");
        }
    }
}
