//! Cursor paging, shared by the store's listings, the port adapter and the REST face.
//!
//! Listings are ordered by `date_created`, then SID. A page token names the item a page
//! starts after (or, for a previous page, ends before), so paging stays exact while rooms are
//! created and ended between requests: no item is skipped or repeated. Tokens are opaque to
//! clients; one the store did not issue is refused with 21481 "Invalid PageToken".

use time::OffsetDateTime;
use videoroom_core::twilio_codes;

use crate::error::StoreError;

/// Twilio's default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Twilio's largest page size.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Token of the page after this one; `None` on the last page.
    pub next_page: Option<String>,
    /// Token of the page before this one; `None` on the first page.
    pub previous_page: Option<String>,
    /// The page size that was applied.
    pub page_size: u32,
}

/// Where a listing is ordered: creation time, then SID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey {
    pub date_created: OffsetDateTime,
    pub sid: String,
}

impl SortKey {
    pub fn new(date_created: OffsetDateTime, sid: impl Into<String>) -> Self {
        Self {
            date_created,
            sid: sid.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    After,
    Before,
}

/// A decoded page token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    direction: Direction,
    key: SortKey,
}

impl Cursor {
    fn encode(&self) -> String {
        let d = match self.direction {
            Direction::After => 'A',
            Direction::Before => 'B',
        };
        format!(
            "{d}{}_{}",
            self.key.date_created.unix_timestamp(),
            self.key.sid
        )
    }

    fn decode(token: &str) -> Option<Self> {
        let direction = match token.chars().next()? {
            'A' => Direction::After,
            'B' => Direction::Before,
            _ => return None,
        };
        let (secs, sid) = token.get(1..)?.split_once('_')?;
        let secs: i64 = secs.parse().ok()?;
        let valid_sid = sid.len() == 34 && sid.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid_sid {
            return None;
        }
        let date_created = OffsetDateTime::from_unix_timestamp(secs).ok()?;
        Some(Self {
            direction,
            key: SortKey::new(date_created, sid),
        })
    }
}

/// Checks a page size: `None` is the default 50; 1 to 1000 otherwise, else 20001.
pub fn page_size(size: Option<u32>) -> Result<u32, StoreError> {
    match size {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(n) => Err(StoreError::new(
            twilio_codes::INVALID_PARAMETER,
            format!("PageSize must be between 1 and {MAX_PAGE_SIZE} (got {n})"),
        )),
    }
}

/// The 21481 error for a token the store did not issue.
pub fn invalid_page_token() -> StoreError {
    StoreError::new(twilio_codes::INVALID_PAGE_TOKEN, "Invalid PageToken")
}

/// Cuts one page out of `items`, which must already be filtered (the token does not carry the
/// filters: callers pass the same filters with every page). `key` gives each item's position.
pub fn paginate<T: Clone>(
    items: &[T],
    key: impl Fn(&T) -> SortKey,
    page_size: Option<u32>,
    page_token: Option<&str>,
) -> Result<Page<T>, StoreError> {
    let size = self::page_size(page_size)?;
    let cursor = match page_token {
        None => None,
        Some(token) => Some(Cursor::decode(token).ok_or_else(invalid_page_token)?),
    };
    let mut sorted: Vec<(SortKey, &T)> = items.iter().map(|item| (key(item), item)).collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));

    let n = size as usize;
    let (start, end) = match &cursor {
        None => (0, n.min(sorted.len())),
        Some(Cursor {
            direction: Direction::After,
            key,
        }) => {
            let start = sorted.partition_point(|(k, _)| k <= key);
            (start, (start + n).min(sorted.len()))
        }
        Some(Cursor {
            direction: Direction::Before,
            key,
        }) => {
            let end = sorted.partition_point(|(k, _)| k < key);
            (end.saturating_sub(n), end)
        }
    };
    let window = &sorted[start..end];
    let next_page = match window.last() {
        Some((last, _)) if end < sorted.len() => Some(
            Cursor {
                direction: Direction::After,
                key: last.clone(),
            }
            .encode(),
        ),
        _ => None,
    };
    let previous_page = match window.first() {
        Some((first, _)) if start > 0 => Some(
            Cursor {
                direction: Direction::Before,
                key: first.clone(),
            }
            .encode(),
        ),
        _ => None,
    };
    Ok(Page {
        items: window.iter().map(|(_, item)| (*item).clone()).collect(),
        next_page,
        previous_page,
        page_size: size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: u32) -> Vec<SortKey> {
        let t0 = time::macros::datetime!(2026-01-01 09:00:00 UTC);
        (0..n)
            .map(|i| {
                // Two items per second, so ties on the timestamp are broken by SID.
                let at = t0 + time::Duration::seconds(i64::from(i / 2));
                SortKey::new(at, format!("RM{:032x}", u128::from(1000 - i)))
            })
            .collect()
    }

    fn sids(page: &Page<SortKey>) -> Vec<String> {
        page.items.iter().map(|k| k.sid.clone()).collect()
    }

    #[test]
    fn following_next_page_visits_every_item_once_in_order() {
        let all = items(7);
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = paginate(&all, Clone::clone, Some(2), token.as_deref()).unwrap();
            pages += 1;
            seen.extend(sids(&page));
            match page.next_page {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(pages, 4);
        assert_eq!(
            seen,
            expected.iter().map(|k| k.sid.clone()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn previous_page_returns_to_the_page_before() {
        let all = items(5);
        let first = paginate(&all, Clone::clone, Some(2), None).unwrap();
        assert_eq!(first.previous_page, None);
        let second = paginate(&all, Clone::clone, Some(2), first.next_page.as_deref()).unwrap();
        let back = paginate(&all, Clone::clone, Some(2), second.previous_page.as_deref()).unwrap();
        assert_eq!(sids(&back), sids(&first));
        assert_eq!(back.previous_page, None);
    }

    #[test]
    fn an_item_created_between_pages_does_not_shift_the_next_page() {
        let mut all = items(4);
        let first = paginate(&all, Clone::clone, Some(2), None).unwrap();
        all.remove(0);
        let second = paginate(&all, Clone::clone, Some(2), first.next_page.as_deref()).unwrap();
        assert_eq!(
            second.items.len(),
            2,
            "removing a seen item must not skip an unseen one"
        );
        assert_eq!(second.next_page, None);
    }

    #[test]
    fn a_token_the_store_did_not_issue_is_refused_with_21481() {
        let all = items(3);
        for bad in [
            "",
            "x",
            "A12",
            "Afoo_RM1",
            "C1_RM00000000000000000000000000000001",
            "A1_é",
        ] {
            let err = paginate(&all, Clone::clone, None, Some(bad)).unwrap_err();
            assert_eq!(err.code, 21481, "token {bad:?}");
        }
    }

    #[test]
    fn page_sizes_outside_1_to_1000_are_refused_and_none_means_50() {
        assert_eq!(page_size(None), Ok(50));
        assert_eq!(page_size(Some(1000)), Ok(1000));
        assert_eq!(page_size(Some(0)).unwrap_err().code, 20001);
        assert_eq!(page_size(Some(1001)).unwrap_err().code, 20001);
    }

    #[test]
    fn an_empty_listing_is_one_empty_page() {
        let page = paginate(&[] as &[SortKey], Clone::clone, None, None).unwrap();
        assert!(page.items.is_empty());
        assert_eq!((page.next_page, page.previous_page), (None, None));
    }
}
