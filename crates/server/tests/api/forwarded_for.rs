//! The client's address behind a reverse proxy (`server.trusted_proxies`, issue 13;
//! `crate::access::client_address`): forwarding headers count only from a listed proxy.

use std::collections::BTreeMap;

use videoroom_server::settings::Sources;
use videoroom_server::Application;

use crate::helpers::{error_code, TestApp};

/// An emulator-mode app whose clients get one token request each (burst 1, then one a minute).
async fn spawn(trusted: Option<&str>) -> TestApp {
    let mut env: BTreeMap<String, String> = [
        ("PORT", "0"),
        ("VIDEOROOM_TOKEN_BURST", "1"),
        ("VIDEOROOM_TOKEN_RATE", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some(trusted) = trusted {
        env.insert("VIDEOROOM_TRUSTED_PROXIES".into(), trusted.into());
    }
    let settings = Sources {
        env,
        ..Sources::default()
    }
    .load()
    .expect("test settings are valid");
    TestApp::from_application(
        Application::build(settings)
            .await
            .expect("the application builds"),
    )
}

/// A token request from this test (peer 127.0.0.1) carrying `header: value`.
async fn status(app: &TestApp, header: &str, value: &str) -> u16 {
    app.client
        .get(app.url("/video-token?identity=alice"))
        .header(header, value)
        .send()
        .await
        .expect("the server answers")
        .status()
        .as_u16()
}

#[actix_web::test]
async fn a_forged_forwarding_header_from_a_peer_that_is_not_a_trusted_proxy_is_ignored() {
    // Nobody trusted (the default), then a list that does not include this peer.
    for trusted in [None, Some("10.0.0.0/8, ::1")] {
        let app = spawn(trusted).await;
        assert_eq!(status(&app, "x-forwarded-for", "198.51.100.1").await, 200);
        let second = app
            .client
            .get(app.url("/video-token?identity=alice"))
            .header("x-forwarded-for", "198.51.100.2")
            .header("forwarded", "for=198.51.100.3")
            .send()
            .await
            .expect("the server answers");
        let (status, code, _) = error_code(second).await;
        assert_eq!(
            (status, code.as_str()),
            (429, "rate_limited"),
            "{trusted:?}: a client cannot pick a new bucket by writing a header"
        );
    }
}

#[actix_web::test]
async fn behind_a_trusted_proxy_two_forwarded_clients_get_two_buckets() {
    let app = spawn(Some("127.0.0.1")).await;
    assert_eq!(status(&app, "x-forwarded-for", "198.51.100.1").await, 200);
    assert_eq!(
        status(&app, "x-forwarded-for", "198.51.100.2").await,
        200,
        "another client behind the proxy has its own bucket"
    );
    assert_eq!(
        status(&app, "forwarded", "for=\"198.51.100.3:4711\"").await,
        200
    );
    assert_eq!(
        status(&app, "x-forwarded-for", "198.51.100.1").await,
        429,
        "the first client's bucket is still empty"
    );
    // The client's own entry left of the proxy's is not believed: the proxy appended .1.
    assert_eq!(
        status(&app, "x-forwarded-for", "203.0.113.50, 198.51.100.1").await,
        429
    );
}
