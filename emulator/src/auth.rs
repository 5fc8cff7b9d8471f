//! HTTP Basic authentication as Twilio does it: the Account SID with the Auth Token, or an API
//! key SID of that account with its secret. Anything else is 401 with code 20003
//! ([`AUTHENTICATE`](videoroom_core::twilio_codes::AUTHENTICATE), which
//! [`ApiError::authenticate`] carries).

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::settings::EmulatorSettings;

/// Who authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The account itself (Account SID + Auth Token).
    Account,
    /// An API key of the account, by SID.
    ApiKey(String),
}

/// Checks the request's `Authorization: Basic …` header against the settings.
pub fn authenticate(req: &HttpRequest, settings: &EmulatorSettings) -> Result<Principal, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::authenticate)?;
    let (user, password) = parse_basic(value).ok_or_else(ApiError::authenticate)?;
    check(&user, &password, settings).ok_or_else(ApiError::authenticate)
}

/// The user name of the request's `Authorization: Basic …` header (an Account SID or an API
/// key SID), unchecked: it tells which account's credentials to check the request against.
pub(crate) fn basic_user(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    parse_basic(value).map(|(user, _)| user)
}

/// `Basic base64(user:password)`, scheme name case-insensitive as RFC 7617 says.
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn check(user: &str, password: &str, settings: &EmulatorSettings) -> Option<Principal> {
    // Secrets are compared in constant time; SIDs are public and compared plainly.
    let same = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
    if user == settings.account_sid.as_str() {
        return same(password, settings.auth_token.expose_secret()).then_some(Principal::Account);
    }
    settings
        .api_keys
        .iter()
        .find(|key| key.sid.as_str() == user && key.account_sid == settings.account_sid)
        .filter(|key| same(password, key.secret.expose_secret()))
        .map(|key| Principal::ApiKey(key.sid.as_str().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use videoroom_core::credentials::*;

    #[test]
    fn the_account_and_its_api_key_are_accepted() {
        let s = EmulatorSettings::seeded();
        assert_eq!(
            check(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, &s),
            Some(Principal::Account)
        );
        assert_eq!(
            check(TEST_API_KEY_SID, TEST_API_KEY_SECRET, &s),
            Some(Principal::ApiKey(TEST_API_KEY_SID.to_owned()))
        );
    }

    #[test]
    fn crossed_or_wrong_pairs_are_refused() {
        let s = EmulatorSettings::seeded();
        assert_eq!(check(TEST_ACCOUNT_SID, TEST_API_KEY_SECRET, &s), None);
        assert_eq!(check(TEST_API_KEY_SID, TEST_AUTH_TOKEN, &s), None);
        assert_eq!(check(TEST_ACCOUNT_SID, "", &s), None);
        assert_eq!(check("", "", &s), None);
    }

    #[test]
    fn the_basic_header_is_parsed_case_insensitively_and_strictly() {
        let encoded = STANDARD.encode("AC1:pa:ss");
        assert_eq!(
            parse_basic(&format!("basic {encoded}")),
            Some(("AC1".to_owned(), "pa:ss".to_owned()))
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
