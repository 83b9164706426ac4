//! ORMs and drivers against the in-process proxy, each the way an application uses it:
//! SQLAlchemy 2.x on PyMySQL and on mysqlclient (reflection through the Inspector and
//! `MetaData.reflect()`, compared with the same calls made directly on the tenant's physical
//! database; ORM CRUD with a relationship, eager loading, pagination, rollback),
//! Node mysql2 (a pool, `execute()` server-side prepared statements, a JSON column,
//! transactions), mysql-connector-python in pure-Python mode (prepared cursor, pool) and
//! mysqlclient (MySQLdb: executemany, select_db, commit/rollback).
//!
//! The scripts live in `tests/clients/` (`node/` for mysql2, installed with `npm ci`); each prints
//! one line per check, carries on after a failed one, and lists at the end every statement the
//! proxy refused (`refused <code>: <sql> -- <message>`), so a failing run names all of them.
//! `deploy/ensure-services.sh` installs the packages. A missing package fails the test with a
//! message saying what to install: nothing is skipped. Each test runs on its own `TestEnv` and
//! tenant and drops them at the end, pass or fail (`ensure!`, not `assert!`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{ensure, Result};
use mysql_async::prelude::Queryable;
use octodb_tests::support::run_program;
use octodb_tests::{backend_admin, root_conn, TestEnv, TestTenant};

/// The tenant schema every script relies on: a foreign key with ON DELETE CASCADE, unique and
/// composite indexes, a JSON column and a column default.
const SCHEMA: &str = "CREATE TABLE users (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    email VARCHAR(128) NOT NULL,
    profile JSON NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_users_email (email),
    KEY ix_users_name (name)
);
CREATE TABLE addresses (
    id INT AUTO_INCREMENT PRIMARY KEY,
    user_id INT NOT NULL,
    city VARCHAR(64) NOT NULL,
    zip VARCHAR(16) NULL,
    KEY ix_addresses_city_zip (city, zip),
    CONSTRAINT fk_addresses_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
)";

const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients");

/// The arguments every client script takes: the tenant through the proxy, and a direct root
/// connection to its physical database to compare with.
fn script_args(env: &TestEnv, tt: &TestTenant) -> Vec<String> {
    let a = backend_admin();
    vec![
        format!("--host={}", env.addr.ip()),
        format!("--port={}", env.addr.port()),
        format!("--user={}", tt.user),
        format!("--password={}", tt.password),
        format!("--db={}", tt.db),
        format!("--physical={}", tt.physical),
        format!("--direct-host={}", a.host),
        format!("--direct-port={}", a.port),
        format!("--direct-user={}", a.user),
        format!("--direct-password={}", a.password),
    ]
}

/// Runs a client script to the end and checks it passed every check. Exit status 3 means the
/// client package is missing: `install` says how to get it.
async fn run_script(
    program: &str,
    mut args: Vec<String>,
    env: &TestEnv,
    tt: &TestTenant,
    done: &str,
    install: &str,
) -> Result<()> {
    args.extend(script_args(env, tt));
    let out = run_program(program, &args, None, Duration::from_secs(240)).await?;
    println!("{}", out.stdout);
    if !out.stderr.trim().is_empty() {
        println!("--- stderr ---\n{}", out.stderr);
    }
    ensure!(
        out.code != Some(3),
        "client package missing ({install})\n{}",
        out.dump()
    );
    let refused: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("refused "))
        .collect();
    ensure!(
        out.ok,
        "{} failed; statements with server errors:\n{}\n{}",
        args[0],
        refused.join("\n"),
        out.dump()
    );
    ensure!(
        out.stdout.contains(done),
        "{} exited 0 without finishing\n{}",
        args[0],
        out.dump()
    );
    Ok(())
}

