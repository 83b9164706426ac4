//! `PUT /v1/tenants/{id}/webhook` `{"url"}` (operator, or a key of that tenant) -> 200
//! `{"url", "secret"}`: sets the tenant's webhook URL with a new signing secret, shown only here
//! (stored encrypted; `POST .../webhook/rotate` replaces it). `http` and `https` URLs only, and
//! only public addresses unless the operator allows private ones (`[webhooks] allow_private`):
//! 422 otherwise.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{ApiJson, Caller, IdPath};
use crate::problem::ApiError;
use crate::webhooks::{check_url, generate_secret, WebhookError};
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    pub url: String,
}

pub async fn put_webhook(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<WebhookBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require_tenant(id)?;
    if state.catalog.tenant_by_id(id).await?.is_none() {
        return Err(ApiError::not_found(format!("no tenant with id {id}")));
    }
    let url = match check_url(&body.url, state.webhooks.allow_private).await {
        Ok(url) => url,
        Err(WebhookError::Catalog(e)) => return Err(e.into()),
        Err(e) => return Err(ApiError::unprocessable(e.to_string())),
    };
    let secret = generate_secret();
    let set = state.catalog.set_webhook(id, &url, &secret).await;
    state
        .audit(&caller.audit("webhook.set", id, "webhook", set.is_ok()))
        .await;
    set?;
    Ok(Json(json!({ "url": url, "secret": secret })))
}
