//! Rate limiting: a key's burst then 429 problems with `Retry-After`, other keys unaffected,
//! service again after the wait; anonymous and forged-key floods from one address limited too;
//! /healthz, /readyz and /metrics never limited; rejections counted; `0` turns it off; the
//! documented 429s.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use common::{Fixture, Server};
use octodb_admin::AdminConfig;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const RATE: u32 = 2;
const BURST: u32 = 5;

/// A response with its headers (names lower-cased).
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a 429 problem; returns its `Retry-After` in seconds.
    fn too_many(&self) -> Result<u64> {
        ensure!(self.status == 429, "expected 429: {self:?}");
        ensure!(
            self.header("content-type") == Some("application/problem+json"),
            "{self:?}"
        );
        let p: Value = serde_json::from_str(&self.body)?;
        ensure!(
            p["status"] == 429 && p["title"] == "Too Many Requests",
            "{p}"
        );
        let retry: u64 = self
            .header("retry-after")
            .context("no Retry-After")?
            .parse()?;
        // One token comes back every 1/RATE s: never more than a second away here.
        ensure!(retry == 1, "{self:?}");
        Ok(retry)
    }
}

/// One GET on its own connection, keeping the headers.
async fn get(addr: SocketAddr, path: &str, key: Option<&str>) -> Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(k) = key {
        head.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").context("no end of headers")?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .context("status line")?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

fn limited(fx: &Fixture, rate: u32, burst: u32) -> AdminConfig {
    let mut config = fx.config.clone();
    config.rate_limit.requests_per_second = rate;
    config.rate_limit.burst = burst;
    config
}

/// Sends `path` until the first 429 (at most `max` requests): returns (statuses before it,
/// the 429).
async fn until_limited(
    addr: SocketAddr,
    path: &str,
    key: impl Fn(usize) -> Option<String>,
    max: usize,
) -> Result<(Vec<u16>, Reply)> {
    let mut before = Vec::new();
    for i in 0..max {
        let r = get(addr, path, key(i).as_deref()).await?;
        if r.status == 429 {
            return Ok((before, r));
        }
        before.push(r.status);
    }
    bail!("{path}: no 429 in {max} requests: {before:?}")
}

#[tokio::test]
async fn keys_and_addresses_are_limited() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&limited(&fx, RATE, BURST)).await?;
            let addr = server.addr;
            let catalog = fx.catalog().await?;
            let a = fx.operator_key(&catalog).await?;
            let b = fx.operator_key(&catalog).await?;

            // Key A: its burst, then 429 with Retry-After. Its first request (and any sent before
            // the background lookup has learnt the key) is charged to the address.
            let started = Instant::now();
            let (ok, r) = until_limited(addr, "/v1/tenants", |_| Some(a.clone()), 40).await?;
            let refilled = (started.elapsed().as_secs_f64() * f64::from(RATE)).ceil() as usize;
            ensure!(ok.iter().all(|s| *s == 200), "{ok:?}");
            let burst = BURST as usize;
            ensure!(
                ok.len() > burst && ok.len() <= burst + 2 + refilled,
                "{} requests passed, expected {} to {} (+{refilled} refilled)",
                ok.len(),
                burst + 1,
                burst + 2
            );
            let retry = r.too_many()?;
            // Still limited right away, on any route.
            get(addr, "/v1/audit", Some(&a)).await?.too_many()?;

            // Key B is unaffected.
            for _ in 0..BURST {
                let r = get(addr, "/v1/tenants", Some(&b)).await?;
                ensure!(r.status == 200, "{r:?}");
            }

            // Probes and scrapes are never limited, with or without a limited key.
            for _ in 0..3 * BURST {
                for path in ["/healthz", "/readyz", "/metrics"] {
                    for key in [None, Some(a.as_str())] {
                        let r = get(addr, path, key).await?;
                        ensure!(r.status == 200, "{path}: {r:?}");
                    }
                }
            }

            // After the advertised wait, A is served again.
            tokio::time::sleep(Duration::from_secs(retry)).await;
            let r = get(addr, "/v1/tenants", Some(&a)).await?;
            ensure!(r.status == 200, "{r:?}");

            // Anonymous requests from this address: 401s until the address's bucket is empty.
            let (before, r) = until_limited(addr, "/v1/tenants", |_| None, 40).await?;
            ensure!(before.iter().all(|s| *s == 401), "{before:?}");
            r.too_many()?;
            // Guessed keys are charged to the same address: limited at once, never looked up.
            get(addr, "/v1/tenants", Some("okey_1_guess"))
                .await?
                .too_many()?;
            get(addr, "/openapi.json", None).await?.too_many()?;
            // The flood does not touch a known key's bucket.
            let r = get(addr, "/v1/tenants", Some(&b)).await?;
            ensure!(r.status == 200, "{r:?}");

            // Rejections are counted by caller kind, and as 429 answers.
            let text = get(addr, "/metrics", None).await?.body;
            for caller in ["key", "address"] {
                let line =
                    format!("octodb_admin_rate_limited_requests_total{{caller=\"{caller}\"}}");
                let count: f64 = text
                    .lines()
                    .find_map(|l| l.strip_prefix(&line))
                    .with_context(|| format!("{line} missing: {text}"))?
                    .trim()
                    .parse()?;
                ensure!(count >= 2.0, "{line} {count}");
            }
            ensure!(
                text.contains(
                    r#"octodb_admin_http_requests_total{route="/v1/tenants",status="429"}"#
                ),
                "{text}"
            );
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn forged_keys_flood_is_limited() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&limited(&fx, RATE, BURST)).await?;
            // A different well-formed but wrong key each time: all 401 until the address is
            // limited (a new key is not a new bucket).
            let forged = |i: usize| Some(format!("okey_{}_{}", i + 1, "x".repeat(43)));
            let (before, r) = until_limited(server.addr, "/v1/tenants", forged, 40).await?;
            ensure!(before.iter().all(|s| *s == 401), "{before:?}");
            ensure!(before.len() <= BURST as usize + 2, "{before:?}");
            r.too_many()?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn zero_turns_it_off() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&limited(&fx, 0, 0)).await?;
            for _ in 0..10 * BURST {
                let r = get(server.addr, "/v1/tenants", None).await?;
                ensure!(r.status == 401, "{r:?}");
            }
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn a_zero_burst_is_refused_at_start() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let run = octodb_admin::run(listener, limited(&fx, RATE, 0), CancellationToken::new());
            let e = tokio::time::timeout(Duration::from_secs(30), run)
                .await?
                .err()
                .context("started with burst = 0")?;
            ensure!(e.to_string().contains("rate_limit.burst"), "{e}");
            Ok(())
        })
        .await
}

#[test]
fn every_limited_operation_documents_429() {
    let doc: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    let exempt = octodb_admin::ratelimit::EXEMPT_PATHS;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let documented =
                op["responses"]["429"]["$ref"] == "#/components/responses/TooManyRequests";
            assert_eq!(
                documented,
                !exempt.contains(&path.as_str()),
                "{method} {path}: 429 documented iff rate limited"
            );
            checked += 1;
        }
    }
    assert!(checked > 10);
    let shared = &doc["components"]["responses"]["TooManyRequests"];
    assert!(shared["content"]["application/problem+json"].is_object());
    assert!(shared["headers"]["Retry-After"].is_object());
}
