//! Twilio's wire formats: PascalCase form bodies and query strings out, snake_case JSON in.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};
use videoroom_core::{Room, RoomQuery, RoomSid, RoomSpec, RoomStatus, RoomType};

/// The body of `POST /v1/Rooms`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateRoomForm<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    unique_name: Option<&'a str>,
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    room_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_participants: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    empty_room_timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unused_room_timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_callback: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_callback_method: Option<&'a str>,
}

impl<'a> CreateRoomForm<'a> {
    pub(crate) fn from_spec(spec: &'a RoomSpec) -> Self {
        Self {
            unique_name: spec.unique_name.as_ref().map(|n| n.as_str()),
            room_type: spec.room_type.map(RoomType::as_str),
            max_participants: spec.max_participants,
            empty_room_timeout: spec.empty_room_timeout,
            unused_room_timeout: spec.unused_room_timeout,
            status_callback: spec.status_callback.as_deref(),
            status_callback_method: spec.status_callback_method.as_deref(),
        }
    }
}

/// The body of `POST /v1/Rooms/{Sid}` that ends a room.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CompleteRoomForm {
    /// Always [`RoomStatus::Completed`]; written with the status's own name (`completed`).
    pub(crate) status: RoomStatus,
}

/// The query of `GET /v1/Rooms`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListRoomsQuery<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unique_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_created_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_created_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_size: Option<u32>,
}

impl<'a> ListRoomsQuery<'a> {
    pub(crate) fn from_query(query: &'a RoomQuery) -> Self {
        Self {
            status: query.status.map(RoomStatus::as_str),
            unique_name: query.unique_name.as_deref(),
            date_created_after: query.created_after.map(twilio_timestamp),
            date_created_before: query.created_before.map(twilio_timestamp),
            page_size: query.page_size,
        }
    }

    /// A one-room page of in-progress rooms: the cheapest authenticated request there is.
    pub(crate) fn probe() -> Self {
        Self {
            status: None,
            unique_name: None,
            date_created_after: None,
            date_created_before: None,
            page_size: Some(1),
        }
    }
}

/// Whole-second UTC in the form Twilio's helper libraries send: `2017-01-01T00:00:01Z`.
///
/// Twilio's timestamps are whole seconds, so a bound with a fraction is rounded up: for
/// "created at or after" and "created strictly before" alike, that keeps exactly the rooms the
/// exact bound would keep.
pub(crate) fn twilio_timestamp(t: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let utc = t.to_offset(UtcOffset::UTC);
    let whole = if utc.nanosecond() == 0 {
        utc
    } else {
        utc.replace_nanosecond(0)
            .map(|w| w + time::Duration::SECOND)
            .unwrap_or(utc)
    };
    whole
        .format(&format)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// A room as Twilio's JSON describes it; only the fields the port needs are read. Twilio
/// declares every field nullable, so each is optional here and defaulted where a default is
/// known.
#[derive(Deserialize)]
pub(crate) struct RoomJson {
    sid: String,
    status: Option<String>,
    date_created: Option<String>,
    date_updated: Option<String>,
    pub(crate) account_sid: Option<String>,
    unique_name: Option<String>,
    end_time: Option<String>,
    duration: Option<u64>,
    #[serde(rename = "type")]
    room_type: Option<String>,
    max_participants: Option<u32>,
    empty_room_timeout: Option<u32>,
    unused_room_timeout: Option<u32>,
}

/// Rooms created before Twilio made the timeouts configurable (2021) ended after five minutes
/// and are served without the fields.
const LEGACY_TIMEOUT_MINUTES: u32 = 5;

impl RoomJson {
    /// The port's view of this room; the error names the field that is wrong, never its value.
    pub(crate) fn into_room(self) -> Result<Room, String> {
        let sid = RoomSid::parse(&self.sid).map_err(|_| "sid is not a room SID".to_owned())?;
        let status = self
            .status
            .as_deref()
            .ok_or("status is missing")?
            .parse::<RoomStatus>()
            .map_err(|_| "status is not in-progress, completed or failed".to_owned())?;
        let room_type = match self.room_type.as_deref() {
            None => RoomType::default(),
            Some(t) => t
                .parse::<RoomType>()
                .map_err(|_| "type is not a known room type".to_owned())?,
        };
        let date_created = timestamp("date_created", self.date_created.as_deref())?
            .ok_or("date_created is missing")?;
        let date_updated =
            timestamp("date_updated", self.date_updated.as_deref())?.unwrap_or(date_created);
        Ok(Room {
            unique_name: self.unique_name.unwrap_or_else(|| sid.to_string()),
            sid,
            status,
            room_type,
            max_participants: self
                .max_participants
                .unwrap_or_else(|| room_type.max_participants()),
            date_created,
            date_updated,
            end_time: timestamp("end_time", self.end_time.as_deref())?,
            duration: self.duration,
            empty_room_timeout: self.empty_room_timeout.unwrap_or(LEGACY_TIMEOUT_MINUTES),
            unused_room_timeout: self.unused_room_timeout.unwrap_or(LEGACY_TIMEOUT_MINUTES),
        })
    }
}

fn timestamp(field: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, String> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .map_err(|_| format!("{field} is not an ISO 8601 timestamp"))
        })
        .transpose()
}

/// The paging envelope of a list answer.
#[derive(Deserialize)]
pub(crate) struct PageJson {
    #[serde(default)]
    pub(crate) rooms: Vec<RoomJson>,
    pub(crate) meta: Option<MetaJson>,
}

#[derive(Deserialize)]
pub(crate) struct MetaJson {
    pub(crate) next_page_url: Option<String>,
}

