//! The admin server in-process on 127.0.0.1:0 against the real MariaDB, and the tenant command.
//! Each test uses its own catalog schema and tenant names and drops them at the end.

#![allow(clippy::unwrap_used)]

use anyhow::{ensure, Context, Result};
use mysql_async::prelude::Queryable;
use octodb_admin::commands::tenant_create::{self, CreateTenant};
use octodb_admin::{AdminConfig, AppState};
use octodb_catalog::{generate_password, Catalog, SecretKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

fn suffix() -> String {
    generate_password(10).to_ascii_lowercase()
}

fn test_config(catalog_db: &str) -> AdminConfig {
    let host = std::env::var("OCTODB_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("OCTODB_TEST_MYSQL_PORT").unwrap_or_else(|_| "3306".into());
    let mut config = AdminConfig::default();
    config.catalog.url = format!("mysql://root@{host}:{port}/{catalog_db}?prefer_socket=false");
    config.catalog.key = Some(SecretKey::generate().to_hex());
    config.backend.host = host;
    config.backend.port = port.parse().unwrap_or(3306);
    config
}

async fn drop_all(config: &AdminConfig, catalog_db: &str, tenant: Option<&str>) -> Result<()> {
    let b = &config.backend;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(b.host.as_str())
        .tcp_port(b.port)
        .user(Some(b.admin_user.as_str()))
        .pass(Some(b.admin_password.as_str()))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await?;
    if let Some(t) = tenant {
        conn.query_drop(format!("DROP DATABASE IF EXISTS `t_{t}__app`"))
            .await?;
        conn.query_drop(format!("DROP DATABASE IF EXISTS `t_{t}__more`"))
            .await?;
        conn.query_drop(format!("DROP USER IF EXISTS 't_{t}'@'%'"))
            .await?;
    }
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{catalog_db}`"))
        .await?;
    conn.disconnect().await?;
    Ok(())
}

async fn get(addr: std::net::SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("status line")?;
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok((status, body))
}

#[tokio::test]
async fn health_and_readiness() -> Result<()> {
    let catalog_db = format!("octodb_meta_test_{}", suffix());
    let config = test_config(&catalog_db);
    let result = async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(octodb_admin::run(
            listener,
            config.clone(),
            shutdown.clone(),
        ));

        // run() migrates before serving: wait for the socket to answer.
        let mut health = None;
        for _ in 0..100 {
            match get(addr, "/healthz").await {
                Ok(r) => {
                    health = Some(r);
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
        let (status, body) = health.context("server never answered")?;
        ensure!(
            status == 200 && body.contains(r#""status":"ok""#),
            "{status} {body}"
        );
        let (status, body) = get(addr, "/readyz").await?;
        ensure!(status == 200, "{status} {body}");

        shutdown.cancel();
        server.await??;
        Ok(())
    }
    .await;
    let cleaned = drop_all(&config, &catalog_db, None).await;
    result?;
    cleaned
}

#[tokio::test]
async fn readiness_fails_without_catalog() -> Result<()> {
    let catalog_db = format!("octodb_meta_test_{}", suffix());
    let config = test_config(&catalog_db);
    let result = async {
        let catalog = Catalog::connect(&config.catalog).await?;
        let tracker = tokio_util::task::TaskTracker::new();
        let jobs_shutdown = CancellationToken::new();
        let state = AppState::start(catalog.clone(), &config, jobs_shutdown.clone(), &tracker)?;
        catalog.disconnect().await?; // the shared pool is now closed
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(octodb_admin::serve(listener, state, shutdown.clone()));
        let (status, body) = get(addr, "/readyz").await?;
        ensure!(status == 503, "{status} {body}");
        let problem: serde_json::Value = serde_json::from_str(&body)?;
        ensure!(
            problem["status"] == 503 && problem["detail"].is_string(),
            "{body}"
        );
        // Without a key the API refuses before needing the catalog.
        let (status, body) = get(addr, "/v1/tenants").await?;
        ensure!(status == 401, "{status} {body}");
        shutdown.cancel();
        server.await??;
        jobs_shutdown.cancel();
        Ok(())
    }
    .await;
    let cleaned = drop_all(&config, &catalog_db, None).await;
    result?;
    cleaned
}

#[tokio::test]
async fn tenant_create_command() -> Result<()> {
    let catalog_db = format!("octodb_meta_test_{}", suffix());
    let config = test_config(&catalog_db);
    let tenant = format!("adm{}", suffix());
    let result = async {
        let req = CreateTenant {
            name: tenant.parse()?,
            databases: vec!["more".parse()?, "app".parse()?, "app".parse()?],
            user: format!("u_{tenant}").parse()?,
            password: None,
        };
        let created = tenant_create::run(&config, req.clone()).await?;
        let json = serde_json::to_value(&created)?;
        ensure!(json["name"] == tenant.as_str());
        ensure!(json["user"] == format!("u_{tenant}"));
        ensure!(json["databases"][0]["logical"] == "app", "{json}");
        ensure!(
            json["databases"][0]["physical"] == format!("t_{tenant}__app"),
            "{json}"
        );
        ensure!(
            json["databases"].as_array().map(Vec::len) == Some(2),
            "{json}"
        );
        let password = created.password.context("generated password")?;
        ensure!(password.len() == 24);

        // Re-running with a given password converges and prints no password.
        let again = tenant_create::run(
            &config,
            CreateTenant {
                password: Some("given".to_string()),
                ..req
            },
        )
        .await?;
        ensure!(again.tenant_id == created.tenant_id && again.password.is_none());
        Ok(())
    }
    .await;
    let cleaned = drop_all(&config, &catalog_db, Some(&tenant)).await;
    result?;
    cleaned
}
