//! `POST /v1/templates/{id}/versions/{v}/rollout` (operator) `{"canary"?, "batch"?,
//! "max_failures"?, "per_backend"?, "allow"?: [...]}` -> 202 `{"id", "databases", "skipped"}`.
//!
//! Rolls version `v` down the tree to every database that follows it on channel `auto` (see
//! `rollout::create`), in waves: `canary` databases first (default 1), then batches of `batch`
//! (default 10), at most `per_backend` migrations at once (default 2). A wave with more than
//! `max_failures` failed or restored databases (default 0) stops the rollout. Progress:
//! `GET /v1/rollouts/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::template_views;
use crate::extract::{ApiJson, Caller, IdNamePath};
use crate::problem::ApiError;
use crate::rollout::create::{create, Request};
use crate::rollout::DEFAULT_PER_BACKEND;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRollout {
    #[serde(default = "one")]
    pub canary: u32,
    #[serde(default = "ten")]
    pub batch: u32,
    #[serde(default)]
    pub max_failures: u32,
    #[serde(default = "per_backend")]
    pub per_backend: u32,
    #[serde(default)]
    pub allow: Vec<String>,
}

fn one() -> u32 {
    1
}

fn ten() -> u32 {
    10
}

fn per_backend() -> u32 {
    DEFAULT_PER_BACKEND
}

pub async fn create_rollout(
    State(state): State<AppState>,
    caller: Caller,
    // `{id}` and `{v}` are numbers, or the path names nothing (404).
    IdNamePath(id, v): IdNamePath<u32>,
    ApiJson(req): ApiJson<CreateRollout>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_operator()?;
    let allow = template_views::allow(&req.allow)?;
    if req.batch == 0 || req.per_backend == 0 {
        return Err(ApiError::unprocessable(
            "batch and per_backend must be at least 1",
        ));
    }
    state
        .catalog
        .template_version(id, v)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("template {id} has no version {v}")))?;
    let request = Request {
        template_id: id,
        version: v,
        canary: req.canary,
        batch: req.batch,
        max_failures: req.max_failures,
        per_backend: req.per_backend,
        allow,
        created_by: caller.actor(),
        request_id: caller.request_id.clone(),
    };
    let created = create(&state.catalog, &request).await;
    let target = format!("template/{id}/version/{v}");
    state
        .audit(&template_views::operator_audit(
            &caller,
            "rollout.create",
            &target,
            created.is_ok(),
        ))
        .await;
    let (rollout_id, databases, skipped) = created?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": rollout_id, "databases": databases, "skipped": skipped })),
    ))
}
