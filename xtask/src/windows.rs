//! The `windows-check` step of `cargo xtask test`: many workshop attendees use Windows, and CI
//! cannot run it here, so the server and the emulator are at least type-checked for
//! `x86_64-pc-windows-gnu` when that target is installed (`rustup target add
//! x86_64-pc-windows-gnu`); otherwise the step is skipped with that command.

use std::process::Command;

use anyhow::{Context, Result};

use crate::{cargo, run_status, Outcome};

pub const TARGET: &str = "x86_64-pc-windows-gnu";

pub fn windows_check() -> Result<Outcome> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = match installed {
        Ok(output) if output.status.success() => {
            String::from_utf8(output.stdout).context("rustup's list of targets is not UTF-8")?
        }
        _ => {
            return Ok(skip(
                "rustup is not available to say which targets are installed",
            ))
        }
    };
    if !installed.lines().any(|line| line.trim() == TARGET) {
        return Ok(skip(&format!(
            "the {TARGET} target is not installed (add it with: rustup target add {TARGET})"
        )));
    }
    // ring (under rustls) compiles C for the target even for `cargo check`.
    if crate::find_on_path("x86_64-w64-mingw32-gcc").is_none() {
        return Ok(skip(
            "the MinGW C compiler that ring's build needs is missing (Debian: apt-get install gcc-mingw-w64-x86-64)",
        ));
    }
    run_status(cargo().args([
        "check",
        "--target",
        TARGET,
        "-p",
        "videoroom-server",
        "-p",
        "videoroom-emulator",
    ]))
}

fn skip(why: &str) -> Outcome {
    println!("skipped: {why}");
    Outcome::Skipped(why.to_owned())
}
