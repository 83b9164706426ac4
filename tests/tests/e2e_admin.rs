//! End to end over HTTP and the proxy (issue 4): the admin and the proxy run in-process on one
//! fresh catalog. A tenant created through `POST /v1/tenants` becomes ready through its job, a
//! user created through the API connects through the proxy to the logical database `main` and
//! CRUD works; suspend closes the open session and refuses new ones with a clear message,
//! resume lets them in again; a rotated password is refused and the new one works within 1 s.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use octodb_tests::admin::AdminServer;
use octodb_tests::support::server_code;
use octodb_tests::{root_conn, TestEnv};

/// The contract: proxies follow a catalog change within 1 s.
const FOLLOW: Duration = Duration::from_secs(1);
/// Slack for a loaded test machine on top of the contract (the measured time is printed).
const SLACK: Duration = Duration::from_millis(500);

/// A proxy user created through the API.
struct Login {
    tenant_id: u64,
    name: String,
    user: String,
    password: String,
}

fn opts(env: &TestEnv, user: &str, password: &str) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname(env.addr.ip().to_string())
        .tcp_port(env.addr.port())
        .user(Some(user))
        .pass(Some(password))
        .db_name(Some("main"))
        .prefer_socket(false)
        .into()
}

async fn connect(env: &TestEnv, user: &str, password: &str) -> Result<Conn> {
    Ok(Conn::new(opts(env, user, password)).await?)
}

