//! The admin server in-process for end-to-end tests and benchmarks: `octodb_admin::run` on
//! 127.0.0.1:0 with a given configuration, an operator key, and a minimal HTTP/1.1 client (one
//! request per connection, the same shape as the admin crate's own tests).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use octodb_admin::AdminConfig;
use octodb_catalog::{Catalog, KeyScope};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The admin server running in-process, with an operator key.
pub struct AdminServer {
    pub addr: SocketAddr,
    /// Secret of an operator key (bearer token).
    pub key: String,
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), octodb_admin::AdminError>>,
}

impl AdminServer {
    /// Starts `octodb_admin::run` with `config`, waits until it answers `/healthz`, and creates
    /// an operator key in its catalog (as the `key create` subcommand does).
    pub async fn start(config: &AdminConfig) -> Result<AdminServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(octodb_admin::run(
            listener,
            config.clone(),
            shutdown.clone(),
        ));
        // run() migrates the catalog before serving: wait until it answers.
        let mut up = false;
        for _ in 0..400 {
            if matches!(request(addr, "GET", "/healthz", None, None).await, Ok(r) if r.status == 200)
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        if !up {
            shutdown.cancel();
            bail!("the admin server never answered");
        }
        let catalog = Catalog::connect(&config.catalog).await?;
        let key = catalog.create_api_key(KeyScope::Operator).await?.secret;
        let _ = catalog.disconnect().await;
        Ok(AdminServer {
            addr,
            key,
            shutdown,
            handle,
        })
    }

    /// Stops the server (running jobs are drained by `run`).
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        self.handle.await??;
        Ok(())
    }

    /// One request with the operator key.
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<Response> {
        request(self.addr, method, path, Some(&self.key), body).await
    }

    /// `POST /v1/tenants` -> (tenant id, job id); fails unless 202.
    pub async fn create_tenant(&self, name: &str) -> Result<(u64, u64)> {
        let body = serde_json::json!({ "name": name }).to_string();
        let r = self.call("POST", "/v1/tenants", Some(&body)).await?;
        if r.status != 202 {
            bail!("creating tenant {name}: {r:?}");
        }
        let created = r.json()?;
        Ok((
            created["id"].as_u64().context("id")?,
            created["job_id"].as_u64().context("job_id")?,
        ))
    }

    /// Polls `GET /v1/jobs/{id}` every `every` until the job succeeded or failed (at most
    /// `limit`); returns the last job document.
    pub async fn wait_job(&self, job_id: u64, every: Duration, limit: Duration) -> Result<Value> {
        let start = std::time::Instant::now();
        loop {
            let r = self
                .call("GET", &format!("/v1/jobs/{job_id}"), None)
                .await?;
            let job = r.json()?;
            if job["status"] == "succeeded" || job["status"] == "failed" {
                return Ok(job);
            }
            if start.elapsed() > limit {
                bail!("job {job_id} did not finish within {limit:?}: {job}");
            }
            tokio::time::sleep(every).await;
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body).with_context(|| format!("{} {}", self.status, self.body))
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
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let response = String::from_utf8_lossy(&raw);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no end of headers")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("chunked responses are not supported by this client");
    }
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
    Ok(Response {
        status,
        content_type,
        body: body.to_string(),
    })
}
