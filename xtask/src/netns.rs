//! A network namespace with only the loopback interface, for the tiers that carry media.
//!
//! WebRTC gathers candidates on every interface it finds, so a browser test that "stays on
//! localhost" by convention may still send STUN and media to this machine's LAN address. Inside
//! a fresh namespace (`unshare -n`) the only interface is `lo`, brought up here, so whatever the
//! tier starts (our servers, Chromium) can reach nothing but loopback: the guarantee is made by
//! the kernel, not by the tests' good behaviour. Chromium then needs
//! `--allow-loopback-in-peer-connection` to gather loopback candidates at all (see
//! tests/node/browser/browser.mjs).
//!
//! Everything the tier needs from the network (npm modules, the SDK) is installed before it
//! enters the namespace, which has no route to any registry.

use std::process::{Command, Stdio};

/// The shell line run inside the new namespace before the tier's own program replaces it.
const LOOPBACK_UP: &str = "ip link set lo up && exec \"$@\"";

/// Whether this machine lets us make a loopback-only namespace (it needs root or user
/// namespaces, `unshare` from util-linux and `ip` from iproute2). The error names the fix.
pub fn probe() -> Result<(), String> {
    let status = Command::new("unshare")
        .args(["-n", "--", "sh", "-c", LOOPBACK_UP, "sh", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!(
            "`unshare -n` then `ip link set lo up` failed ({status}); run as root or enable \
             unprivileged user namespaces, with util-linux and iproute2 installed"
        )),
        Err(error) => Err(format!(
            "`unshare` could not start ({error}); install util-linux and iproute2"
        )),
    }
}

/// The same command, run inside a new network namespace whose only interface is loopback.
/// Working directory and environment (including removed variables) carry over.
pub fn isolated(command: &Command) -> Command {
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["-n", "--", "sh", "-c", LOOPBACK_UP, "sh"])
        .arg(command.get_program())
        .args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn is_isolated(command: &Command) -> bool {
        command.get_program() == OsStr::new("unshare")
            && command.get_args().next() == Some(OsStr::new("-n"))
    }

    #[test]
    fn the_wrapped_command_keeps_program_arguments_directory_and_environment() {
        let mut command = Command::new("node");
        command
            .args(["--test", "a b.test.mjs"])
            .current_dir("/tmp")
            .env("VIDEOROOM_BIN", "/x/videoroom")
            .env_remove("HTTP_PROXY");
        let wrapped = isolated(&command);
        assert!(is_isolated(&wrapped));
        let args: Vec<&OsStr> = wrapped.get_args().collect();
        let tail: Vec<&OsStr> = args[args.len() - 3..].to_vec();
        assert_eq!(tail, ["node", "--test", "a b.test.mjs"].map(OsStr::new));
        assert_eq!(
            wrapped.get_current_dir(),
            Some(std::path::Path::new("/tmp"))
        );
        let envs: Vec<_> = wrapped.get_envs().collect();
        assert!(envs.contains(&(
            OsStr::new("VIDEOROOM_BIN"),
            Some(OsStr::new("/x/videoroom"))
        )));
        assert!(envs.contains(&(OsStr::new("HTTP_PROXY"), None)));
    }
}
