//! Cascade benchmark (issue 5): one template change rolled out to a fleet of tenant databases,
//! plan and verification included. The admin runs in-process against a scratch catalog on the
//! real MariaDB (`OCTODB_TEST_MYSQL_*`, default root at 127.0.0.1:3306).
//!
//! Setup (not timed): a template `base` at v1 (three small tables); N tenants created through
//! `POST /v1/tenants`; each tenant's `main` bound to `base` on channel `auto` and brought to v1
//! directly (the tables created on the backend, the version recorded in the catalog). Then, for
//! each per-backend concurrency P asked for: a new version (one more column and one more index
//! on `items`) is pushed and rolled out (canary, then batches, `per_backend` P), timed from the
//! POST until the rollout is `completed`; every database is checked to be at the new version.
//! A direct ALTER loop on scratch databases (the same change, no OctoDB) is printed as
//! MariaDB's own DDL rate. Everything created is dropped at the end.
//!
//! `cargo bench -p octodb-benches --bench cascade -- [--databases N] [--per-backend 2,4,8]
//! [--canary C] [--batch B] [--clients K] [--baseline M]`. Without `--bench` (as under
//! `cargo test`) it does nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mysql_async::prelude::Queryable;
use octodb_admin::AdminConfig;
use octodb_catalog::{Catalog, Channel, DatabaseName};
use octodb_tests::admin::AdminServer;
use octodb_tests::{backend_admin, root_conn};
use serde_json::json;
use tokio::sync::Mutex;

/// The three small tables of v1.
const V1: [&str; 3] = [
    "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, \
     price INT NOT NULL DEFAULT 0)",
    "CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, item_id INT NOT NULL, \
     qty INT NOT NULL DEFAULT 1, KEY ix_item (item_id))",
    "CREATE TABLE notes (id INT NOT NULL PRIMARY KEY, body TEXT NULL)",
];

/// Command-line settings.
struct Args {
    databases: usize,
    per_backend: Vec<u32>,
    canary: u32,
    batch: u32,
    /// Concurrent clients for the setup (tenant creation, tables).
    clients: usize,
    /// Databases of the direct ALTER baseline.
    baseline: usize,
}

fn parse_args() -> Result<Option<Args>> {
    let mut args = Args {
        databases: 50,
        per_backend: vec![2, 4, 8],
        canary: 10,
        batch: 200,
        clients: 4,
        baseline: 200,
    };
    let mut benching = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        let number = |s: String| -> Result<usize> {
            s.parse().with_context(|| format!("{s:?} is not a number"))
        };
        match a.as_str() {
            "--bench" => benching = true,
            "--databases" | "-n" => args.databases = number(value()?)?,
            "--per-backend" => {
                args.per_backend = value()?
                    .split(',')
                    .map(|p| Ok(number(p.to_string())? as u32))
                    .collect::<Result<_>>()?;
            }
            "--canary" => args.canary = number(value()?)? as u32,
            "--batch" => args.batch = number(value()?)? as u32,
            "--clients" => args.clients = number(value()?)?,
            "--baseline" => args.baseline = number(value()?)?,
            // Filters and flags cargo passes to every bench target.
            _ => {}
        }
    }
    ensure!(
        args.databases > 0 && args.clients > 0 && args.batch > 0,
        "--databases, --clients and --batch must be positive"
    );
    ensure!(
        !args.per_backend.is_empty() && args.per_backend.iter().all(|p| *p > 0),
        "--per-backend needs positive numbers"
    );
    Ok(benching.then_some(args))
}

fn config(catalog_db: &str, workers: usize) -> AdminConfig {
    let a = backend_admin();
    let mut config = AdminConfig::default();
    config.catalog.url = format!(
        "mysql://{}:{}@{}:{}/{catalog_db}?prefer_socket=false",
        a.user, a.password, a.host, a.port
    );
    config.catalog.key = Some(hex::encode(rand::random::<[u8; 32]>()));
    config.backend.host = a.host;
    config.backend.port = a.port;
    config.backend.admin_user = a.user;
    config.backend.admin_password = a.password;
    config.jobs.concurrency = workers;
    // One operator key drives the whole run: the per-key rate limit would measure itself.
    config.rate_limit.requests_per_second = 0;
    config
}

