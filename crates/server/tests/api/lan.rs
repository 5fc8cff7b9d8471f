//! The LAN workshop (issue 10): the real `videoroom` binary serving HTTPS on loopback with the
//! certificate it made itself (kept in a scratch cache folder) or one it was given, `wss://`
//! signaling on the same port, the plain-HTTP redirect, and the settings it refuses. Every
//! connection goes to 127.0.0.1; the `--lan` preset is checked through the settings alone, so
//! no test binds beyond loopback.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use videoroom_server::settings::Overrides;
use videoroom_server::Settings;
use videoroom_test_support::binary::{self, Running};

use crate::config::TempDir;
use crate::helpers::verify;

/// `videoroom ARGS` on a free loopback port, with an empty environment except a scratch cache
/// folder (where the self-signed certificate is kept) and no SDK fetch.
fn videoroom(cache: &Path, args: &[&str]) -> Command {
    let mut command = binary::command(env!("CARGO_BIN_EXE_videoroom"));
    command
        .args(["--port", "0"])
        .args(args)
        .env_clear()
        .env("XDG_CACHE_HOME", cache)
        .env("HOME", cache)
        .env("VIDEOROOM_SDK_FETCH", "false");
    command
}

/// Reads the banner up to the listening line.
fn start(cache: &Path, args: &[&str]) -> Running {
    Running::start(videoroom(cache, args)).expect("videoroom starts")
}

/// The certificate the binary made, in the scratch cache folder.
fn cached_certificate(cache: &Path) -> PathBuf {
    cache
        .join("videoroom")
        .join("tls")
        .join("videoroom-cert.pem")
}

/// The `SHA-256 …` line of a banner.
fn fingerprint_in(banner: &str) -> String {
    banner
        .lines()
        .find_map(|line| line.trim().strip_prefix("SHA-256 "))
        .unwrap_or_else(|| panic!("no fingerprint in the banner:\n{banner}"))
        .to_owned()
}

/// A client that trusts `cert` (and nothing else) and reaches only loopback.
fn https_client(cert: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert).expect("the certificate file");
    reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}

