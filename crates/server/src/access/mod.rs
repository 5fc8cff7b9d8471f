//! Access control of `/video-token` (issue 13): off in emulator mode, required to expose twilio
//! mode, where every token can cost the owner money.
//!
//! A token request passes these checks in this order; the first that fails answers:
//!
//! | Step | Check | Refusal |
//! |---|---|---|
//! | who | `auth.mode`: none, the workshop's passcode ([`passcode`]), or a bearer JWT from the application's login ([`bearer`]) | 401 `unauthorized`, the same answer whether the credential was missing or wrong |
//! | how often | the client's token bucket ([`rate_limit`]), counted before the verdict of "who" is given, so guessing costs as much as asking | 429 `rate_limited`, `Retry-After` |
//! | as whom | a bearer JWT's `sub` is the identity; a request naming another one is refused | 403 `identity_mismatch` |
//! | which room | `room.allowed` ([`room_policy`]) | 403 `room_not_allowed`, no upstream call |
//! | how many rooms | the server's cap on creations per minute ([`rate_limit::CappedBackend`]) | 429 `room_creation_limited`, `Retry-After` |
//!
//! Then, if `token.identity_suffix` is on, a short random suffix is added to the identity, so two
//! attendees who type the same name do not disconnect each other (Twilio error 53205); the
//! answer's `identity` carries the final value.
//!
//! Cross-origin pages: `/video-token` answers CORS only for the origins of
//! `server.allowed_origins` (the same list that lets those pages `POST`; see
//! `videoroom_emulator::guard`), and answers their preflight. None by default.
//!
//! At start-up, [`check_exposure`] refuses twilio mode on a non-loopback address with no auth,
//! unless the operator opts out with `--insecure-public`.

pub mod bearer;
pub mod client_address;
pub mod passcode;
pub mod rate_limit;
pub mod room_policy;

use std::num::NonZeroU32;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use videoroom_core::identity::MAX_IDENTITY_CHARS;
use videoroom_core::{Identity, RoomBackend, RoomName};

use crate::error::ApiError;
use crate::settings::{BackendKind, Settings};
use bearer::BearerVerifier;
pub use client_address::TrustedProxies;
use passcode::Passcode;
use rate_limit::{CappedBackend, ClientKey, ClientLimiter, CreationCap};
pub use room_policy::RoomPatterns;

/// Who may get a token.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, strum::IntoStaticStr, strum::Display,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum AuthMode {
    /// Anyone who can reach the server (the emulator's default; refused for twilio mode on a
    /// public address unless `--insecure-public`).
    #[default]
    None,
    /// Whoever knows `VIDEOROOM_PASSCODE`.
    Passcode,
    /// Whoever holds a JWT signed with `VIDEOROOM_AUTH_SECRET`.
    Bearer,
}

/// The auth mode with the secret it needs. `Debug` never shows the secret.
#[derive(Debug, Clone)]
pub enum AuthSettings {
    None,
    Passcode(SecretString),
    Bearer(SecretString),
}

impl AuthSettings {
    pub fn mode(&self) -> AuthMode {
        match self {
            AuthSettings::None => AuthMode::None,
            AuthSettings::Passcode(_) => AuthMode::Passcode,
            AuthSettings::Bearer(_) => AuthMode::Bearer,
        }
    }
}

/// The access-control settings, validated (see `settings::access`).
#[derive(Debug, Clone)]
pub struct AccessSettings {
    pub auth: AuthSettings,
    /// Twilio mode on a public address without auth, on purpose.
    pub insecure_public: bool,
    /// Rooms a request may name besides `room.name`; `None` allows any.
    pub allowed_rooms: Option<RoomPatterns>,
    /// Requests one client may make at once before its rate applies.
    pub token_burst: NonZeroU32,
    /// Requests one client may make per minute, sustained; `None` is no limit.
    pub token_rate: Option<NonZeroU32>,
    /// Rooms the server may create per minute; `None` is no cap.
    pub room_creations: Option<NonZeroU32>,
    /// Whether a short random suffix is added to every identity.
    pub identity_suffix: bool,
    /// Reverse proxies whose forwarding headers name the client ([`client_address`]).
    pub trusted_proxies: TrustedProxies,
}

/// A refusal to start: twilio mode reachable from the network and no auth.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to start: --backend twilio on {host}, which is not a loopback address, with no access control would let anyone who reaches this server mint tokens and create rooms on your Twilio account. \
     Choose who may get a token with --auth passcode (and VIDEOROOM_PASSCODE) or --auth bearer (and VIDEOROOM_AUTH_SECRET), \
     bind to 127.0.0.1 behind a reverse proxy that authenticates, \
     or, if something else already protects this server, say so with --insecure-public"
)]
pub struct ExposureError {
    host: std::net::IpAddr,
}

