//! `since`/`until` on the audit routes: exact windows (since inclusive, until exclusive, to the
//! microsecond, any offset), combined with the action and actor filters and with pagination; a
//! tenant key sees only its tenant's rows; bad timestamps are 422 problems naming the parameter.
//!
//! Rows are written with the catalog's own audit insert, then given known times in the test's
//! own catalog schema (the API records "now", which a test cannot place in a window exactly);
//! one row written by the API is also found by the time read back from it.

#![allow(clippy::unwrap_used)]

mod common;

use anyhow::{ensure, Context, Result};
use common::{root_conn, tenant_key, Fixture, Server};
use mysql_async::prelude::Queryable;
use octodb_catalog::{Catalog, NewAudit, UtcTimestamp, OUTCOME_SUCCESS};
use serde_json::Value;

/// One seeded row: (action, actor, tenant index, time).
const SEED: &[(&str, u64, usize, &str)] = &[
    ("test.a", 101, 0, "2031-03-01 10:00:00.000000"),
    ("test.b", 102, 0, "2031-03-02 10:00:00.000000"),
    ("test.a", 102, 1, "2031-03-03 10:00:00.000005"),
    ("test.a", 101, 1, "2031-03-04 10:00:00.000000"),
    ("test.b", 101, 0, "2031-03-05 10:00:00.000000"),
    ("test.a", 101, 0, "2031-03-06 10:00:00.000000"),
    ("test.a", 101, 1, "2031-03-07 10:00:00.000000"),
    ("test.b", 102, 1, "2031-03-08 10:00:00.000000"),
];

/// Writes the seed rows through the catalog and sets their times; returns their ids in order.
async fn seed(fx: &Fixture, catalog: &Catalog, tenants: [u64; 2]) -> Result<Vec<u64>> {
    for (action, actor, tenant, _) in SEED {
        catalog
            .audit(&NewAudit {
                actor: Some(*actor),
                action,
                tenant_id: Some(tenants[*tenant]),
                target: Some("seed"),
                outcome: OUTCOME_SUCCESS,
                request_id: None,
                detail: None,
            })
            .await?;
    }
    let mut conn = root_conn(&fx.config).await?;
    conn.query_drop("SET time_zone = '+00:00'").await?;
    let ids: Vec<u64> = conn
        .exec(
            format!(
                "SELECT id FROM `{}`.audit WHERE target = 'seed' ORDER BY id",
                fx.catalog_db
            ),
            (),
        )
        .await?;
    ensure!(ids.len() == SEED.len(), "{ids:?}");
    for (id, (.., at)) in ids.iter().zip(SEED) {
        conn.exec_drop(
            format!("UPDATE `{}`.audit SET at = ? WHERE id = ?", fx.catalog_db),
            (at, id),
        )
        .await?;
    }
    conn.disconnect().await?;
    Ok(ids)
}

/// Every row of a listing, following `next` (pages of `limit`); checks each page's size.
async fn all_pages(server: &Server, key: &str, path: &str, limit: usize) -> Result<Vec<Value>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut rows = Vec::new();
    let mut after = String::new();
    for _ in 0..100 {
        let url = format!("{path}{sep}limit={limit}&after={after}");
        let r = server.call("GET", &url, Some(key), None).await?;
        ensure!(r.status == 200, "{url}: {r:?}");
        let page = r.json()?;
        let items = page["items"].as_array().context("items")?.clone();
        ensure!(items.len() <= limit, "{url}: {page}");
        let next = page["next"].as_str().map(str::to_string);
        ensure!(
            next.is_some() == (items.len() == limit),
            "{url}: a full page has a cursor, a short one none: {page}"
        );
        rows.extend(items);
        match next {
            Some(n) => after = n,
            None => return Ok(rows),
        }
    }
    anyhow::bail!("{path}: no last page")
}

/// Ids of the rows of `path` (one page of up to 500).
async fn ids_of(server: &Server, key: &str, path: &str) -> Result<Vec<u64>> {
    let r = server.call("GET", path, Some(key), None).await?;
    ensure!(r.status == 200, "{path}: {r:?}");
    let body = r.json()?;
    Ok(body["items"]
        .as_array()
        .context("items")?
        .iter()
        .map(|v| v["id"].as_u64().unwrap())
        .collect())
}

/// Seed ids (by 1-based seed position) in order.
fn pick(ids: &[u64], positions: &[usize]) -> Vec<u64> {
    positions.iter().map(|p| ids[p - 1]).collect()
}

