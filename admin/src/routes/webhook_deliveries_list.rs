//! `GET /v1/tenants/{id}/webhook/deliveries?limit=&after=` (operator, or a key of that tenant):
//! the tenant's webhook deliveries, oldest first, with their status (`pending`, `delivered`,
//! `failed`), attempts, next attempt, last error and last HTTP status.

use axum::extract::State;
use axum::Json;
use octodb_catalog::WebhookDelivery;
use serde_json::{json, Value};

use crate::extract::{ApiQuery, Caller, IdPath};
use crate::pagination::{Page, PageQuery, Paged};
use crate::problem::ApiError;
use crate::AppState;

pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Paged<Value>>, ApiError> {
    caller.require_tenant(id)?;
    let page = Page::parse(q.limit, q.after.as_deref())?;
    if state.catalog.tenant_by_id(id).await?.is_none() {
        return Err(ApiError::not_found(format!("no tenant with id {id}")));
    }
    let rows = state
        .catalog
        .list_webhook_deliveries(id, page.after, page.limit)
        .await?;
    let items = rows.iter().map(view).collect();
    Ok(Json(Paged::new(items, page, |v: &Value| {
        v["id"].as_u64().unwrap_or_default()
    })))
}

/// A delivery as the API shows it (`data` as JSON).
fn view(d: &WebhookDelivery) -> Value {
    let data: Value = serde_json::from_str(&d.payload).unwrap_or(Value::Null);
    json!({
        "id": d.id,
        "event": d.event,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "last_error": d.last_error,
        "response_status": d.response_status,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "data": data,
    })
}
