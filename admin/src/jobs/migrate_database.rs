//! The `migrate_database` job: one logical database to one version of its template.
//!
//! An attempt: take the database's migration lock (never two migrations on one database; an
//! expired lock is taken over), snapshot the schema (the FIRST snapshot is kept in the catalog
//! across retries), work out the desired schema (chain + overlay; conflicts with a parent's
//! change stop here: status `conflict`, nothing applied), build it in a workspace and plan from
//! the live state, lint under the job's allow list (refused: nothing applied), apply step by
//! step (each step recorded in `job_steps` and the audit log), verify, record the version.
//!
//! Within a rollout the workspace model and the plan come from the rollout's shared cache
//! (`rollout::SharedPlans`): one workspace per distinct desired schema, one plan per distinct
//! (desired schema, live state). Everything that makes a migration safe stays per database: the
//! lock, the first snapshot, the check that the live state is the plan's starting point, lint
//! under this job's allow list, the verification (the re-read live model against the shared
//! workspace model), the restore. The plan step's detail names the workspace and the starting
//! state, so shared plans can be seen in the job's steps.
//!
//! A transient error (lock wait timeout, deadlock, lost connection) fails the attempt retryably:
//! the queue retries with backoff and the next attempt plans again from the live state. A final
//! failure ([`on_failure`]) restores the first snapshot when the schema moved, marks the
//! database `restored` (or leaves `conflict` / `failed` when nothing was applied) with the
//! reason, audits it and notifies the tenant.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::Conn;
use octodb_catalog::{CatalogError, DatabaseTemplate, Job, NewAudit, OUTCOME_FAILURE};
use octodb_schema::{
    Allow, Applier, ApplyOptions, DatabaseDefaults, DesiredSchema, SchemaModel, SchemaName,
    Snapshot, Workspace,
};
use serde::{Deserialize, Serialize};

use super::runner::Ctx;
use super::{JobError, MigrationFailure};
use crate::rollout::cache::SharedPlan;
use crate::templates::{self, describe_conflicts, TemplateError};

pub const KIND: &str = "migrate_database";

/// How long a migration lock lasts before another worker may take it over.
const LOCK_TTL_SECS: u32 = 600;

/// Longest wait for a tenant's metadata lock per statement.
const LOCK_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub database_id: u64,
    /// The version of the database's template to reach.
    pub version: u32,
    /// Risky changes accepted (kinds or keys, as in the API).
    #[serde(default)]
    pub allow: Allow,
    /// The rollout this migration belongs to, if any.
    #[serde(default)]
    pub rollout_id: Option<u64>,
}

impl Payload {
    pub fn to_json(&self) -> Result<String, CatalogError> {
        serde_json::to_string(self).map_err(|e| CatalogError::Invalid(e.to_string()))
    }
}

fn payload(job: &Job) -> Result<Payload, JobError> {
    serde_json::from_str(&job.payload).map_err(|e| JobError::Payload(e.to_string()))
}

fn owner(job: &Job) -> String {
    format!("job/{}", job.id)
}

/// An attempt's failure, classified.
fn fail(message: impl Into<String>, retryable: bool) -> JobError {
    JobError::Migration(MigrationFailure {
        message: message.into(),
        retryable,
    })
}

impl From<TemplateError> for JobError {
    fn from(e: TemplateError) -> Self {
        let retryable = e.is_retryable();
        fail(e.to_string(), retryable)
    }
}

