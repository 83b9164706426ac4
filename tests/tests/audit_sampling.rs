//! Proxy-side auth failures and policy refusals are sampled into the catalog's audit log
//! (issue 4): wrong passwords, unknown users, foreign databases at login and refused
//! statements leave rows with the right action, tenant and target, and never the password or
//! the statement's text; a flood of refusals leaves at most the configured number of rows plus
//! one saying how many were suppressed, and the flood itself is not held up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use octodb_catalog::{AuditEntry, AuditFilter, TenantName};
use octodb_proxy::audit::{ACTION_AUTH_FAILED, ACTION_REFUSED};
use octodb_tests::support::server_code;
use octodb_tests::{TestEnv, TestTenant};

async fn tenant_id(env: &TestEnv, t: &TestTenant) -> Result<u64> {
    Ok(env
        .catalog
        .tenant_by_name(&TenantName::parse(&t.name)?)
        .await?
        .context("tenant")?
        .id)
}

/// The proxy's rows for `action` (and `tenant`, when given), oldest first.
async fn rows(env: &TestEnv, action: &str, tenant: Option<u64>) -> Result<Vec<AuditEntry>> {
    let filter = AuditFilter {
        tenant_id: tenant,
        action: Some(action.to_string()),
        limit: 10_000,
        ..AuditFilter::default()
    };
    Ok(env.catalog.list_audit(&filter).await?)
}

