//! Tenant webhooks on the real MariaDB, delivered to an HTTP receiver running in the test
//! (axum on 127.0.0.1:0): signature and headers checked independently of the admin's code,
//! retries, final failure, the API's scope checks and URL rules, the SSRF guard, and pending
//! deliveries resuming after a restart.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{request, tenant_key, Fixture, Response};
use hmac::{Hmac, Mac};
use octodb_admin::{AdminConfig, AppState};
use octodb_catalog::Catalog;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    headers: HeaderMap,
    body: String,
}

/// An HTTP receiver: answers the scripted statuses in order, then `fallback`.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    fallback: Arc<AtomicU16>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.hits.lock().unwrap().push(Hit {
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    });
    let code = r
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| r.fallback.load(Ordering::SeqCst));
    StatusCode::from_u16(code).unwrap()
}

impl Receiver {
    /// Starts a receiver answering `script`, then `fallback`; returns it and its URL.
    async fn start(script: &[u16], fallback: u16) -> Result<(Receiver, String, JoinHandle<()>)> {
        let r = Receiver::default();
        r.script.lock().unwrap().extend(script);
        r.fallback.store(fallback, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(r.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((r, url, handle))
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

/// The admin in-process, with its state at hand for [`octodb_admin::webhooks::notify`].
struct App {
    addr: SocketAddr,
    state: AppState,
    catalog: Catalog,
    stop: CancellationToken,
    tracker: TaskTracker,
    server: JoinHandle<Result<(), octodb_admin::AdminError>>,
}

impl App {
    async fn start(config: &AdminConfig) -> Result<App> {
        let catalog = Catalog::connect(&config.catalog).await?;
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        let state = AppState::start(catalog.clone(), config, stop.clone(), &tracker)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(octodb_admin::serve(listener, state.clone(), stop.clone()));
        Ok(App {
            addr,
            state,
            catalog,
            stop,
            tracker,
            server,
        })
    }

    /// Stops serving and waits for the background tasks (jobs, webhook worker) to end.
    async fn stop(self) -> Result<()> {
        self.stop.cancel();
        self.server.await??;
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(15), self.tracker.wait())
            .await
            .context("background tasks did not stop")?;
        drop(self.state);
        self.catalog.disconnect().await?;
        Ok(())
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<&str>,
    ) -> Result<Response> {
        request(self.addr, method, path, Some(key), body).await
    }

    /// Creates tenant `name`, waits until it is ready; returns its id.
    async fn ready_tenant(&self, key: &str, name: &str) -> Result<u64> {
        let r = self
            .call(
                "POST",
                "/v1/tenants",
                key,
                Some(&json!({ "name": name }).to_string()),
            )
            .await?;
        ensure!(r.status == 202, "creating {name}: {r:?}");
        let created = r.json()?;
        let job = self
            .wait_job(key, created["job_id"].as_u64().context("job_id")?)
            .await?;
        ensure!(job["status"] == "succeeded", "{job}");
        created["id"].as_u64().context("id")
    }

    async fn wait_job(&self, key: &str, job_id: u64) -> Result<Value> {
        for _ in 0..400 {
            let job = self
                .call("GET", &format!("/v1/jobs/{job_id}"), key, None)
                .await?
                .json()?;
            if job["status"] == "succeeded" || job["status"] == "failed" {
                return Ok(job);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("job {job_id} did not finish")
    }

    /// Sets the tenant's webhook; returns the secret.
    async fn set_webhook(&self, key: &str, tenant: u64, url: &str) -> Result<String> {
        let r = self
            .call(
                "PUT",
                &format!("/v1/tenants/{tenant}/webhook"),
                key,
                Some(&json!({ "url": url }).to_string()),
            )
            .await?;
        ensure!(r.status == 200, "{r:?}");
        let v = r.json()?;
        ensure!(v["url"] == url, "{v}");
        Ok(v["secret"].as_str().context("secret")?.to_string())
    }

    async fn deliveries(&self, key: &str, tenant: u64) -> Result<Vec<Value>> {
        let r = self
            .call(
                "GET",
                &format!("/v1/tenants/{tenant}/webhook/deliveries"),
                key,
                None,
            )
            .await?;
        ensure!(r.status == 200, "{r:?}");
        Ok(r.json()?["items"].as_array().context("items")?.clone())
    }

    /// Polls the deliveries until the one with `event` is no longer pending (or 20 s pass).
    async fn settled(&self, key: &str, tenant: u64, event: &str) -> Result<Value> {
        for _ in 0..400 {
            let found = self
                .deliveries(key, tenant)
                .await?
                .into_iter()
                .find(|d| d["event"] == event);
            if let Some(d) = found.filter(|d| d["status"] != "pending") {
                return Ok(d);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "delivery of {event} still pending: {:?}",
            self.deliveries(key, tenant).await
        )
    }
}

/// Fast retries, a local receiver allowed.
fn config(fx: &Fixture, max_attempts: u32) -> AdminConfig {
    let mut c = fx.config.clone();
    c.webhooks.allow_private = true;
    c.webhooks.max_attempts = max_attempts;
    c.webhooks.backoff_base_ms = 50;
    c.webhooks.backoff_max_ms = 200;
    c.webhooks.timeout_ms = 2_000;
    c
}

fn header<'a>(hit: &'a Hit, name: &str) -> &'a str {
    hit.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Checks the signature of `hit` with `secret`, computed here from the documented recipe.
fn signed_with(hit: &Hit, secret: &str) -> bool {
    let ts = header(hit, "x-octodb-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", hit.body).as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    header(hit, "x-octodb-signature") == expected
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn deliveries_are_signed_and_the_api_manages_the_webhook() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let app = App::start(&config(&fx, 3)).await?;
            let op = fx.operator_key(&app.catalog).await?;
            let id = app.ready_tenant(&op, &fx.tenant_name("wh")).await?;
            let key = tenant_key(&app.catalog, id).await?;
            let (recv, url, _server) = Receiver::start(&[], 200).await?;

            // No webhook yet: GET 404, notify records nothing.
            app.call("GET", &format!("/v1/tenants/{id}/webhook"), &key, None)
                .await?
                .problem(404)?;
            octodb_admin::webhooks::notify(&app.state, id, "test.none", json!({})).await?;
            ensure!(app.deliveries(&key, id).await?.is_empty());

            let secret = app.set_webhook(&key, id, &url).await?;
            ensure!(secret.len() >= 32, "{secret}");
            let got = app
                .call("GET", &format!("/v1/tenants/{id}/webhook"), &key, None)
                .await?;
            ensure!(
                got.status == 200 && got.json()? == json!({ "url": url }),
                "{got:?}"
            );
            ensure!(!got.body.contains(&secret));

            let data = json!({ "database": "main", "version": 2, "nested": { "ok": true } });
            octodb_admin::webhooks::notify(&app.state, id, "migration.succeeded", data.clone())
                .await?;
            let d = app.settled(&key, id, "migration.succeeded").await?;
            ensure!(d["status"] == "delivered", "{d}");
            ensure!(d["attempts"] == 1 && d["response_status"] == 200, "{d}");
            ensure!(d["data"] == data && d["last_error"].is_null(), "{d}");

            let hits = recv.hits();
            ensure!(hits.len() == 1, "{hits:?}");
            let hit = &hits[0];
            ensure!(signed_with(hit, &secret), "bad signature: {hit:?}");
            ensure!(!signed_with(hit, "whsec_other"), "any secret verifies?");
            ensure!(header(hit, "content-type") == "application/json", "{hit:?}");
            ensure!(header(hit, "x-octodb-event") == "migration.succeeded");
            ensure!(
                header(hit, "x-octodb-delivery").parse::<u64>().ok() == d["id"].as_u64(),
                "{hit:?}"
            );
            let ts: u64 = header(hit, "x-octodb-timestamp").parse()?;
            ensure!(ts.abs_diff(unix_now()) < 60, "timestamp {ts}");
            let body: Value = serde_json::from_str(&hit.body)?;
            ensure!(
                body["id"] == d["id"]
                    && body["event"] == "migration.succeeded"
                    && body["tenant_id"] == id
                    && body["created_at"] == d["created_at"]
                    && body["data"] == data,
                "{body}"
            );
            ensure!(body.as_object().unwrap().len() == 5, "{body}");

            // Rotation: a new secret signs the next delivery; the old one no longer verifies.
            let r = app
                .call(
                    "POST",
                    &format!("/v1/tenants/{id}/webhook/rotate"),
                    &key,
                    None,
                )
                .await?;
            ensure!(r.status == 200, "{r:?}");
            let rotated = r.json()?["secret"].as_str().context("secret")?.to_string();
            ensure!(rotated != secret);

            // The job runner announces job outcomes: adding a database.
            let r = app
                .call(
                    "POST",
                    &format!("/v1/tenants/{id}/databases"),
                    &key,
                    Some(r#"{"name":"extra"}"#),
                )
                .await?;
            ensure!(r.status == 202, "{r:?}");
            let job_id = r.json()?["job_id"].as_u64().context("job_id")?;
            app.wait_job(&key, job_id).await?;
            let d = app.settled(&key, id, "job.succeeded").await?;
            ensure!(d["status"] == "delivered", "{d}");
            ensure!(
                d["data"]["job_id"] == job_id && d["data"]["kind"] == "add_database",
                "{d}"
            );
            let hits = recv.hits();
            let last = hits.last().context("no hit")?;
            ensure!(
                header(last, "x-octodb-event") == "job.succeeded",
                "{last:?}"
            );
            ensure!(signed_with(last, &rotated) && !signed_with(last, &secret));

            // Audited; then deleted: 204, GET 404, nothing recorded any more.
            let audit = app
                .call("GET", &format!("/v1/tenants/{id}/audit"), &op, None)
                .await?
                .json()?;
            let actions: Vec<&str> = audit["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|a| a["action"].as_str())
                .filter(|a| a.starts_with("webhook."))
                .collect();
            ensure!(actions == ["webhook.set", "webhook.rotate"], "{audit}");
            let r = app
                .call("DELETE", &format!("/v1/tenants/{id}/webhook"), &key, None)
                .await?;
            ensure!(r.status == 204, "{r:?}");
            app.call("GET", &format!("/v1/tenants/{id}/webhook"), &key, None)
                .await?
                .problem(404)?;
            app.call("DELETE", &format!("/v1/tenants/{id}/webhook"), &key, None)
                .await?
                .problem(404)?;
            app.call(
                "POST",
                &format!("/v1/tenants/{id}/webhook/rotate"),
                &key,
                None,
            )
            .await?
            .problem(404)?;
            let before = app.deliveries(&key, id).await?.len();
            octodb_admin::webhooks::notify(&app.state, id, "test.after", json!({})).await?;
            ensure!(app.deliveries(&key, id).await?.len() == before);
            // A bad event name is the caller's bug, refused.
            ensure!(
                octodb_admin::webhooks::notify(&app.state, id, "Bad Event", json!({}))
                    .await
                    .is_err()
            );
            app.stop().await
        })
        .await
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_answers() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let app = App::start(&config(&fx, 5)).await?;
            let op = fx.operator_key(&app.catalog).await?;
            let id = app.ready_tenant(&op, &fx.tenant_name("wr")).await?;
            let (recv, url, _server) = Receiver::start(&[500, 500], 200).await?;
            let secret = app.set_webhook(&op, id, &url).await?;
            octodb_admin::webhooks::notify(&app.state, id, "test.retry", json!({ "n": 1 })).await?;
            let d = app.settled(&op, id, "test.retry").await?;
            ensure!(d["status"] == "delivered" && d["attempts"] == 3, "{d}");
            ensure!(
                d["response_status"] == 200 && d["last_error"].is_null(),
                "{d}"
            );
            let hits = recv.hits();
            ensure!(hits.len() == 3, "{hits:?}");
            for hit in &hits {
                ensure!(signed_with(hit, &secret), "{hit:?}");
                ensure!(header(hit, "x-octodb-delivery").parse::<u64>().ok() == d["id"].as_u64());
                ensure!(
                    hit.body == hits[0].body,
                    "the body changed between attempts"
                );
            }
            app.stop().await
        })
        .await
}

#[tokio::test]
async fn a_receiver_that_keeps_failing_ends_failed() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let app = App::start(&config(&fx, 3)).await?;
            let op = fx.operator_key(&app.catalog).await?;
            let id = app.ready_tenant(&op, &fx.tenant_name("wf")).await?;
            let (recv, url, _server) = Receiver::start(&[], 503).await?;
            app.set_webhook(&op, id, &url).await?;
            octodb_admin::webhooks::notify(&app.state, id, "test.fail", json!({})).await?;
            let d = app.settled(&op, id, "test.fail").await?;
            ensure!(d["status"] == "failed" && d["attempts"] == 3, "{d}");
            ensure!(d["response_status"] == 503, "{d}");
            ensure!(
                d["last_error"].as_str().unwrap_or("").contains("503"),
                "{d}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            ensure!(recv.hits().len() == 3, "{:?}", recv.hits());

            // Nothing listening: a connection error, retried, then failed with that error.
            let closed = TcpListener::bind("127.0.0.1:0").await?;
            let dead = format!("http://{}/hook", closed.local_addr()?);
            drop(closed);
            app.set_webhook(&op, id, &dead).await?;
            octodb_admin::webhooks::notify(&app.state, id, "test.down", json!({})).await?;
            let d = app.settled(&op, id, "test.down").await?;
            ensure!(d["status"] == "failed" && d["attempts"] == 3, "{d}");
            ensure!(d["response_status"].is_null(), "{d}");
            let error = d["last_error"].as_str().unwrap_or("");
            ensure!(error.to_ascii_lowercase().contains("connect"), "{d}");
            app.stop().await
        })
        .await
}

#[tokio::test]
async fn tenant_keys_reach_only_their_own_webhook_and_urls_are_checked() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let app = App::start(&config(&fx, 3)).await?;
            let op = fx.operator_key(&app.catalog).await?;
            let a = app.ready_tenant(&op, &fx.tenant_name("wa")).await?;
            let b = app.ready_tenant(&op, &fx.tenant_name("wb")).await?;
            let key_a = tenant_key(&app.catalog, a).await?;
            let (recv_a, url, _server) = Receiver::start(&[], 200).await?;
            // B's host is a name: at delivery time it goes through the client's resolver.
            let by_name = url.replace("127.0.0.1", "localhost");
            app.set_webhook(&op, b, &by_name).await?;
            let body = json!({ "url": url }).to_string();
            for (method, path, body) in [
                (
                    "PUT",
                    format!("/v1/tenants/{b}/webhook"),
                    Some(body.as_str()),
                ),
                ("GET", format!("/v1/tenants/{b}/webhook"), None),
                ("DELETE", format!("/v1/tenants/{b}/webhook"), None),
                ("POST", format!("/v1/tenants/{b}/webhook/rotate"), None),
                ("GET", format!("/v1/tenants/{b}/webhook/deliveries"), None),
            ] {
                app.call(method, &path, &key_a, body)
                    .await?
                    .problem(403)
                    .with_context(|| format!("{method} {path}"))?;
            }
            // B's webhook is untouched; A's own works.
            let got = app
                .call("GET", &format!("/v1/tenants/{b}/webhook"), &op, None)
                .await?;
            ensure!(got.json()?["url"] == by_name, "{got:?}");
            app.set_webhook(&key_a, a, &url).await?;

