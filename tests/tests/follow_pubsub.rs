//! Proxies follow the catalog through Redis pub/sub (issue 4): with the proxy's own polling
//! slowed to a minute, changes made through the admin (which announces every catalog version
//! on Redis) reach open sessions within a second; with Redis configured but unreachable the
//! proxy starts and follows by polling; after a Redis restart it subscribes again.
//!
//! The shared Redis (`OCTODB_TEST_REDIS_URL`, default 127.0.0.1:6379) is only subscribed and
//! published to on channels named after each test's own catalog, and the admin's job streams
//! get names of their own, deleted at the end. The restart test runs a private redis-server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use octodb_catalog::{TenantName, TenantStatus};
use octodb_tests::admin::AdminServer;
use octodb_tests::support::server_code;
use octodb_tests::{TestEnv, TestTenant};
use redis::AsyncCommands;

/// The contract: a change reaches open sessions within a second.
const WITHIN: Duration = Duration::from_secs(1);
/// A poll interval no test waits for: only a notice can deliver in time.
const SLOW_POLL_MS: u64 = 60_000;

fn redis_url() -> String {
    std::env::var("OCTODB_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// How many clients are subscribed to `channel` (`PUBSUB NUMSUB`).
async fn subscribers(url: &str, channel: &str) -> Result<u64> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let (_, n): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut conn)
        .await?;
    Ok(n)
}

