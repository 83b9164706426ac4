//! Schema drift: databases whose live schema differs from the schema their recorded version
//! promises (an out-of-band ALTER, a restore gone wrong, a table dropped by hand), with the
//! differences and the statements that would repair them.
//!
//! - [`check`]: one database, on demand (`GET /v1/tenants/{id}/databases/{db}/drift`) or in a
//!   run; databases of a run share workspaces and plans.
//! - [`periodic`]: every `[drift] interval_secs`, every bound database, with bounded
//!   concurrency; results in the catalog (`GET /v1/drift`).
//! - [`record`]: the latest result stored per database; a database that newly drifted is
//!   audited (`schema.drift_detected`) and its tenant's webhook told.
//!
//! Nothing here repairs anything: the report's statements are for the operator (or a new
//! migration) to run.

mod check;
mod periodic;
mod report;

use octodb_catalog::{DatabaseTemplate, NewAudit, NewDrift, OUTCOME_FAILURE};
use serde_json::json;

use crate::templates::{self, TemplateError};
use crate::AppState;

pub(crate) use check::{Checker, DriftReport, Outcome};
pub use periodic::start;

/// The audit action and webhook event of a database that newly drifted.
pub const DRIFT_DETECTED: &str = "schema.drift_detected";

/// Checks `b`'s database now (a checker of its own) and records a checked result.
pub(crate) async fn check_now(
    state: &AppState,
    b: &DatabaseTemplate,
    actor: Option<u64>,
    request_id: Option<&str>,
) -> Result<Outcome, TemplateError> {
    let checker = Checker::new(state.backend.clone());
    let mut conn = templates::connect(&state.backend).await?;
    let result = checker.check(&state.catalog, &mut conn, b).await;
    let dropped = checker.finish(&mut conn).await;
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "closing a backend connection");
    }
    let outcome = result?;
    dropped?;
    if let Outcome::Checked(report) = &outcome {
        record(state, report, actor, request_id).await;
    }
    Ok(outcome)
}

/// Stores `report` as its database's latest result; when the database was not already known
/// to have drifted, audits `schema.drift_detected` and notifies the tenant's webhook. Failures
/// are logged: the check itself is done.
pub(crate) async fn record(
    state: &AppState,
    report: &DriftReport,
    actor: Option<u64>,
    request_id: Option<&str>,
) {
    let json = match serde_json::to_string(report) {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!(error = %e, "cannot serialise a drift report");
            return;
        }
    };
    let recorded = state
        .catalog
        .record_drift(&NewDrift {
            database_id: report.database_id,
            tenant_id: report.tenant_id,
            status: report.status,
            version: report.version,
            report: &json,
        })
        .await;
    let previous = match recorded {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, database_id = report.database_id, "cannot record drift");
            return;
        }
    };
    if !report.drifted || previous.as_deref() == Some("drifted") {
        return;
    }
    tracing::info!(
        tenant_id = report.tenant_id,
        database = %report.database,
        differences = report.items.len(),
        "schema drift detected"
    );
    let target = format!("database/{}", report.database);
    let detail = format!("{} differences", report.items.len());
    state
        .audit(&NewAudit {
            actor,
            action: DRIFT_DETECTED,
            // A fault to look at: audit filters on failures find it.
            tenant_id: Some(report.tenant_id),
            target: Some(&target),
            outcome: OUTCOME_FAILURE,
            request_id,
            detail: Some(&detail),
        })
        .await;
    let data = json!({
        "database": report.database,
        "template_id": report.template_id,
        "version": report.version,
        "items": report.items,
        "statements": report.statements,
    });
    if let Err(e) = crate::webhooks::notify(state, report.tenant_id, DRIFT_DETECTED, data).await {
        tracing::warn!(error = %e, "cannot record a drift webhook");
    }
}
