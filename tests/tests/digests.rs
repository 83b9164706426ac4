//! Statement digests end to end (issue 6): statements run through the in-process proxy are
//! normalised (literals as `?`, IN lists and VALUES rows collapsed, keywords upper-cased, the
//! tenant's logical names), counted with their rows and errors, published to the catalog by
//! the proxy's flush, and served by the admin's `GET /v1/tenants/{id}/digests` summed and
//! sorted; a second tenant's digests never show, refused statements are not digested, and
//! `DELETE` forgets them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mysql_async::prelude::Queryable;
use octodb_catalog::TenantName;
use octodb_tests::admin::AdminServer;
use octodb_tests::{TestEnv, TestTenant};
use serde_json::Value;

const SCHEMA: &str = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))";

async fn tenant_id(env: &TestEnv, t: &TestTenant) -> Result<u64> {
    Ok(env
        .catalog
        .tenant_by_name(&TenantName::parse(&t.name)?)
        .await?
        .context("tenant")?
        .id)
}

/// The digest with `text` in a list answer, if any.
fn find<'a>(list: &'a Value, text: &str) -> Option<&'a Value> {
    list["items"].as_array()?.iter().find(|d| d["text"] == text)
}

/// Polls the admin until `ready` accepts the tenant's digest list (published every second).
async fn wait_digests(
    admin: &AdminServer,
    id: u64,
    ready: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let start = Instant::now();
    loop {
        let r = admin
            .call("GET", &format!("/v1/tenants/{id}/digests"), None)
            .await?;
        ensure!(r.status == 200, "{r:?}");
        let list = r.json()?;
        if ready(&list) {
            return Ok(list);
        }
        if start.elapsed() > Duration::from_secs(15) {
            bail!("digests not published as expected: {list:#}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first tenant's workload (what it must produce is listed in the test).
async fn workload(env: &TestEnv, t: &TestTenant) -> Result<()> {
    let mut c = env.connect(t).await?;
    c.query_drop("INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b')")
        .await?;
    c.query_drop("insert into t (id, v) values (3, 'c')")
        .await?;
    let rows: Vec<String> = c.query("SELECT v FROM t WHERE id IN (1, 2, 3)").await?;
    ensure!(rows.len() == 3);
    let rows: Vec<String> = c
        .query("select v from app.t /* one */ where id in (2)")
        .await?;
    ensure!(rows.len() == 1);
    let e = c.query_drop("SELECT nope FROM t WHERE id = 1").await;
    ensure!(e.is_err(), "an unknown column fails");
    let e = c.query_drop("DROP TABLE t").await;
    ensure!(e.is_err(), "DROP is refused");
    // The binary protocol: one prepare, two executions, the same digest.
    for id in [1, 3] {
        let v: Option<String> = c.exec_first("SELECT v FROM t WHERE id = ?", (id,)).await?;
        ensure!(v.is_some());
    }
    c.query_drop("UPDATE t SET v = 'z' WHERE id > 1").await?;
    c.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn digests_are_published_per_tenant_and_served_by_the_admin() -> Result<()> {
    let mut env = TestEnv::start_with(|c| {
        c.digest_flush_secs = 1;
        c.proxy_id = Some("it-proxy".into());
    })
    .await?;
    let result = async {
        let t1 = env.tenant(SCHEMA).await?;
        let t2 = env.tenant(SCHEMA).await?;
        let (id1, id2) = (tenant_id(&env, &t1).await?, tenant_id(&env, &t2).await?);
        let admin = AdminServer::start(&env.admin_config()).await?;
        let checked = async {
            workload(&env, &t1).await?;
            let mut c2 = env.connect(&t2).await?;
            c2.query_drop("SELECT id FROM t WHERE v = 'only-the-second-tenant'")
                .await?;
            c2.disconnect().await?;

            let update = "UPDATE t SET v = ? WHERE id > ?";
            let list = wait_digests(&admin, id1, |l| find(l, update).is_some()).await?;
            let expect = [
                // text, count, rows, errors
                ("INSERT INTO t(id, v) VALUES (?, ?)", 2, 3, 0),
                ("SELECT v FROM t WHERE id IN (...)", 1, 3, 0),
                ("SELECT v FROM app.t WHERE id IN (...)", 1, 1, 0),
                ("SELECT nope FROM t WHERE id = ?", 1, 0, 1),
                ("SELECT v FROM t WHERE id = ?", 2, 2, 0),
                (update, 1, 2, 0),
            ];
            for (text, count, rows, errors) in expect {
                let d = find(&list, text).with_context(|| format!("{text} in {list:#}"))?;
                assert_eq!(d["count"], count, "{d}");
                assert_eq!(d["rows"], rows, "{d}");
                assert_eq!(d["errors"], errors, "{d}");
                let (total, min, max, avg) = (
                    d["total_us"].as_u64().unwrap(),
                    d["min_us"].as_u64().unwrap(),
                    d["max_us"].as_u64().unwrap(),
                    d["avg_us"].as_u64().unwrap(),
                );
                assert!(min <= max && max <= total && avg == total / count, "{d}");
                assert!(total > 0, "{d}");
                assert!(d["first_seen"].as_str() <= d["last_seen"].as_str(), "{d}");
                assert_eq!(d["digest"].as_str().map(str::len), Some(16), "{d}");
            }
            let items = list["items"].as_array().unwrap();
            // Refused statements are not digested; nothing names a physical database.
            for d in items {
                let text = d["text"].as_str().unwrap();
                assert!(!text.contains("DROP"), "{text}");
                assert!(!text.contains(&t1.physical), "{text}");
                assert!(!text.contains("only-the-second"), "{text}");
                assert_ne!(text, "SELECT id FROM t WHERE v = ?");
            }
            // Most total time first.
            let totals: Vec<u64> = items
                .iter()
                .map(|d| d["total_us"].as_u64().unwrap())
                .collect();
            assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");

            let other = wait_digests(&admin, id2, |l| {
                find(l, "SELECT id FROM t WHERE v = ?").is_some()
            })
            .await?;
            assert!(find(&other, "INSERT INTO t(id, v) VALUES (?, ?)").is_none());

            // More executions add to the same row.
            let mut c = env.connect(&t1).await?;
            c.query_drop("UPDATE t SET v = 'y' WHERE id > 2").await?;
            c.disconnect().await?;
            let list = wait_digests(&admin, id1, |l| {
                find(l, update).is_some_and(|d| d["count"] == 2)
            })
            .await?;
            assert_eq!(find(&list, update).unwrap()["rows"], 3);

            // Bad input and unknown tenants are problems; limit cuts the list.
            let r = admin
                .call("GET", &format!("/v1/tenants/{id1}/digests?limit=0"), None)
                .await?;
            assert_eq!(r.status, 422, "{r:?}");
            assert!(
                r.content_type.starts_with("application/problem+json"),
                "{r:?}"
            );
            let r = admin
                .call("GET", &format!("/v1/tenants/{id1}/digests?limit=2"), None)
                .await?;
            assert_eq!(r.json()?["items"].as_array().map(Vec::len), Some(2));
            let r = admin
                .call("GET", "/v1/tenants/999999999/digests", None)
                .await?;
            assert_eq!(r.status, 404, "{r:?}");

            // Reset: gone for this tenant only.
            let r = admin
                .call("DELETE", &format!("/v1/tenants/{id1}/digests"), None)
                .await?;
            assert_eq!(r.status, 204, "{r:?}");
            let r = admin
                .call("GET", &format!("/v1/tenants/{id1}/digests"), None)
                .await?;
            assert_eq!(r.json()?["items"], serde_json::json!([]));
            let r = admin
                .call("GET", &format!("/v1/tenants/{id2}/digests"), None)
                .await?;
            assert!(find(&r.json()?, "SELECT id FROM t WHERE v = ?").is_some());
            Ok::<_, anyhow::Error>(())
        }
        .await;
        let stopped = admin.stop().await;
        checked?;
        stopped
    }
    .await;
    let cleaned = env.cleanup().await;
    result?;
    cleaned
}
