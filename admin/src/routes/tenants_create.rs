//! `POST /v1/tenants` (operator) `{"name"}` -> 202 `{"id", "name", "status": "provisioning",
//! "job_id"}`. The tenant row, its `provision_tenant` job and the audit row are written in one
//! transaction; the job then runs in the background. 409 if the name is taken, 422 if invalid.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use octodb_catalog::{
    CatalogError, DatabaseName, NewAudit, NewJob, TenantName, OUTCOME_FAILURE, OUTCOME_SUCCESS,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{ApiJson, Caller};
use crate::jobs::provision_tenant::{self, Payload, INITIAL_DATABASE};
use crate::problem::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: TenantName,
}

pub async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_operator()?;
    let payload = Payload {
        databases: vec![DatabaseName::parse(INITIAL_DATABASE)?],
    };
    let payload = serde_json::to_string(&payload)
        .map_err(|e| ApiError::from(CatalogError::Invalid(e.to_string())))?;
    let target = format!("tenant/{}", req.name);
    let audit = NewAudit {
        actor: caller.actor(),
        action: "tenant.create",
        tenant_id: None,
        target: Some(&target),
        outcome: OUTCOME_SUCCESS,
        request_id: Some(&caller.request_id),
        detail: None,
    };
    let job = NewJob {
        kind: provision_tenant::KIND,
        tenant_id: None,
        payload: &payload,
        created_by: caller.actor(),
        request_id: Some(&caller.request_id),
    };
    let begun = state
        .catalog
        .begin_tenant(&state.backend, &req.name, job, audit.clone())
        .await;
    let (tenant_id, job_id) = match begun {
        Ok(ids) => ids,
        Err(e) => {
            state
                .audit(&NewAudit {
                    outcome: OUTCOME_FAILURE,
                    ..audit
                })
                .await;
            return Err(e.into());
        }
    };
    state.queue.enqueue(job_id).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": tenant_id,
            "name": req.name,
            "status": "provisioning",
            "job_id": job_id,
        })),
    ))
}
