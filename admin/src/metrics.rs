//! The admin's metrics: names as documented constants, and [`Metrics`], one Prometheus recorder
//! per app instance (no process-wide recorder is installed, so several apps in one process, as in
//! the tests, never share counters). Served as text by `GET /metrics`.
//!
//! Naming follows `octodb_<name>_<unit>_total` with base units; every label is bounded: route
//! templates (never raw paths), status codes, the known job kinds and outcomes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::jobs::{database_job, delete_tenant, provision_tenant};

/// Counter: HTTP requests answered, by `route` (the route template, e.g. `/v1/tenants/{id}`, or
/// [`UNMATCHED_ROUTE`]) and `status` (the numeric status code).
pub const HTTP_REQUESTS_TOTAL: &str = "octodb_admin_http_requests_total";
/// Histogram: time to answer an HTTP request, in seconds, by `route`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "octodb_admin_http_request_duration_seconds";
/// Counter: job attempts that ended, by `kind` (a job kind, or `unknown`) and `outcome`
/// ([`OUTCOME_SUCCEEDED`], [`OUTCOME_RETRIED`], [`OUTCOME_FAILED`]).
pub const JOBS_TOTAL: &str = "octodb_admin_jobs_total";
/// Histogram: duration of one job attempt, in seconds, by `kind`.
pub const JOB_DURATION_SECONDS: &str = "octodb_admin_job_duration_seconds";
/// Counter: requests refused with 429 by the rate limiter, by `caller` ([`CALLER_KEY`] or
/// [`CALLER_ADDRESS`]: which kind of bucket was empty).
pub const RATE_LIMITED_REQUESTS_TOTAL: &str = "octodb_admin_rate_limited_requests_total";

/// `route` label of requests no route matched (404 from the router).
pub const UNMATCHED_ROUTE: &str = "unmatched";
/// `kind` label of a job whose kind this build does not know.
pub const UNKNOWN_KIND: &str = "unknown";
/// The attempt finished the job.
pub const OUTCOME_SUCCEEDED: &str = "succeeded";
/// The attempt failed and the job will be tried again.
pub const OUTCOME_RETRIED: &str = "retried";
/// The attempt failed and the job failed for good.
pub const OUTCOME_FAILED: &str = "failed";
/// `caller` label: an API key's bucket.
pub const CALLER_KEY: &str = "key";
/// `caller` label: a source address's bucket (requests without a valid key).
pub const CALLER_ADDRESS: &str = "address";

/// Histogram buckets, in seconds (HTTP handlers and job attempts: milliseconds to tens of seconds).
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One app's recorder and its renderer. Cheap to clone (shared).
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh recorder with every metric described (and durations as histograms).
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        // Only fails on empty buckets, which DURATION_BUCKETS is not; keep summaries otherwise.
        let builder = match builder.set_buckets(DURATION_BUCKETS) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot set histogram buckets");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let metrics = Metrics {
            recorder: Arc::new(recorder),
            handle,
        };
        metrics.with(|| {
            describe_counter!(
                HTTP_REQUESTS_TOTAL,
                "HTTP requests answered by route and status"
            );
            describe_histogram!(
                HTTP_REQUEST_DURATION_SECONDS,
                Unit::Seconds,
                "Time to answer an HTTP request by route"
            );
            describe_counter!(JOBS_TOTAL, "Job attempts ended, by kind and outcome");
            describe_histogram!(
                JOB_DURATION_SECONDS,
                Unit::Seconds,
                "Duration of one job attempt by kind"
            );
            describe_counter!(
                RATE_LIMITED_REQUESTS_TOTAL,
                "Requests refused by the rate limiter, by caller kind"
            );
        });
        metrics
    }

    /// Runs `f` with this app's recorder as the current one (on this thread only).
    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(self.recorder.as_ref(), f)
    }

    /// Records one answered request on `route` (a template).
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.with(|| {
            counter!(HTTP_REQUESTS_TOTAL, "route" => route.to_string(), "status" => status.to_string())
                .increment(1);
            histogram!(HTTP_REQUEST_DURATION_SECONDS, "route" => route.to_string())
                .record(elapsed.as_secs_f64());
        });
    }

    /// Records one ended attempt of a `kind` job (`outcome`: one of the `OUTCOME_*` constants).
    pub fn job_attempt(&self, kind: &str, outcome: &'static str, elapsed: Duration) {
        let kind = bounded_kind(kind);
        self.with(|| {
            counter!(JOBS_TOTAL, "kind" => kind, "outcome" => outcome).increment(1);
            histogram!(JOB_DURATION_SECONDS, "kind" => kind).record(elapsed.as_secs_f64());
        });
    }

    /// Records one request refused by the rate limiter (`caller`: [`CALLER_KEY`] or
    /// [`CALLER_ADDRESS`]).
    pub fn rate_limited(&self, caller: &'static str) {
        self.with(|| counter!(RATE_LIMITED_REQUESTS_TOTAL, "caller" => caller).increment(1));
    }

    /// The Prometheus text exposition of everything recorded so far.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// The job kinds this build runs; anything else is [`UNKNOWN_KIND`] (the catalog's kind column
/// is free text, labels must stay bounded).
fn bounded_kind(kind: &str) -> &'static str {
    [
        provision_tenant::KIND,
        delete_tenant::KIND,
        database_job::ADD_KIND,
        database_job::DROP_KIND,
    ]
    .into_iter()
    .find(|k| *k == kind)
    .unwrap_or(UNKNOWN_KIND)
}

/// Middleware (inside routing, so the route template is known): counts and times each request.
pub async fn track_http(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.http_request(
        route.as_deref().unwrap_or(UNMATCHED_ROUTE),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_do_not_share_state() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.http_request("/v1/tenants", 202, Duration::from_millis(3));
        a.job_attempt(
            "provision_tenant",
            OUTCOME_SUCCEEDED,
            Duration::from_millis(40),
        );
        a.job_attempt("made up", OUTCOME_FAILED, Duration::from_millis(1));
        a.rate_limited(CALLER_ADDRESS);
        a.rate_limited(CALLER_ADDRESS);
        let text = a.render();
        assert!(
            text.contains(
                r#"octodb_admin_http_requests_total{route="/v1/tenants",status="202"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"octodb_admin_jobs_total{kind="provision_tenant",outcome="succeeded"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"octodb_admin_jobs_total{kind="unknown",outcome="failed"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("octodb_admin_job_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains(r#"octodb_admin_rate_limited_requests_total{caller="address"} 2"#),
            "{text}"
        );
        assert!(!b.render().contains(HTTP_REQUESTS_TOTAL));
    }
}
