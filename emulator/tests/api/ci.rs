//! The standalone emulator as a CI job runs it (issue 9): `/healthz`, `--seed`, `exec`, an
//! environment variable for every option, JSON request logs with request ids, and the
//! retention of ended rooms.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SID, TEST_AUTH_TOKEN};
use videoroom_test_support::binary::{self, Banner};

const BIN: &str = env!("CARGO_BIN_EXE_videoroom-emulator");

/// The binary in a fresh empty folder (no `.env`), without the developer's credentials.
fn command(args: &[&str], env: &[(&str, &str)]) -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::from(binary::command(BIN));
    cmd.args(args)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env_remove("EMULATOR_PORT")
        .env_remove("VIDEOROOM_LOG_FORMAT")
        .env_remove("EMULATOR_SEED")
        .env_remove("EMULATOR_HOST")
        .env_remove("EMULATOR_RETENTION_SECONDS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd, dir)
}

/// Starts the binary on port 0 and returns it with its base URL once it listens.
async fn start(args: &[&str], env: &[(&str, &str)]) -> (Child, String, tempfile::TempDir) {
    let mut all = vec!["--port", "0"];
    all.extend_from_slice(args);
    let (mut cmd, dir) = command(&all, env);
    let mut child = cmd.spawn().expect("the binary starts");
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
    let base = banner
        .base
        .unwrap_or_else(|| panic!("no listening line in {:#?}", banner.lines));
    (child, base, dir)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn get_json(url: String, user: &str, password: &str) -> (u16, Value) {
    let response = client()
        .get(url)
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[actix_web::test]
async fn healthz_answers_the_same_json_as_videoroom() {
    let (child, base, _dir) = start(&[], &[]).await;
    let response = client()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "backend": "emulator"})
    );
    let post = client()
        .post(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    drop(child);
}

const SEED_TOML: &str = r#"
[account]
sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "seeded-ci-token"

[[api_keys]]
sid = "SK0123456789abcdef0123456789abcdef"
secret = "seeded-ci-secret"

[[rooms]]
UniqueName = "standup"
MaxParticipants = 10
VideoCodecs = ["VP8", "H264"]
recording_rules = [{ type = "include", kind = "audio" }]

[[rooms.participants]]
identity = "alice"
tracks = [{ kind = "audio", name = "mic" }, { kind = "video" }]

[[rooms.participants]]
identity = "bob"
"#;

#[actix_web::test]
async fn a_seed_file_sets_the_account_keys_rooms_participants_and_tracks_again_after_reset() {
    let seed_dir = tempfile::tempdir().unwrap();
    let path = seed_dir.path().join("seed.toml");
    std::fs::write(&path, SEED_TOML).unwrap();
    let (child, base, _dir) = start(&["--seed", path.to_str().unwrap()], &[]).await;
    let account = "AC0123456789abcdef0123456789abcdef";
    let token = "seeded-ci-token";

    let (status, room) = get_json(format!("{base}/v1/Rooms/standup"), account, token).await;
    assert_eq!(status, 200, "{room}");
    assert_eq!(room["account_sid"], account);
    assert_eq!(room["max_participants"], 10);
    assert_eq!(room["video_codecs"], serde_json::json!(["VP8", "H264"]));
    let first_sid = room["sid"].as_str().unwrap().to_owned();

    let (_, participants) = get_json(
        format!("{base}/v1/Rooms/standup/Participants?Status=connected"),
        account,
        token,
    )
    .await;
    let identities: Vec<&str> = participants["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert_eq!(identities.len(), 2, "{participants}");
    assert!(identities.contains(&"alice") && identities.contains(&"bob"));
    let (status, tracks) = get_json(
        format!("{base}/v1/Rooms/standup/Participants/alice/PublishedTracks"),
        account,
        token,
    )
    .await;
    assert_eq!(status, 200, "{tracks}");
    let mut names: Vec<&str> = tracks["published_tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["mic", "video-1"]);
    let (status, rules) = get_json(
        format!("{base}/v1/Rooms/standup/RecordingRules"),
        account,
        token,
    )
    .await;
    assert_eq!(status, 200, "{rules}");
    assert_eq!(
        rules["rules"],
        serde_json::json!([{ "type": "include", "kind": "audio" }]),
        "the seeded recording rules are the room's"
    );

    // The extra key authenticates; the seeded test account is replaced, not added.
    let (status, _) = get_json(
        format!("{base}/v1/Rooms"),
        "SK0123456789abcdef0123456789abcdef",
        "seeded-ci-secret",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = get_json(
        format!("{base}/v1/Rooms"),
        TEST_ACCOUNT_SID,
        TEST_AUTH_TOKEN,
    )
    .await;
    assert_eq!(status, 401);

    // A room of the test's own is gone after a reset; the seeded one is there again.
    let created = client()
        .post(format!("{base}/v1/Rooms"))
        .basic_auth(account, Some(token))
        .form(&[("UniqueName", "scratch")])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let reset = client()
        .post(format!("{base}/emulator/reset"))
        .basic_auth(account, Some(token))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    let (status, _) = get_json(format!("{base}/v1/Rooms/scratch"), account, token).await;
    assert_eq!(status, 404);
    let (status, again) = get_json(format!("{base}/v1/Rooms/standup"), account, token).await;
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["sid"].as_str().unwrap(), first_sid, "a new room");
    let (_, participants) = get_json(
        format!("{base}/v1/Rooms/standup/Participants?Status=connected"),
        account,
        token,
    )
    .await;
    assert_eq!(participants["participants"].as_array().unwrap().len(), 2);
    drop(child);
}

/// Runs the binary to its end and returns its exit code and standard error.
async fn finished(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let (mut cmd, _dir) = command(args, env);
    let output = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the binary finishes")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[actix_web::test]
async fn a_bad_seed_stops_the_binary_with_the_field_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let misspelt = dir.path().join("seed.json");
    std::fs::write(&misspelt, r#"{"rooms": [{"UniqeName": "standup"}]}"#).unwrap();
    let (code, _, stderr) = finished(&["--seed", misspelt.to_str().unwrap()], &[]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("rooms[0].UniqeName") && stderr.contains("did you mean 'UniqueName'?"),
        "{stderr}"
    );

    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rooms]]\nUniqueName = \"r\"\nrecording_rules = [{ type = \"sometimes\", all = true }]\n",
    )
    .unwrap();
    let (code, _, stderr) = finished(&[], &[("EMULATOR_SEED", rules.to_str().unwrap())]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("rooms[0].recording_rules") && stderr.contains("53120"),
        "{stderr}"
    );

    let unknown = dir.path().join("seed.yaml");
    std::fs::write(&unknown, "rooms: []\n").unwrap();
    let (code, _, stderr) = finished(&["--seed", unknown.to_str().unwrap()], &[]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(".toml or .json"), "{stderr}");

    // A value the store refuses (53107) stops the start, naming the room.
    let refused = dir.path().join("refused.toml");
    std::fs::write(&refused, "[[rooms]]\nMaxParticipants = 0\n").unwrap();
    let (code, _, stderr) =
        finished(&["--port", "0", "--seed", refused.to_str().unwrap()], &[]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("rooms[0]") && stderr.contains("53107"),
        "{stderr}"
    );
}

