//! `POST /v1/tenants/{id}/databases/{db}/template/opt-in` (operator, or a key of that tenant)
//! `{"version", "allow"?: [...]}` -> 202 `{"job_id", "version"}`: migrates this one database to
//! `version` of its template as a `migrate_database` job (see `jobs::migrate_database`). This is
//! how a `pinned` database moves; an `auto` one may use it too. 404 if the database follows no
//! template or the version does not exist; 409 while a migration job for it is pending.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use octodb_catalog::{DatabaseName, NewJob, TenantStatus};
use serde::Deserialize;
use serde_json::{json, Value};

use super::template_views;
use super::tenant_database::resolve;
use crate::extract::{ApiJson, Caller, IdNamePath};
use crate::jobs::migrate_database::{self, Payload};
use crate::problem::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptIn {
    pub version: u32,
    /// Risky changes to accept: kinds (`drop_column`) or keys (`drop_column:items.note`).
    #[serde(default)]
    pub allow: Vec<String>,
}

pub async fn opt_in(
    State(state): State<AppState>,
    caller: Caller,
    IdNamePath(id, db): IdNamePath<DatabaseName>,
    ApiJson(req): ApiJson<OptIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let allowed = [TenantStatus::Ready, TenantStatus::Suspended];
    resolve(&state, &caller, id, &db, &allowed).await?;
    let allow = template_views::allow(&req.allow)?;
    let binding = state
        .catalog
        .database_template(id, &db)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("database {db} follows no template")))?;
    state
        .catalog
        .template_version(binding.template_id, req.version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("its template has no version {}", req.version))
        })?;
    let payload = Payload {
        database_id: binding.database_id,
        version: req.version,
        allow,
        rollout_id: None,
    }
    .to_json()?;
    let job_id = state
        .catalog
        .create_migration_job(
            binding.database_id,
            &NewJob {
                kind: migrate_database::KIND,
                tenant_id: Some(id),
                payload: &payload,
                created_by: caller.actor(),
                request_id: Some(&caller.request_id),
            },
        )
        .await;
    let target = format!("database/{db}/template/opt-in");
    state
        .audit(&caller.audit("database.template_opt_in", id, &target, job_id.is_ok()))
        .await;
    let job_id = job_id?;
    state.queue.enqueue(job_id).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job_id": job_id, "version": req.version })),
    ))
}
