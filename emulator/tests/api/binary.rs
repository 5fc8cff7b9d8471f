//! The `videoroom-emulator` binary as a user runs it: `--port 0`, the listening line and the
//! banner, credentials from the environment, graceful stop on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use videoroom_core::credentials::{
    ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN, TEST_ACCOUNT_SID,
    TEST_API_KEY_SECRET, TEST_AUTH_TOKEN,
};
use videoroom_test_support::binary::{self, Banner};

fn command(env: &[(&str, &str)]) -> Command {
    // Without the developer's credentials (see `binary::command`); tokio's, to await the child.
    let mut cmd = Command::from(binary::command(env!("CARGO_BIN_EXE_videoroom-emulator")));
    cmd.args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The binary in `dir` (where it looks for `.env`), with `args` and no `--port` of its own.
fn command_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut fresh = Command::from(binary::command(env!("CARGO_BIN_EXE_videoroom-emulator")));
    fresh
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env_remove("EMULATOR_PORT")
        .env_remove("VIDEOROOM_LOG_FORMAT");
    for (k, v) in env {
        fresh.env(k, v);
    }
    fresh
}

/// Reads a started child's output up to the end of the banner (the API key secret line).
async fn banner_of(child: &mut Child) -> (String, Vec<String>) {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = Banner::default();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if banner.push(line, |line| line.contains("API key secret")) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the banner is printed");
    let Banner { lines: seen, base } = banner;
    let base = base.unwrap_or_else(|| panic!("no listening line in {seen:#?}"));
    (base, seen)
}

/// Starts the binary and reads its output up to the end of the banner (the API key secret
/// line). Returns the child, the base URL from the listening line and all lines read.
async fn start(env: &[(&str, &str)]) -> (Child, String, Vec<String>) {
    let mut child = command(env).spawn().expect("the binary starts");
    let (base, seen) = banner_of(&mut child).await;
    (child, base, seen)
}

fn terminate(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[actix_web::test]
async fn the_binary_prints_its_real_port_and_the_seeded_credentials_then_serves() {
    let (mut child, base, lines) = start(&[]).await;
    let port: u16 = base
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("{base}"))
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    let banner = lines.join("\n");
    assert!(banner.contains(TEST_ACCOUNT_SID), "{banner}");
    // Group rooms go through the media server by default, on loopback like the HTTP port.
    assert!(
        banner.contains("Media server      udp://127.0.0.1:"),
        "{banner}"
    );
    assert!(
        banner.contains(TEST_AUTH_TOKEN),
        "seeded values are public: {banner}"
    );
    assert!(banner.contains(TEST_API_KEY_SECRET), "{banner}");
    assert!(banner.contains(&format!("{base}/v1")), "{banner}");

    let res = reqwest::Client::new()
        .post(format!("{base}/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .form(&[("UniqueName", "from-the-binary")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = reqwest::get(format!("{base}/not-a-route")).await.unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], 20404);

    terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("SIGTERM stops the emulator")
        .unwrap();
    assert!(status.success(), "graceful stop exits 0: {status}");
}

#[actix_web::test]
async fn configured_secrets_are_used_but_never_printed() {
    let token = "configured-auth-token-value";
    let secret = "configured-api-secret-value";
    let (mut child, base, lines) = start(&[
        (ENV_ACCOUNT_SID[1], "AC0123456789abcdef0123456789abcdef"),
        (ENV_AUTH_TOKEN[0], token),
        (ENV_API_KEY_SID[0], "SK0123456789abcdef0123456789abcdef"),
        (ENV_API_KEY_SECRET[0], secret),
    ])
    .await;
    let banner = lines.join("\n");
    assert!(
        banner.contains("AC0123456789abcdef0123456789abcdef"),
        "{banner}"
    );
    assert!(
        banner.contains("SK0123456789abcdef0123456789abcdef"),
        "{banner}"
    );
    assert!(
        !banner.contains(token) && !banner.contains(secret),
        "{banner}"
    );
    assert!(banner.contains("not shown"), "{banner}");

    let res = reqwest::Client::new()
        .get(format!("{base}/v1/Rooms"))
        .basic_auth("SK0123456789abcdef0123456789abcdef", Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    child.kill().await.unwrap();
}

#[actix_web::test]
async fn a_malformed_credential_stops_the_binary_with_a_message_naming_the_variable() {
    let output = command(&[(ENV_ACCOUNT_SID[0], "not-a-sid")])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ACCOUNT_SID must be an Account SID"),
        "{stderr}"
    );
}

#[actix_web::test]
async fn credentials_in_dotenv_are_read_as_videoroom_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "ACCOUNT_SID=AC0123456789abcdef0123456789abcdef\nAPI_KEY=SK0123456789abcdef0123456789abcdef\nAPI_SECRET=dotenv-api-secret\nEMULATOR_PORT=0\n",
    )
    .unwrap();
    let mut child = command_in(dir.path(), &[], &[]).spawn().unwrap();
    let (base, lines) = banner_of(&mut child).await;
    let banner = lines.join("\n");
    assert!(
        banner.contains("AC0123456789abcdef0123456789abcdef"),
        "{banner}"
    );
    assert!(!banner.contains("dotenv-api-secret"), "{banner}");
    let res = reqwest::Client::new()
        .get(format!("{base}/v1/Rooms"))
        .basic_auth(
            "SK0123456789abcdef0123456789abcdef",
            Some("dotenv-api-secret"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the key from .env is accepted");
    child.kill().await.unwrap();
}

#[actix_web::test]
async fn an_empty_emulator_port_counts_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    // The empty variable falls through to `.env`'s port 0 instead of failing to parse.
    std::fs::write(dir.path().join(".env"), "EMULATOR_PORT=0\n").unwrap();
    let mut child = command_in(
        dir.path(),
        &[],
        &[("EMULATOR_PORT", ""), ("VIDEOROOM_LOG_FORMAT", "")],
    )
    .spawn()
    .unwrap();
    let (base, _) = banner_of(&mut child).await;
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    child.kill().await.unwrap();
}

#[actix_web::test]
async fn a_misspelt_log_format_variable_gets_the_value_probably_meant() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        command_in(dir.path(), &[], &[("VIDEOROOM_LOG_FORMAT", "jsno")]).output(),
    )
    .await
    .expect("the binary stops instead of serving")
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "VIDEOROOM_LOG_FORMAT: must be pretty or json (got 'jsno'); did you mean 'json'?"
        ),
        "{stderr}"
    );
}

