//! Status callbacks: Twilio's room events, form-encoded and signed, delivered in the background.
//!
//! The store's event stream is turned into deliveries for rooms that have a `StatusCallback`.
//! Deliveries are grouped by destination (scheme, host and port of the callback URL): each
//! destination has its own bounded queue and its own worker, which sends up to
//! `concurrency` deliveries at once, each attempt with a timeout and a few retries with
//! doubling backoff. So a receiver that accepts connections and never answers fills only its
//! own slots and its own queue: another room's callbacks to another receiver go out at once.
//! (With one shared pool, one hanging receiver held every slot and delayed everyone's events
//! by whole timeouts.)
//!
//! Everything is bounded: a full destination queue, or a new destination beyond
//! `max_destinations`, records the delivery as dropped; a worker with nothing to do for a
//! minute ends and forgets its destination. The REST API only ever enqueues and never waits.
//! Every delivery and its outcome is recorded for `GET /emulator/callbacks`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha1::Sha1;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Semaphore};
use videoroom_emulator_adapter::{StoreEvent, StoreEventKind};

use crate::params::format_time;
use crate::settings::CallbackSettings;

/// The `X-Twilio-Signature` of a request: base64 of HMAC-SHA1, keyed with the auth token, over
/// the full URL followed by each parameter's name and value, names sorted by byte (values of a
/// repeated name sorted too), with no separators. A GET callback is signed over its URL (query
/// included) with no parameters.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut data = String::from(url);
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    // An empty signature would be sent as if it were one; HMAC takes keys of any length, so
    // there is none to fall back to.
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC-SHA1 accepts a key of any length");
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Queued or being attempted.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed, or the receiver answered 4xx (not retried).
    Failed,
    /// The queue was full; never attempted.
    Dropped,
}

/// One status callback and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// Increasing in the order events happened.
    pub id: u64,
    /// `StatusCallbackEvent`, e.g. `participant-connected`.
    pub event: String,
    pub room_sid: String,
    pub url: String,
    /// `POST` or `GET`.
    pub method: String,
    /// The form fields sent (Twilio's names).
    pub params: BTreeMap<String, String>,
    pub state: DeliveryState,
    /// HTTP status of the last answer, if any.
    pub status_code: Option<u16>,
    /// Why the last attempt failed, if it did without an answer (timeout, refused, …).
    pub error: Option<String>,
    pub attempts: u32,
    /// When the event happened (Twilio's `Timestamp`).
    pub timestamp: String,
}

/// A delivery waiting for a worker.
#[derive(Debug, Clone)]
struct Job {
    id: u64,
    url: String,
    method: String,
    params: Vec<(String, String)>,
}

/// The form fields Twilio sends for `event`, or `None` when nothing is sent (no
/// `StatusCallback`, or an event Twilio has no callback for).
pub fn callback_params(event: &StoreEvent, account_sid: &str) -> Option<Vec<(String, String)>> {
    let name = event.callback_event()?;
    event.room.status_callback.as_ref()?;
    let room = &event.room;
    let mut p: Vec<(String, String)> = vec![
        ("AccountSid".into(), account_sid.to_owned()),
        ("RoomName".into(), room.unique_name.clone()),
        ("RoomSid".into(), room.sid.as_str().to_owned()),
        ("RoomStatus".into(), room.status.as_str().to_owned()),
        ("RoomType".into(), room.room_type.as_str().to_owned()),
        ("StatusCallbackEvent".into(), name.to_owned()),
        ("Timestamp".into(), format_time(event.timestamp)),
        ("SequenceNumber".into(), event.sequence_number.to_string()),
    ];
    if let Some(participant) = &event.participant {
        p.push(("ParticipantSid".into(), participant.sid.as_str().to_owned()));
        p.push((
            "ParticipantStatus".into(),
            participant.status.as_str().to_owned(),
        ));
        p.push((
            "ParticipantIdentity".into(),
            participant.identity.as_str().to_owned(),
        ));
        if matches!(event.kind, StoreEventKind::ParticipantDisconnected(_)) {
            let duration = participant.duration.unwrap_or(0);
            p.push(("ParticipantDuration".into(), duration.to_string()));
        }
    }
    if matches!(event.kind, StoreEventKind::RoomEnded(_)) {
        p.push((
            "RoomDuration".into(),
            room.duration.unwrap_or(0).to_string(),
        ));
    }
    if let Some(track) = &event.track {
        p.push(("TrackSid".into(), track.sid.as_str().to_owned()));
        p.push(("TrackKind".into(), track.kind.as_str().to_owned()));
    }
    if let Some(recording) = &event.recording {
        p.extend(recording_params(recording));
    }
    Some(p)
}

