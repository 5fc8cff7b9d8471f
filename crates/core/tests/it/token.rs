//! Access tokens as a client of the token service and Twilio's edge see them: what a minted
//! token contains (byte for byte where twilio-node's output is known), and which Twilio code
//! each way of getting a token wrong is refused with.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use secrecy::SecretString;
use serde_json::{json, Value};
use videoroom_core::credentials::{TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, TEST_API_KEY_SID};
use videoroom_core::token::{
    decode_unverified, sign_parts, ApiKey, TokenConfigError, TokenError, TokenSigner,
    TokenVerifier, DEFAULT_TTL_SECS, MAX_TTL_SECS, TWILIO_CTY,
};
use videoroom_core::{AccountSid, ApiKeySid, Identity};
use videoroom_test_support::assert_token_snapshot;
use videoroom_test_support::seeded_key;

/// A fixed issue time for the verification tests, so that expiry arithmetic is exact.
const NOW: i64 = 1_764_000_000;

fn signer(ttl: u64, region: Option<&str>) -> TokenSigner {
    TokenSigner::new(seeded_key(), ttl, region.map(str::to_owned)).expect("valid signer settings")
}

fn verifier() -> TokenVerifier {
    TokenVerifier::new(vec![seeded_key()])
}

fn alice() -> Identity {
    Identity::parse("alice").expect("valid identity")
}

fn unix_now() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(elapsed.as_secs()).expect("seconds fit in i64")
}

/// The parts of a good token, as JSON values, for building tokens that differ in one way.
fn good_header() -> Value {
    json!({"alg": "HS256", "typ": "JWT", "cty": TWILIO_CTY})
}

fn good_claims() -> Value {
    json!({
        "jti": format!("{TEST_API_KEY_SID}-{NOW}"),
        "grants": {"identity": "alice", "video": {"room": "DailyStandup"}},
        "iat": NOW,
        "exp": NOW + 3600,
        "iss": TEST_API_KEY_SID,
        "sub": TEST_ACCOUNT_SID,
    })
}

fn signed(header: &Value, claims: &Value) -> String {
    sign_parts(header, claims, TEST_API_KEY_SECRET)
}

fn with_claims(edit: impl FnOnce(&mut Value)) -> String {
    let mut claims = good_claims();
    edit(&mut claims);
    signed(&good_header(), &claims)
}

fn with_header(edit: impl FnOnce(&mut Value)) -> String {
    let mut header = good_header();
    edit(&mut header);
    signed(&header, &good_claims())
}

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).expect("JSON serializes"))
}

