//! `GET /v1/tenants/{id}/webhook` (operator, or a key of that tenant) -> 200 `{"url"}`; the
//! secret is never shown again (rotate it if lost). 404 if the tenant has no webhook.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    caller.require_tenant(id)?;
    let hook = state
        .catalog
        .webhook(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("tenant {id} has no webhook")))?;
    Ok(Json(json!({ "url": hook.url })))
}
