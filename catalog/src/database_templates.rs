//! Which template a logical database follows, and its migration state: version reached,
//! status, the snapshot taken before a running migration, and a lock (owner + expiry) so that
//! two migrations never run on one database. An expired lock (its holder died) can be taken
//! over.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, TxOpts};

use crate::jobs::{insert_job, NewJob, TS_FORMAT};
use crate::sql::take;
use crate::templates::{Channel, DatabaseTemplate};
use crate::{Catalog, CatalogError, DatabaseName, PhysicalName};

fn binding_select() -> String {
    format!(
        "SELECT dt.database_id, t.id, t.name, d.logical_name, d.physical_name, b.host, b.port, \
         dt.template_id, dt.channel, dt.overlay, dt.version, dt.applied_overlay, dt.status, \
         dt.error, DATE_FORMAT(dt.updated_at, {TS_FORMAT}) \
         FROM database_templates dt \
         JOIN `databases` d ON d.id = dt.database_id \
         JOIN tenants t ON t.id = d.tenant_id \
         JOIN backends b ON b.id = t.backend_id"
    )
}

fn binding_row(mut row: Row) -> Result<DatabaseTemplate, CatalogError> {
    Ok(DatabaseTemplate {
        database_id: take(&mut row, 0, "database_templates.database_id")?,
        tenant_id: take(&mut row, 1, "tenants.id")?,
        tenant_name: take(&mut row, 2, "tenants.name")?,
        database: DatabaseName::parse(&take::<String>(&mut row, 3, "databases.logical_name")?)?,
        physical: PhysicalName::parse(&take::<String>(&mut row, 4, "databases.physical_name")?)?,
        backend_host: take(&mut row, 5, "backends.host")?,
        backend_port: take(&mut row, 6, "backends.port")?,
        template_id: take(&mut row, 7, "database_templates.template_id")?,
        channel: Channel::parse(&take::<String>(&mut row, 8, "database_templates.channel")?)
            .map_err(|e| CatalogError::Corrupt(e.to_string()))?,
        overlay: take(&mut row, 9, "database_templates.overlay")?,
        version: take(&mut row, 10, "database_templates.version")?,
        applied_overlay: take(&mut row, 11, "database_templates.applied_overlay")?,
        status: take(&mut row, 12, "database_templates.status")?,
        error: take(&mut row, 13, "database_templates.error")?,
        updated_at: take(&mut row, 14, "database_templates.updated_at")?,
    })
}

