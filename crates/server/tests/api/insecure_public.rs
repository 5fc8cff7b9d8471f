//! `--insecure-public` (issue 13): the opt-out that lets twilio mode start on a non-loopback
//! address with no access control is logged as a warning at every start, at the default log
//! level, so it cannot be forgotten in a deployment's logs.

use std::fs::File;
use std::process::Stdio;

use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_test_support::binary::{self, Running};

use crate::config::TempDir;

#[test]
fn insecure_public_is_logged_as_a_warning_at_every_start() {
    let dir = TempDir::new();
    for start in 1..=2 {
        let log_path = dir.0.join(format!("start-{start}.log"));
        let log = File::create(&log_path).expect("a log file in the temp dir");
        let mut command = binary::command(env!("CARGO_BIN_EXE_videoroom"));
        // 0.0.0.0 is what the opt-out is for. Nothing is sent anywhere: the process is stopped
        // once it listens, and its upstream (never contacted) is a closed loopback port.
        command
            .args(["--backend", "twilio", "--host", "0.0.0.0", "--port", "0"])
            .arg("--insecure-public")
            .current_dir(&dir.0)
            .env_clear()
            .env("ACCOUNT_SID", TEST_ACCOUNT_SID)
            .env("API_KEY", TEST_API_KEY_SID)
            .env("API_SECRET", TEST_API_KEY_SECRET)
            .env("TWILIO_VIDEO_BASE_URL", "http://127.0.0.1:9")
            .env("VIDEOROOM_IDLE_PROBE", "0")
            .env("VIDEOROOM_SDK_FETCH", "false")
            .env("VIDEOROOM_LOG_FORMAT", "json")
            .stderr(Stdio::from(log));
        let running = Running::start(command).expect("twilio mode starts with --insecure-public");
        drop(running);
        let text = std::fs::read_to_string(&log_path).expect("the captured log");
        let warnings: Vec<&str> = text
            .lines()
            .filter(|line| line.contains("--insecure-public"))
            .collect();
        assert_eq!(
            warnings.len(),
            1,
            "start {start}: one line about the opt-out in:\n{text}"
        );
        let line: serde_json::Value = serde_json::from_str(warnings[0]).expect("a JSON log line");
        assert_eq!(line["level"], "WARN", "start {start}: {line}");
        assert!(
            line["message"]
                .as_str()
                .is_some_and(|m| m.contains("anyone who reaches this server")),
            "start {start}: the warning says what is at stake: {line}"
        );
    }
}