/// Polls `check` every 20 ms until it returns `Some`, failing after `FOLLOW + SLACK`; returns
/// the value and the time it took.
async fn within<T, F, Fut>(what: &str, mut check: F) -> Result<(T, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Ok((v, start.elapsed()));
        }
        if start.elapsed() > FOLLOW + SLACK {
            bail!("not within {:?}: {what}", FOLLOW + SLACK);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates the tenant and a user through the API, waiting for the provisioning job.
async fn onboard(env: &mut TestEnv, admin: &AdminServer) -> Result<Login> {
    let name = format!("e2e{:08x}", rand::random::<u32>());
    env.track_tenant(&name);
    let (tenant_id, job_id) = admin.create_tenant(&name).await?;
    let job = admin
        .wait_job(job_id, Duration::from_millis(20), Duration::from_secs(20))
        .await?;
    ensure!(job["status"] == "succeeded", "provisioning failed: {job}");
    let tenant = admin
        .call("GET", &format!("/v1/tenants/{tenant_id}"), None)
        .await?
        .json()?;
    ensure!(tenant["status"] == "ready", "tenant not ready: {tenant}");

    let user = format!("{name}_app");
    let body = serde_json::json!({ "username": user }).to_string();
    let r = admin
        .call(
            "POST",
            &format!("/v1/tenants/{tenant_id}/users"),
            Some(&body),
        )
        .await?;
    ensure!(r.status == 201, "creating the user: {r:?}");
    let password = r.json()?["password"]
        .as_str()
        .context("password")?
        .to_string();
    Ok(Login {
        tenant_id,
        name,
        user,
        password,
    })
}

/// DDL is refused through the proxy: the table is created as root in the physical database.
async fn crud(env: &TestEnv, login: &Login) -> Result<Conn> {
    let mut root = root_conn(Some(&format!("t_{}__main", login.name))).await?;
    root.query_drop("CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(40) NOT NULL)")
        .await?;
    root.disconnect().await?;

    let mut c = connect(env, &login.user, &login.password).await?;
    c.query_drop("INSERT INTO items VALUES (1, 'one'), (2, 'two')")
        .await?;
    c.exec_drop("UPDATE items SET label = ? WHERE id = ?", ("uno", 1))
        .await?;
    c.query_drop("DELETE FROM items WHERE id = 2").await?;
    let rows: Vec<(i32, String)> = c.query("SELECT id, label FROM items ORDER BY id").await?;
    ensure!(rows == vec![(1, "uno".to_string())], "rows: {rows:?}");
    let db: Option<String> = c.query_first("SELECT DATABASE()").await?;
    ensure!(db.as_deref() == Some("main"), "DATABASE() = {db:?}");
    Ok(c)
}

async fn suspend_and_resume(env: &TestEnv, admin: &AdminServer, login: &Login) -> Result<()> {
    let mut open = connect(env, &login.user, &login.password).await?;
    open.query_drop("SELECT 1").await?;
    let id = login.tenant_id;
    let r = admin
        .call("POST", &format!("/v1/tenants/{id}/suspend"), None)
        .await?;
    ensure!(r.status == 200, "suspend: {r:?}");

    let start = Instant::now();
    let e = loop {
        match open.ping().await {
            Err(e) => break e,
            Ok(()) if start.elapsed() > FOLLOW + SLACK => {
                bail!(
                    "the open session was not closed within {:?}",
                    FOLLOW + SLACK
                )
            }
            Ok(()) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let took = start.elapsed();
    println!("suspend -> open session closed in {took:?}");
    if let Some(code) = server_code(&e) {
        ensure!(code == 1927 && e.to_string().contains("suspended"), "{e}");
    }
    let e = connect(env, &login.user, &login.password)
        .await
        .err()
        .context("a suspended tenant connected")?
        .downcast::<mysql_async::Error>()?;
    ensure!(server_code(&e) == Some(1045), "{e}");
    ensure!(e.to_string().contains("suspended"), "unclear refusal: {e}");

    let r = admin
        .call("POST", &format!("/v1/tenants/{id}/resume"), None)
        .await?;
    ensure!(r.status == 200, "resume: {r:?}");
    let (mut c, took) = within("the resumed tenant connects", || async {
        connect(env, &login.user, &login.password).await.ok()
    })
    .await?;
    println!("resume -> connected in {took:?}");
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM items").await?;
    ensure!(n == Some(1), "rows after resume: {n:?}");
    c.disconnect().await?;
    Ok(())
}

async fn rotate(env: &TestEnv, admin: &AdminServer, login: &Login) -> Result<()> {
    let path = format!(
        "/v1/tenants/{}/users/{}/rotate",
        login.tenant_id, login.user
    );
    let r = admin.call("POST", &path, None).await?;
    ensure!(r.status == 200, "rotate: {r:?}");
    let new_password = r.json()?["password"]
        .as_str()
        .context("password")?
        .to_string();
    ensure!(
        new_password != login.password,
        "the password did not change"
    );

    let ((), took) = within("old password refused and new one accepted", || async {
        let old = connect(env, &login.user, &login.password).await;
        let new = connect(env, &login.user, &new_password).await;
        match (old, new) {
            (Err(_), Ok(c)) => {
                let _ = c.disconnect().await;
                Some(())
            }
            (old, new) => {
                for c in [old, new].into_iter().flatten() {
                    let _ = c.disconnect().await;
                }
                None
            }
        }
    })
    .await?;
    println!("rotate -> old refused, new accepted in {took:?}");
    let e = connect(env, &login.user, &login.password)
        .await
        .err()
        .context("the old password still works")?
        .downcast::<mysql_async::Error>()?;
    ensure!(server_code(&e) == Some(1045), "{e}");
    let mut c = connect(env, &login.user, &new_password).await?;
    c.query_drop("INSERT INTO items VALUES (3, 'three')")
        .await?;
    c.disconnect().await?;
    Ok(())
}

async fn flow(env: &mut TestEnv, admin: &AdminServer) -> Result<()> {
    let login = onboard(env, admin).await?;
    let c = crud(env, &login).await?;
    c.disconnect().await?;
    suspend_and_resume(env, admin, &login).await?;
    rotate(env, admin, &login).await
}

#[tokio::test]
async fn create_connect_suspend_resume_rotate() -> Result<()> {
    let mut env = TestEnv::start().await?;
    let result = match AdminServer::start(&env.admin_config()).await {
        Ok(admin) => {
            let r = flow(&mut env, &admin).await;
            let stopped = admin.stop().await;
            r.and(stopped)
        }
        Err(e) => Err(e),
    };
    let cleaned = env.cleanup().await;
    result?;
    cleaned
}
