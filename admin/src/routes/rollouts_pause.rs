//! `POST /v1/rollouts/{id}/pause` (operator) -> 200 the rollout, now `paused`: no new
//! migration starts (running ones finish and are recorded). 409 unless it is running.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::rollout_views::control;
use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn pause_rollout(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        control(&state, &caller, id, &["running"], "paused").await?,
    ))
}