#[tokio::test]
async fn time_windows_filters_and_pages() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let t0 = server.ready_tenant(&op, &fx.tenant_name("aud")).await?;
            let t1 = server.ready_tenant(&op, &fx.tenant_name("aud")).await?;
            let ids = seed(&fx, &catalog, [t0, t1]).await?;

            // since inclusive, until exclusive.
            let w = "since=2031-03-02T10:00:00Z&until=2031-03-05T10:00:00Z";
            let got = ids_of(&server, &op, &format!("/v1/audit?{w}&limit=500")).await?;
            ensure!(got == pick(&ids, &[2, 3, 4]), "{got:?}");
            // The same instants written with offsets (`+` percent-encoded, or left as the space
            // an unencoded `+` decodes to).
            for w in [
                "since=2031-03-02T12:00:00%2B02:00&until=2031-03-05T07:30:00-02:30",
                "since=2031-03-02T12:00:00+02:00&until=2031-03-05T07:30:00-02:30",
                "since=2031-03-02t10:00:00z&until=2031-03-05T10:00:00.000000000Z",
            ] {
                let got = ids_of(&server, &op, &format!("/v1/audit?{w}")).await?;
                ensure!(got == pick(&ids, &[2, 3, 4]), "{w}: {got:?}");
            }
            // To the microsecond: row 3 is at 10:00:00.000005.
            let cases: &[(&str, &[usize])] = &[
                (
                    "since=2031-03-03T10:00:00.000005Z&until=2031-03-04T00:00:00Z",
                    &[3],
                ),
                (
                    "since=2031-03-03T10:00:00.000006Z&until=2031-03-04T00:00:00Z",
                    &[],
                ),
                (
                    "since=2031-03-03T10:00:00.0000051Z&until=2031-03-04T00:00:00Z",
                    &[],
                ),
                (
                    "since=2031-03-03T00:00:00Z&until=2031-03-03T10:00:00.000005Z",
                    &[],
                ),
                (
                    "since=2031-03-03T00:00:00Z&until=2031-03-03T10:00:00.0000051Z",
                    &[3],
                ),
                // An empty window is not an error.
                ("since=2031-03-03T10:00:00Z&until=2031-03-03T10:00:00Z", &[]),
            ];
            for (w, expected) in cases {
                let got = ids_of(&server, &op, &format!("/v1/audit?{w}")).await?;
                ensure!(got == pick(&ids, expected), "{w}: {got:?}");
            }
            // One bound only: since leaves out everything recorded now (tenant creation...).
            let got = ids_of(&server, &op, "/v1/audit?since=2031-03-04T10:00:00Z").await?;
            ensure!(got == pick(&ids, &[4, 5, 6, 7, 8]), "{got:?}");
            let all = ids_of(&server, &op, "/v1/audit?limit=500").await?;
            let got = ids_of(
                &server,
                &op,
                "/v1/audit?until=2031-03-03T00:00:00Z&limit=500",
            )
            .await?;
            let expected: Vec<u64> = all
                .iter()
                .copied()
                .filter(|id| !pick(&ids, &[3, 4, 5, 6, 7, 8]).contains(id))
                .collect();
            ensure!(got == expected && got.len() > 2, "{got:?} vs {expected:?}");
            // Far bounds (before 1970, after the TIMESTAMP range) are valid instants.
            let got = ids_of(
                &server,
                &op,
                "/v1/audit?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z&limit=500",
            )
            .await?;
            ensure!(got == all, "{got:?}");

            // Combined with action and actor.
            let w = "since=2031-03-01T10:00:00Z&until=2031-03-08T00:00:00Z";
            for (filter, expected) in [
                ("action=test.a", &[1, 3, 4, 6, 7][..]),
                ("actor=101", &[1, 4, 5, 6, 7][..]),
                ("action=test.a&actor=101", &[1, 4, 6, 7][..]),
                ("action=test.b&actor=102", &[2][..]),
                ("action=nothing", &[][..]),
            ] {
                let got = ids_of(&server, &op, &format!("/v1/audit?{w}&{filter}")).await?;
                ensure!(got == pick(&ids, expected), "{filter}: {got:?}");
            }

            // Pagination inside a window, with and without other filters.
            let rows = all_pages(&server, &op, &format!("/v1/audit?{w}"), 2).await?;
            let got: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
            ensure!(got == pick(&ids, &[1, 2, 3, 4, 5, 6, 7]), "{got:?}");
            let path = format!("/v1/audit?{w}&action=test.a&actor=101");
            let rows = all_pages(&server, &op, &path, 3).await?;
            let got: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
            ensure!(got == pick(&ids, &[1, 4, 6, 7]), "{got:?}");
            // The times read back are the ones written, and inside the window.
            let times: Vec<&str> = rows.iter().map(|r| r["at"].as_str().unwrap()).collect();
            ensure!(
                times
                    == [
                        "2031-03-01T10:00:00.000000Z",
                        "2031-03-04T10:00:00.000000Z",
                        "2031-03-06T10:00:00.000000Z",
                        "2031-03-07T10:00:00.000000Z"
                    ],
                "{times:?}"
            );

            // The tenant route: only that tenant's rows, for the operator and the tenant's key.
            let k0 = tenant_key(&catalog, t0).await?;
            let w = "since=2031-03-01T00:00:00Z&until=2031-03-06T00:00:00Z";
            for key in [&op, &k0] {
                let path = format!("/v1/tenants/{t0}/audit?{w}");
                let rows = all_pages(&server, key, &path, 1).await?;
                let got: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
                ensure!(got == pick(&ids, &[1, 2, 5]), "{got:?}");
                ensure!(rows.iter().all(|r| r["tenant_id"] == t0), "{rows:?}");
            }
            let got = ids_of(
                &server,
                &k0,
                &format!("/v1/tenants/{t0}/audit?{w}&actor=102"),
            )
            .await?;
            ensure!(got == pick(&ids, &[2]), "{got:?}");
            // Without a window the tenant key still sees only its own tenant.
            let own = all_pages(&server, &k0, &format!("/v1/tenants/{t0}/audit"), 50).await?;
            ensure!(
                !own.is_empty() && own.iter().all(|r| r["tenant_id"] == t0),
                "{own:?}"
            );
            let got = ids_of(&server, &op, &format!("/v1/tenants/{t1}/audit?{w}")).await?;
            ensure!(got == pick(&ids, &[3, 4]), "{got:?}");
            server
                .call(
                    "GET",
                    &format!("/v1/tenants/{t1}/audit?{w}"),
                    Some(&k0),
                    None,
                )
                .await?
                .problem(403)?;
            server
                .call("GET", &format!("/v1/audit?{w}"), Some(&k0), None)
                .await?
                .problem(403)?;
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn rows_recorded_by_the_api_are_found_by_their_time() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            for _ in 0..3 {
                let r = server
                    .call(
                        "POST",
                        "/v1/keys",
                        Some(&op),
                        Some(r#"{"scope":"operator"}"#),
                    )
                    .await?;
                ensure!(r.status == 201, "{r:?}");
                // Distinct microseconds for each row.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let rows = all_pages(&server, &op, "/v1/audit?action=key.create", 50).await?;
            ensure!(rows.len() == 3, "{rows:?}");
            let at: Vec<UtcTimestamp> = rows
                .iter()
                .map(|r| r["at"].as_str().unwrap().parse().unwrap())
                .collect();
            ensure!(at[0] < at[1] && at[1] < at[2], "{at:?}");
            let micro = |t: UtcTimestamp, d: i64| {
                UtcTimestamp::from_unix_micros(t.unix_micros() + d).unwrap()
            };
            let id = |i: usize| rows[i]["id"].as_u64().unwrap();
            let cases = [
                // [at1, at2): only the middle row.
                (at[1], at[2], vec![id(1)]),
                // (at0 .. at2]: the last two.
                (micro(at[0], 1), micro(at[2], 1), vec![id(1), id(2)]),
                (at[0], at[0], vec![]),
                (at[0], micro(at[0], 1), vec![id(0)]),
            ];
            for (since, until, expected) in cases {
                let path = format!("/v1/audit?action=key.create&since={since}&until={until}");
                let got = ids_of(&server, &op, &path).await?;
                ensure!(got == expected, "{path}: {got:?}");
            }
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}

#[tokio::test]
async fn bad_windows_are_422() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let catalog = fx.catalog().await?;
            let op = fx.operator_key(&catalog).await?;
            let tenant = server.ready_tenant(&op, &fx.tenant_name("aud")).await?;
            let k = tenant_key(&catalog, tenant).await?;
            for (query, names) in [
                ("since=yesterday", "since"),
                ("until=2031-13-01T00:00:00Z", "until"),
                ("since=2031-02-29T00:00:00Z", "since"),
                ("since=2031-03-01T00:00:00", "since"),
                ("until=2031-03-01", "until"),
                ("since=2031-03-01T00:00:00Z&until=nope", "until"),
                ("since=2031-03-01T00:00:00%2B25:00", "since"),
                (
                    "since=2031-03-02T00:00:00Z&until=2031-03-01T00:00:00Z",
                    "since",
                ),
                (
                    "since=2031-03-01T00:00:00.000001Z&until=2031-03-01T00:00:00Z",
                    "until",
                ),
                (
                    "since=2031-03-01T02:00:00%2B01:00&until=2031-03-01T00:30:00Z",
                    "after",
                ),
            ] {
                for (key, path) in [
                    (&op, "/v1/audit".to_string()),
                    (&k, format!("/v1/tenants/{tenant}/audit")),
                ] {
                    let url = format!("{path}?{query}");
                    let p = server
                        .call("GET", &url, Some(key), None)
                        .await?
                        .problem(422)?;
                    let detail = p["detail"].as_str().unwrap();
                    ensure!(detail.contains(names), "{url}: {detail}");
                }
            }
            // An unknown parameter is still a 400, and a bad window on another tenant is a 403.
            server
                .call(
                    "GET",
                    "/v1/audit?from=2031-03-01T00:00:00Z",
                    Some(&op),
                    None,
                )
                .await?
                .problem(400)?;
            server
                .call("GET", "/v1/tenants/999999/audit?since=x", Some(&k), None)
                .await?
                .problem(403)?;
            catalog.disconnect().await?;
            server.stop().await
        })
        .await
}
