//! The `videoroom` binary: `token`, `config`, `decode`, the start-up banner, start-up errors
//! and graceful exit on SIGINT/SIGTERM. Each run uses an empty working directory and an empty
//! environment, so no developer's `.env` leaks in.

use std::io::{BufRead as _, BufReader};
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

#[test]
fn enum_flags_with_bad_values_join_the_report_of_every_problem() {
    let output = run(
        &[
            "config",
            "--backend",
            "twilo",
            "--room-type",
            "huge",
            "--log-format",
            "jsno",
            "--port",
            "x",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    // Japanese first, then English (crate::messages), then the report itself.
    let report = err
        .split_once("fix the values named below.\n")
        .map(|(heading, report)| {
            assert!(
                heading.starts_with("設定に問題があるため起動しません"),
                "{err}"
            );
            report
        })
        .unwrap_or(&err);
    assert!(
        report.starts_with("videoroom: invalid configuration:"),
        "{err}"
    );
    for expected in [
        "--backend: unknown variant `twilo`, expected `emulator` or `twilio`; did you mean 'twilio'?",
        "--room-type: room type must be one of",
        "--log-format: unknown variant `jsno`",
        "--port: must be a port number",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn an_empty_videoroom_config_counts_as_unset() {
    let dir = TempDir::new();
    dir.write("videoroom.toml", "port = 4321\n");
    let output = videoroom(&dir, &["config"], &[("VIDEOROOM_CONFIG", "")])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output)
            .lines()
            .any(|l| l.starts_with("port ") && l.contains("4321")),
        "the default videoroom.toml is read: {}",
        stdout(&output)
    );
}

#[test]
fn warnings_about_dotenv_are_printed_on_standard_error() {
    let dir = TempDir::new();
    dir.write(".env", "RUST_LOG=debug\n");
    let output = videoroom(&dir, &["config"], &[]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("videoroom: warning: RUST_LOG in .env is ignored"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn help_names_the_environment_variables_behind_each_flag() {
    let output = run(&["--help"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let help = stdout(&output);
    for spec in videoroom_server::settings::KEYS {
        let names = spec.env.join(", ");
        match spec.flag {
            Some(flag) => {
                let line = help
                    .lines()
                    // `--flag <VALUE>`, or `--flag[=<BOOL>]` for a flag whose value is optional.
                    .find(|l| {
                        let l = l.trim_start();
                        l.starts_with(&format!("{flag} ")) || l.starts_with(&format!("{flag}[="))
                    })
                    .unwrap_or_else(|| panic!("no line for {flag} in:\n{help}"));
                assert!(line.contains(&format!("[env: {names}]")), "{line}");
            }
            None => assert!(help.contains(&names), "{names} is not in:\n{help}"),
        }
    }
    assert!(help.contains("[env: VIDEOROOM_CONFIG]"), "{help}");
}

/// The first example block of `section` in docs/configuration.md: the command after `$ ` and
/// the lines it prints.
fn documented_example(section: &str) -> (String, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let text = std::fs::read_to_string(&path).expect("docs/configuration.md is readable");
    let block = text
        .split(section)
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .unwrap_or_else(|| panic!("no example block under {section}"));
    let mut lines = block.lines().skip_while(|l| !l.starts_with("$ "));
    let command = lines
        .next()
        .and_then(|l| l.strip_prefix("$ "))
        .expect("the block starts with `$ command`")
        .to_owned();
    let printed: Vec<&str> = lines.collect();
    (command, printed.join("\n"))
}

#[test]
fn the_documented_validation_example_is_exactly_what_the_binary_prints() {
    let (command, printed) = documented_example("## Validation at start-up");
    // `NAME=value ... videoroom args...`, as a shell reads it (the example has no quoting).
    let words: Vec<&str> = command.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "videoroom")
        .expect("the example runs videoroom");
    let env: Vec<(&str, &str)> = words[..at]
        .iter()
        .map(|w| w.split_once('=').expect("NAME=value before the command"))
        .collect();
    let output = run(&words[at + 1..], &env);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stderr(&output).trim_end(), printed.trim_end());
}

#[test]
fn config_in_twilio_mode_without_credentials_prints_what_it_has_and_what_is_missing() {
    let dir = TempDir::new();
    dir.write(
        ".env",
        "ACCOUNT_SID=AC33333333333333333333333333333333\nAPI_SECRET=dotenv-secret-value\n",
    );
    let output = videoroom(&dir, &["config", "--backend", "twilio"], &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let out = stdout(&output);
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no line for {key} in {out}"))
            .to_owned()
    };
    assert!(line("backend").contains("twilio") && line("backend").contains("(flag --backend)"));
    assert!(line("credentials.account_sid").contains("AC33333333333333333333333333333333"));
    assert!(line("credentials.account_sid").contains("(.env ACCOUNT_SID)"));
    assert!(line("credentials.api_secret").contains("[redacted]"));
    assert!(line("credentials.api_key").contains("(not set)"));
    assert!(!out.contains("dotenv-secret-value"), "{out}");
    let err = stderr(&output);
    assert!(err.contains("API_KEY (or TWILIO_API_KEY_SID)"), "{err}");
    assert!(!err.contains("dotenv-secret-value"), "{err}");
}

/// `videoroom sdk fetch` with `npm_body` as the npm client on PATH, stopped after two seconds.
#[cfg(unix)]
fn sdk_fetch_with_fake_npm(npm_body: &str) -> (Output, Duration) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new();
    let bin = dir.0.join("bin");
    std::fs::create_dir_all(&bin).expect("a bin folder");
    let npm = bin.join("npm");
    std::fs::write(&npm, format!("#!/bin/sh\n{npm_body}\n")).expect("write a fake npm");
    std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755))
        .expect("make the fake npm executable");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let cache = dir.0.join("cache");
    let started = Instant::now();
    let output = videoroom(
        &dir,
        &["sdk", "fetch"],
        &[
            ("PATH", &path),
            ("VIDEOROOM_SDK_CACHE_DIR", &cache.display().to_string()),
            ("VIDEOROOM_SDK_FETCH_TIMEOUT", "7"),
        ],
    )
    .output()
    .expect("videoroom runs");
    (output, started.elapsed())
}

#[cfg(unix)]
#[test]
fn sdk_fetch_with_an_unreachable_registry_says_why_and_offers_the_offline_ways() {
    let (output, _) = sdk_fetch_with_fake_npm(
        "echo 'npm error code ECONNREFUSED' >&2\necho 'npm error request to https://registry.invalid/ failed' >&2\nexit 1",
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("npm said: npm error code ECONNREFUSED"),
        "{err}"
    );
    assert!(!err.contains("no message"), "{err}");
    assert!(err.contains("sdk.path (VIDEOROOM_SDK_PATH)"), "{err}");
    assert!(err.contains("copy twilio-video-2.36.0.tgz into"), "{err}");
}

#[cfg(unix)]
#[test]
fn sdk_fetch_with_a_hanging_npm_reports_progress_and_gives_up_at_the_timeout() {
    let (output, took) = sdk_fetch_with_fake_npm("exec sleep 120");
    assert_eq!(output.status.code(), Some(1));
    assert!(took < Duration::from_secs(30), "{took:?}");
    let err = stderr(&output);
    assert!(
        err.contains("still waiting for npm (5 s of at most 7 s"),
        "{err}"
    );
    assert!(err.contains("did not finish within 7 s"), "{err}");
    assert!(err.contains("sdk.path (VIDEOROOM_SDK_PATH)"), "{err}");
}

#[tokio::test]
async fn decode_checks_validity_against_the_emulators_clock_when_given_its_url() {
    let server = start(&["--port", "0"], &[]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let advanced = client()
        .post(format!("{base}/emulator/clock/advance"))
        .basic_auth(
            videoroom_core::credentials::TEST_ACCOUNT_SID,
            Some(videoroom_core::credentials::TEST_AUTH_TOKEN),
        )
        .form(&[("Seconds", "7200")])
        .send()
        .await
        .expect("the emulator answers");
    assert_eq!(advanced.status().as_u16(), 200);
    // Minted on this computer's clock, with the default lifetime of an hour.
    let token = stdout(&run(&["token", "--identity", "alice"], &[]));

    let local = run(&["decode", token.trim()], &[]);
    assert!(local.status.success(), "{}", stderr(&local));
    assert!(
        stdout(&local).contains("Clock:     this computer's clock"),
        "{}",
        stdout(&local)
    );

    let dir = TempDir::new();
    let on_emulator = tokio::task::spawn_blocking(move || {
        videoroom(&dir, &["decode", "--server", &base, token.trim()], &[])
            .output()
            .expect("videoroom runs")
    })
    .await
    .expect("the decode finishes");
    let out = stdout(&on_emulator);
    assert_eq!(on_emulator.status.code(), Some(1), "{out}");
    assert!(out.contains("Refused:   20104"), "{out}");
    assert!(
        out.contains("Clock:     the emulator's clock at http://127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("(7200 s ahead of this computer's)"), "{out}");
}

#[tokio::test]
async fn a_token_request_writes_exactly_one_info_line() {
    let logs = TempDir::new();
    let log_path = logs.0.join("stderr.log");
    let file = std::fs::File::create(&log_path).expect("a log file");
    let server = start_with_stderr(
        &["--port", "0", "--log-format", "json"],
        &[("RUST_LOG", "info")],
        Stdio::from(file),
    );
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", server.port);
    // Start-up lines come first; wait until the server answers before counting.
    let health = client().get(url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = std::fs::read_to_string(&log_path).unwrap().lines().count();

    let response = client()
        .get(url("/video-token?identity=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let text = std::fs::read_to_string(&log_path).unwrap();
    let new: Vec<&str> = text.lines().skip(before).collect();
    let info: Vec<&&str> = new
        .iter()
        .filter(|l| l.contains("\"level\":\"INFO\""))
        .collect();
    assert_eq!(
        info.len(),
        1,
        "one INFO line per request, got:\n{}",
        new.join("\n")
    );
    assert!(info[0].contains("/video-token"), "{}", info[0]);
    assert!(
        !text.contains("alice"),
        "the identity is not logged at INFO:\n{text}"
    );
}

/// Every socket is a file descriptor: with a soft limit of 1,024, a thousand idle clients
/// starved `/healthz`. The server lifts its soft limit to the hard one before listening.
#[cfg(target_os = "linux")]
#[test]
fn serve_raises_its_soft_open_file_limit_to_the_hard_limit() {
    let dir = TempDir::new();
    let mut child = Command::new("/bin/sh")
        .args(["-c", "ulimit -Sn 256 && exec \"$0\" --port 0"])
        .arg(env!("CARGO_BIN_EXE_videoroom"))
        .current_dir(&dir.0)
        .env_clear()
        .env("VIDEOROOM_SDK_FETCH", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("videoroom starts under sh");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let listening = lines.any(|line| {
        line.expect("stdout is readable")
            .starts_with("listening on ")
    });
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "the server started");
    let limits = limits.expect("/proc/<pid>/limits is readable on Linux");
    let row: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a row for open files")
        .split_whitespace()
        .collect();
    // "Max open files  <soft>  <hard>  files"
    let (soft, hard) = (row[3], row[4]);
    assert_ne!(soft, "256", "the soft limit was raised: {row:?}");
    assert_eq!(soft, hard, "to the hard limit: {row:?}");
}