pub(crate) async fn run(ctx: &Ctx, job: &Job) -> Result<(), JobError> {
    let p = payload(job)?;
    let binding = ctx
        .catalog
        .database_template_by_id(p.database_id)
        .await?
        .ok_or_else(|| fail("the database no longer follows a template", false))?;
    let owner = owner(job);
    if !ctx
        .catalog
        .lock_database_migration(p.database_id, &owner, LOCK_TTL_SECS)
        .await?
    {
        return Err(fail("another migration holds the database's lock", true));
    }
    let result = attempt(ctx, job, &p, &binding).await;
    if let Some(e) = result.as_ref().err().filter(|e| e.is_retryable()) {
        // Keep the reason visible while the job waits for its retry.
        let _ = ctx
            .catalog
            .set_database_migration_status(p.database_id, "migrating", Some(&e.to_string()))
            .await;
    }
    if let Err(e) = ctx
        .catalog
        .unlock_database_migration(p.database_id, &owner)
        .await
    {
        tracing::warn!(job_id = job.id, error = %e, "cannot release a migration lock");
    }
    result
}

async fn attempt(
    ctx: &Ctx,
    job: &Job,
    p: &Payload,
    binding: &DatabaseTemplate,
) -> Result<(), JobError> {
    let catalog = &ctx.catalog;
    if binding.backend_host != ctx.backend.host || binding.backend_port != ctx.backend.port {
        return Err(fail("the database lives on another backend server", false));
    }
    let target = SchemaName::new(binding.physical.as_str())
        .map_err(|e| fail(format!("physical name: {e}"), false))?;
    catalog
        .set_database_migration_status(p.database_id, "migrating", None)
        .await?;
    let mut conn = templates::connect(&ctx.backend)
        .await
        .map_err(TemplateError::from)?;
    let result = migrate(ctx, job, p, binding, &target, &mut conn).await;
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "closing a backend connection");
    }
    result
}

async fn migrate(
    ctx: &Ctx,
    job: &Job,
    p: &Payload,
    binding: &DatabaseTemplate,
    target: &SchemaName,
    conn: &mut Conn,
) -> Result<(), JobError> {
    let catalog = &ctx.catalog;
    let live = Snapshot::take(conn, target)
        .await
        .map_err(TemplateError::from)?;
    let json = serde_json::to_string(&live).map_err(|e| fail(e.to_string(), false))?;
    catalog.keep_first_snapshot(p.database_id, &json).await?;
    record(
        ctx,
        job,
        "snapshot",
        true,
        &format!("{} tables", live.model.tables.len()),
    )
    .await?;

    let desired = templates::desired_for(catalog, binding, p.version).await?;
    if !desired.conflicts.is_empty() {
        let reason = format!("conflicts: {}", describe_conflicts(&desired.conflicts));
        catalog
            .set_database_migration_status(p.database_id, "conflict", Some(&reason))
            .await?;
        record(ctx, job, "plan", false, &reason).await?;
        return Err(fail(reason, false));
    }
    let (shared, note) = shared_plan(ctx, p, conn, &desired.schema, &live).await?;
    let plan = &shared.plan;
    let refused: Vec<String> = shared
        .lint
        .refused(&p.allow)
        .iter()
        .map(|f| f.key())
        .collect();
    let attempt = job.attempts;
    record(
        ctx,
        job,
        &format!("plan:{attempt}"),
        refused.is_empty(),
        &format!("{} steps ({note})", plan.steps.len()),
    )
    .await?;
    if !refused.is_empty() {
        let reason = format!("refused without an explicit allow: {}", refused.join(", "));
        return Err(fail(reason, false));
    }
    let options = ApplyOptions {
        live: Some(&live.model),
        lock_wait_timeout: LOCK_WAIT,
        ..ApplyOptions::new(&p.allow)
    };
    let mut applier = Applier::start(conn, target, plan, &options)
        .await
        .map_err(apply_error)?;
    loop {
        match applier.step(conn).await {
            Ok(Some(done)) => {
                let name = format!("apply:{attempt}:{}", done.index + 1);
                record(ctx, job, &name, true, &done.description).await?;
            }
            Ok(None) => break,
            Err(e) => {
                let name = format!("apply:{attempt}:failed");
                record(ctx, job, &name, false, &e.to_string()).await?;
                return Err(apply_error(e));
            }
        }
    }
    applier.finish(conn).await.map_err(apply_error)?;
    record(
        ctx,
        job,
        &format!("verify:{attempt}"),
        true,
        "no differences",
    )
    .await?;
    catalog
        .record_database_version(p.database_id, p.version, &binding.overlay)
        .await?;
    record(ctx, job, "version", true, &format!("version {}", p.version)).await?;
    notify(ctx, binding, "migration.succeeded", p.version, None).await;
    settle_rollout(ctx, p, "done", None).await;
    Ok(())
}

