//! The `provision_tenant` job: the tenant's backend user, then its initial databases (`main`,
//! see [`INITIAL_DATABASE`]), then status `ready`. Proxy users are created separately
//! (`POST /v1/tenants/{id}/users`).
//!
//! Each step is idempotent and recorded in `job_steps` and the audit log. A resumed job skips the
//! steps recorded as succeeded and re-runs the others: a crash anywhere converges to exactly one
//! backend user and one physical database per logical database.

use octodb_catalog::{DatabaseName, Job, TenantStatus};
use serde::{Deserialize, Serialize};

use super::runner::Ctx;
use super::{steps, JobError};

pub const KIND: &str = "provision_tenant";

/// The logical database every new tenant starts with.
pub const INITIAL_DATABASE: &str = "main";

/// What the job builds (besides the backend user).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub databases: Vec<DatabaseName>,
}

/// One step, named in `job_steps` as `backend_user`, `database:<name>`, `ready`.
enum Step {
    BackendUser,
    Database(DatabaseName),
    Ready,
}

impl Step {
    fn name(&self) -> String {
        match self {
            Step::BackendUser => "backend_user".to_string(),
            Step::Database(db) => format!("database:{db}"),
            Step::Ready => "ready".to_string(),
        }
    }

    /// The audit action (bounded: no names in it).
    fn action(&self) -> &'static str {
        match self {
            Step::BackendUser => "provision_tenant.backend_user",
            Step::Database(_) => "provision_tenant.database",
            Step::Ready => "provision_tenant.ready",
        }
    }

    async fn execute(&self, ctx: &Ctx, tenant_id: u64) -> Result<String, JobError> {
        let catalog = &ctx.catalog;
        Ok(match self {
            Step::BackendUser => {
                let user = catalog
                    .ensure_tenant_backend_user(&ctx.backend, tenant_id)
                    .await?;
                format!("backend user {user}")
            }
            Step::Database(db) => {
                let physical = catalog
                    .ensure_tenant_database(&ctx.backend, tenant_id, db)
                    .await?;
                format!("database {db} ({physical})")
            }
            Step::Ready => {
                let from = [TenantStatus::Provisioning, TenantStatus::Failed];
                catalog
                    .set_tenant_status(tenant_id, &from, TenantStatus::Ready)
                    .await?;
                "tenant ready".to_string()
            }
        })
    }
}

pub(crate) async fn run(ctx: &Ctx, job: &Job) -> Result<(), JobError> {
    let tenant_id = steps::tenant_id(job)?;
    let payload: Payload =
        serde_json::from_str(&job.payload).map_err(|e| JobError::Payload(e.to_string()))?;
    let progress = steps::done(job);
    let plan = std::iter::once(Step::BackendUser)
        .chain(payload.databases.into_iter().map(Step::Database))
        .chain(std::iter::once(Step::Ready));
    for step in plan {
        let name = step.name();
        steps::run(
            ctx,
            job,
            &progress,
            &name,
            step.action(),
            step.execute(ctx, tenant_id),
        )
        .await?;
    }
    Ok(())
}

/// Final failure: the tenant is `failed` (the reason is the job's error).
pub(crate) async fn on_failure(ctx: &Ctx, job: &Job) -> Result<(), JobError> {
    if let Some(tenant_id) = job.tenant_id {
        ctx.catalog
            .set_tenant_status(
                tenant_id,
                &[TenantStatus::Provisioning],
                TenantStatus::Failed,
            )
            .await?;
    }
    Ok(())
}
