//! A `videoroom` run far from its sources, as an installed or copied binary is: the page built
//! into it, `workshop/` in the working directory winning over it, and `videoroom workshop
//! init`. Each run uses an empty working directory and an empty environment.

use std::path::Path;
use std::process::{Command, Output};

use videoroom_test_support::binary;

use crate::config::TempDir;
use crate::helpers::client;

fn videoroom(dir: &Path, args: &[&str]) -> Command {
    let mut command = binary::command(env!("CARGO_BIN_EXE_videoroom"));
    command.args(args).current_dir(dir).env_clear();
    // No test run fetches twilio-video.js from the npm registry.
    command.env("VIDEOROOM_SDK_FETCH", "false");
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    videoroom(dir, args).output().expect("videoroom runs")
}

/// The project's own page, which the binary carries.
fn project_page(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../workshop")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn get(port: u16, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

#[tokio::test]
async fn far_from_its_sources_the_binary_serves_the_page_built_into_it() {
    let dir = TempDir::new();
    let server = binary::Running::start(videoroom(&dir.0, &["--port", "0"]))
        .expect("videoroom starts and listens");
    let (status, body) = get(server.port, "/").await;
    assert_eq!(status, 200);
    assert_eq!(body, project_page("index.html"));
    let (status, body) = get(server.port, "/video.js").await;
    assert_eq!(status, 200);
    assert_eq!(body, project_page("video.js"));
}

#[tokio::test]
async fn a_workshop_folder_in_the_working_directory_wins_over_the_built_in_page() {
    let dir = TempDir::new();
    std::fs::create_dir(dir.0.join("workshop")).expect("a workshop folder");
    std::fs::write(dir.0.join("workshop/index.html"), "<p>my edited page</p>").expect("write");
    let server = binary::Running::start(videoroom(&dir.0, &["--port", "0"]))
        .expect("videoroom starts and listens");
    let (_, body) = get(server.port, "/").await;
    assert_eq!(body, "<p>my edited page</p>");
    // The folder is the page: a file it lacks is not filled in from the built-in copy.
    let (status, _) = get(server.port, "/video.js").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn workshop_init_writes_an_editable_copy_that_is_then_served() {
    let dir = TempDir::new();
    let output = run(&dir.0, &["workshop", "init", "workshop"]);
    assert!(output.status.success(), "{output:?}");
    let said = String::from_utf8_lossy(&output.stdout);
    let first = said.lines().next().unwrap_or_default();
    assert!(first.contains("書き出しました"), "Japanese first: {said}");
    assert!(
        said.contains("Wrote the workshop page into workshop"),
        "{said}"
    );
    for name in ["index.html", "video.js", "style.css"] {
        let written = std::fs::read_to_string(dir.0.join("workshop").join(name)).expect(name);
        assert_eq!(written, project_page(name), "{name}");
    }

    std::fs::write(
        dir.0.join("workshop/index.html"),
        "<p>edited after init</p>",
    )
    .expect("edit");
    let server = binary::Running::start(videoroom(&dir.0, &["--port", "0"]))
        .expect("videoroom starts and listens");
    let (_, body) = get(server.port, "/").await;
    assert_eq!(body, "<p>edited after init</p>");

    // A second init over the edited copy writes nothing and says so in both languages.
    let again = run(&dir.0, &["workshop", "init", "workshop"]);
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("上書きしません"), "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.0.join("workshop/index.html")).expect("read"),
        "<p>edited after init</p>"
    );
}

#[test]
fn check_and_start_up_errors_speak_japanese_first_then_english() {
    let dir = TempDir::new();
    let check = run(&dir.0, &["check"]);
    let out = String::from_utf8_lossy(&check.stdout);
    let mut lines = out.lines();
    assert!(
        lines.next().is_some_and(|l| l.contains("バックエンド")),
        "{out}"
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("backend: emulator")),
        "{out}"
    );

    let refused = run(&dir.0, &["--port", "nope"]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    let mut lines = err.lines();
    assert!(
        lines.next().is_some_and(|l| l.contains("設定に問題")),
        "{err}"
    );
    assert!(err.contains("--port"), "{err}");
}

/// `videoroom sdk fetch` says what it does, the size that arrived and the integrity result: a
/// fake npm that delivers a tarball which is not the published one.
#[cfg(unix)]
#[test]
fn sdk_fetch_shows_what_it_does_the_size_and_the_integrity_result() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new();
    let bin = dir.0.join("bin");
    std::fs::create_dir_all(&bin).expect("a bin folder");
    let npm = bin.join("npm");
    // `npm pack` writes the tarball into its working directory.
    std::fs::write(
        &npm,
        "#!/bin/sh\nhead -c 3000 /dev/zero > twilio-video-2.36.0.tgz\n",
    )
    .expect("write a fake npm");
    std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755))
        .expect("make the fake npm executable");
    let cache = dir.0.join("cache");
    let output = videoroom(&dir.0, &["sdk", "fetch"])
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("VIDEOROOM_SDK_CACHE_DIR", &cache)
        .output()
        .expect("videoroom runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let out = String::from_utf8_lossy(&output.stdout);
    let mut lines = out.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.contains("npm で取得しています")),
        "{out}"
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.contains("fetching twilio-video.js 2.36.0 with `npm pack` into")),
        "{out}"
    );
    assert!(out.contains("ダウンロードしました: 3 KB"), "{out}");
    assert!(
        out.contains("downloaded 3 KB; checking its integrity"),
        "{out}"
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("does not match the pinned hash"), "{err}");
    assert!(
        !cache.join("2.36.0/twilio-video-2.36.0.tgz").exists(),
        "the refused tarball is not kept"
    );
}
