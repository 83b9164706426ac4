//! Suspend, resume, delete. Deletion is a job: users first (the proxy refuses the tenant at
//! once), then its databases, its backend user, its catalog rows; every step idempotent, so a
//! job interrupted after its side effects resumes at the next start and converges.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Result};
use common::{backend_objects, proxy_login, root_conn, tenant_key, Fixture, Server};
use mysql_async::prelude::Queryable;
use octodb_admin::jobs::delete_tenant;
use octodb_catalog::{CatalogError, JobStatus, NewAudit, NewJob, TenantStatus};

#[tokio::test]
async fn suspend_and_resume() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("sus");
            let id = server.ready_tenant(&op, &name).await?;
            let user = format!("u.{name}");
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{id}/users"),
                    Some(&op),
                    Some(&format!(r#"{{"username":"{user}"}}"#)),
                )
                .await?;
            ensure!(r.status == 201, "{r:?}");

            let key = tenant_key(&catalog, id).await?;
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{id}/suspend"),
                    Some(&key),
                    None,
                )
                .await?;
            r.problem(403)?;

            let v0 = catalog.catalog_version().await?;
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{id}/suspend"),
                    Some(&op),
                    None,
                )
                .await?;
            ensure!(
                r.status == 200 && r.json()?["status"] == "suspended",
                "{r:?}"
            );
            ensure!(catalog.catalog_version().await? > v0);
            let login = catalog.login(&user).await?.unwrap();
            ensure!(login.tenant_status == TenantStatus::Suspended);
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{id}/suspend"),
                    Some(&op),
                    None,
                )
                .await?;
            r.problem(409)?;

            let r = server
                .call("POST", &format!("/v1/tenants/{id}/resume"), Some(&op), None)
                .await?;
            ensure!(r.status == 200 && r.json()?["status"] == "ready", "{r:?}");
            ensure!(catalog.login(&user).await?.unwrap().tenant_status == TenantStatus::Ready);
            let r = server
                .call("POST", &format!("/v1/tenants/{id}/resume"), Some(&op), None)
                .await?;
            r.problem(409)?;
            let r = server
                .call("POST", "/v1/tenants/999999/resume", Some(&op), None)
                .await?;
            r.problem(404)?;

            let audit = server
                .call("GET", &format!("/v1/tenants/{id}/audit"), Some(&op), None)
                .await?
                .json()?;
            let rows: Vec<_> = audit["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["action"] == "tenant.suspend" || r["action"] == "tenant.resume")
                .map(|r| {
                    (
                        r["action"].as_str().unwrap(),
                        r["outcome"].as_str().unwrap(),
                    )
                })
                .collect();
            // Refused keys (403) are not audited, like everywhere else.
            ensure!(
                rows == [
                    ("tenant.suspend", "success"),
                    ("tenant.suspend", "failure"),
                    ("tenant.resume", "success"),
                    ("tenant.resume", "failure"),
                ],
                "{audit}"
            );
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn delete_removes_users_databases_backend_user_and_row() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("del");
            let id = server.ready_tenant(&op, &name).await?;
            let user = format!("u.{name}");
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{id}/users"),
                    Some(&op),
                    Some(&format!(r#"{{"username":"{user}"}}"#)),
                )
                .await?;
            let pw = r.json()?["password"].as_str().unwrap().to_string();
            ensure!(proxy_login(&catalog, &user, &pw).await? == Some(id));
            let key = tenant_key(&catalog, id).await?;
            let r = server
                .call("DELETE", &format!("/v1/tenants/{id}"), Some(&key), None)
                .await?;
            r.problem(403)?;

            // A physical database the catalog never recorded (a crash between creating and
            // recording it) goes too.
            let mut root = root_conn(&fx.config).await?;
            root.query_drop(format!("CREATE DATABASE `t_{name}__orphan`"))
                .await?;
            root.disconnect().await?;

            let v0 = catalog.catalog_version().await?;
            let r = server
                .call("DELETE", &format!("/v1/tenants/{id}"), Some(&op), None)
                .await?;
            ensure!(r.status == 202, "{r:?}");
            let accepted = r.json()?;
            ensure!(
                accepted["status"] == "deleting" && accepted["id"] == id,
                "{accepted}"
            );
            let job = server
                .wait_job(&op, accepted["job_id"].as_u64().unwrap())
                .await?;
            ensure!(
                job["status"] == "succeeded" && job["kind"] == "delete_tenant",
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
                        ("users", "succeeded"),
                        ("database:main", "succeeded"),
                        ("leftover_databases", "succeeded"),
                        ("backend_user", "succeeded"),
                        ("tenant", "succeeded"),
                    ],
                "{job}"
            );
            ensure!(catalog.catalog_version().await? > v0);
            ensure!(catalog.login(&user).await?.is_none());
            let (dbs, users) = backend_objects(&fx, &name).await?;
            ensure!(dbs.is_empty() && users == 0, "{dbs:?} {users}");
            let r = server
                .call("GET", &format!("/v1/tenants/{id}"), Some(&op), None)
                .await?;
            r.problem(404)?;
            // The tenant's key went with it.
            let r = server
                .call("GET", &format!("/v1/tenants/{id}"), Some(&key), None)
                .await?;
            r.problem(401)?;
            let r = server
                .call("DELETE", &format!("/v1/tenants/{id}"), Some(&op), None)
                .await?;
            r.problem(404)?;
            // The audit trail outlives the tenant.
            let audit = server
                .call(
                    "GET",
                    "/v1/audit?action=delete_tenant.tenant",
                    Some(&op),
                    None,
                )
                .await?
                .json()?;
            ensure!(
                audit["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["tenant_id"] == id && r["outcome"] == "success"),
                "{audit}"
            );
            let audit = server
                .call("GET", "/v1/audit?action=tenant.delete", Some(&op), None)
                .await?
                .json()?;
            let outcomes: Vec<_> = audit["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["outcome"].as_str().unwrap())
                .collect();
            ensure!(outcomes == ["success", "failure"], "{audit}");
            // The name is free again.
            server.ready_tenant(&op, &name).await?;
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

/// A deletion interrupted after every side effect but before any success was recorded resumes at
/// the next start and converges; a second deletion is refused while one is pending.
#[tokio::test]
async fn interrupted_deletion_resumes() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("ird");
            let id = server.ready_tenant(&op, &name).await?;
            server.stop().await?;

            let job = NewJob {
                kind: delete_tenant::KIND,
                tenant_id: Some(id),
                payload: "{}",
                created_by: None,
                request_id: Some("test"),
            };
            let audit = NewAudit {
                action: "tenant.delete",
                outcome: "success",
                ..NewAudit::default()
            };
            let job_id = catalog
                .begin_tenant_deletion(id, job.clone(), audit.clone())
                .await?;
            let again = catalog.begin_tenant_deletion(id, job, audit).await;
            ensure!(matches!(again, Err(CatalogError::Conflict(_))), "{again:?}");
            catalog.claim_job(job_id).await?;
            let admin = fx.config.backend.admin();
            catalog.remove_tenant_users(id).await?;
            catalog
                .drop_tenant_database(&admin, id, &"main".parse()?)
                .await?;
            catalog.drop_tenant_backend_user(&admin, id).await?;
            catalog
                .record_step(job_id, "users", "running", None)
                .await?;

            let server = Server::start(&fx.config).await?;
            let job = server.wait_job(&op, job_id).await?;
            ensure!(
                job["status"] == "succeeded" && job["attempts"] == 2,
                "{job}"
            );
            ensure!(catalog.tenant_by_id(id).await?.is_none());
            let (dbs, users) = backend_objects(&fx, &name).await?;
            ensure!(dbs.is_empty() && users == 0, "{dbs:?} {users}");
            ensure!(catalog.job(job_id).await?.unwrap().status == JobStatus::Succeeded);
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

/// A tenant whose provisioning failed before anything reached the backend can be deleted; one
/// with a pending job cannot (409) until the job is done.
#[tokio::test]
async fn delete_failed_tenant() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let admin = fx.config.backend.admin();
            let name = fx.tenant_name("fail");
            let job = NewJob {
                kind: "provision_tenant",
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
            let (id, prov_job) = catalog
                .begin_tenant(&admin, &name.parse()?, job, audit)
                .await?;
            // Pending provisioning: deletion refused.
            let refused = catalog
                .begin_tenant_deletion(
                    id,
                    NewJob {
                        kind: delete_tenant::KIND,
                        tenant_id: Some(id),
                        payload: "{}",
                        created_by: None,
                        request_id: None,
                    },
                    NewAudit {
                        action: "tenant.delete",
                        outcome: "success",
                        ..NewAudit::default()
                    },
                )
                .await;
            ensure!(
                matches!(refused, Err(CatalogError::Conflict(_))),
                "{refused:?}"
            );
            catalog
                .finish_job(prov_job, JobStatus::Failed, Some("test failure"))
                .await?;
            catalog
                .set_tenant_status(id, &[TenantStatus::Provisioning], TenantStatus::Failed)
                .await?;

            let server = Server::start(&fx.config).await?;
            let r = server
                .call("DELETE", &format!("/v1/tenants/{id}"), Some(&op), None)
                .await?;
            ensure!(r.status == 202, "{r:?}");
            let job = server
                .wait_job(&op, r.json()?["job_id"].as_u64().unwrap())
                .await?;
            ensure!(job["status"] == "succeeded", "{job}");
            ensure!(catalog.tenant_by_id(id).await?.is_none());
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}
