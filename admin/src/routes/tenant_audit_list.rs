//! `GET /v1/tenants/{id}/audit?action=&actor=&since=&until=&limit=&after=` (operator, or a key
//! of that tenant): the tenant's audit rows, oldest first (filters as in `GET /v1/audit`).

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::audit_list::{page_of, AuditQuery};
use crate::extract::{ApiQuery, Caller, IdPath};
use crate::pagination::Paged;
use crate::problem::ApiError;
use crate::AppState;

pub async fn list_tenant_audit(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Paged<Value>>, ApiError> {
    caller.require_tenant(id)?;
    if state.catalog.tenant_by_id(id).await?.is_none() {
        return Err(ApiError::not_found(format!("no tenant with id {id}")));
    }
    page_of(&state, q, Some(id)).await.map(Json)
}
