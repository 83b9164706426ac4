//! A provisioning worker really killed mid-job converges. The real `octodb-admin` binary runs with
//! the test-only fault hook (`octodb_admin::jobs::FAULT_ENV_VAR`), which aborts it (SIGABRT, no
//! cleanup) right after step k's effect (before its success is recorded) or right after it is
//! recorded; a second process without the fault then finishes the job. For every k and both
//! points, in three modes: no Redis (resumed from the catalog at start), a private Redis (the dead
//! consumer's pending entry is claimed after the idle timeout), and a private Redis restarted
//! empty between the two processes (re-added from the catalog). Also: Redis restarted while the
//! second process is between retries, and a transient failure retried through the stream.
//!
//! Converged means: the job succeeded on exactly its second attempt, each step recorded once and
//! audited as a success once, the tenant ready, exactly one physical database and one backend
//! user, and a proxy user created afterwards logs in (catalog verifier) and its tenant's backend
//! credentials open the physical database.
//!
//! The cases of a mode run concurrently, each on its own catalog schema, temp dir and Redis.

#![allow(clippy::unwrap_used)]

mod common;
mod crash_support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use common::{backend_objects, proxy_login, request, root_conn, Fixture};
use crash_support::{
    create_tenant, get_json, wait_job, write_config, AdminProcess, PrivateRedis, Provisioning,
    TempDir,
};
use mysql_async::prelude::Queryable;
use octodb_catalog::{Catalog, Job, JobStatus, TenantStatus};
use redis::AsyncCommands;
use tokio::sync::Mutex;

/// The steps of a one-database provisioning job, in order (k = index + 1).
const STEPS: [&str; 3] = ["backend_user", "database:main", "ready"];

/// Where the job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    NoRedis,
    Redis,
    /// Redis killed after the crash and started again, empty, before the second process.
    RedisRestarted,
}

/// A case's world: its catalog (fixture), temp dir, config file and Redis (if any).
struct World {
    fx: Arc<Fixture>,
    dir: TempDir,
    config_file: std::path::PathBuf,
    redis: Mutex<Option<PrivateRedis>>,
}

/// Runs `test` in a fresh world (`redis`: with a private Redis), then cleans up.
async fn in_world<F, Fut>(redis: bool, configure: fn(&mut Fixture), test: F) -> Result<()>
where
    F: FnOnce(Arc<World>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let dir = TempDir::new()?;
    let mut fx = Fixture::new();
    fx.config.jobs.backoff_base_ms = 50;
    let private = if redis {
        let r = match PrivateRedis::start(&dir.0).await {
            Ok(r) => r,
            Err(e) => {
                dir.remove();
                return Err(e);
            }
        };
        fx.config.redis.url = Some(r.url());
        fx.config.redis.claim_idle_ms = 500;
        fx.config.redis.block_ms = 100;
        Some(r)
    } else {
        None
    };
    configure(&mut fx);
    let config_file = write_config(&dir.0, &fx.config)?;
    fx.run(|fx| async move {
        let world = Arc::new(World {
            fx,
            dir,
            config_file,
            redis: Mutex::new(private),
        });
        let result = test(world.clone()).await;
        if let Some(r) = world.redis.lock().await.as_mut() {
            r.kill().await?;
        }
        world.dir.remove();
        result
    })
    .await
}

impl World {
    async fn admin(&self, name: &str, fault: Option<&str>) -> Result<AdminProcess> {
        AdminProcess::start(&self.dir.0, name, &self.config_file, &self.fx.config, fault).await
    }

    /// (pending entries in the group, stream length, entries ever added) of the jobs stream.
    async fn stream_state(&self) -> Result<(u64, u64, u64)> {
        let guard = self.redis.lock().await;
        let redis = guard.as_ref().context("no redis in this world")?;
        let mut conn = redis.conn().await?;
        let stream = &self.fx.config.redis.stream_prefix;
        let pending: redis::streams::StreamPendingReply =
            conn.xpending(stream, &self.fx.config.redis.group).await?;
        let info: HashMap<String, redis::Value> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(stream)
            .query_async(&mut conn)
            .await?;
        let field = |name: &str| -> Result<u64> {
            Ok(redis::from_redis_value(
                info.get(name).context("XINFO field")?,
            )?)
        };
        Ok((
            pending.count() as u64,
            field("length")?,
            field("entries-added")?,
        ))
    }

