//! [`TwilioAdapter`]: the port over HTTP, with retries.

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use url::Url;
use videoroom_core::twilio_codes;
use videoroom_core::{
    BackendError, Room, RoomBackend, RoomKey, RoomPage, RoomQuery, RoomSpec, RoomStatus,
};

use crate::check::{CheckError, CheckReport, Unreachable};
use crate::config::{ConfigError, TwilioConfig};
use crate::retry::{backoff_step, jittered, retry_after, Failure, Repeat};
use crate::wire::{
    CompleteRoomForm, CreateRoomForm, ListRoomsQuery, PageJson, RoomJson, TwilioErrorJson,
};

/// Answers larger than this are refused rather than buffered: a page of 1000 rooms is about
/// 1.5 MB, so anything beyond is not Twilio's Video API.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// Twilio's messages are short sentences; longer ones are cut so that an odd upstream cannot
/// flood logs or the token service's answers.
const MAX_MESSAGE_CHARS: usize = 240;

/// The backend port over Twilio's Video REST API. Cheap to clone (one shared connection pool).
#[derive(Clone)]
pub struct TwilioAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    config: TwilioConfig,
    http: reqwest::Client,
    /// The effective base URL (region and edge applied).
    base: Url,
    /// `{base}/v1/Rooms`.
    rooms: Url,
    /// `host[:port]` of `base`, for messages.
    host: String,
}

impl std::fmt::Debug for TwilioAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioAdapter")
            .field("base", &self.inner.base.as_str())
            .field("config", &self.inner.config)
            .finish()
    }
}

/// One HTTP exchange to make, perhaps several times.
struct Call {
    method: Method,
    url: Url,
    form: Option<String>,
    repeat: Repeat,
}

/// A complete HTTP answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Why an attempt got no complete answer.
enum AttemptError {
    Http(reqwest::Error),
    TooLarge,
}

/// The result of a call and whether any failed attempt may have been acted on by Twilio.
struct Outcome {
    result: Result<Answer, BackendError>,
    maybe_processed_earlier: bool,
}

