//! The per-tenant result cache (issue 6), with real clients against the in-process proxy and
//! the real MariaDB. A cached answer is told from a fresh one by changing the row out of band
//! (as root on the tenant's physical database, which the proxy cannot see): the cache still
//! answers with the old value, the backend with the new one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use octodb_catalog::LimitSettings;
use octodb_proxy::result_cache::{Scope, Stats};
use octodb_tests::{root_conn, TestEnv, TestTenant};

const SCHEMA: &str = "CREATE TABLE items (
    id INT PRIMARY KEY,
    name VARCHAR(50) NOT NULL
);
CREATE TABLE other (id INT PRIMARY KEY)";

const QUERY: &str = "SELECT name FROM items WHERE id = 1";

/// A tenant with `items` (row 1 = 'a') and `other`, and a result cache TTL when `ttl_ms`.
async fn tenant(env: &mut TestEnv, ttl_ms: Option<u32>) -> Result<TestTenant> {
    let t = env.tenant(SCHEMA).await?;
    let mut root = root_conn(Some(&t.physical)).await?;
    root.query_drop("INSERT INTO items VALUES (1, 'a'), (2, 'z')")
        .await?;
    if ttl_ms.is_some() {
        let limits = LimitSettings {
            result_cache_ttl_ms: ttl_ms,
            ..LimitSettings::default()
        };
        env.set_limits(&t, &limits).await?;
    }
    Ok(t)
}

/// Changes row 1 behind the proxy's back.
async fn out_of_band(t: &TestTenant, name: &str) -> Result<()> {
    let mut root = root_conn(Some(&t.physical)).await?;
    root.exec_drop("UPDATE items SET name = ? WHERE id = 1", (name,))
        .await?;
    Ok(())
}

async fn name(c: &mut Conn) -> Result<String> {
    c.query_first(QUERY).await?.context("no row")
}

fn stats(env: &TestEnv) -> Stats {
    env.shared.results.stats()
}

