//! Hierarchical schema templates over HTTP, on the real MariaDB: the tree base -> retail -> two
//! tenants (one `auto` with an overlay adding a column and an index, one `pinned`). Versions are
//! validated on the server (422 with its own message), a parent's version cascades to the child
//! template, dry runs list only the databases that follow, the pinned database moves only when
//! it opts in, an overlay conflicting with a parent's change is reported and not applied, and a
//! destructive change is refused without an explicit allow and applied with it.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Context, Result};
use common::{root_conn, tenant_key, Fixture, Server};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};

const BASE_V1: &str = "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL)";
const RETAIL_V1: &str =
    "CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, item_id INT NOT NULL, qty INT NOT NULL DEFAULT 1)";
const OVERLAY: &str = "CREATE TABLE items (color VARCHAR(20) NULL, KEY ix_color (color))";
const BASE_V2: &str =
    "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, \
     price INT NULL); CREATE TABLE tags (id INT NOT NULL PRIMARY KEY, label VARCHAR(30) NOT NULL)";
/// Also defines `color`, differently from the overlay: a conflict for the overlay tenant.
const BASE_V3: &str =
    "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, \
     price INT NULL, color VARCHAR(50) NULL); \
     CREATE TABLE tags (id INT NOT NULL PRIMARY KEY, label VARCHAR(30) NOT NULL)";
/// Drops `price` (and `color` again): destructive.
const BASE_V4: &str =
    "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL); \
     CREATE TABLE tags (id INT NOT NULL PRIMARY KEY, label VARCHAR(30) NOT NULL)";

