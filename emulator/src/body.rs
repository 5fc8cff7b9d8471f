//! Reading a request body and decoding form data, once for every surface: the emulator's REST
//! and control routes (Twilio's error format) and `videoroom`'s `/video-token` (its own JSON
//! errors) both read bodies here and map [`BodyError`] and [`InvalidForm`] to their format.
//!
//! Two limits protect the server from a client that sends too much or too slowly:
//!
//! - a size cap, checked against `Content-Length` before a byte is read and again while the
//!   body arrives (chunked bodies have no declared length);
//! - a read deadline for the whole body. actix's `client_request_timeout` covers only the
//!   request head; without this deadline a client that declares a body and then sends one
//!   byte a minute holds a connection, a file descriptor and a worker task for ever.
//!
//! It lives in the emulator crate because `videoroom` depends on this crate, never the reverse.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures::StreamExt as _;

/// How long a whole request body may take to arrive. A token request or a REST form is a few
/// hundred bytes: ten seconds is generous for any honest client on a slow network.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The limits of one body read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Largest body accepted, in bytes.
    pub max_bytes: usize,
    /// Longest time the whole body may take to arrive.
    pub read_timeout: Duration,
}

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Larger than the cap (declared or as it arrived).
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The body had not fully arrived when the deadline passed.
    #[error("the request body did not arrive within {} seconds; send the whole body at once", .deadline.as_secs())]
    TooSlow { deadline: Duration },
    /// The connection failed or the framing was invalid while reading.
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
}

/// Reads a request body within `limits`. A declared length over the cap is refused before a
/// byte is read; a body still arriving at the deadline is abandoned (the caller answers 408 and
/// actix closes the connection, since the body was not read to its end).
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limits: BodyLimits,
) -> Result<Vec<u8>, BodyError> {
    let limit = limits.max_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let read_all = async {
        let mut body = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(limits.read_timeout, read_all)
        .await
        .unwrap_or(Err(BodyError::TooSlow {
            deadline: limits.read_timeout,
        }))
}

/// A form key or value that is not UTF-8 once percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidForm {
    /// The parameter whose value is invalid; `None` when the name itself is.
    pub name: Option<String>,
}

/// Decodes `application/x-www-form-urlencoded` pairs (also the query string's format), in the
/// order they came, repeated names kept. `+` is a space, `%XX` a byte, and a `%` that starts no
/// escape stays a literal `%`, as browsers read it. Bytes that are not UTF-8 once decoded are
/// refused: a lossy decoder would silently turn them into U+FFFD.
pub fn decode_form(input: &[u8]) -> Result<Vec<(String, String)>, InvalidForm> {
    let mut pairs = Vec::new();
    for piece in input.split(|&b| b == b'&') {
        if piece.is_empty() {
            continue;
        }
        let (name, value) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &[][..]),
        };
        let name = decode_component(name).ok_or(InvalidForm { name: None })?;
        let value = decode_component(value).ok_or_else(|| InvalidForm {
            name: Some(name.clone()),
        })?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// One form component, or `None` when it is not UTF-8 once decoded.
fn decode_component(raw: &[u8]) -> Option<String> {
    // Most components (parameter names, plain identities and rooms) have nothing to decode:
    // one copy, instead of the two buffers and a byte-by-byte collect below, which were most
    // of a warm token request's parameter parsing.
    if !raw.iter().any(|&b| b == b'+' || b == b'%') {
        return std::str::from_utf8(raw).ok().map(str::to_owned);
    }
    // A literal '+' arrives as %2B, so turning every '+' into a space first is safe.
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8(percent_encoding::percent_decode(&spaced).collect()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &[u8]) -> Vec<(String, String)> {
        decode_form(s).unwrap()
    }

    #[test]
    fn plus_and_percent_escapes_decode_to_utf8_text() {
        assert_eq!(
            pairs(b"identity=%E5%B1%B1%E7%94%B0+%E5%A4%AA%E9%83%8E&room=a%2Bb&&flag"),
            vec![
                ("identity".into(), "山田 太郎".into()),
                ("room".into(), "a+b".into()),
                ("flag".into(), String::new()),
            ]
        );
    }

    #[test]
    fn a_stray_percent_is_kept_literally() {
        assert_eq!(
            pairs(b"identity=100%&x=%zz%4"),
            vec![
                ("identity".into(), "100%".into()),
                ("x".into(), "%zz%4".into())
            ]
        );
    }

    #[test]
    fn a_component_with_nothing_to_decode_is_read_as_the_full_decoder_reads_it() {
        // The decoder before the shortcut for components without `+` or `%`.
        let full = |raw: &[u8]| -> Option<String> {
            let spaced: Vec<u8> = raw
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            String::from_utf8(percent_encoding::percent_decode(&spaced).collect()).ok()
        };
        let inputs: [&[u8]; 9] = [
            b"",
            b"user-123",
            "山田太郎".as_bytes(),
            b"a b\tc",
            b"\xff",
            b"a+b",
            b"%E5%B1%B1",
            b"100%",
            b"\xe5\xb1",
        ];
        for raw in inputs {
            assert_eq!(decode_component(raw), full(raw), "{raw:?}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_raw_or_encoded_name_their_parameter() {
        assert_eq!(
            decode_form(b"identity=%FF%FE").unwrap_err().name.as_deref(),
            Some("identity")
        );
        assert_eq!(
            decode_form(b"UniqueName=\xff").unwrap_err().name.as_deref(),
            Some("UniqueName")
        );
        assert_eq!(decode_form(b"%FF=x").unwrap_err().name, None);
    }
}
