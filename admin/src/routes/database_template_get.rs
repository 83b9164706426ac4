//! `GET /v1/tenants/{id}/databases/{db}/template` (operator, or a key of that tenant) -> the
//! binding: template, channel, overlay, version reached, migration status and error. 404 if
//! the database follows no template.

use axum::extract::State;
use axum::Json;
use octodb_catalog::{DatabaseName, TenantStatus};
use serde_json::Value;

use super::template_views;
use super::tenant_database::resolve;
use crate::extract::{Caller, IdNamePath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn get_database_template(
    State(state): State<AppState>,
    caller: Caller,
    IdNamePath(id, db): IdNamePath<DatabaseName>,
) -> Result<Json<Value>, ApiError> {
    let allowed = [TenantStatus::Ready, TenantStatus::Suspended];
    resolve(&state, &caller, id, &db, &allowed).await?;
    let binding = state
        .catalog
        .database_template(id, &db)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("database {db} follows no template")))?;
    Ok(Json(template_views::binding(&binding)))
}