/// The raw JSON text of a token's first (`0`) or second (`1`) part.
fn raw_part(token: &str, index: usize) -> String {
    let part = token.split('.').nth(index).expect("a JWT has three parts");
    String::from_utf8(URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("UTF-8 JSON")
}

fn refusal(token: &str) -> TokenError {
    match verifier().verify(token, NOW) {
        Ok(v) => panic!("token should have been refused, but verified as {v:?}"),
        Err(e) => e,
    }
}

// --- Minting -------------------------------------------------------------------------------

#[test]
fn a_token_for_a_room_has_twilio_nodes_header_and_claims() {
    let token = signer(DEFAULT_TTL_SECS, None).mint(&alice(), Some("DailyStandup"), unix_now());
    assert_token_snapshot!("minted_for_a_room", &token);
}

#[test]
fn a_token_without_a_room_grants_video_with_an_empty_grant() {
    let token = signer(DEFAULT_TTL_SECS, None).mint(&alice(), None, unix_now());
    assert_token_snapshot!("minted_without_a_room", &token);
}

#[test]
fn a_token_minted_with_a_region_carries_it_as_twr() {
    let token = signer(DEFAULT_TTL_SECS, Some("jp1")).mint(&alice(), Some("会議室"), unix_now());
    assert_token_snapshot!("minted_with_region_for_a_room", &token);
}

#[test]
fn a_token_minted_with_a_region_and_no_room_carries_twr_and_an_empty_grant() {
    let token = signer(DEFAULT_TTL_SECS, Some("de1")).mint(&alice(), None, unix_now());
    assert_token_snapshot!("minted_with_region_without_a_room", &token);
}

#[test]
fn header_and_claims_are_serialized_in_twilio_nodes_key_order() {
    let token =
        signer(DEFAULT_TTL_SECS, Some("jp1")).mint_with(&alice(), Some("r"), NOW, Some(NOW - 10));
    assert_eq!(
        raw_part(&token, 0),
        r#"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1","twr":"jp1"}"#
    );
    assert_eq!(
        raw_part(&token, 1),
        format!(
            r#"{{"jti":"{TEST_API_KEY_SID}-{NOW}","grants":{{"identity":"alice","video":{{"room":"r"}}}},"nbf":{},"iat":{NOW},"exp":{},"iss":"{TEST_API_KEY_SID}","sub":"{TEST_ACCOUNT_SID}"}}"#,
            NOW - 10,
            NOW + 3600
        )
    );
}

#[test]
fn a_token_without_a_region_has_no_twr_in_its_header() {
    let token = signer(DEFAULT_TTL_SECS, None).mint(&alice(), None, NOW);
    assert_eq!(
        raw_part(&token, 0),
        r#"{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"}"#
    );
}

#[test]
fn a_token_lives_for_the_default_hour_unless_told_otherwise() {
    assert_eq!(DEFAULT_TTL_SECS, 3600);
    for (ttl, now) in [(DEFAULT_TTL_SECS, NOW), (100, NOW + 7), (MAX_TTL_SECS, NOW)] {
        let claims = decode_unverified(&signer(ttl, None).mint(&alice(), None, now))
            .expect("decodes")
            .claims;
        let iat = claims["iat"].as_i64().expect("iat is a number");
        let exp = claims["exp"].as_i64().expect("exp is a number");
        assert_eq!(iat, now);
        assert_eq!(exp - iat, i64::try_from(ttl).expect("small"), "ttl {ttl}");
    }
}

#[test]
fn the_jti_is_the_api_key_sid_and_the_issue_time() {
    let now = unix_now();
    let claims = decode_unverified(&signer(DEFAULT_TTL_SECS, None).mint(&alice(), None, now))
        .expect("decodes")
        .claims;
    assert_eq!(claims["jti"], json!(format!("{TEST_API_KEY_SID}-{now}")));
    assert_eq!(
        claims["jti"],
        json!(format!(
            "{}-{}",
            claims["iss"].as_str().unwrap_or_default(),
            claims["iat"]
        ))
    );
}

#[test]
fn a_minted_token_is_signed_with_the_api_key_secret() {
    let token = signer(DEFAULT_TTL_SECS, None).mint(&alice(), Some("r"), NOW);
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(TEST_API_KEY_SECRET.as_bytes()),
        &validation,
    )
    .expect("an independent JWT library accepts the signature");
    assert_eq!(data.claims["grants"]["identity"], json!("alice"));
}

#[test]
fn a_ttl_of_zero_or_over_a_day_is_refused_when_the_signer_is_built() {
    for ttl in [0, MAX_TTL_SECS + 1, u64::MAX] {
        let err = TokenSigner::new(seeded_key(), ttl, None).expect_err("refused");
        assert_eq!(err, TokenConfigError::TtlOutOfRange(ttl));
        assert!(
            err.to_string().contains("between 1 and 86400 seconds"),
            "{err}"
        );
    }
    assert!(TokenSigner::new(seeded_key(), 1, None).is_ok());
    assert!(TokenSigner::new(seeded_key(), MAX_TTL_SECS, None).is_ok());
}

#[test]
fn an_empty_api_key_secret_is_refused_when_the_signer_is_built() {
    let key = ApiKey {
        secret: SecretString::from(""),
        ..seeded_key()
    };
    assert_eq!(
        TokenSigner::new(key, DEFAULT_TTL_SECS, None).expect_err("refused"),
        TokenConfigError::EmptySecret
    );
}

