//! `POST /v1/rollouts/{id}/resume` (operator) -> 200 the rollout, `running` again from the
//! wave it was in. 409 unless it is paused.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::rollout_views::control;
use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn resume_rollout(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        control(&state, &caller, id, &["paused"], "running").await?,
    ))
}
