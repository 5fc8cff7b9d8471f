//! Reading `identity` and `room` from a token request, whatever form it takes.
//!
//! Three forms are accepted, as the workshop's pages have used all of them: the query string
//! (`GET /video-token?identity=alice`), a JSON body (`{"identity": "alice"}`) and a form body
//! (`identity=alice`); `user` is an alias of `identity`. Parsing is strict where leniency would
//! hide a mistake: percent-decoded bytes must be UTF-8 (a lossy decoder would silently turn
//! them into U+FFFD), a parameter given twice with different values is refused, and the body
//! is capped at [`MAX_BODY_BYTES`] while it is read, not after, and must arrive within
//! [`body::READ_TIMEOUT`].

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use secrecy::SecretString;
use videoroom_emulator::body::{self, BodyError, BodyLimits};

use crate::error::{ApiError, MAX_BODY_BYTES};

/// The raw parameters of a token request, before validation. `Debug` never shows the passcode.
#[derive(Debug, Default)]
pub struct TokenParams {
    pub identity: Option<String>,
    pub room: Option<String>,
    /// The `passcode` of `auth.mode = passcode` (see `crate::access::passcode`).
    pub passcode: Option<SecretString>,
}

/// The raw values while they are read: the passcode is text only until the parameters are
/// complete, so the duplicate check can compare it.
#[derive(Default)]
struct Slots {
    identity: Option<String>,
    room: Option<String>,
    passcode: Option<String>,
}

impl From<Slots> for TokenParams {
    fn from(slots: Slots) -> Self {
        Self {
            identity: slots.identity,
            room: slots.room,
            passcode: slots.passcode.map(SecretString::from),
        }
    }
}

impl TokenParams {
    /// Parameters from the query string only (GET).
    pub fn from_query(req: &HttpRequest) -> Result<Self, ApiError> {
        Self::from_query_bytes(req.query_string().as_bytes())
    }

    /// Parameters from a raw query string (also the entry point of the fuzz target and the
    /// property tests).
    pub fn from_query_bytes(query: &[u8]) -> Result<Self, ApiError> {
        let pairs = decode_urlencoded(query, "query string")?;
        Self::from_pairs(pairs)
    }

    /// Parameters from a non-empty body whose `Content-Type` header is `content_type` (also the
    /// entry point of the fuzz target and the property tests).
    pub fn from_body_bytes(content_type: Option<&[u8]>, body: &[u8]) -> Result<Self, ApiError> {
        match media_type(content_type)? {
            MediaType::Json => Self::from_json(body),
            MediaType::Form => {
                let pairs = decode_urlencoded(body, "form body")?;
                Self::from_pairs(pairs)
            }
        }
    }

    /// Parameters from the body (JSON or form); the query string fills in what the body
    /// leaves out, so `POST /video-token?identity=alice` with no body also works.
    pub async fn from_body(req: &HttpRequest, payload: web::Payload) -> Result<Self, ApiError> {
        let body = read_body(req, payload).await?;
        let query = Self::from_query(req)?;
        if body.is_empty() {
            return Ok(query);
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes());
        let from_body = Self::from_body_bytes(content_type, &body)?;
        Ok(Self {
            identity: from_body.identity.or(query.identity),
            room: from_body.room.or(query.room),
            passcode: from_body.passcode.or(query.passcode),
        })
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut params = Slots::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "identity" | "user" => &mut params.identity,
                "room" => &mut params.room,
                "passcode" => &mut params.passcode,
                // Unknown parameters are ignored, as Twilio Functions did.
                _ => continue,
            };
            set_once(slot, value, &name)?;
        }
        Ok(params.into())
    }

    fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let text = std::str::from_utf8(body).map_err(|e| {
            ApiError::InvalidEncoding(format!(
                "the JSON body is not valid UTF-8 (bad byte at offset {}); send UTF-8 text",
                e.valid_up_to()
            ))
        })?;
        let Members(members) = serde_json::from_str(text).map_err(|e| match e.classify() {
            // Valid JSON of another type than an object.
            serde_json::error::Category::Data => ApiError::MalformedBody(
                "the JSON body must be an object such as {\"identity\": \"alice\"}".to_owned(),
            ),
            _ => ApiError::MalformedBody(format!(
                "the body is not valid JSON ({e}); send an object such as {{\"identity\": \"alice\"}}"
            )),
        })?;
        let mut params = Slots::default();
        for (name, value) in members {
            let (slot, invalid): (_, fn(String) -> ApiError) = match name.as_str() {
                "identity" | "user" => (&mut params.identity, ApiError::InvalidIdentity),
                "room" => (&mut params.room, ApiError::InvalidRoom),
                "passcode" => (&mut params.passcode, ApiError::MalformedBody),
                _ => continue,
            };
            match value {
                // `null` means "not given", as a JSON client leaving a field empty means.
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => set_once(slot, s, &name)?,
                other => {
                    return Err(invalid(format!(
                        "{name} must be a string (got {})",
                        json_kind(&other)
                    )))
                }
            }
        }
        Ok(params.into())
    }
}