/// Waits until the proxy is subscribed to its catalog's channel.
async fn wait_subscribed(url: &str, env: &TestEnv, limit: Duration) -> Result<()> {
    let channel = env.catalog.notice_channel();
    let start = Instant::now();
    loop {
        if matches!(subscribers(url, &channel).await, Ok(n) if n >= 1) {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("the proxy did not subscribe to {channel} within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `check` every 20 ms until it answers true; fails after [`WITHIN`]. Returns the time
/// it took.
async fn within_a_second<F, Fut>(what: &str, mut check: F) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Ok(start.elapsed());
        }
        if start.elapsed() > WITHIN {
            bail!("not within {WITHIN:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the idle session `c` is closed by the proxy, with 1927 when it says why.
async fn closed_within_a_second(c: &mut Conn, what: &str) -> Result<Duration> {
    let start = Instant::now();
    loop {
        match c.ping().await {
            Ok(()) if start.elapsed() > WITHIN => bail!("not within {WITHIN:?}: {what}"),
            Ok(()) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => {
                if let Some(code) = server_code(&e) {
                    ensure!(code == 1927, "{what}: {e}");
                }
                return Ok(start.elapsed());
            }
        }
    }
}

async fn tenant_id(env: &TestEnv, t: &TestTenant) -> Result<u64> {
    Ok(env
        .catalog
        .tenant_by_name(&TenantName::parse(&t.name)?)
        .await?
        .context("tenant")?
        .id)
}

/// A proxy that polls the catalog only every minute while subscribed, `poll_ms` otherwise.
async fn proxy(url: String, poll_ms: u64) -> Result<TestEnv> {
    TestEnv::start_with(move |c| {
        c.redis.url = Some(url);
        c.catalog_poll_ms = poll_ms;
        c.catalog_fallback_poll_ms = SLOW_POLL_MS;
    })
    .await
}

/// Suspend, resume, add a database and rotate a password through the admin API while a
/// session is open.
async fn through_the_admin(env: &mut TestEnv, admin: &AdminServer) -> Result<()> {
    let t = env.tenant("").await?;
    env.track_tenant(&t.name);
    let id = tenant_id(env, &t).await?;

    // Suspend: the idle session is closed.
    let mut idle = env.connect(&t).await?;
    idle.query_drop("SELECT 1").await?;
    let r = admin
        .call("POST", &format!("/v1/tenants/{id}/suspend"), None)
        .await?;
    ensure!(r.status == 200, "suspend: {r:?}");
    let took = closed_within_a_second(&mut idle, "suspension closes the session").await?;
    println!("suspend -> session closed in {took:?}");
    let r = admin
        .call("POST", &format!("/v1/tenants/{id}/resume"), None)
        .await?;
    ensure!(r.status == 200, "resume: {r:?}");

    // New database: an open session can use it (its mapping follows the notice).
    let mut c = env.connect(&t).await?;
    let e = c.query_drop("USE extra").await.expect_err("USE before add");
    ensure!(server_code(&e) == Some(1044), "{e}");
    let body = serde_json::json!({ "name": "extra" }).to_string();
    let r = admin
        .call("POST", &format!("/v1/tenants/{id}/databases"), Some(&body))
        .await?;
    ensure!(r.status == 202, "add database: {r:?}");
    let job_id = r.json()?["job_id"].as_u64().context("job_id")?;
    let job = admin
        .wait_job(job_id, Duration::from_millis(10), Duration::from_secs(20))
        .await?;
    ensure!(job["status"] == "succeeded", "add database: {job}");
    let start = Instant::now();
    while c.query_drop("USE extra").await.is_err() {
        ensure!(
            start.elapsed() <= WITHIN,
            "not within {WITHIN:?}: an open session can USE the new database"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("add database -> usable in {:?}", start.elapsed());

    // Rotation: logins read the catalog, so the new password works at once and the old one
    // is refused; the open session stays, as in MySQL.
    let r = admin
        .call(
            "POST",
            &format!("/v1/tenants/{id}/users/{}/rotate", t.user),
            None,
        )
        .await?;
    ensure!(r.status == 200, "rotate: {r:?}");
    let rotated = TestTenant {
        password: r.json()?["password"]
            .as_str()
            .context("password")?
            .to_string(),
        ..t.clone()
    };
    let took = within_a_second("the rotated password works", || {
        let opts = env.opts(&rotated);
        async move {
            match Conn::new(opts).await {
                Ok(c) => c.disconnect().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await?;
    println!("rotate -> new password accepted in {took:?}");
    let e = env.connect(&t).await.expect_err("the old password worked");
    let e = e.downcast::<mysql_async::Error>()?;
    ensure!(server_code(&e) == Some(1045), "{e}");
    c.query_drop("SELECT 1").await?;
    c.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn admin_changes_reach_open_sessions_through_redis() -> Result<()> {
    let url = redis_url();
    let mut env = proxy(url.clone(), SLOW_POLL_MS).await?;
    let mut config = env.admin_config();
    let prefix = format!("octodb:test:{}:jobs", env.catalog_db);
    config.redis.url = Some(url.clone());
    config.redis.stream_prefix = prefix.clone();
    config.redis.block_ms = 100;
    let result = async {
        wait_subscribed(&url, &env, Duration::from_secs(5)).await?;
        let admin = AdminServer::start(&config).await?;
        let r = through_the_admin(&mut env, &admin).await;
        let stopped = admin.stop().await;
        r.and(stopped)
    }
    .await;
    if let Ok(client) = redis::Client::open(url.as_str()) {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            let _: Result<u64, _> = conn.del(&[prefix.clone(), format!("{prefix}:dead")]).await;
        }
    }
    let cleaned = env.cleanup().await;
    result?;
    cleaned
}

/// A local port with nothing listening on it.
fn closed_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_polling() -> Result<()> {
    let url = format!("redis://127.0.0.1:{}", closed_port()?);
    // Polling at 200 ms while unsubscribed; the minute-long fallback never applies.
    let mut env = proxy(url, 200).await?;
    let result = async {
        let t = env.tenant("CREATE TABLE t (id INT PRIMARY KEY)").await?;
        let mut c = env.connect(&t).await?;
        c.query_drop("INSERT INTO t VALUES (1)").await?;
        let id = tenant_id(&env, &t).await?;
        ensure!(
            env.catalog
                .set_tenant_status(id, &[TenantStatus::Ready], TenantStatus::Suspended)
                .await?
        );
        let took = closed_within_a_second(&mut c, "suspension closes the session").await?;
        println!("no redis: suspend -> session closed in {took:?}");
        Ok(())
    }
    .await;
    let cleaned = env.cleanup().await;
    result?;
    cleaned
}

/// A private redis-server on `port` (never the shared one): no persistence, killed on drop.
struct PrivateRedis {
    child: tokio::process::Child,
}

impl PrivateRedis {
    async fn start(port: u16) -> Result<Self> {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server")?;
        let url = format!("redis://127.0.0.1:{port}");
        for _ in 0..200 {
            if let Ok(client) = redis::Client::open(url.as_str()) {
                if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                    if redis::cmd("PING")
                        .query_async::<String>(&mut c)
                        .await
                        .is_ok()
                    {
                        return Ok(PrivateRedis { child });
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("the private redis-server on port {port} did not answer")
    }

    async fn stop(mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// Announces the catalog's current version, as the admin does.
async fn announce(url: &str, env: &TestEnv) -> Result<()> {
    let version = env.catalog.catalog_version().await?;
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let notice = serde_json::json!({ "version": version }).to_string();
    let _: u64 = conn.publish(env.catalog.notice_channel(), notice).await?;
    Ok(())
}

async fn suspend_then_resume(env: &TestEnv, t: &TestTenant, url: Option<&str>) -> Result<()> {
    let id = tenant_id(env, t).await?;
    let mut c = env.connect(t).await?;
    c.query_drop("SELECT 1").await?;
    ensure!(
        env.catalog
            .set_tenant_status(id, &[TenantStatus::Ready], TenantStatus::Suspended)
            .await?
    );
    if let Some(url) = url {
        announce(url, env).await?;
    }
    let took = closed_within_a_second(&mut c, "suspension closes the session").await?;
    println!(
        "suspend (announced: {}) -> closed in {took:?}",
        url.is_some()
    );
    ensure!(
        env.catalog
            .set_tenant_status(id, &[TenantStatus::Suspended], TenantStatus::Ready)
            .await?
    );
    Ok(())
}

#[tokio::test]
async fn a_redis_restart_falls_back_to_polling_then_subscribes_again() -> Result<()> {
    let port = closed_port()?;
    let url = format!("redis://127.0.0.1:{port}");
    let first = PrivateRedis::start(port).await?;
    let mut env = proxy(url.clone(), 200).await?;
    let result = async {
        let t = env.tenant("").await?;
        wait_subscribed(&url, &env, Duration::from_secs(5)).await?;
        suspend_then_resume(&env, &t, Some(&url)).await?;

        // Redis goes away: the proxy keeps serving and follows by polling.
        first.stop().await?;
        let mut c = env.connect(&t).await?;
        c.query_drop("SELECT 1").await?;
        c.disconnect().await?;
        suspend_then_resume(&env, &t, None).await?;

        // Redis is back (empty): the proxy subscribes again and is told about changes.
        let second = PrivateRedis::start(port).await?;
        wait_subscribed(&url, &env, Duration::from_secs(15)).await?;
        let r = suspend_then_resume(&env, &t, Some(&url)).await;
        second.stop().await?;
        r
    }
    .await;
    let cleaned = env.cleanup().await;
    result?;
    cleaned
}