/// Refuses twilio mode on a non-loopback address without auth unless `--insecure-public`, and
/// warns at every start when that opt-out is in force.
pub fn check_exposure(settings: &Settings) -> Result<(), ExposureError> {
    let exposed = settings.backend == BackendKind::Twilio
        && !settings.host.is_loopback()
        && settings.access.auth.mode() == AuthMode::None;
    if !exposed {
        return Ok(());
    }
    if settings.access.insecure_public {
        tracing::warn!(
            host = %settings.host,
            "--insecure-public: twilio mode on a non-loopback address with no access control; anyone who reaches this server can mint tokens and create rooms on the Twilio account"
        );
        return Ok(());
    }
    Err(ExposureError {
        host: settings.host,
    })
}

enum Gate {
    Open,
    Passcode(Passcode),
    // Boxed: the verifier's key and validation rules are ten times the size of the others.
    Bearer(Box<BearerVerifier>),
}

/// The access checks, built once from the settings and shared by every worker.
pub struct Access {
    gate: Gate,
    limiter: Option<ClientLimiter>,
    rooms: Option<RoomPatterns>,
    creations: Option<Arc<CreationCap>>,
    identity_suffix: bool,
    trusted_proxies: TrustedProxies,
}

/// A request that passed "who" and "how often".
#[derive(Debug)]
pub struct Caller {
    /// The identity a bearer JWT vouched for.
    subject: Option<Identity>,
}

/// What a passcode-mode client is told, whether its passcode was missing or wrong.
const PASSCODE_NEEDED: &str = "this token service needs the passcode your host gave you: send it as passcode in the JSON or form body or the query string, or as an Authorization: Passcode header";
/// What a bearer-mode client is told, whatever was wrong with its JWT.
const BEARER_NEEDED: &str = "this token service needs a valid Authorization: Bearer token from the application's login (an HS256 JWT with sub and exp); sign in again";

