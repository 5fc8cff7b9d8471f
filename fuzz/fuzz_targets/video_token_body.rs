//! `/video-token` parameter parsing: the JSON body, the form body and the query string. The
//! first byte chooses the content type, the rest is the body; every input is refused with a
//! typed error or read, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use videoroom_server::params::TokenParams;

const CONTENT_TYPES: [Option<&[u8]>; 5] = [
    Some(b"application/json"),
    Some(b"application/x-www-form-urlencoded"),
    Some(b"application/json; charset=utf-8"),
    Some(b"text/plain"),
    None,
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(first) % CONTENT_TYPES.len()];
    let _ = TokenParams::from_body_bytes(content_type, body);
    let _ = TokenParams::from_query_bytes(body);
});
