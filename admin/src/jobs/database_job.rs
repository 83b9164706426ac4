//! The `add_database` and `drop_database` jobs: one step each (`database:<name>`), idempotent.
//! Adding uses the catalog's `add_database` (create, grant to the tenant's backend user only,
//! record; mapping version bumped); dropping revokes, drops, and forgets it (mapping version
//! bumped).

use octodb_catalog::{CatalogError, DatabaseName, Job};
use serde::{Deserialize, Serialize};

use super::runner::Ctx;
use super::{steps, JobError};

pub const ADD_KIND: &str = "add_database";
pub const DROP_KIND: &str = "drop_database";

/// Which database (the same payload for both kinds, so that the catalog refuses a second pending
/// job for one database).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub name: DatabaseName,
}

impl Payload {
    pub fn to_json(&self) -> Result<String, CatalogError> {
        serde_json::to_string(self).map_err(|e| CatalogError::Invalid(e.to_string()))
    }
}

fn payload(job: &Job) -> Result<Payload, JobError> {
    serde_json::from_str(&job.payload).map_err(|e| JobError::Payload(e.to_string()))
}

pub(crate) async fn run_add(ctx: &Ctx, job: &Job) -> Result<(), JobError> {
    let tenant_id = steps::tenant_id(job)?;
    let db = payload(job)?.name;
    let done = steps::done(job);
    let name = format!("database:{db}");
    steps::run(ctx, job, &done, &name, "add_database.database", async {
        let tenant = ctx
            .catalog
            .tenant_by_id(tenant_id)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("tenant id {tenant_id}")))?;
        let physical = ctx
            .catalog
            .add_database(&ctx.backend, &tenant.name, &db)
            .await?;
        Ok(format!("database {db} ({physical})"))
    })
    .await
}

pub(crate) async fn run_drop(ctx: &Ctx, job: &Job) -> Result<(), JobError> {
    let tenant_id = steps::tenant_id(job)?;
    let db = payload(job)?.name;
    let done = steps::done(job);
    let name = format!("database:{db}");
    steps::run(ctx, job, &done, &name, "drop_database.database", async {
        let physical = ctx
            .catalog
            .drop_tenant_database(&ctx.backend, tenant_id, &db)
            .await?;
        Ok(format!("dropped {db} ({physical})"))
    })
    .await
}
