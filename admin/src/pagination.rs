//! Cursor pagination shared by the list routes: `?limit=&after=`, answered as
//! `{"items": [...], "next": "<cursor>" | null}`. Cursors are opaque to clients (today: the last
//! id of the page).

use serde::{Deserialize, Serialize};

use crate::problem::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub after: Option<u64>,
    pub limit: u32,
}

impl Page {
    /// Validates `limit` (1..=500) and `after` (a cursor from a previous page): 422 otherwise.
    pub fn parse(limit: Option<u32>, after: Option<&str>) -> Result<Page, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::unprocessable(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let after = match after {
            None | Some("") => None,
            Some(c) => Some(
                c.parse()
                    .map_err(|_| ApiError::unprocessable(format!("invalid cursor {c:?}")))?,
            ),
        };
        Ok(Page { after, limit })
    }
}

#[derive(Debug, Serialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Paged<T> {
    /// A page; `next` is set when it is full (`id` gives an item's cursor).
    pub fn new(items: Vec<T>, page: Page, id: impl Fn(&T) -> u64) -> Self {
        let next = if items.len() as u64 >= u64::from(page.limit) {
            items.last().map(|i| id(i).to_string())
        } else {
            None
        };
        Paged { items, next }
    }
}

/// `?limit=&after=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub after: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        assert!(Page::parse(Some(0), None).is_err());
        assert!(Page::parse(Some(501), None).is_err());
        assert!(Page::parse(None, Some("x")).is_err());
        let p = Page::parse(Some(2), Some("7")).unwrap();
        assert_eq!((p.limit, p.after), (2, Some(7)));
        let full = Paged::new(vec![8u64, 9], p, |i| *i);
        assert_eq!(full.next.as_deref(), Some("9"));
        let short = Paged::new(vec![8u64], p, |i| *i);
        assert_eq!(short.next, None);
    }
}