#[test]
fn debug_output_of_keys_signers_and_verifiers_never_shows_the_secret() {
    let shown = format!(
        "{:?} {:?} {:?}",
        seeded_key(),
        signer(DEFAULT_TTL_SECS, Some("jp1")),
        verifier()
    );
    assert!(!shown.contains(TEST_API_KEY_SECRET), "{shown}");
    assert!(
        shown.contains(TEST_API_KEY_SID),
        "Debug should still name the key: {shown}"
    );
}

// --- Verification --------------------------------------------------------------------------

#[test]
fn a_minted_token_verifies_and_says_who_may_join_which_room() {
    let token = signer(DEFAULT_TTL_SECS, Some("jp1")).mint(&alice(), Some("DailyStandup"), NOW);
    let verified = verifier()
        .verify(&token, NOW + 10)
        .expect("a good token verifies");
    assert_eq!(verified.identity, alice());
    assert_eq!(verified.room.as_deref(), Some("DailyStandup"));
    assert_eq!(verified.account_sid.as_str(), TEST_ACCOUNT_SID);
    assert_eq!(verified.api_key_sid.as_str(), TEST_API_KEY_SID);
    assert_eq!(verified.issued_at, Some(NOW));
    assert_eq!(verified.expires_at, NOW + 3600);
}

#[test]
fn a_token_without_a_room_verifies_with_no_room_restriction() {
    let token = signer(DEFAULT_TTL_SECS, None).mint(&alice(), None, NOW);
    assert_eq!(verifier().verify(&token, NOW).map(|v| v.room), Ok(None));
}

#[test]
fn a_token_that_is_not_a_jwt_is_refused_with_20101() {
    let header = b64(&good_header());
    let claims = b64(&good_claims());
    let not_json = URL_SAFE_NO_PAD.encode("not json");
    let cases = [
        String::new(),
        "garbage".to_owned(),
        format!("{header}.{claims}"),
        format!("{header}.{claims}.sig.extra"),
        format!("!!!.{claims}.sig"),
        format!("{not_json}.{claims}.sig"),
        format!("{header}.{not_json}.sig"),
        format!("{header}.%%%.sig"),
        with_claims(|c| c["iat"] = json!("yesterday")),
    ];
    for token in cases {
        assert_eq!(refusal(&token).code(), 20101, "{token:?}");
    }
}

#[test]
fn a_header_that_is_not_twilios_is_refused_with_20102() {
    let hs512 = {
        let mut header = jsonwebtoken::Header::new(Algorithm::HS512);
        header.cty = Some(TWILIO_CTY.to_owned());
        jsonwebtoken::encode(
            &header,
            &good_claims(),
            &EncodingKey::from_secret(TEST_API_KEY_SECRET.as_bytes()),
        )
        .expect("HS512 signing works")
    };
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "cty": TWILIO_CTY})),
        b64(&good_claims())
    );
    let cases = [
        ("alg none", alg_none),
        ("HS512", hs512),
        ("no alg", with_header(|h| h["alg"] = Value::Null)),
        ("typ JWS", with_header(|h| h["typ"] = json!("JWS"))),
        ("no typ", with_header(|h| h["typ"] = Value::Null)),
        (
            "cty v=2",
            with_header(|h| h["cty"] = json!("twilio-fpa;v=2")),
        ),
        ("no cty", with_header(|h| h["cty"] = Value::Null)),
    ];
    for (what, token) in cases {
        assert_eq!(refusal(&token).code(), 20102, "{what}");
    }
}

#[test]
fn an_issuer_or_subject_that_does_not_match_a_known_key_is_refused_with_20103() {
    let other_account = AccountSid::from_u128(0xA);
    let other_key = ApiKeySid::from_u128(0xB);
    let cases = [
        (
            "unknown iss",
            with_claims(|c| c["iss"] = json!(other_key.as_str())),
        ),
        (
            "iss is an AC",
            with_claims(|c| c["iss"] = json!(TEST_ACCOUNT_SID)),
        ),
        ("no iss", with_claims(|c| c["iss"] = Value::Null)),
        (
            "sub is an SK",
            with_claims(|c| c["sub"] = json!(TEST_API_KEY_SID)),
        ),
        ("no sub", with_claims(|c| c["sub"] = Value::Null)),
        (
            "key of another account",
            with_claims(|c| c["sub"] = json!(other_account.as_str())),
        ),
    ];
    for (what, token) in cases {
        assert_eq!(refusal(&token).code(), 20103, "{what}");
    }
}