/// Waits until there are at least `n` rows (the writer runs in the background).
async fn wait_rows(
    env: &TestEnv,
    action: &str,
    tenant: Option<u64>,
    n: usize,
) -> Result<Vec<AuditEntry>> {
    let start = Instant::now();
    loop {
        let found = rows(env, action, tenant).await?;
        if found.len() >= n {
            return Ok(found);
        }
        if start.elapsed() > Duration::from_secs(5) {
            bail!("{} rows of {action}, expected {n}: {found:?}", found.len());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A login that must fail with `code`.
async fn failed_login(opts: mysql_async::OptsBuilder, code: u16) -> Result<()> {
    match Conn::new(Opts::from(opts)).await {
        Ok(_) => bail!("the login worked"),
        Err(e) => {
            ensure!(server_code(&e) == Some(code), "{e}");
            Ok(())
        }
    }
}

/// Runs `body` on a proxy with `max_per_window` audit entries per key, always cleaning up.
async fn with_proxy<F, Fut>(max_per_window: u32, body: F) -> Result<()>
where
    F: FnOnce(TestEnv) -> Fut,
    Fut: std::future::Future<Output = (TestEnv, Result<()>)>,
{
    let env = TestEnv::start_with(|c| c.audit.max_per_window = max_per_window).await?;
    let (env, result) = body(env).await;
    let cleaned = env.cleanup().await;
    result?;
    cleaned
}

#[tokio::test]
async fn failed_logins_and_refusals_are_audited() -> Result<()> {
    with_proxy(10, |mut env| async move {
        let r = async {
            let t = env.tenant("CREATE TABLE t (id INT PRIMARY KEY)").await?;
            let id = tenant_id(&env, &t).await?;
            let wrong = "not-the-password-7f3a";
            failed_login(env.opts(&t).pass(Some(wrong)), 1045).await?;
            failed_login(env.opts(&t).pass(Some(wrong)), 1045).await?;
            let stranger = format!("nobody_{}", t.name);
            failed_login(env.opts(&t).user(Some(stranger.clone())), 1045).await?;
            failed_login(env.opts(&t).db_name(Some("not_mine")), 1044).await?;

            let mut c = env.connect(&t).await?;
            let e = c.query_drop("DROP TABLE t").await.expect_err("DROP");
            let drop_code = server_code(&e).context("a server error")?;
            let e = c
                .query_drop("GRANT ALL ON *.* TO 'x'@'%' IDENTIFIED BY 'sekrit-grant'")
                .await
                .expect_err("GRANT");
            let grant_code = server_code(&e).context("a server error")?;
            c.query_drop("INSERT INTO t VALUES (1)").await?;
            c.disconnect().await?;

            let tenant_failures = wait_rows(&env, ACTION_AUTH_FAILED, Some(id), 3).await?;
            let details: Vec<&str> = tenant_failures
                .iter()
                .map(|r| r.detail.as_deref().unwrap_or(""))
                .collect();
            assert_eq!(
                details,
                [
                    "proxy 1045 bad_password",
                    "proxy 1045 bad_password",
                    "proxy 1044 foreign_database"
                ]
            );
            for r in &tenant_failures {
                assert_eq!(r.target.as_deref(), Some(t.user.as_str()), "{r:?}");
                assert_eq!(r.outcome, "failure");
                assert_eq!(r.actor, None);
            }
            // The unknown user has no tenant: only an operator sees it.
            let all = wait_rows(&env, ACTION_AUTH_FAILED, None, 4).await?;
            let unknown: Vec<&AuditEntry> = all
                .iter()
                .filter(|r| r.target.as_deref() == Some(stranger.as_str()))
                .collect();
            assert_eq!(unknown.len(), 1, "{all:?}");
            assert_eq!(unknown[0].tenant_id, None);
            assert_eq!(
                unknown[0].detail.as_deref(),
                Some("proxy 1045 unknown_user")
            );

            let refused = wait_rows(&env, ACTION_REFUSED, Some(id), 2).await?;
            assert_eq!(refused.len(), 2, "{refused:?}");
            let details: Vec<&str> = refused
                .iter()
                .map(|r| r.detail.as_deref().unwrap_or(""))
                .collect();
            assert!(
                details[0].starts_with(&format!("proxy {drop_code} "))
                    && details[0].ends_with(" DROP"),
                "{details:?}"
            );
            assert!(
                details[1].starts_with(&format!("proxy {grant_code} "))
                    && details[1].ends_with(" GRANT"),
                "{details:?}"
            );
            assert!(refused
                .iter()
                .all(|r| r.target.as_deref() == Some(t.user.as_str())));

            // Neither password nor statement text anywhere in the proxy's rows.
            for r in all.iter().chain(&refused) {
                let text = format!("{:?} {:?}", r.target, r.detail);
                for secret in [wrong, t.password.as_str(), "sekrit", "TABLE t", "'x'"] {
                    assert!(!text.contains(secret), "{secret} leaked: {r:?}");
                }
            }
            Ok(())
        }
        .await;
        (env, r)
    })
    .await
}

#[tokio::test]
async fn a_flood_of_refusals_is_sampled() -> Result<()> {
    const LIMIT: usize = 5;
    const FLOOD: usize = 1000;
    with_proxy(LIMIT as u32, |mut env| async move {
        let r = async {
            let t = env.tenant("CREATE TABLE t (id INT PRIMARY KEY)").await?;
            let id = tenant_id(&env, &t).await?;
            let mut c = env.connect(&t).await?;
            let mut refused = 0;
            for _ in 0..FLOOD {
                if c.query_drop("DROP TABLE t").await.is_err() {
                    refused += 1;
                }
            }
            assert_eq!(refused, FLOOD);
            // The session is still served normally after the flood.
            c.query_drop("INSERT INTO t VALUES (1)").await?;
            c.disconnect().await?;

            // A flood of wrong passwords on the same tenant: a budget of its own.
            for _ in 0..50 {
                failed_login(env.opts(&t).pass(Some("wrong")), 1045).await?;
            }

            let sampled = wait_rows(&env, ACTION_REFUSED, Some(id), LIMIT).await?;
            let failed = wait_rows(&env, ACTION_AUTH_FAILED, Some(id), LIMIT).await?;
            // Give a wrongly unlimited writer time to show itself.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(rows(&env, ACTION_REFUSED, Some(id)).await?.len(), LIMIT);
            assert_eq!(sampled.len(), LIMIT);
            assert_eq!(failed.len(), LIMIT);

            // The window is a minute long: stopping the proxy writes its summaries.
            env.stop_proxy().await;
            let refused_rows = rows(&env, ACTION_REFUSED, Some(id)).await?;
            assert_eq!(refused_rows.len(), LIMIT + 1, "{refused_rows:?}");
            let summary = format!("proxy suppressed={}", FLOOD - LIMIT);
            assert_eq!(
                refused_rows[LIMIT].detail.as_deref(),
                Some(summary.as_str())
            );
            let failed_rows = rows(&env, ACTION_AUTH_FAILED, Some(id)).await?;
            assert_eq!(failed_rows.len(), LIMIT + 1, "{failed_rows:?}");
            let summary = format!("proxy suppressed={}", 50 - LIMIT);
            assert_eq!(failed_rows[LIMIT].detail.as_deref(), Some(summary.as_str()));
            Ok(())
        }
        .await;
        (env, r)
    })
    .await
}
