//! `POST /v1/tenants/{id}/suspend` (operator) -> 200 with the tenant: a ready tenant becomes
//! `suspended` (proxies refuse it). 409 in any other state.

use axum::extract::State;
use axum::Json;
use octodb_catalog::TenantStatus;
use serde_json::Value;

use super::views;
use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn suspend_tenant(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    transition(
        &state,
        &caller,
        id,
        TenantStatus::Ready,
        TenantStatus::Suspended,
        "tenant.suspend",
    )
    .await
}

/// Moves tenant `id` from `from` to `to` (operator only), audited as `action`: 404 without the
/// tenant, 409 if it is not `from`. Answers the tenant.
pub(crate) async fn transition(
    state: &AppState,
    caller: &Caller,
    id: u64,
    from: TenantStatus,
    to: TenantStatus,
    action: &'static str,
) -> Result<Json<Value>, ApiError> {
    caller.require_operator()?;
    let changed = state.catalog.set_tenant_status(id, &[from], to).await;
    let tenant = match &changed {
        Ok(_) => state.catalog.tenant_by_id(id).await?,
        Err(_) => None,
    };
    let outcome = match (changed, tenant) {
        (Err(e), _) => Err(ApiError::from(e)),
        (Ok(_), None) => Err(ApiError::not_found(format!("no tenant with id {id}"))),
        (Ok(true), Some(t)) => Ok(t),
        (Ok(false), Some(t)) => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("tenant {} is {}, not {from}", t.name, t.status),
        )),
    };
    let target = format!("tenant/{id}");
    state
        .audit(&caller.audit(action, id, &target, outcome.is_ok()))
        .await;
    Ok(Json(views::tenant(&outcome?, None)))
}
