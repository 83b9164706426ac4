//! Versioned migrations of the MetaDB schema.
//!
//! Each migration is a list of statements, applied once and in order, recorded in
//! `schema_migrations`. MySQL DDL is not transactional, so two processes starting at once are
//! serialised with `GET_LOCK` (held on one dedicated connection, released when it closes) and
//! every statement is written to be safe to re-run (`IF NOT EXISTS`, `INSERT IGNORE`): a
//! migration interrupted half-way is completed by the next start.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::CatalogError;

/// One schema change.
pub(crate) struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub statements: &'static [&'static str],
}

/// All migrations, oldest first. Never edit one that has shipped; add a new one.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        statements: &[
            "CREATE TABLE IF NOT EXISTS backends (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            host VARCHAR(255) NOT NULL,
            port SMALLINT UNSIGNED NOT NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_backends_host_port (host, port)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            "CREATE TABLE IF NOT EXISTS tenants (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            name VARCHAR(30) NOT NULL,
            status VARCHAR(16) NOT NULL DEFAULT 'provisioning',
            mapping_version BIGINT UNSIGNED NOT NULL DEFAULT 1,
            backend_id BIGINT UNSIGNED NOT NULL,
            backend_user VARCHAR(32) NULL,
            backend_password_enc VARCHAR(255) NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_tenants_name (name),
            CONSTRAINT fk_tenants_backend FOREIGN KEY (backend_id) REFERENCES backends (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            "CREATE TABLE IF NOT EXISTS `databases` (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            tenant_id BIGINT UNSIGNED NOT NULL,
            logical_name VARCHAR(30) NOT NULL,
            physical_name VARCHAR(64) NOT NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_databases_physical (physical_name),
            UNIQUE KEY uq_databases_logical (tenant_id, logical_name),
            CONSTRAINT fk_databases_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            "CREATE TABLE IF NOT EXISTS users (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            tenant_id BIGINT UNSIGNED NOT NULL,
            username VARCHAR(32) NOT NULL,
            verifier BINARY(20) NOT NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_users_username (username),
            KEY ix_users_tenant (tenant_id),
            CONSTRAINT fk_users_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            // One row, bumped on every catalog change: proxies poll it when Redis is absent.
            "CREATE TABLE IF NOT EXISTS catalog_version (
            id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
            version BIGINT UNSIGNED NOT NULL,
            updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6),
            CONSTRAINT ck_catalog_version_single_row CHECK (id = 1)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            "INSERT IGNORE INTO catalog_version (id, version) VALUES (1, 1)",
        ],
    },
    Migration {
        version: 2,
        name: "api_keys_jobs_audit",
        statements: &[
            // Bearer keys: only the SHA-256 of the secret is stored. Operator keys have no tenant.
            "CREATE TABLE IF NOT EXISTS api_keys (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            key_hash BINARY(32) NOT NULL,
            scope VARCHAR(16) NOT NULL,
            tenant_id BIGINT UNSIGNED NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            revoked_at TIMESTAMP(6) NULL DEFAULT NULL,
            KEY ix_api_keys_tenant (tenant_id),
            CONSTRAINT fk_api_keys_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id),
            CONSTRAINT ck_api_keys_scope CHECK (
                (scope = 'operator' AND tenant_id IS NULL)
                OR (scope = 'tenant' AND tenant_id IS NOT NULL))
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            // Jobs are the source of truth; queues (in-process or Redis) only dispatch their ids.
            "CREATE TABLE IF NOT EXISTS jobs (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            kind VARCHAR(32) NOT NULL,
            status VARCHAR(16) NOT NULL DEFAULT 'queued',
            attempts INT UNSIGNED NOT NULL DEFAULT 0,
            tenant_id BIGINT UNSIGNED NULL,
            payload TEXT NOT NULL,
            error TEXT NULL,
            created_by BIGINT UNSIGNED NULL,
            request_id VARCHAR(64) NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6),
            KEY ix_jobs_status (status),
            KEY ix_jobs_tenant (tenant_id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            "CREATE TABLE IF NOT EXISTS job_steps (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            job_id BIGINT UNSIGNED NOT NULL,
            step VARCHAR(64) NOT NULL,
            status VARCHAR(16) NOT NULL,
            detail TEXT NULL,
            at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_job_steps (job_id, step),
            CONSTRAINT fk_job_steps_job FOREIGN KEY (job_id) REFERENCES jobs (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            // No foreign keys: the audit trail outlives the tenants and keys it mentions.
            "CREATE TABLE IF NOT EXISTS audit (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            actor BIGINT UNSIGNED NULL,
            action VARCHAR(64) NOT NULL,
            tenant_id BIGINT UNSIGNED NULL,
            target VARCHAR(255) NULL,
            outcome VARCHAR(16) NOT NULL,
            request_id VARCHAR(64) NULL,
            KEY ix_audit_tenant (tenant_id, id),
            KEY ix_audit_action (action, id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ],
    },
    Migration {
        version: 3,
        name: "audit_at_index",
        // `GET /v1/audit?since=&until=`: a time window is a range on `at` (InnoDB appends the
        // primary key, so this is `(at, id)`). MySQL has no `ADD INDEX IF NOT EXISTS` (MariaDB
        // has), so the re-run guard is a statement prepared from information_schema.
        statements: &[
            "SET @octodb_ddl = (SELECT IF(COUNT(*) = 0, \
             'ALTER TABLE audit ADD INDEX ix_audit_at (at)', 'DO 0') \
             FROM information_schema.statistics WHERE table_schema = DATABASE() \
             AND table_name = 'audit' AND index_name = 'ix_audit_at')",
            "PREPARE octodb_ddl FROM @octodb_ddl",
            "EXECUTE octodb_ddl",
            "DEALLOCATE PREPARE octodb_ddl",
        ],
    },
    Migration {
        version: 4,
        name: "audit_detail",
        // A short free-text detail per audit row (the proxy's refusal code and reason, a
        // suppression count), kept apart from the request id it used to borrow. Guarded like
        // version 3, since MySQL has no `ADD COLUMN IF NOT EXISTS`.
        statements: &[
            "SET @octodb_ddl = (SELECT IF(COUNT(*) = 0, \
             'ALTER TABLE audit ADD COLUMN detail VARCHAR(255) NULL', 'DO 0') \
             FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name = 'audit' AND column_name = 'detail')",
            "PREPARE octodb_ddl FROM @octodb_ddl",
            "EXECUTE octodb_ddl",
            "DEALLOCATE PREPARE octodb_ddl",
        ],
    },
    Migration {
        version: 5,
        name: "schema_templates",
        // Hierarchical schema templates (see `templates.rs`). A version pins the parent version
        // it extends, so (template, version) determines the whole chain. A database follows at
        // most one template; its row also holds its migration state and lock.
        statements: &[
            "CREATE TABLE IF NOT EXISTS templates (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            name VARCHAR(64) NOT NULL,
            parent_id BIGINT UNSIGNED NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            UNIQUE KEY uq_templates_name (name),
            CONSTRAINT fk_templates_parent FOREIGN KEY (parent_id) REFERENCES templates (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            "CREATE TABLE IF NOT EXISTS template_versions (
            template_id BIGINT UNSIGNED NOT NULL,
            version INT UNSIGNED NOT NULL,
            body MEDIUMTEXT NOT NULL,
            parent_version INT UNSIGNED NULL,
            derived TINYINT(1) NOT NULL DEFAULT 0,
            created_by BIGINT UNSIGNED NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            PRIMARY KEY (template_id, version),
            CONSTRAINT fk_template_versions_template FOREIGN KEY (template_id)
                REFERENCES templates (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            "CREATE TABLE IF NOT EXISTS database_templates (
            database_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
            template_id BIGINT UNSIGNED NOT NULL,
            channel VARCHAR(8) NOT NULL,
            overlay MEDIUMTEXT NOT NULL,
            version INT UNSIGNED NULL,
            applied_overlay MEDIUMTEXT NULL,
            status VARCHAR(16) NOT NULL DEFAULT 'ok',
            error TEXT NULL,
            snapshot MEDIUMTEXT NULL,
            lock_owner VARCHAR(64) NULL,
            lock_expires TIMESTAMP(6) NULL,
            updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6),
            KEY ix_database_templates_template (template_id, channel),
            CONSTRAINT fk_database_templates_database FOREIGN KEY (database_id)
                REFERENCES `databases` (id) ON DELETE CASCADE,
            CONSTRAINT fk_database_templates_template FOREIGN KEY (template_id)
                REFERENCES templates (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            // A rollout of a template version in waves (canary, then batches); its state lives
            // here so that it survives an admin restart. One row per database it reaches.
            "CREATE TABLE IF NOT EXISTS rollouts (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            template_id BIGINT UNSIGNED NOT NULL,
            version INT UNSIGNED NOT NULL,
            status VARCHAR(16) NOT NULL DEFAULT 'running',
            wave INT UNSIGNED NOT NULL DEFAULT 0,
            max_failures INT UNSIGNED NOT NULL,
            per_backend INT UNSIGNED NOT NULL,
            allow TEXT NOT NULL,
            error TEXT NULL,
            created_by BIGINT UNSIGNED NULL,
            request_id VARCHAR(64) NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6),
            KEY ix_rollouts_status (status),
            CONSTRAINT fk_rollouts_template FOREIGN KEY (template_id) REFERENCES templates (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            "CREATE TABLE IF NOT EXISTS rollout_databases (
            rollout_id BIGINT UNSIGNED NOT NULL,
            database_id BIGINT UNSIGNED NOT NULL,
            tenant_id BIGINT UNSIGNED NOT NULL,
            wave INT UNSIGNED NOT NULL,
            target_version INT UNSIGNED NOT NULL,
            status VARCHAR(16) NOT NULL DEFAULT 'pending',
            job_id BIGINT UNSIGNED NULL,
            error TEXT NULL,
            PRIMARY KEY (rollout_id, database_id),
            KEY ix_rollout_databases_wave (rollout_id, wave, status),
            CONSTRAINT fk_rollout_databases_rollout FOREIGN KEY (rollout_id)
                REFERENCES rollouts (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ],
    },
    Migration {
        version: 6,
        name: "tenant_webhooks",
        // A tenant's webhook (see `webhooks.rs`): its URL and signing secret (AES-GCM, like
        // backend passwords), gone with the tenant. Deliveries are rows so that they survive a
        // restart; no foreign key, like the audit log: they outlive the webhook they went to.
        statements: &[
            "CREATE TABLE IF NOT EXISTS tenant_webhooks (
            tenant_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
            url VARCHAR(2048) NOT NULL,
            secret_enc VARCHAR(255) NOT NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6),
            CONSTRAINT fk_tenant_webhooks_tenant FOREIGN KEY (tenant_id)
                REFERENCES tenants (id) ON DELETE CASCADE
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            "CREATE TABLE IF NOT EXISTS webhook_deliveries (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            tenant_id BIGINT UNSIGNED NOT NULL,
            event VARCHAR(64) NOT NULL,
            payload MEDIUMTEXT NOT NULL,
            status VARCHAR(16) NOT NULL DEFAULT 'pending',
            attempts INT UNSIGNED NOT NULL DEFAULT 0,
            next_attempt_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            last_error VARCHAR(1024) NULL,
            response_status SMALLINT UNSIGNED NULL,
            created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6),
            KEY ix_webhook_deliveries_due (status, next_attempt_at),
            KEY ix_webhook_deliveries_tenant (tenant_id, id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ],
    },
    Migration {
        version: 7,
        name: "tenant_limits",
        // Per-tenant limits (see `limits.rs`): NULL is the proxy's configured default. Gone
        // with the tenant.
        statements: &["CREATE TABLE IF NOT EXISTS tenant_limits (
            tenant_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
            max_client_connections INT UNSIGNED NULL,
            max_backend_connections INT UNSIGNED NULL,
            statements_per_second INT UNSIGNED NULL,
            statement_burst INT UNSIGNED NULL,
            statement_timeout_ms INT UNSIGNED NULL,
            updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6),
            CONSTRAINT fk_tenant_limits_tenant FOREIGN KEY (tenant_id)
                REFERENCES tenants (id) ON DELETE CASCADE
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"],
    },
    Migration {
        version: 8,
        name: "schema_drift",
        // The latest drift check of each template-bound database (see `drift.rs`): its status
        // and report (JSON). Gone with the database.
        statements: &["CREATE TABLE IF NOT EXISTS schema_drift (
            database_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
            tenant_id BIGINT UNSIGNED NOT NULL,
            status VARCHAR(16) NOT NULL,
            version INT UNSIGNED NULL,
            report MEDIUMTEXT NOT NULL,
            checked_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            KEY ix_schema_drift_status (status, database_id),
            CONSTRAINT fk_schema_drift_database FOREIGN KEY (database_id)
                REFERENCES `databases` (id) ON DELETE CASCADE
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"],
    },
    Migration {
        version: 9,
        name: "tenant_result_cache",
        // The per-tenant result cache opt-in (see `limits.rs`): NULL TTL = not cached.
        statements: &["ALTER TABLE tenant_limits
            ADD COLUMN IF NOT EXISTS result_cache_ttl_ms INT UNSIGNED NULL,
            ADD COLUMN IF NOT EXISTS result_cache_max_bytes INT UNSIGNED NULL"],
    },
    Migration {
        version: 10,
        name: "query_digests",
        // Statement digests published by the proxies (see `digests.rs`): one row per tenant,
        // digest and proxy, grown by additive deltas. No foreign key, like the audit log: a
        // proxy's flush must not fail because a tenant went away; the admin prunes old rows.
        // The primary key leads with the tenant, so a tenant's digests are one range.
        statements: &["CREATE TABLE IF NOT EXISTS query_digests (
            tenant_id BIGINT UNSIGNED NOT NULL,
            digest BIGINT UNSIGNED NOT NULL,
            proxy_id VARCHAR(128) NOT NULL,
            digest_text TEXT NOT NULL,
            exec_count BIGINT UNSIGNED NOT NULL,
            sum_us BIGINT UNSIGNED NOT NULL,
            min_us BIGINT UNSIGNED NOT NULL,
            max_us BIGINT UNSIGNED NOT NULL,
            rows_total BIGINT UNSIGNED NOT NULL,
            errors BIGINT UNSIGNED NOT NULL,
            first_seen TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            last_seen TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            PRIMARY KEY (tenant_id, digest, proxy_id),
            KEY ix_query_digests_last_seen (last_seen)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"],
    },
];

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INT UNSIGNED NOT NULL PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// How long a starting process waits for another one to finish migrating.
const LOCK_TIMEOUT_SECS: u32 = 60;

/// Applies the pending migrations on `conn` (whose default database is the catalog `db`).
/// Returns the versions applied by this call.
pub(crate) async fn migrate(conn: &mut Conn, db: &str) -> Result<Vec<u32>, CatalogError> {
    // Lock names are server-wide (max 64 chars): include the schema so that separate catalogs on
    // one server (tests) do not wait on each other.
    let lock = format!("octodb_migrate:{db}");
    let lock: String = lock.chars().take(64).collect();
    let got: Option<i64> = conn
        .exec_first("SELECT GET_LOCK(?, ?)", (&lock, LOCK_TIMEOUT_SECS))
        .await?;
    if got != Some(1) {
        return Err(CatalogError::Conflict(format!(
            "could not take the migration lock {lock:?} within {LOCK_TIMEOUT_SECS}s: \
             another process is migrating the catalog"
        )));
    }
    let result = apply_pending(conn).await;
    let released: Result<Option<i64>, _> =
        conn.exec_first("SELECT RELEASE_LOCK(?)", (&lock,)).await;
    if let Err(e) = released {
        tracing::warn!(error = %e, "could not release the migration lock");
    }
    result
}

async fn apply_pending(conn: &mut Conn) -> Result<Vec<u32>, CatalogError> {
    conn.query_drop(CREATE_MIGRATIONS_TABLE).await?;
    let applied: Vec<(u32, String)> = conn
        .query("SELECT version, name FROM schema_migrations ORDER BY version")
        .await?;
    for (version, name) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(m) if m.name != name => {
                return Err(CatalogError::Corrupt(format!(
                    "migration {version} is recorded as {name:?} but this build calls it {:?}",
                    m.name
                )))
            }
            Some(_) => {}
            None => tracing::warn!(
                version,
                name = %name,
                "the catalog has a migration this build does not know (a newer version ran)"
            ),
        }
    }
    let mut done = Vec::new();
    for m in MIGRATIONS {
        if applied.iter().any(|(v, _)| *v == m.version) {
            continue;
        }
        tracing::info!(
            version = m.version,
            name = m.name,
            "applying catalog migration"
        );
        for statement in m.statements {
            conn.query_drop(*statement).await?;
        }
        conn.exec_drop(
            "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
            (m.version, m.name),
        )
        .await?;
        done.push(m.version);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_strictly_increase() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
        assert_eq!(MIGRATIONS.first().map(|m| m.version), Some(1));
    }
}
