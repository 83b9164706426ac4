//! Per-tenant limits (issue 6), with real clients against the in-process proxy and the real
//! MariaDB: each limit reached, with its error, other tenants unaffected; and a limit changed
//! through the admin API while the proxy runs, applied to the running proxy within a second.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use octodb_catalog::LimitSettings;
use octodb_tests::admin::AdminServer;
use octodb_tests::{root_conn, TestEnv, TestTenant};

/// The contract for run-time changes.
const FOLLOW_WITHIN: Duration = Duration::from_secs(1);

/// The server error of a failed operation: (code, message).
fn server_error<T: std::fmt::Debug>(r: Result<T, mysql_async::Error>) -> Result<(u16, String)> {
    match r {
        Err(mysql_async::Error::Server(e)) => Ok((e.code, e.message)),
        other => bail!("expected a server error, got {other:?}"),
    }
}

async fn connect_as(
    env: &TestEnv,
    t: &TestTenant,
    password: &str,
) -> Result<Conn, mysql_async::Error> {
    Conn::new(Opts::from(env.opts(t).pass(Some(password.to_string())))).await
}

#[tokio::test]
async fn client_connections_over_the_limit_get_1040_until_one_closes() -> Result<()> {
    TestEnv::run_with(
        |_| {},
        |mut env| async move {
            let r = async {
                let t = env.tenant("CREATE TABLE t (id INT PRIMARY KEY)").await?;
                let other = env.tenant("").await?;
                env.set_limits(
                    &t,
                    &LimitSettings {
                        max_client_connections: Some(2),
                        ..LimitSettings::default()
                    },
                )
                .await?;
                let mut a = env.connect(&t).await?;
                let b = env.connect(&t).await?;
                let (code, message) = server_error(connect_as(&env, &t, &t.password).await)?;
                ensure!(code == 1040, "{code} {message}");
                ensure!(
                    message
                        == format!(
                            "Too many connections: tenant {} is limited to 2 client connections",
                            t.name
                        ),
                    "{message}"
                );
                // Another tenant is not counted against it.
                let mut o = env.connect(&other).await?;
                o.query_drop("SELECT 1").await?;
                // The two admitted sessions work.
                a.query_drop("INSERT INTO t VALUES (1)").await?;
                // Closing one lets a new one in (once the proxy saw it close).
                b.disconnect().await?;
                let start = Instant::now();
                let mut c = loop {
                    match env.connect(&t).await {
                        Ok(c) => break c,
                        Err(_) if start.elapsed() < Duration::from_secs(2) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => bail!("no new connection after closing one: {e}"),
                    }
                };
                let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM t").await?;
                ensure!(n == Some(1));
                // And it is full again.
                ensure!(server_error(connect_as(&env, &t, &t.password).await)?.0 == 1040);
                for conn in [a, c, o] {
                    conn.disconnect().await?;
                }
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

/// Runs `per_client` statements on each of `clients` connections at once (alternating text
/// and prepared); returns (successes, the 1226 errors with how long each took).
async fn burst(
    env: &TestEnv,
    t: &TestTenant,
    clients: usize,
    per_client: usize,
) -> Result<(usize, Vec<(String, Duration)>)> {
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(env.connect(t).await?);
    }
    let mut tasks = Vec::new();
    for mut c in conns {
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            let mut refused = Vec::new();
            for i in 0..per_client {
                let start = Instant::now();
                let r: Result<Vec<i64>, _> = if i % 2 == 0 {
                    c.query("SELECT id FROM t").await
                } else {
                    c.exec("SELECT id FROM t WHERE id > ?", (0,)).await
                };
                match r {
                    Ok(_) => ok += 1,
                    Err(mysql_async::Error::Server(e)) if e.code == 1226 => {
                        refused.push((e.message, start.elapsed()))
                    }
                    Err(e) => return Err(anyhow::anyhow!("unexpected error: {e}")),
                }
            }
            c.disconnect().await?;
            Ok::<_, anyhow::Error>((ok, refused))
        }));
    }
    let mut ok = 0;
    let mut refused = Vec::new();
    for task in tasks {
        let (o, r) = task.await??;
        ok += o;
        refused.extend(r);
    }
    Ok((ok, refused))
}

