//! A tenant's data over HTTP: the schema view of a logical database (tables, columns, indexes,
//! foreign keys under logical names only) and the query endpoint (the proxy's policy, the
//! tenant's own backend user, server-bound params, typed cells, bounded results), with their
//! scopes, states, refusals and audit.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Context, Result};
use common::{root_conn, tenant_key, Fixture, Server};
use mysql_async::prelude::Queryable;
use octodb_policy::{Mapping, SessionContext};
use serde_json::{json, Value};

/// `POST .../databases/{db}/query` with `sql` and `params`.
async fn query(
    server: &Server,
    key: &str,
    id: u64,
    db: &str,
    sql: &str,
    params: Value,
) -> Result<common::Response> {
    let body = json!({ "sql": sql, "params": params }).to_string();
    server
        .call(
            "POST",
            &format!("/v1/tenants/{id}/databases/{db}/query"),
            Some(key),
            Some(&body),
        )
        .await
}

/// A query that must succeed; its result.
async fn ok(server: &Server, key: &str, id: u64, sql: &str, params: Value) -> Result<Value> {
    let r = query(server, key, id, "main", sql, params).await?;
    ensure!(r.status == 200, "{sql}: {r:?}");
    r.json()
}

/// A query that must be refused with a 422 carrying `code`; the problem.
async fn refused(server: &Server, key: &str, id: u64, sql: &str, code: u16) -> Result<Value> {
    let p = query(server, key, id, "main", sql, json!([]))
        .await?
        .problem(422)
        .with_context(|| sql.to_string())?;
    ensure!(p["mysql_code"] == code, "{sql}: {p}");
    ensure!(p["sqlstate"].is_string(), "{sql}: {p}");
    Ok(p)
}

