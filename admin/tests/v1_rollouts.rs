//! Rollouts of a template version over HTTP, on the real MariaDB: waves (canary, then batches)
//! reach every `auto` database and never a `pinned` one; a wave whose failures pass the threshold
//! stops the rollout, with the failed database restored to its exact earlier schema; a transient
//! failure (a tenant's metadata lock) is retried; pause, resume and cancel; and an admin restart
//! in the middle of a rollout, after which it resumes and every database ends at the target.

#![allow(clippy::unwrap_used)]

mod common;
mod crash_support;

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use common::{request, root_conn, Fixture, Server};
use crash_support::{write_config, AdminProcess, TempDir};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};

const V1: &str = "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL); \
     CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, ref INT NOT NULL)";

/// v1 plus `n` extra columns on `items` (`c1`..`cn`): a new version per step of a test.
fn with_columns(n: usize) -> String {
    let extra: String = (1..=n).map(|i| format!(", c{i} INT NULL")).collect();
    format!(
        "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL{extra}); \
         CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, ref INT NOT NULL)"
    )
}

async fn post(server: &Server, key: &str, path: &str, body: Value) -> Result<common::Response> {
    server
        .call("POST", path, Some(key), Some(&body.to_string()))
        .await
}

async fn show_create(conn: &mut mysql_async::Conn, db: &str, table: &str) -> Result<String> {
    let row: Option<(String, String)> = conn
        .query_first(format!("SHOW CREATE TABLE `{db}`.`{table}`"))
        .await?;
    Ok(row.context("no table")?.1)
}

/// A root template `name` at v1, and `tenants` ready tenants whose `main` follows it on `auto`
/// (all migrated to v1 by a first rollout). Returns (template id, tenant ids, physical dbs).
async fn fleet(
    fx: &Fixture,
    server: &Server,
    op: &str,
    tenants: usize,
) -> Result<(u64, Vec<u64>, Vec<String>)> {
    let r = post(server, op, "/v1/templates", json!({ "name": "base" })).await?;
    ensure!(r.status == 201, "{r:?}");
    let base = r.json()?["id"].as_u64().unwrap();
    push(server, op, base, V1).await?;
    let (mut ids, mut dbs) = (Vec::new(), Vec::new());
    for _ in 0..tenants {
        let name = fx.tenant_name("ro");
        let id = server.ready_tenant(op, &name).await?;
        let body = json!({ "template": "base", "channel": "auto" }).to_string();
        let r = server
            .call(
                "PUT",
                &format!("/v1/tenants/{id}/databases/main/template"),
                Some(op),
                Some(&body),
            )
            .await?;
        ensure!(r.status == 200, "{r:?}");
        ids.push(id);
        dbs.push(format!("t_{name}__main"));
    }
    let r = rollout(server, op, base, 1, json!({ "canary": 0, "batch": 10 })).await?;
    ensure!(r["status"] == "completed", "{r}");
    Ok((base, ids, dbs))
}

async fn push(server: &Server, op: &str, id: u64, schema: &str) -> Result<u64> {
    let r = post(
        server,
        op,
        &format!("/v1/templates/{id}/versions"),
        json!({ "schema": schema }),
    )
    .await?;
    ensure!(r.status == 201, "{r:?}");
    r.json()?["version"].as_u64().context("version")
}

/// Starts a rollout; returns its id.
async fn start_rollout(server: &Server, op: &str, t: u64, v: u64, body: Value) -> Result<u64> {
    let r = post(
        server,
        op,
        &format!("/v1/templates/{t}/versions/{v}/rollout"),
        body,
    )
    .await?;
    ensure!(r.status == 202, "{r:?}");
    r.json()?["id"].as_u64().context("id")
}

async fn get_rollout(server: &Server, op: &str, id: u64) -> Result<Value> {
    server
        .call("GET", &format!("/v1/rollouts/{id}"), Some(op), None)
        .await?
        .json()
}

