//! Transaction-level multiplexing: client sessions share a tenant's few backend connections,
//! and each still sees its own session: settings replayed where they differ and never leaked,
//! pinning while state cannot move, its own LAST_INSERT_ID()/ROW_COUNT()/FOUND_ROWS(), and
//! prepared statements that survive their backend connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use octodb_proxy::backend::PinReason;
use octodb_tests::support::server_code;
use octodb_tests::{root_conn, TestEnv, TestTenant};
use tokio::sync::Semaphore;

const ITEMS: &str = "CREATE TABLE items (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(50) NOT NULL,
    qty INT NOT NULL DEFAULT 0
)";

async fn env_with_pool(max: usize) -> Result<TestEnv> {
    TestEnv::start_with(|c| {
        c.pool_max = max;
        c.pool_wait_secs = 2;
    })
    .await
}

/// The backend connection ids the tenant's user holds on the server.
async fn backend_ids(root: &mut Conn, t: &TestTenant) -> Result<Vec<u64>> {
    Ok(root
        .exec(
            "SELECT id FROM information_schema.processlist WHERE user = ? ORDER BY id",
            (format!("t_{}", t.name),),
        )
        .await?)
}

async fn kill_backend_connections(root: &mut Conn, t: &TestTenant) -> Result<usize> {
    let ids = backend_ids(root, t).await?;
    for id in &ids {
        // A connection may end on its own meanwhile.
        let _ = root.query_drop(format!("KILL {id}")).await;
    }
    Ok(ids.len())
}

