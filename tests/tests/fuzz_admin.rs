//! Mutation fuzzing of the admin API, every route of `admin/openapi.json`, in-process against
//! the real catalog, MariaDB and Redis.
//!
//! Each request takes a route's path with its parameters filled from a pool of real and hostile
//! values (the tenant's own id and names, zero, negative, huge, traversal, percent-encoded
//! bytes), a query string now and then, and for routes with a body a well-formed body that is
//! mostly mutated: bytes changed in the JSON text, or values swapped for other types, extremes,
//! deep nesting. Whatever arrives, the answer is never a 5xx, every error is a problem document
//! (RFC 9457) whose status matches the response's, nothing panics (a hook counts panics in the
//! server's tasks), and the server still answers and still knows its tenant afterwards. Every
//! tenant the fuzzing managed to create is dropped at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;
use octodb_tests::admin::{request, AdminServer};
use octodb_tests::fuzz::{count_panics, mutate, panics, seed, Rng};
use octodb_tests::{root_conn, TestEnv};
use serde_json::{json, Value};

const REQUESTS: usize = 1500;

/// The routes of the OpenAPI document: (method, path template).
fn routes() -> Result<Vec<(String, String)>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../admin/openapi.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().context("paths")? {
        for method in item.as_object().context("path item")?.keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    Ok(routes)
}

/// A well-formed body for the route, or None for routes that take none.
fn body(method: &str, path: &str, db: &str) -> Option<Value> {
    Some(match (method, path) {
        ("POST", "/v1/keys") => json!({ "scope": "operator" }),
        ("POST", "/v1/tenants") => json!({ "name": "fz" }),
        ("POST", "/v1/tenants/{id}/users") => json!({ "username": "fz_user", "password": "pw" }),
        ("POST", "/v1/tenants/{id}/databases") => json!({ "name": "fz" }),
        ("POST", "/v1/tenants/{id}/databases/{db}/query") => {
            json!({ "sql": "SELECT ? + 1", "params": [1] })
        }
        ("PUT", "/v1/tenants/{id}/limits") => json!({
            "max_client_connections": 10,
            "max_backend_connections": 5,
            "statements_per_second": 100,
            "statement_burst": 10,
            "statement_timeout_ms": 1000,
            "result_cache_ttl_ms": null,
            "result_cache_max_bytes": null,
        }),
        // Nothing listens there: a delivery attempt fails at once.
        ("PUT", "/v1/tenants/{id}/webhook") => json!({ "url": "http://127.0.0.1:9/hook" }),
        ("POST", "/v1/templates") => json!({ "name": "fz" }),
        ("POST", "/v1/templates/{id}/versions") => {
            json!({ "schema": "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10));" })
        }
        ("POST", "/v1/templates/{id}/versions/{v}/plan") => json!({ "allow": ["drop_column"] }),
        ("PUT", "/v1/tenants/{id}/databases/{db}/template") => {
            json!({ "template": "fz", "channel": "auto", "overlay": "" })
        }
        ("POST", "/v1/tenants/{id}/databases/{db}/template/opt-in") => {
            json!({ "version": 1, "allow": [] })
        }
        ("POST", "/v1/templates/{id}/versions/{v}/rollout") => {
            json!({ "canary": 1, "batch": 2, "max_failures": 0, "per_backend": 1 })
        }
        _ => return None,
    })
    .map(|mut v| {
        if let Some(name) = v.get_mut("name") {
            // A database named like the tenant's own, or not.
            *name = json!(format!("{}{}", name.as_str().unwrap_or(""), db.len()));
        }
        v
    })
}

/// A JSON value of another shape than the one it replaces.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(1e308),
        4 => json!("x".repeat(rng.below(5000))),
        5 => json!(["a", 1, null]),
        6 => json!({ "nested": { "deeper": [] } }),
        7 => {
            let mut v = json!(1);
            for _ in 0..rng.below(200) {
                v = json!([v]);
            }
            v
        }
        8 => json!(true),
        _ => json!("../../etc/passwd\u{0}é\u{2028}'; DROP TABLE t; --"),
    }
}

/// Mutates a body: a value replaced, a field dropped or added, or the JSON text itself.
fn mutated_body(rng: &mut Rng, mut v: Value) -> String {
    match rng.below(5) {
        0 => v.to_string(),
        1 | 2 => {
            if let Some(map) = v.as_object_mut() {
                let keys: Vec<String> = map.keys().cloned().collect();
                match rng.below(3) {
                    0 if !keys.is_empty() => {
                        map.remove(rng.pick(&keys));
                    }
                    1 => {
                        map.insert("unexpected".into(), odd_value(rng));
                    }
                    _ if !keys.is_empty() => {
                        let k = rng.pick(&keys).clone();
                        map.insert(k, odd_value(rng));
                    }
                    _ => {}
                }
            }
            v.to_string()
        }
        3 => odd_value(rng).to_string(),
        _ => {
            let mut text = v.to_string().into_bytes();
            mutate(rng, &mut text);
            String::from_utf8_lossy(&text).into_owned()
        }
    }
}