/// The template body at version `v` (v1 plus columns `c2..cv` and an index on each on `items`).
fn body(v: u32) -> String {
    let extra: String = (2..=v)
        .map(|i| format!(", c{i} INT NULL, KEY ix_c{i} (c{i})"))
        .collect();
    let items = format!(
        "CREATE TABLE items (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, \
         price INT NOT NULL DEFAULT 0{extra})"
    );
    format!("{items}; {}; {}", V1[1], V1[2])
}

/// The value at percentile `p` (nearest rank) of sorted `v`.
fn percentile(v: &[f64], p: usize) -> f64 {
    let rank = (v.len() * p).div_ceil(100).max(1);
    v[rank - 1]
}

/// Runs `work(i)` for every `i` in `0..n` on `clients` concurrent tasks.
async fn fan_out<F, Fut>(n: usize, clients: usize, work: F) -> Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let next = Arc::new(Mutex::new(0..n));
    let work = Arc::new(work);
    let tasks: Vec<_> = (0..clients.min(n))
        .map(|_| {
            let (next, work) = (next.clone(), work.clone());
            tokio::spawn(async move {
                loop {
                    let Some(i) = next.lock().await.next() else {
                        return Ok::<_, anyhow::Error>(());
                    };
                    work(i).await?;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Creates the fleet: N tenants, each `main` at v1 of template `template_id`.
async fn setup(
    args: &Args,
    admin: Arc<AdminServer>,
    catalog: &Catalog,
    prefix: &str,
    template_id: u64,
) -> Result<()> {
    let started = Instant::now();
    let ids = Arc::new(Mutex::new(vec![0u64; args.databases]));
    {
        let (admin, prefix, ids) = (admin.clone(), prefix.to_string(), ids.clone());
        fan_out(args.databases, args.clients, move |i| {
            let (admin, prefix, ids) = (admin.clone(), prefix.clone(), ids.clone());
            async move {
                let (id, job) = admin.create_tenant(&format!("{prefix}{i}")).await?;
                let job = admin
                    .wait_job(job, Duration::from_millis(5), Duration::from_secs(120))
                    .await?;
                ensure!(job["status"] == "succeeded", "tenant {prefix}{i}: {job}");
                ids.lock().await[i] = id;
                Ok(())
            }
        })
        .await?;
    }
    println!(
        "  setup: {} tenants in {:.1} s",
        args.databases,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let ids = ids.lock().await.clone();
    let main = DatabaseName::parse("main")?;
    let catalog = catalog.clone();
    let prefix = prefix.to_string();
    fan_out(args.databases, args.clients, move |i| {
        let (catalog, main, prefix, tenant) =
            (catalog.clone(), main.clone(), prefix.clone(), ids[i]);
        async move {
            let mut conn = root_conn(Some(&format!("t_{prefix}{i}__main"))).await?;
            for sql in V1 {
                conn.query_drop(sql).await?;
            }
            conn.disconnect().await?;
            let b = catalog
                .bind_database_template(tenant, &main, template_id, Channel::Auto, "")
                .await?;
            catalog
                .record_database_version(b.database_id, 1, "")
                .await?;
            Ok(())
        }
    })
    .await?;
    println!(
        "  setup: {} databases at v1 (3 tables each) in {:.1} s",
        args.databases,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// MariaDB's own rate for the same change: `baseline` scratch databases with the v1 tables,
/// then one ALTER (add column + add index on `items`) each, one connection after another.
async fn baseline(n: usize, prefix: &str) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let mut root = root_conn(None).await?;
    for i in 0..n {
        let db = format!("{prefix}base{i}");
        root.query_drop(format!("CREATE DATABASE `{db}`")).await?;
        for sql in V1 {
            let sql = sql.replacen("CREATE TABLE ", &format!("CREATE TABLE `{db}`."), 1);
            root.query_drop(sql).await?;
        }
    }
    let started = Instant::now();
    for i in 0..n {
        root.query_drop(format!(
            "ALTER TABLE `{prefix}base{i}`.items ADD COLUMN c2 INT NULL, ADD KEY ix_c2 (c2)"
        ))
        .await?;
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "  baseline: direct ALTER (add column + index) on {n} databases, one connection: \
         {:.2} s, {:.1} ms each, {:.0} databases/s",
        took,
        took * 1000.0 / n as f64,
        n as f64 / took
    );
    root.disconnect().await?;
    Ok(())
}

/// Pushes version `v` and rolls it out with `per_backend`; prints the figures.
async fn cascade(
    args: &Args,
    admin: &AdminServer,
    catalog_db: &str,
    template_id: u64,
    v: u32,
    per_backend: u32,
) -> Result<()> {
    let path = format!("/v1/templates/{template_id}/versions");
    let r = admin
        .call(
            "POST",
            &path,
            Some(&json!({ "schema": body(v) }).to_string()),
        )
        .await?;
    ensure!(r.status == 201, "pushing v{v}: {r:?}");
    let mut root = root_conn(None).await?;
    let started = Instant::now();
    let settings =
        json!({ "canary": args.canary, "batch": args.batch, "per_backend": per_backend });
    let r = admin
        .call(
            "POST",
            &format!("/v1/templates/{template_id}/versions/{v}/rollout"),
            Some(&settings.to_string()),
        )
        .await?;
    ensure!(r.status == 202, "starting the rollout of v{v}: {r:?}");
    let id = r.json()?["id"].as_u64().context("rollout id")?;
    // The catalog itself is polled: GET /v1/rollouts/{id} would list N databases every time.
    let status = loop {
        let status: Option<String> = root
            .exec_first(
                format!("SELECT status FROM `{catalog_db}`.rollouts WHERE id = ?"),
                (id,),
            )
            .await?;
        let status = status.context("rollout vanished")?;
        if status != "running" {
            break status;
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!("rollout {id} still running after 15 minutes");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let total = started.elapsed().as_secs_f64();
    ensure!(status == "completed", "rollout {id} ended {status}");
    let (done, at_version): (u64, u64) = root
        .exec_first(
            format!(
                "SELECT (SELECT COUNT(*) FROM `{catalog_db}`.rollout_databases \
                         WHERE rollout_id = ? AND status = 'done'), \
                        (SELECT COUNT(*) FROM `{catalog_db}`.database_templates \
                         WHERE version = ? AND status = 'ok')"
            ),
            (id, v),
        )
        .await?
        .context("counts")?;
    ensure!(
        done as usize == args.databases && at_version as usize == args.databases,
        "{done} done, {at_version} at v{v} of {}",
        args.databases
    );
    let phases = phases(&mut root, catalog_db, id).await?;
    root.disconnect().await?;
    let n = args.databases as f64;
    println!(
        "  cascade v{v}, per_backend {per_backend}: {} databases in {total:.2} s, \
         {:.1} databases/s",
        args.databases,
        n / total
    );
    let show = |name: &str, mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return;
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        println!(
            "    {name:<10} p50 {:6.1} ms  p95 {:6.1} ms  mean {:6.1} ms",
            percentile(&v, 50),
            percentile(&v, 95),
            mean
        );
    };
    show("database", phases.iter().map(|p| p[0]).collect());
    show("planning", phases.iter().map(|p| p[1]).collect());
    show("applying", phases.iter().map(|p| p[2]).collect());
    show("verifying", phases.iter().map(|p| p[3]).collect());
    show("recording", phases.iter().map(|p| p[4]).collect());
    Ok(())
}

/// Per database (ms): whole job, then planning (start -> plan step: claim, lock, snapshot,
/// desired schema, shared workspace and plan), applying (-> last apply step), verifying
/// (-> verify step), recording (-> job finished: version, webhook, unlock), from the job's
/// recorded steps.
async fn phases(conn: &mut mysql_async::Conn, catalog_db: &str, id: u64) -> Result<Vec<[f64; 5]>> {
    let rows: Vec<(i64, i64, i64, i64, i64)> = conn
        .exec(
            format!(
                "SELECT TIMESTAMPDIFF(MICROSECOND, j.created_at, j.updated_at), \
                   TIMESTAMPDIFF(MICROSECOND, j.created_at, MAX(IF(s.step LIKE 'plan:%', s.at, NULL))), \
                   TIMESTAMPDIFF(MICROSECOND, MAX(IF(s.step LIKE 'plan:%', s.at, NULL)), \
                                 MAX(IF(s.step LIKE 'apply:%', s.at, NULL))), \
                   TIMESTAMPDIFF(MICROSECOND, MAX(IF(s.step LIKE 'apply:%', s.at, NULL)), \
                                 MAX(IF(s.step LIKE 'verify:%', s.at, NULL))), \
                   TIMESTAMPDIFF(MICROSECOND, MAX(IF(s.step LIKE 'verify:%', s.at, NULL)), \
                                 j.updated_at) \
                 FROM `{catalog_db}`.rollout_databases r \
                 JOIN `{catalog_db}`.jobs j ON j.id = r.job_id \
                 JOIN `{catalog_db}`.job_steps s ON s.job_id = j.id \
                 WHERE r.rollout_id = ? GROUP BY j.id"
            ),
            (id,),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(a, b, c, d, e)| [a, b, c, d, e].map(|us| us as f64 / 1000.0))
        .collect())
}

async fn measure(
    args: &Args,
    admin: Arc<AdminServer>,
    catalog_db: &str,
    prefix: &str,
) -> Result<()> {
    let catalog = Catalog::connect(&config(catalog_db, 1).catalog).await?;
    let r = admin
        .call(
            "POST",
            "/v1/templates",
            Some(&json!({ "name": "base" }).to_string()),
        )
        .await?;
    ensure!(r.status == 201, "creating the template: {r:?}");
    let template_id = r.json()?["id"].as_u64().context("template id")?;
    let r = admin
        .call(
            "POST",
            &format!("/v1/templates/{template_id}/versions"),
            Some(&json!({ "schema": body(1) }).to_string()),
        )
        .await?;
    ensure!(r.status == 201, "pushing v1: {r:?}");
    println!(
        "cascade: {} databases (3 small tables each), canary {}, batch {}",
        args.databases, args.canary, args.batch
    );
    let result = async {
        setup(args, admin.clone(), &catalog, prefix, template_id).await?;
        baseline(args.baseline.min(args.databases), prefix).await?;
        for (i, p) in args.per_backend.iter().enumerate() {
            cascade(args, &admin, catalog_db, template_id, i as u32 + 2, *p).await?;
        }
        Ok(())
    }
    .await;
    let _ = catalog.disconnect().await;
    result
}

/// Drops the tenants' databases and backend users, the baseline databases and the catalog.
async fn cleanup(prefix: &str, catalog_db: &str) -> Result<()> {
    let mut root = root_conn(None).await?;
    let mut dbs: Vec<String> = Vec::new();
    for pattern in [format!("t\\_{prefix}%"), format!("{prefix}base%")] {
        let found: Vec<String> = root
            .exec(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
                (&pattern,),
            )
            .await?;
        dbs.extend(found);
    }
    for db in &dbs {
        root.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
            .await?;
    }
    let pattern = format!("t\\_{prefix}%");
    let users: Vec<(String, String)> = root
        .exec(
            "SELECT user, host FROM mysql.user WHERE user LIKE ?",
            (&pattern,),
        )
        .await?;
    for (user, host) in &users {
        root.query_drop(format!("DROP USER IF EXISTS '{user}'@'{host}'"))
            .await?;
    }
    root.query_drop(format!("DROP DATABASE IF EXISTS `{catalog_db}`"))
        .await?;
    root.disconnect().await?;
    println!(
        "  cleaned up: {} databases, {} backend users, catalog {catalog_db}",
        dbs.len(),
        users.len()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let Some(args) = parse_args()? else {
        println!("cascade: run with `cargo bench -p octodb-benches --bench cascade`");
        return Ok(());
    };
    let run = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let prefix = format!("cb{run}n");
    let catalog_db = format!("octodb_bench_casc_{run}");
    let workers = args.per_backend.iter().copied().max().unwrap_or(8).max(8) as usize;
    let result = async {
        let admin = Arc::new(AdminServer::start(&config(&catalog_db, workers)).await?);
        let measured = measure(&args, admin.clone(), &catalog_db, &prefix).await;
        let stopped = match Arc::try_unwrap(admin) {
            Ok(admin) => admin.stop().await,
            Err(_) => Ok(()),
        };
        measured.and(stopped)
    }
    .await;
    let cleaned = cleanup(&prefix, &catalog_db).await;
    result?;
    cleaned
}