/// Runs DDL (refused through the API) as the backend's root.
async fn root_ddl(fx: &Fixture, statements: &[String]) -> Result<()> {
    let mut conn = root_conn(&fx.config).await?;
    for s in statements {
        conn.query_drop(s).await.with_context(|| s.clone())?;
    }
    conn.disconnect().await?;
    Ok(())
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn schema_shows_logical_names_only() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("sch");
            let id = server.ready_tenant(&op, &name).await?;
            let key = tenant_key(&catalog, id).await?;
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{id}/databases"),
                    Some(&op),
                    Some(r#"{"name":"archive"}"#),
                )
                .await?;
            let job = server
                .wait_job(&op, r.json()?["job_id"].as_u64().unwrap())
                .await?;
            ensure!(job["status"] == "succeeded", "{job}");
            let (main, archive) = (format!("t_{name}__main"), format!("t_{name}__archive"));
            root_ddl(
                &fx,
                &[
                    format!(
                        "CREATE TABLE `{main}`.customers (
                           id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                           email VARCHAR(64) NOT NULL,
                           name VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
                             DEFAULT 'anon' COMMENT 'display name',
                           UNIQUE KEY ux_email (email),
                           KEY ix_name (name(10))
                         ) ENGINE=InnoDB COMMENT='people who buy'"
                    ),
                    format!(
                        "CREATE TABLE `{main}`.orders (
                           id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
                           customer_id INT NOT NULL,
                           total DECIMAL(10,2) NULL,
                           created DATETIME NOT NULL,
                           KEY ix_customer_created (customer_id, created),
                           CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id)
                             REFERENCES customers (id) ON DELETE CASCADE
                         ) ENGINE=InnoDB"
                    ),
                    format!(
                        "CREATE TABLE `{archive}`.old_orders (
                           id INT NOT NULL PRIMARY KEY,
                           customer_id INT NULL,
                           CONSTRAINT fk_old_customer FOREIGN KEY (customer_id)
                             REFERENCES `{main}`.customers (id) ON UPDATE CASCADE
                         ) ENGINE=InnoDB"
                    ),
                ],
            )
            .await?;

            let path = format!("/v1/tenants/{id}/databases/main/schema");
            let r = server.call("GET", &path, Some(&key), None).await?;
            ensure!(r.status == 200, "{r:?}");
            ensure!(
                !r.body.contains(&format!("t_{name}")),
                "a physical name leaked: {}",
                r.body
            );
            let s = r.json()?;
            ensure!(s["database"] == "main", "{s}");
            ensure!(names(&s["tables"]) == ["customers", "orders"], "{s}");
            let customers = &s["tables"][0];
            ensure!(
                customers["kind"] == "BASE TABLE"
                    && customers["engine"] == "InnoDB"
                    && customers["comment"] == "people who buy"
                    && customers["row_estimate"].is_u64()
                    && customers["data_bytes"].is_u64()
                    && customers["index_bytes"].is_u64()
                    && customers["collation"].is_string(),
                "{customers}"
            );
            ensure!(
                names(&customers["columns"]) == ["id", "email", "name"],
                "{customers}"
            );
            let id_col = &customers["columns"][0];
            ensure!(
                id_col["ordinal"] == 1
                    && id_col["type"] == "int(11)"
                    && id_col["nullable"] == false
                    && id_col["key"] == "PRI"
                    && id_col["extra"] == "auto_increment"
                    && id_col["default"].is_null()
                    && id_col["charset"].is_null(),
                "{id_col}"
            );
            let name_col = &customers["columns"][2];
            ensure!(
                name_col["ordinal"] == 3
                    && name_col["type"] == "varchar(100)"
                    && name_col["nullable"] == true
                    && name_col["default"] == "'anon'"
                    && name_col["charset"] == "utf8mb4"
                    && name_col["collation"] == "utf8mb4_bin"
                    && name_col["comment"] == "display name"
                    && name_col["key"] == "MUL",
                "{name_col}"
            );
            ensure!(
                customers["indexes"]
                    == json!([
                        {"name": "PRIMARY", "unique": true, "type": "BTREE",
                         "columns": [{"name": "id", "sub_part": null}]},
                        {"name": "ix_name", "unique": false, "type": "BTREE",
                         "columns": [{"name": "name", "sub_part": 10}]},
                        {"name": "ux_email", "unique": true, "type": "BTREE",
                         "columns": [{"name": "email", "sub_part": null}]},
                    ]),
                "{customers}"
            );
            let orders = &s["tables"][1];
            ensure!(
                orders["columns"][0]["type"] == "bigint(20) unsigned"
                    && orders["columns"][2]["type"] == "decimal(10,2)"
                    && orders["columns"][2]["default"] == "NULL",
                "{orders}"
            );
            let ix = &orders["indexes"][1];
            ensure!(
                ix["name"] == "ix_customer_created"
                    && names(&ix["columns"]) == ["customer_id", "created"],
                "{orders}"
            );
            ensure!(
                orders["foreign_keys"]
                    == json!([{
                        "name": "fk_orders_customer",
                        "columns": ["customer_id"],
                        "referenced_database": "main",
                        "referenced_table": "customers",
                        "referenced_columns": ["id"],
                        "on_update": "RESTRICT",
                        "on_delete": "CASCADE",
                    }]),
                "{orders}"
            );

            // A foreign key into another of the tenant's databases names it logically.
            let r = server
                .call(
                    "GET",
                    &format!("/v1/tenants/{id}/databases/archive/schema"),
                    Some(&op),
                    None,
                )
                .await?;
            // The fixture drops databases in no set order: no foreign key may cross them then.
            root_ddl(&fx, &[format!("DROP TABLE `{archive}`.old_orders")]).await?;
            ensure!(
                r.status == 200 && !r.body.contains(&format!("t_{name}")),
                "{r:?}"
            );
            let fk = &r.json()?["tables"][0]["foreign_keys"][0];
            ensure!(
                fk["referenced_database"] == "main"
                    && fk["referenced_table"] == "customers"
                    && fk["on_update"] == "CASCADE",
                "{fk}"
            );

            // Scopes and names.
            let other = fx.tenant_name("scho");
            let other_id = server.ready_tenant(&op, &other).await?;
            let other_key = tenant_key(&catalog, other_id).await?;
            server
                .call("GET", &path, Some(&other_key), None)
                .await?
                .problem(403)?;
            server.call("GET", &path, None, None).await?.problem(401)?;
            for missing in [
                format!("/v1/tenants/{id}/databases/nope/schema"),
                format!("/v1/tenants/{id}/databases/Bad-Name/schema"),
                "/v1/tenants/999999/databases/main/schema".to_string(),
            ] {
                server
                    .call("GET", &missing, Some(&op), None)
                    .await?
                    .problem(404)?;
            }
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn query_crud_with_bound_params() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let name = fx.tenant_name("qry");
            let id = server.ready_tenant(&op, &name).await?;
            let key = tenant_key(&catalog, id).await?;
            let main = format!("t_{name}__main");
            root_ddl(
                &fx,
                &[format!(
                    "CREATE TABLE `{main}`.items (
                       id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                       name VARCHAR(100) NOT NULL,
                       price DECIMAL(10,2) NULL,
                       qty INT NULL,
                       created DATETIME NULL,
                       data VARBINARY(16) NULL
                     )"
                )],
            )
            .await?;

            let insert = "INSERT INTO items (name, price, qty, created) VALUES (?, ?, ?, ?)";
            let r = ok(
                &server,
                &key,
                id,
                insert,
                json!(["widget ☕ é", "12.50", 3, "2024-02-29 13:05:09"]),
            )
            .await?;
            ensure!(
                r["affected_rows"] == 1
                    && r["last_insert_id"] == 1
                    && r["columns"] == json!([])
                    && r["rows"] == json!([])
                    && r["truncated"] == false,
                "{r}"
            );
            // A param is a value, never SQL: stored verbatim, matched verbatim.
            let evil = "x' OR 1=1 -- ";
            let r = ok(&server, &key, id, insert, json!([evil, null, null, null])).await?;
            ensure!(r["last_insert_id"] == 2, "{r}");
            let r = ok(
                &server,
                &key,
                id,
                "SELECT id, name FROM items WHERE name = ?",
                json!([evil]),
            )
            .await?;
            ensure!(r["rows"] == json!([[2, evil]]), "{r}");
            let r = ok(
                &server,
                &key,
                id,
                "SELECT COUNT(*) AS n FROM items WHERE name = ?",
                json!(["nothing' OR '1'='1"]),
            )
            .await?;
            ensure!(r["rows"] == json!([[0]]), "{r}");

            // Typed cells.
            let r = ok(
                &server,
                &key,
                id,
                "SELECT id, name, price, qty, created FROM items ORDER BY id",
                json!([]),
            )
            .await?;
            ensure!(
                r["columns"]
                    == json!([
                        {"name": "id", "type": "INT"},
                        {"name": "name", "type": "VARCHAR"},
                        {"name": "price", "type": "DECIMAL"},
                        {"name": "qty", "type": "INT"},
                        {"name": "created", "type": "DATETIME"},
                    ]),
                "{r}"
            );
            ensure!(
                r["rows"]
                    == json!([
                        [1, "widget ☕ é", "12.50", 3, "2024-02-29T13:05:09"],
                        [2, evil, null, null, null],
                    ]),
                "{r}"
            );

            // Update and delete.
            let r = ok(
                &server,
                &key,
                id,
                "UPDATE items SET qty = qty + ?, data = ? WHERE id = ?",
                json!([4, "\u{0}a", 1]),
            )
            .await?;
            ensure!(r["affected_rows"] == 1, "{r}");
            let r = ok(
                &server,
                &key,
                id,
                "SELECT qty, data FROM items WHERE id = ?",
                json!([1]),
            )
            .await?;
            ensure!(
                r["columns"][1]["type"] == "VARBINARY" && r["rows"] == json!([[7, "AGE="]]),
                "{r}"
            );
            let r = ok(
                &server,
                &key,
                id,
                "DELETE FROM items WHERE id = ?",
                json!([2]),
            )
            .await?;
            ensure!(r["affected_rows"] == 1, "{r}");
            let r = ok(&server, &key, id, "SELECT COUNT(*) FROM items", json!([])).await?;
            ensure!(r["rows"] == json!([[1]]), "{r}");

            // Warnings come back.
            let r = ok(&server, &key, id, "SELECT 1 / 0 AS x", json!([])).await?;
            ensure!(
                r["rows"] == json!([[null]]) && r["warnings"][0]["code"] == 1365,
                "{r}"
            );

            // Backend errors: their code, logical names.
            let p = refused(&server, &key, id, "SELECT * FROM nope", 1146).await?;
            ensure!(
                p["detail"].as_str().unwrap().contains("main.nope")
                    && !p.to_string().contains(&main),
                "{p}"
            );
            let p = refused(
                &server,
                &key,
                id,
                "INSERT INTO items (id, name) VALUES (1, 'dup')",
                1062,
            )
            .await?;
            ensure!(p["sqlstate"] == "23000", "{p}");
            // Params that do not fit the placeholders.
            let p = query(&server, &key, id, "main", "SELECT ?", json!([]))
                .await?
                .problem(422)?;
            ensure!(p["mysql_code"] == 1210, "{p}");
            let p = query(&server, &key, id, "main", "SELECT ?", json!([[1, 2]]))
                .await?
                .problem(422)?;
            ensure!(
                p["detail"].as_str().unwrap().contains("params[0]") && p["mysql_code"].is_null(),
                "{p}"
            );
            query(&server, &key, id, "main", "SELECT ?", json!([{"a": 1}]))
                .await?
                .problem(422)?;

            // Results that name databases name them logically.
            let r = ok(
                &server,
                &key,
                id,
                "SELECT table_schema, table_name FROM information_schema.tables \
                 WHERE table_name = ?",
                json!(["items"]),
            )
            .await?;
            ensure!(r["rows"] == json!([["main", "items"]]), "{r}");
            let r = ok(&server, &key, id, "SHOW TABLES", json!([])).await?;
            ensure!(
                r["columns"][0]["name"] == "Tables_in_main" && r["rows"] == json!([["items"]]),
                "{r}"
            );
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