/// Runs the test body between a fresh environment and its cleanup, which runs even when the
/// body fails.
macro_rules! with_env {
    (|$env:ident, $tt:ident| $body:expr) => {{
        let mut $env = TestEnv::start().await?;
        let result: Result<()> = async {
            let $tt = $env.tenant(SCHEMA).await?;
            $body
        }
        .await;
        $env.cleanup().await?;
        result
    }};
}

/// A second tenant holding a row of its own: the scripts must neither see nor change it.
async fn other_tenant(env: &mut TestEnv) -> Result<TestTenant> {
    let other = env.tenant(SCHEMA).await?;
    let mut root = root_conn(Some(&other.physical)).await?;
    root.query_drop("INSERT INTO users (name, email) VALUES ('secret', 'secret@example.com')")
        .await?;
    Ok(other)
}

async fn other_untouched(other: &TestTenant) -> Result<()> {
    let mut root = root_conn(Some(&other.physical)).await?;
    let rows: Vec<String> = root.query("SELECT name FROM users").await?;
    ensure!(
        rows == ["secret"],
        "the other tenant's users changed: {rows:?}"
    );
    Ok(())
}

const PY_INSTALL: &str =
    "pip install 'SQLAlchemy>=2' PyMySQL mysql-connector-python mysqlclient; mysqlclient needs \
     apt-get install pkg-config libmariadb-dev gcc python3-dev";

// ---------------------------------------------------------------------------------------------
// SQLAlchemy 2.x
// ---------------------------------------------------------------------------------------------

async fn sqlalchemy(driver: &str) -> Result<()> {
    with_env!(|env, tt| {
        let other = other_tenant(&mut env).await?;
        let mut args = vec![
            format!("{CLIENTS}/sqlalchemy_check.py"),
            format!("--driver={driver}"),
        ];
        // OCTODB_ORM_ECHO=1 prints every statement SQLAlchemy sends (its echo log).
        if std::env::var("OCTODB_ORM_ECHO").is_ok_and(|v| v == "1") {
            args.push("--echo".into());
        }
        run_script(
            "python3",
            args,
            &env,
            &tt,
            "all SQLAlchemy checks passed",
            PY_INSTALL,
        )
        .await?;
        other_untouched(&other).await?;
        // What the ORM part leaves behind, seen directly on the backend.
        let mut root = root_conn(Some(&tt.physical)).await?;
        let users: Vec<String> = root.query("SELECT name FROM users ORDER BY id").await?;
        ensure!(users == ["bob", "carol"], "users left: {users:?}");
        Ok(())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_pymysql() -> Result<()> {
    sqlalchemy("pymysql").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_mysqlclient() -> Result<()> {
    sqlalchemy("mysqldb").await
}

// ---------------------------------------------------------------------------------------------
// Node mysql2
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_mysql2_pool_execute_json() -> Result<()> {
    with_env!(|env, tt| {
        let other = other_tenant(&mut env).await?;
        run_script(
            "node",
            vec![format!("{CLIENTS}/node/mysql2_check.js")],
            &env,
            &tt,
            "all mysql2 checks passed",
            "cd tests/clients/node && npm ci",
        )
        .await?;
        other_untouched(&other).await
    })
}

// ---------------------------------------------------------------------------------------------
// mysql-connector-python (pure Python) and mysqlclient
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_connector_python_pure() -> Result<()> {
    with_env!(|env, tt| {
        let other = other_tenant(&mut env).await?;
        run_script(
            "python3",
            vec![format!("{CLIENTS}/mysql_connector_check.py")],
            &env,
            &tt,
            "all mysql-connector-python checks passed",
            PY_INSTALL,
        )
        .await?;
        other_untouched(&other).await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysqlclient_mysqldb() -> Result<()> {
    with_env!(|env, tt| {
        let other = other_tenant(&mut env).await?;
        run_script(
            "python3",
            vec![format!("{CLIENTS}/mysqlclient_check.py")],
            &env,
            &tt,
            "all mysqlclient checks passed",
            PY_INSTALL,
        )
        .await?;
        other_untouched(&other).await
    })
}