/// The fields recording events add (reference: "Recording events add more fields"). URIs
/// are relative, as Twilio's `…Uri` fields are; `Duration` and `Size` come with
/// `recording-completed`, `FailedOperation` (the emulator's reason, its values inferred) with
/// `recording-failed`.
fn recording_params(r: &videoroom_emulator_adapter::RecordingRecord) -> Vec<(String, String)> {
    use videoroom_emulator_adapter::RecordingStatus;
    let uri = format!("/v1/Recordings/{}", r.sid);
    let mut p: Vec<(String, String)> = vec![
        ("RecordingSid".into(), r.sid.clone()),
        ("SourceSid".into(), r.source_sid.as_str().to_owned()),
        ("TrackSid".into(), r.source_sid.as_str().to_owned()),
        ("TrackName".into(), r.track_name.clone()),
        ("Type".into(), r.kind.as_str().to_owned()),
        ("Container".into(), r.container_format.to_owned()),
        ("Codec".into(), r.codec.clone().unwrap_or_default()),
        (
            "OffsetFromTwilioVideoEpoch".into(),
            (r.offset + r.started_at_ms).to_string(),
        ),
        ("MediaUri".into(), format!("{uri}/Media")),
        ("RecordingUri".into(), uri),
    ];
    match r.status {
        RecordingStatus::Completed => {
            p.push(("Duration".into(), r.duration.unwrap_or(0).to_string()));
            p.push(("Size".into(), r.size.unwrap_or(0).to_string()));
        }
        RecordingStatus::Failed => {
            p.push((
                "FailedOperation".into(),
                r.failure.clone().unwrap_or_default(),
            ));
        }
        RecordingStatus::Processing | RecordingStatus::Deleted => {}
    }
    p
}

/// How long a destination's worker waits for more work before it ends and its queue is
/// forgotten (a later callback to the same destination starts a new one).
const IDLE_WORKER: Duration = Duration::from_secs(60);

/// The delivery machinery: log, per-destination queues and their workers.
pub struct Callbacks {
    settings: CallbackSettings,
    account_sid: String,
    auth_token: SecretString,
    log: Mutex<Log>,
    client: reqwest::Client,
    /// The queue of each destination that has a running worker, by [`destination`].
    destinations: Mutex<HashMap<String, mpsc::Sender<Job>>>,
}

#[derive(Default)]
struct Log {
    next_id: u64,
    entries: VecDeque<Delivery>,
}

impl Callbacks {
    pub fn new(settings: CallbackSettings, account_sid: String, auth_token: SecretString) -> Self {
        let client = reqwest::Client::builder()
            .user_agent("TwilioProxy/1.1 (videoroom-emulator)")
            .redirect(reqwest::redirect::Policy::none())
            .build()
            // A default client would follow redirects and hide the user agent; it fails to build
            // in the same cases (no TLS backend) anyway.
            .expect("an HTTP client with a user agent and no redirects builds");
        Self {
            settings,
            account_sid,
            auth_token,
            log: Mutex::new(Log::default()),
            client,
            destinations: Mutex::new(HashMap::new()),
        }
    }

