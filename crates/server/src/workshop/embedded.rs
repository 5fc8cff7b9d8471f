//! The workshop page built into the binary, so that a `videoroom` copied or installed anywhere
//! (`cargo install`, the workshop kit) still serves it. A folder on disk wins when there is one
//! (see [`crate::settings::Settings::workshop_page`]), so editing the page and reloading keeps
//! working; `videoroom workshop init DIR` writes an editable copy of these files.
//!
//! The page is three files, so they are listed here with `include_bytes!` rather than through
//! a directory-embedding crate: Cargo then rebuilds when one of them changes, and a test fails
//! when a file is added to `workshop/` without being listed.

use std::io;
use std::path::{Path, PathBuf};

/// One file of the built-in page.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedFile {
    pub name: &'static str,
    pub contents: &'static [u8],
}

/// The files of `workshop/` at build time.
pub const FILES: &[EmbeddedFile] = &[
    EmbeddedFile {
        name: "index.html",
        contents: include_bytes!("../../../../workshop/index.html"),
    },
    EmbeddedFile {
        name: "style.css",
        contents: include_bytes!("../../../../workshop/style.css"),
    },
    EmbeddedFile {
        name: "video.js",
        contents: include_bytes!("../../../../workshop/video.js"),
    },
];

/// The built-in file called `name`, if there is one.
pub fn file(name: &str) -> Option<&'static EmbeddedFile> {
    FILES.iter().find(|file| file.name == name)
}

/// The content type of a page file, by its extension (the built-in page has no other kinds).
pub fn content_type(name: &str) -> &'static str {
    match Path::new(name).extension().and_then(|ext| ext.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Why `videoroom workshop init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} already exists; nothing was written (an attendee's edits are never overwritten). Choose another folder, or delete or rename that file first", .0.display())]
    Exists(PathBuf),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// Writes an editable copy of the built-in page into `dir` (created if missing) and returns
/// the paths written. Nothing is written when any of the files already exists there.
pub fn write_copy(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    let targets: Vec<(PathBuf, &EmbeddedFile)> = FILES
        .iter()
        .map(|file| (dir.join(file.name), file))
        .collect();
    if let Some((existing, _)) = targets.iter().find(|(path, _)| path.exists()) {
        return Err(InitError::Exists(existing.clone()));
    }
    std::fs::create_dir_all(dir).map_err(|source| InitError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for (path, file) in &targets {
        std::fs::write(path, file.contents).map_err(|source| InitError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(targets.into_iter().map(|(path, _)| path).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_folder() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workshop")
    }

    #[test]
    fn every_file_of_the_workshop_folder_is_built_in_with_the_same_bytes() {
        let mut on_disk: Vec<String> = std::fs::read_dir(source_folder())
            .expect("the project's workshop folder")
            .map(|entry| entry.expect("a folder entry").file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect();
        on_disk.sort();
        let mut built_in: Vec<String> = FILES.iter().map(|f| f.name.to_owned()).collect();
        built_in.sort();
        assert_eq!(
            on_disk, built_in,
            "list every file of workshop/ in FILES (embedded.rs)"
        );
        for file in FILES {
            let disk = std::fs::read(source_folder().join(file.name)).expect("read a page file");
            assert_eq!(disk, file.contents, "{} differs from workshop/", file.name);
        }
    }

    #[test]
    fn init_writes_an_editable_copy_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let target = dir.path().join("my-page");
        let written = write_copy(&target).expect("write into a new folder");
        assert_eq!(written.len(), FILES.len());
        let index = std::fs::read(target.join("index.html")).expect("index.html written");
        assert_eq!(index, file("index.html").expect("built in").contents);

        std::fs::write(target.join("video.js"), "// my edits").expect("edit a file");
        match write_copy(&target) {
            Err(InitError::Exists(path)) => assert!(path.starts_with(&target), "{path:?}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(target.join("video.js")).expect("read the edit"),
            "// my edits"
        );
    }
}
