//! `GET /v1/jobs/{id}` -> `{"id", "kind", "status", "attempts", "steps": [...], "error"?}`.
//! Operator keys see every job, tenant keys their tenant's jobs (others: 403).

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::views;
use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn get_job(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let job = state.catalog.job(id).await?;
    // Tenant keys learn nothing about jobs that are not theirs, not even whether they exist.
    if caller.key.scope.tenant_id().is_some() {
        match job.as_ref().and_then(|j| j.tenant_id) {
            Some(t) => caller.require_tenant(t)?,
            None => caller.require_operator()?,
        }
    }
    let job = job.ok_or_else(|| ApiError::not_found(format!("no job with id {id}")))?;
    Ok(Json(views::job(&job)))
}
