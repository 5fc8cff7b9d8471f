//! The emulator's `application/x-www-form-urlencoded` decoder (every `/v1` write and every query
//! string): any bytes decode or are refused as not UTF-8, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = videoroom_emulator::body::decode_form(data);
});
