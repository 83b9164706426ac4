//! `GET /v1/tenants/{id}/limits` (operator, or a key of that tenant) -> 200 with the tenant's
//! limits; a `null` field is the proxy's configured default for that limit.

use axum::extract::State;
use axum::Json;
use octodb_catalog::LimitSettings;

use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn get_limits(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<LimitSettings>, ApiError> {
    caller.require_tenant(id)?;
    let limits = state
        .catalog
        .tenant_limits(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant with id {id}")))?;
    Ok(Json(limits))
}
