//! `GET /metrics`: Prometheus text with route templates (not raw paths) and job outcomes; each
//! app instance has its own recorder, so two servers in one process do not share counters.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Result};
use common::{Fixture, Server};
use octodb_admin::metrics::{HTTP_REQUESTS_TOTAL, JOBS_TOTAL, JOB_DURATION_SECONDS};

#[tokio::test]
async fn requests_and_jobs_are_counted_per_instance() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let other = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("met");
            let id = server.ready_tenant(&op, &name).await?;
            server
                .call("GET", &format!("/v1/tenants/{id}"), Some(&op), None)
                .await?;
            server.call("GET", "/v1/no/such/thing", None, None).await?;

            let r = server.call("GET", "/metrics", None, None).await?;
            ensure!(r.status == 200, "{r:?}");
            ensure!(
                r.content_type.starts_with("text/plain; version=0.0.4"),
                "{r:?}"
            );
            let text = r.body;
            for line in [
                r#"octodb_admin_http_requests_total{route="/v1/tenants",status="202"} 1"#,
                r#"octodb_admin_http_requests_total{route="/v1/tenants/{id}",status="200"} 1"#,
                r#"octodb_admin_http_requests_total{route="unmatched",status="404"} 1"#,
                r#"octodb_admin_jobs_total{kind="provision_tenant",outcome="succeeded"} 1"#,
            ] {
                ensure!(text.contains(line), "missing {line} in\n{text}");
            }
            ensure!(
                text.contains(&format!("{JOB_DURATION_SECONDS}_bucket")),
                "{text}"
            );
            ensure!(text.contains("# HELP octodb_admin_jobs_total"), "{text}");
            // Raw paths never become labels.
            ensure!(!text.contains(&format!("/v1/tenants/{id}\"")), "{text}");

            // The other instance saw only its own start-up probes.
            let theirs = other.call("GET", "/metrics", None, None).await?.body;
            ensure!(!theirs.contains(&format!("{JOBS_TOTAL}{{")), "{theirs}");
            ensure!(!theirs.contains(r#"route="/v1/tenants""#), "{theirs}");
            ensure!(
                theirs.contains(&format!(r#"{HTTP_REQUESTS_TOTAL}{{route="/healthz""#)),
                "{theirs}"
            );

            other.stop().await?;
            server.stop().await
        })
        .await
}
