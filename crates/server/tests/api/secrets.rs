//! The captured-log test of issue 13: the API key secret, the Auth Token, the passcode and the
//! bearer secret never appear in the logs (at every level, `RUST_LOG=trace`), in any answer's
//! body or headers (errors included), in `/metrics`, or in `videoroom config` output. The real
//! binary runs with every secret set, once per auth mode, and is driven through the paths that
//! handle them: right and wrong passcodes in each place they are read, valid and forged JWTs,
//! the rate limit, a refused room, the emulator's REST API with the Auth Token.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;
use videoroom_core::credentials::{
    ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN, TEST_ACCOUNT_SID,
};
use videoroom_test_support::binary;

use crate::config::TempDir;
use crate::helpers::{client, unix_now};

const API_SECRET: &str = "apisecret-7f3c9e1d2b4a";
const AUTH_TOKEN: &str = "authtoken-5e8d1c7b9a0f";
const PASSCODE: &str = "passcode-3b6f0a2e";
const AUTH_SECRET: &str = "bearersecret-9d2e4f6a8c0b1d3e5f7a9c";

fn secrets() -> [(&'static str, &'static str); 4] {
    [
        ("the API key secret", API_SECRET),
        ("the Auth Token", AUTH_TOKEN),
        ("the passcode", PASSCODE),
        ("the bearer secret", AUTH_SECRET),
    ]
}

fn env(mode: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            ENV_API_KEY_SID[0],
            "SK44444444444444444444444444444444".into(),
        ),
        (ENV_API_KEY_SECRET[0], API_SECRET.into()),
        (ENV_AUTH_TOKEN[0], AUTH_TOKEN.into()),
        ("VIDEOROOM_AUTH", mode.into()),
        ("VIDEOROOM_PASSCODE", PASSCODE.into()),
        ("VIDEOROOM_AUTH_SECRET", AUTH_SECRET.into()),
        ("VIDEOROOM_TOKEN_BURST", "6".into()),
        ("VIDEOROOM_TOKEN_RATE", "1".into()),
        ("VIDEOROOM_ALLOWED_ROOMS", "class-*".into()),
        ("VIDEOROOM_SDK_FETCH", "false".into()),
    ]
}

fn videoroom(dir: &TempDir, args: &[&str], mode: &str) -> Command {
    let mut command = binary::command(env!("CARGO_BIN_EXE_videoroom"));
    command.args(args).current_dir(&dir.0).env_clear();
    for (name, value) in env(mode) {
        command.env(name, value);
    }
    command
}

/// Everything a client saw: status line, headers and body of each answer.
async fn transcript(response: reqwest::Response) -> String {
    let mut text = format!("{}\n", response.status());
    for (name, value) in response.headers() {
        text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
    }
    text.push_str(&response.text().await.unwrap_or_default());
    text.push('\n');
    text
}

/// Drives a server in `mode` through every path that handles a secret and returns what the
/// clients saw and what it logged.
async fn drive(mode: &str) -> (String, String) {
    let dir = TempDir::new();
    let log_path = dir.0.join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("a log file");
    let mut command = videoroom(&dir, &["--port", "0", "--log-format", "json"], mode);
    command.env("RUST_LOG", "trace").stderr(Stdio::from(log));
    let mut server = binary::Running::start(command).expect("videoroom starts and listens");
    let base = server.base.clone();
    let http = client();
    let jwt = |secret: &str, sub: &str| {
        encode(
            &Header::default(),
            &json!({"sub": sub, "exp": unix_now() + 300}),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("HMAC signing cannot fail")
    };
    let token_url = format!("{base}/video-token");
    let requests = vec![
        http.get(format!("{token_url}?identity=alice&passcode={PASSCODE}")),
        http.get(format!(
            "{token_url}?identity=alice&passcode=wrong-{PASSCODE}"
        )),
        http.post(&token_url)
            .json(&json!({"identity": "bob", "passcode": PASSCODE, "room": "class-1"})),
        http.post(&token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("identity=carol&passcode={PASSCODE}&room=elsewhere")),
        http.get(format!("{token_url}?identity=dave"))
            .header("Authorization", format!("Passcode {PASSCODE}")),
        http.get(format!("{token_url}?identity=erin"))
            .bearer_auth(jwt(AUTH_SECRET, "erin")),
        http.get(format!("{token_url}?identity=frank"))
            .bearer_auth(jwt("forged-secret-forged-secret-forged", "frank")),
        http.get(format!("{token_url}?identity=frank&passcode={PASSCODE}")),
        http.get(format!("{token_url}?identity=frank&passcode={PASSCODE}")),
        http.get(format!("{base}/metrics")),
        http.get(format!("{base}/v1/Rooms"))
            .basic_auth(TEST_ACCOUNT_SID, Some(AUTH_TOKEN)),
        http.get(format!("{base}/v1/Rooms"))
            .basic_auth(TEST_ACCOUNT_SID, Some(format!("{AUTH_TOKEN}x"))),
        http.get(format!("{base}/healthz")),
    ];
    let mut seen = String::new();
    for request in requests {
        let response = request.send().await.expect("the server answers");
        seen.push_str(&transcript(response).await);
    }
    assert!(seen.contains("429"), "the rate limit was exercised: {seen}");
    assert!(seen.contains("401"), "a refusal was exercised: {seen}");
    drop(
        Command::new("kill")
            .args(["-TERM", &server.child.id().to_string()])
            .status(),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = std::fs::read_to_string(&log_path).expect("the log is readable");
    (seen, logs)
}

fn assert_no_secret(place: &str, text: &str) {
    for (what, secret) in secrets() {
        assert!(
            !text.contains(secret),
            "{what} appears in {place}:\n{}",
            text.lines()
                .filter(|l| l.contains(secret))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test]
async fn no_secret_appears_in_logs_answers_metrics_or_config_in_either_auth_mode() {
    for mode in ["passcode", "bearer"] {
        let (seen, logs) = drive(mode).await;
        assert!(
            logs.lines().count() > 20,
            "trace logging captured the run ({mode}): {logs}"
        );
        assert_no_secret(&format!("the {mode} server's answers"), &seen);
        assert_no_secret(&format!("the {mode} server's trace log"), &logs);

        let dir = TempDir::new();
        let config = videoroom(&dir, &["config"], mode)
            .output()
            .expect("videoroom config runs");
        assert!(config.status.success());
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&config.stdout),
            String::from_utf8_lossy(&config.stderr)
        );
        assert!(printed.contains("auth.passcode"), "{printed}");
        assert_no_secret("`videoroom config`", &printed);
    }
}
