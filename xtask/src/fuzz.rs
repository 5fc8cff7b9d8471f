//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` (issue 13) on nightly, each for a
//! given time, starting from seeds taken from the test tables (`fuzz/seeds/<target>.txt`).
//! Not part of `cargo xtask test` nor of CI: a fuzzing run is open-ended, and its findings are
//! turned into test-table rows once understood. cargo-fuzz is installed with `cargo install` on
//! first use; the nightly toolchain must exist (`rustup toolchain install nightly`).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::project_root;

/// The targets, in the order they run when none is named.
pub const TARGETS: &[&str] = &[
    "token_verify",
    "video_token_body",
    "emulator_form",
    "signaling_frame",
];

const USAGE: &str = "usage: cargo xtask fuzz [--minutes N] [TARGET...]   (targets: token_verify, video_token_body, emulator_form, signaling_frame; default: all, 1 minute each)";

pub fn run(args: &[String]) -> Result<bool> {
    let mut minutes: u64 = 1;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--minutes" => {
                let value = args.next().context(USAGE)?;
                minutes = value.parse().ok().filter(|m| *m > 0).with_context(|| {
                    format!("--minutes takes a whole number above 0 (got '{value}')")
                })?;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(true);
            }
            name if TARGETS.contains(&name) => targets.push(name),
            other => bail!("unknown fuzz target or option '{other}'\n{USAGE}"),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    ensure_tools()?;
    let fuzz_dir = project_root().join("fuzz");
    let mut ok = true;
    for target in targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        let seeds = seed(
            &fuzz_dir.join("seeds").join(format!("{target}.txt")),
            &corpus,
        )?;
        println!("xtask: fuzzing {target} for {minutes} min from {seeds} seeds");
        let status = Command::new("cargo")
            .current_dir(project_root())
            .args(["+nightly", "fuzz", "run", target])
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={}", minutes * 60))
            .status()
            .with_context(|| format!("cannot run cargo fuzz for {target}"))?;
        if !status.success() {
            eprintln!(
                "xtask: {target} found a failure; the input is under fuzz/artifacts/{target}/"
            );
            ok = false;
        }
    }
    Ok(ok)
}

/// Nightly must be there (it is not installed from here: toolchains come from rustup);
/// cargo-fuzz is installed on first use.
fn ensure_tools() -> Result<()> {
    let nightly = Command::new("cargo")
        .args(["+nightly", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !nightly {
        bail!("cargo fuzz needs the nightly toolchain: rustup toolchain install nightly");
    }
    let installed = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !installed {
        println!("xtask: installing cargo-fuzz (first use): cargo install cargo-fuzz --locked");
        let status = Command::new("cargo")
            .args(["install", "cargo-fuzz", "--locked"])
            .status()
            .context("cannot run cargo install")?;
        if !status.success() {
            bail!("cargo install cargo-fuzz failed; run it by hand to see why");
        }
    }
    Ok(())
}

/// Writes each seed of `file` into `corpus` as its own input; returns how many.
fn seed(file: &Path, corpus: &Path) -> Result<usize> {
    let text =
        fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    fs::create_dir_all(corpus).with_context(|| format!("cannot create {}", corpus.display()))?;
    let seeds = parse_seeds(&text);
    for (i, bytes) in seeds.iter().enumerate() {
        fs::write(corpus.join(format!("seed-{i:03}")), bytes)?;
    }
    Ok(seeds.len())
}

/// The seeds of a seed file: one a line, `#` lines are comments, and `\n`, `\r`, `\t`, `\\`
/// and `\xNN` are escapes (so a seed can hold any byte).
pub fn parse_seeds(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(unescape)
        .collect()
}

fn unescape(line: &str) -> Vec<u8> {
    let bytes = line.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            let escaped = match bytes[i + 1] {
                b'n' => Some((b'\n', 2)),
                b'r' => Some((b'\r', 2)),
                b't' => Some((b'\t', 2)),
                b'\\' => Some((b'\\', 2)),
                b'x' => line
                    .get(i + 2..i + 4)
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .map(|b| (b, 4)),
                _ => None,
            };
            if let Some((byte, width)) = escaped {
                out.push(byte);
                i += width;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_skip_comments_and_decode_escapes() {
        let seeds = parse_seeds("# a comment\nA{\"x\":1}\n\n\\xef\\xbb\\xbfB\\n\\q\n");
        assert_eq!(
            seeds,
            vec![b"A{\"x\":1}".to_vec(), b"\xef\xbb\xbfB\n\\q".to_vec()]
        );
    }

    #[test]
    fn every_target_has_a_seed_file_with_seeds() {
        for target in TARGETS {
            let file = project_root()
                .join("fuzz/seeds")
                .join(format!("{target}.txt"));
            let text = fs::read_to_string(&file).expect("the seed file exists");
            assert!(!parse_seeds(&text).is_empty(), "{target} has no seeds");
            let manifest = fs::read_to_string(project_root().join("fuzz/Cargo.toml")).unwrap();
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target}"
            );
        }
    }
}
