//! Schema drift on the real MariaDB: an out-of-band ALTER (as root) on a tenant database bound
//! to a template is reported with the right items by `GET .../drift` and by the periodic check
//! (`GET /v1/drift`, audited once as `schema.drift_detected`, the tenant's webhook told); a
//! database without drift reports none; the report's statements repair it; 403 and 404 cases.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use common::{root_conn, tenant_key, Fixture, Server};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};

const BASE_V1: &str = "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, \
     name VARCHAR(50) NOT NULL, qty INT NOT NULL DEFAULT 1, KEY ix_name (name))";

async fn call(
    server: &Server,
    method: &str,
    key: &str,
    path: &str,
    body: Option<Value>,
) -> Result<common::Response> {
    server
        .call(
            method,
            path,
            Some(key),
            body.map(|b| b.to_string()).as_deref(),
        )
        .await
}

/// Binds tenant `t`'s `main` to template `base` on `auto`.
async fn bind(server: &Server, key: &str, t: u64) -> Result<()> {
    let body = json!({ "template": "base", "channel": "auto" });
    let r = call(
        server,
        "PUT",
        key,
        &format!("/v1/tenants/{t}/databases/main/template"),
        Some(body),
    )
    .await?;
    ensure!(r.status == 200, "{r:?}");
    Ok(())
}

/// Binds and migrates tenant `t`'s `main` to base v1.
async fn migrate(server: &Server, key: &str, t: u64) -> Result<()> {
    bind(server, key, t).await?;
    let r = call(
        server,
        "POST",
        key,
        &format!("/v1/tenants/{t}/databases/main/template/opt-in"),
        Some(json!({ "version": 1 })),
    )
    .await?;
    ensure!(r.status == 202, "{r:?}");
    let job = server
        .wait_job(key, r.json()?["job_id"].as_u64().context("job_id")?)
        .await?;
    ensure!(job["status"] == "succeeded", "{job}");
    Ok(())
}

async fn drift(server: &Server, key: &str, t: u64) -> Result<Value> {
    let r = call(
        server,
        "GET",
        key,
        &format!("/v1/tenants/{t}/databases/main/drift"),
        None,
    )
    .await?;
    ensure!(r.status == 200, "{r:?}");
    r.json()
}

/// The item about `name` (a column or index) in a report.
fn item<'a>(report: &'a Value, object: &str, name: &str) -> Result<&'a Value> {
    report["items"]
        .as_array()
        .context("items")?
        .iter()
        .find(|i| i["object"] == object && i["name"] == name)
        .with_context(|| format!("no {object} {name} item in {report}"))
}

