//! The token snapshot: a token's decoded header and claims, with the claims that depend on
//! when the test runs redacted.

use serde_json::{json, Value};
use videoroom_core::token::decode_unverified;

/// The header and claims of `token` as one JSON value, the shape the snapshots hold.
pub fn parts(token: &str) -> Value {
    let decoded = decode_unverified(token).expect("a minted or served token decodes");
    json!({"header": decoded.header, "claims": decoded.claims})
}

/// Insta settings that redact `iat`, `exp` and the issue time inside `jti`, so a snapshot holds
/// exactly what does not depend on when the test runs.
pub fn redactions() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_redaction(".claims.iat", "[iat]");
    settings.add_redaction(".claims.exp", "[exp]");
    settings.add_dynamic_redaction(".claims.jti", |value, _| {
        // Keep the API key part of `jti` (`<key SID>-<iat>`), which must not change.
        let jti = value.as_str().unwrap_or_default();
        let key = jti.rsplit_once('-').map(|(key, _)| key).unwrap_or(jti);
        format!("{key}-[iat]")
    });
    settings
}

/// Snapshots a token's decoded header and claims (see [`parts`]) under `name`, with the
/// time-dependent claims redacted (see [`redactions`]).
///
/// A macro rather than a function so that insta names and places the snapshot after the
/// calling test's module and file, next to that test.
#[macro_export]
macro_rules! assert_token_snapshot {
    ($name:expr, $token:expr $(,)?) => {{
        let parts = $crate::token::parts($token);
        $crate::token::redactions().bind(|| {
            $crate::insta::assert_json_snapshot!($name, parts);
        });
    }};
}