    /// Waits until the stream holds nothing and nothing is pending; the entries ever added.
    async fn wait_stream_clean(&self) -> Result<u64> {
        let mut last = (0, 0, 0);
        for _ in 0..150 {
            last = self.stream_state().await?;
            if last.0 == 0 && last.1 == 0 {
                return Ok(last.2);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("stream not clean: (pending, length, added) = {last:?}")
    }
}

/// The catalog and backend as the killed process left them: the job running (first attempt),
/// steps before k succeeded, step k running (`after_effect`) or succeeded (`after_record`),
/// nothing after it, and the effects of steps 1..=k present.
async fn check_crash_state(
    fx: &Fixture,
    catalog: &Catalog,
    t: &Provisioning,
    k: usize,
    after_record: bool,
) -> Result<()> {
    let (tenant_id, job_id, name) = (t.tenant_id, t.job_id, t.name.as_str());
    let job = catalog.job(job_id).await?.context("job")?;
    ensure!(
        job.status == JobStatus::Running && job.attempts == 1,
        "{job:?}"
    );
    let recorded: Vec<(&str, &str)> = job
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.status.as_str()))
        .collect();
    let mut expected: Vec<(&str, &str)> =
        STEPS[..k - 1].iter().map(|s| (*s, "succeeded")).collect();
    expected.push((
        STEPS[k - 1],
        if after_record { "succeeded" } else { "running" },
    ));
    ensure!(recorded == expected, "{recorded:?} != {expected:?}");
    let (dbs, users) = backend_objects(fx, name).await?;
    ensure!(users == 1, "backend users: {users}");
    ensure!(dbs.len() == usize::from(k >= 2), "{dbs:?}");
    let tenant = catalog.tenant_by_id(tenant_id).await?.context("tenant")?;
    ensure!(
        (tenant.status == TenantStatus::Ready) == (k == 3),
        "{:?}",
        tenant.status
    );
    Ok(())
}