/// Polls `GET /v1/drift` until tenant `t` is listed as drifted (the periodic check).
async fn periodic_result(server: &Server, op: &str, t: u64) -> Result<Value> {
    for _ in 0..100 {
        let page = call(server, "GET", op, "/v1/drift", None).await?.json()?;
        if let Some(found) = page["items"]
            .as_array()
            .context("items")?
            .iter()
            .find(|i| i["tenant_id"] == t)
        {
            return Ok(found.clone());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the periodic check never reported tenant {t}")
}

async fn drift_audits(server: &Server, op: &str, t: u64) -> Result<usize> {
    let r = call(
        server,
        "GET",
        op,
        &format!("/v1/tenants/{t}/audit?action=schema.drift_detected"),
        None,
    )
    .await?;
    ensure!(r.status == 200, "{r:?}");
    Ok(r.json()?["items"].as_array().context("items")?.len())
}

#[tokio::test]
async fn out_of_band_alter_is_reported_by_endpoint_and_periodic_check() -> Result<()> {
    let mut fx = Fixture::new();
    fx.config.drift.interval_secs = 1;
    fx.config.webhooks.allow_private = true;
    fx.run(|fx| async move {
        let server = Server::start(&fx.config).await?;
        let catalog = fx.catalog().await?;
        let op = fx.operator_key(&catalog).await?;
        let (na, nb, nc) = (fx.tenant_name("dra"), fx.tenant_name("drb"), fx.tenant_name("drc"));
        let a = server.ready_tenant(&op, &na).await?;
        let b = server.ready_tenant(&op, &nb).await?;
        let c = server.ready_tenant(&op, &nc).await?;
        let (ka, kb, kc) = (
            tenant_key(&catalog, a).await?,
            tenant_key(&catalog, b).await?,
            tenant_key(&catalog, c).await?,
        );
        let r = call(&server, "POST", &op, "/v1/templates", Some(json!({ "name": "base" }))).await?;
        ensure!(r.status == 201, "{r:?}");
        let base = r.json()?["id"].as_u64().context("id")?;
        let r = call(&server, "POST", &op, &format!("/v1/templates/{base}/versions"), Some(json!({ "schema": BASE_V1 }))).await?;
        ensure!(r.status == 201, "{r:?}");
        // B's webhook records deliveries (nothing listens there; delivery is asynchronous).
        let r = call(&server, "PUT", &kb, &format!("/v1/tenants/{b}/webhook"), Some(json!({ "url": "http://127.0.0.1:9/hook" }))).await?;
        ensure!(r.status == 200, "{r:?}");

        // 404: no template yet; an unknown database or tenant. C bound but not migrated.
        let path_c = format!("/v1/tenants/{c}/databases/main/drift");
        call(&server, "GET", &kc, &path_c, None).await?.problem(404)?;
        call(&server, "GET", &op, &format!("/v1/tenants/{c}/databases/nope/drift"), None).await?.problem(404)?;
        call(&server, "GET", &op, "/v1/tenants/987654321/databases/main/drift", None).await?.problem(404)?;
        bind(&server, &kc, c).await?;
        let nm = drift(&server, &kc, c).await?;
        ensure!(nm["status"] == "not_migrated" && nm["drifted"] == false, "{nm}");

        migrate(&server, &ka, a).await?;
        migrate(&server, &kb, b).await?;

        // No drift: in sync, nothing to repair.
        for (t, k) in [(a, &ka), (b, &kb)] {
            let d = drift(&server, k, t).await?;
            ensure!(d["status"] == "in_sync" && d["drifted"] == false, "{d}");
            ensure!(d["items"] == json!([]) && d["statements"] == json!([]), "{d}");
        }

        // 403: another tenant's key; a tenant key on the fleet view.
        call(&server, "GET", &kb, &format!("/v1/tenants/{a}/databases/main/drift"), None).await?.problem(403)?;
        call(&server, "GET", &ka, "/v1/drift", None).await?.problem(403)?;
        call(&server, "GET", &op, "/v1/drift?status=bogus", None).await?.problem(422)?;

        // Out of band, as root: A's qty retyped, its index dropped, a column added.
        let mut root = root_conn(&fx.config).await?;
        let dba = format!("t_{na}__main");
        root.query_drop(format!(
            "ALTER TABLE `{dba}`.items MODIFY qty BIGINT NULL, DROP INDEX ix_name, ADD COLUMN note TEXT NULL"
        ))
        .await?;
        let d = drift(&server, &ka, a).await?;
        ensure!(d["status"] == "drifted" && d["drifted"] == true && d["version"] == 1, "{d}");
        let qty = item(&d, "column", "qty")?;
        ensure!(qty["problem"] == "different" && qty["table"] == "items", "{qty}");
        ensure!(qty["expected"].as_str().unwrap().starts_with("int(11) NOT NULL DEFAULT 1"), "{qty}");
        ensure!(qty["actual"].as_str().unwrap().starts_with("bigint(20) NULL"), "{qty}");
        let ix = item(&d, "index", "ix_name")?;
        ensure!(ix["problem"] == "missing" && ix["actual"].is_null(), "{ix}");
        ensure!(ix["expected"] == "KEY (`name`)", "{ix}");
        let note = item(&d, "column", "note")?;
        ensure!(note["problem"] == "unexpected" && note["expected"].is_null(), "{note}");
        ensure!(d["items"].as_array().unwrap().len() == 3, "{d}");
        let statements: Vec<String> = serde_json::from_value(d["statements"].clone())?;
        ensure!(!statements.is_empty() && statements.iter().all(|s| s.starts_with("ALTER TABLE")), "{d}");
        // B did not drift.
        ensure!(drift(&server, &kb, b).await?["status"] == "in_sync");
        ensure!(drift_audits(&server, &op, a).await? == 1);

        // The periodic check finds B's drift on its own (nobody asks about B).
        let dbb = format!("t_{nb}__main");
        root.query_drop(format!("ALTER TABLE `{dbb}`.items DROP COLUMN qty")).await?;
        let found = periodic_result(&server, &op, b).await?;
        ensure!(found["status"] == "drifted" && found["database"] == "main" && found["version"] == 1, "{found}");
        let qty = item(&found, "column", "qty")?;
        ensure!(qty["problem"] == "missing" && qty["expected"].as_str().unwrap().contains("DEFAULT 1"), "{qty}");
        ensure!(found["statements"].to_string().contains("ADD COLUMN `qty`"), "{found}");
        // Audited once, however many runs see it; the webhook got the event.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        ensure!(drift_audits(&server, &op, b).await? == 1);
        let deliveries = call(&server, "GET", &kb, &format!("/v1/tenants/{b}/webhook/deliveries"), None).await?.json()?;
        let events: Vec<&str> = deliveries["items"].as_array().context("items")?.iter().filter_map(|d| d["event"].as_str()).collect();
        ensure!(events.iter().filter(|e| **e == "schema.drift_detected").count() == 1, "{deliveries}");
        // Only drifted databases by default; all of them on request.
        let listed = call(&server, "GET", &op, "/v1/drift", None).await?.json()?;
        let tenants: Vec<u64> = listed["items"].as_array().unwrap().iter().filter_map(|i| i["tenant_id"].as_u64()).collect();
        ensure!(tenants.contains(&a) && tenants.contains(&b) && !tenants.contains(&c), "{listed}");
        let page = call(&server, "GET", &op, "/v1/drift?status=all&limit=1", None).await?.json()?;
        ensure!(page["items"].as_array().unwrap().len() == 1 && page["next"].is_string(), "{page}");

        // The report's statements repair the drift.
        for s in &statements {
            root.query_drop(s).await?;
        }
        let d = drift(&server, &ka, a).await?;
        ensure!(d["status"] == "in_sync" && d["items"] == json!([]), "{d}");
        root.disconnect().await?;
        server.stop().await
    })
    .await
}
