//! `GET /v1/audit?action=&actor=&since=&until=&limit=&after=` (operator): the whole audit log,
//! oldest first.
//!
//! `since` (inclusive) and `until` (exclusive) are RFC 3339 instants, so consecutive windows
//! neither overlap nor leave gaps; all filters are bound parameters of one catalog query.

use axum::extract::State;
use axum::Json;
use octodb_catalog::{AuditFilter, UtcTimestamp};
use serde::Deserialize;
use serde_json::Value;

use super::views;
use crate::extract::{ApiQuery, Caller};
use crate::pagination::{Page, Paged};
use crate::problem::ApiError;
use crate::AppState;

/// Filters shared with `GET /v1/tenants/{id}/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub actor: Option<u64>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Paged<Value>>, ApiError> {
    caller.require_operator()?;
    page_of(&state, q, None).await.map(Json)
}

/// One page of audit rows, optionally of one tenant.
pub(crate) async fn page_of(
    state: &AppState,
    q: AuditQuery,
    tenant_id: Option<u64>,
) -> Result<Paged<Value>, ApiError> {
    let page = Page::parse(q.limit, q.after.as_deref())?;
    let since = instant("since", q.since.as_deref())?;
    let until = instant("until", q.until.as_deref())?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(ApiError::unprocessable(format!(
                "since ({s}) is after until ({u})"
            )));
        }
    }
    let filter = AuditFilter {
        tenant_id,
        action: q.action,
        actor: q.actor,
        since,
        until,
        after: page.after,
        limit: page.limit,
    };
    let rows = state.catalog.list_audit(&filter).await?;
    let items = rows.iter().map(views::audit).collect();
    Ok(Paged::new(items, page, |v: &Value| {
        v["id"].as_u64().unwrap_or_default()
    }))
}

/// The query parameter `name` as an instant (absent or empty: no bound; invalid: 422 naming it).
fn instant(name: &str, raw: Option<&str>) -> Result<Option<UtcTimestamp>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    UtcTimestamp::parse_rfc3339(&unplus(raw))
        .map(Some)
        .map_err(|e| ApiError::unprocessable(format!("query parameter {name}={raw:?}: {e}")))
}

/// An unencoded `+` in a query string decodes as a space, turning `...T12:00:00+02:00` into
/// `...T12:00:00 02:00`. A space cannot appear there otherwise, so it is read back as `+`.
fn unplus(raw: &str) -> String {
    let b = raw.as_bytes();
    match b.len().checked_sub(6) {
        Some(i) if b[i] == b' ' && b[i + 3] == b':' && i > 10 => {
            format!("{}+{}", &raw[..i], &raw[i + 1..])
        }
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_from_query_values() {
        let t = instant("since", Some("2024-05-01T12:00:00 02:00")).unwrap();
        assert_eq!(t.unwrap().to_string(), "2024-05-01T10:00:00.000000Z");
        assert_eq!(instant("since", Some("")).unwrap(), None);
        assert_eq!(instant("since", None).unwrap(), None);
        let e = instant("until", Some("yesterday")).unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert!(e.detail.contains("until"), "{e:?}");
        // Not a space in the offset position: left alone (and refused).
        assert!(instant("since", Some("2024-05-01 12:00:00")).is_err());
        assert!(instant("since", Some("ab cd:ef")).is_err());
    }
}
