//! JSON views of catalog records, shared by the routes.

use octodb_catalog::{AuditEntry, Job, Tenant, TenantSummary};
use serde_json::{json, Value};

pub fn tenant(t: &Tenant, status_reason: Option<String>) -> Value {
    let mut v = json!({
        "id": t.id,
        "name": t.name,
        "status": t.status.as_str(),
        "databases": t.databases.iter().map(|(l, _)| json!({ "name": l })).collect::<Vec<_>>(),
        "users": t.users,
    });
    if let Some(reason) = status_reason {
        v["status_reason"] = json!(reason);
    }
    v
}

pub fn tenant_summary(t: &TenantSummary) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "status": t.status.as_str(),
        "created_at": t.created_at,
    })
}

pub fn job(j: &Job) -> Value {
    let mut v = json!({
        "id": j.id,
        "kind": j.kind,
        "status": j.status.as_str(),
        "attempts": j.attempts,
        "tenant_id": j.tenant_id,
        "steps": j.steps.iter().map(|s| json!({
            "step": s.step,
            "status": s.status,
            "detail": s.detail,
            "at": s.at,
        })).collect::<Vec<_>>(),
        "created_at": j.created_at,
        "updated_at": j.updated_at,
    });
    if let Some(error) = &j.error {
        v["error"] = json!(error);
    }
    v
}

pub fn audit(a: &AuditEntry) -> Value {
    json!({
        "id": a.id,
        "at": a.at,
        "actor": a.actor,
        "action": a.action,
        "tenant_id": a.tenant_id,
        "target": a.target,
        "outcome": a.outcome,
        "request_id": a.request_id,
        "detail": a.detail,
    })
}
