//! `GET /v1/tenants?limit=&after=`: all tenants for an operator key, its own for a tenant key.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::views;
use crate::extract::{ApiQuery, Caller};
use crate::pagination::{Page, PageQuery, Paged};
use crate::problem::ApiError;
use crate::AppState;

pub async fn list_tenants(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Paged<Value>>, ApiError> {
    let page = Page::parse(q.limit, q.after.as_deref())?;
    let only = caller.key.scope.tenant_id();
    let tenants = state
        .catalog
        .list_tenants(page.after, page.limit, only)
        .await?;
    let items = tenants.iter().map(views::tenant_summary).collect();
    Ok(Json(Paged::new(items, page, |v: &Value| {
        v["id"].as_u64().unwrap_or_default()
    })))
}
