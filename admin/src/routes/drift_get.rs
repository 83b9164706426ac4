//! `GET /v1/tenants/{id}/databases/{db}/drift` (operator, or a key of that tenant) -> the
//! database's drift, checked now: `status` `in_sync` or `drifted` (or `error`, or
//! `not_migrated` when it has no recorded version yet), the differences as `items` (`object`,
//! `table`, `name`, `problem`, `expected`, `actual`) and the `statements` that would repair
//! them. The result is also stored as the database's latest (`GET /v1/drift`); a database that
//! newly drifted is audited and its tenant's webhook told.
//!
//! 404 if the database follows no template; 409 while a migration of it runs (its schema is
//! moving on purpose).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use octodb_catalog::{DatabaseName, TenantStatus};
use serde_json::{json, Value};

use super::tenant_database::resolve;
use crate::drift::{check_now, Outcome};
use crate::extract::{Caller, IdNamePath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn get_drift(
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
    match check_now(&state, &binding, caller.actor(), Some(&caller.request_id)).await? {
        Outcome::Checked(report) => Ok(Json(json!(report))),
        Outcome::NotMigrated => Ok(Json(json!({
            "tenant_id": binding.tenant_id,
            "tenant": binding.tenant_name,
            "database": binding.database,
            "database_id": binding.database_id,
            "template_id": binding.template_id,
            "version": null,
            "status": "not_migrated",
            "drifted": false,
            "items": [],
            "statements": [],
        }))),
        Outcome::Busy => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("a migration of database {db} is running; check again when it ends"),
        )),
    }
}
