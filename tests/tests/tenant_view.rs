//! The tenant's own view of MySQL through the proxy (issue 3, "The tenant's own view"):
//! identity functions, SHOW DATABASES / TABLES, information_schema, SHOW CREATE TABLE,
//! column definitions, error messages and warnings name the logical database `app`, never a
//! physical `t_...` name, a backend user or another tenant's objects; host variables are
//! refused or answered neutrally.
//!
//! Every test runs two tenants (the second one is the "other tenant" whose objects must never
//! show), collects every mismatch and reports them all at the end, with the statement and what
//! came back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;

use anyhow::Result;
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Opts, OptsBuilder, Row};
use octodb_tests::support::{cells, guarded, server_code, Cells};
use octodb_tests::{root_conn, TestEnv, TestTenant};

const SCHEMA_A: &str = "CREATE TABLE customers (
    id INT PRIMARY KEY,
    name VARCHAR(50) NOT NULL,
    UNIQUE KEY uq_customers_name (name)
);
CREATE TABLE orders (
    id INT PRIMARY KEY,
    customer_id INT NOT NULL,
    total DECIMAL(10,2) NOT NULL DEFAULT 0,
    KEY idx_orders_customer (customer_id),
    CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
)";

const SCHEMA_B: &str = "CREATE TABLE b_parent (
    id INT PRIMARY KEY
);
CREATE TABLE b_private (
    id INT PRIMARY KEY,
    parent_id INT NOT NULL,
    KEY idx_b_private_parent (parent_id),
    CONSTRAINT fk_b_private_parent FOREIGN KEY (parent_id) REFERENCES b_parent (id)
)";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// What a test body needs, owned, so it can run in its own task while the cleanup runs even
/// when it panics.
#[derive(Clone)]
struct Ctx {
    a: TestTenant,
    b: TestTenant,
    opts_a: OptsBuilder,
}

impl Ctx {
    async fn connect(&self) -> Result<Conn> {
        Ok(Conn::new(Opts::from(self.opts_a.clone())).await?)
    }

    /// Substrings that must never appear in anything tenant A sees: its own physical database
    /// and backend user (`t_<tenant>...`), and anything of tenant B.
    fn leaks(&self, text: &str) -> Option<String> {
        let markers = [
            format!("t_{}", self.a.name),
            self.b.name.clone(),
            "b_private".to_string(),
            "b_parent".to_string(),
        ];
        markers
            .into_iter()
            .find(|m| text.to_lowercase().contains(&m.to_lowercase()))
    }
}

/// Collects failures so one run reports all of them.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn fail(&mut self, msg: String) {
        self.0.push(msg);
    }
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }
    fn finish(self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what}: {} failure(s):\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

async fn run<F, Fut>(body: F) -> Result<()>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut env = TestEnv::start().await?;
    let setup = async {
        let a = env.tenant(SCHEMA_A).await?;
        let b = env.tenant(SCHEMA_B).await?;
        let mut root = root_conn(None).await?;
        root.query_drop(format!(
            "INSERT INTO `{}`.customers VALUES (1, 'ann'), (2, 'bob')",
            a.physical
        ))
        .await?;
        root.query_drop(format!(
            "INSERT INTO `{}`.orders VALUES (10, 1, 5.00)",
            a.physical
        ))
        .await?;
        root.query_drop(format!("INSERT INTO `{}`.b_parent VALUES (1)", b.physical))
            .await?;
        anyhow::Ok(Ctx {
            opts_a: env.opts(&a),
            a,
            b,
        })
    }
    .await;
    guarded(setup, body, env.cleanup()).await
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// Runs `sql` and returns its column definitions and rows.
async fn fetch(
    c: &mut Conn,
    sql: &str,
) -> std::result::Result<(Vec<Column>, Cells), mysql_async::Error> {
    let mut result = c.query_iter(sql).await?;
    let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
    let rows: Vec<Row> = result.collect().await?;
    drop(result);
    Ok((columns, cells(&rows)))
}