impl TwilioAdapter {
    /// An adapter for `config`, refused when a setting cannot work.
    pub fn new(config: TwilioConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let base = config.effective_base_url()?;
        let mut rooms = base.clone();
        rooms
            .path_segments_mut()
            .map_err(|_| ConfigError::InvalidBaseUrl(base.to_string()))?
            .pop_if_empty()
            .extend(["v1", "Rooms"]);
        // `effective_base_url` refuses URLs without a host; an empty host here would make every
        // message name no host at all, so the refusal is repeated rather than defaulted.
        let host_name = base
            .host_str()
            .ok_or_else(|| ConfigError::InvalidBaseUrl(base.to_string()))?;
        let host = match base.port() {
            Some(port) => format!("{host_name}:{port}"),
            None => host_name.to_owned(),
        };
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.connect_timeout)
            // Twilio's API does not redirect; following one would send our credentials to
            // wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("videoroom/", env!("CARGO_PKG_VERSION")));
        if TwilioConfig::is_loopback(&base) {
            // A local emulator must not be reached through a corporate proxy from the
            // environment (it could not route back to this machine).
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
                base,
                rooms,
                host,
            }),
        })
    }

    /// The settings this adapter was built with.
    pub fn config(&self) -> &TwilioConfig {
        &self.inner.config
    }

    /// The base URL requests go to (region and edge applied).
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// Verifies the credentials with one cheap request (`GET /v1/Rooms?PageSize=1`), without
    /// retries, and explains a failure.
    pub async fn check(&self) -> Result<CheckReport, CheckError> {
        let inner = &self.inner;
        let host = inner.host.clone();
        let mut url = inner.rooms.clone();
        url.set_query(Some(&encode(&ListRoomsQuery::probe())));
        let started = Instant::now();
        let answer = match self.attempt(&Call::get(url), inner.config.timeout).await {
            Ok(answer) => answer,
            Err(AttemptError::TooLarge) => {
                return Err(CheckError::UnexpectedAnswer {
                    host,
                    detail: "the answer is larger than 8 MiB".into(),
                })
            }
            Err(AttemptError::Http(e)) if e.is_connect() => {
                return Err(CheckError::Unreachable {
                    host,
                    reason: unreachable_reason(&e, inner.config.connect_timeout),
                })
            }
            Err(AttemptError::Http(e)) if e.is_timeout() => {
                return Err(CheckError::TimedOut {
                    host,
                    after: inner.config.timeout,
                })
            }
            Err(AttemptError::Http(e)) => {
                return Err(CheckError::Unreachable {
                    host,
                    reason: Unreachable::Other(root_cause(&e)),
                })
            }
        };
        let elapsed = started.elapsed();
        let api_key_sid = inner.config.api_key_sid.clone();
        let status = answer.status;
        if !status.is_success() {
            let code = twilio_error(&answer.body).and_then(|e| e.code);
            return Err(match (status.as_u16(), self.answer_error(&answer)) {
                (403, _) => CheckError::Forbidden {
                    host,
                    api_key_sid,
                    code,
                },
                (_, BackendError::Unauthorized) => CheckError::BadCredentials { host, api_key_sid },
                (_, BackendError::RateLimited { retry_after }) => {
                    CheckError::RateLimited { host, retry_after }
                }
                (500..=599, _) => CheckError::ServerError {
                    host,
                    status: status.as_u16(),
                },
                (_, BackendError::NotFound) => CheckError::UnexpectedAnswer {
                    host,
                    detail: "HTTP 404: there is no room list at /v1/Rooms".into(),
                },
                (_, BackendError::Invalid { code, message }) => CheckError::Refused {
                    host,
                    status: status.as_u16(),
                    code,
                    message,
                },
                _ => CheckError::UnexpectedAnswer {
                    host,
                    detail: format!("HTTP {}", status.as_u16()),
                },
            });
        }
        let page: PageJson =
            parse_json(&answer.body).map_err(|detail| CheckError::UnexpectedAnswer {
                host: host.clone(),
                detail,
            })?;
        let configured = inner.config.account_sid.clone();
        let listed = page.rooms.first().and_then(|r| r.account_sid.clone());
        let account_confirmed = match listed {
            Some(actual) if !actual.eq_ignore_ascii_case(configured.as_str()) => {
                return Err(CheckError::AccountMismatch {
                    api_key_sid,
                    configured,
                    actual: actual.chars().take(34).collect(),
                })
            }
            Some(_) => true,
            None => false,
        };
        Ok(CheckReport {
            base_url: inner.base.clone(),
            api_key_sid,
            account_sid: configured,
            account_confirmed,
            elapsed,
        })
    }

    fn room_url(&self, key: &RoomKey) -> Url {
        let mut url = self.inner.rooms.clone();
        // Pushing a segment percent-encodes it, so names with spaces or non-ASCII letters
        // address the right room; RoomName already refuses '/' and '?'.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(key.as_path_segment());
        }
        url
    }

    /// The URL of a page token: an absolute `next_page_url` of this adapter's room list, on
    /// the configured host (as configured, or after the region rewrite). Anything else is
    /// refused, so a token can never send our credentials elsewhere.
    fn page_url(&self, token: &str) -> Result<Url, BackendError> {
        let invalid = || BackendError::Invalid {
            code: twilio_codes::INVALID_PAGE_TOKEN,
            message: format!(
                "Invalid PageToken: not a next_page_url of {}'s room list",
                self.inner.host
            ),
        };
        let url = Url::parse(token).map_err(|_| invalid())?;
        let same_origin = |other: &Url| {
            url.scheme() == other.scheme()
                && url.host_str().map(str::to_ascii_lowercase)
                    == other.host_str().map(str::to_ascii_lowercase)
                && url.port_or_known_default() == other.port_or_known_default()
        };
        let on_our_host = same_origin(&self.inner.base) || same_origin(&self.inner.config.base_url);
        if !on_our_host || url.path() != self.inner.rooms.path() || url.fragment().is_some() {
            return Err(invalid());
        }
        let mut target = self.inner.rooms.clone();
        target.set_query(url.query());
        Ok(target)
    }

    /// Sends `call`, repeating it as the retry policy allows (see [`crate::retry`]).
    async fn execute(&self, call: Call) -> Outcome {
        let config = &self.inner.config;
        let started = Instant::now();
        let mut retries = 0u32;
        let mut maybe_processed_earlier = false;
        loop {
            let remaining = config.retry_budget.saturating_sub(started.elapsed());
            let attempt = self.attempt(&call, config.timeout.min(remaining)).await;
            let (failure, hint, error) = match attempt {
                Ok(answer) if answer.status.is_success() => {
                    return Outcome {
                        result: Ok(answer),
                        maybe_processed_earlier,
                    }
                }
                Ok(answer) => {
                    let error = self.answer_error(&answer);
                    let failure = match &error {
                        BackendError::RateLimited { .. } => Failure::Throttled,
                        _ if answer.status.is_server_error() => Failure::ServerError,
                        _ => {
                            return Outcome {
                                result: Err(error),
                                maybe_processed_earlier,
                            }
                        }
                    };
                    (failure, retry_after(&answer.headers), error)
                }
                Err(AttemptError::TooLarge) => {
                    return Outcome {
                        result: Err(BackendError::Other(format!(
                            "{} sent an answer larger than 8 MiB",
                            self.inner.host
                        ))),
                        maybe_processed_earlier,
                    }
                }
                Err(AttemptError::Http(e)) => {
                    let failure = if e.is_connect() {
                        Failure::Connect
                    } else {
                        Failure::Transport
                    };
                    let remaining_timeout = config.timeout.min(remaining);
                    (failure, None, self.transport_error(&e, remaining_timeout))
                }
            };
            let attempts = retries + 1;
            let wait = jittered(backoff_step(
                config.initial_backoff,
                config.max_backoff,
                retries,
            ))
            .max(hint.unwrap_or_default());
            let fits = started.elapsed() + wait < config.retry_budget;
            let allowed = retries < config.max_retries && call.repeat.allows(failure);
            if matches!(failure, Failure::ServerError | Failure::Transport) {
                maybe_processed_earlier = true;
            }
            if !(allowed && fits) {
                return Outcome {
                    result: Err(after_attempts(error, attempts)),
                    maybe_processed_earlier,
                };
            }
            tracing::warn!(
                method = %call.method,
                path = call.url.path(),
                attempt = attempts,
                failure = ?failure,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "Twilio request failed; retrying"
            );
            crate::retry::count_retry();
            tokio::time::sleep(wait).await;
            retries += 1;
        }
    }

    /// One HTTP exchange, the answer read completely within `timeout`.
    async fn attempt(&self, call: &Call, timeout: Duration) -> Result<Answer, AttemptError> {
        let config = &self.inner.config;
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .basic_auth(
                config.api_key_sid.as_str(),
                Some(config.api_key_secret.expose_secret()),
            )
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .timeout(timeout);
        if let Some(form) = &call.form {
            request = request
                .header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                )
                .body(form.clone());
        }
        tracing::debug!(method = %call.method, path = call.url.path(), "Twilio request");
        let mut response = request.send().await.map_err(AttemptError::Http)?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(AttemptError::Http)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(AttemptError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The port's error for a non-2xx answer, from Twilio's error JSON when there is one.
    fn answer_error(&self, answer: &Answer) -> BackendError {
        let status = answer.status.as_u16();
        let twilio = twilio_error(&answer.body);
        let code = twilio.as_ref().and_then(|e| e.code);
        match (status, code) {
            (_, Some(twilio_codes::ROOM_EXISTS)) => BackendError::RoomExists,
            (429, _) | (_, Some(twilio_codes::TOO_MANY_REQUESTS)) => BackendError::RateLimited {
                retry_after: retry_after(&answer.headers),
            },
            (401, _) | (_, Some(twilio_codes::AUTHENTICATE)) => BackendError::Unauthorized,
            (404, _) | (_, Some(twilio_codes::NOT_FOUND)) => BackendError::NotFound,
            (500..=599, _) => BackendError::Unavailable(format!(
                "{} failed on its side (HTTP {status}{})",
                self.inner.host,
                code.map(|c| format!(", code {c}")).unwrap_or_default()
            )),
            (400..=499, _) => BackendError::Invalid {
                code: code.unwrap_or(u32::from(status)),
                message: twilio
                    .and_then(|e| e.message)
                    .map(|m| self.clean_message(&m))
                    .unwrap_or_else(|| format!("HTTP {status} without Twilio's error body")),
            },
            _ => BackendError::Other(format!(
                "{} answered with the unexpected HTTP status {status}",
                self.inner.host
            )),
        }
    }

    /// Twilio's message, cut short, without control characters, and never with our secret
    /// (an upstream echoing request headers back must not put it in our errors).
    fn clean_message(&self, message: &str) -> String {
        let secret = self.inner.config.api_key_secret.expose_secret();
        let redacted = if secret.is_empty() {
            message.to_owned()
        } else {
            message.replace(secret, "[redacted]")
        };
        let mut clean: String = redacted
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_MESSAGE_CHARS)
            .collect();
        if redacted.chars().count() > MAX_MESSAGE_CHARS {
            clean.push('…');
        }
        clean
    }

    fn transport_error(&self, e: &reqwest::Error, timeout: Duration) -> BackendError {
        let host = &self.inner.host;
        let config = &self.inner.config;
        BackendError::Unavailable(if e.is_connect() {
            format!(
                "could not connect to {host}: {}",
                unreachable_reason(e, config.connect_timeout)
            )
        } else if e.is_timeout() {
            format!(
                "no complete answer from {host} within {} ms",
                timeout.as_millis()
            )
        } else {
            format!("the exchange with {host} failed: {}", root_cause(e))
        })
    }

    async fn room_call(&self, call: Call) -> Result<Room, BackendError> {
        let answer = self.execute(call).await.result?;
        self.room_from(&answer)
    }

    fn room_from(&self, answer: &Answer) -> Result<Room, BackendError> {
        let room: RoomJson = parse_json(&answer.body).map_err(|detail| {
            BackendError::Other(format!(
                "{} sent a room we cannot read: {detail}",
                self.inner.host
            ))
        })?;
        room.into_room().map_err(|detail| {
            BackendError::Other(format!(
                "{} sent a room we cannot read: {detail}",
                self.inner.host
            ))
        })
    }
}