/// SHOW CREATE TABLE of `db`.`table`, `None` if it does not exist.
async fn show_create(
    conn: &mut mysql_async::Conn,
    db: &str,
    table: &str,
) -> Result<Option<String>> {
    let r: Result<Option<(String, String)>, _> = conn
        .query_first(format!("SHOW CREATE TABLE `{db}`.`{table}`"))
        .await;
    match r {
        Ok(row) => Ok(row.map(|(_, sql)| sql)),
        Err(mysql_async::Error::Server(e)) if e.code == 1146 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn post(server: &Server, key: &str, path: &str, body: Value) -> Result<common::Response> {
    server
        .call("POST", path, Some(key), Some(&body.to_string()))
        .await
}

/// Creates a template (201) and returns its id.
async fn template(server: &Server, op: &str, name: &str, parent: Option<&str>) -> Result<u64> {
    let mut body = json!({ "name": name });
    if let Some(p) = parent {
        body["parent"] = p.into();
    }
    let r = post(server, op, "/v1/templates", body).await?;
    ensure!(r.status == 201, "{r:?}");
    r.json()?["id"].as_u64().context("id")
}

/// Pushes a version (201); returns the response.
async fn push(server: &Server, op: &str, id: u64, schema: &str) -> Result<Value> {
    let r = post(
        server,
        op,
        &format!("/v1/templates/{id}/versions"),
        json!({ "schema": schema }),
    )
    .await?;
    ensure!(r.status == 201, "{r:?}");
    r.json()
}

/// Opts a database in to `version` and waits for the job; returns the finished job.
async fn opt_in(
    server: &Server,
    key: &str,
    tenant: u64,
    version: u64,
    allow: &[&str],
) -> Result<Value> {
    let r = post(
        server,
        key,
        &format!("/v1/tenants/{tenant}/databases/main/template/opt-in"),
        json!({ "version": version, "allow": allow }),
    )
    .await?;
    ensure!(r.status == 202, "{r:?}");
    server
        .wait_job(key, r.json()?["job_id"].as_u64().context("job_id")?)
        .await
}

async fn binding(server: &Server, key: &str, tenant: u64) -> Result<Value> {
    let r = server
        .call(
            "GET",
            &format!("/v1/tenants/{tenant}/databases/main/template"),
            Some(key),
            None,
        )
        .await?;
    ensure!(r.status == 200, "{r:?}");
    r.json()
}

/// The dry run of `template` at `version` under `allow`.
async fn plan(server: &Server, op: &str, id: u64, v: u64, allow: &[&str]) -> Result<Value> {
    let r = post(
        server,
        op,
        &format!("/v1/templates/{id}/versions/{v}/plan"),
        json!({ "allow": allow }),
    )
    .await?;
    ensure!(r.status == 200, "{r:?}");
    r.json()
}

fn derived_version(pushed: &Value, template_id: u64) -> Result<u64> {
    pushed["derived"]
        .as_array()
        .context("derived")?
        .iter()
        .find(|d| d["template_id"] == template_id)
        .and_then(|d| d["version"].as_u64())
        .with_context(|| format!("no derived version of {template_id} in {pushed}"))
}

#[tokio::test]
async fn template_tree_cascades_with_overlays_pins_conflicts_and_lint() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let (na, nb) = (fx.tenant_name("tpla"), fx.tenant_name("tplb"));
            let a = server.ready_tenant(&op, &na).await?;
            let b = server.ready_tenant(&op, &nb).await?;
            let (ka, kb) = (tenant_key(&catalog, a).await?, tenant_key(&catalog, b).await?);
            let (dba, dbb) = (format!("t_{na}__main"), format!("t_{nb}__main"));
            let mut root = root_conn(&fx.config).await?;

            // Templates: operator only; names unique; parents must exist.
            post(&server, &ka, "/v1/templates", json!({ "name": "x" }))
                .await?
                .problem(403)?;
            let base = template(&server, &op, "base", None).await?;
            post(&server, &op, "/v1/templates", json!({ "name": "base" }))
                .await?
                .problem(409)?;
            post(&server, &op, "/v1/templates", json!({ "name": "Bad Name" }))
                .await?
                .problem(422)?;
            post(&server, &op, "/v1/templates", json!({ "name": "y", "parent": "nope" }))
                .await?
                .problem(404)?;

            // Versions are validated: sqlparser first, then the server's own message.
            let versions = format!("/v1/templates/{base}/versions");
            let p = post(&server, &op, &versions, json!({ "schema": "CREATE TABLE t (id INT PRIMARY KEY, KEY ix (nope))" }))
                .await?
                .problem(422)?;
            ensure!(
                p["detail"].as_str().unwrap().contains("Key column 'nope' doesn't exist"),
                "{p}"
            );
            ensure!(!p["detail"].as_str().unwrap().contains("octodb_ws_"), "{p}");
            post(&server, &op, &versions, json!({ "schema": "DROP TABLE items" }))
                .await?
                .problem(422)?;
            post(&server, &op, &versions, json!({ "schema": "CREATE TABLE (" }))
                .await?
                .problem(422)?;
            // The child cannot get a version before its parent has one.
            let retail = template(&server, &op, "retail", Some("base")).await?;
            post(&server, &op, &format!("/v1/templates/{retail}/versions"), json!({ "schema": RETAIL_V1 }))
                .await?
                .problem(422)?;
            ensure!(push(&server, &op, base, BASE_V1).await?["version"] == 1);
            let r1 = push(&server, &op, retail, RETAIL_V1).await?;
            ensure!(r1["version"] == 1 && r1["derived"] == json!([]), "{r1}");
            // A base change that a child template defines differently is refused: the tree
            // itself never holds conflicts.
            let clash = format!("{BASE_V1}; CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY)");
            let p = post(&server, &op, &versions, json!({ "schema": clash }))
                .await?
                .problem(422)?;
            ensure!(p["detail"].as_str().unwrap().contains("orders"), "{p}");
            let t = server
                .call("GET", &format!("/v1/templates/{retail}"), Some(&op), None)
                .await?
                .json()?;
            ensure!(
                t["parent_id"] == base
                    && t["versions"][0]["parent_version"] == 1
                    && t["versions"][0]["schema"] == RETAIL_V1,
                "{t}"
            );
            let list = server.call("GET", "/v1/templates", Some(&op), None).await?.json()?;
            ensure!(list["items"].as_array().map(Vec::len) == Some(2), "{list}");

            // Bindings: A auto with an overlay (column + index), B pinned. Overlays validated.
            let bind = |t: u64| format!("/v1/tenants/{t}/databases/main/template");
            let bad = json!({ "template": "retail", "channel": "auto", "overlay": "CREATE TABLE items (KEY ix (nope))" });
            server.call("PUT", &bind(a), Some(&ka), Some(&bad.to_string())).await?.problem(422)?;
            let wrong_channel = json!({ "template": "retail", "channel": "sometimes" });
            server.call("PUT", &bind(a), Some(&ka), Some(&wrong_channel.to_string())).await?.problem(422)?;
            let body = json!({ "template": "retail", "channel": "auto", "overlay": OVERLAY });
            server.call("PUT", &bind(a), Some(&kb), Some(&body.to_string())).await?.problem(403)?;
            let r = server.call("PUT", &bind(a), Some(&ka), Some(&body.to_string())).await?;
            ensure!(r.status == 200, "{r:?}");
            ensure!(r.json()?["version"].is_null());
            let body = json!({ "template": "retail", "channel": "pinned" });
            let r = server.call("PUT", &bind(b), Some(&kb), Some(&body.to_string())).await?;
            ensure!(r.status == 200, "{r:?}");

            // Both start at retail v1 (A with its overlay).
            for (t, k) in [(a, &ka), (b, &kb)] {
                let job = opt_in(&server, k, t, 1, &[]).await?;
                ensure!(job["status"] == "succeeded" && job["kind"] == "migrate_database", "{job}");
                let bd = binding(&server, k, t).await?;
                ensure!(bd["version"] == 1 && bd["status"] == "ok", "{bd}");
            }
            let items_a = show_create(&mut root, &dba, "items").await?.context("items")?;
            ensure!(items_a.contains("`color`") && items_a.contains("KEY `ix_color`"), "{items_a}");
            ensure!(show_create(&mut root, &dbb, "orders").await?.is_some());
            ensure!(!show_create(&mut root, &dbb, "items").await?.unwrap().contains("color"));

            // base v2 (a table and a column) cascades to retail as a derived version.
            let pushed = push(&server, &op, base, BASE_V2).await?;
            let retail_v2 = derived_version(&pushed, retail)?;
            let dry = plan(&server, &op, base, 2, &[]).await?;
            let dbs = dry["databases"].as_array().context("databases")?;
            ensure!(dbs.len() == 1 && dbs[0]["tenant_id"] == a, "only the auto database follows: {dry}");
            ensure!(dbs[0]["status"] == "ready" && dbs[0]["to_version"] == retail_v2, "{dry}");
            let statements = dbs[0]["statements"].to_string();
            ensure!(statements.contains("price") && statements.contains("tags"), "{dry}");
            // The dry run applied nothing.
            ensure!(show_create(&mut root, &dba, "tags").await?.is_none());

            // The auto database gets it and keeps its overlay; the pinned one does not.
            let job = opt_in(&server, &op, a, retail_v2, &[]).await?;
            ensure!(job["status"] == "succeeded", "{job}");
            let items_a = show_create(&mut root, &dba, "items").await?.unwrap();
            ensure!(items_a.contains("`price`") && items_a.contains("`color`") && items_a.contains("`ix_color`"), "{items_a}");
            ensure!(show_create(&mut root, &dba, "tags").await?.is_some());
            ensure!(!show_create(&mut root, &dbb, "items").await?.unwrap().contains("price"));
            ensure!(binding(&server, &kb, b).await?["version"] == 1);
            // Until it opts in.
            let job = opt_in(&server, &kb, b, retail_v2, &[]).await?;
            ensure!(job["status"] == "succeeded", "{job}");
            ensure!(show_create(&mut root, &dbb, "items").await?.unwrap().contains("`price`"));
            ensure!(show_create(&mut root, &dbb, "tags").await?.is_some());

            // base v3 defines `color` differently from A's overlay: a conflict, reported, not applied.
            let pushed = push(&server, &op, base, BASE_V3).await?;
            let retail_v3 = derived_version(&pushed, retail)?;
            let dry = plan(&server, &op, base, 3, &[]).await?;
            let dbs = dry["databases"].as_array().unwrap();
            ensure!(dbs.len() == 1 && dbs[0]["status"] == "conflict", "{dry}");
            ensure!(dbs[0]["conflicts"][0]["table"] == "items" && dbs[0]["statements"] == json!([]), "{dry}");
            let before = show_create(&mut root, &dba, "items").await?;
            let job = opt_in(&server, &op, a, retail_v3, &[]).await?;
            ensure!(job["status"] == "failed" && job["error"].as_str().unwrap().contains("conflict"), "{job}");
            let bd = binding(&server, &ka, a).await?;
            ensure!(bd["status"] == "conflict" && bd["version"] == retail_v2, "{bd}");
            ensure!(show_create(&mut root, &dba, "items").await? == before);

            // base v4 drops `price`: refused without an allow, applied with one.
            let pushed = push(&server, &op, base, BASE_V4).await?;
            let retail_v4 = derived_version(&pushed, retail)?;
            let dry = plan(&server, &op, base, 4, &[]).await?;
            let a_plan = &dry["databases"][0];
            ensure!(a_plan["status"] == "refused", "{dry}");
            ensure!(a_plan["refused"][0]["kind"] == "drop_column", "{dry}");
            let dry = plan(&server, &op, base, 4, &["drop_column:items.price"]).await?;
            ensure!(dry["databases"][0]["status"] == "ready", "{dry}");
            post(&server, &op, &format!("/v1/templates/{base}/versions/4/plan"), json!({ "allow": ["drop_everything"] }))
                .await?
                .problem(422)?;
            let job = opt_in(&server, &kb, b, retail_v4, &[]).await?;
            ensure!(job["status"] == "failed" && job["error"].as_str().unwrap().contains("drop_column:items.price"), "{job}");
            ensure!(show_create(&mut root, &dbb, "items").await?.unwrap().contains("`price`"));
            ensure!(binding(&server, &kb, b).await?["version"] == retail_v2);
            let job = opt_in(&server, &kb, b, retail_v4, &["drop_column"]).await?;
            ensure!(job["status"] == "succeeded", "{job}");
            ensure!(!show_create(&mut root, &dbb, "items").await?.unwrap().contains("price"));
            let bd = binding(&server, &kb, b).await?;
            ensure!(bd["version"] == retail_v4 && bd["status"] == "ok", "{bd}");

            root.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn template_routes_refuse_bad_requests() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("tplbad");
            let t = server.ready_tenant(&op, &name).await?;
            let key = tenant_key(&catalog, t).await?;
            server
                .call("GET", "/v1/templates/999", Some(&op), None)
                .await?
                .problem(404)?;
            server
                .call("GET", "/v1/templates", Some(&key), None)
                .await?
                .problem(403)?;
            post(
                &server,
                &op,
                "/v1/templates/999/versions",
                json!({ "schema": BASE_V1 }),
            )
            .await?
            .problem(404)?;
            post(&server, &op, "/v1/templates/1/versions/x/plan", json!({}))
                .await?
                .problem(404)?;
            let base = template(&server, &op, "base", None).await?;
            post(
                &server,
                &op,
                &format!("/v1/templates/{base}/versions/1/plan"),
                json!({}),
            )
            .await?
            .problem(404)?;
            // Binding to an unknown template, or a template without versions.
            let bind = format!("/v1/tenants/{t}/databases/main/template");
            let body = json!({ "template": "nope", "channel": "auto" }).to_string();
            server
                .call("PUT", &bind, Some(&key), Some(&body))
                .await?
                .problem(404)?;
            let body = json!({ "template": "base", "channel": "auto" }).to_string();
            server
                .call("PUT", &bind, Some(&key), Some(&body))
                .await?
                .problem(422)?;
            server
                .call("GET", &bind, Some(&key), None)
                .await?
                .problem(404)?;
            let body = json!({ "template": "base", "channel": "auto" }).to_string();
            server
                .call(
                    "PUT",
                    &format!("/v1/tenants/{t}/databases/nodb/template"),
                    Some(&key),
                    Some(&body),
                )
                .await?
                .problem(404)?;
            post(
                &server,
                &key,
                &format!("{bind}/opt-in"),
                json!({ "version": 1 }),
            )
            .await?
            .problem(404)?;
            server.stop().await
        })
        .await
}

