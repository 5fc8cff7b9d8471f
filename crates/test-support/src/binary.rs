//! A project binary (`videoroom`, `videoroom-emulator`) started as a user runs it, on port 0,
//! and read up to the `listening on` line it prints once it accepts connections.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use videoroom_core::credentials::ENV_ALL;

/// A command for the binary at `path` (`env!("CARGO_BIN_EXE_<name>")`) with none of the
/// credential variables of the shell that runs the tests: a developer's real credentials must
/// never reach a test's child, and the seeded ones apply unless the test sets others.
pub fn command(path: &str) -> Command {
    let mut command = Command::new(path);
    command.stdin(Stdio::null());
    for name in ENV_ALL {
        command.env_remove(name);
    }
    command
}

/// The lines a starting binary printed, read until the caller's last line of interest.
#[derive(Debug, Default)]
pub struct Banner {
    pub lines: Vec<String>,
    /// The base URL of the `listening on <base>` line, once seen.
    pub base: Option<String>,
}

impl Banner {
    /// Records `line`; returns true once the listening line is seen and `last(line)` holds.
    pub fn push(&mut self, line: String, last: impl Fn(&str) -> bool) -> bool {
        if let Some(base) = line.strip_prefix("listening on ") {
            self.base = Some(base.trim().to_owned());
        }
        let done = last(&line);
        self.lines.push(line);
        done && self.base.is_some()
    }

    /// The port of the listening line.
    pub fn port(&self) -> Option<u16> {
        self.base
            .as_deref()
            .and_then(|base| base.rsplit_once(':'))
            .and_then(|(_, port)| port.parse().ok())
    }
}

/// A running binary, killed (and waited for) when dropped so a failed test leaves nothing
/// behind.
pub struct Running {
    pub child: Child,
    /// The lines read, each ended by a newline.
    pub banner: String,
    /// `http://127.0.0.1:<port>`, from the listening line.
    pub base: String,
    pub port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Starts `command` with its standard output piped and reads that output up to the
    /// listening line. The rest of the output is drained on a thread, so the child never
    /// blocks on a full pipe.
    pub fn start(command: Command) -> Result<Self, String> {
        Self::start_until(command, |line| line.starts_with("listening on "))
    }

    /// Like [`Running::start`], reading on past the listening line up to the line for which
    /// `last` holds (the end of a banner printed after it).
    pub fn start_until(mut command: Command, last: impl Fn(&str) -> bool) -> Result<Self, String> {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(format!("no standard output from {program}"));
        };
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = Banner::default();
        loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if banner.push(line, &last) {
                        break;
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{program} exited before listening; it printed:\n{}",
                        banner.lines.join("\n")
                    ));
                }
            }
        }
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let (Some(base), Some(port)) = (banner.base.clone(), banner.port()) else {
            return Err(format!("{program} printed no listening line with a port"));
        };
        let banner = banner
            .lines
            .iter()
            .map(|line| format!("{line}\n"))
            .collect();
        Ok(Self {
            child,
            banner,
            base,
            port,
        })
    }
}
