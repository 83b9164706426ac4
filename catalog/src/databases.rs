//! A tenant's databases after provisioning: the jobs that add and drop them are begun here, and
//! dropping one is an idempotent step (`DROP DATABASE IF EXISTS`, then the catalog row).

use mysql_async::prelude::Queryable;
use mysql_async::TxOpts;

use crate::audit::{insert_audit, NewAudit};
use crate::jobs::{insert_job, NewJob};
use crate::provision::{admin_conn, bump_catalog_version, close};
use crate::sql;
use crate::users::lock_tenant;
use crate::{BackendAdmin, Catalog, CatalogError, DatabaseName, PhysicalName, TenantStatus};

/// MySQL errors meaning "there was no such grant" (ER_NONEXISTING_GRANT,
/// ER_NONEXISTING_TABLE_GRANT, ER_REVOKE_GRANTS): revoking twice is fine.
const NO_SUCH_GRANT: [u16; 3] = [1141, 1147, 1269];

/// Whether a database job adds or drops the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseChange {
    Add,
    Drop,
}

impl Catalog {
    /// Records a job that adds or drops `db` of a ready or suspended tenant, with its audit row,
    /// atomically. `Conflict` if the tenant is in another state, if the database already exists
    /// (add), if an identical job is still pending; `NotFound` if it does not exist (drop).
    /// Returns the job id.
    pub async fn begin_database_job(
        &self,
        tenant_id: u64,
        db: &DatabaseName,
        change: DatabaseChange,
        job: NewJob<'_>,
        audit: NewAudit<'_>,
    ) -> Result<u64, CatalogError> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        let status = lock_tenant(&mut tx, tenant_id).await?;
        if !matches!(status, TenantStatus::Ready | TenantStatus::Suspended) {
            return Err(CatalogError::Conflict(format!(
                "tenant id {tenant_id} is {status}"
            )));
        }
        let exists: Option<u64> = tx
            .exec_first(
                "SELECT id FROM `databases` WHERE tenant_id = ? AND logical_name = ?",
                (tenant_id, db.as_str()),
            )
            .await?;
        match (change, exists) {
            (DatabaseChange::Add, Some(_)) => {
                return Err(CatalogError::Conflict(format!(
                    "database {db} already exists"
                )))
            }
            (DatabaseChange::Drop, None) => {
                return Err(CatalogError::NotFound(format!("database {db}")))
            }
            _ => {}
        }
        let pending: Option<u64> = tx
            .exec_first(
                "SELECT COUNT(*) FROM jobs WHERE tenant_id = ? AND payload = ? \
                 AND status IN ('queued', 'running')",
                (tenant_id, job.payload),
            )
            .await?;
        if pending.unwrap_or(0) > 0 {
            return Err(CatalogError::Conflict(format!(
                "a job for database {db} is already pending"
            )));
        }
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
        tx.commit().await?;
        Ok(job_id)
    }

    /// Job step: drops one of the tenant's databases (idempotent). Access is revoked first, then
    /// the physical database dropped, then the catalog row deleted with the mapping version and
    /// the catalog version bumped. Returns the physical name.
    pub async fn drop_tenant_database(
        &self,
        admin: &BackendAdmin,
        tenant_id: u64,
        db: &DatabaseName,
    ) -> Result<PhysicalName, CatalogError> {
        let tenant = self.tenant_on(admin, tenant_id).await?;
        // Computed, not read: a re-run after the catalog row is gone still drops it.
        let physical = PhysicalName::new(&tenant.name, db);
        let mut backend = admin_conn(admin, None).await?;
        let result = async {
            if let Some(user) = &tenant.backend_user {
                let revoked = backend
                    .query_drop(format!(
                        "REVOKE ALL PRIVILEGES ON {}.* FROM {}",
                        sql::grant_db(physical.as_str()),
                        sql::account(user, "%")?
                    ))
                    .await;
                if let Err(e) = revoked {
                    let e = CatalogError::from(e);
                    if !e.server_code().is_some_and(|c| NO_SUCH_GRANT.contains(&c)) {
                        return Err(e);
                    }
                }
            }
            backend
                .query_drop(format!(
                    "DROP DATABASE IF EXISTS {}",
                    sql::ident(physical.as_str())
                ))
                .await?;
            Ok::<_, CatalogError>(())
        }
        .await;
        close(backend).await;
        result?;
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        tx.exec_drop(
            "DELETE FROM `databases` WHERE tenant_id = ? AND logical_name = ?",
            (tenant_id, db.as_str()),
        )
        .await?;
        if tx.affected_rows() > 0 {
            tx.exec_drop(
                "UPDATE tenants SET mapping_version = mapping_version + 1 WHERE id = ?",
                (tenant_id,),
            )
            .await?;
        }
        bump_catalog_version(&mut tx).await?;
        tx.commit().await?;
        Ok(physical)
    }
}
