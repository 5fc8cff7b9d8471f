//! Twilio access tokens: minting (as twilio-node's `AccessToken` does) and verification (as
//! Twilio's signaling edge does, with its error codes).
//!
//! A token is an HS256 JWT signed with an API key secret. Its header is
//! `{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}` (plus `"twr"` when a region is set),
//! its claims `{jti, grants: {identity, video: {room}}, [nbf], iat, exp, iss, sub}` where `iss`
//! is the API key SID and `sub` the account SID, in that order, as twilio-node writes them.
//!
//! Time is always an argument (`now`, in Unix seconds): this module reads no clock.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::identity::Identity;
use crate::sid::{AccountSid, ApiKeySid};
use crate::twilio_codes;

/// twilio-node's default lifetime of a token, in seconds.
pub const DEFAULT_TTL_SECS: u64 = 3600;
/// The longest lifetime Twilio accepts (24 hours); longer tokens are refused with 20104.
pub const MAX_TTL_SECS: u64 = 86_400;
/// The content type that marks a Twilio "first-party auth" token.
pub const TWILIO_CTY: &str = "twilio-fpa;v=1";

/// An API key: its SID, its secret, and the account it belongs to. Its `Debug` output shows
/// the SIDs and `[REDACTED]` in place of the secret (`SecretString` redacts itself).
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub account_sid: AccountSid,
    pub sid: ApiKeySid,
    pub secret: SecretString,
}

/// A token setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenConfigError {
    #[error("token TTL must be between 1 and {MAX_TTL_SECS} seconds (got {0}); Twilio refuses longer tokens")]
    TtlOutOfRange(u64),
    #[error("the API key secret must not be empty")]
    EmptySecret,
}

/// Mints access tokens for one API key.
///
/// Everything a token shares with every other token of this signer is prepared once, in
/// [`TokenSigner::new`]: the header, already base64url-encoded, with the start of the claims
/// (`{"jti":"SK...-`, the same in every token) encoded after it as far as whole base64 groups
/// go; the claims' constant end (`iss` and `sub`); and the HMAC-SHA256 state keyed with the
/// secret (the hashed inner and outer pads) that has already absorbed that constant start,
/// which each token clones instead of hashing the key and the start again. A token then costs
/// one JSON text of its own claims, written in twilio-node's key order, one base64url pass and
/// the HMAC of the rest of the message: no serializer, and one allocation for the token. The
/// bytes are exactly those [`sign_parts`] writes for the same header and claims (a test
/// compares them).
#[derive(Clone, Debug)]
pub struct TokenSigner {
    key: ApiKey,
    ttl_secs: u64,
    region: Option<String>,
    template: Template,
}

/// The parts of every token of one signer, prepared once (see [`TokenSigner`]).
#[derive(Clone)]
struct Template {
    /// The start of every token: the header's JSON base64url-encoded, the `.` that ends it,
    /// and the claims' constant start (`{"jti":"SK...-`) encoded up to its last whole group of
    /// three bytes.
    prefix: String,
    /// The rest of the claims' constant start, not yet encoded: the bytes every token's claims
    /// begin with after those in `prefix`.
    claims_start: Vec<u8>,
    /// `,"iss":"SK...","sub":"AC..."}`: the claims after `exp`.
    tail: Vec<u8>,
    /// HMAC-SHA256 keyed with the API key secret, having absorbed `prefix`.
    mac: HmacSha256,
}

/// The keyed state is as good as the secret for signing, so it is never shown.
impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Template([REDACTED])")
    }
}

/// The JSON token header, as twilio-node writes it.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    cty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    twr: Option<&'a str>,
}

/// Appends `value` to `out` as a JSON string (quoted and escaped as `serde_json` writes it, so
/// the bytes are those a serializer would produce).
fn push_json_str(out: &mut Vec<u8>, value: &str) {
    serde_json::to_writer(out, value).expect("writing a string into a Vec cannot fail");
}

/// Appends `value` to `out` as JSON writes an integer (which is also its decimal text).
fn push_json_int(out: &mut Vec<u8>, value: i64) {
    serde_json::to_writer(out, &value).expect("writing an integer into a Vec cannot fail");
}