/// The job finished after `attempts` attempts and everything exists exactly once (see the
/// module documentation). `failures` audit rows of failed step attempts are expected.
async fn check_converged(
    fx: &Fixture,
    catalog: &Catalog,
    addr: SocketAddr,
    key: &str,
    t: &Provisioning,
    attempts: u64,
    failures: usize,
) -> Result<()> {
    let (tenant_id, job_id, name) = (t.tenant_id, t.job_id, t.name.as_str());
    let job = wait_job(addr, key, job_id).await?;
    ensure!(
        job["status"] == "succeeded" && job["attempts"] == attempts && job.get("error").is_none(),
        "{job}"
    );
    let steps: Vec<(&str, &str)> = job["steps"]
        .as_array()
        .context("steps")?
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap_or(""),
                s["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let expected: Vec<(&str, &str)> = STEPS.iter().map(|s| (*s, "succeeded")).collect();
    ensure!(steps == expected, "{job}");

    let tenant = get_json(addr, key, &format!("/v1/tenants/{tenant_id}")).await?;
    ensure!(
        tenant["status"] == "ready" && tenant["name"] == name,
        "{tenant}"
    );
    ensure!(
        tenant["databases"] == serde_json::json!([{ "name": "main" }]),
        "{tenant}"
    );
    let list = get_json(addr, key, "/v1/tenants?limit=500").await?;
    let same_name = list["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter(|t| t["name"] == name)
        .count();
    ensure!(same_name == 1, "{list}");

    // Each step audited as a success exactly once; the tenant became ready once.
    let audit = get_json(
        addr,
        key,
        &format!("/v1/tenants/{tenant_id}/audit?limit=500"),
    )
    .await?;
    let rows = audit["items"].as_array().context("items")?;
    for action in [
        "tenant.create",
        "provision_tenant.backend_user",
        "provision_tenant.database",
        "provision_tenant.ready",
    ] {
        let ok = rows
            .iter()
            .filter(|r| r["action"] == action && r["outcome"] == "success")
            .count();
        ensure!(ok == 1, "{action}: {ok} successes in {audit}");
    }
    let failed = rows.iter().filter(|r| r["outcome"] != "success").count();
    ensure!(failed == failures, "{failed} failures in {audit}");

    let (dbs, users) = backend_objects(fx, name).await?;
    ensure!(
        dbs == [format!("t_{name}__main")] && users == 1,
        "{dbs:?} {users}"
    );
    check_logins(catalog, addr, key, tenant_id, name).await
}

/// A proxy user created now logs in (the proxy's check); the tenant's backend credentials open
/// its physical database.
async fn check_logins(
    catalog: &Catalog,
    addr: SocketAddr,
    key: &str,
    tenant_id: u64,
    name: &str,
) -> Result<()> {
    let (user, password) = (format!("{name}_app"), "crash-test-Pw-1234");
    let body = format!(r#"{{"username":"{user}","password":"{password}"}}"#);
    let path = format!("/v1/tenants/{tenant_id}/users");
    let r = request(addr, "POST", &path, Some(key), Some(&body)).await?;
    ensure!(r.status == 201, "{r:?}");
    ensure!(proxy_login(catalog, &user, password).await? == Some(tenant_id));
    ensure!(proxy_login(catalog, &user, "wrong").await?.is_none());

    let login = catalog.login(&user).await?.context("login")?;
    let physical = login.databases.first().context("databases")?.1.to_string();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(login.backend_host.as_str())
        .tcp_port(login.backend_port)
        .user(Some(login.backend_user.clone()))
        .pass(Some(login.backend_password.clone()))
        .db_name(Some(physical.clone()))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await?;
    let current: Option<String> = conn.query_first("SELECT DATABASE()").await?;
    conn.disconnect().await?;
    ensure!(current.as_deref() == Some(physical.as_str()), "{current:?}");
    Ok(())
}

/// One crash: a process with fault `{after_effect|after_record}:k` dies provisioning a tenant;
/// a second one (after a Redis restart in `RedisRestarted` mode) finishes the job.
async fn crash_case(mode: Mode, k: usize, after_record: bool) -> Result<()> {
    in_world(
        mode != Mode::NoRedis,
        |_| {},
        |w| async move {
            let fault = format!(
                "{}:{k}",
                if after_record {
                    "after_record"
                } else {
                    "after_effect"
                }
            );
            let fx = &w.fx;
            let mut a = w.admin("a", Some(&fault)).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let t = create_tenant(a.addr, &op, fx.tenant_name("cr")).await?;
            a.wait_abort().await?;
            check_crash_state(fx, &catalog, &t, k, after_record).await?;
            match mode {
                Mode::NoRedis => {}
                // The dead consumer holds the entry.
                Mode::Redis => ensure!(w.stream_state().await? == (1, 1, 1)),
                Mode::RedisRestarted => {
                    let mut redis = w.redis.lock().await;
                    redis.as_mut().context("redis")?.restart().await?;
                }
            }
            let b = w.admin("b", None).await?;
            let converged = check_converged(fx, &catalog, b.addr, &op, &t, 2, 0).await;
            if let Err(e) = converged {
                bail!(
                    "{e:#}\n--- killed process ---\n{}\n--- second process ---\n{}",
                    a.log_tail(),
                    b.log_tail()
                );
            }
            if mode != Mode::NoRedis {
                // Redis mode: the pending entry was claimed, not added again; restarted: added once
                // to the empty Redis.
                let added = w.wait_stream_clean().await?;
                ensure!(added == 1, "{added} entries added");
            }
            catalog.disconnect().await?;
            b.stop().await
        },
    )
    .await
    .with_context(|| {
        format!(
            "{mode:?}, {} k={k}",
            if after_record {
                "after_record"
            } else {
                "after_effect"
            }
        )
    })
}

/// Every k and both points of `mode`, concurrently.
async fn every_step(mode: Mode) -> Result<()> {
    let mut cases = tokio::task::JoinSet::new();
    for k in 1..=STEPS.len() {
        for after_record in [false, true] {
            cases.spawn(crash_case(mode, k, after_record));
        }
    }
    let mut errors = Vec::new();
    while let Some(result) = cases.join_next().await {
        if let Err(e) = result? {
            errors.push(format!("{e:#}"));
        }
    }
    ensure!(
        errors.is_empty(),
        "{} cases failed:\n{}",
        errors.len(),
        errors.join("\n\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_converges_without_redis() -> Result<()> {
    every_step(Mode::NoRedis).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_converges_with_redis() -> Result<()> {
    every_step(Mode::Redis).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_converges_with_redis_restarted() -> Result<()> {
    every_step(Mode::RedisRestarted).await
}

/// Redis restarted, empty, while the second process is in the middle of the resumed job (its
/// `ready` step held up by a row lock the test takes on the tenant): the job is added to the new
/// stream again and that entry is read, but the job never runs twice at once (which would count a
/// third attempt and audit `ready` twice); it converges and the extra entry is acked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_while_the_job_resumes() -> Result<()> {
    in_world(
        true,
        |_| {},
        |w| async move {
            let fx = &w.fx;
            let mut a = w.admin("a", Some("after_effect:2")).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let t = create_tenant(a.addr, &op, fx.tenant_name("cr")).await?;
            a.wait_abort().await?;
            check_crash_state(fx, &catalog, &t, 2, false).await?;

            let mut lock = root_conn(&fx.config).await?;
            lock.query_drop("BEGIN").await?;
            lock.exec_drop(
                format!(
                    "SELECT id FROM `{}`.tenants WHERE id = ? FOR UPDATE",
                    fx.catalog_db
                ),
                (t.tenant_id,),
            )
            .await?;
            let b = w.admin("b", None).await?;
            let running = |job: &Job| {
                job.attempts == 2
                    && job
                        .steps
                        .iter()
                        .any(|s| s.step == "ready" && s.status == "running")
            };
            wait_for_job(&catalog, t.job_id, running).await?;
            w.redis
                .lock()
                .await
                .as_mut()
                .context("redis")?
                .restart()
                .await?;
            // The job is re-added to the empty Redis and read by the second process...
            let deadline = Instant::now() + Duration::from_secs(10);
            while w.stream_state().await.ok() != Some((1, 1, 1)) {
                ensure!(
                    Instant::now() < deadline,
                    "the job was not re-added and read"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // ... which must not start a second attempt while the first one runs.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let job = catalog.job(t.job_id).await?.context("job")?;
            ensure!(job.attempts == 2, "{job:?}");
            lock.query_drop("COMMIT").await?;
            lock.disconnect().await?;

            let converged = check_converged(fx, &catalog, b.addr, &op, &t, 2, 0).await;
            if let Err(e) = converged {
                bail!("{e:#}\n--- second process ---\n{}", b.log_tail());
            }
            let added = w.wait_stream_clean().await?;
            ensure!(added == 1, "{added} entries added to the new Redis");
            catalog.disconnect().await?;
            b.stop().await
        },
    )
    .await
}

/// Polls the catalog until job `id` satisfies `pred`.
async fn wait_for_job(catalog: &Catalog, id: u64, pred: impl Fn(&Job) -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let job = catalog.job(id).await?.context("job")?;
        if pred(&job) {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "job never got there: {job:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A transient step failure is retried with backoff on the same stream entry, then succeeds;
/// the attempts are counted in `GET /v1/jobs/{id}` and in the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failure_is_retried_through_the_stream() -> Result<()> {
    let configure = |fx: &mut Fixture| fx.config.jobs.backoff_base_ms = 100;
    in_world(true, configure, |w| async move {
        let fx = &w.fx;
        let admin = w.admin("a", Some("fail:1:2")).await?;
        let catalog = fx.catalog().await?;
        let op = fx.operator_key(&catalog).await?;
        let started = Instant::now();
        let t = create_tenant(admin.addr, &op, fx.tenant_name("tr")).await?;
        let converged = check_converged(fx, &catalog, admin.addr, &op, &t, 3, 2).await;
        if let Err(e) = converged {
            bail!("{e:#}\n--- admin ---\n{}", admin.log_tail());
        }
        // Two backoffs of at least 50 and 100 ms (half of 100 * 2^(attempt - 1)).
        ensure!(started.elapsed() >= Duration::from_millis(150));
        let path = format!(
            "/v1/tenants/{}/audit?action=provision_tenant.backend_user",
            t.tenant_id
        );
        let audit = get_json(admin.addr, &op, &path).await?;
        let outcomes: Vec<&str> = audit["items"]
            .as_array()
            .context("items")?
            .iter()
            .map(|r| r["outcome"].as_str().unwrap_or(""))
            .collect();
        ensure!(outcomes == ["failure", "failure", "success"], "{audit}");
        let metrics = request(admin.addr, "GET", "/metrics", None, None)
            .await?
            .body;
        for line in [
            r#"octodb_admin_jobs_total{kind="provision_tenant",outcome="retried"} 2"#,
            r#"octodb_admin_jobs_total{kind="provision_tenant",outcome="succeeded"} 1"#,
        ] {
            ensure!(metrics.contains(line), "{line} not in:\n{metrics}");
        }
        // One entry for all three attempts: retries wait on it, they do not add new ones.
        let added = w.wait_stream_clean().await?;
        ensure!(added == 1, "{added} entries added");
        catalog.disconnect().await?;
        admin.stop().await
    })
    .await
}
