//! `GET /v1/audit?action=&actor=&limit=&after=` (operator): the whole audit log, oldest first.

use axum::extract::State;
use axum::Json;
use octodb_catalog::AuditFilter;
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
    let filter = AuditFilter {
        tenant_id,
        action: q.action,
        actor: q.actor,
        after: page.after,
        limit: page.limit,
    };
    let rows = state.catalog.list_audit(&filter).await?;
    let items = rows.iter().map(views::audit).collect();
    Ok(Paged::new(items, page, |v: &Value| {
        v["id"].as_u64().unwrap_or_default()
    }))
}