impl Template {
    fn new(key: &ApiKey, region: Option<&str>) -> Self {
        let header = Header {
            alg: "HS256",
            typ: "JWT",
            cty: TWILIO_CTY,
            twr: region,
        };
        let header_json = serde_json::to_vec(&header)
            .expect("a token header is a JSON object with string keys, so it serializes");
        let mut jti_prefix = b"{\"jti\":".to_vec();
        // The SID's own JSON string, without its closing quote: the `-` and the issue time
        // follow inside the same string.
        push_json_str(&mut jti_prefix, key.sid.as_str());
        jti_prefix.pop();
        jti_prefix.push(b'-');
        let mut tail = b",\"iss\":".to_vec();
        push_json_str(&mut tail, key.sid.as_str());
        tail.extend_from_slice(b",\"sub\":");
        push_json_str(&mut tail, key.account_sid.as_str());
        tail.push(b'}');
        // Three bytes are four base64 characters whatever follows them, so whole groups of the
        // constant start encode the same in every token.
        let whole_groups = jti_prefix.len() / 3 * 3;
        let mut prefix = URL_SAFE_NO_PAD.encode(header_json);
        prefix.push('.');
        URL_SAFE_NO_PAD.encode_string(&jti_prefix[..whole_groups], &mut prefix);
        let mut mac = hs256(key.secret.expose_secret());
        mac.update(prefix.as_bytes());
        Self {
            prefix,
            claims_start: jti_prefix[whole_groups..].to_vec(),
            tail,
            mac,
        }
    }

    /// The claims' JSON text after the part encoded in `prefix`: `{jti, grants: {identity,
    /// video: {room}}, [nbf], iat, exp, iss, sub}`, in that order, as twilio-node writes them.
    fn claims(
        &self,
        identity: &str,
        room: Option<&str>,
        now: i64,
        nbf: Option<i64>,
        exp: i64,
    ) -> Vec<u8> {
        let mut claims = Vec::with_capacity(
            self.claims_start.len()
                + self.tail.len()
                + identity.len()
                + room.map_or(0, str::len)
                + 128,
        );
        claims.extend_from_slice(&self.claims_start);
        push_json_int(&mut claims, now);
        claims.extend_from_slice(b"\",\"grants\":{\"identity\":");
        push_json_str(&mut claims, identity);
        claims.extend_from_slice(b",\"video\":{");
        if let Some(room) = room {
            claims.extend_from_slice(b"\"room\":");
            push_json_str(&mut claims, room);
        }
        claims.extend_from_slice(b"}}");
        if let Some(nbf) = nbf {
            claims.extend_from_slice(b",\"nbf\":");
            push_json_int(&mut claims, nbf);
        }
        claims.extend_from_slice(b",\"iat\":");
        push_json_int(&mut claims, now);
        claims.extend_from_slice(b",\"exp\":");
        push_json_int(&mut claims, exp);
        claims.extend_from_slice(&self.tail);
        claims
    }

    /// `header.claims.signature`, each part base64url without padding, from the rest of the
    /// claims after `prefix`.
    fn sign(&self, claims: &[u8]) -> String {
        // 43 characters for the 32-byte signature, and the dot before it.
        let mut token = String::with_capacity(
            self.prefix.len() + base64::encoded_len(claims.len(), false).unwrap_or(0) + 44,
        );
        token.push_str(&self.prefix);
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let mut mac = self.mac.clone();
        mac.update(&token.as_bytes()[self.prefix.len()..]);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
        token
    }
}

