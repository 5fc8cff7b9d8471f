//! The table of bad requests: each one gets its status and its stable error code, in our JSON
//! error shape, and none of them a 500.

use reqwest::Method;

use crate::helpers::{error_code, spawn_app};

struct Case {
    what: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    status: u16,
    code: &'static str,
}

fn get(what: &'static str, path: impl Into<String>, status: u16, code: &'static str) -> Case {
    Case {
        what,
        method: Method::GET,
        path: path.into(),
        content_type: None,
        body: None,
        status,
        code,
    }
}

fn post(
    what: &'static str,
    content_type: Option<&'static str>,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        what,
        method: Method::POST,
        path: "/video-token".into(),
        content_type,
        body: Some(body.into()),
        status,
        code,
    }
}

fn json(what: &'static str, body: impl Into<Vec<u8>>, status: u16, code: &'static str) -> Case {
    post(what, Some("application/json"), body, status, code)
}

fn form(what: &'static str, body: impl Into<Vec<u8>>, status: u16, code: &'static str) -> Case {
    post(
        what,
        Some("application/x-www-form-urlencoded"),
        body,
        status,
        code,
    )
}

fn method(what: &'static str, method: &str, path: &str, allow: &'static str) -> Case {
    Case {
        what,
        method: Method::from_bytes(method.as_bytes()).expect("a valid method token"),
        path: path.into(),
        content_type: None,
        body: None,
        status: 405,
        code: allow,
    }
}