impl Access {
    pub fn new(settings: &AccessSettings) -> Self {
        let gate = match &settings.auth {
            AuthSettings::None => Gate::Open,
            AuthSettings::Passcode(secret) => Gate::Passcode(Passcode::new(secret)),
            AuthSettings::Bearer(secret) => Gate::Bearer(Box::new(BearerVerifier::new(secret))),
        };
        Self {
            gate,
            limiter: settings
                .token_rate
                .map(|rate| ClientLimiter::new(settings.token_burst, rate)),
            rooms: settings.allowed_rooms.clone(),
            creations: settings
                .room_creations
                .map(|n| Arc::new(CreationCap::new(n))),
            identity_suffix: settings.identity_suffix,
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// The client's address: the peer's, or behind a trusted proxy the one its forwarding
    /// headers name ([`client_address`]). `None` only for a request without a socket (unit
    /// tests).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<std::net::IpAddr> {
        let peer = req.peer_addr()?.ip();
        Some(self.trusted_proxies.client(peer, req.headers()))
    }

    /// The backend with the room-creation cap in front, when there is one.
    pub fn guard_backend(&self, backend: Arc<dyn RoomBackend>) -> Arc<dyn RoomBackend> {
        match &self.creations {
            Some(cap) => Arc::new(CappedBackend::new(backend, Arc::clone(cap))),
            None => backend,
        }
    }

    /// "Who" and "how often": the request's credential (the `passcode` it carried in its
    /// parameters, if any, or its `Authorization` header) and its client's bucket.
    pub fn admit(
        &self,
        req: &HttpRequest,
        passcode: Option<&SecretString>,
    ) -> Result<Caller, ApiError> {
        let verdict = match &self.gate {
            Gate::Open => Ok(None),
            Gate::Passcode(expected) => {
                let given = passcode::authorization(req, "Passcode")
                    .or_else(|| passcode.map(|p| p.expose_secret()));
                match given {
                    Some(given) if expected.matches(given) => Ok(None),
                    _ => Err(ApiError::Unauthorized {
                        scheme: "Passcode",
                        message: PASSCODE_NEEDED,
                    }),
                }
            }
            Gate::Bearer(verifier) => match passcode::authorization(req, "Bearer") {
                Some(jwt) => verifier.verify(jwt).map(Some).map_err(|e| {
                    tracing::debug!(reason = %e, "refused a bearer JWT");
                    ApiError::Unauthorized {
                        scheme: "Bearer",
                        message: BEARER_NEEDED,
                    }
                }),
                None => Err(ApiError::Unauthorized {
                    scheme: "Bearer",
                    message: BEARER_NEEDED,
                }),
            },
        };
        if let Some(limiter) = &self.limiter {
            let key = match &verdict {
                Ok(Some(subject)) => ClientKey::Subject(subject.clone()),
                // No peer address only happens in unit tests without a socket.
                _ => ClientKey::address(
                    self.client_ip(req)
                        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
                ),
            };
            limiter.check(&key).map_err(|retry_after| {
                // Debug: the request log already has the 429, and a client over its rate must
                // not be able to double the log's lines.
                tracing::debug!(client = ?key, "refused a token request: the client is over its rate");
                ApiError::ClientRateLimited { retry_after }
            })?;
        }
        verdict.map(|subject| Caller { subject })
    }

    /// "As whom": the identity the token is for. A bearer JWT's `sub` wins; a request that names
    /// another identity is refused. Then the suffix, if configured.
    pub fn identity(&self, caller: &Caller, requested: Option<&str>) -> Result<Identity, ApiError> {
        let base = match (&caller.subject, requested) {
            // An empty `identity` (a blank form field) means "not given" beside a JWT.
            (Some(subject), Some(requested))
                if !requested.is_empty() && requested != subject.as_str() =>
            {
                return Err(ApiError::IdentityMismatch)
            }
            (Some(subject), _) => subject.clone(),
            (None, Some(requested)) => {
                Identity::parse(requested).map_err(|e| ApiError::invalid_identity(&e))?
            }
            (None, None) => return Err(ApiError::MissingIdentity),
        };
        Ok(if self.identity_suffix {
            with_suffix(&base)
        } else {
            base
        })
    }

    /// "Which room": `room` must be the configured one or match `room.allowed`.
    pub fn check_room(&self, room: &RoomName, configured: &RoomName) -> Result<(), ApiError> {
        match &self.rooms {
            Some(allowed) if room != configured && !allowed.allows(room) => {
                Err(ApiError::RoomNotAllowed(room.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// A backend failure as the client sees it: the creation cap's refusal is 429 (the client
    /// should slow down); any other failure keeps its own mapping.
    pub fn backend_error(&self, e: ApiError) -> ApiError {
        let capped = matches!(
            e,
            ApiError::BackendRejected { code } if code == videoroom_core::twilio_codes::TOO_MANY_REQUESTS
        );
        if let (true, Some(cap)) = (capped, &self.creations) {
            if let Some(retry_after) = cap.refusing() {
                return ApiError::RoomCreationLimited { retry_after };
            }
        }
        e
    }
}

/// Characters of the random suffix: 4 hex digits, so two attendees who type the same name
/// collide once in 65,536, and the name stays readable in the room.
const SUFFIX_CHARS: usize = 4;

/// `alice` → `alice-3f9a`, shortening a name at the length limit so the result stays valid.
fn with_suffix(base: &Identity) -> Identity {
    let random = uuid::Uuid::new_v4().simple().to_string();
    let keep = MAX_IDENTITY_CHARS - SUFFIX_CHARS - 1;
    let stem: String = base.as_str().chars().take(keep).collect();
    Identity::parse(&format!("{stem}-{}", &random[..SUFFIX_CHARS]))
        .expect("a valid identity cut to fit, a dash and hex digits is a valid identity")
}

/// `OPTIONS /video-token`: the CORS preflight of a page on another origin (the CORS headers
/// themselves are added by `videoroom_emulator::guard::cors` for configured origins only), or a
/// plain question about the methods.
pub async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ALLOW, "GET, POST, OPTIONS"))
        .finish()
}

/// The token route with its preflight answered when `cors` (some origin is configured). With no
/// origin configured there is no CORS at all, and `OPTIONS` stays a method the route does not
/// have (405), as before CORS existed.
pub fn with_cors<T>(resource: actix_web::Resource<T>, cors: bool) -> actix_web::Resource<T>
where
    T: actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Error = actix_web::Error,
        InitError = (),
    >,
{
    if cors {
        resource.route(actix_web::web::method(actix_web::http::Method::OPTIONS).to(preflight))
    } else {
        resource
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suffixed_identity_keeps_the_name_and_stays_within_the_limit() {
        let alice = Identity::parse("alice").unwrap();
        let a = with_suffix(&alice);
        assert!(a.as_str().starts_with("alice-"), "{a}");
        assert_eq!(a.as_str().len(), "alice-".len() + SUFFIX_CHARS);
        // Five draws that are all equal would happen once in 65,536⁴.
        let draws: std::collections::HashSet<Identity> =
            (0..5).map(|_| with_suffix(&alice)).collect();
        assert!(
            draws.len() > 1,
            "two attendees named alice get two identities"
        );
        let long = Identity::parse(&"é".repeat(MAX_IDENTITY_CHARS)).unwrap();
        assert_eq!(
            with_suffix(&long).as_str().chars().count(),
            MAX_IDENTITY_CHARS
        );
    }
}
