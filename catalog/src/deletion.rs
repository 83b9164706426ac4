//! Deleting a tenant: begun atomically (status `deleting`, job, audit row), then run as
//! idempotent steps by the admin's `delete_tenant` job: users first (proxies refuse the tenant at
//! once; see `users.rs`), then each database (`databases.rs`) and any leftover physical one, then the backend user, then the
//! catalog rows.

use mysql_async::prelude::Queryable;
use mysql_async::TxOpts;

use crate::audit::{insert_audit, NewAudit};
use crate::jobs::{insert_job, NewJob};
use crate::names::backend_user_for;
use crate::provision::{admin_conn, bump_catalog_version, close};
use crate::sql;
use crate::users::lock_tenant;
use crate::{BackendAdmin, Catalog, CatalogError, PhysicalName, TenantStatus};

impl Catalog {
    /// Moves the tenant to `deleting` and records its deletion job and audit row, atomically.
    /// `NotFound` without the tenant; `Conflict` while the tenant has unfinished jobs
    /// (provisioning, databases, an earlier deletion). A tenant left `deleting` by a failed
    /// deletion job can be deleted again. Returns the job id.
    pub async fn begin_tenant_deletion(
        &self,
        tenant_id: u64,
        job: NewJob<'_>,
        audit: NewAudit<'_>,
    ) -> Result<u64, CatalogError> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        lock_tenant(&mut tx, tenant_id).await?;
        let pending: Option<u64> = tx
            .exec_first(
                "SELECT COUNT(*) FROM jobs WHERE tenant_id = ? AND status IN ('queued', 'running')",
                (tenant_id,),
            )
            .await?;
        if pending.unwrap_or(0) > 0 {
            return Err(CatalogError::Conflict(format!(
                "tenant id {tenant_id} has unfinished jobs; retry when they are done"
            )));
        }
        tx.exec_drop(
            "UPDATE tenants SET status = ? WHERE id = ?",
            (TenantStatus::Deleting.as_str(), tenant_id),
        )
        .await?;
        let job_id = insert_job(
            &mut tx,
            &NewJob {
                tenant_id: Some(tenant_id),
                ..job
            },
        )
        .await?;
        insert_audit(
            &mut tx,
            &NewAudit {
                tenant_id: Some(tenant_id),
                ..audit
            },
        )
        .await?;
        bump_catalog_version(&mut tx).await?;
        tx.commit().await?;
        Ok(job_id)
    }

    /// Deletion step: drops the physical databases named for this tenant (`t_<tenant>__*`) that the
    /// catalog does not list, left by a provisioning attempt that died between creating one and
    /// recording it (idempotent). The prefix is the tenant's alone: names contain no `__`.
    pub async fn drop_leftover_databases(
        &self,
        admin: &BackendAdmin,
        tenant_id: u64,
    ) -> Result<Vec<PhysicalName>, CatalogError> {
        let tenant = self.tenant_on(admin, tenant_id).await?;
        let like = format!("t!_{}!_!_%", tenant.name.as_str().replace('_', "!_"));
        let mut backend = admin_conn(admin, None).await?;
        let result = async {
            let names: Vec<String> = backend
                .exec(
                    "SELECT schema_name FROM information_schema.schemata \
                     WHERE schema_name LIKE ? ESCAPE '!'",
                    (like,),
                )
                .await?;
            let mut dropped = Vec::new();
            for name in names {
                let Ok(physical) = PhysicalName::parse(&name) else {
                    continue;
                };
                let known = tenant.databases.iter().any(|(_, p)| *p == physical);
                if known || physical.split().0 != tenant.name {
                    continue;
                }
                backend
                    .query_drop(format!(
                        "DROP DATABASE IF EXISTS {}",
                        sql::ident(physical.as_str())
                    ))
                    .await?;
                dropped.push(physical);
            }
            Ok::<_, CatalogError>(dropped)
        }
        .await;
        close(backend).await;
        result
    }

    /// Deletion step: drops the tenant's backend user (idempotent) and forgets its password.
    /// Returns the user name.
    pub async fn drop_tenant_backend_user(
        &self,
        admin: &BackendAdmin,
        tenant_id: u64,
    ) -> Result<String, CatalogError> {
        let tenant = self.tenant_on(admin, tenant_id).await?;
        let user = backend_user_for(&tenant.name);
        let mut backend = admin_conn(admin, None).await?;
        let dropped = async {
            let account = sql::account(&user, "%")?;
            backend
                .query_drop(format!("DROP USER IF EXISTS {account}"))
                .await?;
            Ok::<_, CatalogError>(())
        }
        .await;
        close(backend).await;
        dropped?;
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE tenants SET backend_user = NULL, backend_password_enc = NULL \
             WHERE id = ? AND status = ?",
            (tenant_id, TenantStatus::Deleting.as_str()),
        )
        .await?;
        Ok(user)
    }

    /// Deletion step: the tenant's catalog rows (API keys, users, databases, the tenant), only
    /// while it is `deleting`. Returns whether there was a row to delete (false when re-run).
    pub async fn delete_tenant_rows(&self, tenant_id: u64) -> Result<bool, CatalogError> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        let status: Option<String> = tx
            .exec_first(
                "SELECT status FROM tenants WHERE id = ? FOR UPDATE",
                (tenant_id,),
            )
            .await?;
        match status {
            None => return Ok(false),
            Some(s) if s != TenantStatus::Deleting.as_str() => {
                return Err(CatalogError::Conflict(format!(
                    "tenant id {tenant_id} is {s}, not deleting"
                )))
            }
            Some(_) => {}
        }
        for table in ["api_keys", "users", "`databases`", "tenants"] {
            let column = if table == "tenants" {
                "id"
            } else {
                "tenant_id"
            };
            tx.exec_drop(
                format!("DELETE FROM {table} WHERE {column} = ?"),
                (tenant_id,),
            )
            .await?;
        }
        bump_catalog_version(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }
}