    /// Records and enqueues the callback for `event`, if there is one, on its destination's
    /// queue (starting that destination's worker on the current tokio runtime if it has none).
    /// Never waits.
    pub fn enqueue(self: &Arc<Self>, event: &StoreEvent) {
        let Some(params) = callback_params(event, &self.account_sid) else {
            return;
        };
        let Some(url) = event.room.status_callback.clone() else {
            return;
        };
        let method = event.room.status_callback_method.to_ascii_uppercase();
        let mut log = self.log.lock();
        let id = log.next_id;
        log.next_id += 1;
        let delivery = Delivery {
            id,
            event: event.kind.as_str().to_owned(),
            room_sid: event.room.sid.as_str().to_owned(),
            url: url.clone(),
            method: method.clone(),
            params: params.iter().cloned().collect(),
            state: DeliveryState::Pending,
            status_code: None,
            error: None,
            attempts: 0,
            timestamp: format_time(event.timestamp),
        };
        let job = Job {
            id,
            url,
            method,
            params,
        };
        // The store refuses such URLs at room creation; this second check keeps the rule
        // whatever made the room (and whatever the URL became).
        let refused = self.refusal(&job.url);
        let dropped = match refused {
            Some(_) => None,
            None => self.queue(job).err(),
        };
        log.entries.push_back(Delivery {
            state: match (&refused, dropped) {
                (Some(_), _) => DeliveryState::Failed,
                (None, Some(_)) => DeliveryState::Dropped,
                (None, None) => DeliveryState::Pending,
            },
            error: refused
                .clone()
                .or_else(|| dropped.map(|why| format!("dropped: {why}"))),
            ..delivery
        });
        if let Some(why) = &refused {
            tracing::warn!(id, "status callback not sent: {why}");
        }
        while log.entries.len() > self.settings.log_capacity.max(1) {
            log.entries.pop_front();
        }
        if let Some(why) = dropped {
            tracing::warn!(id, "status callback dropped: {why}");
        }
    }

