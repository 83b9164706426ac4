//! `GET /v1/drift?status=&limit=&after=` (operator) -> the latest drift check of each
//! template-bound database (the periodic run's, or a later on-demand check's), by database id:
//! only drifted databases unless `status` says otherwise (`in_sync`, `error`, or `all`).
//! Each item: `database_id`, `tenant_id`, `tenant`, `database`, `status`, `version`,
//! `checked_at`, and the report's `items`, `statements` and `error`.

use axum::extract::State;
use axum::Json;
use octodb_catalog::{DriftRecord, DRIFT_STATES};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{ApiQuery, Caller};
use crate::pagination::{Page, Paged};
use crate::problem::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftQuery {
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

pub async fn list_drift(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DriftQuery>,
) -> Result<Json<Paged<Value>>, ApiError> {
    caller.require_operator()?;
    let page = Page::parse(q.limit, q.after.as_deref())?;
    let status = match q.status.as_deref() {
        None | Some("") => Some("drifted"),
        Some("all") => None,
        Some(s) if DRIFT_STATES.contains(&s) => Some(s),
        Some(s) => {
            return Err(ApiError::unprocessable(format!(
                "status must be one of {}, or all; not {s:?}",
                DRIFT_STATES.join(", ")
            )))
        }
    };
    let rows = state
        .catalog
        .drift_results(status, page.after, page.limit)
        .await?;
    let items = rows.iter().map(view).collect();
    Ok(Json(Paged::new(items, page, |v: &Value| {
        v["database_id"].as_u64().unwrap_or_default()
    })))
}

fn view(r: &DriftRecord) -> Value {
    // Stored by this admin; an unreadable one still lists the database.
    let report: Value = serde_json::from_str(&r.report).unwrap_or(Value::Null);
    json!({
        "database_id": r.database_id,
        "tenant_id": r.tenant_id,
        "tenant": r.tenant_name,
        "database": r.database,
        "status": r.status,
        "version": r.version,
        "checked_at": r.checked_at,
        "template_id": report["template_id"],
        "items": report.get("items").cloned().unwrap_or_else(|| json!([])),
        "statements": report.get("statements").cloned().unwrap_or_else(|| json!([])),
        "error": report["error"],
    })
}