impl TokenSigner {
    /// A signer for `key` whose tokens live `ttl_secs` (1 to 86400) and carry `region` as `twr`.
    pub fn new(
        key: ApiKey,
        ttl_secs: u64,
        region: Option<String>,
    ) -> Result<Self, TokenConfigError> {
        if ttl_secs == 0 || ttl_secs > MAX_TTL_SECS {
            return Err(TokenConfigError::TtlOutOfRange(ttl_secs));
        }
        if key.secret.expose_secret().is_empty() {
            return Err(TokenConfigError::EmptySecret);
        }
        let template = Template::new(&key, region.as_deref());
        Ok(Self {
            key,
            ttl_secs,
            region,
            template,
        })
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn api_key(&self) -> &ApiKey {
        &self.key
    }

    /// The `twr` region tokens carry, if any.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Mints a token for `identity`, granting `room` (any room when `None`), issued at `now`.
    ///
    /// The token is ASCII: base64url characters and the two dots between its parts, none of
    /// which JSON, a URL or an HTTP header needs to escape.
    pub fn mint(&self, identity: &Identity, room: Option<&str>, now: i64) -> String {
        self.mint_with(identity, room, now, None)
    }

    /// Like [`mint`](Self::mint), with an explicit not-before time.
    pub fn mint_with(
        &self,
        identity: &Identity,
        room: Option<&str>,
        now: i64,
        nbf: Option<i64>,
    ) -> String {
        let exp = now.saturating_add(self.ttl_secs as i64);
        let claims = self.template.claims(identity.as_str(), room, now, nbf, exp);
        self.template.sign(&claims)
    }
}

/// HS256 is HMAC with SHA-256, keyed with the API key secret's bytes.
type HmacSha256 = Hmac<Sha256>;

/// An HS256 MAC keyed with `secret`.
fn hs256(secret: &str) -> HmacSha256 {
    // HMAC hashes keys longer than a block and pads shorter ones, so every length is valid.
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts a key of any length")
}

/// Serializes and signs (HS256) any header and claims. Exposed so tests can build tokens that
/// differ from a good one in exactly one way.
///
/// # Panics
///
/// If `header` or `claims` cannot be written as JSON, which happens only for maps with
/// non-string keys: the signer's own structs and any `serde_json::Value` always can.
pub fn sign_parts<H: Serialize, C: Serialize>(header: &H, claims: &C, secret: &str) -> String {
    let header = serde_json::to_vec(header)
        .expect("a token header is a JSON object with string keys, so it serializes");
    let claims = serde_json::to_vec(claims)
        .expect("token claims are a JSON object with string keys, so they serialize");
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac = hs256(secret);
    mac.update(message.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{message}.{signature}")
}

/// Whether `signature` (base64url, as in a JWT) is the HS256 MAC of `message` under `secret`.
/// The comparison takes the same time wherever the bytes differ, so a caller cannot learn a
/// valid signature byte by byte from response times.
fn hs256_matches(message: &str, signature: &str, secret: &str) -> bool {
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let mut mac = hs256(secret);
    mac.update(message.as_bytes());
    mac.verify_slice(&signature).is_ok()
}

/// Why a token was refused, with Twilio's code for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenErrorKind {
    /// 20101: not a JWT at all (shape, base64 or JSON).
    Invalid,
    /// 20102: header is not `HS256` / `JWT` / `twilio-fpa;v=1`.
    InvalidHeader,
    /// 20103: `iss` is not a known API key of the `sub` account.
    InvalidIssuerOrSubject,
    /// 20104: expired, no `exp`, or a lifetime over 24 hours.
    Expired,
    /// 20105: `nbf` is in the future.
    NotYetValid,
    /// 20106: no identity, an invalid identity, or no video grant.
    InvalidGrants,
    /// 20107: the signature does not match the key's secret.
    InvalidSignature,
}

impl TokenErrorKind {
    pub fn code(self) -> u32 {
        match self {
            TokenErrorKind::Invalid => twilio_codes::TOKEN_INVALID,
            TokenErrorKind::InvalidHeader => twilio_codes::TOKEN_HEADER_INVALID,
            TokenErrorKind::InvalidIssuerOrSubject => twilio_codes::TOKEN_ISSUER_OR_SUBJECT_INVALID,
            TokenErrorKind::Expired => twilio_codes::TOKEN_EXPIRED,
            TokenErrorKind::NotYetValid => twilio_codes::TOKEN_NOT_YET_VALID,
            TokenErrorKind::InvalidGrants => twilio_codes::TOKEN_GRANTS_INVALID,
            TokenErrorKind::InvalidSignature => twilio_codes::TOKEN_SIGNATURE_INVALID,
        }
    }

    /// Twilio's message for the code (twilio-video.js error table).
    pub fn message(self) -> &'static str {
        match self {
            TokenErrorKind::Invalid => "Invalid Access Token",
            TokenErrorKind::InvalidHeader => "Invalid Access Token header",
            TokenErrorKind::InvalidIssuerOrSubject => "Invalid Access Token issuer/subject",
            TokenErrorKind::Expired => "Access Token expired or expiration date invalid",
            TokenErrorKind::NotYetValid => "Access Token not yet valid",
            TokenErrorKind::InvalidGrants => "Invalid Access Token grants",
            TokenErrorKind::InvalidSignature => "Invalid Access Token signature",
        }
    }
}

