//! Provisioning: tenants, their databases and backend users, in the catalog and on the backend.
//!
//! Every step is idempotent, so re-running after a crash (or concurrently) converges:
//! - the catalog rows are claimed first (tenant row in `provisioning`, proxy user), so two
//!   different tenants of the same name conflict before anything is created on the backend;
//! - the backend password is stored (encrypted) before the backend user exists, and every run
//!   sets the backend user's password to the stored one, so they always match;
//! - `CREATE DATABASE IF NOT EXISTS`, `CREATE USER IF NOT EXISTS`, `GRANT` are repeatable.

use std::collections::BTreeSet;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, TxOpts};

use crate::names::backend_user_for;
use crate::sql::{self, take};
use crate::{
    native_password_verifier, BackendAdmin, Catalog, CatalogError, DatabaseName, NewTenant,
    PhysicalName, TenantName, TenantStatus,
};

/// Length of generated backend passwords.
const BACKEND_PASSWORD_LEN: usize = 32;
/// The host part of tenants' backend accounts.
const BACKEND_USER_HOST: &str = "%";
/// What a tenant's backend user may do on its own databases: nothing else.
const TENANT_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE";

/// MySQL server errors worth retrying a catalog claim on: duplicate key from a concurrent insert,
/// deadlock.
const RACE_CODES: [u16; 2] = [DUPLICATE_KEY, 1213];
/// ER_DUP_ENTRY.
pub(crate) const DUPLICATE_KEY: u16 = 1062;

/// A random alphanumeric password (CSPRNG).
pub fn generate_password(len: usize) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

