//! `POST /v1/tenants/{id}/webhook/rotate` (operator, or a key of that tenant) -> 200
//! `{"url", "secret"}`: a new signing secret, shown only here; deliveries from now on are signed
//! with it. 404 if the tenant has no webhook.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::webhooks::generate_secret;
use crate::AppState;

pub async fn rotate_webhook(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    caller.require_tenant(id)?;
    let secret = generate_secret();
    let rotated = state.catalog.rotate_webhook_secret(id, &secret).await;
    state
        .audit(&caller.audit("webhook.rotate", id, "webhook", matches!(rotated, Ok(true))))
        .await;
    if !rotated? {
        return Err(ApiError::not_found(format!("tenant {id} has no webhook")));
    }
    let hook = state
        .catalog
        .webhook(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("tenant {id} has no webhook")))?;
    Ok(Json(json!({ "url": hook.url, "secret": secret })))
}
