//! `admin/openapi.json` stays true to the routes, both ways:
//! - the (method, path) pairs of the document and of `routes::table()` (which the router is
//!   built from) are the same set;
//! - the document is well formed: OpenAPI 3.1, a bearer scheme, every `$ref` resolves, every path
//!   parameter is declared, every operation has a success and (for `/v1`) a 401 problem response;
//! - against the running app, every documented operation reaches a handler (never the router's
//!   404 or 405), while undocumented methods and paths do get them.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use anyhow::{ensure, Context, Result};
use common::{Fixture, Server};
use serde_json::Value;

const DOC: &str = include_str!("../openapi.json");
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn doc() -> Value {
    serde_json::from_str(DOC).expect("openapi.json is JSON")
}

/// (METHOD, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (key, _) in item.as_object().expect("path item") {
            if METHODS.contains(&key.as_str()) {
                ops.insert((key.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn routed() -> BTreeSet<(String, String)> {
    octodb_admin::routes::endpoints()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_string(), p.to_string()))
        .collect()
}

#[test]
fn document_lists_exactly_the_routes() {
    let doc = doc();
    let (documented, routed) = (documented(&doc), routed());
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "openapi.json operations with no route: {unrouted:?}"
    );
    assert_eq!(
        routed.len(),
        octodb_admin::routes::endpoints().len(),
        "duplicate routes"
    );
}

/// Follows a local `$ref` (`#/a/b`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.strip_prefix('#').expect("local ref"))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => v,
    }
}

fn all_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => all_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| all_refs(v, out)),
        _ => {}
    }
}

#[test]
fn document_is_well_formed() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    let bearer = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(
        (bearer["type"].as_str(), bearer["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    assert_eq!(doc["security"][0]["bearerAuth"], serde_json::json!([]));

    let mut refs = Vec::new();
    all_refs(&doc, &mut refs);
    for r in &refs {
        assert!(doc.pointer(&r[1..]).is_some(), "dangling $ref {r}");
    }

    let mut operation_ids = BTreeSet::new();
    for (method, path) in documented(&doc) {
        let op = &doc["paths"][&path][method.to_ascii_lowercase()];
        let what = format!("{method} {path}");
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: operationId"));
        assert!(
            operation_ids.insert(id.to_string()),
            "{what}: duplicate operationId {id}"
        );

        // Every `{param}` of the template is declared as a required path parameter.
        let declared: BTreeSet<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path")
            .inspect(|p| assert_eq!(p["required"], true, "{what}: {p}"))
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_string)
            .collect();
        assert_eq!(declared, in_template, "{what}: path parameters");

        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{what}"));
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what}: no success response"
        );
        // Error responses are problem documents.
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let content = &resolve(&doc, response)["content"];
                assert!(
                    content["application/problem+json"].is_object(),
                    "{what} {status}"
                );
            }
        }
        let public = op["security"] == serde_json::json!([]);
        assert_eq!(public, !path.starts_with("/v1/"), "{what}: security");
        if !public {
            assert!(responses.contains_key("401"), "{what}: no 401");
            assert!(responses.contains_key("403"), "{what}: no 403");
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("422"), "{what}: a body but no 422");
        }
    }
}

/// `path` with its parameters filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| match s {
            "{id}" => "1",
            "{username}" => "someone",
            "{db}" => "app",
            "{v}" => "1",
            s => {
                assert!(!s.starts_with('{'), "no sample value for {s}");
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_operation_is_routed() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let server = Server::start(&fx.config).await?;
            let doc = doc();
            for (method, path) in documented(&doc) {
                let url = concrete(&path);
                let body = (method == "POST").then_some("{}");
                // No key: /v1 handlers authenticate first (401) before looking anything up, so a
                // 404 or 405 can only come from the router.
                let r = server.call(&method, &url, None, body).await?;
                ensure!(
                    r.status != 404 && r.status != 405,
                    "{method} {path} ({url}) is documented but not routed: {r:?}"
                );
                if path.starts_with("/v1/") {
                    r.problem(401).with_context(|| format!("{method} {url}"))?;
                } else {
                    ensure!(
                        r.status == 200 || (path == "/readyz" && r.status == 503),
                        "{method} {url}: {r:?}"
                    );
                }
            }
            // The probe tells routed from unrouted: undocumented methods and paths are refused.
            server
                .call("PUT", "/v1/tenants", None, Some("{}"))
                .await?
                .problem(405)?;
            server
                .call("POST", "/v1/jobs/1", None, Some("{}"))
                .await?
                .problem(405)?;
            server
                .call("GET", "/v1/nothing", None, None)
                .await?
                .problem(404)?;

            // The served document is the file.
            let served = server.call("GET", "/openapi.json", None, None).await?;
            ensure!(served.content_type == "application/json", "{served:?}");
            ensure!(
                served.json()? == doc,
                "GET /openapi.json differs from openapi.json"
            );
            server.stop().await
        })
        .await
}
