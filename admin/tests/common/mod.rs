//! Shared by the admin integration tests: a fresh catalog schema per test on the real MariaDB,
//! the admin server in-process on 127.0.0.1:0, a minimal HTTP/1.1 client, and cleanup of
//! everything a test created (catalog schema, tenants' databases and backend users).

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;
use octodb_admin::AdminConfig;
use octodb_catalog::{generate_password, Catalog, KeyScope, SecretKey};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn suffix() -> String {
    generate_password(10).to_ascii_lowercase()
}

pub fn test_config(catalog_db: &str) -> AdminConfig {
    let host = std::env::var("OCTODB_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("OCTODB_TEST_MYSQL_PORT").unwrap_or_else(|_| "3306".into());
    let mut config = AdminConfig::default();
    config.catalog.url = format!("mysql://root@{host}:{port}/{catalog_db}?prefer_socket=false");
    config.catalog.key = Some(SecretKey::generate().to_hex());
    config.backend.host = host;
    config.backend.port = port.parse().unwrap_or(3306);
    config.jobs.backoff_base_ms = 20;
    config
}

/// The server's administrative user (`OCTODB_TEST_MYSQL_USER`/`_PASSWORD`, default root and no
/// password), whatever credentials the test gives the admin server.
pub async fn root_conn(config: &AdminConfig) -> Result<mysql_async::Conn> {
    let b = &config.backend;
    let user = std::env::var("OCTODB_TEST_MYSQL_USER").unwrap_or_else(|_| "root".into());
    let password = std::env::var("OCTODB_TEST_MYSQL_PASSWORD").unwrap_or_default();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(b.host.as_str())
        .tcp_port(b.port)
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    Ok(mysql_async::Conn::new(opts).await?)
}

/// A tenant key's secret.
pub async fn tenant_key(catalog: &Catalog, tenant_id: u64) -> Result<String> {
    Ok(catalog
        .create_api_key(KeyScope::Tenant(tenant_id))
        .await?
        .secret)
}

/// Whether `password` answers a fresh random scramble for `username` as the proxy checks it
/// (`Catalog::login` and `verify_native_password`). Returns the tenant id when it does.
pub async fn proxy_login(catalog: &Catalog, username: &str, password: &str) -> Result<Option<u64>> {
    let Some(login) = catalog.login(username).await? else {
        return Ok(None);
    };
    let scramble: [u8; 20] = rand::random();
    let response = mysql_common::scramble::scramble_native(&scramble, password.as_bytes())
        .map(|r| r.to_vec())
        .unwrap_or_default();
    Ok(
        octodb_catalog::verify_native_password(&scramble, &response, &login.verifier)
            .then_some(login.tenant_id),
    )
}

/// (physical databases of the tenant, backend users of the tenant) as seen by root.
pub async fn backend_objects(fx: &Fixture, tenant: &str) -> Result<(Vec<String>, u64)> {
    let mut conn = root_conn(&fx.config).await?;
    let dbs: Vec<String> = conn
        .exec(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ? \
             ORDER BY schema_name",
            (format!("t\\_{tenant}\\_\\_%"),),
        )
        .await?;
    let users: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM mysql.user WHERE user = ?",
            (format!("t_{tenant}"),),
        )
        .await?;
    conn.disconnect().await?;
    Ok((dbs, users.unwrap_or(0)))
}

/// A test's catalog schema and tenant names; `cleanup` drops them all.
pub struct Fixture {
    pub config: AdminConfig,
    pub catalog_db: String,
    pub tenants: std::sync::Mutex<Vec<String>>,
}

impl Fixture {
    pub fn new() -> Self {
        let catalog_db = format!("octodb_meta_test_{}", suffix());
        Fixture {
            config: test_config(&catalog_db),
            catalog_db,
            tenants: Default::default(),
        }
    }

    /// A fresh tenant name, remembered for cleanup.
    pub fn tenant_name(&self, prefix: &str) -> String {
        let name = format!("{prefix}{}", suffix());
        self.tenants.lock().unwrap().push(name.clone());
        name
    }

    pub async fn catalog(&self) -> Result<Catalog> {
        Ok(Catalog::connect(&self.config.catalog).await?)
    }