/// The policy's own refusal code for `sql` in `ctx` (what the proxy would answer).
fn policy_code(sql: &str, mapping: &Mapping) -> u16 {
    let ctx = SessionContext {
        mapping,
        current_db: Some("main"),
        user: "octodb_api",
    };
    octodb_policy::check(sql, &ctx, true).unwrap_err().code
}

#[tokio::test]
async fn query_refusals_and_least_privilege() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let (a, b) = (fx.tenant_name("qra"), fx.tenant_name("qrb"));
            let a_id = server.ready_tenant(&op, &a).await?;
            let b_id = server.ready_tenant(&op, &b).await?;
            let key = tenant_key(&catalog, a_id).await?;
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{b_id}/databases"),
                    Some(&op),
                    Some(r#"{"name":"shop"}"#),
                )
                .await?;
            let job = server
                .wait_job(&op, r.json()?["job_id"].as_u64().unwrap())
                .await?;
            ensure!(job["status"] == "succeeded", "{job}");
            let (a_main, b_main) = (format!("t_{a}__main"), format!("t_{b}__main"));
            root_ddl(
                &fx,
                &[
                    format!("CREATE TABLE `{a_main}`.t (id INT PRIMARY KEY)"),
                    format!("CREATE TABLE `{b_main}`.secret (id INT PRIMARY KEY)"),
                    format!("INSERT INTO `{b_main}`.secret VALUES (42)"),
                    // Runs with the caller's privileges: only root may read mysql.user.
                    format!(
                        "CREATE SQL SECURITY INVOKER VIEW `{a_main}`.v AS \
                         SELECT user FROM mysql.user"
                    ),
                ],
            )
            .await?;
            let mut mapping = Mapping::default();
            mapping.databases.insert("main".into(), a_main.clone());

            // Refused by the policy, with the code the proxy gives.
            let cases: &[(&str, &[u16])] = &[
                ("CREATE TABLE x (id INT)", &[1227]),
                ("DROP TABLE t", &[1227]),
                ("SELECT * FROM mysql.user", &[1044, 1142, 1227]),
                ("SELECT 1; SELECT 2", &[1227]),
                ("SELEC 1", &[1064]),
            ];
            for (sql, expected) in cases {
                let code = policy_code(sql, &mapping);
                ensure!(expected.contains(&code), "{sql}: the policy says {code}");
                refused(&server, &key, a_id, sql, code).await?;
            }
            // Another tenant's database, by its physical name (which the refusal echoes, as
            // the proxy does: the caller wrote it) or by one of its logical names.
            refused(
                &server,
                &key,
                a_id,
                &format!("SELECT * FROM `{b_main}`.secret"),
                1044,
            )
            .await?;
            let p = refused(&server, &key, a_id, "SELECT * FROM shop.anything", 1044).await?;
            ensure!(!p.to_string().contains(&format!("t_{b}")), "{p}");
            // Statements that need a session.
            for sql in ["SHOW DATABASES", "USE main", "BEGIN", "SET autocommit = 0"] {
                refused(&server, &key, a_id, sql, 1295).await?;
            }

            // The tenant's own backend user runs the statement, not root: an invoker view over
            // mysql.user fails (as root it would not).
            let p = refused(&server, &key, a_id, "SELECT * FROM v", 1356).await?;
            ensure!(
                p["detail"].as_str().unwrap().contains("main.v")
                    && !p.to_string().contains(&a_main),
                "{p}"
            );

            // Bounded results: the first 10000 rows, flagged.
            root_ddl(
                &fx,
                &[
                    format!("CREATE TABLE `{a_main}`.big (id INT PRIMARY KEY)"),
                    format!("INSERT INTO `{a_main}`.big SELECT seq FROM `{a_main}`.seq_1_to_10050"),
                ],
            )
            .await?;
            let r = ok(
                &server,
                &key,
                a_id,
                "SELECT id FROM big ORDER BY id",
                json!([]),
            )
            .await?;
            let rows = r["rows"].as_array().unwrap();
            ensure!(
                r["truncated"] == true && rows.len() == 10_000 && rows[9_999] == json!([10_000]),
                "{} rows, truncated {}",
                rows.len(),
                r["truncated"]
            );
            let r = ok(&server, &key, a_id, "SELECT COUNT(*) FROM big", json!([])).await?;
            ensure!(
                r["truncated"] == false && r["rows"] == json!([[10_050]]),
                "{r}"
            );
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn query_scopes_states_and_audit() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let (a, b) = (fx.tenant_name("qsa"), fx.tenant_name("qsb"));
            let a_id = server.ready_tenant(&op, &a).await?;
            let b_id = server.ready_tenant(&op, &b).await?;
            let a_key = tenant_key(&catalog, a_id).await?;
            let b_key = tenant_key(&catalog, b_id).await?;
            let path = format!("/v1/tenants/{a_id}/databases/main/query");

            // Scope before anything else.
            query(&server, &b_key, a_id, "main", "SELECT 1", json!([]))
                .await?
                .problem(403)?;
            server
                .call("POST", &path, None, Some(r#"{"sql":"SELECT 1"}"#))
                .await?
                .problem(401)?;
            // Unknown tenant or database.
            query(&server, &op, a_id, "nope", "SELECT 1", json!([]))
                .await?
                .problem(404)?;
            query(&server, &op, 999_999, "main", "SELECT 1", json!([]))
                .await?
                .problem(404)?;
            // Malformed bodies.
            server
                .call("POST", &path, Some(&a_key), Some("{"))
                .await?
                .problem(400)?;
            for bad in [
                r#"{"sql":5}"#,
                r#"{}"#,
                r#"{"sql":"SELECT 1","x":1}"#,
                r#"{"sql":"SELECT 1","params":{}}"#,
            ] {
                server
                    .call("POST", &path, Some(&a_key), Some(bad))
                    .await?
                    .problem(422)
                    .with_context(|| bad.to_string())?;
            }
            // `params` may be left out.
            let r = server
                .call(
                    "POST",
                    &path,
                    Some(&a_key),
                    Some(r#"{"sql":"SELECT 1 AS one"}"#),
                )
                .await?;
            ensure!(r.status == 200, "{r:?}");
            let r = r.json()?;
            ensure!(
                r["columns"] == json!([{"name": "one", "type": "INT"}])
                    && r["rows"] == json!([[1]]),
                "{r}"
            );

            // A suspended tenant's data cannot be queried; its schema can still be read.
            let r = server
                .call(
                    "POST",
                    &format!("/v1/tenants/{a_id}/suspend"),
                    Some(&op),
                    None,
                )
                .await?;
            ensure!(r.status == 200, "{r:?}");
            query(&server, &a_key, a_id, "main", "SELECT 1", json!([]))
                .await?
                .problem(409)?;
            let r = server
                .call(
                    "GET",
                    &format!("/v1/tenants/{a_id}/databases/main/schema"),
                    Some(&a_key),
                    None,
                )
                .await?;
            ensure!(r.status == 200 && r.json()?["tables"] == json!([]), "{r:?}");

            // Audited: the successful call, the 404 and 409 ones and the refusals (not 401/403).
            let audit = server
                .call(
                    "GET",
                    &format!("/v1/tenants/{a_id}/audit?action=query.run"),
                    Some(&op),
                    None,
                )
                .await?
                .json()?;
            let rows: Vec<(&str, &str)> = audit["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["outcome"].as_str().unwrap(),
                        r["target"].as_str().unwrap(),
                    )
                })
                .collect();
            ensure!(
                rows == [
                    ("failure", "database/nope"),
                    ("success", "database/main"),
                    ("failure", "database/main"),
                ],
                "{audit}"
            );
            ensure!(!audit.to_string().contains("SELECT"), "{audit}");
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}
