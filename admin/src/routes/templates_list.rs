//! `GET /v1/templates` (operator) -> `{"items": [template...]}`, by id.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::template_views;
use crate::extract::Caller;
use crate::problem::ApiError;
use crate::AppState;

pub async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require_operator()?;
    let items: Vec<Value> = state
        .catalog
        .templates()
        .await?
        .iter()
        .map(template_views::template)
        .collect();
    Ok(Json(json!({ "items": items })))
}