            for bad in [
                json!({ "url": "ftp://example.com/hook" }),
                json!({ "url": "not a url" }),
                json!({ "url": "https://user:pw@example.com/" }),
                json!({ "url": 42 }),
                json!({}),
                json!({ "url": "https://example.com/", "extra": 1 }),
            ] {
                app.call(
                    "PUT",
                    &format!("/v1/tenants/{a}/webhook"),
                    &key_a,
                    Some(&bad.to_string()),
                )
                .await?
                .problem(422)
                .with_context(|| bad.to_string())?;
            }
            app.call(
                "PUT",
                "/v1/tenants/999999999/webhook",
                &op,
                Some(&json!({ "url": url }).to_string()),
            )
            .await?
            .problem(404)?;
            app.call("GET", "/v1/tenants/999999999/webhook/deliveries", &op, None)
                .await?
                .problem(404)?;
            app.call(
                "GET",
                &format!("/v1/tenants/{a}/webhook/deliveries?limit=0"),
                &op,
                None,
            )
            .await?
            .problem(422)?;
            app.stop().await?;

            // The default: private addresses refused, when set and when delivering.
            let mut strict = config(&fx, 3);
            strict.webhooks.allow_private = false;
            let app = App::start(&strict).await?;
            for private in [
                url.clone(),
                "http://localhost/hook".to_string(),
                "http://169.254.169.254/latest/meta-data/".to_string(),
                "http://[::1]/hook".to_string(),
                "http://10.0.0.1/".to_string(),
            ] {
                let p = app
                    .call(
                        "PUT",
                        &format!("/v1/tenants/{a}/webhook"),
                        &op,
                        Some(&json!({ "url": private }).to_string()),
                    )
                    .await?
                    .problem(422)
                    .with_context(|| private.clone())?;
                ensure!(
                    p["detail"].as_str().unwrap_or("").contains("non-public"),
                    "{p}"
                );
            }
            // A's webhook was accepted while private addresses were allowed: not delivered now.
            octodb_admin::webhooks::notify(&app.state, a, "test.ssrf", json!({})).await?;
            let d = app.settled(&op, a, "test.ssrf").await?;
            ensure!(d["status"] == "failed" && d["attempts"] == 1, "{d}");
            ensure!(
                d["last_error"]
                    .as_str()
                    .unwrap_or("")
                    .contains("non-public"),
                "{d}"
            );
            octodb_admin::webhooks::notify(&app.state, b, "test.ssrf", json!({})).await?;
            let d = app.settled(&op, b, "test.ssrf").await?;
            ensure!(d["status"] == "failed" && d["attempts"] == 1, "{d}");
            ensure!(
                d["last_error"]
                    .as_str()
                    .unwrap_or("")
                    .contains("non-public"),
                "{d}"
            );
            ensure!(recv_a.hits().is_empty(), "{:?}", recv_a.hits());