async fn time_zone(c: &mut Conn) -> Result<String> {
    Ok(c.query_first("SELECT @@time_zone")
        .await?
        .unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_replayed_and_never_leak() -> Result<()> {
    let mut env = env_with_pool(1).await?;
    let t = env.tenant(ITEMS).await?;
    let mut root = root_conn(None).await?;
    let mut a = env.connect(&t).await?;
    let mut b = env.connect(&t).await?;
    let default_tz = time_zone(&mut b).await?;
    a.query_drop("SET time_zone = '+03:00'").await?;
    a.query_drop("SET sql_mode = 'STRICT_ALL_TABLES'").await?;
    // One backend connection serves both sessions in turn.
    for _ in 0..3 {
        assert_eq!(time_zone(&mut b).await?, default_tz);
        let mode: Option<String> = b.query_first("SELECT @@sql_mode").await?;
        assert_ne!(mode.as_deref(), Some("STRICT_ALL_TABLES"));
        assert_eq!(time_zone(&mut a).await?, "+03:00");
        let mode: Option<String> = a.query_first("SELECT @@sql_mode").await?;
        assert_eq!(mode.as_deref(), Some("STRICT_ALL_TABLES"));
    }
    assert_eq!(backend_ids(&mut root, &t).await?.len(), 1);
    // On a brand-new backend connection too.
    let before = backend_ids(&mut root, &t).await?;
    assert_eq!(kill_backend_connections(&mut root, &t).await?, 1);
    assert_eq!(time_zone(&mut a).await?, "+03:00");
    let after = backend_ids(&mut root, &t).await?;
    assert_eq!(after.len(), 1);
    assert_ne!(
        before, after,
        "the statement ran on another backend connection"
    );
    assert_eq!(time_zone(&mut b).await?, default_tz);
    // Killed after B used it: A's settings are replayed on a new connection, not the dead one.
    kill_backend_connections(&mut root, &t).await?;
    assert_eq!(time_zone(&mut a).await?, "+03:00");
    // A session's SET NAMES is its own as well.
    a.query_drop("SET NAMES latin1").await?;
    let cs: Option<String> = b.query_first("SELECT @@character_set_client").await?;
    assert_eq!(cs.as_deref(), Some("utf8mb4"));
    let cs: Option<String> = a.query_first("SELECT @@character_set_client").await?;
    assert_eq!(cs.as_deref(), Some("latin1"));
    // Several settings at once, one of them a character set on top of SET NAMES: each
    // session gets exactly its own, however the single connection went between them.
    a.query_drop("SET character_set_results = utf8mb3, collation_connection = latin1_bin")
        .await?;
    let settings = "SELECT CONCAT_WS(' ', @@character_set_client, @@character_set_results, \
                    @@collation_connection, @@time_zone, @@sql_mode)";
    for _ in 0..2 {
        let s: Option<String> = b.query_first(settings).await?;
        let s = s.unwrap_or_default();
        assert!(
            s.starts_with(&format!("utf8mb4 utf8mb4 utf8mb4_general_ci {default_tz} ")),
            "{s}"
        );
        assert!(!s.ends_with("STRICT_ALL_TABLES"), "{s}");
        let s: Option<String> = a.query_first(settings).await?;
        assert_eq!(
            s.as_deref(),
            Some("latin1 utf8mb3 latin1_bin +03:00 STRICT_ALL_TABLES")
        );
    }
    assert_eq!(
        env.shared.backends.pins.get(PinReason::SessionState),
        0,
        "recorded settings do not pin"
    );
    drop((a, b, root));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_and_user_variables_pin_until_cleared() -> Result<()> {
    let mut env = env_with_pool(1).await?;
    let t = env.tenant(ITEMS).await?;
    let pins = |env: &TestEnv, r| env.shared.backends.pins.get(r);
    let mut a = env.connect(&t).await?;
    let mut b = env.connect(&t).await?;
    a.query_drop("BEGIN").await?;
    a.query_drop("INSERT INTO items (name) VALUES ('x')")
        .await?;
    assert_eq!(pins(&env, PinReason::Transaction), 1);
    // The only backend connection is A's until it commits: B waits, then gets a clear error.
    let err = b.query_drop("SELECT 1").await.expect_err("pool is busy");
    assert!(err.to_string().contains("backend connections"), "{err}");
    a.query_drop("COMMIT").await?;
    assert_eq!(pins(&env, PinReason::Transaction), 0);
    let n: Option<i64> = b.query_first("SELECT COUNT(*) FROM items").await?;
    assert_eq!(n, Some(1));
    // Autocommit off: the first statement opens a transaction, which pins; ROLLBACK unpins.
    a.query_drop("SET autocommit = 0").await?;
    assert_eq!(pins(&env, PinReason::Transaction), 0);
    a.query_drop("INSERT INTO items (name) VALUES ('y')")
        .await?;
    assert_eq!(pins(&env, PinReason::Transaction), 1);
    a.query_drop("ROLLBACK").await?;
    assert_eq!(pins(&env, PinReason::Transaction), 0);
    // B's statements run with autocommit on, A's with it off.
    b.query_drop("INSERT INTO items (name) VALUES ('b')")
        .await?;
    let ac: Option<i64> = a.query_first("SELECT @@autocommit").await?;
    assert_eq!(ac, Some(0));
    a.query_drop("ROLLBACK").await?;
    let ac: Option<i64> = b.query_first("SELECT @@autocommit").await?;
    assert_eq!(ac, Some(1));
    a.query_drop("SET autocommit = 1").await?;
    // User variables live on one connection: they pin until COM_RESET_CONNECTION.
    a.query_drop("SET @v = 42").await?;
    assert_eq!(pins(&env, PinReason::UserVariables), 1);
    let v: Option<i64> = a.query_first("SELECT @v").await?;
    assert_eq!(v, Some(42));
    a.reset().await?;
    assert_eq!(pins(&env, PinReason::UserVariables), 0);
    let v: Option<Option<i64>> = a.query_first("SELECT @v").await?;
    assert_eq!(v, Some(None));
    // B never saw A's variable.
    let v: Option<Option<i64>> = b.query_first("SELECT @v").await?;
    assert_eq!(v, Some(None));
    a.query_drop("SELECT 7 INTO @w").await?;
    assert_eq!(pins(&env, PinReason::UserVariables), 1);
    drop(a);
    // A session that ends releases its pins (and its connection, reset).
    for _ in 0..50 {
        if pins(&env, PinReason::UserVariables) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pins(&env, PinReason::UserVariables), 0);
    let v: Option<Option<i64>> = b.query_first("SELECT @w").await?;
    assert_eq!(v, Some(None));
    drop(b);
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_goes_out_with_the_transactions_first_statement() -> Result<()> {
    let mut env = env_with_pool(1).await?;
    let t = env.tenant(ITEMS).await?;
    let mut a = env.connect(&t).await?;
    let mut b = env.connect(&t).await?;
    a.query_drop("INSERT INTO items (name, qty) VALUES ('x', 1)")
        .await?;
    async fn in_tx(c: &mut Conn) -> Result<Option<i64>> {
        Ok(c.query_first("SELECT @@in_transaction").await?)
    }
    async fn qty(c: &mut Conn) -> Result<Option<i64>> {
        Ok(c.query_first("SELECT qty FROM items").await?)
    }
    // A's BEGIN holds no backend connection: B, on the only one, is not kept waiting.
    a.query_drop("BEGIN").await?;
    assert_eq!(qty(&mut b).await?, Some(1));
    // The first statement, a SELECT, runs inside the transaction: BEGIN went out with it.
    assert_eq!(in_tx(&mut a).await?, Some(1));
    a.query_drop("UPDATE items SET qty = 2").await?;
    a.query_drop("ROLLBACK").await?;
    assert_eq!(qty(&mut b).await?, Some(1), "the rollback undid the update");
    // A first statement that changes data runs after BEGIN, inside the transaction.
    a.query_drop("start  transaction").await?;
    a.query_drop("UPDATE items SET qty = 3").await?;
    assert_eq!(in_tx(&mut a).await?, Some(1));
    a.query_drop("ROLLBACK").await?;
    assert_eq!(qty(&mut b).await?, Some(1));
    // A transaction that ran nothing ends in the proxy; the next statement is outside one.
    a.query_drop("BEGIN").await?;
    a.query_drop("COMMIT").await?;
    assert_eq!(in_tx(&mut a).await?, Some(0));
    // So does one whose end does not chain, in any spelling, while another
    // session holds the only connection; such a transaction holds none and pins nothing.
    b.query_drop("BEGIN").await?;
    assert_eq!(qty(&mut b).await?, Some(1));
    for end in ["COMMIT AND NO CHAIN", "rollback  work and no chain;"] {
        a.query_drop("BEGIN").await?;
        let held = env.shared.backends.pins.get(PinReason::Transaction);
        assert_eq!(held, 1, "B's only");
        a.query_drop(end).await?;
    }
    b.query_drop("COMMIT").await?;
    assert_eq!(env.shared.backends.pins.get(PinReason::Transaction), 0);
    // Prepared BEGIN and ROLLBACK, as sysbench sends them.
    let begin = a.prep("BEGIN").await?;
    let rollback = a.prep("ROLLBACK").await?;
    a.exec_drop(&begin, ()).await?;
    let v: Option<i64> = a.exec_first("SELECT @@in_transaction", ()).await?;
    assert_eq!(v, Some(1));
    a.exec_drop("UPDATE items SET qty = 4", ()).await?;
    a.exec_drop(&rollback, ()).await?;
    assert_eq!(qty(&mut b).await?, Some(1));
    // The pooled connection is killed while idle: the first statement runs again on a new
    // one, its BEGIN with it.
    a.query_drop("BEGIN").await?;
    let mut root = root_conn(None).await?;
    assert_eq!(kill_backend_connections(&mut root, &t).await?, 1);
    for _ in 0..50 {
        if backend_ids(&mut root, &t).await?.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(in_tx(&mut a).await?, Some(1));
    a.query_drop("UPDATE items SET qty = 5").await?;
    a.query_drop("ROLLBACK").await?;
    assert_eq!(qty(&mut b).await?, Some(1));
    // WITH CONSISTENT SNAPSHOT takes its snapshot at once, on the backend: A holds the only
    // connection until it commits.
    a.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await?;
    let err = b.query_drop("SELECT 1").await.expect_err("pool is busy");
    assert!(err.to_string().contains("backend connections"), "{err}");
    a.query_drop("COMMIT").await?;
    assert_eq!(qty(&mut b).await?, Some(1));
    drop((a, b));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_values_are_the_sessions_own() -> Result<()> {
    let mut env = env_with_pool(1).await?;
    let t = env.tenant(ITEMS).await?;
    let mut a = env.connect(&t).await?;
    let mut b = env.connect(&t).await?;
    a.query_drop("INSERT INTO items (name) VALUES ('a1')")
        .await?;
    assert_eq!(a.last_insert_id(), Some(1));
    b.query_drop("INSERT INTO items (name) VALUES ('b1'), ('b2')")
        .await?;
    assert_eq!(b.last_insert_id(), Some(2));
    // The backend connection's own LAST_INSERT_ID() is now B's (2).
    let id: Option<u64> = a.query_first("SELECT LAST_INSERT_ID()").await?;
    assert_eq!(id, Some(1));
    let id: Option<u64> = a.exec_first("SELECT LAST_INSERT_ID()", ()).await?;
    assert_eq!(id, Some(1), "binary protocol");
    let id: Option<u64> = b.exec_first("SELECT LAST_INSERT_ID() + ?", (0,)).await?;
    assert_eq!(id, Some(2));
    // A child row pointing at the session's own parent.
    b.exec_drop("INSERT INTO items (name) VALUES (?)", ("b3",))
        .await?;
    a.query_drop("INSERT INTO items (name, qty) VALUES ('child', LAST_INSERT_ID())")
        .await?;
    let qty: Option<i64> = a
        .query_first("SELECT qty FROM items WHERE name = 'child'")
        .await?;
    assert_eq!(qty, Some(1));
    // ROW_COUNT() of the session's previous statement.
    a.query_drop("UPDATE items SET qty = qty + 1 WHERE name LIKE 'b%'")
        .await?;
    b.query_drop("UPDATE items SET qty = 9 WHERE name = 'a1'")
        .await?;
    let n: Option<i64> = a.query_first("SELECT ROW_COUNT()").await?;
    assert_eq!(n, Some(3));
    let n: Option<i64> = b.exec_first("SELECT ROW_COUNT()", ()).await?;
    assert_eq!(n, Some(1));
    // FOUND_ROWS(): rows of the session's previous result.
    let all: Vec<String> = a.query("SELECT name FROM items").await?;
    let _: Vec<i64> = b.query("SELECT id FROM items WHERE id = 1").await?;
    let n: Option<u64> = a.query_first("SELECT FOUND_ROWS()").await?;
    assert_eq!(n, Some(all.len() as u64));
    // SQL_CALC_FOUND_ROWS keeps the connection until the next statement.
    let _: Vec<String> = a
        .query("SELECT SQL_CALC_FOUND_ROWS name FROM items LIMIT 1")
        .await?;
    assert_eq!(env.shared.backends.pins.get(PinReason::FoundRows), 1);
    let n: Option<u64> = a.query_first("SELECT FOUND_ROWS()").await?;
    assert_eq!(n, Some(all.len() as u64));
    assert_eq!(env.shared.backends.pins.get(PinReason::FoundRows), 0);
    drop((a, b));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_survive_a_recycled_backend_connection() -> Result<()> {
    let mut env = TestEnv::start_with(|c| {
        c.pool_max = 2;
        c.backend_stmt_cache = 4;
    })
    .await?;
    let t = env.tenant(ITEMS).await?;
    let mut root = root_conn(None).await?;
    let mut a = env.connect(&t).await?;
    a.query_drop("INSERT INTO items (name, qty) VALUES ('x', 1), ('y', 2), ('z', 3)")
        .await?;
    let stmt = a.prep("SELECT name FROM items WHERE qty = ?").await?;
    let name: Option<String> = a.exec_first(&stmt, (2,)).await?;
    assert_eq!(name.as_deref(), Some("y"));
    for round in 0..3 {
        assert!(kill_backend_connections(&mut root, &t).await? >= 1);
        let name: Option<String> = a.exec_first(&stmt, (3,)).await?;
        assert_eq!(name.as_deref(), Some("z"), "round {round}");
    }
    // More statements than a backend connection caches: all still run.
    let mut stmts = Vec::new();
    for i in 0..10 {
        stmts.push(
            a.prep(format!("SELECT qty + {i} FROM items WHERE name = ?"))
                .await?,
        );
    }
    for (i, s) in stmts.iter().enumerate() {
        let v: Option<i64> = a.exec_first(s, ("x",)).await?;
        assert_eq!(v, Some(1 + i as i64));
    }
    // A closed statement is unknown afterwards; the others still run.
    let closed = stmts[0].clone();
    a.close(stmts.remove(0)).await?;
    let err = a
        .exec_drop(&closed, ("x",))
        .await
        .expect_err("closed statement");
    assert_eq!(server_code(&err), Some(1243), "{err}");
    let name: Option<String> = a.exec_first(&stmt, (1,)).await?;
    assert_eq!(name.as_deref(), Some("x"));
    // Long data is buffered by the session and sent on execute.
    let big = "q".repeat(40);
    let ins = a
        .prep("INSERT INTO items (name, qty) VALUES (?, ?)")
        .await?;
    a.exec_drop(&ins, (big.clone(), 5)).await?;
    kill_backend_connections(&mut root, &t).await?;
    let got: Option<String> = a
        .exec_first("SELECT name FROM items WHERE qty = ?", (5,))
        .await?;
    assert_eq!(got, Some(big));
    drop((a, root));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_share_four_backend_connections() -> Result<()> {
    let mut env = TestEnv::start_with(|c| {
        c.pool_max = 4;
        c.pool_wait_secs = 30;
    })
    .await?;
    let t = env.tenant(ITEMS).await?;
    let mut setup = env.connect(&t).await?;
    for chunk in 0..4 {
        let values: Vec<String> = (0..50)
            .map(|i| format!("('n{}', {})", chunk * 50 + i + 1, chunk * 50 + i + 1))
            .collect();
        setup
            .query_drop(format!(
                "INSERT INTO items (name, qty) VALUES {}",
                values.join(", ")
            ))
            .await?;
    }
    drop(setup);
    let stop = tokio_util::sync::CancellationToken::new();
    let watcher = {
        let t = t.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut root = root_conn(None).await?;
            let mut most = 0;
            while !stop.is_cancelled() {
                most = most.max(backend_ids(&mut root, &t).await?.len());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::Ok(most)
        })
    };
    // Logins read the catalog (its own pool, root connections on the same server): they are
    // spread out so as not to exhaust the shared server's max_connections; the statements then
    // all run at once, from 200 open client connections.
    let logins = Arc::new(Semaphore::new(16));
    let mut connecting = Vec::new();
    for _ in 0..200 {
        let (opts, logins) = (env.opts(&t), logins.clone());
        connecting.push(tokio::spawn(async move {
            let _permit = logins.acquire().await?;
            anyhow::Ok(Conn::new(opts).await?)
        }));
    }
    let mut clients = Vec::new();
    for c in connecting {
        clients.push(c.await??);
    }
    let mut tasks = Vec::new();
    for (client, mut c) in (0..200u32).zip(clients) {
        tasks.push(tokio::spawn(async move {
            for i in 0..10u32 {
                let id = (client * 7 + i * 13) % 200 + 1;
                let name: Option<String> = if i % 2 == 0 {
                    c.exec_first("SELECT name FROM items WHERE id = ?", (id,))
                        .await?
                } else {
                    c.query_first(format!("SELECT name FROM items WHERE id = {id}"))
                        .await?
                };
                assert_eq!(name, Some(format!("n{id}")));
            }
            c.disconnect().await?;
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    stop.cancel();
    let most = watcher.await??;
    assert!(most <= 4, "{most} backend connections for one tenant");
    assert!(most >= 1);
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_statement_sets_row_count_to_minus_one() -> Result<()> {
    let mut env = env_with_pool(1).await?;
    let t = env.tenant(ITEMS).await?;
    let mut a = env.connect(&t).await?;
    let mut b = env.connect(&t).await?;
    a.query_drop("INSERT INTO items (name) VALUES ('a')")
        .await?;
    let err = a
        .query_drop("INSERT INTO items (id, name) VALUES (1, 'dup')")
        .await
        .expect_err("duplicate key");
    assert_eq!(server_code(&err), Some(1062));
    // B's update runs on the same (only) backend connection in between.
    b.query_drop("UPDATE items SET qty = 2").await?;
    let n: Option<i64> = a.query_first("SELECT ROW_COUNT()").await?;
    assert_eq!(n, Some(-1));
    let n: Option<i64> = b.query_first("SELECT ROW_COUNT()").await?;
    assert_eq!(n, Some(1));
    drop((a, b));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_are_read_from_the_connection_that_made_them() -> Result<()> {
    let mut env = env_with_pool(2).await?;
    let t = env.tenant(ITEMS).await?;
    let mut a = env.connect(&t).await?;
    let mut b = env.connect(&t).await?;
    let _: Option<Option<i64>> = a.query_first("SELECT 1/0").await?;
    assert_eq!(env.shared.backends.pins.get(PinReason::Warnings), 1);
    // B's statements run meanwhile; its own SHOW WARNINGS sees none of A's.
    let _: Option<i64> = b.query_first("SELECT 1").await?;
    let w: Vec<(String, u16, String)> = b.query("SHOW WARNINGS").await?;
    assert!(w.is_empty(), "{w:?}");
    let w: Vec<(String, u16, String)> = a.query("SHOW WARNINGS").await?;
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].1, 1365);
    assert_eq!(env.shared.backends.pins.get(PinReason::Warnings), 0);
    drop((a, b));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexing_can_be_switched_off() -> Result<()> {
    let mut env = TestEnv::start_with(|c| {
        c.pool_max = 2;
        c.multiplexing = false;
    })
    .await?;
    let t = env.tenant(ITEMS).await?;
    let mut root = root_conn(None).await?;
    let mut a = env.connect(&t).await?;
    let mut b = env.connect(&t).await?;
    a.query_drop("SET time_zone = '+05:00'").await?;
    let _: Option<i64> = b.query_first("SELECT 1").await?;
    // Each session keeps its own backend connection.
    assert_eq!(env.shared.backends.pins.get(PinReason::Disabled), 2);
    assert_eq!(backend_ids(&mut root, &t).await?.len(), 2);
    assert_eq!(time_zone(&mut a).await?, "+05:00");
    assert_ne!(time_zone(&mut b).await?, "+05:00");
    drop((a, b, root));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_backend_connections_close_while_the_proxy_is_quiet() -> Result<()> {
    let mut env = TestEnv::start_with(|c| {
        c.pool_max = 4;
        c.pool_idle_secs = 1;
    })
    .await?;
    let t = env.tenant(ITEMS).await?;
    let mut root = root_conn(None).await?;
    // Two statements at once, so that two backend connections go back to the pool.
    let (mut a, mut b) = (env.connect(&t).await?, env.connect(&t).await?);
    a.query_drop("BEGIN").await?;
    b.query_drop("BEGIN").await?;
    a.query_drop("SELECT COUNT(*) FROM items").await?;
    b.query_drop("SELECT COUNT(*) FROM items").await?;
    a.query_drop("COMMIT").await?;
    b.query_drop("COMMIT").await?;
    let tenant_id = env.tenant_id(&t).await?;
    assert_eq!(env.shared.backends.idle(tenant_id), 2);
    assert_eq!(backend_ids(&mut root, &t).await?.len(), 2);
    // No statement reaches the pool from here on: the clients stay connected but quiet.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let open = backend_ids(&mut root, &t).await?.len();
        if open == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{open} idle backend connections still open 10 s after a 1 s idle limit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(env.shared.backends.idle(tenant_id), 0);
    // The sessions still work, on new backend connections.
    let n: Option<u64> = a.query_first("SELECT COUNT(*) FROM items").await?;
    assert_eq!(n, Some(0));
    drop((a, b));
    env.cleanup().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_on_several_workers_share_one_backend_connection() -> Result<()> {
    // Three workers and one backend connection: each
    // statement's connection was last used by a session of whichever worker ran before, so it
    // keeps moving between workers, with its prepared statements and session state.
    let mut env = TestEnv::start_with(|c| {
        c.worker_threads = 3;
        c.pool_max = 1;
        c.pool_wait_secs = 30;
    })
    .await?;
    let t = env.tenant(ITEMS).await?;
    let mut setup = env.connect(&t).await?;
    setup
        .query_drop("INSERT INTO items (name, qty) VALUES ('a', 1), ('b', 2), ('c', 3)")
        .await?;
    setup.disconnect().await?;
    let sessions = |env: &TestEnv| {
        (0..3)
            .map(|w| env.shared.workers.sessions(w))
            .sum::<usize>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sessions(&env) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sessions still counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The kernel spreads connections over the workers' listeners by address; a worker that
    // gets too many more than another hands the next ones over. Connect until every worker
    // runs two sessions at least.
    let mut clients = Vec::new();
    while (0..3).any(|w| env.shared.workers.sessions(w) < 2) {
        assert!(clients.len() < 40, "sessions never spread over the workers");
        clients.push(env.connect(&t).await?);
    }
    let mut tasks = Vec::new();
    for (client, mut c) in (0..).zip(clients) {
        tasks.push(tokio::spawn(async move {
            // Session state that must follow the session onto whichever connection serves it.
            let zone = format!("+{:02}:00", client % 13);
            c.query_drop(format!("SET time_zone = '{zone}'")).await?;
            let stmt = c.prep("SELECT name FROM items WHERE qty = ?").await?;
            for i in 0..30u32 {
                let qty = (client + i) % 3 + 1;
                let want = ["a", "b", "c"][(qty - 1) as usize];
                let name: Option<String> = if i % 2 == 0 {
                    c.exec_first(&stmt, (qty,)).await?
                } else {
                    c.query_first(format!("SELECT name FROM items WHERE qty = {qty}"))
                        .await?
                };
                assert_eq!(
                    name.as_deref(),
                    Some(want),
                    "client {client}, statement {i}"
                );
                assert_eq!(time_zone(&mut c).await?, zone, "client {client}");
            }
            c.disconnect().await?;
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let tenant_id = env.tenant_id(&t).await?;
    assert!(
        env.shared.backends.moved(tenant_id) > 0,
        "the connection never moved between workers"
    );
    let mut root = root_conn(None).await?;
    assert!(backend_ids(&mut root, &t).await?.len() <= 1);
    // Sessions ended: no worker counts them any more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sessions(&env) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sessions still counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.cleanup().await
}
