//! `docs/emulator.md` is checked against the code it describes, so a route or a parameter added
//! in code without its line in the docs fails `cargo test` (issue 12: the page had lost the
//! simulated-track routes and the callback filters, and used `$E`/`$A` before saying what they
//! are).

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `/rooms/{room}/participants/{participant}` → `/rooms/{}/participants/{}`: the code names path
/// parameters in lower case, the docs in Twilio's capitalised style.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// The strings inside `resource("…")` calls of the control routes' source.
fn control_routes(source: &str) -> Vec<String> {
    source
        .split("resource(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(path, _)| path.to_owned()))
        .filter(|path| !path.is_empty())
        .collect()
}

#[test]
fn every_control_route_is_documented_in_the_control_routes_table() {
    let docs = read("../docs/emulator.md");
    let documented: Vec<String> = docs
        .lines()
        .filter(|line| line.starts_with('|'))
        .flat_map(|line| line.split('`').skip(1).step_by(2).map(shape))
        .collect();
    let routes = control_routes(&read("src/control.rs"));
    assert!(
        routes.len() >= 8,
        "the route scan found too few routes: {routes:?}"
    );
    let missing: Vec<String> = routes
        .iter()
        .map(|route| format!("/emulator{}", shape(route)))
        .filter(|route| !documented.contains(route))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/emulator.md §6 does not list {missing:?}"
    );
}

#[test]
fn every_callback_list_filter_is_documented() {
    let source = read("src/control.rs");
    let docs = read("../docs/emulator.md");
    let row = docs
        .lines()
        .find(|line| line.starts_with("| GET | `/emulator/callbacks`"))
        .expect("docs/emulator.md has a row for GET /emulator/callbacks");
    let body = source
        .split("async fn callbacks(")
        .nth(1)
        .expect("control.rs has the callbacks handler");
    let filters: Vec<&str> = body
        .split("query.get(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name))
        .collect();
    assert!(!filters.is_empty(), "the callbacks handler reads no filter");
    for filter in filters {
        assert!(
            row.contains(&format!("`{filter}`")),
            "the /emulator/callbacks row does not name the {filter} filter"
        );
    }
}

#[test]
fn the_shell_variables_of_the_examples_are_defined_before_their_first_use() {
    let docs = read("../docs/emulator.md");
    for (variable, definition) in [("$E", "\nE=http"), ("$A", "\nA=AC")] {
        let used = docs
            .find(variable)
            .unwrap_or_else(|| panic!("docs/emulator.md never uses {variable}"));
        let defined = docs
            .find(definition)
            .unwrap_or_else(|| panic!("docs/emulator.md never defines {variable}"));
        assert!(
            defined < used,
            "{variable} is used (byte {used}) before it is defined (byte {defined})"
        );
    }
    let jq = docs.find("| jq").expect("the examples use jq");
    let explained = docs.find("`jq`").expect("docs/emulator.md says what jq is");
    assert!(explained < jq, "jq is used before it is introduced");
}