impl Catalog {
    /// Creates (or converges) a tenant: catalog rows, backend user, physical databases, grants,
    /// proxy user. Returns the tenant id.
    ///
    /// Re-running with the same name, user and backend converges (missing databases are added,
    /// the proxy user's password is set to `t.password`). A tenant of the same name with another
    /// user, or on another backend, is a `Conflict`, as is a user name owned by another tenant.
    pub async fn create_tenant(
        &self,
        admin: &BackendAdmin,
        t: &NewTenant,
    ) -> Result<u64, CatalogError> {
        if t.password.is_empty() {
            return Err(CatalogError::Invalid(
                "the user's password must not be empty".into(),
            ));
        }
        let databases: BTreeSet<&DatabaseName> = t.databases.iter().collect();
        if databases.is_empty() {
            return Err(CatalogError::Invalid(
                "a tenant needs at least one database".into(),
            ));
        }
        let backend_id = self.ensure_backend(&admin.host, admin.port).await?;
        let verifier = native_password_verifier(t.password.as_bytes());
        let tenant_id = self.claim_tenant(t, backend_id, &verifier).await?;

        let mut backend = admin_conn(admin, None).await?;
        let result = async {
            warn_on_anonymous_users(&mut backend).await;
            let user = self
                .ensure_backend_user(&mut backend, tenant_id, &t.name)
                .await?;
            for db in databases {
                self.ensure_database(&mut backend, tenant_id, &t.name, db, &user)
                    .await?;
            }
            Ok::<_, CatalogError>(())
        }
        .await;
        close(backend).await;
        result?;

        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE tenants SET status = ? WHERE id = ? AND status IN (?, ?)",
            (
                TenantStatus::Ready.as_str(),
                tenant_id,
                TenantStatus::Provisioning.as_str(),
                TenantStatus::Failed.as_str(),
            ),
        )
        .await?;
        bump_catalog_version(&mut conn).await?;
        tracing::info!(tenant = %t.name, tenant_id, "tenant provisioned");
        Ok(tenant_id)
    }

    /// Adds one database to an existing tenant (idempotent); bumps its mapping version when the
    /// database is new. Returns the physical name.
    pub async fn add_database(
        &self,
        admin: &BackendAdmin,
        tenant: &TenantName,
        db: &DatabaseName,
    ) -> Result<PhysicalName, CatalogError> {
        let t = self
            .tenant_by_name(tenant)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("tenant {tenant}")))?;
        check_same_backend(admin, &t.backend_host, t.backend_port, tenant)?;
        let mut backend = admin_conn(admin, None).await?;
        let result = async {
            let user = self.ensure_backend_user(&mut backend, t.id, tenant).await?;
            self.ensure_database(&mut backend, t.id, tenant, db, &user)
                .await
        }
        .await;
        close(backend).await;
        let physical = result?;
        let mut conn = self.pool.get_conn().await?;
        bump_catalog_version(&mut conn).await?;
        Ok(physical)
    }

    /// Runs `statements` (already validated `CREATE TABLE`s: see `octodb_policy::parse_schema`)
    /// as the backend admin, with the tenant's physical database as the default database.
    /// This runs with the admin's privileges: callers must pass only validated statements.
    pub async fn apply_schema(
        &self,
        admin: &BackendAdmin,
        tenant: &TenantName,
        db: &DatabaseName,
        statements: &[String],
    ) -> Result<PhysicalName, CatalogError> {
        let t = self
            .tenant_by_name(tenant)
            .await?
            .ok_or_else(|| CatalogError::NotFound(format!("tenant {tenant}")))?;
        let physical = t
            .databases
            .iter()
            .find(|(logical, _)| logical == db)
            .map(|(_, physical)| physical.clone())
            .ok_or_else(|| CatalogError::NotFound(format!("database {db} of tenant {tenant}")))?;
        check_same_backend(admin, &t.backend_host, t.backend_port, tenant)?;
        let mut backend = admin_conn(admin, Some(physical.as_str())).await?;
        let result = async {
            for statement in statements {
                backend.query_drop(statement.as_str()).await?;
            }
            Ok::<_, CatalogError>(())
        }
        .await;
        close(backend).await;
        result?;
        Ok(physical)
    }

    /// The `backends` row for (host, port), created if missing.
    pub(crate) async fn ensure_backend(&self, host: &str, port: u16) -> Result<u64, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "INSERT INTO backends (host, port) VALUES (?, ?) \
             ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
            (host, port),
        )
        .await?;
        conn.last_insert_id()
            .ok_or_else(|| CatalogError::Corrupt("no id for the backends row".to_string()))
    }

    /// Claims the tenant row and the proxy user (retrying once or twice on a concurrent claim).
    async fn claim_tenant(
        &self,
        t: &NewTenant,
        backend_id: u64,
        verifier: &[u8; 20],
    ) -> Result<u64, CatalogError> {
        let mut attempt = 0;
        loop {
            match self.try_claim_tenant(t, backend_id, verifier).await {
                Err(e)
                    if attempt < 3 && e.server_code().is_some_and(|c| RACE_CODES.contains(&c)) =>
                {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "tenant claim raced; retrying");
                }
                other => return other,
            }
        }
    }

    async fn try_claim_tenant(
        &self,
        t: &NewTenant,
        backend_id: u64,
        verifier: &[u8; 20],
    ) -> Result<u64, CatalogError> {
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        let existing: Option<(u64, u64)> = tx
            .exec_first(
                "SELECT id, backend_id FROM tenants WHERE name = ? FOR UPDATE",
                (t.name.as_str(),),
            )
            .await?;
        let tenant_id = match existing {
            Some((id, b)) if b == backend_id => id,
            Some(_) => {
                return Err(CatalogError::Conflict(format!(
                    "tenant {} already exists on another backend",
                    t.name
                )))
            }
            None => {
                tx.exec_drop(
                    "INSERT INTO tenants (name, status, backend_id) VALUES (?, ?, ?)",
                    (
                        t.name.as_str(),
                        TenantStatus::Provisioning.as_str(),
                        backend_id,
                    ),
                )
                .await?;
                tx.last_insert_id()
                    .ok_or_else(|| CatalogError::Corrupt("no id for the tenant row".to_string()))?
            }
        };
        let others: Vec<String> = tx
            .exec(
                "SELECT username FROM users WHERE tenant_id = ? AND username <> ?",
                (tenant_id, t.username.as_str()),
            )
            .await?;
        if !others.is_empty() {
            return Err(CatalogError::Conflict(format!(
                "tenant {} already exists with user {}",
                t.name,
                others.join(", ")
            )));
        }
        let owner: Option<u64> = tx
            .exec_first(
                "SELECT tenant_id FROM users WHERE username = ? FOR UPDATE",
                (t.username.as_str(),),
            )
            .await?;
        match owner {
            Some(owner) if owner != tenant_id => {
                return Err(CatalogError::Conflict(format!(
                    "user {} belongs to another tenant",
                    t.username
                )))
            }
            Some(_) => {
                tx.exec_drop(
                    "UPDATE users SET verifier = ? WHERE username = ?",
                    (&verifier[..], t.username.as_str()),
                )
                .await?
            }
            None => {
                tx.exec_drop(
                    "INSERT INTO users (tenant_id, username, verifier) VALUES (?, ?, ?)",
                    (tenant_id, t.username.as_str(), &verifier[..]),
                )
                .await?
            }
        }
        tx.commit().await?;
        Ok(tenant_id)
    }

    /// The tenant's backend user, with the password stored in the catalog (generated and stored
    /// first if there is none yet). Returns the user name.
    pub(crate) async fn ensure_backend_user(
        &self,
        backend: &mut Conn,
        tenant_id: u64,
        tenant: &TenantName,
    ) -> Result<String, CatalogError> {
        let user = backend_user_for(tenant);
        let password = self.backend_password(tenant_id, &user).await?;
        let account = sql::account(&user, BACKEND_USER_HOST)?;
        let password = sql::literal(&password)?;
        backend
            .query_drop(format!(
                "CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password}"
            ))
            .await?;
        backend
            .query_drop(format!("ALTER USER {account} IDENTIFIED BY {password}"))
            .await?;
        Ok(user)
    }

    /// The stored backend password, or a new one stored now (the first writer wins).
    async fn backend_password(&self, tenant_id: u64, user: &str) -> Result<String, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        for _ in 0..2 {
            let stored: Option<Option<String>> = conn
                .exec_first(
                    "SELECT backend_password_enc FROM tenants WHERE id = ?",
                    (tenant_id,),
                )
                .await?;
            match stored {
                None => return Err(CatalogError::NotFound(format!("tenant id {tenant_id}"))),
                Some(Some(enc)) => return self.key.decrypt(&enc),
                Some(None) => {}
            }
            let password = generate_password(BACKEND_PASSWORD_LEN);
            conn.exec_drop(
                "UPDATE tenants SET backend_user = ?, backend_password_enc = ? \
                 WHERE id = ? AND backend_password_enc IS NULL",
                (user, self.key.encrypt(&password)?, tenant_id),
            )
            .await?;
            if conn.affected_rows() == 1 {
                return Ok(password);
            }
        }
        Err(CatalogError::Corrupt(format!(
            "could not store a backend password for tenant id {tenant_id}"
        )))
    }

    /// One physical database: created on the backend, granted to the tenant's user only, and
    /// recorded in the catalog (mapping version bumped when new).
    pub(crate) async fn ensure_database(
        &self,
        backend: &mut Conn,
        tenant_id: u64,
        tenant: &TenantName,
        db: &DatabaseName,
        user: &str,
    ) -> Result<PhysicalName, CatalogError> {
        let physical = PhysicalName::new(tenant, db);
        backend
            .query_drop(format!(
                "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4",
                sql::ident(physical.as_str())
            ))
            .await?;
        backend
            .query_drop(format!(
                "GRANT {TENANT_PRIVILEGES} ON {}.* TO {}",
                sql::grant_db(physical.as_str()),
                sql::account(user, BACKEND_USER_HOST)?
            ))
            .await?;

        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        tx.exec_drop(
            "INSERT INTO `databases` (tenant_id, logical_name, physical_name) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE id = id",
            (tenant_id, db.as_str(), physical.as_str()),
        )
        .await?;
        let inserted = tx.affected_rows() == 1;
        let owner: Option<Row> = tx
            .exec_first(
                "SELECT tenant_id, logical_name FROM `databases` WHERE physical_name = ?",
                (physical.as_str(),),
            )
            .await?;
        let (owner, logical) = match owner {
            Some(mut row) => (
                take::<u64>(&mut row, 0, "databases.tenant_id")?,
                take::<String>(&mut row, 1, "databases.logical_name")?,
            ),
            None => {
                return Err(CatalogError::Corrupt(format!(
                    "no catalog row for {physical}"
                )))
            }
        };
        if owner != tenant_id || logical != db.as_str() {
            return Err(CatalogError::Conflict(format!(
                "physical database {physical} is recorded for another tenant or database"
            )));
        }
        if inserted {
            tx.exec_drop(
                "UPDATE tenants SET mapping_version = mapping_version + 1 WHERE id = ?",
                (tenant_id,),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(physical)
    }
}

fn check_same_backend(
    admin: &BackendAdmin,
    host: &str,
    port: u16,
    tenant: &TenantName,
) -> Result<(), CatalogError> {
    if admin.host == host && admin.port == port {
        return Ok(());
    }
    Err(CatalogError::Invalid(format!(
        "tenant {tenant} lives on {host}:{port}, but the admin credentials are for {}:{}",
        admin.host, admin.port
    )))
}

/// A direct (unpooled) connection to a backend as its admin user, over TCP.
pub(crate) async fn admin_conn(
    admin: &BackendAdmin,
    db: Option<&str>,
) -> Result<Conn, CatalogError> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(admin.host.as_str())
        .tcp_port(admin.port)
        .user(Some(admin.user.as_str()))
        .pass(Some(admin.password.as_str()))
        .db_name(db)
        .prefer_socket(false);
    Ok(Conn::new(opts).await?)
}

pub(crate) async fn close(conn: Conn) {
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "closing a backend admin connection");
    }
}

pub(crate) async fn bump_catalog_version<Q: Queryable>(conn: &mut Q) -> Result<(), CatalogError> {
    conn.query_drop("UPDATE catalog_version SET version = version + 1 WHERE id = 1")
        .await?;
    Ok(())
}

/// Anonymous accounts (`''@'localhost'`) shadow `'user'@'%'` for local connections on MySQL and
/// MariaDB; tenants' backend users would then fail to log in. Warn, do not fail.
async fn warn_on_anonymous_users(backend: &mut Conn) {
    let count: Result<Option<u64>, _> = backend
        .query_first("SELECT COUNT(*) FROM mysql.user WHERE user = ''")
        .await;
    if let Ok(Some(n)) = count {
        if n > 0 {
            tracing::warn!(
                anonymous_accounts = n,
                "the backend has anonymous accounts, which shadow tenants' 'user'@'%' accounts \
                 for local connections; drop them (DROP USER ''@'localhost')"
            );
        }
    }
}
