//! Test harness for OctoDB's integration tests: a fresh catalog database per test, tenants
//! with random names, and the real proxy running in-process on a port chosen by the OS,
//! against the real MariaDB at `OCTODB_TEST_MYSQL` (default 127.0.0.1:3306, root, no password).
//! `TestEnv::cleanup` drops everything a test created.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod fuzz;
pub mod raw;
pub mod support;

use std::net::SocketAddr;

use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use octodb_catalog::{
    BackendAdmin, Catalog, CatalogConfig, DatabaseName, LimitChange, LimitSettings, NewTenant,
    PhysicalName, TenantName, UserName,
};
use octodb_proxy::ProxyConfig;
use rand::Rng;
use tokio_util::sync::CancellationToken;

/// The backend server the tests use.
pub fn backend_admin() -> BackendAdmin {
    let host = std::env::var("OCTODB_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("OCTODB_TEST_MYSQL_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3306);
    BackendAdmin {
        host,
        port,
        user: std::env::var("OCTODB_TEST_MYSQL_USER").unwrap_or_else(|_| "root".into()),
        password: std::env::var("OCTODB_TEST_MYSQL_PASSWORD").unwrap_or_default(),
    }
}

/// A direct root connection to the backend (for checks and setup, never for tenants).
pub async fn root_conn(db: Option<&str>) -> Result<Conn> {
    let a = backend_admin();
    let opts = OptsBuilder::default()
        .ip_or_hostname(a.host)
        .tcp_port(a.port)
        .user(Some(a.user))
        .pass(Some(a.password))
        .db_name(db)
        .prefer_socket(false)
        .max_allowed_packet(Some(64 << 20));
    Ok(Conn::new(opts).await?)
}

fn suffix() -> String {
    let n: u32 = rand::thread_rng().gen();
    format!("{n:08x}")
}

/// A tenant created for a test.
#[derive(Debug, Clone)]
pub struct TestTenant {
    pub name: String,
    pub user: String,
    pub password: String,
    /// Logical database name (always `app`) and its physical name.
    pub db: String,
    pub physical: String,
}

/// A fresh catalog and an in-process proxy.
pub struct TestEnv {
    pub catalog: Catalog,
    pub catalog_db: String,
    /// The catalog configuration the proxy uses (URL and key), for an admin sharing it.
    pub catalog_config: CatalogConfig,
    pub addr: SocketAddr,
    /// The running proxy's shared state (pools, pin counts), for checks.
    pub shared: std::sync::Arc<octodb_proxy::Shared>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    tenants: Vec<TestTenant>,
    /// Tenants created by someone else (the admin API), dropped by name at cleanup.
    tracked: Vec<String>,
}

