//! Statement digests in the catalog (migration 10) against a real MariaDB/MySQL: deltas from
//! several proxies add up per digest (sums, minima, maxima, first and last seen), the list is
//! sorted by total time and limited, a reset is per tenant, and pruning removes only rows last
//! seen before the cutoff. A fresh catalog schema per run, dropped at the end.
//!
//! Server: `OCTODB_TEST_MYSQL_HOST` (127.0.0.1), `OCTODB_TEST_MYSQL_PORT` (3306),
//! `OCTODB_TEST_MYSQL_USER` (root), `OCTODB_TEST_MYSQL_PASSWORD` (empty).

#![allow(clippy::unwrap_used)]

use anyhow::{ensure, Result};
use mysql_async::prelude::Queryable;
use octodb_catalog::{Catalog, CatalogConfig, DigestDelta, SecretKey, UtcTimestamp};
use rand::distributions::{Alphanumeric, DistString};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn server_url(db: &str) -> String {
    let user = env_or("OCTODB_TEST_MYSQL_USER", "root");
    let password = env_or("OCTODB_TEST_MYSQL_PASSWORD", "");
    let auth = if password.is_empty() {
        user
    } else {
        format!("{user}:{password}")
    };
    format!(
        "mysql://{auth}@{}:{}/{db}?prefer_socket=false",
        env_or("OCTODB_TEST_MYSQL_HOST", "127.0.0.1"),
        env_or("OCTODB_TEST_MYSQL_PORT", "3306")
    )
}

fn at(rfc3339: &str) -> UtcTimestamp {
    UtcTimestamp::parse_rfc3339(rfc3339).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn delta(
    tenant: u64,
    digest: u64,
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
    first: &str,
    last: &str,
) -> DigestDelta {
    DigestDelta {
        tenant_id: tenant,
        digest,
        text: format!("SELECT {digest} FROM t WHERE id = ?"),
        count,
        sum_us: sum,
        min_us: min,
        max_us: max,
        rows: count * 2,
        errors: u64::from(digest == 2),
        first_seen: at(first),
        last_seen: at(last),
    }
}

async fn body(catalog: &Catalog) -> Result<()> {
    let day1 = "2026-01-01T00:00:00Z";
    let day2 = "2026-01-02T00:00:00Z";
    let day9 = "2026-01-09T00:00:00Z";
    catalog
        .add_digest_deltas(
            "proxy-a",
            &[
                delta(1, 1, 2, 300, 100, 200, day1, day2),
                delta(1, 2, 1, 50, 50, 50, day2, day2),
                delta(2, 1, 5, 5_000, 1_000, 1_000, day1, day1),
            ],
        )
        .await?;
    // A second flush of proxy-a and one of proxy-b add to the same digest.
    catalog
        .add_digest_deltas("proxy-a", &[delta(1, 1, 1, 10, 10, 10, day9, day9)])
        .await?;
    catalog
        .add_digest_deltas(
            "proxy-b",
            &[delta(1, 1, 1, 1_000, 1_000, 1_000, day2, day2)],
        )
        .await?;

    let list = catalog.tenant_digests(1, 10).await?;
    ensure!(list.len() == 2, "{list:?}");
    let d = &list[0];
    ensure!(d.digest == format!("{:016x}", 1), "{d:?}");
    ensure!(d.text == "SELECT 1 FROM t WHERE id = ?", "{d:?}");
    ensure!(
        (d.count, d.total_us, d.min_us, d.max_us, d.avg_us, d.rows, d.errors)
            == (4, 1_310, 10, 1_000, 327, 8, 0),
        "{d:?}"
    );
    ensure!(d.first_seen == "2026-01-01T00:00:00.000000Z", "{d:?}");
    ensure!(d.last_seen == "2026-01-09T00:00:00.000000Z", "{d:?}");
    ensure!(list[1].errors == 1 && list[1].total_us == 50, "{list:?}");
    ensure!(catalog.tenant_digests(1, 1).await?.len() == 1);
    ensure!(catalog.tenant_digests(3, 10).await?.is_empty());

    // Rows last seen before day 3: tenant 1's digest 2 (proxy-a), tenant 1's digest 1 on
    // proxy-b, tenant 2's. Tenant 1's digest 1 on proxy-a was seen on day 9 and stays.
    ensure!(catalog.prune_digests(at("2026-01-03T00:00:00Z")).await? == 3);
    let left = catalog.tenant_digests(1, 10).await?;
    ensure!(left.len() == 1 && left[0].count == 3, "{left:?}");
    ensure!(catalog.tenant_digests(2, 10).await?.is_empty());

    catalog
        .add_digest_deltas("proxy-a", &[delta(2, 7, 1, 1, 1, 1, day9, day9)])
        .await?;
    ensure!(catalog.reset_tenant_digests(1).await? == 1);
    ensure!(catalog.tenant_digests(1, 10).await?.is_empty());
    ensure!(
        catalog.tenant_digests(2, 10).await?.len() == 1,
        "other tenants keep theirs"
    );
    // Nothing to add is not an error.
    catalog.add_digest_deltas("proxy-a", &[]).await?;
    Ok(())
}

#[tokio::test]
async fn deltas_add_up_and_old_rows_are_pruned() -> Result<()> {
    let db = format!(
        "octodb_meta_digests_{}",
        Alphanumeric
            .sample_string(&mut rand::thread_rng(), 8)
            .to_lowercase()
    );
    let cfg = CatalogConfig {
        url: server_url(&db),
        key: Some(SecretKey::generate().to_hex()),
        ..CatalogConfig::default()
    };
    let result = match Catalog::connect(&cfg).await {
        Ok(catalog) => {
            let r = body(&catalog).await;
            let _ = catalog.disconnect().await;
            r
        }
        Err(e) => Err(e.into()),
    };
    let mut root = mysql_async::Conn::new(mysql_async::Opts::from_url(&server_url(""))?).await?;
    root.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await?;
    root.disconnect().await?;
    result
}
