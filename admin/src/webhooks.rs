//! Tenant webhooks: events (a migration finished, a job ended...) POSTed as signed JSON to the
//! URL a tenant configured (`PUT /v1/tenants/{id}/webhook`).
//!
//! [`notify`] records a delivery in the catalog (so none is lost to a restart) and wakes the
//! delivery worker ([`deliver`]), started with the app on its task tracker. A delivery is
//! `{"id", "event", "tenant_id", "created_at", "data"}` with the headers `X-OctoDB-Event`,
//! `X-OctoDB-Delivery`, `X-OctoDB-Timestamp` and `X-OctoDB-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of `"<timestamp>.<body>"` under the webhook's secret. Non-2xx answers, connection
//! errors and timeouts are retried with exponential backoff and jitter (`[webhooks]`), then the
//! delivery is marked failed with its last error. Delivery is at least once (an attempt whose
//! outcome could not be recorded is made again): receivers dedupe on `X-OctoDB-Delivery`.
//! Which addresses may be reached: [`address`].

pub mod address;
mod deliver;

use std::net::IpAddr;
use std::sync::Arc;

use octodb_catalog::{generate_password, Catalog, CatalogError, ConfigError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use deliver::{sign, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

use crate::config::WebhooksConfig;
use crate::AppState;

/// Longest webhook URL accepted (the catalog column's size).
pub const MAX_URL_LEN: usize = 2048;
/// Longest event name (the catalog column's size).
const MAX_EVENT_LEN: usize = 64;
/// Prefix of generated secrets (tells a leaked string apart from other credentials).
const SECRET_PREFIX: &str = "whsec_";
const SECRET_RANDOM_LEN: usize = 40;

/// What can go wrong recording an event or accepting a URL.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Event names are code, not input: a bad one is a bug of the caller.
    #[error("invalid event name {0:?}: use 1-64 characters a-z, 0-9, '.', '_' or '-'")]
    InvalidEvent(String),
    /// A URL a webhook cannot have (client-facing message).
    #[error("{0}")]
    InvalidUrl(String),
}

impl WebhookError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::Catalog(e) => e.kind(),
            WebhookError::InvalidEvent(_) => "invalid_event",
            WebhookError::InvalidUrl(_) => "invalid_url",
        }
    }
}

/// The app's handle on the delivery worker. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Webhooks {
    wake: Arc<Notify>,
    /// Whether URLs may point at non-public addresses (`[webhooks] allow_private`).
    pub allow_private: bool,
}