    /// Puts `job` on its destination's queue; the reason when it cannot be queued.
    fn queue(self: &Arc<Self>, mut job: Job) -> Result<(), &'static str> {
        let key = destination(&job.url);
        let mut destinations = self.destinations.lock();
        if let Some(queue) = destinations.get(&key) {
            match queue.try_send(job) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => {
                    return Err("the callback queue of this destination is full")
                }
                // Its worker ended without forgetting it (it can only have panicked): start
                // another below.
                Err(TrySendError::Closed(returned)) => {
                    destinations.remove(&key);
                    job = returned;
                }
            }
        }
        if destinations.len() >= self.settings.max_destinations.max(1) {
            return Err("callbacks are already queued for as many destinations as allowed");
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err("the emulator's background tasks are not running");
        };
        let (queue, receiver) = mpsc::channel(self.settings.queue_capacity.max(1));
        queue
            .try_send(job)
            .expect("a new queue with a capacity of at least one has room for one job");
        destinations.insert(key.clone(), queue);
        runtime.spawn(Arc::clone(self).work(key, receiver));
        Ok(())
    }

    /// One destination's worker: sends its queued deliveries, up to `concurrency` at once,
    /// and ends (forgetting the destination) after [`IDLE_WORKER`] with nothing to do.
    async fn work(self: Arc<Self>, key: String, mut receiver: mpsc::Receiver<Job>) {
        let concurrency = self.settings.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        loop {
            let job = match tokio::time::timeout(IDLE_WORKER, receiver.recv()).await {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(_idle) => {
                    // Checked and forgotten under the lock `queue` sends under, so no job can
                    // arrive between the check and the removal.
                    let mut destinations = self.destinations.lock();
                    if receiver.is_empty() && slots.available_permits() == concurrency {
                        destinations.remove(&key);
                        return;
                    }
                    continue;
                }
            };
            let permit = Arc::clone(&slots)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let this = Arc::clone(&self);
            tokio::spawn(async move {
                this.deliver(job).await;
                drop(permit);
            });
        }
    }

    /// Why a callback to `url` may not be sent, if it may not: its host is not one the
    /// callback hosts setting allows.
    fn refusal(&self, url: &str) -> Option<String> {
        let allowed = url::Url::parse(url).is_ok_and(|url| self.settings.hosts.allows(&url));
        (!allowed).then(|| {
            format!(
                "refused: callbacks go only to {} (emulator.callback_hosts, VIDEOROOM_CALLBACK_HOSTS)",
                self.settings.hosts.describe()
            )
        })
    }

    /// Every remembered delivery, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().entries.iter().cloned().collect()
    }

    /// `Anonymize` of a participant: its identity becomes its SID in every remembered
    /// delivery, so the emulator's callback log and inspector stop showing it. What was already
    /// delivered to the receiver stays there, as with Twilio.
    pub fn anonymize(&self, participant_sid: &str) {
        let mut log = self.log.lock();
        for delivery in log.entries.iter_mut() {
            if delivery.params.get("ParticipantSid").map(String::as_str) == Some(participant_sid) {
                if let Some(identity) = delivery.params.get_mut("ParticipantIdentity") {
                    *identity = participant_sid.to_owned();
                }
            }
        }
    }

    /// Forgets every delivery (the control route's reset). Deliveries in flight still finish,
    /// but their outcome is no longer recorded.
    pub fn clear(&self) {
        self.log.lock().entries.clear();
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Delivery)) {
        let mut log = self.log.lock();
        if let Some(entry) = log.entries.iter_mut().rev().find(|d| d.id == id) {
            f(entry);
        }
    }

    /// Records the outcome of an attempt and logs a finished delivery (without the URL's query).
    fn finish(
        &self,
        job: &Job,
        attempt: u32,
        state: DeliveryState,
        status: Option<u16>,
        error: Option<String>,
    ) {
        match state {
            DeliveryState::Delivered => tracing::info!(
                id = job.id, url = %without_query(&job.url), status, attempt, "status callback delivered"
            ),
            DeliveryState::Failed => tracing::warn!(
                id = job.id, url = %without_query(&job.url), status, error = error.as_deref(), attempt,
                "status callback failed"
            ),
            DeliveryState::Pending | DeliveryState::Dropped => {}
        }
        self.update(job.id, |d| {
            d.attempts = attempt;
            d.status_code = status;
            d.error = error;
            d.state = state;
        });
    }

    async fn deliver(&self, job: Job) {
        let client = &self.client;
        let token = self.auth_token.expose_secret();
        let max_attempts = self.settings.max_attempts.max(1);
        let mut backoff = self.settings.first_backoff;
        for attempt in 1..=max_attempts {
            let request = if job.method == "GET" {
                let url = with_query(&job.url, &job.params);
                client
                    .get(&url)
                    .header("X-Twilio-Signature", signature(token, &url, &[]))
            } else {
                client
                    .post(&job.url)
                    .header(
                        "X-Twilio-Signature",
                        signature(token, &job.url, &job.params),
                    )
                    .form(&job.params)
            };
            let outcome = request.timeout(self.settings.attempt_timeout).send().await;
            let retry = match &outcome {
                Ok(res) => {
                    let status = res.status();
                    let state = if status.is_success() {
                        DeliveryState::Delivered
                    } else if status.is_server_error() && attempt < max_attempts {
                        DeliveryState::Pending
                    } else {
                        DeliveryState::Failed
                    };
                    self.finish(&job, attempt, state, Some(status.as_u16()), None);
                    state == DeliveryState::Pending
                }
                Err(err) => {
                    let reason = describe(err, self.settings.attempt_timeout);
                    let last = attempt >= max_attempts;
                    let state = if last {
                        DeliveryState::Failed
                    } else {
                        DeliveryState::Pending
                    };
                    self.finish(&job, attempt, state, None, Some(reason));
                    !last
                }
            };
            if !retry {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

/// The destination a callback URL is delivered to: scheme, host and port. Callbacks to one
/// destination share a queue and its delivery slots; other destinations are not affected.
fn destination(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}:{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or(""),
            parsed.port_or_known_default().unwrap_or(0)
        ),
        // It fails when it is sent, and is recorded as failed; it has a queue like any other.
        Err(_) => String::from("(invalid URL)"),
    }
}

/// A transport failure in words a user acts on; never the URL's query (it may hold secrets).
fn describe(err: &reqwest::Error, timeout: std::time::Duration) -> String {
    if err.is_timeout() {
        format!("timed out after {} ms", timeout.as_millis())
    } else if err.is_connect() {
        "connection failed (is the receiver running?)".to_owned()
    } else if err.is_builder() {
        "the StatusCallback URL cannot be requested".to_owned()
    } else {
        "the request failed before an answer arrived".to_owned()
    }
}

/// A URL without its query string, fragment and user info, which may carry secrets: what logs
/// and the inspector show of a callback URL.
pub fn without_query(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            let _ = parsed.set_password(None);
            let _ = parsed.set_username("");
            parsed.to_string()
        }
        Err(_) => String::from("(invalid URL)"),
    }
}