/// Waits until job `id` has recorded a failed step (its first attempt failed).
async fn wait_failed_step(server: &Server, key: &str, id: u64) -> Result<Value> {
    for _ in 0..400 {
        let job = server
            .call("GET", &format!("/v1/jobs/{id}"), Some(key), None)
            .await?
            .json()?;
        let failed = job["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["status"] == "failed"));
        if failed || job["status"] == "succeeded" || job["status"] == "failed" {
            return Ok(job);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("job {id} never failed a step")
}

#[tokio::test]
async fn migrations_retry_transient_failures_and_restore_after_permanent_ones() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("tplf");
            let t = server.ready_tenant(&op, &name).await?;
            let db = format!("t_{name}__main");
            let mut root = root_conn(&fx.config).await?;
            let base = template(&server, &op, "base", None).await?;
            let v1 =
                "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL); \
                      CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, ref INT NOT NULL)";
            push(&server, &op, base, v1).await?;
            let body = json!({ "template": "base", "channel": "auto" }).to_string();
            let r = server
                .call(
                    "PUT",
                    &format!("/v1/tenants/{t}/databases/main/template"),
                    Some(&op),
                    Some(&body),
                )
                .await?;
            ensure!(r.status == 200, "{r:?}");
            ensure!(opt_in(&server, &op, t, 1, &[]).await?["status"] == "succeeded");

            // Transient: a tenant transaction holds a metadata lock on `items`; the ALTER times
            // out (1205), the job is retried with backoff and succeeds once the lock is gone.
            let v2 = "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, \
                      note VARCHAR(20) NULL); \
                      CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, ref INT NOT NULL)";
            push(&server, &op, base, v2).await?;
            let mut holder = root_conn(&fx.config).await?;
            holder.query_drop("START TRANSACTION").await?;
            let _: Vec<u64> = holder.query(format!("SELECT id FROM `{db}`.items")).await?;
            let r = post(
                &server,
                &op,
                &format!("/v1/tenants/{t}/databases/main/template/opt-in"),
                json!({ "version": 2 }),
            )
            .await?;
            ensure!(r.status == 202, "{r:?}");
            let job_id = r.json()?["job_id"].as_u64().unwrap();
            let first = wait_failed_step(&server, &op, job_id).await?;
            ensure!(
                first["status"] != "succeeded",
                "the lock did not block the ALTER: {first}"
            );
            holder.query_drop("ROLLBACK").await?;
            holder.disconnect().await?;
            let job = server.wait_job(&op, job_id).await?;
            ensure!(
                job["status"] == "succeeded" && job["attempts"].as_u64() >= Some(2),
                "{job}"
            );
            ensure!(show_create(&mut root, &db, "items")
                .await?
                .unwrap()
                .contains("`note`"));
            ensure!(binding(&server, &op, t).await?["version"] == 2);

            // Permanent: v3 widens `items` and adds a unique index on `orders.ref`, which the
            // data violates (1062). `items` was altered first; the snapshot is restored.
            root.query_drop(format!("INSERT INTO `{db}`.orders VALUES (1, 7), (2, 7)"))
                .await?;
            root.query_drop(format!("INSERT INTO `{db}`.items VALUES (1, 'kept', 'n')"))
                .await?;
            let before_items = show_create(&mut root, &db, "items").await?.unwrap();
            let before_orders = show_create(&mut root, &db, "orders").await?.unwrap();
            let v3 = "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, \
                      note VARCHAR(20) NULL, extra INT NULL, KEY ix_name (name)); \
                      CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, ref INT NOT NULL, \
                      UNIQUE KEY uq_ref (ref))";
            push(&server, &op, base, v3).await?;
            let job = opt_in(&server, &op, t, 3, &[]).await?;
            ensure!(
                job["status"] == "failed" && job["error"].as_str().unwrap().contains("Duplicate"),
                "{job}"
            );
            let applied = job["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| {
                    s["step"].as_str().unwrap().starts_with("apply:") && s["status"] == "succeeded"
                })
                .count();
            ensure!(
                applied >= 1,
                "nothing was applied before the failure: {job}"
            );
            let bd = binding(&server, &op, t).await?;
            ensure!(bd["status"] == "restored" && bd["version"] == 2, "{bd}");
            ensure!(bd["error"].as_str().unwrap().contains("Duplicate"), "{bd}");
            ensure!(show_create(&mut root, &db, "items").await?.unwrap() == before_items);
            ensure!(show_create(&mut root, &db, "orders").await?.unwrap() == before_orders);
            let kept: Option<String> = root
                .query_first(format!("SELECT note FROM `{db}`.items WHERE id = 1"))
                .await?;
            ensure!(kept.as_deref() == Some("n"), "{kept:?}");
            let audit = server
                .call(
                    "GET",
                    &format!("/v1/tenants/{t}/audit?action=migrate_database.final"),
                    Some(&op),
                    None,
                )
                .await?
                .json()?;
            ensure!(
                audit["items"].as_array().is_some_and(|a| !a.is_empty()),
                "{audit}"
            );
            root.disconnect().await?;
            server.stop().await
        })
        .await
}
