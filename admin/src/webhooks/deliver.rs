//! The delivery worker: takes due deliveries from the catalog, POSTs them, records the outcome.
//!
//! The catalog is the queue (so deliveries survive restarts and several admin processes share
//! them): the worker wakes when [`super::notify`] records a delivery, and otherwise at the next
//! due time or after [`IDLE_POLL`] (deliveries recorded by another process or by the job
//! runner). Each attempt is claimed in the catalog with a lease longer than the attempt's
//! timeout, so a process that dies mid-attempt leaves the delivery to be retried.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use octodb_catalog::{Catalog, DeliveryOutcome, Webhook, WebhookDelivery};
use rand::Rng;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::address;
use crate::config::WebhooksConfig;

/// Longest sleep between two looks at the catalog.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Deliveries attempted at once by one process.
const BATCH: u32 = 16;
/// A claimed attempt's lease beyond its timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// Headers of a delivery.
pub const EVENT_HEADER: &str = "X-OctoDB-Event";
pub const DELIVERY_HEADER: &str = "X-OctoDB-Delivery";
pub const TIMESTAMP_HEADER: &str = "X-OctoDB-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-OctoDB-Signature";

/// What the worker needs.
pub(super) struct Worker {
    pub catalog: Catalog,
    pub client: reqwest::Client,
    pub config: WebhooksConfig,
    pub wake: Arc<Notify>,
}

/// Runs until `shutdown`. A round of attempts in flight is finished first (each is bounded by
/// the timeout), so that a stop does not leave claimed deliveries waiting out their lease.
pub(super) async fn run(worker: Arc<Worker>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let wait = round(&worker).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = worker.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Attempts the due deliveries (one batch); returns how long to sleep before the next round.
async fn round(worker: &Arc<Worker>) -> Duration {
    let due = match worker.catalog.due_webhook_deliveries(BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read due webhook deliveries");
            return IDLE_POLL;
        }
    };
    let full = due.len() as u64 >= u64::from(BATCH);
    let mut attempts = JoinSet::new();
    for id in due {
        let worker = worker.clone();
        attempts.spawn(async move { attempt(&worker, id).await });
    }
    while attempts.join_next().await.is_some() {}
    if full {
        return Duration::ZERO;
    }
    match worker.catalog.next_webhook_due().await {
        Ok(Some(wait)) => wait.min(IDLE_POLL),
        Ok(None) => IDLE_POLL,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the next webhook due time");
            IDLE_POLL
        }
    }
}

/// One attempt at delivery `id`, if it is still due and nobody else took it.
async fn attempt(worker: &Worker, id: u64) {
    let lease = timeout(&worker.config) + LEASE_MARGIN;
    let delivery = match worker.catalog.claim_webhook_delivery(id, lease).await {
        Ok(Some(d)) => d,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(delivery_id = id, error = %e, "cannot claim webhook delivery");
            return;
        }
    };
    let outcome = match worker.catalog.webhook(delivery.tenant_id).await {
        Ok(Some(hook)) => outcome_of(
            &worker.config,
            &delivery,
            send(worker, &hook, &delivery).await,
        ),
        Ok(None) => DeliveryOutcome::Failed {
            error: "the tenant has no webhook any more".to_string(),
            status: None,
        },
        Err(e) => {
            // Left claimed: it is due again when the lease runs out.
            tracing::warn!(delivery_id = id, error = %e, "cannot read the tenant's webhook");
            return;
        }
    };
    match &outcome {
        DeliveryOutcome::Failed { error, .. } => tracing::warn!(
            delivery_id = id,
            tenant_id = delivery.tenant_id,
            attempts = delivery.attempts,
            error = %error,
            "webhook delivery failed for good"
        ),
        DeliveryOutcome::Retry { error, .. } => tracing::info!(
            delivery_id = id,
            attempts = delivery.attempts,
            error = %error,
            "webhook delivery attempt failed; retrying"
        ),
        DeliveryOutcome::Delivered { .. } => {}
    }
    if let Err(e) = worker.catalog.finish_webhook_delivery(id, &outcome).await {
        tracing::warn!(delivery_id = id, error = %e, "cannot record webhook delivery outcome");
    }
}