            // A tenant with a webhook can still be deleted (the webhook goes with it).
            let r = app
                .call("DELETE", &format!("/v1/tenants/{b}"), &op, None)
                .await?;
            ensure!(r.status == 202, "{r:?}");
            let job_id = r.json()?["job_id"].as_u64().context("job_id")?;
            let job = app.wait_job(&op, job_id).await?;
            ensure!(job["status"] == "succeeded", "{job}");
            ensure!(app.catalog.webhook(b).await?.is_none());
            app.stop().await
        })
        .await
}

#[tokio::test]
async fn a_pending_delivery_resumes_after_a_restart() -> Result<()> {
    Fixture::new()
        .run(|fx| async move {
            let cfg = config(&fx, 1_000);
            let app = App::start(&cfg).await?;
            let op = fx.operator_key(&app.catalog).await?;
            let id = app.ready_tenant(&op, &fx.tenant_name("wrs")).await?;
            let (recv, url, _server) = Receiver::start(&[], 500).await?;
            let secret = app.set_webhook(&op, id, &url).await?;
            octodb_admin::webhooks::notify(&app.state, id, "test.resume", json!({ "k": "v" }))
                .await?;
            for _ in 0..200 {
                if recv.hits().len() >= 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            ensure!(recv.hits().len() >= 2, "{:?}", recv.hits());
            app.stop().await?;

            // Stopped: nothing is sent, the delivery waits in the catalog.
            let stopped_at = recv.hits().len();
            tokio::time::sleep(Duration::from_millis(600)).await;
            ensure!(recv.hits().len() == stopped_at, "a worker outlived stop()");
            let catalog = fx.catalog().await?;
            let pending = catalog.list_webhook_deliveries(id, None, 10).await?;
            ensure!(pending.len() == 1, "{pending:?}");
            ensure!(pending[0].status.as_str() == "pending", "{pending:?}");
            catalog.disconnect().await?;

            recv.fallback.store(200, Ordering::SeqCst);
            let app = App::start(&cfg).await?;
            let d = app.settled(&op, id, "test.resume").await?;
            ensure!(d["status"] == "delivered", "{d}");
            // Every attempt before the stop reached the receiver (shutdown lets one finish).
            ensure!(d["attempts"].as_u64() > Some(stopped_at as u64), "{d}");
            let hits = recv.hits();
            ensure!(hits.len() > stopped_at, "{hits:?}");
            let last = hits.last().unwrap();
            ensure!(header(last, "x-octodb-delivery").parse::<u64>().ok() == d["id"].as_u64());
            ensure!(signed_with(last, &secret));
            app.stop().await
        })
        .await
}