/// A refused token: the kind (and so the code) plus a detail for logs and developers.
/// The detail never contains the token or any secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {detail}", kind.message(), kind.code())]
pub struct TokenError {
    pub kind: TokenErrorKind,
    pub detail: String,
}

impl TokenError {
    fn new(kind: TokenErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    pub fn code(&self) -> u32 {
        self.kind.code()
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub identity: Identity,
    /// The room the video grant names, if any (a unique name or an RM SID).
    pub room: Option<String>,
    pub account_sid: AccountSid,
    pub api_key_sid: ApiKeySid,
    pub issued_at: Option<i64>,
    pub expires_at: i64,
}

/// A token split into its decoded header and claims, signature unchecked: what a JWT debugger
/// shows. Useful offline, where jwt.io cannot be reached.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedToken {
    pub header: serde_json::Value,
    pub claims: serde_json::Value,
    pub signature: String,
}

/// Decodes a token without verifying it.
pub fn decode_unverified(token: &str) -> Result<DecodedToken, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::new(
            TokenErrorKind::Invalid,
            "a JWT has three dot-separated parts",
        ));
    };
    let decode = |part: &str, what: &str| -> Result<serde_json::Value, TokenError> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| {
            TokenError::new(TokenErrorKind::Invalid, format!("{what} is not base64url"))
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|_| TokenError::new(TokenErrorKind::Invalid, format!("{what} is not JSON")))
    };
    Ok(DecodedToken {
        header: decode(h, "header")?,
        claims: decode(c, "payload")?,
        signature: s.to_owned(),
    })
}

#[derive(Deserialize)]
struct IncomingClaims {
    iss: Option<String>,
    sub: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
    grants: Option<IncomingGrants>,
}

#[derive(Deserialize)]
struct IncomingGrants {
    identity: Option<serde_json::Value>,
    video: Option<IncomingVideoGrant>,
}

#[derive(Deserialize)]
struct IncomingVideoGrant {
    room: Option<String>,
}

/// Verifies tokens against a set of API keys, as Twilio's edge does.
#[derive(Clone, Debug, Default)]
pub struct TokenVerifier {
    keys: Vec<ApiKey>,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    leeway: i64,
}

impl TokenVerifier {
    pub fn new(keys: Vec<ApiKey>) -> Self {
        Self { keys, leeway: 0 }
    }

    /// Tolerates `secs` of clock difference on `exp` and `nbf`.
    pub fn with_leeway(mut self, secs: i64) -> Self {
        self.leeway = secs;
        self
    }

