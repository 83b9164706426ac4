//! `GET /v1/tenants/{id}/databases` (operator, or a key of that tenant) -> `{"items": [{"name"}],
//! "next": null}`, ordered by name (logical names only; physical names stay internal).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn list_databases(
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
    let items: Vec<Value> = tenant
        .databases
        .iter()
        .map(|(logical, _)| json!({ "name": logical }))
        .collect();
    Ok(Json(json!({ "items": items, "next": null })))
}