/// Starts the delivery worker on `tracker` (stopped by `shutdown`); it resumes the catalog's
/// pending deliveries. Fails on invalid settings or if the HTTP client cannot be built.
pub fn start(
    catalog: Catalog,
    config: &WebhooksConfig,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> Result<Webhooks, ConfigError> {
    let invalid = |field: &str, message: String| ConfigError::Invalid {
        field: format!("webhooks.{field}"),
        env_var: format!("OCTODB_WEBHOOKS__{}", field.to_ascii_uppercase()),
        message,
    };
    if config.max_attempts == 0 {
        return Err(invalid("max_attempts", "must be at least 1".to_string()));
    }
    if config.timeout_ms == 0 {
        return Err(invalid("timeout_ms", "must be at least 1".to_string()));
    }
    let client = reqwest::Client::builder()
        .timeout(deliver::timeout(config))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("octodb-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(address::GuardedResolver::shared(config.allow_private))
        .build()
        .map_err(|e| invalid("timeout_ms", format!("cannot build the HTTP client: {e}")))?;
    let wake = Arc::new(Notify::new());
    let worker = Arc::new(deliver::Worker {
        catalog,
        client,
        config: config.clone(),
        wake: wake.clone(),
    });
    tracker.spawn(deliver::run(worker, shutdown));
    Ok(Webhooks {
        wake,
        allow_private: config.allow_private,
    })
}

/// Records `event` with `data` for tenant `tenant_id` if it has a webhook, and wakes the
/// delivery worker. Without a webhook this does nothing. Delivery itself is asynchronous (see
/// `GET /v1/tenants/{id}/webhook/deliveries`).
pub async fn notify(
    state: &AppState,
    tenant_id: u64,
    event: &str,
    data: serde_json::Value,
) -> Result<(), WebhookError> {
    if record(&state.catalog, tenant_id, event, &data)
        .await?
        .is_some()
    {
        state.webhooks.wake.notify_one();
    }
    Ok(())
}

/// Records a delivery without waking the worker (it finds it within a second): for code that
/// has the catalog but not the app state (the job runner). The delivery id, if recorded.
pub(crate) async fn record(
    catalog: &Catalog,
    tenant_id: u64,
    event: &str,
    data: &serde_json::Value,
) -> Result<Option<u64>, WebhookError> {
    let valid = !event.is_empty()
        && event.len() <= MAX_EVENT_LEN
        && event
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !valid {
        return Err(WebhookError::InvalidEvent(event.to_string()));
    }
    Ok(catalog
        .enqueue_webhook_delivery(tenant_id, event, &data.to_string())
        .await?)
}

/// A new signing secret (shown to the tenant once; stored encrypted).
pub(crate) fn generate_secret() -> String {
    format!("{SECRET_PREFIX}{}", generate_password(SECRET_RANDOM_LEN))
}

/// Checks a tenant-supplied webhook URL: absolute `http` or `https`, a host, no credentials,
/// at most [`MAX_URL_LEN`] bytes, and (unless `allow_private`) a host that resolves only to
/// public addresses. Returns the URL normalised.
pub(crate) async fn check_url(raw: &str, allow_private: bool) -> Result<String, WebhookError> {
    let bad = |m: String| Err(WebhookError::InvalidUrl(m));
    if raw.len() > MAX_URL_LEN {
        return bad(format!("the URL is longer than {MAX_URL_LEN} bytes"));
    }
    let url = match reqwest::Url::parse(raw.trim()) {
        Ok(url) => url,
        Err(e) => return bad(format!("{raw:?} is not an absolute URL: {e}")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return bad(format!(
            "the URL scheme must be http or https, not {:?}",
            url.scheme()
        ));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return bad("the URL has no host".to_string());
    };
    if !url.username().is_empty() || url.password().is_some() {
        return bad(
            "credentials in the URL are not allowed; authenticate with the signature".into(),
        );
    }
    if !allow_private {
        match literal_ip(&url) {
            Some(ip) if !address::is_public(ip) => return bad(address::refusal(host, ip)),
            Some(_) => {}
            None => {
                address::resolve(host, false)
                    .await
                    .map_err(WebhookError::InvalidUrl)?;
            }
        }
    }
    let normalised = url.to_string();
    if normalised.len() > MAX_URL_LEN {
        return bad(format!("the URL is longer than {MAX_URL_LEN} bytes"));
    }
    Ok(normalised)
}

/// The URL's host if it is an IP address (never resolved, so checked directly). The URL parser
/// has already normalised odd forms (`0x7f.1`, `2130706433`) to dotted IPv4.
pub(crate) fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls() {
        let ok = check_url("https://hooks.example.com:8443/x?y=1", true).await;
        assert_eq!(ok.unwrap(), "https://hooks.example.com:8443/x?y=1");
        for bad in [
            "ftp://example.com/",
            "not a url",
            "/relative",
            "https://user:pw@example.com/",
            "file:///etc/passwd",
            "http://",
        ] {
            let e = check_url(bad, true).await.unwrap_err();
            assert_eq!(e.kind(), "invalid_url", "{bad}: {e}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_url(&long, true).await.is_err());
        for private in [
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/",
            "http://localhost:6379/",
            "http://[::ffff:7f00:1]/",
            "http://0x7f.1/",
            "http://2130706433/",
        ] {
            let e = check_url(private, false).await.unwrap_err();
            assert!(e.to_string().contains("non-public"), "{private}: {e}");
            assert!(check_url(private, true).await.is_ok(), "{private}");
        }
        assert!(check_url("http://1.1.1.1/hook", false).await.is_ok());
    }

    #[test]
    fn secrets_are_random_and_prefixed() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + SECRET_RANDOM_LEN);
    }
}