#[tokio::test]
async fn off_by_default() -> Result<()> {
    TestEnv::run_with(
        |_| {},
        |mut env| async move {
            let r = async {
                let t = tenant(&mut env, None).await?;
                let mut c = env.connect(&t).await?;
                ensure!(name(&mut c).await? == "a");
                ensure!(name(&mut c).await? == "a");
                out_of_band(&t, "b").await?;
                ensure!(name(&mut c).await? == "b");
                // Not even looked up.
                ensure!(stats(&env) == Stats::default(), "{:?}", stats(&env));
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

#[tokio::test]
async fn a_cached_result_invalidated_by_a_write() -> Result<()> {
    TestEnv::run_with(
        |_| {},
        |mut env| async move {
            let r = async {
                let t = tenant(&mut env, Some(60_000)).await?;
                let mut c = env.connect(&t).await?;
                ensure!(name(&mut c).await? == "a");
                out_of_band(&t, "b").await?;
                // Served from the cache: the backend already says 'b'.
                ensure!(name(&mut c).await? == "a");
                let s = stats(&env);
                ensure!(s.hits == 1 && s.misses == 1 && s.stored == 1, "{s:?}");

                // The tenant's own UPDATE (of another row) drops it: the next answer is fresh.
                c.query_drop("UPDATE items SET name = 'y' WHERE id = 2")
                    .await?;
                ensure!(name(&mut c).await? == "b");
                ensure!(name(&mut c).await? == "b");
                ensure!(stats(&env).hits == 2, "{:?}", stats(&env));

                // INSERT and DELETE too, from another session of the tenant, and a prepared
                // (binary protocol) write.
                let mut other = env.connect(&t).await?;
                let writes = [
                    "INSERT INTO items VALUES (3, 'c')",
                    "DELETE FROM items WHERE id = 3",
                    "REPLACE INTO items VALUES (2, 'x')",
                ];
                for (i, write) in writes.iter().enumerate() {
                    let fresh = format!("v{i}");
                    out_of_band(&t, &fresh).await?;
                    other.query_drop(*write).await?;
                    ensure!(name(&mut c).await? == fresh, "after {write}");
                }
                out_of_band(&t, "p").await?;
                other
                    .exec_drop("UPDATE items SET name = ? WHERE id = ?", ("w", 2))
                    .await?;
                ensure!(name(&mut c).await? == "p", "after a prepared UPDATE");

                // By default a write to another table of the database counts too (a
                // cascading foreign key could have changed this one).
                ensure!(name(&mut c).await? == "p");
                out_of_band(&t, "q").await?;
                other.query_drop("INSERT INTO other VALUES (1)").await?;
                ensure!(name(&mut c).await? == "q");
                ensure!(stats(&env).invalidations >= 6, "{:?}", stats(&env));
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

#[tokio::test]
async fn table_scope_leaves_other_tables_alone() -> Result<()> {
    TestEnv::run_with(
        |c| c.result_cache.invalidation = Scope::Table,
        |mut env| async move {
            let r = async {
                let t = tenant(&mut env, Some(60_000)).await?;
                let mut c = env.connect(&t).await?;
                ensure!(name(&mut c).await? == "a");
                out_of_band(&t, "b").await?;
                c.query_drop("INSERT INTO other VALUES (1)").await?;
                ensure!(name(&mut c).await? == "a");
                c.query_drop("DELETE FROM items WHERE id = 2").await?;
                ensure!(name(&mut c).await? == "b");
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

#[tokio::test]
async fn entries_expire_with_the_ttl() -> Result<()> {
    TestEnv::run_with(
        |_| {},
        |mut env| async move {
            let r = async {
                let t = tenant(&mut env, Some(400)).await?;
                let mut c = env.connect(&t).await?;
                ensure!(name(&mut c).await? == "a");
                out_of_band(&t, "b").await?;
                ensure!(name(&mut c).await? == "a");
                tokio::time::sleep(Duration::from_millis(600)).await;
                ensure!(name(&mut c).await? == "b");
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

#[tokio::test]
async fn transactions_neither_read_nor_fill_the_cache() -> Result<()> {
    TestEnv::run_with(
        |_| {},
        |mut env| async move {
            let r = async {
                let t = tenant(&mut env, Some(60_000)).await?;
                let mut c = env.connect(&t).await?;
                ensure!(name(&mut c).await? == "a");
                out_of_band(&t, "b").await?;
                // Inside a transaction the backend answers (its snapshot, its own writes).
                c.query_drop("BEGIN").await?;
                ensure!(name(&mut c).await? == "b");
                c.query_drop("UPDATE items SET name = 'mine' WHERE id = 1")
                    .await?;
                ensure!(name(&mut c).await? == "mine");
                c.query_drop("ROLLBACK").await?;
                // The write in the rolled-back transaction dropped the entry anyway.
                ensure!(name(&mut c).await? == "b");

                // A result read inside a transaction is not kept.
                let before = stats(&env);
                c.query_drop("START TRANSACTION").await?;
                let q2 = "SELECT COUNT(*) FROM items";
                let n: Option<u64> = c.query_first(q2).await?;
                ensure!(n == Some(2));
                c.query_drop("COMMIT").await?;
                let after = stats(&env);
                ensure!(after.stored == before.stored, "{before:?} {after:?}");

                // Nor with autocommit off, where every SELECT opens a transaction.
                c.query_drop("SET autocommit = 0").await?;
                out_of_band(&t, "c").await?;
                ensure!(name(&mut c).await? == "c");
                c.query_drop("COMMIT").await?;
                c.query_drop("SET autocommit = 1").await?;
                ensure!(stats(&env).stored == before.stored);
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

#[tokio::test]
async fn tenants_databases_and_charsets_never_share() -> Result<()> {
    TestEnv::run_with(
        |_| {},
        |mut env| async move {
            let r = async {
                let a = tenant(&mut env, Some(60_000)).await?;
                let b = tenant(&mut env, Some(60_000)).await?;
                out_of_band(&b, "b's").await?;
                // Same text, same logical names: each tenant gets its own rows.
                let mut ca = env.connect(&a).await?;
                let mut cb = env.connect(&b).await?;
                ensure!(name(&mut ca).await? == "a");
                ensure!(name(&mut cb).await? == "b's");
                ensure!(name(&mut ca).await? == "a");
                ensure!(name(&mut cb).await? == "b's");
                let s = stats(&env);
                ensure!(s.hits == 2 && s.misses == 2, "{s:?}");

                // A qualified query from a session without a current database: its own entry.
                let qualified = "SELECT name FROM app.items WHERE id = 2";
                let _: Option<String> = ca.query_first(qualified).await?;
                let no_db = Opts::from(env.opts(&a).db_name(None::<String>));
                let mut bare = Conn::new(no_db).await?;
                let before = stats(&env);
                let got: Option<String> = bare.query_first(qualified).await?;
                ensure!(got.as_deref() == Some("z"));
                let after = stats(&env);
                ensure!(after.misses == before.misses + 1, "{before:?} {after:?}");

                // Another character set: its own entry, in its own encoding.
                out_of_band(&a, "\u{e9}t\u{e9}").await?;
                ca.query_drop("DELETE FROM items WHERE id = 99").await?;
                let utf8: Vec<u8> = ca.query_first(QUERY).await?.context("row")?;
                ensure!(utf8 == "\u{e9}t\u{e9}".as_bytes(), "{utf8:?}");
                let mut latin = env.connect(&a).await?;
                latin.query_drop("SET NAMES latin1").await?;
                let before = stats(&env);
                let l1: Vec<u8> = latin.query_first(QUERY).await?.context("row")?;
                ensure!(l1 == [0xe9, b't', 0xe9], "{l1:?}");
                ensure!(stats(&env).misses == before.misses + 1);
                let l1: Vec<u8> = latin.query_first(QUERY).await?.context("row")?;
                ensure!(l1 == [0xe9, b't', 0xe9], "{l1:?}");
                let utf8: Vec<u8> = ca.query_first(QUERY).await?.context("row")?;
                ensure!(utf8 == "\u{e9}t\u{e9}".as_bytes(), "{utf8:?}");
                ensure!(stats(&env).hits == before.hits + 2);
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}
