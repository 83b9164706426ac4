//! The proxy's Prometheus metrics (issue 6), scraped from a real `/metrics` endpoint: statement
//! latency is a histogram with the configured buckets, by kind and outcome; in `top` mode only
//! the busiest tenant is named (`top_k = 1`) and the others are `other`; refusals carry a
//! bounded reason; backend pools report active and idle connections.
//!
//! One test in this binary: the metrics recorder is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use mysql_async::prelude::Queryable;
use octodb_proxy::tenant_labels::TenantLabelMode;
use octodb_tests::admin::request;
use octodb_tests::TestEnv;

/// Installs the proxy's exporter on a free port; returns the address of `/metrics`.
async fn install_exporter() -> Result<SocketAddr> {
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await?
        .local_addr()?;
    octodb_proxy::metrics::prometheus_builder()?
        .with_http_listener(addr)
        .install()?;
    Ok(addr)
}

/// The samples of `name` (exact) whose labels include every `key="value"` of `labels`.
fn samples<'a>(body: &'a str, name: &str, labels: &[(&str, &str)]) -> Vec<&'a str> {
    body.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .collect()
}

#[tokio::test]
async fn statement_histograms_tenant_labels_and_pool_gauges() -> Result<()> {
    let metrics = install_exporter().await?;
    let mut env = TestEnv::start_with(|c| {
        c.metrics.tenant_labels = TenantLabelMode::Top;
        c.metrics.top_k = 1;
        c.metrics.top_k_refresh_ms = 100;
        c.digest_flush_secs = 0;
    })
    .await?;
    let result = async {
        let schema = "CREATE TABLE t (id INT PRIMARY KEY)";
        let (busy, quiet) = (env.tenant(schema).await?, env.tenant(schema).await?);
        let mut b = env.connect(&busy).await?;
        let mut q = env.connect(&quiet).await?;
        b.query_drop("INSERT INTO t VALUES (1), (2)").await?;
        // The busy tenant runs five times as much as the quiet one, over several rankings.
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1_500) {
            for _ in 0..5 {
                b.query_drop("SELECT id FROM t WHERE id = 1").await?;
            }
            q.query_drop("SELECT id FROM t WHERE id = 1").await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let e = q.query_drop("DROP TABLE t").await;
        ensure!(e.is_err(), "DROP is refused");

        let r = request(metrics, "GET", "/metrics", None, None).await?;
        ensure!(r.status == 200, "{r:?}");
        let body = r.body;

        // The statement latency histogram: every configured bucket, by kind and outcome.
        let ok_select = [("kind", "select"), ("outcome", "ok")];
        for le in ["0.0001", "0.001", "0.1", "1", "30", "+Inf"] {
            let mut labels = ok_select.to_vec();
            labels.push(("le", le));
            ensure!(
                !samples(&body, "octodb_proxy_statement_seconds_bucket", &labels).is_empty(),
                "no bucket le={le}:\n{body}"
            );
        }
        ensure!(
            !samples(&body, "octodb_proxy_statement_seconds_count", &ok_select).is_empty(),
            "no histogram count:\n{body}"
        );
        // Top-1: the busy tenant by name, the quiet one only as `other`.
        let named = samples(
            &body,
            "octodb_proxy_statements_total",
            &[
                ("kind", "select"),
                ("outcome", "ok"),
                ("tenant", &busy.name),
            ],
        );
        ensure!(!named.is_empty(), "busy tenant not named:\n{body}");
        ensure!(
            !body.contains(&format!("tenant=\"{}\"", quiet.name)),
            "the quiet tenant has a label:\n{body}"
        );
        ensure!(
            !samples(
                &body,
                "octodb_proxy_statements_total",
                &[("outcome", "ok"), ("tenant", "other")]
            )
            .is_empty(),
            "no `other` tenant:\n{body}"
        );
        // The refusal: by code and bounded reason, and as a refused statement.
        ensure!(
            !samples(
                &body,
                "octodb_proxy_refusals_total",
                &[("code", "1227"), ("reason", "ddl")]
            )
            .is_empty(),
            "no refusal reason:\n{body}"
        );
        ensure!(
            !samples(
                &body,
                "octodb_proxy_statements_total",
                &[("kind", "other"), ("outcome", "refused")]
            )
            .is_empty(),
            "no refused statement:\n{body}"
        );
        // Pool gauges (multiplexing: connections go back idle between statements).
        for state in ["active", "idle"] {
            ensure!(
                !samples(
                    &body,
                    "octodb_proxy_backend_connections",
                    &[("state", state)]
                )
                .is_empty(),
                "no {state} gauge:\n{body}"
            );
        }
        let idle: f64 = samples(
            &body,
            "octodb_proxy_backend_connections",
            &[("state", "idle")],
        )[0]
        .rsplit(' ')
        .next()
        .context("value")?
        .parse()?;
        ensure!(idle >= 1.0, "idle connections: {idle}");
        b.disconnect().await?;
        q.disconnect().await?;
        Ok(())
    }
    .await;
    let cleaned = env.cleanup().await;
    result?;
    cleaned
}
