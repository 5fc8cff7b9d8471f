//! Request parameters as Twilio's clients send them: form-encoded PascalCase names in the body
//! (POST) or the query string (GET), arrays as repeated keys, booleans as `"true"`/`"false"`,
//! dates as `YYYY-MM-DD` or `YYYY-MM-DDTHH:mm:ssZ`. Unknown names are ignored, as Twilio does.

use actix_web::{web, HttpRequest};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};
use videoroom_core::{twilio_codes, RoomKey};
use videoroom_emulator_adapter::{ParticipantKey, Store, StoreError};

use crate::body::{self, BodyError, BodyLimits};
use crate::error::ApiError;

/// Decoded parameters, in the order they came, repeated keys kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters of a query string. Invalid UTF-8 in a query value is replaced (a GET has no
    /// body to refuse, and a filter with a broken value then simply matches nothing).
    pub fn from_query(query: &str) -> Self {
        Self {
            pairs: url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// Parameters of a form body; invalid UTF-8 (raw or percent-encoded) is refused with 400.
    pub fn from_body(body: &[u8]) -> Result<Self, ApiError> {
        let pairs = body::decode_form(body).map_err(|_| {
            ApiError::invalid("Invalid request body: it is not valid UTF-8 form data")
        })?;
        Ok(Self { pairs })
    }

    /// Appends `later`'s parameters; for scalars they win, as the last value is read.
    pub fn extend(&mut self, later: Params) {
        self.pairs.extend(later.pairs);
    }

    /// The last value of `name` (Twilio reads one value of a scalar parameter).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters' names, in order (repeated names repeated).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    /// Every value of `name`, in order (array parameters such as `VideoCodecs`).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether `name` was sent at all.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// An integer parameter; 20001 naming it when it is not one.
    pub fn u32(&self, name: &str) -> Result<Option<u32>, ApiError> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<u32>().map_err(|_| {
                    ApiError::invalid(format!(
                        "Invalid {name}: expected a non-negative whole number (got '{v}')"
                    ))
                })
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`, any case); 20001 naming it otherwise.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(format!(
                    "Invalid {name}: expected true or false (got '{v}')"
                ))),
            })
            .transpose()
    }

    /// A date filter in either of Twilio's formats; 20001 naming it otherwise.
    pub fn date(&self, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
        self.get(name)
            .map(|v| {
                parse_date(v).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Invalid {name}: expected YYYY-MM-DD or YYYY-MM-DDTHH:mm:ssZ (got '{v}')"
                    ))
                })
            })
            .transpose()
    }
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 date-time such as `2017-01-01T00:00:01Z`.
pub fn parse_date(value: &str) -> Option<OffsetDateTime> {
    let value = value.trim();
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(t.to_offset(time::UtcOffset::UTC));
    }
    Date::parse(value, format_description!("[year]-[month]-[day]"))
        .ok()
        .map(|d| d.midnight().assume_utc())
}

/// Twilio's timestamp format: whole seconds, UTC, `Z` (`2017-04-03T22:21:49Z`).
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .expect("a UTC date-time has every component the format names")
}

/// Reads and parses a form body within `limits` (see [`crate::body`]), answering in Twilio's
/// format: 413 for a body over the cap, 408 for one that arrives too slowly, 400 otherwise.
pub async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    limits: BodyLimits,
) -> Result<Params, ApiError> {
    let body = body::read(req, payload, limits)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { limit } => ApiError::new(
                twilio_codes::INVALID_PARAMETER,
                413,
                format!("Request body too large: the emulator accepts at most {limit} bytes"),
            ),
            BodyError::TooSlow { deadline } => ApiError::new(
                twilio_codes::INVALID_PARAMETER,
                408,
                format!(
                    "Request body too slow: the whole body must arrive within {} seconds",
                    deadline.as_secs()
                ),
            ),
            BodyError::Unreadable(reason) => {
                ApiError::invalid(format!("Invalid request body: {reason}"))
            }
        })?;
    Params::from_body(&body)
}

/// A path segment as the client meant it. actix decodes a path except `%2F`, `%25` and `%2B`
/// (so that they cannot change the route); a room name may contain those, so they are decoded
/// here. Invalid UTF-8 gives 404, as no room can have such a name.
pub fn path_segment(req: &HttpRequest, name: &str) -> Result<String, ApiError> {
    let raw = req
        .match_info()
        .get(name)
        .expect("handlers read only the segments their route declares");
    String::from_utf8(percent_decode(raw)).map_err(|_| ApiError::not_found(req.path()))
}

/// The room a path's `{room}` segment names: a room SID or a unique name, parsed once here so
/// that the store is addressed with a [`RoomKey`].
pub fn room_key(req: &HttpRequest) -> Result<RoomKey, ApiError> {
    parse_room_key(&path_segment(req, "room")?)
}

/// A room reference as a client wrote it. Text that is neither a room SID nor a valid unique
/// name names no room: 20404 naming it as sent, which is what Twilio answers.
pub fn parse_room_key(segment: &str) -> Result<RoomKey, ApiError> {
    RoomKey::parse(segment).map_err(|_| StoreError::room_not_found(segment).into())
}

/// The participant a path's `{participant}` segment names in `room`: a participant SID or an
/// identity, parsed once here.
pub fn participant_key(
    req: &HttpRequest,
    store: &Store,
    room: &RoomKey,
) -> Result<ParticipantKey, ApiError> {
    parse_participant_key(store, room, &path_segment(req, "participant")?)
}

/// A participant reference as a client wrote it. Text that is neither a participant SID nor a
/// valid identity names nobody: 20404, once the room is known to exist, so that an unknown room
/// is reported as the room, as for any other participant reference.
pub fn parse_participant_key(
    store: &Store,
    room: &RoomKey,
    segment: &str,
) -> Result<ParticipantKey, ApiError> {
    ParticipantKey::parse(segment).map_err(|_| match store.fetch_room(room) {
        Err(err) => err.into(),
        Ok(_) => StoreError::participant_not_found(room.as_path_segment(), segment).into(),
    })
}

/// Percent-decoding of a path segment ('+' stays a '+' in a path). A `%` not followed by two
/// hex digits is kept literally, as browsers and `url` do.
fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_make_arrays_and_the_last_scalar_wins() {
        let p = Params::from_body(b"VideoCodecs=VP8&VideoCodecs=H264&Type=go&Type=group").unwrap();
        assert_eq!(p.all("VideoCodecs"), vec!["VP8", "H264"]);
        assert_eq!(p.get("Type"), Some("group"));
        assert_eq!(p.get("Nope"), None);
    }

    #[test]
    fn form_values_are_percent_and_plus_decoded() {
        let p =
            Params::from_body(b"UniqueName=my+room%2Fx%25&StatusCallback=http%3A%2F%2Fa").unwrap();
        assert_eq!(p.get("UniqueName"), Some("my room/x%"));
        assert_eq!(p.get("StatusCallback"), Some("http://a"));
    }

    #[test]
    fn invalid_utf8_in_a_body_is_refused_raw_or_encoded() {
        assert_eq!(
            Params::from_body(b"UniqueName=\xff").unwrap_err().code,
            20001
        );
        assert_eq!(
            Params::from_body(b"UniqueName=%FF").unwrap_err().status,
            400
        );
    }

    #[test]
    fn booleans_and_integers_name_the_parameter_when_wrong() {
        let p = Params::from_body(b"AudioOnly=TRUE&LargeRoom=yes&MaxParticipants=x").unwrap();
        assert_eq!(p.bool("AudioOnly").unwrap(), Some(true));
        assert!(p
            .bool("LargeRoom")
            .unwrap_err()
            .message
            .contains("LargeRoom"));
        assert!(p
            .u32("MaxParticipants")
            .unwrap_err()
            .message
            .contains("MaxParticipants"));
        assert_eq!(p.u32("EmptyRoomTimeout").unwrap(), None);
    }

    #[test]
    fn dates_are_accepted_in_both_of_twilios_formats() {
        let day = parse_date("2017-01-01").unwrap();
        assert_eq!(format_time(day), "2017-01-01T00:00:00Z");
        let at = parse_date("2017-01-01T00:00:01Z").unwrap();
        assert_eq!(format_time(at), "2017-01-01T00:00:01Z");
        let shifted = parse_date("2017-01-01T09:00:01+09:00").unwrap();
        assert_eq!(format_time(shifted), "2017-01-01T00:00:01Z");
        assert_eq!(parse_date("01/01/2017"), None);
    }

    #[test]
    fn a_lone_percent_is_kept_literally() {
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("a%2Fb%zz"), b"a/b%zz");
    }
}
