//! `GET /v1/tenants/{id}/digests?limit=` (operator, or a key of that tenant): the tenant's
//! statement digests as the proxies published them (every `digest_flush_secs`), summed over
//! proxies, most total time first: normalised text, count, total/min/max/avg latency in
//! microseconds, rows sent or affected, errors, first and last seen.
//!
//! `DELETE /v1/tenants/{id}/digests` (same callers) -> 204: forgets them (for example before
//! measuring a change); proxies keep adding from then on. Audited as `tenant.digests.reset`.
//! Rows not seen for a week are pruned by the admin on its own (`crate::digests`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use octodb_catalog::DigestSummary;
use serde::{Deserialize, Serialize};

use crate::extract::{ApiQuery, Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

/// Digests listed when `limit` is not given, and the most a request may ask for.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestQuery {
    pub limit: Option<u32>,
}

/// The answer of `GET`.
#[derive(Debug, Serialize)]
pub struct DigestList {
    pub tenant_id: u64,
    pub items: Vec<DigestSummary>,
}

pub async fn list_digests(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiQuery(q): ApiQuery<DigestQuery>,
) -> Result<Json<DigestList>, ApiError> {
    caller.require_tenant(id)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::unprocessable(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    if state.catalog.tenant_by_id(id).await?.is_none() {
        return Err(ApiError::not_found(format!("no tenant with id {id}")));
    }
    let items = state.catalog.tenant_digests(id, limit).await?;
    Ok(Json(DigestList {
        tenant_id: id,
        items,
    }))
}

pub async fn reset_digests(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    caller.require_tenant(id)?;
    if state.catalog.tenant_by_id(id).await?.is_none() {
        return Err(ApiError::not_found(format!("no tenant with id {id}")));
    }
    let reset = state.catalog.reset_tenant_digests(id).await;
    state
        .audit(&caller.audit("tenant.digests.reset", id, "digests", reset.is_ok()))
        .await;
    reset?;
    Ok(StatusCode::NO_CONTENT)
}