/// The workspace model and the plan for this database: shared with the other databases of the
/// rollout that have the same desired schema (and the same live state, for the plan); built
/// for this database alone outside a rollout. The workspace is dropped as soon as it is read.
async fn shared_plan(
    ctx: &Ctx,
    p: &Payload,
    conn: &mut Conn,
    desired: &DesiredSchema,
    live: &Snapshot,
) -> Result<(Arc<SharedPlan>, String), JobError> {
    let key = Workspace::key_for(desired, &live.defaults);
    let Some(rollout) = p.rollout_id else {
        let model = build_model(conn, desired, &live.defaults).await?;
        let plan = SharedPlan::new(&key, &live.model, &model).map_err(TemplateError::from)?;
        let note = plan.describe(true, true);
        return Ok((Arc::new(plan), note));
    };
    let (model, built) = ctx
        .plans
        .model(rollout, &key, || build_model(conn, desired, &live.defaults))
        .await?;
    let (plan, planned) = ctx
        .plans
        .plan(rollout, &key, &live.model, &model)
        .map_err(TemplateError::from)?;
    let note = plan.describe(built, planned);
    Ok((plan, note))
}

/// Builds `desired` in a workspace, reads it and drops it.
async fn build_model(
    conn: &mut Conn,
    desired: &DesiredSchema,
    defaults: &DatabaseDefaults,
) -> Result<SchemaModel, TemplateError> {
    let ws = Workspace::create(conn, desired, defaults).await?;
    let model = ws.model().clone();
    ws.drop(conn).await?;
    Ok(model)
}

/// Records a rollout database's outcome as soon as its migration ends, and wakes the driver so
/// the next database starts at once (the driver also records outcomes from the job's state, so
/// a failure to write here only delays the rollout).
async fn settle_rollout(ctx: &Ctx, p: &Payload, status: &str, error: Option<&str>) {
    let Some(rollout) = p.rollout_id else {
        return;
    };
    if let Err(e) = ctx
        .catalog
        .set_rollout_database(rollout, p.database_id, status, None, error)
        .await
    {
        tracing::warn!(rollout_id = rollout, error = %e, "cannot record a rollout outcome");
    }
    ctx.plans.wake();
}

fn apply_error(e: octodb_schema::ApplyError) -> JobError {
    let retryable = e.is_retryable();
    fail(e.to_string(), retryable)
}

/// Records one step of the job (`job_steps` and the audit log).
async fn record(ctx: &Ctx, job: &Job, step: &str, ok: bool, detail: &str) -> Result<(), JobError> {
    let status = if ok { "succeeded" } else { "failed" };
    ctx.catalog
        .record_step(job.id, step, status, Some(detail))
        .await?;
    let target = format!("job/{}/{step}", job.id);
    ctx.catalog
        .audit(&NewAudit {
            actor: job.created_by,
            action: if ok {
                "migrate_database.step"
            } else {
                "migrate_database.step_failed"
            },
            tenant_id: job.tenant_id,
            target: Some(&target),
            outcome: if ok {
                octodb_catalog::OUTCOME_SUCCESS
            } else {
                OUTCOME_FAILURE
            },
            request_id: job.request_id.as_deref(),
            detail: None,
        })
        .await?;
    Ok(())
}