    /// Checks `token` at time `now` (Unix seconds).
    ///
    /// Order of checks: shape (20101), header (20102), issuer/subject (20103), signature
    /// (20107), expiry (20104), not-before (20105), grants (20106). The signature is checked
    /// before any claim is trusted.
    pub fn verify(&self, token: &str, now: i64) -> Result<VerifiedToken, TokenError> {
        let decoded = decode_unverified(token)?;
        let header = &decoded.header;
        let alg = header.get("alg").and_then(|v| v.as_str());
        if alg != Some("HS256") {
            return Err(TokenError::new(
                TokenErrorKind::InvalidHeader,
                format!("alg must be HS256 (got {})", shown(alg)),
            ));
        }
        let typ = header.get("typ").and_then(|v| v.as_str());
        if typ != Some("JWT") {
            return Err(TokenError::new(
                TokenErrorKind::InvalidHeader,
                format!("typ must be JWT (got {})", shown(typ)),
            ));
        }
        let cty = header.get("cty").and_then(|v| v.as_str());
        if cty != Some(TWILIO_CTY) {
            return Err(TokenError::new(
                TokenErrorKind::InvalidHeader,
                format!("cty must be {TWILIO_CTY} (got {})", shown(cty)),
            ));
        }
        let claims: IncomingClaims = serde_json::from_value(decoded.claims).map_err(|_| {
            TokenError::new(
                TokenErrorKind::Invalid,
                "payload claims have the wrong types",
            )
        })?;

        // A missing claim is read as "" so that it is refused by the same SID rule, and with
        // the same code (20103), as a malformed one.
        let iss = claims.iss.as_deref().unwrap_or("");
        let sub = claims.sub.as_deref().unwrap_or("");
        let api_key_sid = ApiKeySid::parse(iss).map_err(|e| {
            TokenError::new(TokenErrorKind::InvalidIssuerOrSubject, format!("iss: {e}"))
        })?;
        let account_sid = AccountSid::parse(sub).map_err(|e| {
            TokenError::new(TokenErrorKind::InvalidIssuerOrSubject, format!("sub: {e}"))
        })?;
        let key = self
            .keys
            .iter()
            .find(|k| k.sid == api_key_sid)
            .ok_or_else(|| {
                TokenError::new(
                    TokenErrorKind::InvalidIssuerOrSubject,
                    format!("iss {api_key_sid} is not a known API key"),
                )
            })?;
        if key.account_sid != account_sid {
            return Err(TokenError::new(
                TokenErrorKind::InvalidIssuerOrSubject,
                format!("API key {api_key_sid} does not belong to account {account_sid}"),
            ));
        }

        let (message, _) = token
            .rsplit_once('.')
            .expect("decode_unverified accepted the token, so it has three dot-separated parts");
        if !hs256_matches(message, &decoded.signature, key.secret.expose_secret()) {
            return Err(TokenError::new(
                TokenErrorKind::InvalidSignature,
                "signature does not match the API key secret",
            ));
        }

        let expires_at = claims
            .exp
            .ok_or_else(|| TokenError::new(TokenErrorKind::Expired, "exp is missing"))?;
        // The times are whatever the signer wrote, so the arithmetic is done in i128, where
        // no pair of i64 values can overflow (a panic here would be a crash on a bad token).
        let (exp, now_wide, leeway) = (
            i128::from(expires_at),
            i128::from(now),
            i128::from(self.leeway),
        );
        if exp + leeway <= now_wide {
            return Err(TokenError::new(
                TokenErrorKind::Expired,
                format!("expired {} s ago", now_wide - exp),
            ));
        }
        // Twilio refuses tokens that live longer than 24 hours, counted from issue (or from
        // now, for a token without `iat`).
        let issued = i128::from(claims.iat.unwrap_or(now).min(now));
        if exp - issued > i128::from(MAX_TTL_SECS) + leeway {
            return Err(TokenError::new(
                TokenErrorKind::Expired,
                "exp is more than 24 hours after iat",
            ));
        }
        if let Some(nbf) = claims.nbf {
            let nbf = i128::from(nbf);
            if nbf > now_wide + leeway {
                return Err(TokenError::new(
                    TokenErrorKind::NotYetValid,
                    format!("valid only in {} s", nbf - now_wide),
                ));
            }
        }

        let grants = claims
            .grants
            .ok_or_else(|| TokenError::new(TokenErrorKind::InvalidGrants, "grants are missing"))?;
        let identity = match grants.identity {
            Some(serde_json::Value::String(s)) => Identity::parse(&s).map_err(|e| {
                TokenError::new(
                    TokenErrorKind::InvalidGrants,
                    format!("grants.identity: {e}"),
                )
            })?,
            Some(_) => {
                return Err(TokenError::new(
                    TokenErrorKind::InvalidGrants,
                    "grants.identity must be a string",
                ))
            }
            None => {
                return Err(TokenError::new(
                    TokenErrorKind::InvalidGrants,
                    "grants.identity is missing",
                ))
            }
        };
        let video = grants.video.ok_or_else(|| {
            TokenError::new(TokenErrorKind::InvalidGrants, "grants.video is missing")
        })?;

        Ok(VerifiedToken {
            identity,
            room: video.room,
            account_sid,
            api_key_sid,
            issued_at: claims.iat,
            expires_at,
        })
    }
}