#[tokio::test]
async fn statements_over_the_rate_wait_then_get_1226() -> Result<()> {
    TestEnv::run_with(
        |c| c.limits.rate_wait_ms = 300,
        |mut env| async move {
            let r = async {
                let t = env.tenant("CREATE TABLE t (id INT PRIMARY KEY)").await?;
                let other = env.tenant("CREATE TABLE t (id INT PRIMARY KEY)").await?;
                env.set_limits(
                    &t,
                    &LimitSettings {
                        statements_per_second: Some(10),
                        statement_burst: Some(5),
                        ..LimitSettings::default()
                    },
                )
                .await?;
                // A client within the rate is never refused: one statement every 150 ms.
                let mut slow = env.connect(&t).await?;
                for _ in 0..8 {
                    slow.query_drop("SELECT id FROM t").await?;
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                slow.disconnect().await?;
                // 6 clients x 10 statements at once: the burst, then about 10 a second.
                let start = Instant::now();
                let (ok, refused) = burst(&env, &t, 6, 10).await?;
                let took = start.elapsed();
                ensure!(ok + refused.len() == 60);
                ensure!(
                    !refused.is_empty(),
                    "no statement refused ({ok} ran in {took:?})"
                );
                ensure!(ok >= 5, "even the burst was refused: {ok}");
                // The rate held: at most the burst plus 10 a second (and the reserved waits).
                let allowed = 5.0 + 10.0 * (took.as_secs_f64() + 0.3) + 1.0;
                ensure!((ok as f64) <= allowed, "{ok} ran in {took:?}");
                let expected = format!(
                    "Tenant '{}' has exceeded its limit of 10 statements per second (burst 5); \
                     try again later",
                    t.name
                );
                for (message, waited) in &refused {
                    ensure!(message == &expected, "{message}");
                    // Refused after the bounded wait, not at once and not much later.
                    ensure!(
                        *waited >= Duration::from_millis(290) && *waited < Duration::from_secs(3),
                        "refused after {waited:?}"
                    );
                }
                // Another tenant's statements are not throttled.
                let (ok, refused) = burst(&env, &other, 6, 10).await?;
                ensure!(ok == 60 && refused.is_empty(), "{ok} {refused:?}");
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

/// Fills `t` with 100 rows: five self-joins then make 10^10 rows, which no test waits for.
async fn fill(c: &mut Conn) -> Result<()> {
    let values: Vec<String> = (1..=100).map(|i| format!("({i})")).collect();
    c.query_drop(format!("INSERT INTO t VALUES {}", values.join(", ")))
        .await?;
    Ok(())
}

const SLOW: &str = "SELECT COUNT(*) FROM t a, t b, t c, t d, t e";
const SLOW_PREPARED: &str = "SELECT COUNT(*) FROM t a, t b, t c, t d, t e WHERE a.id > ?";

/// Runs the slow query, expecting the statement timeout (1969) within `within`. Should the
/// timeout not apply, the query is killed on the backend so the test ends.
async fn expect_timeout(
    c: &mut Conn,
    t: &TestTenant,
    prepared: bool,
    within: Duration,
) -> Result<()> {
    let start = Instant::now();
    let run = async {
        if prepared {
            c.exec_drop(SLOW_PREPARED, (0,)).await
        } else {
            c.query_drop(SLOW).await
        }
    };
    let r = match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(r) => r,
        Err(_) => {
            let mut root = root_conn(None).await?;
            let ids: Vec<u64> = root
                .exec(
                    "SELECT id FROM information_schema.processlist WHERE user = ?",
                    (format!("t_{}", t.name),),
                )
                .await?;
            for id in ids {
                let _ = root.query_drop(format!("KILL QUERY {id}")).await;
            }
            bail!("the slow query was not interrupted");
        }
    };
    let (code, message) = server_error(r)?;
    ensure!(code == 1969, "{code} {message}");
    ensure!(message.contains("max_statement_time"), "{message}");
    ensure!(start.elapsed() < within, "took {:?}", start.elapsed());
    Ok(())
}

#[tokio::test]
async fn statement_timeout_interrupts_slow_statements() -> Result<()> {
    TestEnv::run_with(
        |_| {},
        |mut env| async move {
            let r = async {
                let t = env.tenant("CREATE TABLE t (id INT PRIMARY KEY)").await?;
                env.set_limits(
                    &t,
                    &LimitSettings {
                        statement_timeout_ms: Some(300),
                        ..LimitSettings::default()
                    },
                )
                .await?;
                let mut c = env.connect(&t).await?;
                fill(&mut c).await?;
                expect_timeout(&mut c, &t, false, Duration::from_secs(3)).await?;
                expect_timeout(&mut c, &t, true, Duration::from_secs(3)).await?;
                // The tenant's own session setting does not lift it (if the policy lets the
                // SET through at all).
                let _ = c.query_drop("SET SESSION max_statement_time = 0").await;
                expect_timeout(&mut c, &t, false, Duration::from_secs(3)).await?;
                // Quick statements are unaffected, and the session goes on.
                let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM t a, t b").await?;
                ensure!(n == Some(10_000));
                c.query_drop("BEGIN").await?;
                c.query_drop("DELETE FROM t WHERE id = 1").await?;
                c.query_drop("ROLLBACK").await?;
                c.disconnect().await?;
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

#[tokio::test]
async fn failed_logins_block_the_user_from_that_address_for_the_window() -> Result<()> {
    TestEnv::run_with(
        |c| {
            c.limits.auth_failures_per_user_address = 3;
            c.limits.auth_window_secs = 2;
        },
        |mut env| async move {
            let r = async {
                let t = env.tenant("").await?;
                let other = env.tenant("").await?;
                for _ in 0..3 {
                    let (code, message) = server_error(connect_as(&env, &t, "wrong").await)?;
                    ensure!(code == 1045, "{code} {message}");
                    ensure!(!message.contains("too many"), "{message}");
                }
                // Now even the right password is refused, without being checked, and quickly.
                let start = Instant::now();
                let (code, message) = server_error(connect_as(&env, &t, &t.password).await)?;
                ensure!(code == 1045, "{code} {message}");
                ensure!(
                    message.contains("too many failed logins, try again in")
                        && message.contains(&t.user),
                    "{message}"
                );
                ensure!(start.elapsed() < Duration::from_millis(500));
                // Another user from the same address is unaffected.
                let mut o = env.connect(&other).await?;
                o.query_drop("SELECT 1").await?;
                o.disconnect().await?;
                // After the window the right password works again.
                tokio::time::sleep(Duration::from_millis(2_100)).await;
                let mut c = env.connect(&t).await?;
                c.query_drop("SELECT 1").await?;
                c.disconnect().await?;
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}

#[tokio::test]
async fn limits_changed_through_the_api_apply_within_a_second() -> Result<()> {
    TestEnv::run_with(
        |_| {},
        |mut env| async move {
            let admin = match AdminServer::start(&env.admin_config()).await {
                Ok(a) => a,
                Err(e) => return (env, Err(e)),
            };
            let r = async {
                let t = env.tenant("CREATE TABLE t (id INT PRIMARY KEY)").await?;
                let id = env.tenant_id(&t).await?;
                let path = format!("/v1/tenants/{id}/limits");
                // Two open sessions: the proxy follows the tenant.
                let mut a = env.connect(&t).await?;
                fill(&mut a).await?;
                let b = env.connect(&t).await?;
                let body = r#"{"max_client_connections": 2, "statement_timeout_ms": 250}"#;
                let put = admin.call("PUT", &path, Some(body)).await?;
                ensure!(put.status == 200, "{put:?}");
                let changed = Instant::now();
                let limits = &env.shared.limits;
                while limits.for_tenant(id).max_client_connections != Some(2) {
                    ensure!(changed.elapsed() < FOLLOW_WITHIN, "not applied within 1 s");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                ensure!(limits.for_tenant(id).statement_timeout_ms == Some(250));
                // Applied to real clients: a third connection is refused, and a slow statement
                // of an open session is interrupted.
                ensure!(server_error(connect_as(&env, &t, &t.password).await)?.0 == 1040);
                expect_timeout(&mut a, &t, false, Duration::from_secs(3)).await?;
                let got = admin.call("GET", &path, None).await?.json()?;
                ensure!(got["max_client_connections"] == 2, "{got}");
                // Lifted again: a third connection gets in.
                let put = admin.call("PUT", &path, Some("{}")).await?;
                ensure!(put.status == 200, "{put:?}");
                let changed = Instant::now();
                while limits.for_tenant(id).max_client_connections.is_some() {
                    ensure!(changed.elapsed() < FOLLOW_WITHIN, "not lifted within 1 s");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let c = env.connect(&t).await?;
                for conn in [a, b, c] {
                    conn.disconnect().await?;
                }
                Ok(())
            }
            .await;
            let stopped = admin.stop().await;
            (env, r.and(stopped))
        },
    )
    .await
}

#[tokio::test]
async fn change_user_moves_the_session_between_tenants_limits() -> Result<()> {
    TestEnv::run_with(
        |_| {},
        |mut env| async move {
            let r = async {
                let a = env.tenant("").await?;
                let b = env.tenant("").await?;
                let one = LimitSettings {
                    max_client_connections: Some(1),
                    ..LimitSettings::default()
                };
                env.set_limits(&a, &one).await?;
                env.set_limits(&b, &one).await?;
                let to = |t: &TestTenant| {
                    mysql_async::ChangeUserOpts::default()
                        .with_user(Some(t.user.clone()))
                        .with_pass(Some(t.password.clone()))
                        .with_db_name(Some(t.db.clone()))
                };
                // B's only slot is taken: a session of A cannot become B's.
                let b1 = env.connect(&b).await?;
                let mut a1 = env.connect(&a).await?;
                let (code, message) = server_error(a1.change_user(to(&b)).await)?;
                ensure!(
                    code == 1040 && message.contains(&b.name),
                    "{code} {message}"
                );
                drop(a1);
                b1.disconnect().await?;
                // Once B is free: A's session moves to B, which frees A's slot and takes B's.
                let start = Instant::now();
                let mut a2 = loop {
                    let mut c = env.connect(&a).await?;
                    match c.change_user(to(&b)).await {
                        Ok(()) => break c,
                        Err(_) if start.elapsed() < Duration::from_secs(2) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => bail!("change_user to B refused: {e}"),
                    }
                };
                a2.query_drop("SELECT 1").await?;
                ensure!(server_error(connect_as(&env, &b, &b.password).await)?.0 == 1040);
                let start = Instant::now();
                let a3 = loop {
                    match env.connect(&a).await {
                        Ok(c) => break c,
                        Err(_) if start.elapsed() < Duration::from_secs(2) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(e) => bail!("A's slot was not freed: {e}"),
                    }
                };
                // Changing to the same tenant's user keeps the slot (no 1040 against itself).
                let mut a2 = a2;
                a2.change_user(to(&b)).await?;
                a2.query_drop("SELECT 1").await?;
                a2.disconnect().await?;
                a3.disconnect().await?;
                Ok(())
            }
            .await;
            (env, r)
        },
    )
    .await
}