/// Runs `sql` through the proxy and checks the result: no leak in column definitions or
/// values. Returns the rows, or None (after recording the failure) when the statement failed.
async fn view(c: &mut Conn, ctx: &Ctx, checks: &mut Checks, sql: &str) -> Option<Cells> {
    match fetch(c, sql).await {
        Ok((columns, rows)) => {
            check_no_leak(ctx, checks, sql, &columns, &rows);
            Some(rows)
        }
        Err(e) => {
            checks.fail(format!("{sql:?}: failed: {e}"));
            None
        }
    }
}

fn check_no_leak(ctx: &Ctx, checks: &mut Checks, sql: &str, columns: &[Column], rows: &Cells) {
    for col in columns {
        for part in [
            col.schema_str(),
            col.table_str(),
            col.org_table_str(),
            col.name_str(),
        ] {
            if let Some(m) = ctx.leaks(&part) {
                checks.fail(format!(
                    "{sql:?}: column definition names {m:?}: {:?}",
                    (col.schema_str(), col.table_str(), col.name_str())
                ));
            }
        }
    }
    for v in rows.iter().flatten().flatten() {
        if let Some(m) = ctx.leaks(v) {
            checks.fail(format!("{sql:?}: a value names {m:?}: {v:?}"));
            return;
        }
    }
}

/// `sql` through the proxy must return exactly `expected`.
async fn expect_rows(c: &mut Conn, ctx: &Ctx, checks: &mut Checks, sql: &str, expected: Cells) {
    if let Some(got) = view(c, ctx, checks, sql).await {
        checks.check(got == expected, || {
            format!("{sql:?}: expected {expected:?}, got {got:?}")
        });
    }
}

