//! Bar charts as SVG for the benchmarks' printed runs (docs/benchmarks.md shows them): written
//! by hand rather than with a plotting crate, because a plotting library needs a font back-end
//! (system fonts or a bundled TTF) to measure its labels, and these charts need a dozen
//! rectangles and their text, which any browser lays out itself.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One bar: its label, its value and how the value is printed beside it.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub shown: String,
}

const WIDTH: f64 = 720.0;
const LABEL_WIDTH: f64 = 220.0;
const BAR_HEIGHT: f64 = 28.0;
const GAP: f64 = 12.0;
const TOP: f64 = 48.0;

/// Escapes text for an SVG text node.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A horizontal bar chart titled `title`, the bars scaled to the largest value.
pub fn bars_svg(title: &str, bars: &[Bar]) -> String {
    let height = TOP + bars.len() as f64 * (BAR_HEIGHT + GAP) + GAP;
    let largest = bars
        .iter()
        .map(|bar| bar.value)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let span = WIDTH - LABEL_WIDTH - 140.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="14">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="12" y="28" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = TOP + i as f64 * (BAR_HEIGHT + GAP);
        let length = (bar.value.max(0.0) / largest * span).max(1.0);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8.0,
            y + BAR_HEIGHT * 0.68,
            escape(&bar.label)
        );
        let _ = writeln!(
            svg,
            r##"<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1}" height="{BAR_HEIGHT}" fill="#3b6ea5"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}">{}</text>"#,
            LABEL_WIDTH + length + 8.0,
            y + BAR_HEIGHT * 0.68,
            escape(&bar.shown)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Writes `svg` as `target/bench/<name>.svg` of the workspace and returns the path.
pub fn write(name: &str, svg: &str) -> std::io::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.svg"));
    std::fs::write(&path, svg)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_largest_and_text_is_escaped() {
        let svg = bars_svg(
            "a <b> & c",
            &[
                Bar {
                    label: "full".into(),
                    value: 10.0,
                    shown: "10/s".into(),
                },
                Bar {
                    label: "half".into(),
                    value: 5.0,
                    shown: "5/s".into(),
                },
            ],
        );
        assert!(svg.contains("a &lt;b&gt; &amp; c"), "{svg}");
        let span = WIDTH - LABEL_WIDTH - 140.0;
        assert!(svg.contains(&format!(r#"width="{span:.1}""#)), "{svg}");
        assert!(
            svg.contains(&format!(r#"width="{:.1}""#, span / 2.0)),
            "{svg}"
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }
}
