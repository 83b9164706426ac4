//! `POST /v1/templates/{id}/versions/{v}/plan` (operator) `{"allow"?: [...]}` -> 200 a dry run:
//! for every database that would follow version `v` (channel `auto` on this template or any
//! descendant template), its plan statements, lint refusals (under `allow`) and warnings, and
//! merge conflicts with its overlay. Nothing is applied. See `templates::plan_databases`.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::template_views;
use crate::extract::{ApiJson, Caller};
use crate::problem::ApiError;
use crate::templates::plan_databases;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// Risky changes to accept: kinds (`drop_column`) or keys (`drop_column:items.note`).
    #[serde(default)]
    pub allow: Vec<String>,
}

/// `{id}` and `{v}`: numbers, or the path names nothing (404).
pub(crate) fn version_path(raw: (String, String)) -> Result<(u64, u32), ApiError> {
    let id = raw.0.parse().ok();
    let v = raw.1.parse().ok();
    match (id, v) {
        (Some(id), Some(v)) => Ok((id, v)),
        _ => Err(ApiError::not_found("no such template version")),
    }
}

pub async fn plan_version(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<(String, String)>,
    ApiJson(req): ApiJson<PlanRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require_operator()?;
    let (id, v) = version_path(raw)?;
    let allow = template_views::allow(&req.allow)?;
    state
        .catalog
        .template_version(id, v)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("template {id} has no version {v}")))?;
    let dry_run = plan_databases(&state.catalog, &state.backend, id, v, &allow).await?;
    let mut out = serde_json::to_value(&dry_run)
        .map_err(|e| ApiError::from(octodb_catalog::CatalogError::Corrupt(e.to_string())))?;
    out["template_id"] = id.into();
    out["version"] = v.into();
    Ok(Json(out))
}