/// `url` with `params` appended to its query string.
fn with_query(url: &str, params: &[(String, String)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let query = query.finish();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_callback_to_a_host_the_settings_do_not_allow_is_never_queued() {
        use std::sync::Arc;
        use videoroom_emulator_adapter::{CallbackHosts, CreateRoom, ManualClock, Store};

        // A store more open than the deliverer: the second check must still hold.
        let store =
            Store::with_callback_hosts(Arc::new(ManualClock::fixed()), CallbackHosts::any());
        let mut events = store.subscribe();
        store
            .create_room(&CreateRoom {
                status_callback: Some("http://192.168.1.1/cb".to_owned()),
                ..CreateRoom::default()
            })
            .expect("the open store accepts the URL");
        let created = events.try_recv().expect("room-created");
        let callbacks = Arc::new(Callbacks::new(
            CallbackSettings::default(),
            "AC00000000000000000000000000000000".to_owned(),
            SecretString::from("token"),
        ));
        callbacks.enqueue(&created);
        let delivery = &callbacks.deliveries()[0];
        assert_eq!(delivery.state, DeliveryState::Failed);
        let error = delivery.error.as_deref().unwrap_or_default();
        assert!(
            error.starts_with("refused: callbacks go only to localhost"),
            "{error}"
        );
    }

    #[test]
    fn the_signature_matches_twilios_published_test_vector() {
        let params = pairs(&[
            ("Digits", "1234"),
            ("CallSid", "CA1234567890ABCDE"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
            ("From", "+14158675309"),
        ]);
        let sig = signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params,
        );
        assert_eq!(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn the_signature_depends_on_the_token_the_url_and_every_value() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = pairs(&[("CallSid", "CA1234567890ABCDE")]);
        let base = signature("12345", url, &params);
        assert_ne!(base, signature("12346", url, &params));
        assert_ne!(
            base,
            signature("12345", "https://mycompany.com/myapp.php", &params)
        );
        assert_ne!(base, signature("12345", url, &pairs(&[("CallSid", "CA1")])));
    }

    #[test]
    fn callbacks_to_one_host_and_port_share_a_destination_and_no_other() {
        assert_eq!(
            destination("http://127.0.0.1:8080/a?x=1"),
            destination("http://127.0.0.1:8080/b")
        );
        assert_eq!(destination("https://h.test/a"), "https://h.test:443");
        assert_ne!(
            destination("http://127.0.0.1:8080/a"),
            destination("http://127.0.0.1:8081/a")
        );
    }

    #[test]
    fn shown_callback_urls_lose_query_fragment_and_userinfo() {
        assert_eq!(
            without_query("https://u:p@example.test/cb?token=s3cret#x"),
            "https://example.test/cb"
        );
    }

    #[test]
    fn get_callbacks_carry_the_parameters_in_the_query() {
        assert_eq!(
            with_query(
                "http://h/cb?x=1",
                &pairs(&[("RoomName", "a b"), ("T", "2017-01-01T00:00:01Z")])
            ),
            "http://h/cb?x=1&RoomName=a+b&T=2017-01-01T00%3A00%3A01Z"
        );
        assert_eq!(
            with_query("http://h/cb", &pairs(&[("A", "1")])),
            "http://h/cb?A=1"
        );
    }
}
