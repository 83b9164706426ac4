//! `POST /v1/tenants/{id}/resume` (operator) -> 200 with the tenant: a suspended tenant becomes
//! `ready` again. 409 in any other state.

use axum::extract::State;
use axum::Json;
use octodb_catalog::TenantStatus;
use serde_json::Value;

use super::tenants_suspend::transition;
use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn resume_tenant(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    transition(
        &state,
        &caller,
        id,
        TenantStatus::Suspended,
        TenantStatus::Ready,
        "tenant.resume",
    )
    .await
}
