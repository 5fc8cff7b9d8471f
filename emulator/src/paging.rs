//! Absolute URLs and Twilio's paging envelope.
//!
//! Twilio's client libraries page by requesting `meta.next_page_url` verbatim, so every URL the
//! emulator returns is absolute and points at the emulator as the client reached it (scheme and
//! `Host` of the request), whatever port or proxy is in between.

use actix_web::HttpRequest;
use serde::Serialize;
use videoroom_emulator_adapter::Page;

use crate::error::ApiError;
use crate::params::Params;

/// `scheme://host` of the request, as the client addressed the emulator.
pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// Paging parameters of a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub page_size: Option<u32>,
    /// Twilio's `Page`: echoed for the client's own bookkeeping, counted along next/previous.
    pub page: u32,
    pub page_token: Option<String>,
}

impl Paging {
    /// Reads `PageSize` (1–1000), `Page` (≥ 0) and `PageToken`; 20001 for a malformed number.
    pub fn from_params(params: &Params) -> Result<Self, ApiError> {
        let page_size = params.u32("PageSize")?;
        if let Some(n) = page_size {
            if !(1..=videoroom_emulator_adapter::MAX_PAGE_SIZE).contains(&n) {
                return Err(ApiError::invalid(format!(
                    "Invalid PageSize: must be between 1 and {} (got {n})",
                    videoroom_emulator_adapter::MAX_PAGE_SIZE
                )));
            }
        }
        Ok(Self {
            page_size,
            page: params.u32("Page")?.unwrap_or(0),
            page_token: params.get("PageToken").map(str::to_owned),
        })
    }
}

/// One list response: `{"<key>": [...], "meta": {...}}`, key first as Twilio orders it.
#[derive(Debug, Clone)]
pub struct Envelope<T> {
    key: String,
    items: Vec<T>,
    meta: Meta,
}

impl<T: Serialize> Serialize for Envelope<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(&self.key, &self.items)?;
        map.serialize_entry("meta", &self.meta)?;
        map.end()
    }
}

/// Builds a list response. `path` is the absolute list URL without a query
/// (`https://host/v1/Rooms`); `filters` are the filters the client sent, in Twilio's order,
/// with their values as sent.
pub fn envelope<T, U>(
    key: &str,
    path: &str,
    filters: &[(&str, String)],
    paging: &Paging,
    page: &Page<T>,
    item: impl Fn(&T) -> U,
) -> Envelope<U> {
    let url = |page_number: u32, token: Option<&str>| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in filters {
            query.append_pair(name, value);
        }
        query.append_pair("PageSize", &page.page_size.to_string());
        query.append_pair("Page", &page_number.to_string());
        if let Some(token) = token {
            query.append_pair("PageToken", token);
        }
        format!("{path}?{}", query.finish())
    };
    let meta = Meta {
        page: paging.page,
        page_size: page.page_size,
        first_page_url: url(0, None),
        previous_page_url: page
            .previous_page
            .as_deref()
            .map(|t| url(paging.page.saturating_sub(1), Some(t))),
        url: url(paging.page, paging.page_token.as_deref()),
        next_page_url: page
            .next_page
            .as_deref()
            .map(|t| url(paging.page.saturating_add(1), Some(t))),
        key: key.to_owned(),
    };
    Envelope {
        key: key.to_owned(),
        items: page.items.iter().map(item).collect(),
        meta,
    }
}

#[derive(Debug, Clone, Serialize)]
struct Meta {
    page: u32,
    page_size: u32,
    first_page_url: String,
    previous_page_url: Option<String>,
    url: String,
    next_page_url: Option<String>,
    key: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn page(next: Option<&str>, previous: Option<&str>) -> Page<u32> {
        Page {
            items: vec![1, 2],
            next_page: next.map(str::to_owned),
            previous_page: previous.map(str::to_owned),
            page_size: 2,
        }
    }

    #[test]
    fn filters_come_before_page_size_and_page_and_are_percent_encoded() {
        let paging = Paging {
            page_size: Some(2),
            page: 0,
            page_token: None,
        };
        let filters = [
            ("Status", "disconnected".to_owned()),
            ("DateCreatedAfter", "2017-01-01T00:00:01Z".to_owned()),
        ];
        let v = envelope(
            "participants",
            "http://h/v1/Rooms/RM1/Participants",
            &filters,
            &paging,
            &page(Some("Anext"), None),
            |n| *n,
        );
        let v = serde_json::to_value(v).unwrap();
        assert_eq!(
            v["meta"]["url"],
            "http://h/v1/Rooms/RM1/Participants?Status=disconnected&DateCreatedAfter=2017-01-01T00%3A00%3A01Z&PageSize=2&Page=0"
        );
        assert_eq!(
            v["meta"]["next_page_url"],
            "http://h/v1/Rooms/RM1/Participants?Status=disconnected&DateCreatedAfter=2017-01-01T00%3A00%3A01Z&PageSize=2&Page=1&PageToken=Anext"
        );
        assert_eq!(v["meta"]["previous_page_url"], Value::Null);
        assert_eq!(v["meta"]["key"], "participants");
        assert_eq!(v["participants"], serde_json::json!([1, 2]));
    }

    #[test]
    fn a_middle_page_links_both_ways_and_first_page_url_has_no_token() {
        let paging = Paging {
            page_size: Some(2),
            page: 3,
            page_token: Some("Acur".to_owned()),
        };
        let v = envelope(
            "rooms",
            "http://h/v1/Rooms",
            &[],
            &paging,
            &page(Some("An"), Some("Bp")),
            |n| *n,
        );
        let text = serde_json::to_string(&v).unwrap();
        assert!(
            text.starts_with(r#"{"rooms":[1,2],"meta":{"page":3,"#),
            "{text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["meta"]["first_page_url"],
            "http://h/v1/Rooms?PageSize=2&Page=0"
        );
        assert_eq!(
            v["meta"]["url"],
            "http://h/v1/Rooms?PageSize=2&Page=3&PageToken=Acur"
        );
        assert_eq!(
            v["meta"]["previous_page_url"],
            "http://h/v1/Rooms?PageSize=2&Page=2&PageToken=Bp"
        );
        assert_eq!(
            v["meta"]["next_page_url"],
            "http://h/v1/Rooms?PageSize=2&Page=4&PageToken=An"
        );
    }
}
