//! The result cache across proxies (`octodb_proxy::peers`): two in-process proxies over one
//! catalog and the real Redis; a write through one drops the other's cached result at once,
//! not after the TTL. A cached answer is told from a fresh one by changing the row behind the
//! proxies' backs, as in `result_cache.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use octodb_catalog::LimitSettings;
use octodb_proxy::{ProxyConfig, Shared};
use octodb_tests::{root_conn, TestEnv, TestTenant};
use tokio_util::sync::CancellationToken;

const QUERY: &str = "SELECT name FROM items WHERE id = 1";

fn redis_url() -> String {
    std::env::var("OCTODB_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A second proxy over `env`'s catalog, with Redis.
struct Second {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl Second {
    async fn start(env: &TestEnv, url: &str) -> Result<Second> {
        let mut config = ProxyConfig {
            catalog: env.catalog_config.clone(),
            ..ProxyConfig::default()
        };
        config.redis.url = Some(url.to_string());
        let listener = octodb_proxy::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = octodb_proxy::prepare(config)
            .await
            .context("second proxy")?;
        let stop = CancellationToken::new();
        let server = tokio::spawn(octodb_proxy::serve(listener, shared.clone(), stop.clone()));
        Ok(Second {
            addr,
            shared,
            stop,
            server,
        })
    }

    async fn connect(&self, env: &TestEnv, t: &TestTenant) -> Result<Conn> {
        let opts = OptsBuilder::from_opts(Opts::from(env.opts(t)))
            .ip_or_hostname(self.addr.ip().to_string())
            .tcp_port(self.addr.port());
        Ok(Conn::new(Opts::from(opts)).await?)
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = self.server.await;
    }
}

/// Waits until `n` clients are subscribed to the catalog's writes channel.
async fn wait_subscribed(url: &str, env: &TestEnv, n: u64) -> Result<()> {
    let channel = octodb_proxy::peers::channel(&env.catalog.notice_channel());
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let start = Instant::now();
    loop {
        let (_, subscribed): (String, u64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut conn)
            .await?;
        if subscribed >= n {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(10) {
            bail!("{subscribed} of {n} proxies subscribed to {channel}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn name(c: &mut Conn) -> Result<String> {
    c.query_first(QUERY).await?.context("no row")
}

async fn out_of_band(t: &TestTenant, name: &str) -> Result<()> {
    let mut root = root_conn(Some(&t.physical)).await?;
    root.exec_drop("UPDATE items SET name = ? WHERE id = 1", (name,))
        .await?;
    Ok(())
}

/// Polls `c` until it answers `want`; the time it took.
async fn until(c: &mut Conn, want: &str, limit: Duration) -> Result<Duration> {
    let start = Instant::now();
    loop {
        let got = name(c).await?;
        if got == want {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            bail!("still {got:?} after {limit:?}, want {want:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_proxy_drops_the_others_cached_result() -> Result<()> {
    let url = redis_url();
    let redis_url_for_a = url.clone();
    TestEnv::run_with(
        move |c| c.redis.url = Some(redis_url_for_a),
        |mut env| async move {
            let mut second = None;
            let r = async {
                let t = env
                    .tenant("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL)")
                    .await?;
                let mut root = root_conn(Some(&t.physical)).await?;
                root.query_drop("INSERT INTO items VALUES (1, 'a'), (2, 'z')")
                    .await?;
                let limits = LimitSettings {
                    result_cache_ttl_ms: Some(60_000),
                    ..LimitSettings::default()
                };
                env.set_limits(&t, &limits).await?;
                let b = second.insert(Second::start(&env, &url).await?);
                wait_subscribed(&url, &env, 2).await?;
                let mut on_a = env.connect(&t).await?;
                let mut on_b = b.connect(&env, &t).await?;

                // B caches its answer: the backend already says 'b', B still 'a'.
                ensure!(name(&mut on_b).await? == "a");
                out_of_band(&t, "b").await?;
                ensure!(name(&mut on_b).await? == "a", "B answers from its cache");
                let s = b.shared.results.stats();
                ensure!(s.hits == 1 && s.stored == 1, "{s:?}");

                // The tenant writes through A: B hears it and asks the backend again, long
                // before the 60 s TTL.
                on_a.query_drop("UPDATE items SET name = 'y' WHERE id = 2")
                    .await?;
                let took = until(&mut on_b, "b", Duration::from_secs(5)).await?;
                ensure!(took < Duration::from_secs(2), "{took:?}");

                // And the other way round, inside a transaction: marked when it commits.
                ensure!(name(&mut on_a).await? == "b");
                out_of_band(&t, "c").await?;
                ensure!(name(&mut on_a).await? == "b", "A answers from its cache");
                on_b.query_drop("BEGIN").await?;
                on_b.query_drop("INSERT INTO items VALUES (3, 'n')").await?;
                on_b.query_drop("COMMIT").await?;
                until(&mut on_a, "c", Duration::from_secs(5)).await?;
                Ok(())
            }
            .await;
            if let Some(b) = second {
                b.stop().await;
            }
            (env, r)
        },
    )
    .await
}
