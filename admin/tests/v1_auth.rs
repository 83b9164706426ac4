//! API keys and scopes: 401 without or with a bad key, 403 outside the key's scope, keys made by
//! the CLI command and by `POST /v1/keys`; 503 problems while the catalog is down.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Result};
use common::{request, Fixture, Server};
use octodb_admin::commands::key_create;
use octodb_admin::AppState;
use octodb_catalog::KeyScope;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn keys_and_scopes() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            // The first operator key comes from the CLI command.
            let created = key_create::run(&fx.config, true, None).await?;
            ensure!(created.scope == "operator" && created.secret.starts_with("okey_"));
            let op = created.secret;

            // 401: no key, a malformed key, a well-formed but wrong key.
            server
                .call("GET", "/v1/tenants", None, None)
                .await?
                .problem(401)?;
            server
                .call("GET", "/v1/tenants", Some("nonsense"), None)
                .await?
                .problem(401)?;
            let forged = format!("okey_{}_{}", created.id, "x".repeat(43));
            server
                .call("GET", "/v1/tenants", Some(&forged), None)
                .await?
                .problem(401)?;

            // Two tenants; a tenant key for the first.
            let (a, b) = (fx.tenant_name("auth"), fx.tenant_name("auth"));
            let mut ids = Vec::new();
            for name in [&a, &b] {
                let r = server
                    .call(
                        "POST",
                        "/v1/tenants",
                        Some(&op),
                        Some(&format!(r#"{{"name":"{name}"}}"#)),
                    )
                    .await?;
                ensure!(r.status == 202, "{r:?}");
                let body = r.json()?;
                server
                    .wait_job(&op, body["job_id"].as_u64().unwrap())
                    .await?;
                ids.push(body["id"].as_u64().unwrap());
            }
            let r = server
                .call(
                    "POST",
                    "/v1/keys",
                    Some(&op),
                    Some(&format!(r#"{{"scope":"tenant","tenant_id":{}}}"#, ids[0])),
                )
                .await?;
            ensure!(r.status == 201, "{r:?}");
            let tk = r.json()?;
            ensure!(tk["scope"] == "tenant" && tk["tenant_id"] == ids[0], "{tk}");
            let tk = tk["secret"].as_str().unwrap().to_string();

            // The tenant key sees its own tenant and nothing else.
            let own = server
                .call("GET", &format!("/v1/tenants/{}", ids[0]), Some(&tk), None)
                .await?;
            ensure!(
                own.status == 200 && own.json()?["name"] == a.as_str(),
                "{own:?}"
            );
            server
                .call("GET", &format!("/v1/tenants/{}", ids[1]), Some(&tk), None)
                .await?
                .problem(403)?;
            server
                .call(
                    "GET",
                    &format!("/v1/tenants/{}/audit", ids[1]),
                    Some(&tk),
                    None,
                )
                .await?
                .problem(403)?;
            let list = server
                .call("GET", "/v1/tenants", Some(&tk), None)
                .await?
                .json()?;
            ensure!(
                list["items"].as_array().map(Vec::len) == Some(1)
                    && list["items"][0]["id"] == ids[0],
                "{list}"
            );
            // Operator-only routes.
            server
                .call("POST", "/v1/tenants", Some(&tk), Some(r#"{"name":"zz"}"#))
                .await?
                .problem(403)?;
            server
                .call(
                    "POST",
                    "/v1/keys",
                    Some(&tk),
                    Some(r#"{"scope":"operator"}"#),
                )
                .await?
                .problem(403)?;
            server
                .call("GET", "/v1/audit", Some(&tk), None)
                .await?
                .problem(403)?;

            // An operator key made through the API works.
            let r = server
                .call(
                    "POST",
                    "/v1/keys",
                    Some(&op),
                    Some(r#"{"scope":"operator"}"#),
                )
                .await?;
            ensure!(r.status == 201, "{r:?}");
            let op2 = r.json()?["secret"].as_str().unwrap().to_string();
            let audit = server
                .call("GET", "/v1/audit?action=key.create", Some(&op2), None)
                .await?
                .json()?;
            let rows = audit["items"].as_array().unwrap();
            ensure!(rows.len() == 3, "{audit}"); // CLI operator key, tenant key, operator key
            ensure!(rows.iter().all(|r| r["outcome"] == "success"), "{audit}");
            ensure!(rows[1]["actor"] == created.id, "{audit}");
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn catalog_down_is_503() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let catalog = fx.catalog().await?;
            let key = catalog.create_api_key(KeyScope::Operator).await?.secret;
            let tracker = tokio_util::task::TaskTracker::new();
            let stop = CancellationToken::new();
            let state = AppState::start(catalog.clone(), &fx.config, stop.clone(), &tracker)?;
            catalog.disconnect().await?; // the shared pool is closed: every query fails
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let server = tokio::spawn(octodb_admin::serve(listener, state, stop.clone()));
            request(addr, "GET", "/v1/tenants", Some(&key), None)
                .await?
                .problem(503)?;
            request(
                addr,
                "POST",
                "/v1/tenants",
                Some(&key),
                Some(r#"{"name":"x"}"#),
            )
            .await?
            .problem(503)?;
            stop.cancel();
            server.await??;
            Ok(())
        })
        .await
}
