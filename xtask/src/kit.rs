//! `cargo xtask kit`: the workshop kit, a folder (and an archive of it) that attendees unpack
//! and run with neither Rust nor Node.js: the release `videoroom`, the pinned twilio-video.js
//! tarball from the SDK cache (fetched first when missing), a bilingual README, the LICENSE and
//! SHA256SUMS. The binary finds the tarball beside itself and checks it against the pinned
//! integrity hash on every start, so an attendee's machine downloads nothing.
//!
//! Cross-compiling is out of reach here: the kit is for the system it is built on, and an
//! organiser builds one per system with the same command (docs/workshop/kit.md).
//!
//! Also here: the kit part of `cargo xtask bench`, the time from an unpacked kit to a served
//! page with the SDK ready.

use std::env;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::{cargo, describe, project_root, run_status, target_dir, Outcome};

/// The SDK version the server pins (`SDK_VERSION` in emulator/src/sdk.rs, which xtask does not
/// depend on so that it builds in seconds); a test fails when the two differ.
const SDK_VERSION: &str = "2.36.0";
/// The npm tarball's name, as `npm pack` writes it and as the binary looks for it.
const SDK_TARBALL: &str = "twilio-video-2.36.0.tgz";

const README: &str = include_str!("kit-readme.txt");

/// The system the kit is for: the one this xtask was built for.
fn target_name() -> String {
    format!("{}-{}", env::consts::OS, env::consts::ARCH)
}

fn exe(name: &str) -> String {
    format!("{name}{}", env::consts::EXE_SUFFIX)
}

/// `cargo xtask kit [--debug] [--bench]`: builds the binary (release unless `--debug`, which is only for
/// trying the kit quickly), assembles the kit and checks that its binary finds the SDK.
///
/// `cargo xtask kit --bench` runs only the kit's benchmark (see [`bench_kit`]), the step that
/// `cargo xtask bench` runs after the others.
pub fn kit(args: &[String]) -> Result<bool> {
    let debug = args.iter().any(|a| a == "--debug");
    let bench = args.iter().any(|a| a == "--bench");
    if let Some(other) = args.iter().find(|a| *a != "--debug" && *a != "--bench") {
        bail!("unknown option `{other}` for `cargo xtask kit` (--debug, --bench)");
    }
    let profile = if debug { "debug" } else { "release" };
    println!("==> build videoroom ({profile})");
    let mut build = cargo();
    build.args(["build", "-p", "videoroom-server", "--bin", "videoroom"]);
    if !debug {
        build.arg("--release");
    }
    if let Outcome::Failed(why) = run_status(&mut build)? {
        bail!("{why}");
    }
    let binary = target_dir().join(profile).join(exe("videoroom"));
    if bench {
        let outcome = bench_kit(&binary)?;
        println!("workshop kit: {outcome}");
        return Ok(!matches!(outcome, Outcome::Failed(_)));
    }

    println!("\n==> the SDK tarball");
    let tarball = sdk_tarball(&binary)?;
    println!("using {}", tarball.display());

    println!("\n==> assemble the kit");
    let name = format!("videoroom-{}-{}", env!("CARGO_PKG_VERSION"), target_name());
    let out = target_dir().join("kit");
    let folder = out.join(&name);
    assemble(&folder, &binary, &tarball)?;
    println!("wrote {}", folder.display());

    println!("\n==> check the kit's binary finds the SDK beside it");
    verify(&folder)?;

    println!("\n==> archive");
    let archive = archive(&out, &name)?;
    println!("wrote {}", archive.display());
    println!(
        "\nThe kit for {}: give attendees {} (unpack it and run videoroom inside).",
        target_name(),
        archive.display()
    );
    Ok(true)
}

/// The verified tarball from the project's SDK cache, fetched there first with the built
/// binary's own `videoroom sdk fetch` (npm) when missing. The cache may hold only the extracted
/// file (its tarball deleted by hand): then a fresh fetch goes into a scratch cache.
fn sdk_tarball(binary: &Path) -> Result<PathBuf> {
    let cache = project_root().join(".cache").join("twilio-video");
    if let Some(found) = fetch_into(binary, &cache)? {
        return Ok(found);
    }
    let scratch = target_dir().join("kit").join("sdk-fetch");
    fs::create_dir_all(&scratch).with_context(|| scratch.display().to_string())?;
    fetch_into(binary, &scratch)?.with_context(|| {
        format!(
            "`videoroom sdk fetch` left no {SDK_TARBALL} in {}; put a copy there (from `npm pack \
             twilio-video@{SDK_VERSION}` on a machine with network access) and run again",
            scratch.join(SDK_VERSION).display()
        )
    })
}

