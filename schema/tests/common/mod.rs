//! Shared by the schema engine's integration tests: connections to the real MariaDB, a fresh
//! database per test named `octodb_it_schema_<random>` (deploy/test.sh drops leftovers of that
//! pattern), and the whole migrate pipeline in one call.

#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;

use anyhow::{Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use octodb_schema::{
    apply, database_defaults, introspect, Allow, AppliedStep, ApplyError, ApplyOptions,
    ApplyReport, DesiredSchema, Plan, SchemaName, Workspace,
};

/// A connection as the server's administrative user (`OCTODB_TEST_MYSQL_*`, default root with
/// no password on 127.0.0.1:3306).
pub async fn conn() -> Result<Conn> {
    let host = std::env::var("OCTODB_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("OCTODB_TEST_MYSQL_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3306);
    let user = std::env::var("OCTODB_TEST_MYSQL_USER").unwrap_or_else(|_| "root".into());
    let password = std::env::var("OCTODB_TEST_MYSQL_PASSWORD").unwrap_or_default();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    Ok(Conn::new(opts).await?)
}

pub fn suffix() -> String {
    let r: [u8; 6] = rand::random();
    hex::encode(r)
}

/// Creates a fresh test database (utf8mb4, general collation) and runs `setup` in it.
pub async fn fresh_db(c: &mut Conn, setup: &str) -> Result<SchemaName> {
    let name = SchemaName::new(format!("octodb_it_schema_{}", suffix()))?;
    c.query_drop(format!(
        "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        name.quoted()
    ))
    .await?;
    run_in(c, &name, setup).await?;
    Ok(name)
}

/// Runs `;`-separated statements in `db`.
pub async fn run_in(c: &mut Conn, db: &SchemaName, sql: &str) -> Result<()> {
    if sql.trim().is_empty() {
        return Ok(());
    }
    c.query_drop(format!("USE {}", db.quoted())).await?;
    for statement in sql.split(";\n").filter(|s| !s.trim().is_empty()) {
        c.query_drop(statement)
            .await
            .with_context(|| statement.to_string())?;
    }
    c.query_drop("USE mysql").await?;
    Ok(())
}

pub async fn drop_db(c: &mut Conn, db: &SchemaName) -> Result<()> {
    c.query_drop(format!("DROP DATABASE IF EXISTS {}", db.quoted()))
        .await?;
    Ok(())
}

/// Runs `test` with a fresh database set up by `setup`, then drops the database whatever
/// happened (a failed assertion included: the test runs as its own task).
pub async fn with_db<F, Fut>(setup: &str, test: F) -> Result<()>
where
    F: FnOnce(SchemaName) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut c = conn().await?;
    let db = fresh_db(&mut c, setup).await?;
    let outcome = tokio::spawn(test(db.clone())).await;
    drop_db(&mut c, &db).await?;
    c.disconnect().await?;
    match outcome {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(e.into()),
    }
}

/// Whether a database exists.
pub async fn exists(c: &mut Conn, name: &str) -> Result<bool> {
    let n: Option<u64> = c
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (name,),
        )
        .await?;
    Ok(n == Some(1))
}

/// SHOW CREATE TABLE text.
pub async fn show_create(c: &mut Conn, db: &SchemaName, table: &str) -> Result<String> {
    let (_, sql): (String, String) = c
        .query_first(format!(
            "SHOW CREATE TABLE {}.{}",
            db.quoted(),
            octodb_schema::quote_ident(table)
        ))
        .await?
        .context("no row")?;
    Ok(sql)
}

/// The plan from `target`'s live state to `desired_sql` (through a workspace, dropped after).
pub async fn plan_for(c: &mut Conn, target: &SchemaName, desired_sql: &str) -> Result<Plan> {
    let desired = DesiredSchema::parse(desired_sql)?;
    let defaults = database_defaults(c, target).await?.context("no target")?;
    let ws = Workspace::create(c, &desired, &defaults).await?;
    let live = introspect(c, target).await?;
    let plan = Plan::new(&live, ws.model());
    ws.drop(c).await?;
    Ok(plan?)
}

/// Plans and applies `desired_sql` to `target` under `allow`. Returns the plan, the steps run
/// and the outcome of apply.
pub async fn migrate(
    c: &mut Conn,
    target: &SchemaName,
    desired_sql: &str,
    allow: &Allow,
) -> Result<(Plan, Vec<String>, Result<ApplyReport, ApplyError>)> {
    let plan = plan_for(c, target, desired_sql).await?;
    let mut steps = Vec::new();
    let outcome = apply(
        c,
        target,
        &plan,
        &ApplyOptions::new(allow),
        |s: &AppliedStep| steps.push(s.sql.clone()),
    )
    .await;
    Ok((plan, steps, outcome))
}

/// Like [`migrate`], requiring success; then checks that a new plan is empty.
pub async fn migrate_ok(
    c: &mut Conn,
    target: &SchemaName,
    desired_sql: &str,
    allow: &Allow,
) -> Result<Vec<String>> {
    let (plan, steps, outcome) = migrate(c, target, desired_sql, allow).await?;
    if let Err(e) = outcome {
        let live = introspect(c, target).await?;
        anyhow::bail!(
            "{e}\nsteps: {steps:#?}\nplanned to: {:#?}\nlive: {:#?}",
            plan.to,
            live
        );
    }
    let again = plan_for(c, target, desired_sql).await?;
    anyhow::ensure!(
        again.is_empty(),
        "a second plan is not empty: {:?}",
        again.statements(target)
    );
    Ok(steps)
}