/// Twilio's error body: `{"code","message","more_info","status"}`.
#[derive(Deserialize)]
pub(crate) struct TwilioErrorJson {
    pub(crate) code: Option<u32>,
    pub(crate) message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn room_json(extra: serde_json::Value) -> RoomJson {
        let mut v = serde_json::json!({
            "sid": "RMca86eeac00a04e28a40e99ed26e7d406",
            "status": "completed",
            "date_created": "2017-04-03T22:21:49Z",
            "date_updated": "2017-04-03T22:21:51Z",
            "account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "enable_turn": true,
            "unique_name": "DailyStandup",
            "end_time": "2017-04-03T22:21:51Z",
            "duration": 2,
            "type": "go",
            "max_participants": 2,
            "empty_room_timeout": 7,
            "unused_room_timeout": 9,
            "video_codecs": ["VP8"],
            "links": {"participants": "https://video.twilio.com/v1/Rooms/RM…/Participants"}
        });
        if let (Some(base), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            for (k, val) in extra {
                base.insert(k.clone(), val.clone());
            }
        }
        serde_json::from_value(v).expect("room JSON")
    }

    #[test]
    fn twilios_room_json_becomes_the_ports_room() {
        let room = room_json(serde_json::json!({}))
            .into_room()
            .expect("valid room");
        assert_eq!(room.sid.as_str(), "RMca86eeac00a04e28a40e99ed26e7d406");
        assert_eq!(room.unique_name, "DailyStandup");
        assert_eq!(room.status, RoomStatus::Completed);
        assert_eq!(room.room_type, RoomType::Go);
        assert_eq!(room.max_participants, 2);
        assert_eq!(room.date_created, datetime!(2017-04-03 22:21:49 UTC));
        assert_eq!(room.date_updated, datetime!(2017-04-03 22:21:51 UTC));
        assert_eq!(room.end_time, Some(datetime!(2017-04-03 22:21:51 UTC)));
        assert_eq!(room.duration, Some(2));
        assert_eq!((room.empty_room_timeout, room.unused_room_timeout), (7, 9));
    }

    #[test]
    fn null_fields_take_twilios_defaults() {
        let room = room_json(serde_json::json!({
            "unique_name": null, "end_time": null, "duration": null, "type": null,
            "max_participants": null, "empty_room_timeout": null, "unused_room_timeout": null,
            "date_updated": null, "status": "in-progress"
        }))
        .into_room()
        .expect("valid room");
        assert_eq!(
            room.unique_name,
            room.sid.as_str(),
            "Twilio names unnamed rooms by SID"
        );
        assert_eq!(room.room_type, RoomType::Group);
        assert_eq!(room.max_participants, 50);
        assert_eq!(room.date_updated, room.date_created);
        assert_eq!((room.end_time, room.duration), (None, None));
        assert_eq!((room.empty_room_timeout, room.unused_room_timeout), (5, 5));
    }

    #[test]
    fn a_wrong_field_is_named_without_echoing_its_value() {
        let err = room_json(serde_json::json!({"status": "exploded-secretly"}))
            .into_room()
            .expect_err("refused");
        assert_eq!(err, "status is not in-progress, completed or failed");
        let err = room_json(serde_json::json!({"date_created": "yesterday"}))
            .into_room()
            .expect_err("refused");
        assert_eq!(err, "date_created is not an ISO 8601 timestamp");
    }

    #[test]
    fn create_forms_use_twilios_pascal_case_names_and_omit_defaults() {
        let spec = RoomSpec {
            unique_name: Some(videoroom_core::RoomName::parse("会議 室").expect("name")),
            room_type: Some(RoomType::Go),
            max_participants: Some(2),
            empty_room_timeout: Some(1),
            unused_room_timeout: None,
            status_callback: Some("https://example.test/cb?a=1&b=2".into()),
            status_callback_method: Some("GET".into()),
        };
        let form = serde_urlencoded::to_string(CreateRoomForm::from_spec(&spec)).expect("form");
        assert_eq!(
            form,
            "UniqueName=%E4%BC%9A%E8%AD%B0+%E5%AE%A4&Type=go&MaxParticipants=2&EmptyRoomTimeout=1\
             &StatusCallback=https%3A%2F%2Fexample.test%2Fcb%3Fa%3D1%26b%3D2&StatusCallbackMethod=GET"
        );
        let empty = serde_urlencoded::to_string(CreateRoomForm::from_spec(&RoomSpec::default()))
            .expect("form");
        assert_eq!(
            empty, "",
            "an empty create is valid and leaves every default to Twilio"
        );
    }

    #[test]
    fn the_completion_form_names_the_status_as_twilio_does() {
        let form = serde_urlencoded::to_string(CompleteRoomForm {
            status: RoomStatus::Completed,
        })
        .expect("form");
        assert_eq!(form, "Status=completed");
    }

    #[test]
    fn list_filters_use_twilios_names_and_whole_second_utc_dates() {
        let query = RoomQuery {
            status: Some(RoomStatus::Completed),
            unique_name: Some("DailyStandup".into()),
            created_after: Some(datetime!(2017-01-01 09:00:01 +9)),
            created_before: Some(datetime!(2017-12-31 23:59:59.75 UTC)),
            page_size: Some(2),
            page_token: None,
        };
        let q = serde_urlencoded::to_string(ListRoomsQuery::from_query(&query)).expect("query");
        assert_eq!(
            q,
            "Status=completed&UniqueName=DailyStandup&DateCreatedAfter=2017-01-01T00%3A00%3A01Z\
             &DateCreatedBefore=2018-01-01T00%3A00%3A00Z&PageSize=2"
        );
    }
}
