//! `/readyz` on an idle instance (issue 13; `crate::idle_probe`): with no token request at all,
//! the instance asks a real emulator itself, so stopping the upstream makes it unready and
//! restarting it makes it ready again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer};
use serde_json::Value;
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_emulator::EmulatorSettings;
use videoroom_server::settings::Sources;
use videoroom_server::Application;
use videoroom_test_support::serve;

use crate::helpers::TestApp;

/// Asks `/readyz` until it answers `status`, for at most `within`; the last body.
async fn readyz_becomes(app: &TestApp, status: u16, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let answer = app.get("/readyz").await;
        let got = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if got == status {
            return body;
        }
        assert!(
            started.elapsed() < within,
            "/readyz still {got} after {within:?}, expected {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn an_idle_instance_probes_its_upstream_so_readyz_follows_it_down_and_back() {
    let upstream = serve::emulator(EmulatorSettings::seeded(), 1);
    let port = upstream.served.port;
    let env: BTreeMap<String, String> = [
        ("VIDEOROOM_BACKEND", "twilio"),
        ("PORT", "0"),
        ("ACCOUNT_SID", TEST_ACCOUNT_SID),
        ("API_KEY", TEST_API_KEY_SID),
        ("API_SECRET", TEST_API_KEY_SECRET),
        ("TWILIO_VIDEO_BASE_URL", upstream.base()),
        ("VIDEOROOM_IDLE_PROBE", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Sources {
        env,
        ..Sources::default()
    }
    .load()
    .expect("valid twilio settings");
    let app = TestApp::from_application(
        Application::build(settings)
            .await
            .expect("the application builds"),
    );
    readyz_becomes(&app, 200, Duration::from_secs(5)).await;
    // The probe is an authenticated call the emulator saw: a list of rooms.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let probes = upstream.emulator.faults().report().requests;
    assert!(probes >= 1, "the idle instance called the upstream itself");

    // The upstream stops; nobody asks for a token.
    upstream.served.stop(false).await;
    let body = readyz_becomes(&app, 503, Duration::from_secs(30)).await;
    assert_eq!(body["backend"], "unavailable", "{body}");
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);

    // It returns on the same port (its rooms kept): ready again without any token request.
    let emulator = upstream.emulator.clone();
    let back = HttpServer::new(move || {
        let emulator = emulator.clone();
        App::new().configure(move |cfg| emulator.configure(cfg))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", port))
    .expect("the stopped upstream's port is free again")
    .run();
    let back_handle = back.handle();
    tokio::spawn(back);
    let body = readyz_becomes(&app, 200, Duration::from_secs(15)).await;
    assert_eq!(body["circuit"], "closed", "{body}");
    back_handle.stop(false).await;
}
