//! A tenant's databases over HTTP: add (a job), list, drop (a job). The mapping version moves on
//! each change, the physical database appears and disappears on the backend, tenant keys act
//! only on their tenant, every action is audited.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Result};
use common::{backend_objects, tenant_key, Fixture, Server};

fn names(list: &serde_json::Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn add_list_drop_databases() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("dbs");
            let id = server.ready_tenant(&op, &name).await?;
            let key = tenant_key(&catalog, id).await?;
            let dbs = format!("/v1/tenants/{id}/databases");
            let mapping = catalog.tenant_by_id(id).await?.unwrap().mapping_version;

            let r = server
                .call("POST", &dbs, Some(&key), Some(r#"{"name":"analytics"}"#))
                .await?;
            ensure!(r.status == 202, "{r:?}");
            let accepted = r.json()?;
            ensure!(accepted["name"] == "analytics", "{accepted}");
            let job = server
                .wait_job(&key, accepted["job_id"].as_u64().unwrap())
                .await?;
            ensure!(
                job["status"] == "succeeded"
                    && job["kind"] == "add_database"
                    && job["steps"][0]["step"] == "database:analytics",
                "{job}"
            );
            let list = server.call("GET", &dbs, Some(&key), None).await?.json()?;
            ensure!(names(&list) == ["analytics", "main"], "{list}");
            let after_add = catalog.tenant_by_id(id).await?.unwrap().mapping_version;
            ensure!(after_add > mapping);
            let (physical, _) = backend_objects(&fx, &name).await?;
            ensure!(
                physical == [format!("t_{name}__analytics"), format!("t_{name}__main")],
                "{physical:?}"
            );

            // Duplicates, bad names, bad bodies.
            let r = server
                .call("POST", &dbs, Some(&key), Some(r#"{"name":"analytics"}"#))
                .await?;
            r.problem(409)?;
            for bad in [r#"{"name":"Bad-Name"}"#, r#"{"name":"a__b"}"#, r#"{}"#] {
                server
                    .call("POST", &dbs, Some(&key), Some(bad))
                    .await?
                    .problem(422)?;
            }
            server
                .call("POST", &dbs, Some(&key), Some("{"))
                .await?
                .problem(400)?;

            // Drop.
            let r = server
                .call("DELETE", &format!("{dbs}/analytics"), Some(&key), None)
                .await?;
            ensure!(r.status == 202, "{r:?}");
            let job = server
                .wait_job(&key, r.json()?["job_id"].as_u64().unwrap())
                .await?;
            ensure!(
                job["status"] == "succeeded" && job["kind"] == "drop_database",
                "{job}"
            );
            let list = server.call("GET", &dbs, Some(&op), None).await?.json()?;
            ensure!(names(&list) == ["main"], "{list}");
            ensure!(catalog.tenant_by_id(id).await?.unwrap().mapping_version > after_add);
            let (physical, users) = backend_objects(&fx, &name).await?;
            ensure!(
                physical == [format!("t_{name}__main")] && users == 1,
                "{physical:?}"
            );
            for path in [format!("{dbs}/analytics"), format!("{dbs}/Not-A-Name")] {
                server
                    .call("DELETE", &path, Some(&key), None)
                    .await?
                    .problem(404)?;
            }
            server
                .call("GET", "/v1/tenants/999999/databases", Some(&op), None)
                .await?
                .problem(404)?;

            // Re-adding a dropped name works (the grant is given again).
            let r = server
                .call("POST", &dbs, Some(&op), Some(r#"{"name":"analytics"}"#))
                .await?;
            let job = server
                .wait_job(&op, r.json()?["job_id"].as_u64().unwrap())
                .await?;
            ensure!(job["status"] == "succeeded", "{job}");

            // Audited, failures too.
            for (action, expected) in [
                ("database.create", vec!["success", "failure", "success"]),
                ("database.drop", vec!["success", "failure"]),
                ("add_database.database", vec!["success", "success"]),
                ("drop_database.database", vec!["success"]),
            ] {
                let audit = server
                    .call(
                        "GET",
                        &format!("/v1/tenants/{id}/audit?action={action}"),
                        Some(&op),
                        None,
                    )
                    .await?
                    .json()?;
                let outcomes: Vec<_> = audit["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["outcome"].as_str().unwrap())
                    .collect();
                ensure!(outcomes == expected, "{action}: {audit}");
            }
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn database_scopes_and_states() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let (a, b) = (fx.tenant_name("da"), fx.tenant_name("db"));
            let a_id = server.ready_tenant(&op, &a).await?;
            let b_id = server.ready_tenant(&op, &b).await?;
            let a_key = tenant_key(&catalog, a_id).await?;
            let b_dbs = format!("/v1/tenants/{b_id}/databases");

            server
                .call("GET", &b_dbs, Some(&a_key), None)
                .await?
                .problem(403)?;
            server
                .call("POST", &b_dbs, Some(&a_key), Some(r#"{"name":"x"}"#))
                .await?
                .problem(403)?;
            server
                .call("DELETE", &format!("{b_dbs}/main"), Some(&a_key), None)
                .await?
                .problem(403)?;
            server.call("GET", &b_dbs, None, None).await?.problem(401)?;

            // A suspended tenant's databases can still be managed.
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{b_id}/suspend"),
                    Some(&op),
                    None,
                )
                .await?;
            ensure!(r.status == 200, "{r:?}");
            let r = server
                .call("POST", &b_dbs, Some(&op), Some(r#"{"name":"extra"}"#))
                .await?;
            ensure!(r.status == 202, "{r:?}");
            let job = server
                .wait_job(&op, r.json()?["job_id"].as_u64().unwrap())
                .await?;
            ensure!(job["status"] == "succeeded", "{job}");

            // A tenant being deleted: 409.
            let r = server
                .call("DELETE", &format!("/v1/tenants/{b_id}"), Some(&op), None)
                .await?;
            ensure!(r.status == 202, "{r:?}");
            let job_id = r.json()?["job_id"].as_u64().unwrap();
            let r = server
                .call("POST", &b_dbs, Some(&op), Some(r#"{"name":"late"}"#))
                .await?;
            ensure!(r.status == 409 || r.status == 404, "{r:?}");
            let job = server.wait_job(&op, job_id).await?;
            ensure!(
                job["status"] == "succeeded" && job["steps"].as_array().unwrap().len() == 6,
                "{job}"
            );
            let (physical, users) = backend_objects(&fx, &b).await?;
            ensure!(physical.is_empty() && users == 0, "{physical:?}");
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}