/// A JSON object's members in the order they came, a repeated key kept twice. A
/// `serde_json::Value` map keeps only the last of a repeated key, which let
/// `{"identity": "alice", "identity": "eve"}` through as eve where the query string and the form
/// refuse the same repetition (found by the hostile-request table).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
            type Value = Members;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

fn set_once(slot: &mut Option<String>, value: String, name: &str) -> Result<(), ApiError> {
    match slot {
        Some(existing) if *existing != value => {
            let canonical = if name == "user" { "identity" } else { name };
            Err(ApiError::AmbiguousParameter(canonical.to_owned()))
        }
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

enum MediaType {
    Json,
    Form,
}

fn media_type(content_type: Option<&[u8]>) -> Result<MediaType, ApiError> {
    let Some(value) = content_type else {
        return Err(ApiError::UnsupportedMediaType("(none given)".to_owned()));
    };
    // A header value is visible ASCII (RFC 9110 §5.5); anything else is unreadable here, as
    // `HeaderValue::to_str` says.
    let Some(value) = std::str::from_utf8(value)
        .ok()
        .filter(|v| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
    else {
        return Err(ApiError::UnsupportedMediaType("(not readable)".to_owned()));
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    for param in parts {
        let Some((name, charset)) = param.split_once('=') else {
            continue;
        };
        let charset = charset.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset") && !charset.eq_ignore_ascii_case("utf-8") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "{essence} with charset {charset} (only UTF-8 is accepted)"
            )));
        }
    }
    match essence.as_str() {
        "application/json" => Ok(MediaType::Json),
        "application/x-www-form-urlencoded" => Ok(MediaType::Form),
        _ => Err(ApiError::UnsupportedMediaType(shorten(&essence))),
    }
}

fn shorten(s: &str) -> String {
    let cleaned: String = s.chars().filter(|c| !c.is_control()).take(60).collect();
    if s.chars().count() > 60 {
        format!("'{cleaned}…'")
    } else {
        format!("'{cleaned}'")
    }
}

/// The body, read by the emulator crate's one body reader: capped at [`MAX_BODY_BYTES`] and
/// given [`body::READ_TIMEOUT`] to arrive, so a client trickling bytes gets 408.
async fn read_body(req: &HttpRequest, payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    let limits = BodyLimits {
        max_bytes: MAX_BODY_BYTES,
        read_timeout: body::READ_TIMEOUT,
    };
    body::read(req, payload, limits).await.map_err(|e| match e {
        BodyError::TooLarge { .. } => ApiError::PayloadTooLarge,
        BodyError::TooSlow { deadline } => ApiError::BodyTooSlow(deadline),
        BodyError::Unreadable(reason) => {
            ApiError::MalformedBody(format!("the request body could not be read: {reason}"))
        }
    })
}

/// Decodes `application/x-www-form-urlencoded` pairs (also the query string's format) with the
/// emulator crate's decoder, refusing bytes that are not UTF-8 once percent-decoded.
pub fn decode_urlencoded(input: &[u8], what: &str) -> Result<Vec<(String, String)>, ApiError> {
    body::decode_form(input).map_err(|invalid| {
        let which = match invalid.name {
            Some(name) => format!("the value of '{}'", shorten_plain(&name)),
            None => "a parameter name".to_owned(),
        };
        ApiError::InvalidEncoding(format!(
            "{which} in the {what} is not valid UTF-8 once percent-decoded; encode text as UTF-8 (e.g. encodeURIComponent)"
        ))
    })
}

fn shorten_plain(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        decode_urlencoded(s.as_bytes(), "query string").unwrap()
    }

    #[test]
    fn percent_encoded_bytes_that_are_not_utf8_are_refused() {
        let err = decode_urlencoded(b"identity=%FF%FE", "query string").unwrap_err();
        assert_eq!(err.code(), "invalid_encoding");
        assert!(err.to_string().contains("'identity'"));
    }

    #[test]
    fn user_is_an_alias_and_conflicting_values_are_ambiguous() {
        let p = TokenParams::from_pairs(pairs("user=bob")).unwrap();
        assert_eq!(p.identity.as_deref(), Some("bob"));
        let same = TokenParams::from_pairs(pairs("user=bob&identity=bob")).unwrap();
        assert_eq!(same.identity.as_deref(), Some("bob"));
        let err = TokenParams::from_pairs(pairs("user=bob&identity=eve")).unwrap_err();
        assert_eq!(err, ApiError::AmbiguousParameter("identity".into()));
    }

    #[test]
    fn a_json_key_given_twice_with_different_values_is_ambiguous_as_in_a_form() {
        let err = TokenParams::from_json(br#"{"identity":"alice","identity":"eve"}"#).unwrap_err();
        assert_eq!(err, ApiError::AmbiguousParameter("identity".into()));
        let same = TokenParams::from_json(br#"{"identity":"alice","identity":"alice"}"#).unwrap();
        assert_eq!(same.identity.as_deref(), Some("alice"));
        for not_object in [&b"[]"[..], b"null", b"\"alice\""] {
            let err = TokenParams::from_json(not_object).unwrap_err();
            assert!(err.to_string().contains("must be an object"), "{err}");
        }
    }
}
