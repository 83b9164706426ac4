//! Proxies follow the catalog (issue 4): with no Redis, the proxy polls the catalog version
//! and applies each change to open sessions within about a second; new connections read the
//! catalog at login. Suspend -> open sessions closed, new connections refused with a clear
//! message; resume -> connections work again; rotated password -> the old one is refused and
//! the new one works; added database -> an open session can USE it; dropped database -> an
//! open session is refused and its current database cleared.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use octodb_catalog::{
    native_password_verifier, DatabaseName, PhysicalName, TenantName, TenantStatus,
};
use octodb_tests::support::server_code;
use octodb_tests::{backend_admin, root_conn, TestEnv, TestTenant};

/// How long a change may take to reach the proxy in these tests (the contract is 1 s).
const DEADLINE: Duration = Duration::from_secs(3);

/// A polling loop's deadline.
struct Deadline(Instant);

impl Deadline {
    fn start() -> Self {
        Deadline(Instant::now())
    }

    /// Fails once the deadline passed, else waits a little before the next try.
    async fn again(&self, what: &str) -> Result<()> {
        if self.0.elapsed() > DEADLINE {
            bail!("not within {DEADLINE:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
}

async fn tenant_id(env: &TestEnv, t: &TestTenant) -> Result<u64> {
    let tenant = env
        .catalog
        .tenant_by_name(&TenantName::parse(&t.name)?)
        .await?
        .context("tenant")?;
    Ok(tenant.id)
}

/// Runs SQL on the catalog database, then bumps the catalog version, as the admin does.
async fn catalog_change(env: &TestEnv, sql: &str, params: mysql_async::Params) -> Result<()> {
    let mut c = root_conn(Some(&env.catalog_db)).await?;
    c.exec_drop(sql, params).await?;
    c.query_drop("UPDATE catalog_version SET version = version + 1 WHERE id = 1")
        .await?;
    c.disconnect().await?;
    Ok(())
}

/// Runs `body` and always cleans up.
async fn run<F, Fut>(body: F) -> Result<()>
where
    F: FnOnce(TestEnv) -> Fut,
    Fut: Future<Output = (TestEnv, Result<()>)>,
{
    let env = TestEnv::start().await?;
    let (env, result) = body(env).await;
    env.cleanup().await?;
    result
}

#[tokio::test]
async fn new_tenant_after_start_connects() -> Result<()> {
    run(|mut env| async move {
        let r = async {
            // The proxy was started before the tenant existed.
            let t = env.tenant("CREATE TABLE t (id INT PRIMARY KEY)").await?;
            let mut c = env.connect(&t).await?;
            c.query_drop("INSERT INTO t VALUES (1)").await?;
            c.disconnect().await?;
            Ok(())
        }
        .await;
        (env, r)
    })
    .await
}

#[tokio::test]
async fn suspend_closes_sessions_and_refuses_logins_until_resumed() -> Result<()> {
    run(|mut env| async move {
        let r = async {
            let t = env.tenant("CREATE TABLE t (id INT PRIMARY KEY)").await?;
            let id = tenant_id(&env, &t).await?;
            let mut idle = env.connect(&t).await?;
            idle.query_drop("SELECT 1").await?;
            let mut busy = env.connect(&t).await?;
            busy.query_drop("BEGIN").await?;
            busy.query_drop("INSERT INTO t VALUES (1)").await?;

            assert!(
                env.catalog
                    .set_tenant_status(id, &[TenantStatus::Ready], TenantStatus::Suspended)
                    .await?
            );
            // The idle session is closed by the proxy without sending anything.
            let deadline = Deadline::start();
            let e = loop {
                match idle.ping().await {
                    Ok(()) => deadline.again("the idle session is closed").await?,
                    Err(e) => break e,
                }
            };
            // The proxy's goodbye is numbered as the next answer, so the client reads it.
            if let Some(code) = server_code(&e) {
                assert_eq!(code, 1927, "{e}");
                assert!(e.to_string().contains("suspended"), "{e}");
            }
            // So is the one in a transaction; its insert is rolled back.
            let err = busy.query_drop("COMMIT").await;
            assert!(err.is_err(), "a suspended tenant's session went on");

            let e = env
                .connect(&t)
                .await
                .expect_err("a suspended tenant connected");
            let e = e.downcast::<mysql_async::Error>()?;
            assert_eq!(server_code(&e), Some(1045), "{e}");
            assert!(e.to_string().contains("suspended"), "{e}");

            assert!(
                env.catalog
                    .set_tenant_status(id, &[TenantStatus::Suspended], TenantStatus::Ready)
                    .await?
            );
            let mut c = env.connect(&t).await?;
            let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM t").await?;
            assert_eq!(n, Some(0), "the suspended transaction was not rolled back");
            c.disconnect().await?;
            Ok(())
        }
        .await;
        (env, r)
    })
    .await
}

#[tokio::test]
async fn a_busy_client_is_told_why() -> Result<()> {
    run(|mut env| async move {
        let r = async {
            let t = env.tenant("").await?;
            let id = tenant_id(&env, &t).await?;
            let mut c = env.connect(&t).await?;
            c.query_drop("SELECT 1").await?;
            env.catalog
                .set_tenant_status(id, &[TenantStatus::Ready], TenantStatus::Suspended)
                .await?;
            // A client that keeps sending statements: one of them is answered with the reason
            // (or, when the proxy closed the idle session first, finds the socket closed).
            let deadline = Deadline::start();
            let e = loop {
                match c.query_drop("SELECT 1").await {
                    Ok(()) => deadline.again("the session is closed").await?,
                    Err(e) => break e,
                }
            };
            if let Some(code) = server_code(&e) {
                assert_eq!(code, 1927, "{e}");
                assert!(e.to_string().contains("suspended"), "{e}");
            }
            Ok(())
        }
        .await;
        (env, r)
    })
    .await
}

#[tokio::test]
async fn rotated_password_applies_to_new_connections() -> Result<()> {
    run(|mut env| async move {
        let r = async {
            let t = env.tenant("").await?;
            let mut open = env.connect(&t).await?;
            let new_password = format!("{}-rotated", t.password);
            catalog_change(
                &env,
                "UPDATE users SET verifier = ? WHERE username = ?",
                (
                    native_password_verifier(new_password.as_bytes()).to_vec(),
                    t.user.clone(),
                )
                    .into(),
            )
            .await?;
            let rotated = TestTenant {
                password: new_password,
                ..t.clone()
            };
            let deadline = Deadline::start();
            while Conn::new(Opts::from(env.opts(&rotated))).await.is_err() {
                deadline.again("the new password works").await?;
            }
            let e = env.connect(&t).await.expect_err("the old password worked");
            let e = e.downcast::<mysql_async::Error>()?;
            assert_eq!(server_code(&e), Some(1045), "{e}");
            // Sessions opened with the old password stay open, as in MySQL.
            open.query_drop("SELECT 1").await?;
            open.disconnect().await?;
            Ok(())
        }
        .await;
        (env, r)
    })
    .await
}

#[tokio::test]
async fn added_and_dropped_databases_reach_open_sessions() -> Result<()> {
    run(|mut env| async move {
        let extra = DatabaseName::parse("extra").unwrap();
        let mut physical: Option<PhysicalName> = None;
        let r = async {
            let t = env.tenant("").await?;
            let name = TenantName::parse(&t.name)?;
            let id = tenant_id(&env, &t).await?;
            let mut c = env.connect(&t).await?;
            let e = c.query_drop("USE extra").await.expect_err("USE before add");
            assert_eq!(server_code(&e), Some(1044), "{e}");

            physical = Some(
                env.catalog
                    .add_database(&backend_admin(), &name, &extra)
                    .await?,
            );
            let deadline = Deadline::start();
            while c.query_drop("USE extra").await.is_err() {
                deadline
                    .again("an open session can USE the new database")
                    .await?;
            }
            let db: Option<String> = c.query_first("SELECT DATABASE()").await?;
            assert_eq!(db.as_deref(), Some("extra"));

            // Dropped from the catalog (as the admin's drop job does once the backend is done).
            catalog_change(
                &env,
                "DELETE FROM `databases` WHERE tenant_id = ? AND logical_name = 'extra'",
                (id,).into(),
            )
            .await?;
            catalog_change(
                &env,
                "UPDATE tenants SET mapping_version = mapping_version + 1 WHERE id = ?",
                (id,).into(),
            )
            .await?;
            // The current database was `extra`: it is cleared with the mapping.
            let deadline = Deadline::start();
            loop {
                let db: Option<Option<String>> = c.query_first("SELECT DATABASE()").await?;
                if db == Some(None) {
                    break;
                }
                deadline
                    .again("an open session forgets the dropped database")
                    .await?;
            }
            let e = c.query_drop("USE extra").await.expect_err("USE after drop");
            assert_eq!(server_code(&e), Some(1044), "{e}");
            c.query_drop("USE app").await?;
            c.disconnect().await?;
            Ok(())
        }
        .await;
        if let Some(p) = physical {
            if let Ok(mut root) = root_conn(None).await {
                let _ = root
                    .query_drop(format!("DROP DATABASE IF EXISTS `{p}`"))
                    .await;
            }
        }
        (env, r)
    })
    .await
}

#[tokio::test]
async fn deleted_user_sessions_are_closed() -> Result<()> {
    run(|mut env| async move {
        let r = async {
            let t = env.tenant("").await?;
            let mut c = env.connect(&t).await?;
            c.query_drop("SELECT 1").await?;
            catalog_change(
                &env,
                "DELETE FROM users WHERE username = ?",
                (t.user.clone(),).into(),
            )
            .await?;
            let deadline = Deadline::start();
            let e = loop {
                match c.query_drop("SELECT 1").await {
                    Ok(()) => {
                        deadline
                            .again("the deleted user's session is closed")
                            .await?
                    }
                    Err(e) => break e,
                }
            };
            if let Some(code) = server_code(&e) {
                assert_eq!(code, 1927, "{e}");
                assert!(e.to_string().contains("user was deleted"), "{e}");
            }
            let e = env.connect(&t).await.expect_err("a deleted user connected");
            let e = e.downcast::<mysql_async::Error>()?;
            assert_eq!(server_code(&e), Some(1045), "{e}");
            Ok(())
        }
        .await;
        (env, r)
    })
    .await
}
