//! `POST /v1/tenants/{id}/databases` (operator, or a key of that tenant) `{"name"}` -> 202
//! `{"tenant_id", "name", "job_id"}`: an `add_database` job creates it. 409 if it exists, if a
//! job for it is pending, or if the tenant is not ready or suspended; 422 for an invalid name.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use octodb_catalog::{DatabaseChange, DatabaseName};
use serde::Deserialize;
use serde_json::{json, Value};

use super::databases_drop::begin;
use crate::extract::{ApiJson, Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDatabase {
    pub name: DatabaseName,
}

pub async fn create_database(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(req): ApiJson<CreateDatabase>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let job_id = begin(&state, &caller, id, req.name.clone(), DatabaseChange::Add).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "tenant_id": id, "name": req.name, "job_id": job_id })),
    ))
}
