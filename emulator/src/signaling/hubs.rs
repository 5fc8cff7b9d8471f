//! One hub per account, and the choice of the hub a `connect` goes to.
//!
//! Each account has its own store (see [`crate::accounts`]), so each has its own hub over it,
//! verifying tokens with that account's API keys only. A `connect` goes to the hub of the
//! account whose key signed its token, read from the token's unverified `iss` claim; that hub
//! then verifies the token fully. So a token of account B joins B's rooms, a token whose `sub`
//! names another account than its key's is refused by the key's hub (20103, as Twilio does),
//! and a token of no known key goes to the first account's hub, which refuses it with the code
//! it always gave (20103 for an unknown key, 20101 for text that is no token).

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::hub::Hub;

/// Every account's hub; the first is the first account's. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hubs {
    all: Arc<[Arc<Hub>]>,
    /// Which hub each API key SID belongs to (an index into `all`).
    by_key: Arc<HashMap<String, usize>>,
}

impl Hubs {
    /// `all[0]` is the first account's hub; `keys` names, for each hub, the SIDs of its
    /// account's API keys.
    pub fn new(all: Vec<Arc<Hub>>, keys: Vec<Vec<String>>) -> Self {
        let by_key = keys
            .into_iter()
            .enumerate()
            .flat_map(|(i, sids)| sids.into_iter().map(move |sid| (sid, i)))
            .collect();
        Self {
            all: all.into(),
            by_key: Arc::new(by_key),
        }
    }

    /// The first account's hub.
    pub fn first(&self) -> Arc<Hub> {
        Arc::clone(&self.all[0])
    }

    /// Every hub, the first account's first.
    pub fn all(&self) -> &[Arc<Hub>] {
        &self.all
    }

    /// The hub of the account whose API key the token names as its issuer; the first
    /// account's when it names none this emulator knows.
    pub fn for_token(&self, token: Option<&str>) -> Arc<Hub> {
        token
            .and_then(issuer)
            .and_then(|iss| self.by_key.get(&iss))
            .map_or_else(|| self.first(), |&i| Arc::clone(&self.all[i]))
    }
}

/// The `iss` claim of a JWT, read without checking anything else (the hub it selects does).
fn issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Claims>(&bytes).ok().map(|c| c.iss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_is_read_from_the_payload_and_garbage_reads_as_none() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"SK1","sub":"AC1"}"#);
        assert_eq!(issuer(&format!("h.{payload}.s")).as_deref(), Some("SK1"));
        assert_eq!(issuer("not a token"), None);
        assert_eq!(issuer("a.%%%.c"), None);
        let no_iss = URL_SAFE_NO_PAD.encode(r#"{"sub":"AC1"}"#);
        assert_eq!(issuer(&format!("h.{no_iss}.s")), None);
    }
}
