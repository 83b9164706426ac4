//! A MetaDB outage and its end, for every route: the admin reaches the catalog through an
//! in-test TCP relay the test can cut (every relayed connection reset, new ones reset at once)
//! and restore. While cut, every `/v1` route answers a 503 problem within a bound (never a hang,
//! never a 500), `/readyz` 503, and `/healthz`, `/metrics`, `/openapi.json` keep answering 200.
//! Once restored, the same requests answer what they answered before the outage, without
//! restarting the admin.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use axum::http::Method;
use common::{Fixture, Response, Server};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Longest a request may take while the catalog is cut: the catalog's checkout timeout (a stalled
/// MetaDB) plus slack.
const OUTAGE_BOUND: Duration = Duration::from_secs(octodb_catalog::CHECKOUT_TIMEOUT.as_secs() + 5);
/// Longest the admin may take to serve again once the catalog is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

/// How the relay fails while cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Every relayed connection and every new one is reset (the MetaDB process is gone).
    Reset,
    /// Nothing moves and nothing closes (a network partition, a frozen host).
    Stall,
}

#[derive(Default)]
struct RelayState {
    cut: Option<Cut>,
    /// Cancelled when the relay is cut: relayed connections stop.
    live: CancellationToken,
    /// Cancelled when the relay is restored: stalled connections are let go (reset).
    held: CancellationToken,
}

/// A TCP relay to the MetaDB that can be cut and restored.
struct Relay {
    port: u16,
    state: Arc<Mutex<RelayState>>,
    stop: CancellationToken,
}

impl Relay {
    async fn start(upstream: String) -> Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let relay = Relay {
            port: listener.local_addr()?.port(),
            state: Arc::default(),
            stop: CancellationToken::new(),
        };
        let (state, stop) = (relay.state.clone(), relay.stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((client, _)) = accepted else { continue };
                let (cut, live, held) = {
                    let s = state.lock().unwrap();
                    (s.cut, s.live.clone(), s.held.clone())
                };
                match cut {
                    None => {
                        tokio::spawn(pipe(client, upstream.clone(), live, state.clone()));
                    }
                    Some(Cut::Reset) => reset(client),
                    Some(Cut::Stall) => {
                        tokio::spawn(async move {
                            held.cancelled().await;
                            reset(client);
                        });
                    }
                }
            }
        });
        Ok(relay)
    }

    /// Fails every relayed connection and every new one, `how`, until [`Relay::restore`].
    fn cut(&self, how: Cut) {
        let mut s = self.state.lock().unwrap();
        s.cut = Some(how);
        std::mem::take(&mut s.live).cancel();
    }

    fn restore(&self) {
        let mut s = self.state.lock().unwrap();
        s.cut = None;
        std::mem::take(&mut s.held).cancel();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
        let s = self.state.lock().unwrap();
        s.live.cancel();
        s.held.cancel();
    }
}

/// Closes with a RST (linger 0), as a dead peer or a firewall reject looks. (The deprecation
/// warns that a non-zero linger blocks on drop; zero does not.)
#[allow(deprecated)]
fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Relays `client` to `upstream` until either side closes or the relay is cut (`live`).
async fn pipe(
    mut client: TcpStream,
    upstream: String,
    live: CancellationToken,
    state: Arc<Mutex<RelayState>>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        reset(client);
        return;
    };
    tokio::select! {
        _ = live.cancelled() => {
            let (cut, held) = {
                let s = state.lock().unwrap();
                (s.cut, s.held.clone())
            };
            if cut == Some(Cut::Stall) {
                held.cancelled().await;
            }
            reset(client);
            reset(server);
        }
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
}

/// One request per route: a concrete path and a body.
struct Probe {
    method: Method,
    template: &'static str,
    path: String,
    body: Option<&'static str>,
}

