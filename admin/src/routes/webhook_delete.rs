//! `DELETE /v1/tenants/{id}/webhook` (operator, or a key of that tenant) -> 204: no more
//! deliveries (pending ones fail at their next attempt). 404 if the tenant has no webhook.

use axum::extract::State;
use axum::http::StatusCode;

use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    caller.require_tenant(id)?;
    let deleted = state.catalog.delete_webhook(id).await;
    state
        .audit(&caller.audit("webhook.delete", id, "webhook", matches!(deleted, Ok(true))))
        .await;
    if !deleted? {
        return Err(ApiError::not_found(format!("tenant {id} has no webhook")));
    }
    Ok(StatusCode::NO_CONTENT)
}