    pub async fn operator_key(&self, catalog: &Catalog) -> Result<String> {
        Ok(catalog.create_api_key(KeyScope::Operator).await?.secret)
    }

    pub async fn cleanup(&self) -> Result<()> {
        let mut conn = root_conn(&self.config).await?;
        let tenants = self.tenants.lock().unwrap().clone();
        for t in tenants {
            let dbs: Vec<String> = conn
                .exec(
                    "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
                    (format!("t\\_{t}\\_\\_%"),),
                )
                .await?;
            for db in dbs {
                conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                    .await?;
            }
            conn.query_drop(format!("DROP USER IF EXISTS 't_{t}'@'%'"))
                .await?;
        }
        conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.catalog_db))
            .await?;
        conn.disconnect().await?;
        Ok(())
    }

    /// Runs `test`, then cleans up whatever it returned.
    pub async fn run<F, Fut>(self, test: F) -> Result<()>
    where
        F: FnOnce(std::sync::Arc<Fixture>) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let fx = std::sync::Arc::new(self);
        let result = test(fx.clone()).await;
        let cleaned = fx.cleanup().await;
        result?;
        cleaned
    }
}

/// The admin server running in-process.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), octodb_admin::AdminError>>,
}

impl Server {
    pub async fn start(config: &AdminConfig) -> Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(octodb_admin::run(
            listener,
            config.clone(),
            shutdown.clone(),
        ));
        // run() migrates before serving: wait until it answers.
        for _ in 0..200 {
            if let Ok(r) = request(addr, "GET", "/healthz", None, None).await {
                if r.status == 200 {
                    return Ok(Server {
                        addr,
                        shutdown,
                        handle,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("the admin server never answered")
    }

    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        self.handle.await??;
        Ok(())
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Result<Response> {
        request(self.addr, method, path, key, body).await
    }

    /// Creates tenant `name` and waits until it is ready; returns its id.
    pub async fn ready_tenant(&self, key: &str, name: &str) -> Result<u64> {
        let r = self
            .call(
                "POST",
                "/v1/tenants",
                Some(key),
                Some(&format!(r#"{{"name":"{name}"}}"#)),
            )
            .await?;
        if r.status != 202 {
            bail!("creating tenant {name}: {r:?}");
        }
        let created = r.json()?;
        let job_id = created["job_id"].as_u64().context("job_id")?;
        let job = self.wait_job(key, job_id).await?;
        if job["status"] != "succeeded" {
            bail!("provisioning {name} failed: {job}");
        }
        created["id"].as_u64().context("id")
    }

    /// Polls a job until it is finished (or 20 s pass).
    pub async fn wait_job(&self, key: &str, job_id: u64) -> Result<Value> {
        for _ in 0..400 {
            let r = self
                .call("GET", &format!("/v1/jobs/{job_id}"), Some(key), None)
                .await?;
            let job = r.json()?;
            if job["status"] == "succeeded" || job["status"] == "failed" {
                return Ok(job);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("job {job_id} did not finish")
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body).with_context(|| format!("{} {}", self.status, self.body))
    }

    /// Asserts an RFC 9457 problem with `status`; returns it.
    pub fn problem(&self, status: u16) -> Result<Value> {
        if self.status != status || self.content_type != "application/problem+json" {
            bail!(
                "expected a {status} problem, got {} ({}) {}",
                self.status,
                self.content_type,
                self.body
            );
        }
        let p = self.json()?;
        if p["status"] != status
            || !p["title"].is_string()
            || !p["type"].is_string()
            || !p["detail"].is_string()
        {
            bail!("malformed problem {p}");
        }
        Ok(p)
    }
}

/// One request on its own connection (`Connection: close`).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Result<Response> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(k) = key {
        head.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    if let Some(b) = body {
        // The server may answer (413) and close before reading it all.
        let _ = stream.write_all(b.as_bytes()).await;
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let response = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no end of headers")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("status line")?;
    let content_type = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("chunked responses are not supported by this test client");
    }
    Ok(Response {
        status,
        content_type,
        body: body.to_string(),
    })
}