impl TestEnv {
    /// Starts a proxy with default settings.
    pub async fn start() -> Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a proxy after `tweak` adjusts its configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut ProxyConfig)) -> Result<Self> {
        let a = backend_admin();
        let catalog_db = format!("octodb_it_{}", suffix());
        let key: [u8; 32] = rand::thread_rng().gen();
        let catalog_cfg = CatalogConfig {
            url: format!(
                "mysql://{}:{}@{}:{}/{}",
                a.user, a.password, a.host, a.port, catalog_db
            ),
            key: Some(hex::encode(key)),
            ..CatalogConfig::default()
        };
        let catalog = Catalog::connect(&catalog_cfg).await.context("catalog")?;
        let mut config = ProxyConfig {
            catalog: catalog_cfg.clone(),
            ..ProxyConfig::default()
        };
        tweak(&mut config);
        let listener = octodb_proxy::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = octodb_proxy::prepare(config).await.context("proxy")?;
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(octodb_proxy::serve(
            listener,
            shared.clone(),
            shutdown.clone(),
        ));
        Ok(TestEnv {
            catalog,
            catalog_db,
            catalog_config: catalog_cfg,
            addr,
            shared,
            shutdown,
            server,
            tenants: Vec::new(),
            tracked: Vec::new(),
        })
    }

    /// An admin configuration sharing this proxy's catalog (same URL and key) and placing
    /// tenants on the test backend.
    pub fn admin_config(&self) -> octodb_admin::AdminConfig {
        let a = backend_admin();
        let mut config = octodb_admin::AdminConfig {
            catalog: self.catalog_config.clone(),
            ..octodb_admin::AdminConfig::default()
        };
        config.backend.host = a.host;
        config.backend.port = a.port;
        config.backend.admin_user = a.user;
        config.backend.admin_password = a.password;
        config.jobs.backoff_base_ms = 20;
        config
    }

    /// Remembers a tenant created outside this harness (through the admin API) so that
    /// `cleanup` drops its databases (`t_<name>__*`) and backend user `t_<name>`.
    pub fn track_tenant(&mut self, name: &str) {
        self.tracked.push(name.to_string());
    }

    /// Creates a tenant with one logical database `app` and applies `schema` (CREATE TABLEs).
    pub async fn tenant(&mut self, schema: &str) -> Result<TestTenant> {
        let name = format!("it{}", suffix());
        let user = format!("{name}_u");
        let password = format!("pw-{}", suffix());
        let t = NewTenant {
            name: TenantName::parse(&name)?,
            databases: vec![DatabaseName::parse("app")?],
            username: UserName::parse(&user)?,
            password: password.clone(),
        };
        let admin = backend_admin();
        self.catalog.create_tenant(&admin, &t).await?;
        let tt = TestTenant {
            physical: PhysicalName::new(&t.name, &t.databases[0]).to_string(),
            name,
            user,
            password,
            db: "app".into(),
        };
        self.tenants.push(tt.clone());
        if !schema.trim().is_empty() {
            let statements =
                octodb_policy::parse_schema(schema).map_err(|r| anyhow::anyhow!("schema: {r}"))?;
            self.catalog
                .apply_schema(&admin, &t.name, &t.databases[0], &statements)
                .await?;
        }
        Ok(tt)
    }

    /// Client options for `t` through the proxy, with its logical database.
    pub fn opts(&self, t: &TestTenant) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname(self.addr.ip().to_string())
            .tcp_port(self.addr.port())
            .user(Some(t.user.clone()))
            .pass(Some(t.password.clone()))
            .db_name(Some(t.db.clone()))
            .prefer_socket(false)
            .max_allowed_packet(Some(64 << 20))
    }

    /// A connection through the proxy as `t`.
    pub async fn connect(&self, t: &TestTenant) -> Result<Conn> {
        Ok(Conn::new(Opts::from(self.opts(t))).await?)
    }

    /// Stops the proxy (sessions drained, background writers flushed) but keeps the catalog
    /// and the tenants, so a test can read what the proxy wrote on its way out.
    pub async fn stop_proxy(&self) {
        self.shutdown.cancel();
        // Not awaiting the handle: `cleanup` does, and a handle is awaited only once.
        while !self.server.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Runs `body` on a proxy started with `tweak`, then cleans up whatever the body returned,
    /// failed or not (the body hands the environment back with its result).
    pub async fn run_with<F, Fut>(tweak: impl FnOnce(&mut ProxyConfig), body: F) -> Result<()>
    where
        F: FnOnce(TestEnv) -> Fut,
        Fut: std::future::Future<Output = (TestEnv, Result<()>)>,
    {
        let env = TestEnv::start_with(tweak).await?;
        let (env, result) = body(env).await;
        env.cleanup().await?;
        result
    }

    /// The catalog id of test tenant `t`.
    pub async fn tenant_id(&self, t: &TestTenant) -> Result<u64> {
        Ok(self
            .catalog
            .tenant_by_name(&TenantName::parse(&t.name)?)
            .await?
            .context("tenant")?
            .id)
    }

    /// Stores `limits` for test tenant `t` as an operator would (not only lowering them).
    pub async fn set_limits(&self, t: &TestTenant, limits: &LimitSettings) -> Result<()> {
        let id = self.tenant_id(t).await?;
        match self.catalog.set_tenant_limits(id, limits, false).await? {
            LimitChange::Applied { .. } => Ok(()),
            other => anyhow::bail!("limits not applied: {other:?}"),
        }
    }

    /// The pin reasons still counted once they have had up to 5 s to drop to zero (with no
    /// session left, none should be).
    pub async fn pins_left(&self) -> Vec<(&'static str, i64)> {
        use octodb_proxy::backend::PinReason;
        let mut left = Vec::new();
        for _ in 0..100 {
            left = PinReason::ALL
                .iter()
                .map(|r| (r.label(), self.shared.backends.pins.get(*r)))
                .filter(|(_, n)| *n != 0)
                .collect();
            if left.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        left
    }

    /// Stops the proxy and drops the catalog, the tenants' databases and backend users.
    pub async fn cleanup(self) -> Result<()> {
        self.shutdown.cancel();
        let _ = self.server.await;
        let mut root = root_conn(None).await?;
        for t in &self.tenants {
            root.query_drop(format!("DROP DATABASE IF EXISTS `{}`", t.physical))
                .await?;
            root.query_drop(format!("DROP USER IF EXISTS 't_{}'@'%'", t.name))
                .await?;
        }
        for name in &self.tracked {
            drop_tenant_objects(&mut root, name).await?;
        }
        root.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.catalog_db))
            .await?;
        Ok(())
    }
}

/// Drops every physical database of tenant `name` (`t_<name>__*`) and its backend user.
pub async fn drop_tenant_objects(root: &mut Conn, name: &str) -> Result<()> {
    let dbs: Vec<String> = root
        .exec(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
            (format!("t\\_{name}\\_\\_%"),),
        )
        .await?;
    for db in dbs {
        root.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
            .await?;
    }
    root.query_drop(format!("DROP USER IF EXISTS 't_{name}'@'%'"))
        .await?;
    Ok(())
}