/// Root's answer for `sql` on the tenant's physical database, with the physical name mapped to
/// `app` in every value: what the tenant should see.
async fn logical_answer(ctx: &Ctx, root: &mut Conn, sql: &str) -> Result<Cells> {
    let rows: Vec<Row> = root.query(sql).await?;
    let phys = &ctx.a.physical;
    Ok(cells(&rows)
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.map(|v| v.replace(phys.as_str(), "app")))
                .collect()
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_and_user_functions_give_the_logical_view() -> Result<()> {
    run(|ctx| async move {
        let mut c = ctx.connect().await?;
        let mut checks = Checks::default();
        let app = vec![vec![s("app")]];
        for sql in [
            "SELECT DATABASE()",
            "SELECT SCHEMA()",
            "SELECT database()",
            "SELECT DATABASE() AS db",
        ] {
            expect_rows(&mut c, &ctx, &mut checks, sql, app.clone()).await;
        }
        expect_rows(
            &mut c,
            &ctx,
            &mut checks,
            "SELECT DATABASE(), SCHEMA(), CONCAT('db=', DATABASE())",
            vec![vec![s("app"), s("app"), s("db=app")]],
        )
        .await;
        // Prepared statements give the same answer.
        match c.exec_first::<String, _, _>("SELECT DATABASE()", ()).await {
            Ok(v) => checks.check(v.as_deref() == Some("app"), || {
                format!("prepared SELECT DATABASE(): {v:?}")
            }),
            Err(e) => checks.fail(format!("prepared SELECT DATABASE(): {e}")),
        }

        // USER() and CURRENT_USER(): the tenant's user (MySQL writes user@host), never the
        // backend's `t_<tenant>`.
        let user = ctx.a.user.clone();
        let is_tenant_user = |v: &str| {
            v == user
                || v.strip_prefix(&format!("{user}@"))
                    .is_some_and(|h| !h.is_empty())
        };
        for sql in [
            "SELECT USER()",
            "SELECT CURRENT_USER()",
            "SELECT CURRENT_USER",
            "SELECT user()",
        ] {
            if let Some(rows) = view(&mut c, &ctx, &mut checks, sql).await {
                let v = rows.first().and_then(|r| r.first()).cloned().flatten();
                checks.check(v.as_deref().is_some_and(is_tenant_user), || {
                    format!("{sql:?}: expected the tenant user {user:?}, got {rows:?}")
                });
            }
        }
        // Other spellings of the same question: refused, or the tenant's user.
        for sql in ["SELECT SESSION_USER()", "SELECT SYSTEM_USER()"] {
            match fetch(&mut c, sql).await {
                Err(e) => checks.check(server_code(&e).is_some(), || format!("{sql:?}: {e}")),
                Ok((cols, rows)) => {
                    check_no_leak(&ctx, &mut checks, sql, &cols, &rows);
                    let v = rows.first().and_then(|r| r.first()).cloned().flatten();
                    checks.check(v.as_deref().is_some_and(is_tenant_user), || {
                        format!("{sql:?}: expected a refusal or {user:?}, got {rows:?}")
                    });
                }
            }
        }
        checks.finish("identity functions");
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// SHOW DATABASES, SHOW TABLES
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_databases_and_tables_list_only_the_tenants_own() -> Result<()> {
    run(|ctx| async move {
        let mut c = ctx.connect().await?;
        let mut checks = Checks::default();
        let app = vec![vec![s("app")]];
        let none: Cells = vec![];
        for (sql, expected) in [
            ("SHOW DATABASES", app.clone()),
            ("SHOW SCHEMAS", app.clone()),
            ("show databases", app.clone()),
            ("SHOW DATABASES LIKE 'app'", app.clone()),
            ("SHOW DATABASES LIKE 'a%'", app.clone()),
            ("SHOW DATABASES LIKE '%'", app.clone()),
            ("SHOW DATABASES LIKE 't\\_%'", none.clone()),
            ("SHOW DATABASES LIKE 'information_schema'", none.clone()),
            ("SHOW DATABASES LIKE 'mysql'", none.clone()),
        ] {
            expect_rows(&mut c, &ctx, &mut checks, sql, expected).await;
        }

        let tables = vec![vec![s("customers")], vec![s("orders")]];
        let full = vec![
            vec![s("customers"), s("BASE TABLE")],
            vec![s("orders"), s("BASE TABLE")],
        ];
        for (sql, expected, header) in [
            ("SHOW TABLES", tables.clone(), "Tables_in_app"),
            ("SHOW TABLES FROM app", tables.clone(), "Tables_in_app"),
            ("SHOW TABLES IN app", tables.clone(), "Tables_in_app"),
            ("SHOW FULL TABLES", full.clone(), "Tables_in_app"),
            ("SHOW FULL TABLES FROM app", full.clone(), "Tables_in_app"),
            (
                "SHOW TABLES LIKE 'cust%'",
                vec![vec![s("customers")]],
                "Tables_in_app (cust%)",
            ),
            ("SHOW TABLES LIKE 'b\\_%'", vec![], "Tables_in_app (b\\_%)"),
        ] {
            match fetch(&mut c, sql).await {
                Ok((cols, mut rows)) => {
                    check_no_leak(&ctx, &mut checks, sql, &cols, &rows);
                    rows.sort();
                    checks.check(rows == expected, || {
                        format!("{sql:?}: expected {expected:?}, got {rows:?}")
                    });
                    let name = cols.first().map(|c| c.name_str().into_owned());
                    checks.check(name.as_deref() == Some(header), || {
                        format!("{sql:?}: first column is named {name:?}, expected {header:?}")
                    });
                }
                Err(e) => checks.fail(format!("{sql:?}: failed: {e}")),
            }
        }
        checks.finish("SHOW DATABASES / SHOW TABLES");
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// information_schema
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn information_schema_shows_only_the_tenants_objects_under_logical_names() -> Result<()> {
    run(|ctx| async move {
        let mut c = ctx.connect().await?;
        let mut root = root_conn(Some(&ctx.a.physical)).await?;
        let mut checks = Checks::default();
        let phys = ctx.a.physical.clone();

        // (what the tenant sends, what root asks of the physical database). Root's answer,
        // with the physical name written `app`, is the expected answer.
        let t = "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES";
        let cols = "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, \
                    IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS";
        let cols_order = "ORDER BY TABLE_NAME, ORDINAL_POSITION";
        let stats = "SELECT TABLE_SCHEMA, INDEX_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, \
                     SEQ_IN_INDEX, COLUMN_NAME FROM information_schema.STATISTICS";
        let stats_order = "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";
        let kcu = "SELECT CONSTRAINT_SCHEMA, CONSTRAINT_NAME, TABLE_SCHEMA, TABLE_NAME, \
                   COLUMN_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, \
                   REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE";
        let kcu_order = "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION";
        let rc = "SELECT CONSTRAINT_SCHEMA, CONSTRAINT_NAME, UNIQUE_CONSTRAINT_SCHEMA, \
                  UNIQUE_CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE, TABLE_NAME, \
                  REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS";
        let tc = "SELECT CONSTRAINT_SCHEMA, CONSTRAINT_NAME, TABLE_SCHEMA, TABLE_NAME, \
                  CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS";
        let tc_order = "ORDER BY TABLE_NAME, CONSTRAINT_NAME";
        let cases: Vec<(String, String)> = vec![
            (
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA".into(),
                format!(
                    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA \
                     WHERE SCHEMA_NAME = '{phys}'"
                ),
            ),
            (
                "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA \
                 WHERE SCHEMA_NAME = 'app'"
                    .into(),
                format!(
                    "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM \
                     information_schema.SCHEMATA WHERE SCHEMA_NAME = '{phys}'"
                ),
            ),
            (
                format!("{t} WHERE TABLE_SCHEMA = 'app' ORDER BY TABLE_NAME"),
                format!("{t} WHERE TABLE_SCHEMA = '{phys}' ORDER BY TABLE_NAME"),
            ),
            (
                format!("{t} WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME"),
                format!("{t} WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME"),
            ),
            (
                format!("{t} ORDER BY TABLE_NAME"),
                format!("{t} WHERE TABLE_SCHEMA = '{phys}' ORDER BY TABLE_NAME"),
            ),
            (
                format!("{t} WHERE TABLE_SCHEMA LIKE '%' ORDER BY TABLE_NAME"),
                format!("{t} WHERE TABLE_SCHEMA = '{phys}' ORDER BY TABLE_NAME"),
            ),
            (
                format!("{t} WHERE TABLE_SCHEMA IN ('app') AND TABLE_NAME = 'orders'"),
                format!("{t} WHERE TABLE_SCHEMA = '{phys}' AND TABLE_NAME = 'orders'"),
            ),
            (
                "SELECT COUNT(*) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'orders'"
                    .into(),
                format!(
                    "SELECT COUNT(*) FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = '{phys}' AND TABLE_NAME = 'orders'"
                ),
            ),
            (
                "select table_schema, table_name from information_schema.tables \
                 where table_schema = 'app' order by table_name"
                    .into(),
                format!(
                    "select table_schema, table_name from information_schema.tables \
                     where table_schema = '{phys}' order by table_name"
                ),
            ),
            (
                format!("{cols} WHERE TABLE_SCHEMA = 'app' {cols_order}"),
                format!("{cols} WHERE TABLE_SCHEMA = '{phys}' {cols_order}"),
            ),
            (
                format!("{cols} WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders' {cols_order}"),
                format!("{cols} WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders' {cols_order}"),
            ),
            (
                format!("{cols} {cols_order}"),
                format!("{cols} WHERE TABLE_SCHEMA = '{phys}' {cols_order}"),
            ),
            (
                format!("{stats} WHERE TABLE_SCHEMA = 'app' {stats_order}"),
                format!("{stats} WHERE TABLE_SCHEMA = '{phys}' {stats_order}"),
            ),
            (
                format!("{stats} {stats_order}"),
                format!("{stats} WHERE TABLE_SCHEMA = '{phys}' {stats_order}"),
            ),
            (
                format!("{kcu} WHERE TABLE_SCHEMA = 'app' {kcu_order}"),
                format!("{kcu} WHERE TABLE_SCHEMA = '{phys}' {kcu_order}"),
            ),
            (
                format!(
                    "{kcu} WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
                     {kcu_order}"
                ),
                format!(
                    "{kcu} WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
                     {kcu_order}"
                ),
            ),
            (
                format!("{kcu} {kcu_order}"),
                format!("{kcu} WHERE TABLE_SCHEMA = '{phys}' {kcu_order}"),
            ),
            (
                format!("{rc} WHERE CONSTRAINT_SCHEMA = 'app' ORDER BY CONSTRAINT_NAME"),
                format!("{rc} WHERE CONSTRAINT_SCHEMA = '{phys}' ORDER BY CONSTRAINT_NAME"),
            ),
            (
                format!("{rc} ORDER BY CONSTRAINT_NAME"),
                format!("{rc} WHERE CONSTRAINT_SCHEMA = '{phys}' ORDER BY CONSTRAINT_NAME"),
            ),
            (
                format!("{tc} WHERE TABLE_SCHEMA = 'app' {tc_order}"),
                format!("{tc} WHERE TABLE_SCHEMA = '{phys}' {tc_order}"),
            ),
            (
                format!("{tc} {tc_order}"),
                format!("{tc} WHERE TABLE_SCHEMA = '{phys}' {tc_order}"),
            ),
        ];
        for (tenant_sql, root_sql) in &cases {
            let expected = logical_answer(&ctx, &mut root, root_sql).await?;
            assert!(
                !expected.is_empty(),
                "root sees nothing for {root_sql:?}: the fixture is wrong"
            );
            expect_rows(&mut c, &ctx, &mut checks, tenant_sql, expected).await;
        }
        // The foreign key, spelled out: what SQLAlchemy reflects.
        expect_rows(
            &mut c,
            &ctx,
            &mut checks,
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, \
             REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = 'app' AND REFERENCED_TABLE_NAME IS NOT NULL",
            vec![vec![
                s("app"),
                s("orders"),
                s("customer_id"),
                s("app"),
                s("customers"),
                s("id"),
            ]],
        )
        .await;

        // Physical names and the other tenant's names find nothing (or are refused).
        for sql in [
            format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{phys}'"),
            format!(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}'",
                ctx.b.physical
            ),
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_NAME = 'b_private'"
                .to_string(),
            "SELECT TABLE_NAME FROM information_schema.COLUMNS WHERE COLUMN_NAME = 'parent_id'"
                .to_string(),
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'mysql'"
                .to_string(),
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 't\\_%'"
                .to_string(),
        ] {
            match fetch(&mut c, &sql).await {
                Ok((cols, rows)) => {
                    check_no_leak(&ctx, &mut checks, &sql, &cols, &rows);
                    checks.check(rows.is_empty(), || {
                        format!("{sql:?}: expected no rows (or a refusal), got {rows:?}")
                    });
                }
                Err(e) => checks.check(
                    server_code(&e).is_some_and(|c| [1044, 1227].contains(&c)),
                    || format!("{sql:?}: expected no rows or 1044/1227, got {e}"),
                ),
            }
        }

        // Server-side prepared statements with the schema as a parameter (mysql2 execute(),
        // connector/J): the predicate names the logical database.
        match c
            .exec::<(String, String), _, _>(
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
                ("app",),
            )
            .await
        {
            Ok(rows) => checks.check(
                rows == vec![
                    ("app".to_string(), "customers".to_string()),
                    ("app".to_string(), "orders".to_string()),
                ],
                || format!("prepared information_schema.TABLES with TABLE_SCHEMA = ?: {rows:?}"),
            ),
            Err(e) => checks.fail(format!(
                "prepared information_schema.TABLES with TABLE_SCHEMA = ?: {e}"
            )),
        }
        checks.finish("information_schema");
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// SHOW CREATE TABLE, column definitions
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_create_table_and_column_definitions_name_app() -> Result<()> {
    run(|ctx| async move {
        let mut c = ctx.connect().await?;
        let mut checks = Checks::default();
        for sql in [
            "SHOW CREATE TABLE orders",
            "SHOW CREATE TABLE app.orders",
            "SHOW CREATE TABLE `app`.`orders`",
        ] {
            if let Some(rows) = view(&mut c, &ctx, &mut checks, sql).await {
                let ddl = rows.first().and_then(|r| r.get(1)).cloned().flatten();
                let ddl = ddl.unwrap_or_default();
                checks.check(
                    rows.first()
                        .and_then(|r| r.first())
                        .cloned()
                        .flatten()
                        .as_deref()
                        == Some("orders"),
                    || format!("{sql:?}: table column: {rows:?}"),
                );
                checks.check(
                    ddl.contains("CONSTRAINT `fk_orders_customer` FOREIGN KEY (`customer_id`)")
                        && (ddl.contains("REFERENCES `customers` (`id`)")
                            || ddl.contains("REFERENCES `app`.`customers` (`id`)")),
                    || format!("{sql:?}: the foreign key is not as written: {ddl}"),
                );
            }
        }
        // Column definitions of ordinary results name the logical database.
        for (sql, table, org_table) in [
            ("SELECT id, name FROM customers", "customers", "customers"),
            (
                "SELECT id, name FROM app.customers",
                "customers",
                "customers",
            ),
            ("SELECT x.id, x.name FROM customers AS x", "x", "customers"),
            (
                "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id",
                "",
                "",
            ),
        ] {
            match fetch(&mut c, sql).await {
                Ok((cols, rows)) => {
                    check_no_leak(&ctx, &mut checks, sql, &cols, &rows);
                    for col in &cols {
                        checks.check(col.schema_str() == "app", || {
                            format!(
                                "{sql:?}: column {:?} has schema {:?}, expected \"app\"",
                                col.name_str(),
                                col.schema_str()
                            )
                        });
                        if !table.is_empty() {
                            checks.check(
                                col.table_str() == table && col.org_table_str() == org_table,
                                || {
                                    format!(
                                        "{sql:?}: column {:?} table {:?} org_table {:?}",
                                        col.name_str(),
                                        col.table_str(),
                                        col.org_table_str()
                                    )
                                },
                            );
                        }
                    }
                }
                Err(e) => checks.fail(format!("{sql:?}: failed: {e}")),
            }
            // The binary protocol: the prepare answer and the result's definitions.
            match c.prep(sql).await {
                Ok(stmt) => {
                    for col in stmt.columns().iter() {
                        checks.check(col.schema_str() == "app", || {
                            format!(
                                "prepare {sql:?}: column {:?} has schema {:?}",
                                col.name_str(),
                                col.schema_str()
                            )
                        });
                    }
                    match c.exec_iter(&stmt, ()).await {
                        Ok(mut result) => {
                            let cols = result.columns().map(|c| c.to_vec()).unwrap_or_default();
                            let _: Vec<Row> = result.collect().await.unwrap_or_default();
                            for col in cols.iter() {
                                checks.check(col.schema_str() == "app", || {
                                    format!(
                                        "execute {sql:?}: column {:?} has schema {:?}",
                                        col.name_str(),
                                        col.schema_str()
                                    )
                                });
                            }
                        }
                        Err(e) => checks.fail(format!("execute {sql:?}: {e}")),
                    }
                }
                Err(e) => checks.fail(format!("prepare {sql:?}: {e}")),
            }
        }
        checks.finish("SHOW CREATE TABLE / column definitions");
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Errors and warnings
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_messages_and_warnings_name_app() -> Result<()> {
    run(|ctx| async move {
        let mut c = ctx.connect().await?;
        let mut checks = Checks::default();
        let phys = ctx.a.physical.clone();
        // (statement, code, text the message must contain)
        for (sql, code, needle) in [
            ("SELECT * FROM nope", 1146, "'app.nope'"),
            ("SELECT * FROM app.nope", 1146, "'app.nope'"),
            ("SELECT * FROM `app`.`nope`", 1146, "'app.nope'"),
            ("INSERT INTO nope (id) VALUES (1)", 1146, "'app.nope'"),
            ("UPDATE nope SET id = 1", 1146, "'app.nope'"),
            ("DELETE FROM nope", 1146, "'app.nope'"),
            (
                "SELECT * FROM customers JOIN nope ON nope.id = customers.id",
                1146,
                "'app.nope'",
            ),
            ("SHOW CREATE TABLE nope", 1146, "'app.nope'"),
            (
                "SELECT app.customers.nope FROM customers",
                1054,
                "'app.customers.nope'",
            ),
            (
                "INSERT INTO orders (id, customer_id) VALUES (99, 999)",
                1452,
                "`app`.`orders`",
            ),
            ("DELETE FROM customers WHERE id = 1", 1451, "`app`.`orders`"),
            (
                "INSERT INTO customers (id, name) VALUES (1, 'dup')",
                1062,
                "Duplicate entry",
            ),
        ] {
            match c.query_drop(sql).await {
                Ok(()) => checks.fail(format!("{sql:?}: succeeded, expected error {code}")),
                Err(e) => {
                    let text = e.to_string();
                    checks.check(server_code(&e) == Some(code), || {
                        format!("{sql:?}: expected {code}, got {text}")
                    });
                    checks.check(text.contains(needle), || {
                        format!("{sql:?}: message does not contain {needle:?}: {text}")
                    });
                    checks.check(!text.contains(&phys) && ctx.leaks(&text).is_none(), || {
                        format!("{sql:?}: message names a physical name: {text}")
                    });
                }
            }
        }
        // Prepare errors too.
        match c.prep("SELECT * FROM nope WHERE id = ?").await {
            Ok(_) => checks.fail("prepare SELECT * FROM nope: succeeded".into()),
            Err(e) => {
                let text = e.to_string();
                checks.check(
                    server_code(&e) == Some(1146) && text.contains("'app.nope'"),
                    || format!("prepare SELECT * FROM nope: {text}"),
                );
                checks.check(ctx.leaks(&text).is_none(), || {
                    format!("prepare SELECT * FROM nope names a physical name: {text}")
                });
            }
        }
        // Warnings: EXPLAIN EXTENDED leaves a note with the query as the server rewrote it,
        // fully qualified. Refusing EXPLAIN EXTENDED is fine; forwarding it, the note must
        // name `app`.
        if c.query_drop("EXPLAIN EXTENDED SELECT id FROM customers WHERE id = 1")
            .await
            .is_ok()
        {
            if let Some(rows) = view(&mut c, &ctx, &mut checks, "SHOW WARNINGS").await {
                let text = format!("{rows:?}");
                checks.check(text.contains("`app`.`customers`"), || {
                    format!("SHOW WARNINGS after EXPLAIN EXTENDED: {text}")
                });
            }
        }
        // SHOW WARNINGS after a failed statement: the same message as the error.
        let _ = c.query_drop("SELECT * FROM nope").await;
        if let Some(rows) = view(&mut c, &ctx, &mut checks, "SHOW WARNINGS").await {
            let text = format!("{rows:?}");
            checks.check(text.contains("app.nope"), || {
                format!("SHOW WARNINGS after SELECT * FROM nope: {text}")
            });
        }
        checks.finish("error messages and warnings");
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Host variables
// ---------------------------------------------------------------------------------------------

const HOST_VARIABLES: &[&str] = &[
    "datadir",
    "hostname",
    "basedir",
    "socket",
    "pid_file",
    "plugin_dir",
    "tmpdir",
    "secure_file_priv",
    "log_error",
    "general_log_file",
    "slow_query_log_file",
    "character_sets_dir",
    "lc_messages_dir",
    "log_bin_basename",
    "relay_log_basename",
];

/// What root sees for each host variable (non-empty values only).
async fn real_host_values() -> Result<BTreeMap<String, String>> {
    let mut root = root_conn(None).await?;
    let mut out = BTreeMap::new();
    for v in HOST_VARIABLES {
        let value: Option<Option<String>> = root.query_first(format!("SELECT @@{v}")).await?;
        if let Some(Some(value)) = value {
            if !value.is_empty() {
                out.insert((*v).to_string(), value);
            }
        }
    }
    assert!(out.contains_key("datadir"), "root sees no datadir");
    Ok(out)
}

/// A value reveals a host value if it is one, or contains one that is a path.
fn reveals<'a>(real: &'a BTreeMap<String, String>, value: &str) -> Option<(&'a str, &'a str)> {
    real.iter()
        .find(|(_, r)| {
            value == r.as_str() || (r.starts_with('/') && r.len() > 4 && value.contains(r.as_str()))
        })
        .map(|(k, r)| (k.as_str(), r.as_str()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_variables_are_refused_or_neutral() -> Result<()> {
    run(|ctx| async move {
        let real = real_host_values().await?;
        let mut c = ctx.connect().await?;
        let mut checks = Checks::default();
        let mut statements = Vec::new();
        for v in HOST_VARIABLES {
            statements.push(format!("SELECT @@{v}"));
            statements.push(format!("SELECT @@global.{v}"));
            statements.push(format!("SELECT @@GLOBAL.{}", v.to_uppercase()));
            statements.push(format!("SELECT @@{v} AS x"));
            statements.push(format!("SELECT CONCAT('>', @@{v}, '<')"));
        }
        for sql in &statements {
            match fetch(&mut c, sql).await {
                Err(e) => checks.check(server_code(&e).is_some(), || {
                    format!("{sql:?}: not a server error: {e}")
                }),
                Ok((_, rows)) => {
                    for v in rows.iter().flatten().flatten() {
                        if let Some((name, r)) = reveals(&real, v) {
                            checks.fail(format!("{sql:?}: reveals @@{name} = {r:?} (got {v:?})"));
                        }
                    }
                }
            }
        }
        // Through the binary protocol too.
        for v in ["datadir", "hostname", "basedir", "tmpdir"] {
            let sql = format!("SELECT @@{v}");
            if let Ok(rows) = c.exec::<Row, _, _>(sql.as_str(), ()).await {
                for v in cells(&rows).iter().flatten().flatten() {
                    if let Some((name, r)) = reveals(&real, v) {
                        checks.fail(format!("execute {sql:?}: reveals @@{name} = {r:?}"));
                    }
                }
            }
        }
        // SHOW VARIABLES and the variables tables: refused, filtered or neutral.
        for sql in [
            "SHOW VARIABLES LIKE 'datadir'",
            "SHOW SESSION VARIABLES LIKE 'datadir'",
            "SHOW GLOBAL VARIABLES LIKE 'datadir'",
            "SHOW VARIABLES LIKE 'hostname'",
            "SHOW VARIABLES LIKE '%dir%'",
            "SHOW VARIABLES LIKE '%file%'",
            "SHOW VARIABLES LIKE 'socket'",
            "SHOW VARIABLES WHERE Variable_name = 'datadir'",
            "SHOW VARIABLES",
            "SHOW GLOBAL VARIABLES",
            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES \
             WHERE VARIABLE_NAME = 'DATADIR'",
            "SELECT VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES \
             WHERE VARIABLE_NAME = 'DATADIR'",
            "SELECT GLOBAL_VALUE FROM information_schema.SYSTEM_VARIABLES \
             WHERE VARIABLE_NAME = 'DATADIR'",
            "SELECT * FROM information_schema.GLOBAL_VARIABLES",
        ] {
            match fetch(&mut c, sql).await {
                Err(e) => checks.check(server_code(&e).is_some(), || {
                    format!("{sql:?}: not a server error: {e}")
                }),
                Ok((_, rows)) => {
                    let mut revealed = Vec::new();
                    for row in &rows {
                        for v in row.iter().flatten() {
                            if let Some((name, _)) = reveals(&real, v) {
                                revealed.push(format!("{name}={v:?}"));
                            }
                        }
                    }
                    checks.check(revealed.is_empty(), || {
                        format!("{sql:?}: reveals {}", revealed.join(", "))
                    });
                }
            }
        }
        checks.finish("host variables");
        Ok(())
    })
    .await
}