#[actix_web::test]
async fn exec_runs_the_command_against_a_fresh_emulator_and_exits_with_its_status() {
    // bash's /dev/tcp is the HTTP client, so the test needs nothing else installed.
    let script = r#"
        set -e
        hostport="${TWILIO_VIDEO_BASE_URL#http://}"
        exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
        printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
        cat <&3 | tail -n 1
        echo
        echo "$ACCOUNT_SID $TWILIO_ACCOUNT_SID $AUTH_TOKEN $API_KEY $TWILIO_API_KEY_SID"
        echo "url=$VIDEOROOM_EMULATOR_URL"
        exit "$WANTED"
    "#;
    let (code, stdout, stderr) =
        finished(&["exec", "--", "bash", "-c", script], &[("WANTED", "0")]).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(r#"{"backend":"emulator","status":"ok"}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{TEST_ACCOUNT_SID} {TEST_ACCOUNT_SID} {TEST_AUTH_TOKEN} {TEST_API_KEY_SID} {TEST_API_KEY_SID}"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("url=http://127.0.0.1:"), "{stdout}");
    assert!(
        !stderr.contains("/healthz"),
        "a passing command's output is its own: {stderr}"
    );

    let (code, _, stderr) =
        finished(&["exec", "--", "bash", "-c", script], &[("WANTED", "3")]).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("exited with status 3") && stderr.contains("/healthz"),
        "the request log is printed when the command fails: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal colour codes in a log meant for CI: {stderr}"
    );

    let (code, _, stderr) = finished(&["exec", "--", "no-such-command-here"], &[]).await;
    assert_eq!(code, Some(127), "{stderr}");
    assert!(
        stderr.contains("cannot run `no-such-command-here`"),
        "{stderr}"
    );
}

#[actix_web::test]
async fn json_logs_have_one_line_per_request_with_the_request_id_of_its_answer() {
    let (mut child, base, _dir) = start(&["--log-format", "json"], &[]).await;
    let response = client()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(&id) {
                return line;
            }
        }
        panic!("the log ended without the request's id {id}");
    })
    .await
    .expect("the request is logged");
    let entry: Value = serde_json::from_str(&found)
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {found}"));
    assert_eq!(entry["status"], 200, "{entry}");
    assert!(
        entry.to_string().contains("/healthz"),
        "the path is in the line: {entry}"
    );
    child.kill().await.unwrap();
}

