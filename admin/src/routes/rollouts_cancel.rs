//! `POST /v1/rollouts/{id}/cancel` (operator) -> 200 the rollout, `cancelled`: its pending
//! databases are never started (`cancelled`); migrations already running finish (each ends at
//! the target or restored) and are recorded. 409 unless it is running or paused.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::rollout_views::control;
use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn cancel_rollout(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        control(&state, &caller, id, &["running", "paused"], "cancelled").await?,
    ))
}
