//! The MetaDB store: connecting (with migrations) and the reads the proxy and admin need.
//! Provisioning (writes to the catalog and the backends) is in `provision.rs`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, Row};

use crate::config::redact_url;
use crate::pool::CatalogPool;
use crate::sql::{self, take};
use crate::ConfigError;
use crate::{
    CatalogConfig, CatalogError, DatabaseName, PhysicalName, SecretKey, TenantName, UserName,
};

/// The catalog schema used when the URL names none.
pub const DEFAULT_CATALOG_DB: &str = "octodb_meta";

/// A tenant's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantStatus {
    Provisioning,
    Ready,
    Suspended,
    Failed,
    /// Being deleted: its users are (being) removed, then its databases and backend user.
    Deleting,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Provisioning => "provisioning",
            TenantStatus::Ready => "ready",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Failed => "failed",
            TenantStatus::Deleting => "deleting",
        }
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TenantStatus {
    type Err = CatalogError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "provisioning" => TenantStatus::Provisioning,
            "ready" => TenantStatus::Ready,
            "suspended" => TenantStatus::Suspended,
            "failed" => TenantStatus::Failed,
            "deleting" => TenantStatus::Deleting,
            other => {
                return Err(CatalogError::Corrupt(format!(
                    "unknown tenant status {other:?}"
                )))
            }
        })
    }
}

/// Everything the proxy needs to serve one authenticated user, read in one call.
#[derive(Clone)]
pub struct Login {
    pub tenant_id: u64,
    pub tenant_name: String,
    pub tenant_status: TenantStatus,
    pub username: String,
    /// SHA1(SHA1(password)), the mysql_native_password verifier.
    pub verifier: [u8; 20],
    /// logical -> physical, all the tenant's databases, ordered by logical name.
    pub databases: Vec<(DatabaseName, PhysicalName)>,
    /// Catalog version of the tenant's name mapping (bumped on any change of its databases).
    pub mapping_version: u64,
    /// The backend server the tenant's databases live on, and the tenant's own backend user.
    pub backend_host: String,
    pub backend_port: u16,
    pub backend_user: String,
    /// Decrypted backend password (empty while the tenant is still provisioning).
    pub backend_password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("tenant_id", &self.tenant_id)
            .field("tenant_name", &self.tenant_name)
            .field("tenant_status", &self.tenant_status)
            .field("username", &self.username)
            .field("databases", &self.databases)
            .field("mapping_version", &self.mapping_version)
            .field("backend_host", &self.backend_host)
            .field("backend_port", &self.backend_port)
            .field("backend_user", &self.backend_user)
            .finish_non_exhaustive()
    }
}

/// A tenant as the admin sees it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: u64,
    pub name: TenantName,
    pub status: TenantStatus,
    pub mapping_version: u64,
    pub backend_host: String,
    pub backend_port: u16,
    /// `None` until provisioning has created it.
    pub backend_user: Option<String>,
    pub databases: Vec<(DatabaseName, PhysicalName)>,
    pub users: Vec<UserName>,
}

/// Credentials of a backend server's administrative user (from configuration, never stored).
#[derive(Clone)]
pub struct BackendAdmin {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
}

impl fmt::Debug for BackendAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendAdmin")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A tenant to create.
#[derive(Clone)]
pub struct NewTenant {
    pub name: TenantName,
    pub databases: Vec<DatabaseName>,
    pub username: UserName,
    pub password: String,
}

impl fmt::Debug for NewTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewTenant")
            .field("name", &self.name)
            .field("databases", &self.databases)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The MetaDB. Cheap to clone (a pool handle and the key).
