//! `GET /v1/tenants/{id}` (operator, or a key of that tenant): the tenant, its logical
//! databases and users; `status_reason` when provisioning failed.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::views;
use crate::extract::{Caller, IdPath};
use crate::jobs::provision_tenant;
use crate::problem::ApiError;
use crate::AppState;

pub async fn get_tenant(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    caller.require_tenant(id)?;
    let tenant = state
        .catalog
        .tenant_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no tenant with id {id}")))?;
    let reason = match tenant.status {
        octodb_catalog::TenantStatus::Failed => {
            state
                .catalog
                .last_job_failure(id, provision_tenant::KIND)
                .await?
        }
        _ => None,
    };
    Ok(Json(views::tenant(&tenant, reason)))
}