/// Runs `videoroom sdk fetch` with `cache` as the cache folder; the tarball, when it is there.
fn fetch_into(binary: &Path, cache: &Path) -> Result<Option<PathBuf>> {
    let mut fetch = Command::new(binary);
    fetch
        .args(["sdk", "fetch"])
        .current_dir(project_root())
        .env("VIDEOROOM_SDK_CACHE_DIR", cache);
    if let Outcome::Failed(why) = run_status(&mut fetch)? {
        bail!("the SDK could not be fetched ({why}); the output above says what to do");
    }
    let tarball = cache.join(SDK_VERSION).join(SDK_TARBALL);
    Ok(tarball.is_file().then_some(tarball))
}

/// Writes the kit folder afresh: binary, tarball, README.txt, LICENSE and SHA256SUMS.
fn assemble(folder: &Path, binary: &Path, tarball: &Path) -> Result<()> {
    if folder.exists() {
        fs::remove_dir_all(folder).with_context(|| format!("remove {}", folder.display()))?;
    }
    fs::create_dir_all(folder).with_context(|| format!("create {}", folder.display()))?;
    let copy = |from: &Path, name: &str| -> Result<()> {
        fs::copy(from, folder.join(name))
            .with_context(|| format!("copy {} into {}", from.display(), folder.display()))?;
        Ok(())
    };
    copy(binary, &exe("videoroom"))?;
    copy(tarball, SDK_TARBALL)?;
    copy(&project_root().join("LICENSE"), "LICENSE")?;
    let readme = README
        .replace("{VERSION}", env!("CARGO_PKG_VERSION"))
        .replace("{TARGET}", &target_name())
        .replace("{SDK_TARBALL}", SDK_TARBALL);
    // Notepad on Windows shows a file with LF endings fine since Windows 10 1809; CRLF keeps
    // older editors happy too.
    let readme = if cfg!(windows) {
        readme.replace('\n', "\r\n")
    } else {
        readme
    };
    fs::write(folder.join("README.txt"), readme).context("write README.txt")?;

    let mut sums = String::new();
    for name in [
        exe("videoroom"),
        SDK_TARBALL.to_owned(),
        "README.txt".into(),
        "LICENSE".into(),
    ] {
        let bytes = fs::read(folder.join(&name)).with_context(|| name.clone())?;
        // The format of `sha256sum` and `shasum -a 256`, so that `-c SHA256SUMS` checks it.
        sums.push_str(&format!("{}  {name}\n", hex(&Sha256::digest(&bytes))));
    }
    fs::write(folder.join("SHA256SUMS"), sums).context("write SHA256SUMS")?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the kit's own `videoroom sdk status` with an empty cache folder, so that only the
/// tarball beside the binary can make it ready.
fn verify(folder: &Path) -> Result<()> {
    let empty = target_dir().join("kit").join("empty-cache");
    let _ = fs::remove_dir_all(&empty);
    let mut status = Command::new(folder.join(exe("videoroom")));
    status
        .args(["sdk", "status"])
        .current_dir(folder)
        .env("VIDEOROOM_SDK_CACHE_DIR", &empty)
        .stdin(Stdio::null());
    let output = status
        .output()
        .with_context(|| format!("run {}", describe(&status)))?;
    let said = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !said.contains("beside the binary") {
        bail!(
            "the kit's videoroom does not find the SDK beside it: {said}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    print!("{said}");
    Ok(())
}

/// Archives `out/name` as `name.zip` on Windows (what Explorer opens) or `name.tar.gz`
/// elsewhere (keeps the binary's executable bit), with the system's `tar` (bsdtar on Windows
/// 10 and later, macOS; GNU tar on Linux), so that xtask needs no archive crate.
fn archive(out: &Path, name: &str) -> Result<PathBuf> {
    let (file, flags) = if cfg!(windows) {
        (format!("{name}.zip"), ["-a", "-c", "-f"])
    } else {
        (format!("{name}.tar.gz"), ["-z", "-c", "-f"])
    };
    let path = out.join(&file);
    let _ = fs::remove_file(&path);
    let mut tar = Command::new("tar");
    tar.args(flags).arg(&file).arg(name).current_dir(out);
    match run_status(&mut tar) {
        Ok(Outcome::Passed) => Ok(path),
        Ok(other) => bail!(
            "{other}; the kit folder {} is complete, archive it by hand",
            out.join(name).display()
        ),
        Err(error) => bail!(
            "{error:#}: no `tar` on PATH; the kit folder {} is complete, archive it by hand",
            out.join(name).display()
        ),
    }
}

/// The kit part of `cargo xtask bench`: assembles a kit with `binary` (the release build) in a
/// scratch folder, archives and unpacks it, then times from the unpacked binary's start to a
/// served page with the SDK ready. Target: under 2 seconds.
pub fn bench_kit(binary: &Path) -> Result<Outcome> {
    let tarball = match sdk_tarball(binary) {
        Ok(tarball) => tarball,
        Err(error) => {
            return Ok(Outcome::Skipped(format!(
                "no SDK tarball to put in the kit: {error:#}"
            )))
        }
    };
    let scratch = target_dir().join("kit").join("bench");
    let _ = fs::remove_dir_all(&scratch);
    let name = "videoroom-bench-kit";
    assemble(&scratch.join(name), binary, &tarball)?;
    archive(&scratch, name)?;
    let unpacked = scratch.join("unpacked");
    fs::create_dir_all(&unpacked)?;
    let archive_name = if cfg!(windows) { "zip" } else { "tar.gz" };
    let mut untar = Command::new("tar");
    untar
        .args(["-x", "-f"])
        .arg(scratch.join(format!("{name}.{archive_name}")))
        .current_dir(&unpacked);
    if let Outcome::Failed(why) = run_status(&mut untar)? {
        bail!("unpacking the kit: {why}");
    }
    let folder = unpacked.join(name);
    let empty = scratch.join("empty-cache");

    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(time_to_ready(&folder, &empty)?);
    }
    let best = runs.iter().min().copied().unwrap_or_default();
    let worst = runs.iter().max().copied().unwrap_or_default();
    let target = Duration::from_secs(2);
    println!(
        "kit: unpacked kit -> served page with the SDK ready: best {:.0} ms, worst {:.0} ms of {} runs (target < {} ms, worst/target = {:.2})",
        best.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3,
        runs.len(),
        target.as_millis(),
        worst.as_secs_f64() / target.as_secs_f64()
    );
    Ok(if worst < target {
        Outcome::Passed
    } else {
        Outcome::Failed(format!(
            "an unpacked kit took {:.0} ms to serve the page with the SDK ready (target < 2000 ms)",
            worst.as_secs_f64() * 1e3
        ))
    })
}

/// Starts the kit's binary on a free loopback port and waits until `/` answers 200 and
/// `/sdk/status` says ready.
fn time_to_ready(folder: &Path, empty_cache: &Path) -> Result<Duration> {
    let started = Instant::now();
    let mut child = Command::new(folder.join(exe("videoroom")))
        .args(["--port", "0"])
        .current_dir(folder)
        .env("VIDEOROOM_SDK_CACHE_DIR", empty_cache)
        .env("VIDEOROOM_SDK_FETCH", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("start the kit's videoroom")?;
    let result = wait_until_ready(&mut child, started);
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn wait_until_ready(child: &mut Child, started: Instant) -> Result<Duration> {
    let mut stdout = child.stdout.take().context("the child's stdout")?;
    let mut banner = String::new();
    let port = loop {
        let mut chunk = [0u8; 1024];
        let read = stdout.read(&mut chunk)?;
        if read == 0 {
            bail!("videoroom exited before listening: {banner}");
        }
        banner.push_str(&String::from_utf8_lossy(&chunk[..read]));
        if let Some(port) = banner
            .lines()
            .find_map(|line| line.strip_prefix("listening on http://127.0.0.1:"))
            .and_then(|port| port.trim().parse::<u16>().ok())
        {
            break port;
        }
    };
    let deadline = started + Duration::from_secs(30);
    loop {
        let page = get(port, "/")?;
        let sdk = get(port, "/sdk/status")?;
        if page.starts_with("HTTP/1.1 200") && sdk.contains("\"state\":\"ready\"") {
            return Ok(started.elapsed());
        }
        if Instant::now() > deadline {
            bail!("the kit never served the page with the SDK ready: {sdk}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A plain HTTP/1.1 GET on loopback, the whole answer as text (xtask has no HTTP client).
fn get(port: u16, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kit_uses_the_sdk_version_the_server_pins() {
        let sdk = fs::read_to_string(project_root().join("emulator/src/sdk.rs"))
            .expect("emulator/src/sdk.rs is readable");
        let pinned = sdk
            .lines()
            .find_map(|line| line.strip_prefix("pub const SDK_VERSION: &str = \""))
            .and_then(|rest| rest.strip_suffix("\";"))
            .expect("emulator/src/sdk.rs pins SDK_VERSION on one line");
        assert_eq!(
            SDK_VERSION, pinned,
            "update SDK_VERSION in xtask/src/kit.rs"
        );
        assert_eq!(SDK_TARBALL, format!("twilio-video-{pinned}.tgz"));
    }

    #[test]
    fn sha256sums_are_in_the_format_sha256sum_checks() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