#[derive(Clone)]
pub struct Catalog {
    /// Checkouts bounded in time (see `pool.rs`): an unreachable MetaDB fails fast.
    pub(crate) pool: CatalogPool,
    pub(crate) key: SecretKey,
    db: Arc<str>,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// Creates the catalog schema if missing, applies pending migrations, and returns a pooled
    /// handle. Needs the catalog key (`CatalogConfig::secret_key`).
    pub async fn connect(cfg: &CatalogConfig) -> Result<Self, CatalogError> {
        let key = cfg.secret_key()?;
        let (opts, db) = catalog_opts(cfg)?;
        migrate_with(&opts, &db).await?;
        // Sessions in UTC, so that formatted TIMESTAMPs are RFC 3339 UTC (session scope only).
        let constraints = PoolConstraints::new(1, cfg.pool_max.max(1)).ok_or_else(|| {
            CatalogError::Config(ConfigError::Invalid {
                field: "catalog.pool_max".to_string(),
                env_var: "OCTODB_CATALOG__POOL_MAX".to_string(),
                message: "must be at least 1".to_string(),
            })
        })?;
        let pool = CatalogPool::new(Pool::new(
            OptsBuilder::from_opts(opts)
                .db_name(Some(db.as_str()))
                .init(vec!["SET time_zone = '+00:00'"])
                .pool_opts(PoolOpts::default().with_constraints(constraints)),
        ));
        tracing::debug!(url = %redact_url(&cfg.url), "catalog connected");
        Ok(Catalog {
            pool,
            key,
            db: db.into(),
        })
    }

    /// Only creates the schema and applies pending migrations (no key needed). Returns the
    /// versions applied by this call.
    pub async fn migrate(cfg: &CatalogConfig) -> Result<Vec<u32>, CatalogError> {
        let (opts, db) = catalog_opts(cfg)?;
        migrate_with(&opts, &db).await
    }

    /// The catalog schema name.
    pub fn database(&self) -> &str {
        &self.db
    }

    /// `SELECT 1` (readiness).
    pub async fn ping(&self) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let _: Option<i64> = conn.query_first("SELECT 1").await?;
        Ok(())
    }

    /// The catalog version, bumped on every change (for polling when Redis is absent).
    pub async fn catalog_version(&self) -> Result<u64, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let v: Option<u64> = conn
            .query_first("SELECT version FROM catalog_version WHERE id = 1")
            .await?;
        v.ok_or_else(|| CatalogError::Corrupt("catalog_version row is missing".to_string()))
    }

    /// Closes the pool.
    pub async fn disconnect(self) -> Result<(), CatalogError> {
        Ok(self.pool.disconnect().await?)
    }

    /// One user's login data; `None` if there is no such user (or the name is not a valid user
    /// name).
    pub async fn login(&self, username: &str) -> Result<Option<Login>, CatalogError> {
        let Ok(username) = UserName::parse(username) else {
            return Ok(None);
        };
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                "SELECT t.id, t.name, t.status, u.verifier, t.mapping_version, b.host, b.port, \
                        t.backend_user, t.backend_password_enc, d.logical_name, d.physical_name \
                 FROM users u \
                 JOIN tenants t ON t.id = u.tenant_id \
                 JOIN backends b ON b.id = t.backend_id \
                 LEFT JOIN `databases` d ON d.tenant_id = t.id \
                 WHERE u.username = ? \
                 ORDER BY d.logical_name",
                (username.as_str(),),
            )
            .await?;
        let mut login: Option<Login> = None;
        for mut row in rows {
            let db = take_mapping(&mut row, 9)?;
            if let Some(login) = login.as_mut() {
                login.databases.extend(db);
                continue;
            }
            let status: TenantStatus = take::<String>(&mut row, 2, "tenants.status")?.parse()?;
            let enc: Option<String> = take(&mut row, 8, "tenants.backend_password_enc")?;
            let backend_password = match enc {
                Some(enc) => self.key.decrypt(&enc)?,
                None if status == TenantStatus::Ready => {
                    return Err(CatalogError::Corrupt(
                        "a ready tenant has no backend password".to_string(),
                    ))
                }
                None => String::new(),
            };
            login = Some(Login {
                tenant_id: take(&mut row, 0, "tenants.id")?,
                tenant_name: take(&mut row, 1, "tenants.name")?,
                tenant_status: status,
                username: username.to_string(),
                verifier: take(&mut row, 3, "users.verifier")?,
                databases: db.into_iter().collect(),
                mapping_version: take(&mut row, 4, "tenants.mapping_version")?,
                backend_host: take(&mut row, 5, "backends.host")?,
                backend_port: take(&mut row, 6, "backends.port")?,
                backend_user: take::<Option<String>>(&mut row, 7, "tenants.backend_user")?
                    .unwrap_or_default(),
                backend_password,
            });
        }
        Ok(login)
    }

    /// A tenant with its databases and users; `None` if there is none of that name.
    pub async fn tenant_by_name(&self, name: &TenantName) -> Result<Option<Tenant>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                "SELECT t.id, t.status, t.mapping_version, b.host, b.port, t.backend_user \
                 FROM tenants t JOIN backends b ON b.id = t.backend_id WHERE t.name = ?",
                (name.as_str(),),
            )
            .await?;
        let Some(mut row) = row else {
            return Ok(None);
        };
        let id: u64 = take(&mut row, 0, "tenants.id")?;
        let mut tenant = Tenant {
            id,
            name: name.clone(),
            status: take::<String>(&mut row, 1, "tenants.status")?.parse()?,
            mapping_version: take(&mut row, 2, "tenants.mapping_version")?,
            backend_host: take(&mut row, 3, "backends.host")?,
            backend_port: take(&mut row, 4, "backends.port")?,
            backend_user: take(&mut row, 5, "tenants.backend_user")?,
            databases: Vec::new(),
            users: Vec::new(),
        };
        let dbs: Vec<Row> = conn
            .exec(
                "SELECT logical_name, physical_name FROM `databases` WHERE tenant_id = ? \
                 ORDER BY logical_name",
                (id,),
            )
            .await?;
        for mut row in dbs {
            tenant.databases.extend(take_mapping(&mut row, 0)?);
        }
        let users: Vec<String> = conn
            .exec(
                "SELECT username FROM users WHERE tenant_id = ? ORDER BY username",
                (id,),
            )
            .await?;
        for u in users {
            tenant.users.push(UserName::parse(&u)?);
        }
        Ok(Some(tenant))
    }
}

