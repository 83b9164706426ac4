//! The `delete_tenant` job: the tenant's users first (proxies refuse it at once), then each of its
//! databases (`database:<name>`), then physical databases of its name the catalog never recorded
//! (`leftover_databases`), then its backend user, then its catalog rows (`tenant`).
//!
//! Each step is idempotent and recorded like provisioning's; a resumed job skips the recorded
//! ones. A failed deletion leaves the tenant `deleting`; deleting it again starts a new job.

use octodb_catalog::Job;

use super::runner::Ctx;
use super::{steps, JobError};

pub const KIND: &str = "delete_tenant";

pub(crate) async fn run(ctx: &Ctx, job: &Job) -> Result<(), JobError> {
    let tenant_id = steps::tenant_id(job)?;
    let done = steps::done(job);
    let catalog = &ctx.catalog;
    steps::run(ctx, job, &done, "users", "delete_tenant.users", async {
        let n = catalog.remove_tenant_users(tenant_id).await?;
        Ok(format!("{n} users removed"))
    })
    .await?;
    // Re-read on every attempt: databases dropped by an earlier attempt are gone from it, and a
    // tenant whose rows are already deleted has nothing left to do.
    let Some(tenant) = catalog.tenant_by_id(tenant_id).await? else {
        return Ok(());
    };
    for (db, _) in &tenant.databases {
        let name = format!("database:{db}");
        steps::run(ctx, job, &done, &name, "delete_tenant.database", async {
            let physical = catalog
                .drop_tenant_database(&ctx.backend, tenant_id, db)
                .await?;
            Ok(format!("dropped {db} ({physical})"))
        })
        .await?;
    }
    steps::run(
        ctx,
        job,
        &done,
        "leftover_databases",
        "delete_tenant.leftover_databases",
        async {
            let dropped = catalog
                .drop_leftover_databases(&ctx.backend, tenant_id)
                .await?;
            Ok(format!("{} leftover databases dropped", dropped.len()))
        },
    )
    .await?;
    steps::run(
        ctx,
        job,
        &done,
        "backend_user",
        "delete_tenant.backend_user",
        async {
            let user = catalog
                .drop_tenant_backend_user(&ctx.backend, tenant_id)
                .await?;
            Ok(format!("dropped backend user {user}"))
        },
    )
    .await?;
    steps::run(ctx, job, &done, "tenant", "delete_tenant.tenant", async {
        let deleted = catalog.delete_tenant_rows(tenant_id).await?;
        Ok(if deleted {
            "tenant deleted".to_string()
        } else {
            "tenant already deleted".to_string()
        })
    })
    .await
}
