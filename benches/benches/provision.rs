//! Provisioning benchmark (issue 4): the admin in-process against a scratch catalog on the real
//! MariaDB; N tenants created through `POST /v1/tenants`, each client polling its job until it
//! succeeded. Prints create -> ready latency (p50, p95, ...) and the total time and tenants per
//! second, then drops everything it created (databases, backend users, the catalog).
//!
//! `cargo bench -p octodb-benches --bench provision -- [--tenants N] [--clients C]
//! [--workers W] [--poll-ms P]`. Without `--bench` (as under `cargo test`) it does nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mysql_async::prelude::Queryable;
use octodb_admin::AdminConfig;
use octodb_tests::admin::AdminServer;
use octodb_tests::{backend_admin, root_conn};
use tokio::sync::Mutex;

/// Command-line settings.
struct Args {
    /// Tenants to create.
    tenants: usize,
    /// Concurrent HTTP clients, each creating tenants one after another.
    clients: usize,
    /// The admin's job concurrency (`[jobs] concurrency`).
    workers: usize,
    /// Interval between two polls of a job.
    poll: Duration,
}

fn parse_args() -> Result<Option<Args>> {
    let mut args = Args {
        tenants: 50,
        clients: 4,
        workers: 8,
        poll: Duration::from_millis(5),
    };
    let mut benching = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || -> Result<usize> {
            it.next()
                .with_context(|| format!("{a} needs a value"))?
                .parse()
                .with_context(|| format!("{a} needs a number"))
        };
        match a.as_str() {
            "--bench" => benching = true,
            "--tenants" | "-n" => args.tenants = value()?,
            "--clients" => args.clients = value()?,
            "--workers" => args.workers = value()?,
            "--poll-ms" => args.poll = Duration::from_millis(value()? as u64),
            // Filters and flags cargo passes to every bench target.
            _ => {}
        }
    }
    ensure!(
        args.tenants > 0 && args.clients > 0 && args.workers > 0,
        "--tenants, --clients and --workers must be positive"
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

/// Creates tenants `{prefix}{i}` for the indexes `next` hands out; returns their latencies.
async fn client(
    admin: Arc<AdminServer>,
    prefix: String,
    next: Arc<Mutex<std::ops::Range<usize>>>,
    poll: Duration,
) -> Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    loop {
        let Some(i) = next.lock().await.next() else {
            return Ok(latencies);
        };
        let start = Instant::now();
        let (_, job_id) = admin.create_tenant(&format!("{prefix}{i}")).await?;
        let job = admin
            .wait_job(job_id, poll, Duration::from_secs(120))
            .await?;
        if job["status"] != "succeeded" {
            bail!("tenant {prefix}{i}: {job}");
        }
        latencies.push(start.elapsed());
    }
}

/// The value at percentile `p` (nearest rank) of sorted `v`.
fn percentile(v: &[Duration], p: usize) -> Duration {
    let rank = (v.len() * p).div_ceil(100).max(1);
    v[rank - 1]
}

async fn measure(args: &Args, admin: Arc<AdminServer>, prefix: &str) -> Result<()> {
    let next = Arc::new(Mutex::new(0..args.tenants));
    let start = Instant::now();
    let tasks: Vec<_> = (0..args.clients.min(args.tenants))
        .map(|_| {
            tokio::spawn(client(
                admin.clone(),
                prefix.into(),
                next.clone(),
                args.poll,
            ))
        })
        .collect();
    let mut latencies = Vec::with_capacity(args.tenants);
    for t in tasks {
        latencies.extend(t.await??);
    }
    let total = start.elapsed();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "provision: {} tenants, {} clients, {} job workers, poll {:?}",
        args.tenants, args.clients, args.workers, args.poll
    );
    println!(
        "  create -> ready: min {:.1} ms, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(latencies[0]),
        ms(percentile(&latencies, 50)),
        ms(percentile(&latencies, 95)),
        ms(percentile(&latencies, 99)),
        ms(latencies[latencies.len() - 1]),
    );
    println!(
        "  total {:.2} s, {:.1} tenants/s",
        total.as_secs_f64(),
        args.tenants as f64 / total.as_secs_f64()
    );
    Ok(())
}

/// Drops the tenants' databases and backend users (all named after `prefix`) and the catalog.
async fn cleanup(prefix: &str, catalog_db: &str) -> Result<()> {
    let mut root = root_conn(None).await?;
    let pattern = format!("t\\_{prefix}%");
    let dbs: Vec<String> = root
        .exec(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
            (&pattern,),
        )
        .await?;
    for db in &dbs {
        root.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
            .await?;
    }
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
        println!("provision: run with `cargo bench -p octodb-benches --bench provision`");
        return Ok(());
    };
    let run = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let prefix = format!("pb{run}n");
    let catalog_db = format!("octodb_bench_prov_{run}");
    let result = async {
        let admin = Arc::new(AdminServer::start(&config(&catalog_db, args.workers)).await?);
        let measured = measure(&args, admin.clone(), &prefix).await;
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