#[actix_web::test]
async fn a_dotenv_saved_with_a_bom_stops_the_binary_with_how_to_save_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), b"\xEF\xBB\xBFEMULATOR_PORT=0\n").unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        command_in(dir.path(), &[], &[]).output(),
    )
    .await
    .expect("the binary stops instead of serving")
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("UTF-8 without BOM"), "{stderr}");
}

#[actix_web::test]
async fn the_binary_refuses_foreign_host_names_and_pages_unless_configured() {
    let (child, base, _) = start(&[
        ("VIDEOROOM_ALLOWED_HOSTS", "classroom.test"),
        ("VIDEOROOM_CALLBACK_HOSTS", ""),
    ])
    .await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let client = reqwest::Client::new();
    let as_host = |host: &str| {
        client
            .get(format!("{base}/v1/Rooms"))
            .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
            .header("Host", format!("{host}:{port}"))
            .send()
    };
    assert_eq!(as_host("evil.test").await.unwrap().status(), 403);
    assert_eq!(as_host("classroom.test").await.unwrap().status(), 200);
    let foreign = client
        .post(format!("{base}/v1/Rooms"))
        .basic_auth(TEST_ACCOUNT_SID, Some(TEST_AUTH_TOKEN))
        .header("Origin", "http://evil.test")
        .form(&[("UniqueName", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    drop(child);
}

#[actix_web::test]
async fn the_binary_reports_a_bad_allowed_origin_and_exits() {
    let output = command(&[("VIDEOROOM_ALLOWED_ORIGINS", "*")])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'*' is not an origin"), "{stderr}");
}

#[actix_web::test]
async fn the_media_server_binds_every_advertised_address_on_one_port_and_the_banner_lists_them() {
    let (child, _, lines) = start(&[("VIDEOROOM_MEDIA_ADVERTISE", "127.0.0.1,127.0.0.2")]).await;
    let banner = lines.join("\n");
    let line = lines
        .iter()
        .find(|l| l.contains("Media server"))
        .unwrap_or_else(|| panic!("no media server line in {banner}"));
    let addrs: Vec<std::net::SocketAddr> = line
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("udp://"))
        .map(|a| a.parse().expect("an address"))
        .collect();
    assert_eq!(addrs.len(), 2, "{line}");
    assert_eq!(addrs[0].ip().to_string(), "127.0.0.1");
    assert_eq!(addrs[1].ip().to_string(), "127.0.0.2");
    assert_eq!(addrs[0].port(), addrs[1].port(), "one port: {line}");
    // Each address is bound exactly: the port is taken on both, not on 0.0.0.0.
    for addr in &addrs {
        assert!(
            std::net::UdpSocket::bind(addr).is_err(),
            "{addr} is bound by the media server"
        );
    }
    assert!(std::net::UdpSocket::bind(("127.0.0.3", addrs[0].port())).is_ok());
    terminate(&child);
}
