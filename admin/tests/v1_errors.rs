//! Problem documents (RFC 9457) for every client error: 400, 404, 405, 409, 413, 415, 422.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Result};
use common::{Fixture, Server};

#[tokio::test]
async fn problem_bodies() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let call = |m: &'static str, p: &'static str, b: Option<String>| {
                let (server, op) = (&server, op.clone());
                async move { server.call(m, p, Some(&op), b.as_deref()).await }
            };

            // 400: malformed JSON.
            let p = call("POST", "/v1/tenants", Some("{\"name\":".into()))
                .await?
                .problem(400)?;
            ensure!(p["title"] == "Bad Request", "{p}");
            // 422: invalid names, unknown fields, wrong types.
            for body in [
                r#"{"name":"Bad-Name"}"#,
                r#"{"name":"a__b"}"#,
                r#"{"name":""}"#,
                r#"{"name":"ok","extra":1}"#,
                r#"{"name":7}"#,
                r#"{}"#,
            ] {
                call("POST", "/v1/tenants", Some(body.into()))
                    .await?
                    .problem(422)?;
            }
            call("POST", "/v1/keys", Some(r#"{"scope":"tenant"}"#.into()))
                .await?
                .problem(422)?;
            call("GET", "/v1/tenants?limit=0", None)
                .await?
                .problem(422)?;
            call("GET", "/v1/tenants?after=zz", None)
                .await?
                .problem(422)?;
            call("GET", "/v1/tenants?bogus=1", None)
                .await?
                .problem(400)?;
            // 413: a body over the limit.
            let big = format!(
                r#"{{"name":"{}"}}"#,
                "a".repeat(fx.config.max_body_bytes + 1)
            );
            call("POST", "/v1/tenants", Some(big)).await?.problem(413)?;
            // 415: not declared as JSON.
            let r = common::request(server.addr, "POST", "/v1/keys", Some(&op), None).await?;
            r.problem(415)?;
            // 404: unknown tenant, job, path, non-numeric id; 405: wrong method.
            call("GET", "/v1/tenants/999999", None)
                .await?
                .problem(404)?;
            call("GET", "/v1/tenants/abc", None).await?.problem(404)?;
            call("GET", "/v1/tenants/999999/audit", None)
                .await?
                .problem(404)?;
            call("GET", "/v1/jobs/999999", None).await?.problem(404)?;
            call("GET", "/v1/nothing", None).await?.problem(404)?;
            // Path segments that are not UTF-8 once decoded name nothing either (they were a
            // plain-text 400 on the two routes with a template version).
            call("GET", "/v1/tenants/%FF%FE", None)
                .await?
                .problem(404)?;
            for path in [
                "/v1/templates/1/versions/%FF%FE/plan",
                "/v1/templates/%C3/versions/1/rollout",
            ] {
                call("POST", path, Some("{}".into())).await?.problem(404)?;
            }
            call("DELETE", "/v1/keys", None).await?.problem(405)?;
            // 409: a duplicate name (audited as a failure).
            let name = fx.tenant_name("dup");
            let body = format!(r#"{{"name":"{name}"}}"#);
            let first = call("POST", "/v1/tenants", Some(body.clone())).await?;
            ensure!(first.status == 202, "{first:?}");
            let p = call("POST", "/v1/tenants", Some(body))
                .await?
                .problem(409)?;
            ensure!(p["detail"].as_str().unwrap().contains(&name), "{p}");
            server
                .wait_job(&op, first.json()?["job_id"].as_u64().unwrap())
                .await?;
            let audit = call("GET", "/v1/audit?action=tenant.create", None)
                .await?
                .json()?;
            let outcomes: Vec<_> = audit["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["outcome"].as_str().unwrap().to_string())
                .collect();
            ensure!(outcomes == ["success", "failure"], "{audit}");
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}
