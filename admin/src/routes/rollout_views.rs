//! The JSON view of a rollout (per-wave counts, per-database status), and the state change
//! shared by pause, resume and cancel.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use octodb_catalog::{Catalog, Rollout, RolloutDatabase};
use serde_json::{json, Value};

use crate::extract::Caller;
use crate::problem::ApiError;
use crate::AppState;

/// Per-database states counted per wave.
const COUNTED: &[&str] = &[
    "pending",
    "running",
    "done",
    "failed",
    "restored",
    "conflict",
    "skipped",
    "cancelled",
];

pub fn rollout(r: &Rollout, databases: &[RolloutDatabase]) -> Value {
    let mut waves: BTreeMap<u32, BTreeMap<&str, u64>> = BTreeMap::new();
    for d in databases {
        let counts = waves
            .entry(d.wave)
            .or_insert_with(|| COUNTED.iter().map(|s| (*s, 0)).collect());
        if let Some(n) = counts.get_mut(d.status.as_str()) {
            *n += 1;
        }
    }
    let waves: Vec<Value> = waves
        .into_iter()
        .map(|(wave, counts)| {
            let mut v = json!(counts);
            v["wave"] = wave.into();
            v["total"] = databases.iter().filter(|d| d.wave == wave).count().into();
            v
        })
        .collect();
    json!({
        "id": r.id,
        "template_id": r.template_id,
        "version": r.version,
        "status": r.status,
        "wave": r.wave,
        "max_failures": r.max_failures,
        "per_backend": r.per_backend,
        "error": r.error,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "waves": waves,
        "databases": databases.iter().map(|d| json!({
            "database_id": d.database_id,
            "tenant_id": d.tenant_id,
            "wave": d.wave,
            "target_version": d.target_version,
            "status": d.status,
            "job_id": d.job_id,
            "error": d.error,
        })).collect::<Vec<_>>(),
    })
}

/// The rollout `id` with its databases (404 if none).
pub async fn load(catalog: &Catalog, id: u64) -> Result<Value, ApiError> {
    let r = catalog
        .rollout(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no rollout with id {id}")))?;
    let dbs = catalog.rollout_databases(id).await?;
    Ok(rollout(&r, &dbs))
}

/// Moves rollout `id` from one of `from` to `to` (409 from any other state), audited.
pub async fn control(
    state: &AppState,
    caller: &Caller,
    id: u64,
    from: &[&str],
    to: &str,
) -> Result<Value, ApiError> {
    caller.require_operator()?;
    let r = state
        .catalog
        .rollout(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no rollout with id {id}")))?;
    let moved = state.catalog.set_rollout_status(id, from, to, None).await?;
    let target = format!("rollout/{id}");
    let mut audit =
        super::template_views::operator_audit(caller, "rollout.control", &target, moved);
    audit.detail = Some(to);
    state.audit(&audit).await;
    if !moved {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("rollout {id} is {}: it cannot become {to}", r.status),
        ));
    }
    load(&state.catalog, id).await
}