/// Final failure: put the first snapshot back if the schema moved, mark the database, audit,
/// notify.
pub(crate) async fn on_failure(ctx: &Ctx, job: &Job, reason: &str) -> Result<(), JobError> {
    let p = payload(job)?;
    let Some(binding) = ctx.catalog.database_template_by_id(p.database_id).await? else {
        return Ok(());
    };
    let owner = owner(job);
    if !ctx
        .catalog
        .lock_database_migration(p.database_id, &owner, LOCK_TTL_SECS)
        .await?
    {
        return Err(fail("another migration holds the database's lock", true));
    }
    let outcome = restore(ctx, &p, &binding, reason).await;
    let _ = ctx
        .catalog
        .unlock_database_migration(p.database_id, &owner)
        .await;
    let (status, message) = match outcome {
        Ok(done) => done,
        // A restore that cannot succeed: say so on the database (an operator must look).
        Err(e) if !e.is_retryable() => ("failed", e.to_string()),
        Err(e) => return Err(e),
    };
    ctx.catalog
        .set_database_migration_status(p.database_id, status, Some(&message))
        .await?;
    ctx.catalog.clear_snapshot(p.database_id).await?;
    let target = format!("job/{}/restore", job.id);
    ctx.catalog
        .audit(&NewAudit {
            actor: job.created_by,
            action: "migrate_database.final",
            tenant_id: job.tenant_id,
            target: Some(&target),
            outcome: OUTCOME_FAILURE,
            request_id: job.request_id.as_deref(),
            detail: Some(status),
        })
        .await?;
    notify(
        ctx,
        &binding,
        "migration.failed",
        p.version,
        Some((status, &message)),
    )
    .await;
    let row_status = match status {
        "restored" | "conflict" => status,
        _ => "failed",
    };
    settle_rollout(ctx, &p, row_status, Some(reason)).await;
    Ok(())
}

/// Restores the stored snapshot when the live schema differs from it. Returns the status to
/// record and its message.
async fn restore(
    ctx: &Ctx,
    p: &Payload,
    binding: &DatabaseTemplate,
    reason: &str,
) -> Result<(&'static str, String), JobError> {
    let current = if binding.status == "conflict" {
        "conflict"
    } else {
        "failed"
    };
    let Some(json) = ctx.catalog.stored_snapshot(p.database_id).await? else {
        return Ok((current, reason.to_string()));
    };
    let snapshot: Snapshot =
        serde_json::from_str(&json).map_err(|e| fail(format!("stored snapshot: {e}"), false))?;
    let target = SchemaName::new(binding.physical.as_str())
        .map_err(|e| fail(format!("physical name: {e}"), false))?;
    let mut conn = templates::connect(&ctx.backend)
        .await
        .map_err(TemplateError::from)?;
    let result = async {
        let live = Snapshot::take(&mut conn, &target).await?;
        if snapshot.differences(&live.model).is_empty() {
            return Ok((current, reason.to_string()));
        }
        octodb_schema::restore(&mut conn, &target, &snapshot, |_| {}).await?;
        Ok::<_, octodb_schema::SnapshotError>((
            "restored",
            format!("restored to the schema before the migration: {reason}"),
        ))
    }
    .await;
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "closing a backend connection");
    }
    result.map_err(|e| {
        let retryable = e.is_retryable();
        fail(format!("restore failed: {e} (after: {reason})"), retryable)
    })
}

/// Tells the tenant (webhook) how its database's migration ended.
async fn notify(
    ctx: &Ctx,
    binding: &DatabaseTemplate,
    event: &str,
    version: u32,
    failure: Option<(&str, &str)>,
) {
    let mut data = serde_json::json!({
        "database": binding.database,
        "template_id": binding.template_id,
        "version": version,
    });
    if let Some((status, reason)) = failure {
        data["status"] = status.into();
        data["reason"] = reason.into();
    }
    if let Err(e) = crate::webhooks::record(&ctx.catalog, binding.tenant_id, event, &data).await {
        tracing::warn!(error = %e, "cannot record a migration webhook");
    }
}