impl Catalog {
    /// Binds tenant `tenant_id`'s database `db` to `template_id` (replacing any binding). The
    /// version reached is kept when the template stays the same, forgotten otherwise.
    pub async fn bind_database_template(
        &self,
        tenant_id: u64,
        db: &DatabaseName,
        template_id: u64,
        channel: Channel,
        overlay: &str,
    ) -> Result<DatabaseTemplate, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let database_id: Option<u64> = conn
            .exec_first(
                "SELECT id FROM `databases` WHERE tenant_id = ? AND logical_name = ?",
                (tenant_id, db.as_str()),
            )
            .await?;
        let database_id =
            database_id.ok_or_else(|| CatalogError::NotFound(format!("database {db}")))?;
        conn.exec_drop(
            "INSERT INTO database_templates (database_id, template_id, channel, overlay) \
             VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
             version = IF(template_id = VALUES(template_id), version, NULL), \
             applied_overlay = IF(template_id = VALUES(template_id), applied_overlay, NULL), \
             template_id = VALUES(template_id), channel = VALUES(channel), \
             overlay = VALUES(overlay)",
            (database_id, template_id, channel.as_str(), overlay),
        )
        .await?;
        drop(conn);
        self.database_template_by_id(database_id)
            .await?
            .ok_or_else(|| CatalogError::Corrupt("binding vanished".into()))
    }

    /// The binding of tenant `tenant_id`'s database `db`, if it follows a template.
    pub async fn database_template(
        &self,
        tenant_id: u64,
        db: &DatabaseName,
    ) -> Result<Option<DatabaseTemplate>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!(
                    "{} WHERE d.tenant_id = ? AND d.logical_name = ?",
                    binding_select()
                ),
                (tenant_id, db.as_str()),
            )
            .await?;
        row.map(binding_row).transpose()
    }

    /// The binding of database row `database_id`.
    pub async fn database_template_by_id(
        &self,
        database_id: u64,
    ) -> Result<Option<DatabaseTemplate>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!("{} WHERE dt.database_id = ?", binding_select()),
                (database_id,),
            )
            .await?;
        row.map(binding_row).transpose()
    }

    /// Databases bound to any of `template_ids` on `channel`, by database id. Tenants being
    /// deleted are left out.
    pub async fn databases_following(
        &self,
        template_ids: &[u64],
        channel: Channel,
    ) -> Result<Vec<DatabaseTemplate>, CatalogError> {
        if template_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = template_ids
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                format!(
                    "{} WHERE dt.template_id IN ({ids}) AND dt.channel = ? \
                     AND t.status IN ('ready', 'suspended') ORDER BY dt.database_id",
                    binding_select()
                ),
                (channel.as_str(),),
            )
            .await?;
        rows.into_iter().map(binding_row).collect()
    }

    /// Records a `migrate_database` job for `database_id` unless one is pending for it
    /// (`Conflict`). `job.payload` must mention the database id as `"database_id":<id>`.
    pub async fn create_migration_job(
        &self,
        database_id: u64,
        job: &NewJob<'_>,
    ) -> Result<u64, CatalogError> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        let locked: Option<u64> = tx
            .exec_first(
                "SELECT database_id FROM database_templates WHERE database_id = ? FOR UPDATE",
                (database_id,),
            )
            .await?;
        if locked.is_none() {
            return Err(CatalogError::NotFound(format!("database id {database_id}")));
        }
        let pending: Option<u64> = tx
            .exec_first(
                "SELECT COUNT(*) FROM jobs WHERE kind = ? AND status IN ('queued', 'running') \
                 AND JSON_VALUE(payload, '$.database_id') = ?",
                (job.kind, database_id),
            )
            .await?;
        if pending.unwrap_or(0) > 0 {
            return Err(CatalogError::Conflict(format!(
                "a migration of database id {database_id} is already pending"
            )));
        }
        let id = insert_job(&mut tx, job).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Takes the migration lock of `database_id` for `owner` for `ttl_secs` (also when `owner`
    /// already holds it, or when another holder's lock expired). Whether it was taken.
    pub async fn lock_database_migration(
        &self,
        database_id: u64,
        owner: &str,
        ttl_secs: u32,
    ) -> Result<bool, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE database_templates SET lock_owner = ?, \
             lock_expires = CURRENT_TIMESTAMP(6) + INTERVAL ? SECOND \
             WHERE database_id = ? AND (lock_owner IS NULL OR lock_owner = ? \
             OR lock_expires < CURRENT_TIMESTAMP(6))",
            (owner, ttl_secs, database_id, owner),
        )
        .await?;
        Ok(conn.affected_rows() == 1)
    }

    /// Releases the lock if `owner` holds it.
    pub async fn unlock_database_migration(
        &self,
        database_id: u64,
        owner: &str,
    ) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE database_templates SET lock_owner = NULL, lock_expires = NULL \
             WHERE database_id = ? AND lock_owner = ?",
            (database_id, owner),
        )
        .await?;
        Ok(())
    }

    /// Sets the migration status (one of `MIGRATION_STATES`) and its error.
    pub async fn set_database_migration_status(
        &self,
        database_id: u64,
        status: &str,
        error: Option<&str>,
    ) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE database_templates SET status = ?, error = ? WHERE database_id = ?",
            (status, error, database_id),
        )
        .await?;
        Ok(())
    }

    /// Records a finished migration: the version and overlay reached, status `ok`, snapshot
    /// forgotten.
    pub async fn record_database_version(
        &self,
        database_id: u64,
        version: u32,
        overlay: &str,
    ) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE database_templates SET version = ?, applied_overlay = ?, status = 'ok', \
             error = NULL, snapshot = NULL WHERE database_id = ?",
            (version, overlay, database_id),
        )
        .await?;
        Ok(())
    }

    /// Stores the pre-migration snapshot (JSON) unless one is already stored (a retry keeps the
    /// first). Returns the stored one.
    pub async fn keep_first_snapshot(
        &self,
        database_id: u64,
        snapshot_json: &str,
    ) -> Result<String, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE database_templates SET snapshot = ? \
             WHERE database_id = ? AND snapshot IS NULL",
            (snapshot_json, database_id),
        )
        .await?;
        let stored: Option<Option<String>> = conn
            .exec_first(
                "SELECT snapshot FROM database_templates WHERE database_id = ?",
                (database_id,),
            )
            .await?;
        stored
            .flatten()
            .ok_or_else(|| CatalogError::NotFound(format!("database id {database_id}")))
    }

    /// The stored pre-migration snapshot (JSON), if any.
    pub async fn stored_snapshot(&self, database_id: u64) -> Result<Option<String>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let stored: Option<Option<String>> = conn
            .exec_first(
                "SELECT snapshot FROM database_templates WHERE database_id = ?",
                (database_id,),
            )
            .await?;
        Ok(stored.flatten())
    }

    /// Forgets the stored snapshot (after a restore or a success).
    pub async fn clear_snapshot(&self, database_id: u64) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE database_templates SET snapshot = NULL WHERE database_id = ?",
            (database_id,),
        )
        .await?;
        Ok(())
    }
}
