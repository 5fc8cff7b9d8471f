//! Token verification (`videoroom_core::token::TokenVerifier`, what the emulator's signaling
//! runs on every connecting SDK's token): any text must be refused or verified, never panic,
//! and nothing but a token signed with the key may verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use videoroom_core::token::{ApiKey, TokenVerifier};
use videoroom_core::{AccountSid, ApiKeySid};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = ApiKey {
        account_sid: AccountSid::parse("AC7e570000000000000000000000000000").expect("a valid SID"),
        sid: ApiKeySid::parse("SK7e570000000000000000000000000000").expect("a valid SID"),
        secret: SecretString::from("fuzz-secret"),
    };
    let verifier = TokenVerifier::new(vec![key]);
    let _ = verifier.verify(text, 1_700_000_000);
});