/// Why an attempt did not get a 2xx.
#[derive(Debug)]
pub(super) struct SendError {
    pub message: String,
    pub status: Option<u16>,
    /// Worth another attempt (not: a refused address, an unreadable payload).
    pub retryable: bool,
}

/// The recorded outcome of an attempt, given the delivery's attempts so far.
fn outcome_of(
    config: &WebhooksConfig,
    delivery: &WebhookDelivery,
    sent: Result<u16, SendError>,
) -> DeliveryOutcome {
    match sent {
        Ok(status) => DeliveryOutcome::Delivered { status },
        Err(e) if e.retryable && delivery.attempts < config.max_attempts => {
            DeliveryOutcome::Retry {
                after: backoff(config, delivery.attempts),
                error: e.message,
                status: e.status,
            }
        }
        Err(e) => DeliveryOutcome::Failed {
            error: e.message,
            status: e.status,
        },
    }
}

/// POSTs `delivery` to `hook`: the 2xx status, or why not.
async fn send(
    worker: &Worker,
    hook: &Webhook,
    delivery: &WebhookDelivery,
) -> Result<u16, SendError> {
    let fail = |message: String, retryable: bool| SendError {
        message,
        status: None,
        retryable,
    };
    let body = body(delivery).map_err(|e| fail(e, false))?;
    let url = reqwest::Url::parse(&hook.url).map_err(|e| fail(format!("bad URL: {e}"), false))?;
    if !worker.config.allow_private {
        // IP literals never reach the client's resolver.
        if let Some(ip) = super::literal_ip(&url) {
            if !address::is_public(ip) {
                return Err(fail(address::refusal(&ip.to_string(), ip), false));
            }
        }
    }
    let timestamp = unix_now();
    let signature = sign(&hook.secret, timestamp, &body).map_err(|e| fail(e, false))?;
    let response = worker
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_HEADER, delivery.event.as_str())
        .header(DELIVERY_HEADER, delivery.id.to_string())
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, format!("sha256={signature}"))
        .body(body)
        .send()
        .await
        .map_err(|e| {
            // The guarded resolver refused the address: no point in retrying.
            let refused = refused_by_resolver(&e);
            fail(chain(&e), !refused)
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    Err(SendError {
        message: format!("the receiver answered {status}"),
        status: Some(status.as_u16()),
        retryable: true,
    })
}

/// The delivery's JSON body: `{"id", "event", "tenant_id", "created_at", "data"}`. The same
/// bytes on every attempt (only the timestamp and signature headers change).
pub(super) fn body(d: &WebhookDelivery) -> Result<String, String> {
    let data: Value = serde_json::from_str(&d.payload)
        .map_err(|e| format!("the recorded payload is not JSON: {e}"))?;
    Ok(json!({
        "id": d.id,
        "event": d.event,
        "tenant_id": d.tenant_id,
        "created_at": d.created_at,
        "data": data,
    })
    .to_string())
}

/// Hex HMAC-SHA256 of `"<timestamp>.<body>"` keyed with the webhook secret: the receiver
/// recomputes it, and rejects stale timestamps to stop replays.
pub fn sign(secret: &str, timestamp: u64, body: &str) -> Result<String, String> {
    // HMAC takes keys of any length; the error cannot happen.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| format!("cannot key the signature: {e}"))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An error with its sources (reqwest's own message alone is "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// Whether the guarded resolver's refusal is in `e`'s source chain.
fn refused_by_resolver(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.is::<address::ResolveError>() {
            return true;
        }
        source = s.source();
    }
    false
}

pub(super) fn timeout(config: &WebhooksConfig) -> Duration {
    Duration::from_millis(config.timeout_ms.max(1))
}

/// Exponential backoff with jitter: base * 2^(attempt-1), capped, then a random 50-100% of it.
pub(super) fn backoff(config: &WebhooksConfig, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let ms = config
        .backoff_base_ms
        .saturating_mul(1u64 << exp)
        .min(config.backoff_max_ms);
    Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms.max(1)))
}