#[test]
fn an_expired_token_is_refused_with_20104_from_the_second_of_expiry() {
    let token = signer(DEFAULT_TTL_SECS, None).mint(&alice(), None, NOW);
    assert!(verifier().verify(&token, NOW + 3599).is_ok());
    for now in [NOW + 3600, NOW + 86_400 * 365] {
        let err = verifier().verify(&token, now).expect_err("refused");
        assert_eq!(err.code(), 20104, "at {now}");
    }
}

#[test]
fn a_token_that_lives_longer_than_a_day_or_has_no_expiry_is_refused_with_20104() {
    let day = i64::try_from(MAX_TTL_SECS).expect("small");
    let exactly_a_day = with_claims(|c| c["exp"] = json!(NOW + day));
    assert!(verifier().verify(&exactly_a_day, NOW).is_ok());
    let cases = [
        (
            "a day and a second",
            with_claims(|c| c["exp"] = json!(NOW + day + 1)),
        ),
        ("no exp", with_claims(|c| c["exp"] = Value::Null)),
        (
            "no iat, far exp",
            with_claims(|c| {
                c["iat"] = Value::Null;
                c["exp"] = json!(NOW + day + 1);
            }),
        ),
    ];
    for (what, token) in cases {
        assert_eq!(refusal(&token).code(), 20104, "{what}");
    }
}

#[test]
fn a_leeway_tolerates_small_clock_differences_only() {
    let token = signer(DEFAULT_TTL_SECS, None).mint(&alice(), None, NOW);
    let lenient = verifier().with_leeway(30);
    assert!(lenient.verify(&token, NOW + 3600 + 29).is_ok());
    assert_eq!(
        lenient
            .verify(&token, NOW + 3600 + 30)
            .expect_err("refused")
            .code(),
        20104
    );
}

#[test]
fn a_token_used_before_its_nbf_is_refused_with_20105() {
    let token = signer(DEFAULT_TTL_SECS, None).mint_with(&alice(), None, NOW, Some(NOW + 60));
    assert_eq!(refusal(&token).code(), 20105);
    assert!(verifier().verify(&token, NOW + 60).is_ok());
}

#[test]
fn a_token_without_a_valid_identity_or_video_grant_is_refused_with_20106() {
    let cases = [
        ("no grants", with_claims(|c| c["grants"] = Value::Null)),
        (
            "no identity",
            with_claims(|c| c["grants"]["identity"] = Value::Null),
        ),
        (
            "empty identity",
            with_claims(|c| c["grants"]["identity"] = json!("")),
        ),
        (
            "identity with a newline",
            with_claims(|c| c["grants"]["identity"] = json!("a\nb")),
        ),
        (
            "129-character identity",
            with_claims(|c| c["grants"]["identity"] = json!("a".repeat(129))),
        ),
        (
            "numeric identity",
            with_claims(|c| c["grants"]["identity"] = json!(42)),
        ),
        (
            "no video grant",
            with_claims(|c| c["grants"]["video"] = Value::Null),
        ),
        (
            "only a chat grant",
            with_claims(|c| {
                c["grants"] = json!({"identity": "alice", "chat": {"service_sid": "IS1"}});
            }),
        ),
    ];
    for (what, token) in cases {
        assert_eq!(refusal(&token).code(), 20106, "{what}");
    }
}