fn cases() -> Vec<Case> {
    let long = "a".repeat(129);
    let long_room = "r".repeat(129);
    let big = format!(r#"{{"identity":"{}"}}"#, "a".repeat(17 * 1024));
    vec![
        // Identities in the query string.
        get("no parameters", "/video-token", 400, "missing_identity"),
        get(
            "only a room",
            "/video-token?room=myroom",
            400,
            "missing_identity",
        ),
        get(
            "empty identity",
            "/video-token?identity=",
            400,
            "invalid_identity",
        ),
        get(
            "identity without =",
            "/video-token?identity",
            400,
            "invalid_identity",
        ),
        get(
            "empty user alias",
            "/video-token?user=",
            400,
            "invalid_identity",
        ),
        get(
            "129-character identity",
            format!("/video-token?identity={long}"),
            400,
            "invalid_identity",
        ),
        get(
            "newline in identity",
            "/video-token?identity=a%0Ab",
            400,
            "invalid_identity",
        ),
        get(
            "NUL identity",
            "/video-token?identity=%00",
            400,
            "invalid_identity",
        ),
        get(
            "escape sequence",
            "/video-token?identity=%1B%5B31m",
            400,
            "invalid_identity",
        ),
        get(
            "DEL character",
            "/video-token?identity=a%7F",
            400,
            "invalid_identity",
        ),
        get(
            "C1 control character",
            "/video-token?identity=%C2%85",
            400,
            "invalid_identity",
        ),
        get(
            "invalid UTF-8 byte",
            "/video-token?identity=%FF",
            400,
            "invalid_encoding",
        ),
        get(
            "broken UTF-8 sequence",
            "/video-token?identity=%C3%28",
            400,
            "invalid_encoding",
        ),
        get(
            "UTF-8 surrogate",
            "/video-token?identity=%ED%A0%80",
            400,
            "invalid_encoding",
        ),
        get(
            "overlong UTF-8",
            "/video-token?identity=%C0%AF",
            400,
            "invalid_encoding",
        ),
        get(
            "non-UTF-8 parameter name",
            "/video-token?%FF=alice",
            400,
            "invalid_encoding",
        ),
        get(
            "identity twice",
            "/video-token?identity=a&identity=b",
            400,
            "ambiguous_parameter",
        ),
        get(
            "identity and user differ",
            "/video-token?identity=a&user=b",
            400,
            "ambiguous_parameter",
        ),
        // Rooms in the query string.
        get(
            "slash in room",
            "/video-token?identity=alice&room=a%2Fb",
            400,
            "invalid_room",
        ),
        get(
            "question mark in room",
            "/video-token?identity=alice&room=a%3Fb",
            400,
            "invalid_room",
        ),
        get(
            "hash in room",
            "/video-token?identity=alice&room=a%23b",
            400,
            "invalid_room",
        ),
        get(
            "129-character room",
            format!("/video-token?identity=alice&room={long_room}"),
            400,
            "invalid_room",
        ),
        get(
            "tab in room",
            "/video-token?identity=alice&room=a%09b",
            400,
            "invalid_room",
        ),
        get(
            "non-UTF-8 room",
            "/video-token?identity=alice&room=%FE",
            400,
            "invalid_encoding",
        ),
        get(
            "room twice",
            "/video-token?identity=alice&room=a&room=b",
            400,
            "ambiguous_parameter",
        ),
        // JSON bodies.
        json("empty object", "{}", 400, "missing_identity"),
        json(
            "null identity",
            r#"{"identity":null}"#,
            400,
            "missing_identity",
        ),
        json(
            "empty identity",
            r#"{"identity":""}"#,
            400,
            "invalid_identity",
        ),
        json(
            "numeric identity",
            r#"{"identity":42}"#,
            400,
            "invalid_identity",
        ),
        json(
            "array identity",
            r#"{"identity":["a"]}"#,
            400,
            "invalid_identity",
        ),
        json(
            "object identity",
            r#"{"identity":{"name":"a"}}"#,
            400,
            "invalid_identity",
        ),
        json(
            "NUL in identity",
            r#"{"identity":"a\u0000b"}"#,
            400,
            "invalid_identity",
        ),
        json(
            "129-character identity",
            format!(r#"{{"identity":"{long}"}}"#),
            400,
            "invalid_identity",
        ),
        json(
            "user and identity differ",
            r#"{"user":"a","identity":"b"}"#,
            400,
            "ambiguous_parameter",
        ),
        json(
            "numeric room",
            r#"{"identity":"alice","room":7}"#,
            400,
            "invalid_room",
        ),
        json(
            "reserved character in room",
            r#"{"identity":"alice","room":"a@b"}"#,
            400,
            "invalid_room",
        ),
        json(
            "truncated JSON",
            r#"{"identity": "ali"#,
            400,
            "malformed_body",
        ),
        json("JSON array", "[]", 400, "malformed_body"),
        json("JSON string", r#""alice""#, 400, "malformed_body"),
        json(
            "trailing garbage",
            r#"{"identity":"alice"} x"#,
            400,
            "malformed_body",
        ),
        json(
            "lone surrogate escape",
            r#"{"identity":"\ud800"}"#,
            400,
            "malformed_body",
        ),
        json(
            "invalid UTF-8 bytes",
            b"{\"identity\":\"\xff\xfe\"}".to_vec(),
            400,
            "invalid_encoding",
        ),
        json("oversize body", big.clone(), 413, "payload_too_large"),
        // Form bodies.
        form("empty identity", "identity=", 400, "invalid_identity"),
        form(
            "129-character user",
            format!("user={long}"),
            400,
            "invalid_identity",
        ),
        form(
            "control character",
            "identity=a%0Db",
            400,
            "invalid_identity",
        ),
        form(
            "percent-encoded invalid UTF-8",
            "identity=%FF%FE",
            400,
            "invalid_encoding",
        ),
        form(
            "raw invalid UTF-8 bytes",
            b"identity=\xff\xfe".to_vec(),
            400,
            "invalid_encoding",
        ),
        form(
            "reserved character in room",
            "identity=alice&room=a%2Cb",
            400,
            "invalid_room",
        ),
        form("no identity", "room=myroom", 400, "missing_identity"),
        form(
            "oversize body",
            format!("identity={}", "a".repeat(20 * 1024)),
            413,
            "payload_too_large",
        ),
        // Content types.
        post(
            "text/plain",
            Some("text/plain"),
            "alice",
            415,
            "unsupported_media_type",
        ),
        post(
            "no content type",
            None,
            "identity=alice",
            415,
            "unsupported_media_type",
        ),
        post(
            "multipart",
            Some("multipart/form-data; boundary=x"),
            "--x--",
            415,
            "unsupported_media_type",
        ),
        post(
            "XML",
            Some("application/xml"),
            "<identity>alice</identity>",
            415,
            "unsupported_media_type",
        ),
        post(
            "JSON in Latin-1",
            Some("application/json; charset=iso-8859-1"),
            r#"{"identity":"alice"}"#,
            415,
            "unsupported_media_type",
        ),
        post(
            "oversize body of any type",
            Some("text/plain"),
            big,
            413,
            "payload_too_large",
        ),
        // Methods and paths.
        method("PUT", "PUT", "/video-token", "GET, POST"),
        method("DELETE", "DELETE", "/video-token", "GET, POST"),
        method("PATCH", "PATCH", "/video-token", "GET, POST"),
        method("OPTIONS (no CORS)", "OPTIONS", "/video-token", "GET, POST"),
        method("an invented method", "BREW", "/video-token", "GET, POST"),
        method("POST to healthz", "POST", "/healthz", "GET"),
        get("unknown path", "/nope", 404, "not_found"),
        get(
            "path below the token route",
            "/video-token/alice",
            404,
            "not_found",
        ),
        get("trailing slash", "/video-token/", 404, "not_found"),
    ]
}

#[tokio::test]
async fn every_bad_request_gets_its_status_and_error_code() {
    let app = spawn_app().await;
    let cases = cases();
    assert!(cases.len() >= 40, "the table has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let mut request = app.client.request(case.method.clone(), app.url(&case.path));
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = case.body.clone() {
            request = request.body(body);
        }
        let response = request.send().await.expect("the server answers");
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, code, body) = error_code(response).await;
        let (want_code, want_allow) = if case.status == 405 {
            ("method_not_allowed", Some(case.code.to_owned()))
        } else {
            (case.code, None)
        };
        if status != case.status || code != want_code || (case.status == 405 && allow != want_allow)
        {
            failures.push(format!(
                "{}: expected {} {want_code} (Allow {want_allow:?}), got {status} {code} (Allow {allow:?}): {body}",
                case.what, case.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        app.backend.as_ref().unwrap().creates(),
        0,
        "no bad request reaches the backend"
    );
}

#[tokio::test]
async fn a_missing_identity_error_explains_every_way_to_send_one() {
    let app = spawn_app().await;
    let (_, _, body) = error_code(app.get("/video-token").await).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("?identity=") && message.contains("JSON") && message.contains("form"));
}

#[tokio::test]
async fn an_invalid_identity_error_names_the_rule_it_breaks() {
    let app = spawn_app().await;
    let long = "a".repeat(129);
    let (_, _, body) = error_code(app.get(&format!("/video-token?identity={long}")).await).await;
    assert_eq!(
        body["error"]["message"],
        "identity must be at most 128 characters (got 129)"
    );
    let (_, _, body) = error_code(app.get("/video-token?identity=a%0Ab").await).await;
    assert_eq!(
        body["error"]["message"],
        "identity must not contain control characters (found U+000A)"
    );
}

#[tokio::test]
async fn a_body_streamed_without_a_length_is_still_capped() {
    let app = spawn_app().await;
    // Chunked transfer: no Content-Length for the server to check up front, so the cap must
    // hold while the body is read.
    let mut request = b"POST /video-token HTTP/1.1\r\nHost: localhost\r\n\
Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\
Connection: close\r\n\r\n"
        .to_vec();
    for _ in 0..40 {
        request.extend_from_slice(b"400\r\n");
        request.extend_from_slice(&[b'a'; 1024]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_http(app.port, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");
}

/// Sends raw bytes to the server and returns what it answers, as text.
async fn raw_http(port: u16, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the server accepts connections");
    // The server may answer (and close) before it has read the whole body; a failed write
    // then is expected, and the answer is what matters.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A small deterministic generator, so a failure is reproducible from the case number.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 56) as u8
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = usize::from(self.next()) % max;
        (0..len).map(|_| self.next()).collect()
    }
}

#[tokio::test]
async fn arbitrary_bytes_in_any_part_of_a_request_never_produce_a_server_error() {
    let app = spawn_app().await;
    let mut rng = Lcg(0x5eed);
    for case in 0..150 {
        let noise = rng.bytes(200);
        let encoded: String = noise.iter().map(|b| format!("%{b:02X}")).collect();
        let mut json_like = b"{\"identity\":\"".to_vec();
        json_like.extend_from_slice(&noise);
        json_like.extend_from_slice(b"\"}");
        let requests = [
            app.client
                .get(app.url(&format!("/video-token?identity={encoded}&room={encoded}"))),
            app.client
                .post(app.url("/video-token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(noise.clone()),
            app.client
                .post(app.url("/video-token"))
                .header("content-type", "application/json")
                .body(json_like),
            app.client
                .post(app.url("/video-token"))
                .header("content-type", "application/json")
                .body(noise.clone()),
        ];
        for (form, request) in requests.into_iter().enumerate() {
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            assert!(
                status == 200 || (400..500).contains(&status),
                "case {case}, form {form}: status {status} for {noise:?}"
            );
        }
    }
}

#[tokio::test]
async fn json_sent_as_text_plain_is_refused_with_the_header_to_add() {
    // What `fetch(url, {method: "POST", body: JSON.stringify(...)})` sends without headers.
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/video-token"))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(r#"{"identity":"alice"}"#)
        .send()
        .await
        .unwrap();
    let (status, code, body) = error_code(response).await;
    assert_eq!((status, code.as_str()), (415, "unsupported_media_type"));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("'text/plain'"), "{message}");
    assert!(
        message.contains(r#""Content-Type": "application/json""#),
        "{message}"
    );
}
