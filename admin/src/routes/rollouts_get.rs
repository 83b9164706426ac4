//! `GET /v1/rollouts/{id}` (operator) -> the rollout: status, current wave, per-wave counts
//! (pending, running, done, failed, restored, conflict, skipped, cancelled) and each
//! database's status, job and error.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use super::rollout_views::load;
use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn get_rollout(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    caller.require_operator()?;
    Ok(Json(load(&state.catalog, id).await?))
}
