//! Finding a program on `PATH` as a shell would (issue 8): `npm` is `npm` on Linux and macOS
//! and `npm.cmd` on Windows, where Rust's `Command` does not search `PATHEXT` itself.
//!
//! The rule is a pure function of the `PATH` and `PATHEXT` values, whether the rules are
//! Windows', and a "this file is a program" check, so the Windows rules are tested on every
//! system with a fake file system, and the real lookup (`sdk::find_npm`) is the same function
//! given the process's values and [`is_program_file`].
//!
//! - `PATH` is split on `;` on Windows (where entries may be quoted, as installers write
//!   `"C:\Program Files\nodejs"`) and on `:` elsewhere; empty entries are skipped (a shell reads
//!   them as the working directory, which is how a downloaded `npm` beside the user's files
//!   would be run instead of the real one), and relative ones are taken from `cwd`.
//! - On Windows a name without an extension is tried with each extension of `PATHEXT` in order
//!   (`.COM;.EXE;.BAT;.CMD` when it is unset), never bare: Node.js ships a POSIX shell script
//!   named `npm` beside `npm.cmd`, and Windows cannot run it. A name that already ends with one
//!   of those extensions is tried as it is.
//! - Elsewhere the name is tried as it is; `is_program` decides (an executable file).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// What Windows uses when `PATHEXT` is unset.
const DEFAULT_PATHEXT: &str = ".COM;.EXE;.BAT;.CMD";

/// Where a shell would find `program` (see the module documentation); `None` when nowhere.
pub fn lookup(
    program: &str,
    path: &OsStr,
    pathext: Option<&OsStr>,
    windows: bool,
    cwd: &Path,
    is_program: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    let path = path.to_string_lossy();
    let separator = if windows { ';' } else { ':' };
    let names = candidate_names(program, pathext, windows);
    path.split(separator)
        .map(|dir| if windows { dir.trim_matches('"') } else { dir })
        .filter(|dir| !dir.is_empty())
        .map(|dir| {
            if absolute(dir, windows) {
                PathBuf::from(dir)
            } else {
                cwd.join(dir)
            }
        })
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| is_program(candidate))
}

/// Whether a `PATH` entry names a folder by itself, by the rules of the system the lookup is
/// for (not of the one it runs on): `C:\x`, `\\server\x` and `\x` on Windows, `/x` elsewhere.
fn absolute(dir: &str, windows: bool) -> bool {
    if !windows {
        return dir.starts_with('/');
    }
    let bytes = dir.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    drive || dir.starts_with('\\') || dir.starts_with('/')
}

/// The file names `program` may have: itself, or on Windows itself with each `PATHEXT`
/// extension.
fn candidate_names(program: &str, pathext: Option<&OsStr>, windows: bool) -> Vec<String> {
    if !windows {
        return vec![program.to_owned()];
    }
    let pathext = pathext
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_PATHEXT.to_owned());
    let extensions: Vec<&str> = pathext
        .split(';')
        .map(str::trim)
        .filter(|e| e.starts_with('.') && e.len() > 1)
        .collect();
    let lower = program.to_ascii_lowercase();
    if extensions
        .iter()
        .any(|e| lower.ends_with(&e.to_ascii_lowercase()))
    {
        return vec![program.to_owned()];
    }
    extensions.iter().map(|e| format!("{program}{e}")).collect()
}

/// A file, and on Unix an executable one.
pub fn is_program_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// A file system holding exactly `files`, compared without case as Windows' is.
    fn fake(files: &[&str]) -> impl Fn(&Path) -> bool {
        let files: HashSet<String> = files.iter().map(|f| f.to_ascii_lowercase()).collect();
        move |p: &Path| files.contains(&p.to_string_lossy().to_ascii_lowercase())
    }

    fn shown(found: Option<PathBuf>) -> Option<String> {
        found.map(|p| p.to_string_lossy().into_owned())
    }

    #[test]
    fn on_windows_npm_cmd_answers_for_npm_through_pathext_and_the_shell_script_is_passed_over() {
        let nodejs = r"C:\Program Files\nodejs";
        let script = format!("{nodejs}/npm");
        let cmd = format!("{nodejs}/npm.CMD");
        let path = OsStr::new(r#"C:\Windows\system32;;"C:\Program Files\nodejs";C:\Users\a\bin"#);
        let pathext = OsStr::new(".COM;.EXE;.BAT;.CMD;.VBS;.JS");
        let found = lookup(
            "npm",
            path,
            Some(pathext),
            true,
            Path::new(r"C:\work"),
            fake(&[&script, &cmd]),
        );
        assert_eq!(shown(found), Some(cmd.clone()));
        // PATHEXT unset: Windows' default list, which has .CMD.
        let found = lookup(
            "npm",
            path,
            None,
            true,
            Path::new(r"C:\work"),
            fake(&[&script, &cmd]),
        );
        assert_eq!(shown(found), Some(cmd.clone()));
        // Only the shell script: not a Windows program.
        let found = lookup(
            "npm",
            path,
            Some(pathext),
            true,
            Path::new(r"C:\work"),
            fake(&[&script]),
        );
        assert_eq!(found, None);
        // A name with its extension is looked up as it is.
        let found = lookup(
            "npm.cmd",
            path,
            Some(pathext),
            true,
            Path::new(r"C:\work"),
            fake(&[&format!("{nodejs}/npm.cmd")]),
        );
        assert_eq!(shown(found), Some(format!("{nodejs}/npm.cmd")));
    }

    #[test]
    fn pathext_order_decides_and_earlier_folders_win() {
        let path = OsStr::new(r"C:\a;C:\b");
        let both = fake(&[r"C:\a/npm.BAT", r"C:\a/npm.CMD", r"C:\b/npm.EXE"]);
        let found = lookup(
            "npm",
            path,
            Some(OsStr::new(".CMD;.BAT")),
            true,
            Path::new("C:\\"),
            &both,
        );
        assert_eq!(shown(found), Some(r"C:\a/npm.CMD".to_owned()));
        let found = lookup(
            "npm",
            path,
            Some(OsStr::new(".EXE")),
            true,
            Path::new("C:\\"),
            &both,
        );
        assert_eq!(shown(found), Some(r"C:\b/npm.EXE".to_owned()));
    }

    #[test]
    fn elsewhere_the_name_is_taken_as_it_is_on_a_colon_separated_path() {
        let path = OsStr::new("/usr/local/bin::/usr/bin:tools");
        let files = fake(&["/usr/bin/npm", "/usr/bin/npm.cmd", "/home/a/tools/npm"]);
        let found = lookup(
            "npm",
            path,
            Some(OsStr::new(".CMD")),
            false,
            Path::new("/home/a"),
            &files,
        );
        assert_eq!(shown(found), Some("/usr/bin/npm".to_owned()));
        // A relative entry is taken from the working directory; an empty one is never it.
        let files = fake(&["/home/a/tools/npm", "/home/a/npm"]);
        let found = lookup("npm", path, None, false, Path::new("/home/a"), &files);
        assert_eq!(shown(found), Some("/home/a/tools/npm".to_owned()));
        let found = lookup(
            "npm",
            OsStr::new("::"),
            None,
            false,
            Path::new("/home/a"),
            &files,
        );
        assert_eq!(found, None);
    }
}
