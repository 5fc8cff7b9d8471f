//! The `bearer` mode: the application's own login signs a short JWT (HS256 with
//! `VIDEOROOM_AUTH_SECRET`) and the page sends it as `Authorization: Bearer <JWT>`. Its `sub`
//! becomes the participant's identity and `exp` is required, so a client can neither choose
//! someone else's identity nor keep a stolen JWT for ever.
//!
//! Verification is `jsonwebtoken`'s: the algorithm is pinned to HS256 (a token claiming `none`
//! or RS256 is refused before any key is tried), `exp` and `nbf` are checked with a 30-second
//! leeway for clock skew between the login server and this one.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use videoroom_core::Identity;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// Checks bearer JWTs against the configured secret.
pub struct BearerVerifier {
    key: DecodingKey,
    validation: Validation,
}

/// Why a bearer JWT was refused: logged at debug, never sent (the client gets one answer for
/// every reason, so that it learns nothing about the secret or the checks).
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error("the JWT does not verify: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the JWT's sub is not a usable identity: {0}")]
    Subject(#[from] videoroom_core::IdentityError),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

impl BearerVerifier {
    pub fn new(secret: &SecretString) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        }
    }

    /// The identity a valid JWT vouches for.
    pub fn verify(&self, token: &str) -> Result<Identity, BearerError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)?;
        Ok(Identity::parse(&data.claims.sub)?)
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn sign(claims: serde_json::Value, secret: &str, alg: Algorithm) -> String {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("HMAC signing cannot fail")
    }

    #[test]
    fn a_signed_unexpired_jwt_yields_its_subject() {
        let verifier = BearerVerifier::new(&SecretString::from(SECRET));
        let token = sign(
            json!({"sub": "alice", "exp": now() + 600}),
            SECRET,
            Algorithm::HS256,
        );
        assert_eq!(verifier.verify(&token).unwrap().as_str(), "alice");
    }

    #[test]
    fn expired_unsigned_foreign_or_subjectless_jwts_are_refused() {
        let verifier = BearerVerifier::new(&SecretString::from(SECRET));
        let refused = [
            sign(
                json!({"sub": "alice", "exp": now() - 3600}),
                SECRET,
                Algorithm::HS256,
            ),
            sign(json!({"sub": "alice"}), SECRET, Algorithm::HS256),
            sign(json!({"exp": now() + 600}), SECRET, Algorithm::HS256),
            sign(
                json!({"sub": "", "exp": now() + 600}),
                SECRET,
                Algorithm::HS256,
            ),
            sign(
                json!({"sub": "alice", "exp": now() + 600, "nbf": now() + 3600}),
                SECRET,
                Algorithm::HS256,
            ),
            sign(
                json!({"sub": "alice", "exp": now() + 600}),
                "another-secret-another-secret-xx",
                Algorithm::HS256,
            ),
            sign(
                json!({"sub": "alice", "exp": now() + 600}),
                SECRET,
                Algorithm::HS512,
            ),
            // `alg: none` with the signature dropped.
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0."
                .to_owned(),
            "not a jwt".to_owned(),
        ];
        for token in refused {
            assert!(verifier.verify(&token).is_err(), "{token}");
        }
    }
}