impl Call {
    fn get(url: Url) -> Self {
        Self {
            method: Method::GET,
            url,
            form: None,
            repeat: Repeat::Always,
        }
    }

    fn post(url: Url, form: String, repeat: Repeat) -> Self {
        Self {
            method: Method::POST,
            url,
            form: Some(form),
            repeat,
        }
    }
}

#[async_trait]
impl RoomBackend for TwilioAdapter {
    async fn create_room(&self, spec: &RoomSpec) -> Result<Room, BackendError> {
        let form = encode(&CreateRoomForm::from_spec(spec));
        let call = Call::post(self.inner.rooms.clone(), form, Repeat::OnlyIfUnprocessed);
        self.room_call(call).await
    }

    async fn fetch_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        self.room_call(Call::get(self.room_url(key))).await
    }

    async fn list_rooms(&self, query: &RoomQuery) -> Result<RoomPage, BackendError> {
        let url = match &query.page_token {
            Some(token) => self.page_url(token)?,
            None => {
                let mut url = self.inner.rooms.clone();
                let encoded = encode(&ListRoomsQuery::from_query(query));
                url.set_query((!encoded.is_empty()).then_some(encoded.as_str()));
                url
            }
        };
        let answer = self.execute(Call::get(url)).await.result?;
        let host = &self.inner.host;
        let page: PageJson = parse_json(&answer.body).map_err(|detail| {
            BackendError::Other(format!("{host} sent a room list we cannot read: {detail}"))
        })?;
        let rooms = page
            .rooms
            .into_iter()
            .map(RoomJson::into_room)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|detail| {
                BackendError::Other(format!("{host} sent a room we cannot read: {detail}"))
            })?;
        let next_page = page
            .meta
            .and_then(|m| m.next_page_url)
            .filter(|u| !u.is_empty())
            // Twilio sends absolute URLs; a relative one is made absolute so the token always
            // names its host and can be checked when it comes back.
            .map(|u| match self.inner.base.join(&u) {
                Ok(absolute) => absolute.to_string(),
                Err(_) => u,
            });
        Ok(RoomPage { rooms, next_page })
    }

    async fn complete_room(&self, key: &RoomKey) -> Result<Room, BackendError> {
        let repeat = match key {
            RoomKey::Sid(_) => Repeat::Always,
            RoomKey::Name(_) => Repeat::OnlyIfUnprocessed,
        };
        let form = encode(&CompleteRoomForm {
            status: RoomStatus::Completed,
        });
        let outcome = self
            .execute(Call::post(self.room_url(key), form, repeat))
            .await;
        match outcome.result {
            Ok(answer) => self.room_from(&answer),
            // An earlier attempt may have completed the room before its answer was lost; the
            // repeat is then refused as "not in progress". Fetching by SID tells which.
            Err(BackendError::Invalid { code, message })
                if code == twilio_codes::ROOM_STATUS_INVALID
                    && outcome.maybe_processed_earlier
                    && matches!(key, RoomKey::Sid(_)) =>
            {
                match self.fetch_room(key).await {
                    Ok(room) if room.status == RoomStatus::Completed => Ok(room),
                    _ => Err(BackendError::Invalid { code, message }),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// A form body or query string. Only this crate's flat wire structs are encoded, and
/// serde_urlencoded encodes any flat struct of strings and numbers, so this cannot fail; an
/// empty body instead would silently create a room with every default.
fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_urlencoded::to_string(value)
        .expect("a flat struct of strings and numbers always encodes as a form")
}

fn twilio_error(body: &[u8]) -> Option<TwilioErrorJson> {
    serde_json::from_slice(body).ok()
}

/// Parses JSON, describing a failure by position only (serde's messages quote the input).
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "unexpected JSON fields",
            serde_json::error::Category::Eof => "truncated JSON",
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => "not JSON",
        };
        format!("{what} at line {}, column {}", e.line(), e.column())
    })
}

/// Says how an error's final cause describes itself: the most specific text available.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string().chars().take(MAX_MESSAGE_CHARS).collect()
}

fn unreachable_reason(e: &reqwest::Error, connect_timeout: Duration) -> Unreachable {
    let mut source = e.source();
    let mut chain = String::new();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return Unreachable::ConnectionRefused;
            }
        }
        chain.push_str(&err.to_string().to_ascii_lowercase());
        chain.push(' ');
        source = err.source();
    }
    if e.is_timeout() {
        Unreachable::ConnectTimeout(connect_timeout)
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        Unreachable::Dns
    } else if ["tls", "certificate", "handshake", "corrupt message"]
        .iter()
        .any(|w| chain.contains(w))
    {
        Unreachable::Tls(root_cause(e))
    } else {
        Unreachable::Other(root_cause(e))
    }
}

/// Adds the number of attempts to an unavailability, so logs show that retries happened.
fn after_attempts(error: BackendError, attempts: u32) -> BackendError {
    match error {
        BackendError::Unavailable(m) if attempts > 1 => {
            BackendError::Unavailable(format!("{m} (after {attempts} attempts)"))
        }
        other => other,
    }
}