#[actix_web::test]
async fn every_option_of_the_binary_has_an_environment_variable() {
    let (code, help, stderr) = finished(&["--help"], &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    // Options are the lines that start with `--` or `-x, --`; each one's text runs to the next.
    let mut options: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("--") || (trimmed.starts_with('-') && trimmed.contains(", --")) {
            let name = trimmed
                .split_whitespace()
                .find(|w| w.starts_with("--"))
                .unwrap()
                .trim_end_matches(',')
                .to_owned();
            options.push((name, String::new()));
        }
        if let Some((_, text)) = options.last_mut() {
            text.push_str(line);
            text.push(' ');
        }
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"--seed") && names.contains(&"--port"),
        "the scan found the options: {names:?}"
    );
    let without: Vec<&str> = options
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "--help" | "--version"))
        .filter(|(_, text)| !text.contains("[env: "))
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        without.is_empty(),
        "options without a variable: {without:?}\n{help}"
    );
}

#[actix_web::test]
async fn ended_rooms_are_forgotten_after_the_configured_retention_of_emulator_time() {
    let (child, base, _dir) = start(&[], &[("EMULATOR_RETENTION_SECONDS", "60")]).await;
    let auth = (TEST_ACCOUNT_SID, TEST_AUTH_TOKEN);
    let created: Value = client()
        .post(format!("{base}/v1/Rooms"))
        .basic_auth(auth.0, Some(auth.1))
        .form(&[("UniqueName", "short-lived")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = created["sid"].as_str().unwrap().to_owned();
    let completed = client()
        .post(format!("{base}/v1/Rooms/{sid}"))
        .basic_auth(auth.0, Some(auth.1))
        .form(&[("Status", "completed")])
        .send()
        .await
        .unwrap();
    assert!(completed.status().is_success(), "{}", completed.status());
    let advance = |seconds: &'static str| {
        client()
            .post(format!("{base}/emulator/clock/advance"))
            .basic_auth(auth.0, Some(auth.1))
            .form(&[("Seconds", seconds)])
            .send()
    };
    assert_eq!(advance("30").await.unwrap().status(), 200);
    let (status, _) = get_json(format!("{base}/v1/Rooms/{sid}"), auth.0, auth.1).await;
    assert_eq!(status, 200, "kept within the retention");
    assert_eq!(advance("31").await.unwrap().status(), 200);
    let (status, body) = get_json(format!("{base}/v1/Rooms/{sid}"), auth.0, auth.1).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], 20404);
    drop(child);
}

#[actix_web::test]
async fn the_example_seed_in_the_docs_starts_the_emulator_as_documented() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/emulator-seed.example.toml"
    );
    let (child, base, _dir) = start(&["--seed", path], &[]).await;
    let (account, token) = (
        "AC0123456789abcdef0123456789abcdef",
        "ci-auth-token-not-a-secret",
    );
    let (status, room) = get_json(format!("{base}/v1/Rooms/daily-standup"), account, token).await;
    assert_eq!(status, 200, "{room}");
    let (status, track) = get_json(
        format!("{base}/v1/Rooms/daily-standup/Participants/alice/PublishedTracks/video-1"),
        account,
        token,
    )
    .await;
    assert_eq!(status, 200, "{track}");
    let (status, _) = get_json(
        format!("{base}/v1/Rooms/empty-room"),
        "SK0123456789abcdef0123456789abcdef",
        "ci-api-secret-not-a-secret",
    )
    .await;
    assert_eq!(status, 200);
    // The second account (docs/emulator.md, "Several accounts"): its own daily-standup.
    let tenant = "AC0000000000000000000000000000000b";
    let (status, theirs) = get_json(
        format!("{base}/v1/Rooms/daily-standup"),
        tenant,
        "tenant-b-token-not-a-secret",
    )
    .await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["account_sid"], tenant);
    assert_ne!(theirs["sid"], room["sid"]);
    let (status, carol) = get_json(
        format!("{base}/v1/Rooms/daily-standup/Participants/carol"),
        "SK0000000000000000000000000000000b",
        "tenant-b-secret-not-a-secret",
    )
    .await;
    assert_eq!(status, 200, "{carol}");
    let (status, _) = get_json(
        format!("{base}/v1/Rooms/empty-room"),
        tenant,
        "tenant-b-token-not-a-secret",
    )
    .await;
    assert_eq!(status, 404, "the first account's room is not the second's");
    drop(child);
}

#[actix_web::test]
async fn the_banner_names_the_seeds_further_accounts_without_their_secrets() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/emulator-seed.example.toml"
    );
    let (mut cmd, _dir) = command(&["--port", "0", "--seed", path], &[]);
    let mut child = cmd.spawn().expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains("More account");
            seen.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap_or_else(|_| panic!("no 'More account' line in {seen:#?}"));
    let last = seen.last().expect("a line was read");
    assert!(
        last.contains("AC0000000000000000000000000000000b"),
        "{last}"
    );
    let banner = seen.join("\n");
    assert!(
        !banner.contains("tenant-b-token") && !banner.contains("tenant-b-secret"),
        "{banner}"
    );
    drop(child);
}
