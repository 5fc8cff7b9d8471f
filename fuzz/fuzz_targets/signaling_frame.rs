//! The emulator's signaling frame parser (each text frame a twilio-video.js client sends): any
//! text is a typed frame or a typed refusal with an SDK close code, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use videoroom_emulator::signaling::protocol::parse_frame;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = parse_frame(text) {
        // The refusal's close code and reason are built from the input too.
        let _ = (e.close_code(), e.reason());
    }
});
