//! `DELETE /v1/tenants/{id}/databases/{db}` (operator, or a key of that tenant) -> 202
//! `{"tenant_id", "name", "job_id"}`: a `drop_database` job revokes and drops it. 404 if there is
//! no such database, 409 as for creation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use octodb_catalog::{DatabaseChange, DatabaseName, NewJob};
use serde_json::{json, Value};

use crate::extract::{Caller, IdNamePath};
use crate::jobs::database_job::{self, Payload};
use crate::problem::ApiError;
use crate::AppState;

pub async fn drop_database(
    State(state): State<AppState>,
    caller: Caller,
    IdNamePath(id, name): IdNamePath<DatabaseName>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let job_id = begin(&state, &caller, id, name.clone(), DatabaseChange::Drop).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "tenant_id": id, "name": name, "job_id": job_id })),
    ))
}

/// Records (with its audit row) and queues the job adding or dropping `name`. Returns its id.
pub(crate) async fn begin(
    state: &AppState,
    caller: &Caller,
    id: u64,
    name: DatabaseName,
    change: DatabaseChange,
) -> Result<u64, ApiError> {
    caller.require_tenant(id)?;
    let (kind, action) = match change {
        DatabaseChange::Add => (database_job::ADD_KIND, "database.create"),
        DatabaseChange::Drop => (database_job::DROP_KIND, "database.drop"),
    };
    let target = format!("database/{name}");
    let payload = Payload { name: name.clone() }.to_json()?;
    let job = NewJob {
        kind,
        tenant_id: Some(id),
        payload: &payload,
        created_by: caller.actor(),
        request_id: Some(&caller.request_id),
    };
    let audit = caller.audit(action, id, &target, true);
    let begun = state
        .catalog
        .begin_database_job(id, &name, change, job, audit)
        .await;
    match begun {
        Ok(job_id) => {
            state.queue.enqueue(job_id).await;
            Ok(job_id)
        }
        Err(e) => {
            state.audit(&caller.audit(action, id, &target, false)).await;
            Err(e.into())
        }
    }
}