/// A request for every route of the table. GETs name existing things (so they answer 200);
/// other methods name things that do not exist or send an empty body, so that repeating them
/// changes nothing and they answer the same each time.
fn probes(tenant: u64, job: u64, db: &str, user: &str) -> Vec<Probe> {
    octodb_admin::routes::endpoints()
        .into_iter()
        .map(|(method, template)| {
            let read = method == Method::GET;
            let path = template
                .split('/')
                .map(|s| match s {
                    "{id}" if !read => "999999".to_string(),
                    "{id}" if template.starts_with("/v1/jobs/") => job.to_string(),
                    "{id}" => tenant.to_string(),
                    "{db}" if read => db.to_string(),
                    "{username}" if read => user.to_string(),
                    s if s.starts_with('{') => "nosuch".to_string(),
                    s => s.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            Probe {
                body: (method == Method::POST).then_some("{}"),
                method,
                template,
                path,
            }
        })
        .collect()
}

async fn send(server: &Server, key: &str, p: &Probe) -> Result<Response> {
    server
        .call(p.method.as_str(), &p.path, Some(key), p.body)
        .await
        .with_context(|| format!("{} {}", p.method, p.path))
}

/// Routes that must keep answering without the catalog.
fn catalog_free(template: &str) -> bool {
    matches!(template, "/healthz" | "/metrics" | "/openapi.json")
}

#[tokio::test]
async fn catalog_reset_is_503_then_recovers() -> Result<()> {
    // Refused at once: no timeout is involved, the answer is immediate.
    outage(Cut::Reset, Duration::from_secs(2)).await
}

#[tokio::test]
async fn catalog_stall_is_503_within_the_checkout_timeout_then_recovers() -> Result<()> {
    outage(Cut::Stall, OUTAGE_BOUND).await
}

/// Every route before, during (`how`, each answer within `bound`) and after an outage.
async fn outage(how: Cut, bound: Duration) -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let upstream = format!("{}:{}", fx.config.backend.host, fx.config.backend.port);
            let relay = Relay::start(upstream).await?;
            // The admin reaches the catalog through the relay; the test's own handle directly.
            let mut config = fx.config.clone();
            // Every route is probed several times with one key: the rate limit is not under test.
            config.rate_limit.requests_per_second = 0;
            config.catalog.url = format!(
                "mysql://root@127.0.0.1:{}/{}?prefer_socket=false",
                relay.port, fx.catalog_db
            );
            let server = Server::start(&config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("out");
            let created = server
                .call(
                    "POST",
                    "/v1/tenants",
                    Some(&op),
                    Some(&format!(r#"{{"name":"{name}"}}"#)),
                )
                .await?
                .json()?;
            let (tenant, job) = (created["id"].as_u64(), created["job_id"].as_u64());
            let (tenant, job) = (tenant.context("id")?, job.context("job_id")?);
            ensure!(server.wait_job(&op, job).await?["status"] == "succeeded");
            let t = server
                .call("GET", &format!("/v1/tenants/{tenant}"), Some(&op), None)
                .await?
                .json()?;
            let db = t["databases"][0]["name"].as_str().context("a database")?;
            let user = t["users"][0].as_str().unwrap_or("nosuch");
            let probes = probes(tenant, job, db, user);

            // Before: what each route answers normally.
            let mut normal = Vec::new();
            for p in &probes {
                let r = send(&server, &op, p).await?;
                ensure!(
                    r.status < 500,
                    "{} {} before the outage: {r:?}",
                    p.method,
                    p.path
                );
                normal.push(r.status);
            }
            ensure!(
                normal.iter().filter(|s| **s == 200).count() >= 8,
                "too few routes answered 200 before the outage: {normal:?}"
            );

            // During: 503 problems (200 for the catalog-free routes), each within the bound; all
            // at once, as callers would keep coming.
            relay.cut(how);
            let forged = format!("okey_1_{}", "x".repeat(43));
            let mut during = tokio::task::JoinSet::new();
            for (i, p) in probes.iter().enumerate() {
                let (addr, key) = (server.addr, op.clone());
                let (method, path, body) = (p.method.clone(), p.path.clone(), p.body);
                during.spawn(async move {
                    let started = Instant::now();
                    let r = tokio::time::timeout(
                        bound,
                        common::request(addr, method.as_str(), &path, Some(&key), body),
                    )
                    .await;
                    (i, r, started.elapsed())
                });
            }
            // A well-formed key can only be checked by the catalog: 503, not 401 (it may be a
            // good key).
            let forged_call = tokio::time::timeout(
                bound,
                server.call("GET", "/v1/tenants", Some(&forged), None),
            );
            forged_call
                .await
                .context("a forged key hung")??
                .problem(503)?;
            while let Some(joined) = during.join_next().await {
                let (i, r, took) = joined?;
                let p = &probes[i];
                let what = format!(
                    "{} {} during the outage ({how:?}, {took:?})",
                    p.method, p.path
                );
                let r = r.with_context(|| format!("{what}: hung"))??;
                if catalog_free(p.template) {
                    ensure!(r.status == 200, "{what}: {r:?}");
                } else {
                    r.problem(503).with_context(|| what.clone())?;
                }
                ensure!(took < bound, "{what}");
            }
            // No key, or a malformed one, is refused without the catalog.
            for key in [None, Some("okey_1_nope")] {
                server
                    .call("GET", "/v1/tenants", key, None)
                    .await?
                    .problem(401)?;
            }

            // After: the same answers as before, without a restart.
            relay.restore();
            let deadline = Instant::now() + RECOVERY_BOUND;
            loop {
                let r = server.call("GET", "/readyz", None, None).await?;
                if r.status == 200 {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("not ready again after {RECOVERY_BOUND:?}: {r:?}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for (p, status) in probes.iter().zip(&normal) {
                let r = send(&server, &op, p).await?;
                ensure!(
                    r.status == *status,
                    "{} {} after the outage: {r:?}, before: {status}",
                    p.method,
                    p.path
                );
            }
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}
