//! The `videoroom` binary: `token`, `config`, `decode`, the start-up banner, start-up errors
//! and graceful exit on SIGINT/SIGTERM. Each run uses an empty working directory and an empty
//! environment, so no developer's `.env` leaks in.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use videoroom_core::credentials::{
    ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN,
};

use videoroom_test_support::binary;

use crate::config::TempDir;
use crate::helpers::{client, verify};

fn videoroom(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = binary::command(env!("CARGO_BIN_EXE_videoroom"));
    command.args(args).current_dir(&dir.0).env_clear();
    // `sdk.fetch = false`: no test run fetches twilio-video.js from the npm registry.
    command.env("VIDEOROOM_SDK_FETCH", "false");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = TempDir::new();
    videoroom(&dir, args, env).output().expect("videoroom runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn token_prints_only_a_token_that_verifies_for_the_identity_and_room() {
    let output = run(
        &["token", "--identity", "alice", "--room", "DailyStandup"],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert_eq!(out.lines().count(), 1, "one line, the token: {out:?}");
    let verified = verify(out.trim_end());
    assert_eq!(verified.identity.as_str(), "alice");
    assert_eq!(verified.room.as_deref(), Some("DailyStandup"));
}

#[test]
fn token_uses_the_configured_credentials() {
    let output = run(
        &["token", "--identity", "bob"],
        &[
            (ENV_ACCOUNT_SID[0], "AC33333333333333333333333333333333"),
            (ENV_API_KEY_SID[0], "SK44444444444444444444444444444444"),
            (ENV_API_KEY_SECRET[0], "not-the-seeded-secret"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let token = stdout(&output);
    let decoded = videoroom_core::token::decode_unverified(token.trim()).unwrap();
    assert_eq!(decoded.claims["iss"], "SK44444444444444444444444444444444");
    assert_eq!(decoded.claims["sub"], "AC33333333333333333333333333333333");
}

#[test]
fn token_refuses_an_invalid_identity_with_the_rule() {
    let output = run(&["token", "--identity", ""], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).contains("identity must not be empty"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn config_prints_the_effective_values_and_their_origins_without_secrets() {
    let dir = TempDir::new();
    dir.write(
        ".env",
        "API_KEY=SK44444444444444444444444444444444\nAPI_SECRET=dotenv-secret-value\nVIDEOROOM_ROOM=fromdotenv\n",
    );
    let output = videoroom(
        &dir,
        &["config", "--port", "4123"],
        &[
            (ENV_AUTH_TOKEN[0], "env-auth-token-value"),
            ("VIDEOROOM_ROOM_TYPE", "go"),
        ],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        !out.contains("dotenv-secret-value") && !out.contains("env-auth-token-value"),
        "{out}"
    );
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no line for {key} in {out}"))
            .to_owned()
    };
    assert!(line("port").contains("4123") && line("port").contains("(flag --port)"));
    assert!(
        line("room.name").contains("fromdotenv")
            && line("room.name").contains("(.env VIDEOROOM_ROOM)")
    );
    assert!(
        line("room.type").contains("go") && line("room.type").contains("(env VIDEOROOM_ROOM_TYPE)")
    );
    assert!(line("credentials.api_secret").contains("[redacted]"));
    assert!(line("credentials.auth_token").contains("[redacted]"));
    assert!(line("backend").contains("emulator") && line("backend").contains("(default)"));
}

#[test]
fn decode_shows_header_and_claims_and_confirms_the_signature() {
    let token = stdout(&run(&["token", "--identity", "alice"], &[]));
    let output = run(&["decode", token.trim()], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("\"cty\": \"twilio-fpa;v=1\""), "{out}");
    assert!(out.contains("\"identity\": \"alice\""), "{out}");
    assert!(out.contains("Signature: valid"), "{out}");
}

#[test]
fn decode_reports_a_token_signed_with_another_secret_as_not_verified() {
    let token = stdout(&run(
        &["token", "--identity", "alice"],
        &[
            (
                ENV_API_KEY_SID[0],
                videoroom_core::credentials::TEST_API_KEY_SID,
            ),
            (ENV_API_KEY_SECRET[0], "some-other-secret"),
        ],
    ));
    let output = run(&["decode", token.trim()], &[]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(
        out.contains("\"identity\": \"alice\""),
        "still decoded: {out}"
    );
    assert!(out.contains("Signature: NOT verified"), "{out}");
    assert!(out.contains("20107"), "{out}");
}

#[test]
fn decode_reads_a_whole_token_answer_from_standard_input() {
    let token = stdout(&run(&["token", "--identity", "zoe"], &[]));
    let dir = TempDir::new();
    let mut child = videoroom(&dir, &["decode"], &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let answer = format!(r#"{{"token":"{}","identity":"zoe"}}"#, token.trim());
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), answer.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(stdout(&output).contains("\"identity\": \"zoe\""));
}

#[test]
fn decode_of_something_that_is_not_a_token_says_so() {
    let output = run(&["decode", "hello"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not a token"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn invalid_configuration_stops_start_up_with_every_problem_named() {
    let output = run(
        &["--port", "x"],
        &[
            ("VIDEOROOM_BACKEND", "twilo"),
            (ENV_API_KEY_SID[0], "ACnope"),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("--port: must be a port number"), "{err}");
    assert!(
        err.contains("VIDEOROOM_BACKEND: unknown variant `twilo`"),
        "{err}"
    );
    assert!(
        err.contains("API_KEY: API key SID must start with SK"),
        "{err}"
    );
    assert!(stdout(&output).is_empty());
}

#[test]
fn the_twilio_backend_without_credentials_refuses_to_start() {
    let output = run(&["--backend", "twilio", "--port", "0"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("ACCOUNT_SID (or TWILIO_ACCOUNT_SID)"), "{err}");
}

/// A `videoroom` server started by a test, with its banner read up to the listening line
/// (`child`, `banner` and `port` are those of [`binary::Running`]).
struct Running {
    running: binary::Running,
    _dir: TempDir,
}

impl std::ops::Deref for Running {
    type Target = binary::Running;

    fn deref(&self) -> &binary::Running {
        &self.running
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut binary::Running {
        &mut self.running
    }
}

fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
    start_with_stderr(args, env, Stdio::null())
}

fn start_with_stderr(args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Running {
    let dir = TempDir::new();
    let mut command = videoroom(&dir, args, env);
    command.stderr(stderr);
    Running {
        running: binary::Running::start(command).expect("videoroom starts and listens"),
        _dir: dir,
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn the_banner_names_the_backend_the_urls_and_the_real_port() {
    let server = start(&["--port", "0"], &[]);
    assert_ne!(server.port, 0);
    let p = server.port;
    let banner = &server.banner;
    for expected in [
        "backend: emulator".to_owned(),
        format!("http://localhost:{p}/index.html"),
        format!("http://localhost:{p}/video-token?identity=alice"),
        format!("http://localhost:{p}/v1"),
        format!("http://localhost:{p}/emulator"),
        "ACCOUNT_SID=AC7e570000000000000000000000000000".to_owned(),
        "API_KEY=SK7e570000000000000000000000000000".to_owned(),
        format!("listening on http://127.0.0.1:{p}\n"),
    ] {
        assert!(
            banner.contains(&expected),
            "missing {expected:?} in:\n{banner}"
        );
    }
    let health = client()
        .get(format!("http://127.0.0.1:{p}/healthz"))
        .send()
        .await
        .expect("the server answers on the printed port");
    assert_eq!(health.status().as_u16(), 200);
}

#[test]
fn the_banner_never_shows_real_secrets() {
    let server = start(
        &["--port", "0"],
        &[
            (ENV_ACCOUNT_SID[0], "AC33333333333333333333333333333333"),
            (ENV_API_KEY_SID[0], "SK44444444444444444444444444444444"),
            (ENV_API_KEY_SECRET[0], "banner-must-not-show-this"),
            (ENV_AUTH_TOKEN[0], "nor-this-auth-token"),
        ],
    );
    assert!(
        !server.banner.contains("banner-must-not-show-this"),
        "{}",
        server.banner
    );
    assert!(
        !server.banner.contains("nor-this-auth-token"),
        "{}",
        server.banner
    );
    assert!(server.banner.contains("SK44444444444444444444444444444444"));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = start(&["--port", "0"], &[]);
    signal(&server.child, "TERM");
    assert!(wait_for_exit(&mut server.child).success());
}

#[test]
fn sigint_stops_the_server_cleanly() {
    let mut server = start(&["--port", "0"], &[]);
    signal(&server.child, "INT");
    assert!(wait_for_exit(&mut server.child).success());
}

#[test]
fn a_port_in_use_is_reported_with_the_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = run(&["--port", &port], &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("--port"), "{err}");
}

#[tokio::test]
async fn json_logs_carry_a_request_id_and_never_the_token_or_a_secret() {
    let dir = TempDir::new();
    let log_path = dir.0.join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("a log file");
    let mut server = start_with_stderr(
        &["--port", "0", "--log-format", "json"],
        &[
            ("RUST_LOG", "debug"),
            (ENV_API_KEY_SID[0], "SK44444444444444444444444444444444"),
            (ENV_API_KEY_SECRET[0], "log-must-not-show-this"),
        ],
        Stdio::from(log),
    );
    let response = client()
        .get(format!(
            "http://127.0.0.1:{}/video-token?identity=alice",
            server.port
        ))
        .send()
        .await
        .expect("the server answers");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    signal(&server.child, "TERM");
    assert!(wait_for_exit(&mut server.child).success());

    let logs = std::fs::read_to_string(&log_path).expect("the log is readable");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let issued = lines
        .iter()
        .find(|l| l["message"] == "token issued")
        .unwrap_or_else(|| panic!("no 'token issued' line in {logs}"));
    assert_eq!(issued["identity"], "alice");
    assert!(
        logs.contains(&request_id),
        "the request id is logged: {logs}"
    );
    assert!(!logs.contains(&token), "the token is never logged");
    assert!(
        !logs.contains(token.split('.').nth(2).unwrap()),
        "nor its signature"
    );
    assert!(!logs.contains("log-must-not-show-this"), "nor the secret");
}

#[test]
fn the_binary_reads_videoroom_toml_and_dotenv_from_the_working_directory() {
    let dir = TempDir::new();
    dir.write(
        "videoroom.toml",
        "[room]\nname = \"fromtoml\"\ntype = \"go\"\n",
    );
    dir.write(".env", "VIDEOROOM_ROOM_TYPE=peer-to-peer\n");
    let output = videoroom(&dir, &["config"], &[]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("room.name").contains("fromtoml") && line("room.name").contains("videoroom.toml"),
        "{out}"
    );
    assert!(
        line("room.type").contains("peer-to-peer") && line("room.type").contains(".env"),
        "{out}"
    );
}

#[test]
fn an_explicit_config_file_replaces_videoroom_toml() {
    let dir = TempDir::new();
    dir.write("videoroom.toml", "port = 4000\n");
    dir.write("classroom.toml", "port = 4100\n");
    let output = videoroom(&dir, &["config", "--config", "classroom.toml"], &[])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.lines()
            .any(|l| l.starts_with("port ") && l.contains("4100")),
        "{out}"
    );
    let missing = videoroom(&dir, &["config"], &[("VIDEOROOM_CONFIG", "nope.toml")])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("nope.toml does not exist"),
        "{}",
        stderr(&missing)
    );
}
