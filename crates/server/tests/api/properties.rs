//! Property tests (proptest) over the parsers the fuzz targets of `fuzz/` exercise, so that
//! `cargo test` checks their invariants on every run: `/video-token`'s parameter parsing, the
//! emulator's form decoder, its signaling frame parser, token verification, and the access
//! checks' own parsers (passcode comparison, bearer JWTs, room patterns).

use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::json;
use videoroom_core::token::TokenVerifier;
use videoroom_core::{Identity, RoomName};
use videoroom_emulator::body::decode_form;
use videoroom_emulator::signaling::protocol::parse_frame;
use videoroom_server::access::bearer::BearerVerifier;
use videoroom_server::access::passcode::Passcode;
use videoroom_server::access::RoomPatterns;
use videoroom_server::params::TokenParams;

use crate::helpers::{seeded_key, unix_now};

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_query_bytes_are_read_or_refused_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = TokenParams::from_query_bytes(&bytes);
    }

    #[test]
    fn any_body_is_read_or_refused_without_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        json in any::<bool>(),
    ) {
        let content_type: &[u8] = if json { b"application/json" } else { b"application/x-www-form-urlencoded" };
        let _ = TokenParams::from_body_bytes(Some(content_type), &bytes);
    }

    #[test]
    fn any_identity_and_room_survive_form_encoding(identity in "\\PC{1,40}", room in "\\PC{1,40}", passcode in "\\PC{0,20}") {
        let query = format!("identity={}&room={}&passcode={}", form_encode(&identity), form_encode(&room), form_encode(&passcode));
        let params = TokenParams::from_query_bytes(query.as_bytes()).expect("an encoded query is read");
        prop_assert_eq!(params.identity.as_deref(), Some(identity.as_str()));
        prop_assert_eq!(params.room.as_deref(), Some(room.as_str()));
        prop_assert_eq!(params.passcode.is_some(), true);
        let form = TokenParams::from_body_bytes(Some(b"application/x-www-form-urlencoded"), query.as_bytes())
            .expect("the same pairs as a form body are read");
        prop_assert_eq!(form.identity, params.identity);
    }

    #[test]
    fn any_identity_and_room_survive_json(identity in "\\PC{0,40}", room in "\\PC{0,40}") {
        let body = json!({"identity": identity, "room": room}).to_string();
        let params = TokenParams::from_body_bytes(Some(b"application/json"), body.as_bytes())
            .expect("a JSON object of strings is read");
        prop_assert_eq!(params.identity.as_deref(), Some(identity.as_str()));
        prop_assert_eq!(params.room.as_deref(), Some(room.as_str()));
    }

    #[test]
    fn a_parameter_given_twice_with_different_values_is_always_refused(a in "[a-z]{1,10}", b in "[a-z]{1,10}") {
        prop_assume!(a != b);
        let query = format!("identity={a}&identity={b}");
        prop_assert!(TokenParams::from_query_bytes(query.as_bytes()).is_err());
    }

    #[test]
    fn the_emulator_form_decoder_round_trips_pairs_and_never_panics(
        pairs in proptest::collection::vec(("\\PC{1,20}", "\\PC{0,20}"), 0..8),
        noise in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = decode_form(&noise);
        let encoded = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let decoded = decode_form(encoded.as_bytes()).expect("encoded UTF-8 decodes");
        prop_assert_eq!(decoded, pairs);
    }

    #[test]
    fn any_signaling_frame_text_is_a_frame_or_a_refusal_with_a_close_code(text in "\\PC{0,200}") {
        if let Err(e) = parse_frame(&text) {
            prop_assert!(matches!(e.close_code(), 1007 | 1008));
        }
    }

    #[test]
    fn no_random_text_verifies_as_a_token(text in "[A-Za-z0-9_\\-.]{0,300}") {
        let verifier = TokenVerifier::new(vec![seeded_key()]);
        prop_assert!(verifier.verify(&text, unix_now()).is_err());
    }

    #[test]
    fn a_minted_token_with_any_byte_changed_does_not_verify(index in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_\\-]") {
        let signer = videoroom_core::token::TokenSigner::new(seeded_key(), 3600, None).expect("a valid signer");
        let identity = Identity::parse("alice").unwrap();
        let token = signer.mint(&identity, Some("myroom"), unix_now());
        let i = index.index(token.len());
        prop_assume!(token.as_bytes()[i] != b'.' && token[i..=i] != replacement);
        let mut changed = token.clone();
        changed.replace_range(i..=i, &replacement);
        let verifier = TokenVerifier::new(vec![seeded_key()]);
        prop_assert!(verifier.verify(&changed, unix_now()).is_err(), "{} verified", changed);
    }

    #[test]
    fn only_the_passcode_itself_matches(given in "\\PC{0,40}") {
        let passcode = Passcode::new(&SecretString::from("tokyo-2026"));
        prop_assert_eq!(passcode.matches(&given), given == "tokyo-2026");
    }

    #[test]
    fn no_random_text_is_a_valid_bearer_jwt(text in "[A-Za-z0-9_\\-.]{0,300}") {
        let verifier = BearerVerifier::new(&SecretString::from("a-login-secret-of-at-least-32-bytes!"));
        prop_assert!(verifier.verify(&text).is_err());
    }

    #[test]
    fn room_patterns_parse_or_refuse_any_text_and_match_names_literally(text in "\\PC{0,60}", name in "[a-z0-9-]{1,20}") {
        let _ = RoomPatterns::parse(&text);
        let exact = RoomPatterns::parse(&name).expect("a plain name is a pattern");
        let room = RoomName::parse(&name).expect("a plain name is a room name");
        prop_assert!(exact.allows(&room));
        let other = RoomName::parse(&format!("{name}x")).expect("still a room name");
        prop_assert!(!exact.allows(&other));
    }
}