/// The value for one path parameter: mostly real, often hostile. Percent-encoded so that the
/// request line stays one line.
fn parameter(rng: &mut Rng, name: &str, real: &[String]) -> String {
    const HOSTILE: [&str; 12] = [
        "0",
        "-1",
        "18446744073709551616",
        "99999999999",
        "abc",
        "%2e%2e%2f%2e%2e",
        "%00",
        "%C3%A9",
        "%FF%FE",
        "a%20b",
        "1;DROP",
        "",
    ];
    if rng.chance(60) && !real.is_empty() {
        let _ = name;
        rng.pick(real).clone()
    } else {
        (*rng.pick(&HOSTILE)).to_string()
    }
}

const QUERY_STRINGS: [&str; 14] = [
    "",
    "",
    "",
    "?limit=2",
    "?limit=0",
    "?limit=-5",
    "?limit=99999999999999999999",
    "?after=zz",
    "?after=1&limit=1",
    "?status=ready",
    "?bogus=1",
    "?limit=1&limit=2",
    "?%ZZ",
    "?since=2026-01-01T00:00:00Z",
];

fn query_string(rng: &mut Rng) -> &'static str {
    let picked: &&'static str = rng.pick(&QUERY_STRINGS);
    picked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_requests_get_problems_never_failures() -> Result<()> {
    count_panics();
    let seed = seed();
    let mut rng = Rng(seed);
    let mut env = TestEnv::start().await?;
    // Thousands of requests from one caller in seconds: the rate limit (tested in the admin's
    // own tests) would answer most of them with 429 before they reach a handler.
    let mut config = env.admin_config();
    config.rate_limit.requests_per_second = 0;
    let admin = AdminServer::start(&config).await?;
    let result = fuzz(&mut rng, seed, &mut env, &admin).await;
    // Every tenant the fuzzing created, whatever happened, is dropped with the catalog.
    let mut root = root_conn(None).await?;
    let names: Vec<String> = root
        .query(format!("SELECT name FROM `{}`.tenants", env.catalog_db))
        .await
        .unwrap_or_default();
    for name in names {
        env.track_tenant(&name);
    }
    drop(root);
    admin.stop().await?;
    env.cleanup().await?;
    result
}

async fn fuzz(rng: &mut Rng, seed: u64, env: &mut TestEnv, admin: &AdminServer) -> Result<()> {
    let name = format!("fz{}", rng.word() % 1_000_000);
    env.track_tenant(&name);
    let (tenant, job) = admin.create_tenant(&name).await?;
    let done = admin
        .wait_job(job, Duration::from_millis(50), Duration::from_secs(30))
        .await?;
    anyhow::ensure!(done["status"] == "succeeded", "{done}");
    let ids = vec![tenant.to_string(), job.to_string(), "1".into()];
    let names = vec!["main".to_string(), format!("{name}_u"), "fz4".into()];
    let routes = routes()?;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for n in 0..REQUESTS {
        let (method, template) = rng.pick(&routes).clone();
        let mut path = String::new();
        for (i, part) in template.split(['{', '}']).enumerate() {
            if i % 2 == 0 {
                path.push_str(part);
            } else if part == "id" || part == "v" {
                path.push_str(&parameter(rng, part, &ids));
            } else {
                path.push_str(&parameter(rng, part, &names));
            }
        }
        path.push_str(query_string(rng));
        let sent = body(&method, &template, "main").map(|v| mutated_body(rng, v));
        // The operator key, mostly; none or a wrong one now and then.
        let key = match rng.below(20) {
            0 => None,
            1 => Some("not-a-key".to_string()),
            _ => Some(admin.key.clone()),
        };
        let what = || format!("seed {seed}, request {n}: {method} {path} {sent:?}");
        let r = request(admin.addr, &method, &path, key.as_deref(), sent.as_deref())
            .await
            .with_context(what)?;
        *statuses.entry(r.status).or_default() += 1;
        if r.status >= 500 {
            bail!("{}: {} {}", what(), r.status, r.body);
        }
        if r.status >= 400 {
            let problem = r.json().with_context(what)?;
            if r.content_type != "application/problem+json"
                || problem["status"] != r.status
                || !problem["title"].is_string()
                || !problem["detail"].is_string()
            {
                bail!("{}: not a problem document: {} {:?}", what(), r.status, r);
            }
        }
    }
    eprintln!("seed {seed}: {REQUESTS} mutated requests, statuses {statuses:?}");
    anyhow::ensure!(panics() == 0, "seed {seed}: a panic");
    let r = admin.call("GET", "/healthz", None).await?;
    anyhow::ensure!(r.status == 200, "healthz after fuzzing: {r:?}");
    let r = admin.call("GET", "/v1/tenants?limit=100", None).await?;
    anyhow::ensure!(r.status == 200, "{r:?}");
    Ok(())
}