/// Polls until `done` holds for the rollout (or 60 s pass).
async fn wait_until(
    server: &Server,
    op: &str,
    id: u64,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    for _ in 0..600 {
        let r = get_rollout(server, op, id).await?;
        if done(&r) {
            return Ok(r);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("rollout {id} never reached the expected state")
}

fn ended(r: &Value) -> bool {
    let quiet = r["databases"]
        .as_array()
        .is_some_and(|d| d.iter().all(|d| d["status"] != "running"));
    quiet && ["completed", "stopped", "cancelled"].contains(&r["status"].as_str().unwrap_or(""))
}

/// Runs a rollout to its end.
async fn rollout(server: &Server, op: &str, t: u64, v: u64, body: Value) -> Result<Value> {
    let id = start_rollout(server, op, t, v, body).await?;
    wait_until(server, op, id, ended).await
}

fn db_status(r: &Value, tenant: u64) -> String {
    r["databases"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["tenant_id"] == tenant))
        .and_then(|d| d["status"].as_str())
        .unwrap_or("absent")
        .to_string()
}

#[tokio::test]
async fn waves_reach_auto_databases_only_and_keep_overlays() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let mut root = root_conn(&fx.config).await?;
            let (base, ids, dbs) = fleet(&fx, &server, &op, 3).await?;
            // The first tenant has an overlay; the last one is pinned (at v1).
            let overlay = "CREATE TABLE items (color VARCHAR(20) NULL, KEY ix_color (color))";
            let body = json!({ "template": "base", "channel": "auto", "overlay": overlay });
            let r = server
                .call(
                    "PUT",
                    &format!("/v1/tenants/{}/databases/main/template", ids[0]),
                    Some(&op),
                    Some(&body.to_string()),
                )
                .await?;
            ensure!(r.status == 200, "{r:?}");
            let body = json!({ "template": "base", "channel": "pinned" }).to_string();
            let r = server
                .call(
                    "PUT",
                    &format!("/v1/tenants/{}/databases/main/template", ids[2]),
                    Some(&op),
                    Some(&body),
                )
                .await?;
            ensure!(r.status == 200, "{r:?}");

            let v2 = push(&server, &op, base, &with_columns(1)).await?;
            let id =
                start_rollout(&server, &op, base, v2, json!({ "canary": 1, "batch": 1 })).await?;
            let r = wait_until(&server, &op, id, ended).await?;
            ensure!(r["status"] == "completed", "{r}");
            ensure!(
                db_status(&r, ids[0]) == "done" && db_status(&r, ids[1]) == "done",
                "{r}"
            );
            ensure!(
                db_status(&r, ids[2]) == "absent",
                "a pinned database was reached: {r}"
            );
            let waves = r["waves"].as_array().unwrap();
            ensure!(
                waves.len() == 2
                    && waves[0]["done"] == 1
                    && waves[0]["total"] == 1
                    && waves[1]["done"] == 1,
                "{r}"
            );
            let items0 = show_create(&mut root, &dbs[0], "items").await?;
            ensure!(
                items0.contains("`c1`")
                    && items0.contains("`color`")
                    && items0.contains("`ix_color`"),
                "{items0}"
            );
            ensure!(show_create(&mut root, &dbs[1], "items")
                .await?
                .contains("`c1`"));
            ensure!(!show_create(&mut root, &dbs[2], "items")
                .await?
                .contains("`c1`"));

            // A rollout of the same version again skips everything.
            let again = start_rollout(&server, &op, base, v2, json!({})).await?;
            let r = wait_until(&server, &op, again, ended).await?;
            ensure!(
                r["status"] == "completed" && r["waves"][0]["skipped"] == 2,
                "{r}"
            );

            // Operator only; unknown rollouts; bad settings.
            let key = common::tenant_key(&catalog, ids[0]).await?;
            server
                .call("GET", &format!("/v1/rollouts/{id}"), Some(&key), None)
                .await?
                .problem(403)?;
            server
                .call("GET", "/v1/rollouts/999999", Some(&op), None)
                .await?
                .problem(404)?;
            post(
                &server,
                &op,
                &format!("/v1/templates/{base}/versions/{v2}/rollout"),
                json!({ "batch": 0 }),
            )
            .await?
            .problem(422)?;
            post(&server, &op, &format!("/v1/rollouts/{id}/pause"), json!({}))
                .await?
                .problem(409)?;
            root.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn failures_stop_a_wave_by_threshold_with_restores_and_retries() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let mut root = root_conn(&fx.config).await?;
            let (base, ids, dbs) = fleet(&fx, &server, &op, 3).await?;
            // v2 widens items and adds a unique index on orders.ref, which the first tenant's
            // data violates: its migration fails for good after items was altered.
            root.query_drop(format!(
                "INSERT INTO `{}`.orders VALUES (1, 7), (2, 7)",
                dbs[0]
            ))
            .await?;
            let before = (
                show_create(&mut root, &dbs[0], "items").await?,
                show_create(&mut root, &dbs[0], "orders").await?,
            );
            let v2 = "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, \
                      extra INT NULL); \
                      CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, ref INT NOT NULL, \
                      UNIQUE KEY uq_ref (ref))";
            let v2 = push(&server, &op, base, v2).await?;

            // Threshold 0: the canary's failure stops the rollout; the rest is never started.
            let r = rollout(
                &server,
                &op,
                base,
                v2,
                json!({ "canary": 1, "batch": 2, "max_failures": 0 }),
            )
            .await?;
            ensure!(
                r["status"] == "stopped" && r["error"].as_str().unwrap().contains("wave 0"),
                "{r}"
            );
            ensure!(db_status(&r, ids[0]) == "restored", "{r}");
            ensure!(
                db_status(&r, ids[1]) == "pending" && db_status(&r, ids[2]) == "pending",
                "{r}"
            );
            ensure!(r["waves"][0]["restored"] == 1, "{r}");
            let after = (
                show_create(&mut root, &dbs[0], "items").await?,
                show_create(&mut root, &dbs[0], "orders").await?,
            );
            ensure!(
                after == before,
                "not restored exactly: {after:?} vs {before:?}"
            );
            ensure!(!show_create(&mut root, &dbs[1], "items")
                .await?
                .contains("extra"));

            // Threshold 1, one wave of three: the failure is restored, a transient metadata
            // lock on the third tenant is retried, and the wave completes.
            let mut holder = root_conn(&fx.config).await?;
            holder.query_drop("START TRANSACTION").await?;
            let _: Vec<u64> = holder
                .query(format!("SELECT id FROM `{}`.items", dbs[2]))
                .await?;
            let id = start_rollout(
                &server,
                &op,
                base,
                v2,
                json!({ "canary": 0, "batch": 3, "max_failures": 1, "per_backend": 3 }),
            )
            .await?;
            // Wait for the third tenant's job to have failed an attempt, then release the lock.
            let mut blocked = false;
            for _ in 0..300 {
                let r = get_rollout(&server, &op, id).await?;
                let job = r["databases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|d| d["tenant_id"] == ids[2])
                    .and_then(|d| d["job_id"].as_u64());
                if let Some(job) = job {
                    let j = server
                        .call("GET", &format!("/v1/jobs/{job}"), Some(&op), None)
                        .await?
                        .json()?;
                    if j["attempts"].as_u64() >= Some(2) || j["error"].is_string() {
                        blocked = true;
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            holder.query_drop("ROLLBACK").await?;
            holder.disconnect().await?;
            ensure!(blocked, "the metadata lock never blocked the migration");
            let r = wait_until(&server, &op, id, ended).await?;
            ensure!(r["status"] == "completed", "{r}");
            ensure!(
                db_status(&r, ids[0]) == "restored"
                    && db_status(&r, ids[1]) == "done"
                    && db_status(&r, ids[2]) == "done",
                "{r}"
            );
            let job = r["databases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["tenant_id"] == ids[2])
                .unwrap()["job_id"]
                .as_u64()
                .unwrap();
            let j = server
                .call("GET", &format!("/v1/jobs/{job}"), Some(&op), None)
                .await?
                .json()?;
            ensure!(j["attempts"].as_u64() >= Some(2), "not retried: {j}");
            for db in &dbs[1..] {
                ensure!(show_create(&mut root, db, "orders")
                    .await?
                    .contains("uq_ref"));
            }
            ensure!(show_create(&mut root, &dbs[0], "items").await? == before.0);
            root.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn pause_resume_cancel_and_restart_mid_rollout() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let mut root = root_conn(&fx.config).await?;
            let (base, ids, dbs) = fleet(&fx, &server, &op, 3).await?;
            let canary_running = |r: &Value| r["databases"][0]["status"] == "running";

            // Pause while the canary is held by a tenant's metadata lock.
            let v2 = push(&server, &op, base, &with_columns(1)).await?;
            let mut holder = root_conn(&fx.config).await?;
            holder.query_drop("START TRANSACTION").await?;
            let _: Vec<u64> = holder
                .query(format!("SELECT id FROM `{}`.items", dbs[0]))
                .await?;
            let id =
                start_rollout(&server, &op, base, v2, json!({ "canary": 1, "batch": 1 })).await?;
            wait_until(&server, &op, id, canary_running).await?;
            let r = post(&server, &op, &format!("/v1/rollouts/{id}/pause"), json!({})).await?;
            ensure!(r.status == 200 && r.json()?["status"] == "paused", "{r:?}");
            holder.query_drop("ROLLBACK").await?;
            let r = wait_until(&server, &op, id, |r| r["databases"][0]["status"] == "done").await?;
            tokio::time::sleep(Duration::from_millis(800)).await;
            let r2 = get_rollout(&server, &op, id).await?;
            ensure!(
                r2["status"] == "paused" && db_status(&r2, ids[1]) == "pending",
                "paused yet moved on: {r} {r2}"
            );
            ensure!(!show_create(&mut root, &dbs[1], "items")
                .await?
                .contains("`c1`"));
            let r = post(
                &server,
                &op,
                &format!("/v1/rollouts/{id}/resume"),
                json!({}),
            )
            .await?;
            ensure!(r.status == 200, "{r:?}");
            let r = wait_until(&server, &op, id, ended).await?;
            ensure!(r["status"] == "completed", "{r}");

            // Restart in the middle: the admin stops while the canary is blocked; a new admin
            // resumes the rollout and every database ends at the target.
            let v3 = push(&server, &op, base, &with_columns(2)).await?;
            holder.query_drop("START TRANSACTION").await?;
            let _: Vec<u64> = holder
                .query(format!("SELECT id FROM `{}`.items", dbs[0]))
                .await?;
            let id =
                start_rollout(&server, &op, base, v3, json!({ "canary": 1, "batch": 2 })).await?;
            wait_until(&server, &op, id, canary_running).await?;
            server.stop().await?;
            holder.query_drop("ROLLBACK").await?;
            let server = Server::start(&fx.config).await?;
            let r = wait_until(&server, &op, id, ended).await?;
            ensure!(r["status"] == "completed", "{r}");
            for db in &dbs {
                ensure!(
                    show_create(&mut root, db, "items").await?.contains("`c2`"),
                    "{db}"
                );
            }
            for t in &ids {
                let b = server
                    .call(
                        "GET",
                        &format!("/v1/tenants/{t}/databases/main/template"),
                        Some(&op),
                        None,
                    )
                    .await?
                    .json()?;
                ensure!(b["version"] == v3 && b["status"] == "ok", "{b}");
            }

            // Cancel: the running canary finishes, the others are never started.
            let v4 = push(&server, &op, base, &with_columns(3)).await?;
            holder.query_drop("START TRANSACTION").await?;
            let _: Vec<u64> = holder
                .query(format!("SELECT id FROM `{}`.items", dbs[0]))
                .await?;
            let id =
                start_rollout(&server, &op, base, v4, json!({ "canary": 1, "batch": 2 })).await?;
            wait_until(&server, &op, id, canary_running).await?;
            let r = post(
                &server,
                &op,
                &format!("/v1/rollouts/{id}/cancel"),
                json!({}),
            )
            .await?;
            ensure!(r.status == 200, "{r:?}");
            holder.query_drop("ROLLBACK").await?;
            holder.disconnect().await?;
            let r = wait_until(&server, &op, id, ended).await?;
            ensure!(r["status"] == "cancelled", "{r}");
            ensure!(db_status(&r, ids[0]) == "done", "{r}");
            ensure!(
                db_status(&r, ids[1]) == "cancelled" && db_status(&r, ids[2]) == "cancelled",
                "{r}"
            );
            ensure!(!show_create(&mut root, &dbs[1], "items")
                .await?
                .contains("`c3`"));
            post(
                &server,
                &op,
                &format!("/v1/rollouts/{id}/resume"),
                json!({}),
            )
            .await?
            .problem(409)?;
            root.disconnect().await?;
            server.stop().await
        })
        .await
}

/// The real binary killed (SIGKILL) while the canary's migration is half done (`items` altered,
/// `orders` waiting on a tenant's metadata lock); a new admin resumes the rollout from the
/// catalog, re-plans the canary from its live state, and every database ends at the target.
#[tokio::test]
async fn admin_killed_mid_rollout_resumes_and_leaves_nothing_half_migrated() -> Result<()> {
    let dir = TempDir::new()?;
    let fx = Fixture::new();
    let config_file = write_config(&dir.0, &fx.config)?;
    let dir_path = dir.0.clone();
    let result = fx
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let mut root = root_conn(&fx.config).await?;
            let (base, ids, dbs) = fleet(&fx, &server, &op, 3).await?;
            let v2 = "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, \
                      c1 INT NULL); \
                      CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, ref INT NOT NULL, \
                      c1 INT NULL)";
            let v2 = push(&server, &op, base, v2).await?;
            server.stop().await?;

            let mut holder = root_conn(&fx.config).await?;
            holder.query_drop("START TRANSACTION").await?;
            let _: Vec<u64> = holder
                .query(format!("SELECT id FROM `{}`.orders", dbs[0]))
                .await?;
            let admin =
                AdminProcess::start(&dir_path, "killed", &config_file, &fx.config, None).await?;
            let body = json!({ "canary": 1, "batch": 2 }).to_string();
            let path = format!("/v1/templates/{base}/versions/{v2}/rollout");
            let r = request(admin.addr, "POST", &path, Some(&op), Some(&body)).await?;
            ensure!(r.status == 202, "{r:?}");
            let id = r.json()?["id"].as_u64().unwrap();
            // Wait until the canary's first step (items) is applied and the second is blocked.
            let mut half = false;
            for _ in 0..300 {
                let ro = request(
                    admin.addr,
                    "GET",
                    &format!("/v1/rollouts/{id}"),
                    Some(&op),
                    None,
                )
                .await?
                .json()?;
                if let Some(job) = ro["databases"][0]["job_id"].as_u64() {
                    let j = request(
                        admin.addr,
                        "GET",
                        &format!("/v1/jobs/{job}"),
                        Some(&op),
                        None,
                    )
                    .await?
                    .json()?;
                    let steps = j["steps"].to_string();
                    if steps.contains("apply:1:1") {
                        half = true;
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ensure!(half, "the canary never got half way:\n{}", admin.log_tail());
            drop(admin); // SIGKILL
            tokio::time::sleep(Duration::from_millis(200)).await;
            ensure!(show_create(&mut root, &dbs[0], "items")
                .await?
                .contains("`c1`"));
            ensure!(!show_create(&mut root, &dbs[0], "orders")
                .await?
                .contains("`c1`"));
            holder.query_drop("ROLLBACK").await?;
            holder.disconnect().await?;

            let server = Server::start(&fx.config).await?;
            let r = wait_until(&server, &op, id, ended).await?;
            ensure!(r["status"] == "completed", "{r}");
            for db in &dbs {
                for table in ["items", "orders"] {
                    let sql = show_create(&mut root, db, table).await?;
                    ensure!(sql.contains("`c1`"), "{db}.{table}: {sql}");
                }
            }
            for t in &ids {
                let b = server
                    .call(
                        "GET",
                        &format!("/v1/tenants/{t}/databases/main/template"),
                        Some(&op),
                        None,
                    )
                    .await?
                    .json()?;
                ensure!(b["version"] == v2 && b["status"] == "ok", "{b}");
            }
            root.disconnect().await?;
            server.stop().await
        })
        .await;
    dir.remove();
    result
}

/// The plan step's detail of `tenant`'s migration in rollout `r`: `N steps (workspace K, from F)`.
async fn plan_detail(server: &Server, op: &str, r: &Value, tenant: u64) -> Result<String> {
    let job = r["databases"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["tenant_id"] == tenant))
        .and_then(|d| d["job_id"].as_u64())
        .with_context(|| format!("no job for tenant {tenant}: {r}"))?;
    let j = server
        .call("GET", &format!("/v1/jobs/{job}"), Some(op), None)
        .await?
        .json()?;
    let step = j["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == "plan:1"))
        .with_context(|| format!("no plan step: {j}"))?;
    Ok(step["detail"].as_str().unwrap_or_default().to_string())
}

/// What a plan step's detail says: `N steps (workspace K built|shared, from F planned|reused)`.
#[derive(Debug)]
struct Shared {
    workspace: String,
    built: bool,
    from: String,
    planned: bool,
}

fn shared_ids(detail: &str) -> Result<Shared> {
    let inner = detail
        .split_once("(workspace ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .with_context(|| format!("unexpected plan detail {detail:?}"))?;
    let words: Vec<&str> = inner.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    match words.as_slice() {
        [key, built, "from", from, planned] => Ok(Shared {
            workspace: key.to_string(),
            built: *built == "built",
            from: from.to_string(),
            planned: *planned == "planned",
        }),
        _ => bail!("unexpected plan detail {detail:?}"),
    }
}

/// Databases with the same desired schema share one workspace; those also starting from the
/// same live state share one plan. A database whose live state differs (an out-of-band column)
/// gets a plan of its own from the same workspace, and one with an overlay gets its own
/// workspace; every one of them still ends at the target, verified.
#[tokio::test]
async fn identical_databases_share_one_workspace_and_one_plan() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let mut root = root_conn(&fx.config).await?;
            let (base, ids, dbs) = fleet(&fx, &server, &op, 4).await?;
            let overlay = "CREATE TABLE orders (note VARCHAR(20) NULL)";
            let body = json!({ "template": "base", "channel": "auto", "overlay": overlay });
            let r = server
                .call(
                    "PUT",
                    &format!("/v1/tenants/{}/databases/main/template", ids[3]),
                    Some(&op),
                    Some(&body.to_string()),
                )
                .await?;
            ensure!(r.status == 200, "{r:?}");
            // Out of band: the third tenant already has v2's column.
            root.query_drop(format!(
                "ALTER TABLE `{}`.items ADD COLUMN c1 INT NULL",
                dbs[2]
            ))
            .await?;

            let v2 = push(&server, &op, base, &with_columns(1)).await?;
            let r = rollout(
                &server,
                &op,
                base,
                v2,
                json!({ "canary": 0, "batch": 10, "per_backend": 4 }),
            )
            .await?;
            ensure!(r["status"] == "completed", "{r}");
            let mut shared = Vec::new();
            for t in &ids {
                ensure!(db_status(&r, *t) == "done", "{r}");
                shared.push(shared_ids(&plan_detail(&server, &op, &r, *t).await?)?);
            }
            // Tenants 0-2 have the same desired schema: one workspace, built once.
            let same = &shared[..3];
            ensure!(
                same.iter().all(|s| s.workspace == shared[0].workspace)
                    && same.iter().filter(|s| s.built).count() == 1,
                "not one shared workspace: {shared:?}"
            );
            // Tenants 0 and 1 also start from the same state: one plan, computed once.
            ensure!(
                shared[0].from == shared[1].from && shared[0].planned != shared[1].planned,
                "not one shared plan: {shared:?}"
            );
            ensure!(
                shared[2].from != shared[0].from && shared[2].planned,
                "another live state needs a plan of its own: {shared:?}"
            );
            ensure!(
                shared[3].workspace != shared[0].workspace && shared[3].built,
                "an overlay needs a workspace of its own: {shared:?}"
            );
            for db in &dbs {
                ensure!(show_create(&mut root, db, "items").await?.contains("`c1`"));
            }
            ensure!(show_create(&mut root, &dbs[3], "orders")
                .await?
                .contains("`note`"));
            root.disconnect().await?;
            server.stop().await
        })
        .await
}

async fn schema_exists(root: &mut mysql_async::Conn, name: &str) -> Result<bool> {
    let found: Option<String> = root
        .exec_first(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (name,),
        )
        .await?;
    Ok(found.is_some())
}

/// A workspace left on the backend by a crashed admin (an hour old) is dropped when an admin
/// starts.
#[tokio::test]
async fn leftover_workspaces_are_dropped_at_start() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let mut root = root_conn(&fx.config).await?;
            let hour_ago = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs()
                - 3600;
            let random = hex::encode(rand::random::<[u8; 4]>());
            let name = format!("octodb_ws_{hour_ago}_0123456789ab_{random}");
            root.query_drop(format!("CREATE DATABASE `{name}`")).await?;
            ensure!(schema_exists(&mut root, &name).await?);
            let server = Server::start(&fx.config).await?;
            let mut gone = false;
            for _ in 0..100 {
                if !schema_exists(&mut root, &name).await? {
                    gone = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !gone {
                root.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await?;
            }
            ensure!(gone, "the leftover workspace {name} was not dropped");
            root.disconnect().await?;
            server.stop().await
        })
        .await
}
