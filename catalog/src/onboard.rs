//! Asynchronous onboarding: the tenant row and its provisioning job are claimed in one
//! transaction; the job then runs the idempotent steps below (in any number of attempts).

use mysql_async::prelude::Queryable;
use mysql_async::{Row, TxOpts};

use crate::audit::{insert_audit, NewAudit};
use crate::jobs::{insert_job, NewJob, TS_FORMAT};
use crate::provision::{admin_conn, bump_catalog_version, close, DUPLICATE_KEY};
use crate::sql::take;
use crate::{
    BackendAdmin, Catalog, CatalogError, DatabaseName, PhysicalName, Tenant, TenantName,
    TenantStatus,
};

/// A tenant in a listing.
#[derive(Debug, Clone)]
pub struct TenantSummary {
    pub id: u64,
    pub name: TenantName,
    pub status: TenantStatus,
    pub created_at: String,
}

impl Catalog {
    /// Creates the tenant row (status `provisioning`, on `admin`'s backend), its provisioning job
    /// (`job.tenant_id` is filled in) and the audit row, atomically. A tenant of that name is a
    /// `Conflict`. Returns (tenant id, job id).
    pub async fn begin_tenant(
        &self,
        admin: &BackendAdmin,
        name: &TenantName,
        job: NewJob<'_>,
        audit: NewAudit<'_>,
    ) -> Result<(u64, u64), CatalogError> {
        let backend_id = self.ensure_backend(&admin.host, admin.port).await?;
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        let inserted = tx
            .exec_drop(
                "INSERT INTO tenants (name, status, backend_id) VALUES (?, ?, ?)",
                (
                    name.as_str(),
                    TenantStatus::Provisioning.as_str(),
                    backend_id,
                ),
            )
            .await;
        if let Err(e) = inserted {
            let e = CatalogError::from(e);
            if e.server_code() == Some(DUPLICATE_KEY) {
                return Err(CatalogError::Conflict(format!(
                    "tenant {name} already exists"
                )));
            }
            return Err(e);
        }
        let tenant_id = tx
            .last_insert_id()
            .ok_or_else(|| CatalogError::Corrupt("no id for the tenant row".to_string()))?;
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
        Ok((tenant_id, job_id))
    }

    /// A tenant with its databases and users; `None` if there is none with that id.
    pub async fn tenant_by_id(&self, id: u64) -> Result<Option<Tenant>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let name: Option<String> = conn
            .exec_first("SELECT name FROM tenants WHERE id = ?", (id,))
            .await?;
        drop(conn);
        match name {
            Some(name) => self.tenant_by_name(&TenantName::parse(&name)?).await,
            None => Ok(None),
        }
    }

    /// Tenants with ids above `after`, ascending, at most `limit`; only `only` if given.
    pub async fn list_tenants(
        &self,
        after: Option<u64>,
        limit: u32,
        only: Option<u64>,
    ) -> Result<Vec<TenantSummary>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                format!(
                    "SELECT id, name, status, DATE_FORMAT(created_at, {TS_FORMAT}) FROM tenants \
                     WHERE id > ? AND (? IS NULL OR id = ?) ORDER BY id LIMIT ?"
                ),
                (after.unwrap_or(0), only, only, limit),
            )
            .await?;
        rows.into_iter()
            .map(|mut r| {
                Ok(TenantSummary {
                    id: take(&mut r, 0, "tenants.id")?,
                    name: TenantName::parse(&take::<String>(&mut r, 1, "tenants.name")?)?,
                    status: take::<String>(&mut r, 2, "tenants.status")?.parse()?,
                    created_at: take(&mut r, 3, "tenants.created_at")?,
                })
            })
            .collect()
    }

    /// Provisioning step: the tenant's backend user with its stored password (idempotent).
    pub async fn ensure_tenant_backend_user(
        &self,
        admin: &BackendAdmin,
        tenant_id: u64,
    ) -> Result<String, CatalogError> {
        let tenant = self.tenant_on(admin, tenant_id).await?;
        let mut backend = admin_conn(admin, None).await?;
        let result = self
            .ensure_backend_user(&mut backend, tenant_id, &tenant.name)
            .await;
        close(backend).await;
        result
    }

    /// Provisioning step: one physical database, granted to the tenant's backend user, recorded
    /// in the catalog (idempotent; the backend user must exist).
    pub async fn ensure_tenant_database(
        &self,
        admin: &BackendAdmin,
        tenant_id: u64,
        db: &DatabaseName,
    ) -> Result<PhysicalName, CatalogError> {
        let tenant = self.tenant_on(admin, tenant_id).await?;
        let user = tenant.backend_user.ok_or_else(|| {
            CatalogError::Invalid(format!("tenant {} has no backend user yet", tenant.name))
        })?;
        let mut backend = admin_conn(admin, None).await?;
        let result = self
            .ensure_database(&mut backend, tenant_id, &tenant.name, db, &user)
            .await;
        close(backend).await;
        let physical = result?;
        let mut conn = self.pool.get_conn().await?;
        bump_catalog_version(&mut conn).await?;
        Ok(physical)
    }

    /// Moves a tenant to `to` if its status is one of `from`; bumps the catalog version.
    /// Returns whether it changed.
    pub async fn set_tenant_status(
        &self,
        tenant_id: u64,
        from: &[TenantStatus],
        to: TenantStatus,
    ) -> Result<bool, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let mut changed = false;
        for f in from {
            conn.exec_drop(
                "UPDATE tenants SET status = ? WHERE id = ? AND status = ?",
                (to.as_str(), tenant_id, f.as_str()),
            )
            .await?;
            changed |= conn.affected_rows() == 1;
        }
        if changed {
            bump_catalog_version(&mut conn).await?;
        }
        Ok(changed)
    }

    /// The tenant, checked to live on `admin`'s backend.
    pub(crate) async fn tenant_on(
        &self,
        admin: &BackendAdmin,
        tenant_id: u64,
    ) -> Result<Tenant, CatalogError> {
        let tenant = self
            .tenant_by_id(tenant_id)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("tenant id {tenant_id}")))?;
        if tenant.backend_host != admin.host || tenant.backend_port != admin.port {
            return Err(CatalogError::Invalid(format!(
                "tenant {} lives on {}:{}, but the admin credentials are for {}:{}",
                tenant.name, tenant.backend_host, tenant.backend_port, admin.host, admin.port
            )));
        }
        Ok(tenant)
    }
}
