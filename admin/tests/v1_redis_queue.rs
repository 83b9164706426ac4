//! Jobs dispatched through Redis Streams (real Redis, `OCTODB_TEST_REDIS_URL`, default
//! 127.0.0.1:6379): a tenant is provisioned via the stream; an entry pending on a dead consumer
//! is claimed after the idle timeout; a Redis that lost its keys converges from the catalog at the
//! next start; a job failing for good leaves a dead letter with its reason. Each test uses its
//! own stream names and deletes them at the end.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use common::{suffix, Fixture, Server};
use octodb_admin::jobs::provision_tenant;
use octodb_catalog::{Catalog, JobStatus, NewAudit, NewJob, TenantName};
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;

fn redis_url() -> String {
    std::env::var("OCTODB_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn redis_conn() -> Result<MultiplexedConnection> {
    let client = redis::Client::open(redis_url())?;
    Ok(client.get_multiplexed_async_connection().await?)
}

/// Runs `test` with Redis dispatch on streams of its own, then deletes them (never anything else).
async fn with_redis<F, Fut>(test: F) -> Result<()>
where
    F: FnOnce(Arc<Fixture>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut fx = Fixture::new();
    let prefix = format!("octodb:test:{}:jobs", suffix());
    fx.config.redis.url = Some(redis_url());
    fx.config.redis.stream_prefix = prefix.clone();
    fx.config.redis.claim_idle_ms = 200;
    fx.config.redis.block_ms = 100;
    let result = fx.run(test).await;
    let mut conn = redis_conn().await?;
    let _: u64 = conn
        .del(&[prefix.clone(), format!("{prefix}:dead")])
        .await?;
    result
}

fn stream(fx: &Fixture) -> String {
    fx.config.redis.stream_prefix.clone()
}

/// A tenant and its queued provisioning job, recorded in the catalog only (nothing dispatched).
async fn queued_tenant(fx: &Fixture, catalog: &Catalog) -> Result<(String, u64)> {
    let name = fx.tenant_name("rq");
    let job = NewJob {
        kind: provision_tenant::KIND,
        tenant_id: None,
        payload: r#"{"databases":["main"]}"#,
        created_by: None,
        request_id: Some("test"),
    };
    let audit = NewAudit {
        action: "tenant.create",
        outcome: "success",
        ..NewAudit::default()
    };
    let (_, job_id) = catalog
        .begin_tenant(
            &fx.config.backend.admin(),
            &TenantName::parse(&name)?,
            job,
            audit,
        )
        .await?;
    Ok((name, job_id))
}

/// Adds `job_id` to the stream and reads it as `consumer`, which never acks (a dead worker).
async fn pending_on_dead_consumer(fx: &Fixture, job_id: u64, consumer: &str) -> Result<()> {
    let (stream, group) = (stream(fx), fx.config.redis.group.clone());
    let mut conn = redis_conn().await?;
    let created: redis::RedisResult<()> = conn.xgroup_create_mkstream(&stream, &group, "0").await;
    if let Err(e) = created {
        ensure!(e.code() == Some("BUSYGROUP"), "{e}");
    }
    let _: String = conn.xadd(&stream, "*", &[("job_id", job_id)]).await?;
    let read: StreamReadReply = conn
        .xread_options(
            &[&stream],
            &[">"],
            &StreamReadOptions::default()
                .group(&group, consumer)
                .count(10),
        )
        .await?;
    ensure!(read.keys.iter().map(|k| k.ids.len()).sum::<usize>() == 1);
    Ok(())
}

/// Entries pending in the group (read by a consumer, not acked).
async fn pending(fx: &Fixture) -> Result<u64> {
    let mut conn = redis_conn().await?;
    let reply: redis::streams::StreamPendingReply =
        conn.xpending(stream(fx), &fx.config.redis.group).await?;
    Ok(reply.count() as u64)
}

/// Waits until the group has no pending entry and the stream is empty: a worker marks its job
/// finished in the catalog and then acknowledges and deletes the stream entry, so those may
/// come a little later than the status.
async fn settled(fx: &Fixture) -> Result<()> {
    let mut conn = redis_conn().await?;
    let (mut pending_now, mut length) = (0, 0);
    for _ in 0..200 {
        pending_now = pending(fx).await?;
        length = conn.xlen(stream(fx)).await?;
        if pending_now == 0 && length == 0 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("after 10 s, {pending_now} entries pending and {length} in the stream")
}

async fn wait_status(catalog: &Catalog, job_id: u64) -> Result<octodb_catalog::Job> {
    for _ in 0..400 {
        let job = catalog.job(job_id).await?.context("job")?;
        if matches!(job.status, JobStatus::Succeeded | JobStatus::Failed) {
            return Ok(job);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("job {job_id} did not finish")
}

#[tokio::test]
async fn tenant_provisioned_through_the_stream() -> Result<()> {
    with_redis(|fx| async move {
        let server = Server::start(&fx.config).await?;
        let catalog = fx.catalog().await?;
        let op = fx.operator_key(&catalog).await?;
        let r = server.call("GET", "/readyz", None, None).await?;
        ensure!(r.status == 200, "{r:?}");
        let name = fx.tenant_name("rq");
        server.ready_tenant(&op, &name).await?;
        // It went through the stream: the entry was added, read by the group, acked and deleted.
        settled(&fx).await?;
        let mut conn = redis_conn().await?;
        let info: HashMap<String, redis::Value> = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(stream(&fx))
            .query_async(&mut conn)
            .await?;
        let added: i64 =
            redis::from_redis_value(info.get("entries-added").context("entries-added")?)?;
        let length: i64 = redis::from_redis_value(info.get("length").context("length")?)?;
        ensure!(added >= 1 && length == 0, "{info:?}");
        server.stop().await
    })
    .await
}

#[tokio::test]
async fn readyz_fails_when_redis_is_down() -> Result<()> {
    let mut fx = Fixture::new();
    // Nothing listens on port 1.
    fx.config.redis.url = Some("redis://127.0.0.1:1".into());
    fx.config.redis.stream_prefix = format!("octodb:test:{}:jobs", suffix());
    fx.run(|fx| async move {
        let server = Server::start(&fx.config).await?;
        let r = server.call("GET", "/readyz", None, None).await?;
        r.problem(503)?;
        server.stop().await
    })
    .await
}

#[tokio::test]
async fn entry_of_a_dead_consumer_is_claimed() -> Result<()> {
    with_redis(|fx| async move {
        let catalog = fx.catalog().await?;
        let (_, job_id) = queued_tenant(&fx, &catalog).await?;
        pending_on_dead_consumer(&fx, job_id, "dead-worker").await?;
        ensure!(pending(&fx).await? == 1);

        let server = Server::start(&fx.config).await?;
        let job = wait_status(&catalog, job_id).await?;
        ensure!(
            job.status == JobStatus::Succeeded && job.attempts == 1,
            "{job:?}"
        );
        settled(&fx).await?;
        server.stop().await
    })
    .await
}

#[tokio::test]
async fn lost_redis_keys_converge_from_the_catalog() -> Result<()> {
    with_redis(|fx| async move {
        let catalog = fx.catalog().await?;
        // A worker took the job (running in the catalog, pending in the stream) and died...
        let (_, job_id) = queued_tenant(&fx, &catalog).await?;
        pending_on_dead_consumer(&fx, job_id, "dead-worker").await?;
        catalog.claim_job(job_id).await?;
        // ... then Redis restarted and lost everything.
        let mut conn = redis_conn().await?;
        let _: u64 = conn.del(stream(&fx)).await?;

        let server = Server::start(&fx.config).await?;
        let job = wait_status(&catalog, job_id).await?;
        ensure!(
            job.status == JobStatus::Succeeded && job.attempts == 2,
            "{job:?}"
        );
        settled(&fx).await?;
        server.stop().await
    })
    .await
}

#[tokio::test]
async fn permanent_failure_leaves_a_dead_letter() -> Result<()> {
    with_redis(|fx| async move {
        let catalog = fx.catalog().await?;
        let job_id = catalog
            .create_job(&NewJob {
                kind: "no_such_kind",
                tenant_id: None,
                payload: "{}",
                created_by: None,
                request_id: Some("test"),
            })
            .await?;
        // Queued in the catalog only: the app adds it to the stream at start.
        let server = Server::start(&fx.config).await?;
        let job = wait_status(&catalog, job_id).await?;
        ensure!(job.status == JobStatus::Failed, "{job:?}");
        let mut conn = redis_conn().await?;
        let dead: StreamRangeReply = conn.xrange_all(format!("{}:dead", stream(&fx))).await?;
        ensure!(dead.ids.len() == 1, "{dead:?}");
        let letter = &dead.ids[0];
        ensure!(letter.get::<u64>("job_id") == Some(job_id), "{letter:?}");
        let reason: String = letter.get("reason").context("reason")?;
        ensure!(reason.contains("unknown job kind"), "{reason}");
        settled(&fx).await?;
        server.stop().await
    })
    .await
}

#[tokio::test]
async fn retryable_failure_is_retried_through_the_stream_then_fails() -> Result<()> {
    let prefix = format!("octodb:test:{}:jobs", suffix());
    let mut fx = Fixture::new();
    fx.config.redis.url = Some(redis_url());
    fx.config.redis.stream_prefix = prefix.clone();
    fx.config.redis.claim_idle_ms = 200;
    fx.config.redis.block_ms = 100;
    // Access denied on the backend: a MySQL error, retried until max_attempts.
    fx.config.backend.admin_password = "not-the-password".to_string();
    fx.config.jobs.max_attempts = 3;
    let result = fx
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("rq");
            let r = server
                .call(
                    "POST",
                    "/v1/tenants",
                    Some(&op),
                    Some(&format!(r#"{{"name":"{name}"}}"#)),
                )
                .await?;
            ensure!(r.status == 202, "{r:?}");
            let created = r.json()?;
            let job = server
                .wait_job(&op, created["job_id"].as_u64().context("job_id")?)
                .await?;
            ensure!(job["status"] == "failed" && job["attempts"] == 3, "{job}");
            let error = job["error"].as_str().context("error")?.to_string();
            ensure!(!error.is_empty(), "{job}");
            let tenant = server
                .call(
                    "GET",
                    &format!("/v1/tenants/{}", created["id"]),
                    Some(&op),
                    None,
                )
                .await?
                .json()?;
            ensure!(tenant["status"] == "failed", "{tenant}");
            // All attempts ran from the one entry; the final failure left one dead letter.
            let mut conn = redis_conn().await?;
            let info: HashMap<String, redis::Value> = redis::cmd("XINFO")
                .arg("STREAM")
                .arg(stream(&fx))
                .query_async(&mut conn)
                .await?;
            let added: i64 =
                redis::from_redis_value(info.get("entries-added").context("entries-added")?)?;
            ensure!(added == 1, "{info:?}");
            let dead: StreamRangeReply = conn.xrange_all(format!("{}:dead", stream(&fx))).await?;
            ensure!(dead.ids.len() == 1, "{dead:?}");
            let reason: String = dead.ids[0].get("reason").context("reason")?;
            ensure!(reason == error, "{reason} != {error}");
            settled(&fx).await?;
            let metrics = server.call("GET", "/metrics", None, None).await?.body;
            for line in [
                r#"octodb_admin_jobs_total{kind="provision_tenant",outcome="retried"} 2"#,
                r#"octodb_admin_jobs_total{kind="provision_tenant",outcome="failed"} 1"#,
            ] {
                ensure!(metrics.contains(line), "{line} not in:\n{metrics}");
            }
            catalog.disconnect().await?;
            server.stop().await
        })
        .await;
    let mut conn = redis_conn().await?;
    let _: u64 = conn
        .del(&[prefix.clone(), format!("{prefix}:dead")])
        .await?;
    result
}
