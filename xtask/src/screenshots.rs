//! `cargo xtask screenshots`: regenerates the pictures of the docs in `docs/images/` (the page
//! before joining, two participants, an error, the inspector, and `videoroom decode` as text)
//! with the browser tier's tools (tests/node/browser/screenshots.mjs: Debian's Chromium, the
//! real SDK, a `videoroom` in emulator mode). The PNGs are our own output and are committed, so
//! the docs show them on GitHub; a test below fails when a doc refers to a missing image.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use crate::{
    binaries, find_on_path, node_dir, prepare_node, project_root, run_with_deadline, Outcome, Run,
    CHROMIUM, TIER_TIMEOUT,
};

/// Where the docs' images live.
pub fn images_dir() -> PathBuf {
    project_root().join("docs").join("images")
}

pub fn screenshots() -> Result<bool> {
    if find_on_path("node").is_none() || find_on_path("npm").is_none() {
        bail!("screenshots need Node.js 20+ and npm (apt-get install -y nodejs npm)");
    }
    if !Path::new(CHROMIUM).is_file() {
        bail!("screenshots need Chromium at {CHROMIUM} (apt-get install -y chromium), and Japanese fonts (apt-get install -y fonts-noto-cjk)");
    }
    let mut context = Run::default();
    let binaries = match binaries(&mut context)? {
        Ok(binaries) => binaries,
        Err(outcome) => bail!("{outcome}"),
    };
    if let Err(error) = prepare_node(&mut context) {
        bail!("npm install failed: {error}");
    }
    let mut command = Command::new("node");
    command
        .current_dir(node_dir())
        .arg(Path::new("browser").join("screenshots.mjs"))
        .arg(images_dir())
        .env("VIDEOROOM_BIN", &binaries.videoroom)
        .env("VIDEOROOM_EMULATOR_BIN", &binaries.emulator)
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy");
    Ok(matches!(
        run_with_deadline(&mut command, Some(TIER_TIMEOUT))?,
        Outcome::Passed
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walk;

    /// The images (`![...](path)` with a `.png`, `.jpg` or `.svg` path) that a Markdown `text` in
    /// `dir` refers to, resolved against `dir`. Web addresses are not ours to check.
    fn referenced_images(text: &str, dir: &Path) -> Vec<PathBuf> {
        text.split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
            .map(|target| target.split(['#', ' ']).next().unwrap_or(target))
            .filter(|target| !target.contains("://"))
            .filter(|target| {
                [".png", ".jpg", ".svg", ".txt"]
                    .iter()
                    .any(|ext| target.ends_with(ext))
                    && target.contains("images/")
            })
            .map(|target| dir.join(target))
            .collect()
    }

    #[test]
    fn every_image_a_doc_refers_to_exists() {
        let root = project_root();
        let mut docs = vec![root.join("README.md")];
        walk(&root.join("docs"), &mut |path| {
            if path.extension().is_some_and(|ext| ext == "md") {
                docs.push(path.to_path_buf());
            }
        })
        .expect("docs/ can be walked");
        let mut referenced = 0;
        let mut missing = Vec::new();
        for doc in &docs {
            let text = std::fs::read_to_string(doc).expect("a doc is readable");
            let dir = doc.parent().expect("a doc is in a folder");
            for image in referenced_images(&text, dir) {
                referenced += 1;
                if !image.is_file() {
                    missing.push(format!("{} -> {}", doc.display(), image.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "docs refer to images that do not exist (regenerate with `cargo xtask screenshots`):\n{}",
            missing.join("\n")
        );
        assert!(
            referenced >= 5,
            "the docs show the screenshots ({referenced} found)"
        );
    }

    #[test]
    fn image_references_are_found_and_web_addresses_left_alone() {
        let text = "![page](../images/a.png) [link](other.md) ![x](https://e.com/images/b.png) [decode](../images/decode.txt)";
        let found = referenced_images(text, Path::new("/d"));
        assert_eq!(
            found,
            vec![
                PathBuf::from("/d/../images/a.png"),
                PathBuf::from("/d/../images/decode.txt")
            ]
        );
    }
}