/// Columns `idx` (logical) and `idx + 1` (physical), NULL from a LEFT JOIN giving `None`.
fn take_mapping(
    row: &mut Row,
    idx: usize,
) -> Result<Option<(DatabaseName, PhysicalName)>, CatalogError> {
    let logical: Option<String> = take(row, idx, "databases.logical_name")?;
    let physical: Option<String> = take(row, idx + 1, "databases.physical_name")?;
    match (logical, physical) {
        (Some(l), Some(p)) => Ok(Some((DatabaseName::parse(&l)?, PhysicalName::parse(&p)?))),
        _ => Ok(None),
    }
}

/// Options from the URL and the catalog schema name (from the URL, default `octodb_meta`).
fn catalog_opts(cfg: &CatalogConfig) -> Result<(Opts, String), CatalogError> {
    let opts = Opts::from_url(&cfg.url)?;
    let db = opts.db_name().unwrap_or(DEFAULT_CATALOG_DB).to_string();
    let valid = !db.is_empty()
        && db.len() <= 64
        && db.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(CatalogError::InvalidName {
            kind: "catalog database",
            name: db,
            reason: "use 1-64 ASCII letters, digits or '_'",
        });
    }
    Ok((opts, db))
}

/// Creates the catalog schema if needed and migrates it, on one dedicated connection.
async fn migrate_with(opts: &Opts, db: &str) -> Result<Vec<u32>, CatalogError> {
    let mut conn = Conn::new(OptsBuilder::from_opts(opts.clone()).db_name(None::<String>)).await?;
    let result = async {
        conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            sql::ident(db)
        ))
        .await?;
        conn.query_drop(format!("USE {}", sql::ident(db))).await?;
        crate::migrations::migrate(&mut conn, db).await
    }
    .await;
    // Closing the connection also releases the migration lock if anything failed.
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "closing the migration connection");
    }
    result
}