#[test]
fn a_token_signed_with_another_secret_or_altered_is_refused_with_20107() {
    let good = signed(&good_header(), &good_claims());
    let (header, rest) = good.split_once('.').expect("three parts");
    let (_, signature) = rest.split_once('.').expect("three parts");
    let mut elevated = good_claims();
    elevated["grants"]["identity"] = json!("admin");
    let tampered = format!("{header}.{}.{signature}", b64(&elevated));
    let mut flipped = signature.to_owned();
    let last = if flipped.ends_with('A') { 'B' } else { 'A' };
    flipped.pop();
    flipped.push(last);
    let cases = [
        (
            "another secret",
            sign_parts(&good_header(), &good_claims(), "another-secret"),
        ),
        ("tampered payload", tampered),
        (
            "altered signature",
            format!("{header}.{}.{flipped}", b64(&good_claims())),
        ),
        ("no signature", format!("{header}.{}.", b64(&good_claims()))),
    ];
    for (what, token) in cases {
        assert_eq!(refusal(&token).code(), 20107, "{what}");
    }
}

#[test]
fn a_bad_signature_is_reported_before_any_unsigned_claim_is_trusted() {
    // A forged token that is also expired and grant-less must be called forged (20107): the
    // other verdicts would be derived from claims nobody signed.
    let forged = sign_parts(
        &good_header(),
        &json!({"iat": 1, "exp": 2, "iss": TEST_API_KEY_SID, "sub": TEST_ACCOUNT_SID}),
        "not-the-secret",
    );
    assert_eq!(refusal(&forged).code(), 20107);
}

#[test]
fn signed_tokens_with_absurd_times_are_refused_without_panicking() {
    let lenient = verifier().with_leeway(60);
    let cases = [
        (
            "exp at the end of time",
            with_claims(|c| c["exp"] = json!(i64::MAX)),
            Err(20104),
        ),
        (
            "iat and exp at both ends of time",
            with_claims(|c| {
                c["iat"] = json!(i64::MIN);
                c["exp"] = json!(i64::MAX);
            }),
            Err(20104),
        ),
        (
            "exp at the start of time",
            with_claims(|c| c["exp"] = json!(i64::MIN)),
            Err(20104),
        ),
        (
            "nbf at the end of time",
            with_claims(|c| c["nbf"] = json!(i64::MAX)),
            Err(20105),
        ),
        (
            "nbf at the start of time",
            with_claims(|c| c["nbf"] = json!(i64::MIN)),
            Ok(()),
        ),
    ];
    for (what, token, expected) in cases {
        let verdict = lenient
            .verify(&token, NOW)
            .map(|_| ())
            .map_err(|e| e.code());
        assert_eq!(verdict, expected, "{what}");
        // At the ends of time the verdict matters less than reaching one without a panic.
        for now in [i64::MIN, i64::MAX] {
            let _ = lenient.verify(&token, now);
        }
    }
}

#[test]
fn refusals_never_contain_the_token_or_the_secret() {
    let mut long_identity_claims = good_claims();
    long_identity_claims["grants"]["identity"] = json!(TEST_API_KEY_SECRET.repeat(10));
    let tokens = [
        "garbage".to_owned(),
        with_header(|h| h["alg"] = json!("HS512")),
        with_claims(|c| c["iss"] = json!(format!("SK{TEST_API_KEY_SECRET}"))),
        with_claims(|c| c["exp"] = json!(NOW - 1)),
        signed(&good_header(), &long_identity_claims),
        sign_parts(&good_header(), &good_claims(), "another-secret"),
    ];
    for token in tokens {
        let err = refusal(&token);
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(
                !shown.contains(TEST_API_KEY_SECRET),
                "secret leaked: {shown}"
            );
            assert!(!shown.contains(&token), "token leaked: {shown}");
            if let Some((_, signature)) = token.rsplit_once('.') {
                assert!(
                    signature.len() < 8 || !shown.contains(signature),
                    "signature leaked: {shown}"
                );
            }
        }
    }
}

#[test]
fn every_refusal_carries_twilios_message_for_its_code() {
    let err = refusal(&with_claims(|c| c["exp"] = json!(NOW - 5)));
    assert_eq!(
        err.to_string(),
        "Access Token expired or expiration date invalid (20104): expired 5 s ago"
    );
}
