//! `GET /v1/templates/{id}` (operator) -> the template with its versions (bodies included,
//! oldest first). 404 if there is none.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::template_views;
use crate::extract::{Caller, IdPath};
use crate::problem::ApiError;
use crate::AppState;

pub async fn get_template(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    caller.require_operator()?;
    let t = state
        .catalog
        .template(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no template with id {id}")))?;
    let versions: Vec<Value> = state
        .catalog
        .template_versions(id)
        .await?
        .iter()
        .map(template_views::version)
        .collect();
    let mut v = template_views::template(&t);
    v["versions"] = json!(versions);
    Ok(Json(v))
}
