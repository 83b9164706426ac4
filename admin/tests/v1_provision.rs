//! Asynchronous provisioning: POST a tenant, poll its job, the backend database and user exist;
//! jobs interrupted after any step resume at the next start and converge to exactly one database
//! and one backend user; every action and step is in the audit log.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Result};
use common::{root_conn, Fixture, Server};
use mysql_async::prelude::Queryable;
use octodb_admin::jobs::provision_tenant;
use octodb_catalog::{BackendAdmin, Catalog, JobStatus, NewAudit, NewJob, TenantName};

/// (physical databases of the tenant, backend users of the tenant) as seen by root.
async fn backend_objects(fx: &Fixture, tenant: &str) -> Result<(Vec<String>, u64)> {
    let mut conn = root_conn(&fx.config).await?;
    let dbs: Vec<String> = conn
        .exec(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
            (format!("t\\_{tenant}\\_\\_%"),),
        )
        .await?;
    let users: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM mysql.user WHERE user = ?",
            (format!("t_{tenant}"),),
        )
        .await?;
    conn.disconnect().await?;
    Ok((dbs, users.unwrap_or(0)))
}

#[tokio::test]
async fn provision_end_to_end() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("prov");
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
            ensure!(
                created["name"] == name.as_str() && created["status"] == "provisioning",
                "{created}"
            );
            let (id, job_id) = (
                created["id"].as_u64().unwrap(),
                created["job_id"].as_u64().unwrap(),
            );

            let job = server.wait_job(&op, job_id).await?;
            ensure!(
                job["status"] == "succeeded" && job["attempts"] == 1,
                "{job}"
            );
            ensure!(
                job["kind"] == "provision_tenant" && job.get("error").is_none(),
                "{job}"
            );
            let steps: Vec<_> = job["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s["step"].as_str().unwrap(), s["status"].as_str().unwrap()))
                .collect();
            ensure!(
                steps
                    == [
                        ("backend_user", "succeeded"),
                        ("database:main", "succeeded"),
                        ("ready", "succeeded")
                    ],
                "{job}"
            );

            let tenant = server
                .call("GET", &format!("/v1/tenants/{id}"), Some(&op), None)
                .await?
                .json()?;
            ensure!(tenant["status"] == "ready", "{tenant}");
            ensure!(
                tenant["databases"] == serde_json::json!([{ "name": "main" }]),
                "{tenant}"
            );
            let (dbs, users) = backend_objects(&fx, &name).await?;
            ensure!(
                dbs == [format!("t_{name}__main")] && users == 1,
                "{dbs:?} {users}"
            );
            // The catalog records the backend user.
            let login = catalog
                .tenant_by_name(&TenantName::parse(&name)?)
                .await?
                .unwrap();
            ensure!(login.backend_user.as_deref() == Some(format!("t_{name}").as_str()));

            // Listing, paginated.
            let second = fx.tenant_name("prov");
            let r = server
                .call(
                    "POST",
                    "/v1/tenants",
                    Some(&op),
                    Some(&format!(r#"{{"name":"{second}"}}"#)),
                )
                .await?;
            server
                .wait_job(&op, r.json()?["job_id"].as_u64().unwrap())
                .await?;
            let page1 = server
                .call("GET", "/v1/tenants?limit=1", Some(&op), None)
                .await?
                .json()?;
            ensure!(page1["items"][0]["name"] == name.as_str(), "{page1}");
            let next = page1["next"].as_str().unwrap();
            let page2 = server
                .call(
                    "GET",
                    &format!("/v1/tenants?limit=1&after={next}"),
                    Some(&op),
                    None,
                )
                .await?
                .json()?;
            ensure!(page2["items"][0]["name"] == second.as_str(), "{page2}");
            let page3 = server
                .call(
                    "GET",
                    &format!(
                        "/v1/tenants?limit=1&after={}",
                        page2["next"].as_str().unwrap()
                    ),
                    Some(&op),
                    None,
                )
                .await?
                .json()?;
            ensure!(
                page3["items"] == serde_json::json!([]) && page3["next"].is_null(),
                "{page3}"
            );

            // Audit: the action and each step, with the actor and the request id.
            let audit = server
                .call("GET", &format!("/v1/tenants/{id}/audit"), Some(&op), None)
                .await?
                .json()?;
            let rows = audit["items"].as_array().unwrap();
            let actions: Vec<_> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
            ensure!(
                actions
                    == [
                        "tenant.create",
                        "provision_tenant.backend_user",
                        "provision_tenant.database",
                        "provision_tenant.ready"
                    ],
                "{audit}"
            );
            ensure!(rows.iter().all(|r| r["outcome"] == "success"), "{audit}");
            ensure!(
                rows.iter()
                    .all(|r| r["request_id"] == rows[0]["request_id"]),
                "{audit}"
            );
            ensure!(rows
                .iter()
                .all(|r| r["actor"] == rows[0]["actor"] && r["actor"].is_u64()));
            let filtered = server
                .call(
                    "GET",
                    &format!("/v1/tenants/{id}/audit?action=provision_tenant.database"),
                    Some(&op),
                    None,
                )
                .await?
                .json()?;
            ensure!(
                filtered["items"].as_array().map(Vec::len) == Some(1),
                "{filtered}"
            );
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

/// Sets up a tenant whose provisioning job was interrupted after `done` of its three steps (the
/// next step recorded as running, as a crash would leave it). Returns (tenant id, job id).
async fn interrupted(
    catalog: &Catalog,
    admin: &BackendAdmin,
    name: &str,
    done: usize,
) -> Result<(u64, u64)> {
    let name = TenantName::parse(name)?;
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
    let (tenant_id, job_id) = catalog.begin_tenant(admin, &name, job, audit).await?;
    catalog.claim_job(job_id).await?;
    let steps = ["backend_user", "database:main", "ready"];
    if done >= 1 {
        catalog.ensure_tenant_backend_user(admin, tenant_id).await?;
    }
    if done >= 2 {
        catalog
            .ensure_tenant_database(admin, tenant_id, &"main".parse()?)
            .await?;
    }
    for step in &steps[..done] {
        catalog.record_step(job_id, step, "succeeded", None).await?;
    }
    // The next step's work half done (its effect present, its success not recorded).
    catalog
        .record_step(job_id, steps[done], "running", None)
        .await?;
    if done == 0 {
        catalog.ensure_tenant_backend_user(admin, tenant_id).await?;
    }
    if done == 1 {
        catalog
            .ensure_tenant_database(admin, tenant_id, &"main".parse()?)
            .await?;
    }
    Ok((tenant_id, job_id))
}

#[tokio::test]
async fn interrupted_jobs_resume_at_start() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let catalog = fx.catalog().await?;
            let admin = fx.config.backend.admin();
            let mut cases = Vec::new();
            for done in 0..3 {
                let name = fx.tenant_name("res");
                let (tenant_id, job_id) = interrupted(&catalog, &admin, &name, done).await?;
                let job = catalog.job(job_id).await?.unwrap();
                ensure!(job.status == JobStatus::Running && job.attempts == 1);
                cases.push((name, tenant_id, job_id));
            }
            let op = fx.operator_key(&catalog).await?;

            // A new instance resumes all of them.
            let server = Server::start(&fx.config).await?;
            for (name, tenant_id, job_id) in &cases {
                let job = server.wait_job(&op, *job_id).await?;
                ensure!(
                    job["status"] == "succeeded" && job["attempts"] == 2,
                    "{job}"
                );
                let steps = job["steps"].as_array().unwrap();
                ensure!(steps.len() == 3, "{job}");
                ensure!(steps.iter().all(|s| s["status"] == "succeeded"), "{job}");
                let tenant = server
                    .call("GET", &format!("/v1/tenants/{tenant_id}"), Some(&op), None)
                    .await?
                    .json()?;
                ensure!(tenant["status"] == "ready", "{tenant}");
                let (dbs, users) = backend_objects(&fx, name).await?;
                ensure!(
                    dbs == [format!("t_{name}__main")] && users == 1,
                    "{dbs:?} {users}"
                );
            }
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn failing_job_retries_then_fails_the_tenant() -> Result<()> {
    let mut fx = Fixture::new();
    fx.config.backend.admin_password = "not-the-password".to_string();
    fx.config.jobs.max_attempts = 2;
    fx.run(|fx| async move {
        let server = Server::start(&fx.config).await?;
        let catalog = fx.catalog().await?;
        let op = fx.operator_key(&catalog).await?;
        let name = fx.tenant_name("fail");
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
            .wait_job(&op, created["job_id"].as_u64().unwrap())
            .await?;
        ensure!(job["status"] == "failed" && job["attempts"] == 2, "{job}");
        ensure!(
            job["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{job}"
        );
        ensure!(job["steps"][0]["status"] == "failed", "{job}");
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
        ensure!(tenant["status_reason"] == job["error"], "{tenant}");
        let failed = server
            .call(
                "GET",
                "/v1/audit?action=provision_tenant.failed",
                Some(&op),
                None,
            )
            .await?
            .json()?;
        ensure!(
            failed["items"].as_array().map(Vec::len) == Some(1),
            "{failed}"
        );
        let steps = server
            .call(
                "GET",
                "/v1/audit?action=provision_tenant.backend_user",
                Some(&op),
                None,
            )
            .await?
            .json()?;
        let outcomes: Vec<_> = steps["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["outcome"].clone())
            .collect();
        ensure!(outcomes == ["failure", "failure"], "{steps}");
        catalog.disconnect().await?;
        server.stop().await
    })
    .await
}
