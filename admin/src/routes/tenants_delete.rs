//! `DELETE /v1/tenants/{id}` (operator) -> 202 `{"id", "status": "deleting", "job_id"}`. The
//! tenant moves to `deleting` with its `delete_tenant` job and audit row in one transaction; the
//! job removes its users first (proxies refuse it at once), then its databases, its backend user,
//! and its catalog rows. 409 while the tenant has unfinished jobs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use octodb_catalog::NewJob;
use serde_json::{json, Value};

use crate::extract::{Caller, IdPath};
use crate::jobs::delete_tenant;
use crate::problem::ApiError;
use crate::AppState;

pub async fn delete_tenant(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_operator()?;
    let target = format!("tenant/{id}");
    let job = NewJob {
        kind: delete_tenant::KIND,
        tenant_id: Some(id),
        payload: "{}",
        created_by: caller.actor(),
        request_id: Some(&caller.request_id),
    };
    let begun = state
        .catalog
        .begin_tenant_deletion(id, job, caller.audit("tenant.delete", id, &target, true))
        .await;
    let job_id = match begun {
        Ok(job_id) => job_id,
        Err(e) => {
            state
                .audit(&caller.audit("tenant.delete", id, &target, false))
                .await;
            return Err(e.into());
        }
    };
    state.queue.enqueue(job_id).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "status": "deleting", "job_id": job_id })),
    ))
}