/// Opens `wss://127.0.0.1:PORT/signaling`, trusting `cert`.
async fn wss(
    cert: &Path,
    port: u16,
) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls::pki_types::CertificateDer::pem_file_iter(cert).expect("a PEM file") {
        roots.add(der.expect("a certificate")).expect("a root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into());
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("a TLS handshake with a certificate that names 127.0.0.1");
    let (ws, _) = tokio_tungstenite::client_async(format!("wss://127.0.0.1:{port}/signaling"), tls)
        .await
        .expect("a WebSocket upgrade over TLS");
    ws
}

#[tokio::test]
async fn https_serves_the_page_tokens_and_wss_signaling_and_reuses_its_certificate() {
    let cache = TempDir::new();
    let first = start(&cache.0, &["--https"]);
    let port = first.port;
    assert_eq!(first.base, format!("https://127.0.0.1:{port}"));
    assert!(
        first.banner.contains("self-signed, made now"),
        "{}",
        first.banner
    );
    let fingerprint = fingerprint_in(&first.banner);
    let cert = cached_certificate(&cache.0);
    let client = https_client(&cert);

    // The page, a token and the emulator's REST, over HTTPS with the generated certificate
    // (the client trusts nothing else, so the handshake proves which certificate it was).
    let page = client
        .get(format!("https://127.0.0.1:{port}/index.html"))
        .send()
        .await
        .expect("the page over HTTPS");
    assert_eq!(page.status(), 200);
    let token: Value = client
        .get(format!(
            "https://localhost:{port}/video-token?identity=alice"
        ))
        .send()
        .await
        .expect("a token over HTTPS")
        .json()
        .await
        .expect("JSON");
    let token = token["token"].as_str().expect("a token");
    assert_eq!(verify(token).identity.as_str(), "alice");
    let rooms = client
        .get(format!("https://127.0.0.1:{port}/v1/Rooms"))
        .basic_auth(
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .send()
        .await
        .expect("REST over HTTPS");
    assert_eq!(rooms.status(), 200);
    // Plain HTTP is not answered on the HTTPS port.
    let plain = crate::helpers::client()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(
        plain.map_or(true, |r| !r.status().is_success()),
        "plain HTTP was served on the HTTPS port"
    );

    // Signaling over wss:// on the same port: hello, then an `iced` naming no ICE server, so
    // no device is sent to a STUN/TURN server outside the room's network.
    let answer: Value = client
        .get(format!(
            "https://127.0.0.1:{port}/video-token?identity=bob&room=lan-room"
        ))
        .send()
        .await
        .expect("a token over HTTPS")
        .json()
        .await
        .expect("JSON");
    let token = answer["token"].as_str().expect("a token").to_owned();
    let mut ws = wss(&cert, port).await;
    ws.send(Message::text(
        json!({"id": "t", "timeout": 5000, "type": "hello", "version": 2,
               "body": {"edge": "roaming", "token": token, "type": "ice", "version": 1}})
        .to_string(),
    ))
    .await
    .expect("hello");
    let iced = loop {
        let frame = ws.next().await.expect("a frame").expect("no error");
        if let Message::Text(text) = frame {
            let frame: Value = serde_json::from_str(&text).expect("JSON");
            if frame["type"] == "msg" {
                break frame["body"].clone();
            }
        }
    };
    assert_eq!(iced["type"], "iced", "{iced}");
    assert_eq!(iced["ice_servers"], json!([]), "{iced}");
    drop(ws);
    drop(first);

    // A restart with the same addresses serves the same certificate: attendees who passed
    // the warning once are not asked again.
    let second = start(&cache.0, &["--https"]);
    assert!(second.banner.contains("reused from"), "{}", second.banner);
    assert_eq!(fingerprint_in(&second.banner), fingerprint);
    let health = https_client(&cert)
        .get(format!("https://127.0.0.1:{}/healthz", second.port))
        .send()
        .await
        .expect("the same certificate still verifies");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn the_http_redirect_port_sends_a_typed_url_to_https() {
    let cache = TempDir::new();
    let server = start(&cache.0, &["--https", "--http-redirect-port", "0"]);
    let redirect_port: u16 = server
        .banner
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("http:// on port ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no redirect line in the banner:\n{}", server.banner));
    let client = https_client(&cached_certificate(&cache.0));

    let answer = client
        .get(format!(
            "http://127.0.0.1:{redirect_port}/index.html?room=r1"
        ))
        .send()
        .await
        .expect("the redirect port answers");
    assert_eq!(answer.status(), 307);
    let location = answer.headers()["location"]
        .to_str()
        .expect("text")
        .to_owned();
    assert_eq!(
        location,
        format!("https://127.0.0.1:{}/index.html?room=r1", server.port)
    );
    // Followed, it lands on the page.
    let page = client.get(&location).send().await.expect("the HTTPS page");
    assert_eq!(page.status(), 200);

    // It redirects only to names the server answers to (no redirect to a rebinding name).
    let foreign = client
        .get(format!("http://127.0.0.1:{redirect_port}/"))
        .header("host", format!("evil.test:{redirect_port}"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(foreign.status(), 403);
}

#[tokio::test]
async fn a_given_certificate_is_served_instead_of_a_self_signed_one() {
    let cache = TempDir::new();
    let made = TempDir::new();
    // Any CA-issued or mkcert pair is read the same way; this one is made by the library.
    let given = videoroom_server::tls::self_signed(
        &made.0,
        &["localhost".to_owned(), "127.0.0.1".to_owned()],
    )
    .expect("a certificate");
    let cert = made.0.join("videoroom-cert.pem");
    let key = made.0.join("videoroom-key.pem");
    let server = start(
        &cache.0,
        &[
            "--tls-cert",
            cert.to_str().expect("UTF-8"),
            "--tls-key",
            key.to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(server.base, format!("https://127.0.0.1:{}", server.port));
    assert_eq!(fingerprint_in(&server.banner), given.fingerprint);
    assert!(!server.banner.contains("self-signed"), "{}", server.banner);
    assert!(
        !cached_certificate(&cache.0).exists(),
        "no certificate is made when one is given"
    );
    let health = https_client(&cert)
        .get(format!("https://127.0.0.1:{}/healthz", server.port))
        .send()
        .await
        .expect("HTTPS with the given certificate");
    assert_eq!(health.status(), 200);
}

#[test]
fn an_unreadable_certificate_stops_the_start_with_its_flag_and_file() {
    let cache = TempDir::new();
    let key = cache.write("key.pem", "not a key");
    let output = videoroom(
        &cache.0,
        &[
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            key.to_str().expect("UTF-8"),
        ],
    )
    .output()
    .expect("videoroom runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("/nonexistent/cert.pem"),
        "{stderr}"
    );
}

fn refused(overrides: Overrides) -> String {
    Settings::defaults_with(overrides)
        .expect_err("refused settings")
        .to_string()
}

#[test]
fn contradictory_tls_settings_are_refused_with_the_fix() {
    let half = refused(Overrides {
        tls_cert: Some("cert.pem".into()),
        ..Overrides::default()
    });
    assert!(
        half.contains("--tls-cert: a certificate needs its private key: set tls.key too"),
        "{half}"
    );
    let half = refused(Overrides {
        tls_key: Some("key.pem".into()),
        ..Overrides::default()
    });
    assert!(
        half.contains("--tls-key: a private key needs its certificate"),
        "{half}"
    );

    let off = refused(Overrides {
        https: Some("false".into()),
        lan: Some("true".into()),
        ..Overrides::default()
    });
    assert!(
        off.contains("--https: is false, but --lan serves HTTPS"),
        "{off}"
    );

    let redirect = refused(Overrides {
        http_redirect_port: Some("8080".into()),
        ..Overrides::default()
    });
    assert!(
        redirect.contains("--http-redirect-port: redirects plain HTTP to HTTPS, but HTTPS is off"),
        "{redirect}"
    );
    let same = refused(Overrides {
        https: Some("true".into()),
        port: Some("3000".into()),
        http_redirect_port: Some("3000".into()),
        ..Overrides::default()
    });
    assert!(same.contains("is also the HTTPS port"), "{same}");
}

#[test]
fn the_lan_preset_binds_every_interface_with_https_unless_told_otherwise() {
    let lan = Settings::defaults_with(Overrides {
        lan: Some("true".into()),
        ..Overrides::default()
    })
    .expect("valid");
    assert_eq!(lan.host, IpAddr::from([0, 0, 0, 0]));
    assert!(lan.tls.https && lan.tls.lan);
    assert_eq!(lan.tls.cert, None);

    let chosen = Settings::defaults_with(Overrides {
        lan: Some("true".into()),
        host: Some("127.0.0.1".into()),
        ..Overrides::default()
    })
    .expect("valid");
    assert_eq!(chosen.host, IpAddr::from([127, 0, 0, 1]));
    assert!(chosen.tls.https);

    let plain = Settings::defaults_with(Overrides::default()).expect("valid");
    assert!(!plain.tls.https && !plain.tls.lan);
    assert_eq!(plain.host, IpAddr::from([127, 0, 0, 1]));

    // Given files turn HTTPS on by themselves.
    let files = Settings::defaults_with(Overrides {
        tls_cert: Some("cert.pem".into()),
        tls_key: Some("key.pem".into()),
        ..Overrides::default()
    })
    .expect("valid");
    assert!(files.tls.https && !files.tls.lan);
}

#[tokio::test]
async fn the_lan_preset_serves_https_on_every_interface_and_prints_what_attendees_need() {
    let cache = TempDir::new();
    // Bound to 0.0.0.0 as in a workshop; the test itself connects to 127.0.0.1 only.
    let server = start(&cache.0, &["--lan"]);
    let banner = &server.banner;
    assert_eq!(server.base, format!("https://127.0.0.1:{}", server.port));
    assert!(banner.contains("Bound to 0.0.0.0"), "{banner}");
    assert!(!banner.contains("Warning"), "{banner}");
    let fingerprint = fingerprint_in(banner);
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");
    // One URL per LAN address of this machine, and a QR code of the first, when it has any.
    let lan_addresses = videoroom_server::tls::machine_addresses();
    for ip in &lan_addresses {
        let url = match ip {
            IpAddr::V4(ip) => format!("https://{ip}:{}/index.html", server.port),
            IpAddr::V6(ip) => format!("https://[{ip}]:{}/index.html", server.port),
        };
        assert!(
            banner.contains(&format!("    {url}\n")),
            "{url} in {banner}"
        );
    }
    assert_eq!(
        banner.contains("QR code of https://"),
        !lan_addresses.is_empty(),
        "{banner}"
    );
    let health = https_client(&cached_certificate(&cache.0))
        .get(format!("https://127.0.0.1:{}/healthz", server.port))
        .send()
        .await
        .expect("HTTPS on loopback too");
    assert_eq!(health.status(), 200);
}

#[test]
fn the_flags_without_a_value_leave_a_following_subcommand_alone() {
    let cache = TempDir::new();
    // `--lan config` is the flag and the `config` command, not `--lan` given "config".
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_videoroom"))
        .args(["--lan", "config"])
        .current_dir(&cache.0)
        .env_clear()
        .output()
        .expect("videoroom runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |key: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in {stdout}"))
            .to_owned()
    };
    assert!(
        line("lan").contains("true") && line("lan").contains("flag --lan"),
        "{stdout}"
    );
    // The values the preset decided say so, rather than "default".
    assert!(
        line("tls.https").contains("true") && line("tls.https").contains("flag --lan"),
        "{stdout}"
    );
    assert!(
        line("host").contains("0.0.0.0") && line("host").contains("flag --lan"),
        "{stdout}"
    );

    // An explicit value needs `=`.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_videoroom"))
        .args(["--https=false", "--lan", "config"])
        .current_dir(&cache.0)
        .env_clear()
        .output()
        .expect("videoroom runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--https: is false, but --lan serves HTTPS"),
        "{stderr}"
    );
}
