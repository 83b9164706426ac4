//! `GET`/`PUT /v1/tenants/{id}/limits` on the real MariaDB: operators set anything, a tenant's
//! own key may only lower its limits, other tenants' keys get 403, invalid values 422, unknown
//! tenants 404; every change moves the catalog version (so proxies follow) and every attempt is
//! audited.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Result};
use common::{tenant_key, Fixture, Server};
use octodb_catalog::AuditFilter;
use serde_json::{json, Value};

const NONE: &str = r#"{"max_client_connections":null,"max_backend_connections":null,"statements_per_second":null,"statement_burst":null,"statement_timeout_ms":null,"result_cache_ttl_ms":null,"result_cache_max_bytes":null}"#;

async fn get(app: &Server, key: &str, id: u64) -> Result<Value> {
    let r = app
        .call("GET", &format!("/v1/tenants/{id}/limits"), Some(key), None)
        .await?;
    ensure!(r.status == 200, "{r:?}");
    r.json()
}

async fn put(app: &Server, key: &str, id: u64, body: &str) -> Result<common::Response> {
    app.call(
        "PUT",
        &format!("/v1/tenants/{id}/limits"),
        Some(key),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn operators_set_limits_tenants_only_lower_them() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let app = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let a = app.ready_tenant(&op, &fx.tenant_name("la")).await?;
            let b = app.ready_tenant(&op, &fx.tenant_name("lb")).await?;
            let key_a = tenant_key(&catalog, a).await?;

            // Nothing set: every limit is the proxy's default.
            ensure!(get(&app, &op, a).await? == serde_json::from_str::<Value>(NONE)?);
            ensure!(get(&app, &key_a, a).await? == serde_json::from_str::<Value>(NONE)?);

            // The operator sets some; the catalog version moves, so proxies follow.
            let before = catalog.catalog_version().await?;
            let set = json!({
                "max_client_connections": 10,
                "statements_per_second": 100,
                "statement_burst": 20,
                "statement_timeout_ms": 5000
            });
            let r = put(&app, &op, a, &set.to_string()).await?;
            ensure!(r.status == 200, "{r:?}");
            ensure!(catalog.catalog_version().await? > before);
            let got = get(&app, &key_a, a).await?;
            ensure!(got["max_client_connections"] == 10, "{got}");
            ensure!(got["max_backend_connections"].is_null(), "{got}");
            ensure!(got["statement_timeout_ms"] == 5000, "{got}");
            // Other tenants are untouched.
            ensure!(get(&app, &op, b).await? == serde_json::from_str::<Value>(NONE)?);

            // The tenant lowers its own.
            let lower = json!({
                "max_client_connections": 5,
                "statements_per_second": 100,
                "statement_burst": 20,
                "statement_timeout_ms": 1000
            });
            let r = put(&app, &key_a, a, &lower.to_string()).await?;
            ensure!(r.status == 200, "{r:?}");
            ensure!(get(&app, &op, a).await?["max_client_connections"] == 5);

            // ...but cannot raise one, clear one, set one that was unset, or lift the timeout.
            for (field, value) in [
                ("max_client_connections", json!(6)),
                ("statements_per_second", Value::Null),
                ("max_backend_connections", json!(1)),
                ("statement_timeout_ms", json!(0)),
            ] {
                let mut body = lower.clone();
                body[field] = value;
                let r = put(&app, &key_a, a, &body.to_string()).await?;
                let p = r.problem(403)?;
                ensure!(
                    p["detail"].as_str().unwrap_or_default().contains(field),
                    "{p}"
                );
            }
            ensure!(get(&app, &op, a).await?["max_client_connections"] == 5);

            // The operator raises it again; another tenant's key reaches nothing.
            let r = put(&app, &op, a, &set.to_string()).await?;
            ensure!(r.status == 200, "{r:?}");
            let key_b = tenant_key(&catalog, b).await?;
            let r = app
                .call(
                    "GET",
                    &format!("/v1/tenants/{a}/limits"),
                    Some(&key_b),
                    None,
                )
                .await?;
            r.problem(403)?;
            put(&app, &key_b, a, &lower.to_string())
                .await?
                .problem(403)?;
            ensure!(get(&app, &op, a).await?["max_client_connections"] == 10);

            // Every attempt is audited, refused ones as failures.
            let rows = catalog
                .list_audit(&AuditFilter {
                    tenant_id: Some(a),
                    action: Some("tenant.limits.set".into()),
                    limit: 100,
                    ..AuditFilter::default()
                })
                .await?;
            let outcomes: Vec<&str> = rows.iter().map(|r| r.outcome.as_str()).collect();
            ensure!(
                outcomes.iter().filter(|o| **o == "success").count() == 3,
                "{outcomes:?}"
            );
            ensure!(
                outcomes.iter().filter(|o| **o == "failure").count() == 4,
                "{outcomes:?}"
            );
            ensure!(
                rows[0].detail.as_deref()
                    == Some(
                        "clients=10 backends=- rate=100 burst=20 timeout_ms=5000 \
                         cache_ttl_ms=- cache_bytes=-"
                    ),
                "{:?}",
                rows[0].detail
            );
            app.stop().await
        })
        .await
}

