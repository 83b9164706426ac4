//! `GET /v1/tenants/{id}/databases/{db}/schema` (operator, or a key of that tenant) -> the
//! database's tables with their columns, indexes and foreign keys, under logical names only
//! (see `octodb_catalog::describe_database`). Read from the backend's information_schema with
//! the admin's backend account, filtered on the physical name from the catalog.
//!
//! 404 for an unknown tenant or database; 409 unless the tenant is ready or suspended (a
//! suspended tenant's databases can still be managed, as with `POST .../databases`; its data
//! cannot be queried).

use axum::extract::State;
use axum::Json;
use octodb_catalog::{describe_database, DatabaseName, DatabaseSchema, TenantStatus};

use super::tenant_database::resolve;
use crate::extract::{Caller, IdNamePath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn get_schema(
    State(state): State<AppState>,
    caller: Caller,
    IdNamePath(id, db): IdNamePath<DatabaseName>,
) -> Result<Json<DatabaseSchema>, ApiError> {
    let allowed = [TenantStatus::Ready, TenantStatus::Suspended];
    let (tenant, _) = resolve(&state, &caller, id, &db, &allowed).await?;
    Ok(Json(describe_database(&state.backend, &tenant, &db).await?))
}
