//! The `passcode` mode: one shared secret that the host tells the class, as Twilio's own sample
//! token servers ship ("without it, anyone can use your video app and incur charges on your
//! account").
//!
//! The request carries it as `passcode` in the JSON body, the form body or the query string, or
//! as an `Authorization: Passcode <value>` header. It is compared in constant time, and only its
//! SHA-256 digest is kept: comparing two digests of equal length with [`subtle`] takes the same
//! time whatever the given value is, its length included, so timing tells a prober nothing.

use actix_web::http::header;
use actix_web::HttpRequest;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The configured passcode, as its digest.
pub struct Passcode {
    digest: [u8; 32],
}

impl Passcode {
    pub fn new(secret: &SecretString) -> Self {
        Self {
            digest: Sha256::digest(secret.expose_secret().as_bytes()).into(),
        }
    }

    /// Whether `given` is the passcode, in time independent of `given`.
    pub fn matches(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        given.ct_eq(&self.digest).into()
    }
}

/// The credentials of an `Authorization: <scheme> <value>` header, the scheme compared without
/// regard to case (RFC 9110 §11.1).
pub fn authorization<'a>(req: &'a HttpRequest, scheme: &str) -> Option<&'a str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, credentials) = value.trim().split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| credentials.trim())
        .filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn only_the_passcode_itself_matches() {
        let passcode = Passcode::new(&SecretString::from("tokyo-2026"));
        assert!(passcode.matches("tokyo-2026"));
        for wrong in ["", "tokyo-2025", "tokyo-2026 ", "TOKYO-2026", "tokyo-20266"] {
            assert!(!passcode.matches(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn the_header_scheme_is_case_insensitive_and_other_schemes_are_not_read() {
        let req = TestRequest::default()
            .insert_header(("Authorization", "passcode  tokyo-2026"))
            .to_http_request();
        assert_eq!(authorization(&req, "Passcode"), Some("tokyo-2026"));
        assert_eq!(authorization(&req, "Bearer"), None);
        let empty = TestRequest::default()
            .insert_header(("Authorization", "Passcode "))
            .to_http_request();
        assert_eq!(authorization(&empty, "Passcode"), None);
    }
}