#[tokio::test]
async fn invalid_values_and_unknown_tenants() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let app = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let a = app.ready_tenant(&op, &fx.tenant_name("lv")).await?;
            let before = catalog.catalog_version().await?;
            for body in [
                r#"{"max_client_connections": 0}"#,
                r#"{"max_backend_connections": 10001}"#,
                r#"{"statements_per_second": -1}"#,
                r#"{"statement_burst": 1.5}"#,
                r#"{"statement_timeout_ms": 86400001}"#,
                r#"{"statement_timeout_ms": "1000"}"#,
                r#"{"result_cache_ttl_ms": 86400001}"#,
                r#"{"result_cache_max_bytes": 0}"#,
                r#"{"result_cache_max_bytes": 1073741825}"#,
                r#"{"max_connections": 10}"#,
                r#""limits""#,
            ] {
                let r = put(&app, &op, a, body).await?;
                r.problem(422).map_err(|e| e.context(body.to_string()))?;
            }
            put(&app, &op, a, "{").await?.problem(400)?;
            ensure!(catalog.catalog_version().await? == before);
            ensure!(get(&app, &op, a).await? == serde_json::from_str::<Value>(NONE)?);
            // A missing field is the default; 0 is "no timeout" and valid.
            let r = put(&app, &op, a, r#"{"statement_timeout_ms": 0}"#).await?;
            ensure!(r.status == 200, "{r:?}");
            ensure!(get(&app, &op, a).await?["statement_timeout_ms"] == 0);
            // The result cache opt-in round-trips.
            let cache = json!({"result_cache_ttl_ms": 2000, "result_cache_max_bytes": 65536});
            let r = put(&app, &op, a, &cache.to_string()).await?;
            ensure!(r.status == 200, "{r:?}");
            let got = get(&app, &op, a).await?;
            ensure!(got["result_cache_ttl_ms"] == 2000, "{got}");
            ensure!(got["result_cache_max_bytes"] == 65536, "{got}");
            ensure!(got["statement_timeout_ms"].is_null(), "{got}");
            // Unknown tenants, bad ids, no key.
            let missing = a + 1_000_000;
            app.call(
                "GET",
                &format!("/v1/tenants/{missing}/limits"),
                Some(&op),
                None,
            )
            .await?
            .problem(404)?;
            put(&app, &op, missing, "{}").await?.problem(404)?;
            app.call("GET", "/v1/tenants/x/limits", Some(&op), None)
                .await?
                .problem(404)?;
            app.call("GET", &format!("/v1/tenants/{a}/limits"), None, None)
                .await?
                .problem(401)?;
            app.stop().await
        })
        .await
}