fn shown(v: Option<&str>) -> String {
    match v {
        // Debug formatting escapes control characters, so a hostile header cannot forge
        // log lines through the detail.
        Some(s) => format!("{:?}", s.chars().take(40).collect::<String>()),
        None => "nothing".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};

    fn key() -> ApiKey {
        ApiKey {
            account_sid: AccountSid::parse(TEST_ACCOUNT_SID).expect("seeded account SID"),
            sid: ApiKeySid::parse(TEST_API_KEY_SID).expect("seeded API key SID"),
            secret: SecretString::from(TEST_API_KEY_SECRET),
        }
    }

    #[test]
    fn debug_output_shows_the_sids_but_never_the_secret() {
        let signer = TokenSigner::new(key(), DEFAULT_TTL_SECS, None).expect("valid signer");
        for shown in [format!("{:?}", key()), format!("{signer:?}")] {
            assert!(!shown.contains(TEST_API_KEY_SECRET), "{shown}");
            assert!(shown.contains("[REDACTED]"), "{shown}");
            assert!(shown.contains(TEST_API_KEY_SID), "{shown}");
        }
    }

    /// The claims as the signer wrote them with `serde_json` before it used a template: the
    /// reference the template must match byte for byte.
    #[derive(Serialize)]
    struct Claims<'a> {
        jti: String,
        grants: Grants<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        nbf: Option<i64>,
        iat: i64,
        exp: i64,
        iss: &'a str,
        sub: &'a str,
    }

    #[derive(Serialize)]
    struct Grants<'a> {
        identity: &'a str,
        video: VideoGrant<'a>,
    }

    #[derive(Serialize)]
    struct VideoGrant<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<&'a str>,
    }

    /// The token the serializer-based signer minted for the same inputs.
    fn serialized(
        signer: &TokenSigner,
        identity: &Identity,
        room: Option<&str>,
        now: i64,
        nbf: Option<i64>,
    ) -> String {
        let header = Header {
            alg: "HS256",
            typ: "JWT",
            cty: TWILIO_CTY,
            twr: signer.region(),
        };
        let claims = Claims {
            jti: format!("{}-{}", signer.key.sid, now),
            grants: Grants {
                identity: identity.as_str(),
                video: VideoGrant { room },
            },
            nbf,
            iat: now,
            exp: now.saturating_add(signer.ttl_secs as i64),
            iss: signer.key.sid.as_str(),
            sub: signer.key.account_sid.as_str(),
        };
        sign_parts(&header, &claims, signer.key.secret.expose_secret())
    }

    #[test]
    fn the_template_mints_the_bytes_the_serializer_wrote() {
        let identities = [
            "alice",
            "会議室の\u{1F600}",
            "quote\" backslash\\ slash/ <tag> &amp; 'single'",
            "tab\tend",
            "\u{7f}del and \u{a0}nbsp",
            &"x".repeat(crate::identity::MAX_IDENTITY_CHARS),
        ];
        let rooms = [
            None,
            Some("DailyStandup"),
            Some("会議室"),
            Some("a \"quoted\" room\\"),
            Some("line\nbreak"),
            Some(""),
        ];
        let times = [0, 1_764_000_000, -5, i64::MAX - 10, i64::MIN];
        for region in [None, Some("jp1"), Some("odd \"region\"")] {
            for ttl in [1, DEFAULT_TTL_SECS, MAX_TTL_SECS] {
                let signer =
                    TokenSigner::new(key(), ttl, region.map(str::to_owned)).expect("valid signer");
                for identity in identities {
                    // Control characters other than tab are refused by `Identity::parse`, but
                    // the template must escape whatever it is given as the serializer did.
                    let Ok(identity) = Identity::parse(identity) else {
                        continue;
                    };
                    for room in rooms {
                        for now in times {
                            for nbf in [None, Some(now), Some(-1)] {
                                let token = signer.mint_with(&identity, room, now, nbf);
                                assert!(
                                    token.bytes().all(|b| b.is_ascii_alphanumeric()
                                        || matches!(b, b'-' | b'_' | b'.')),
                                    "{token}"
                                );
                                assert_eq!(
                                    token,
                                    serialized(&signer, &identity, room, now, nbf),
                                    "identity {identity:?}, room {room:?}, now {now}, nbf {nbf:?}, region {region:?}, ttl {ttl}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_signature_is_accepted_only_for_its_message_and_secret() {
        let token = sign_parts(
            &serde_json::json!({"alg": "HS256"}),
            &serde_json::json!({}),
            "secret",
        );
        let (message, signature) = token.rsplit_once('.').expect("three parts");
        assert!(hs256_matches(message, signature, "secret"));
        assert!(!hs256_matches(message, signature, "other secret"));
        assert!(!hs256_matches(&format!("{message}x"), signature, "secret"));
        assert!(!hs256_matches(message, "not base64url!", "secret"));
        assert!(!hs256_matches(message, "", "secret"));
    }
}
