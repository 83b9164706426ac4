//! HTTP routes, one file each, and [`table`]: the one list of (method, path, handler) the router
//! is built from (and that `tests/v1_openapi.rs` compares with `openapi.json`).

pub mod audit_list;
pub mod database_template_get;
pub mod database_template_opt_in;
pub mod database_template_put;
pub mod databases_create;
pub mod databases_drop;
pub mod databases_list;
pub mod digests_list;
pub mod drift_get;
pub mod drift_list;
pub mod healthz;
pub mod jobs_get;
pub mod keys_create;
pub mod metrics;
pub mod openapi;
mod query_exec;
pub mod query_post;
mod query_values;
pub mod readyz;
mod rollout_views;
pub mod rollouts_cancel;
pub mod rollouts_create;
pub mod rollouts_get;
pub mod rollouts_pause;
pub mod rollouts_resume;
pub mod schema_get;
pub mod template_version_plan;
pub mod template_versions_create;
mod template_views;
pub mod templates_create;
pub mod templates_get;
pub mod templates_list;
pub mod tenant_audit_list;
mod tenant_database;
pub mod tenant_limits_get;
pub mod tenant_limits_put;
pub mod tenants_create;
pub mod tenants_delete;
pub mod tenants_get;
pub mod tenants_list;
pub mod tenants_resume;
pub mod tenants_suspend;
pub mod users_create;
pub mod users_delete;
pub mod users_rotate;
mod views;
pub mod webhook_delete;
pub mod webhook_deliveries_list;
pub mod webhook_get;
pub mod webhook_put;
pub mod webhook_rotate;

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};

use crate::AppState;

/// One route: a method on a path template (axum syntax, which is also OpenAPI's: `{id}`).
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub(crate) handler: MethodRouter<AppState>,
}

fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
    Route {
        method: Method::GET,
        path,
        handler: routing::get(h),
    }
}

fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
    Route {
        method: Method::POST,
        path,
        handler: routing::post(h),
    }
}

fn put<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
    Route {
        method: Method::PUT,
        path,
        handler: routing::put(h),
    }
}

fn delete<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
    Route {
        method: Method::DELETE,
        path,
        handler: routing::delete(h),
    }
}

/// Every route the admin serves.
pub fn table() -> Vec<Route> {
    vec![
        get("/healthz", healthz::healthz),
        get("/readyz", readyz::readyz),
        get("/metrics", metrics::metrics),
        get("/openapi.json", openapi::openapi),
        post("/v1/keys", keys_create::create_key),
        post("/v1/tenants", tenants_create::create_tenant),
        get("/v1/tenants", tenants_list::list_tenants),
        get("/v1/tenants/{id}", tenants_get::get_tenant),
        delete("/v1/tenants/{id}", tenants_delete::delete_tenant),
        post("/v1/tenants/{id}/suspend", tenants_suspend::suspend_tenant),
        post("/v1/tenants/{id}/resume", tenants_resume::resume_tenant),
        post("/v1/tenants/{id}/users", users_create::create_user),
        delete(
            "/v1/tenants/{id}/users/{username}",
            users_delete::delete_user,
        ),
        post(
            "/v1/tenants/{id}/users/{username}/rotate",
            users_rotate::rotate_user,
        ),
        post(
            "/v1/tenants/{id}/databases",
            databases_create::create_database,
        ),
        get("/v1/tenants/{id}/databases", databases_list::list_databases),
        delete(
            "/v1/tenants/{id}/databases/{db}",
            databases_drop::drop_database,
        ),
        get(
            "/v1/tenants/{id}/databases/{db}/schema",
            schema_get::get_schema,
        ),
        get(
            "/v1/tenants/{id}/databases/{db}/drift",
            drift_get::get_drift,
        ),
        post(
            "/v1/tenants/{id}/databases/{db}/query",
            query_post::run_query,
        ),
        get(
            "/v1/tenants/{id}/audit",
            tenant_audit_list::list_tenant_audit,
        ),
        put("/v1/tenants/{id}/webhook", webhook_put::put_webhook),
        get("/v1/tenants/{id}/webhook", webhook_get::get_webhook),
        get("/v1/tenants/{id}/digests", digests_list::list_digests),
        delete("/v1/tenants/{id}/digests", digests_list::reset_digests),
        get("/v1/tenants/{id}/limits", tenant_limits_get::get_limits),
        put("/v1/tenants/{id}/limits", tenant_limits_put::put_limits),
        delete("/v1/tenants/{id}/webhook", webhook_delete::delete_webhook),
        post(
            "/v1/tenants/{id}/webhook/rotate",
            webhook_rotate::rotate_webhook,
        ),
        get(
            "/v1/tenants/{id}/webhook/deliveries",
            webhook_deliveries_list::list_deliveries,
        ),
        post("/v1/templates", templates_create::create_template),
        get("/v1/templates", templates_list::list_templates),
        get("/v1/templates/{id}", templates_get::get_template),
        post(
            "/v1/templates/{id}/versions",
            template_versions_create::create_version,
        ),
        post(
            "/v1/templates/{id}/versions/{v}/plan",
            template_version_plan::plan_version,
        ),
        post(
            "/v1/templates/{id}/versions/{v}/rollout",
            rollouts_create::create_rollout,
        ),
        get("/v1/rollouts/{id}", rollouts_get::get_rollout),
        post("/v1/rollouts/{id}/pause", rollouts_pause::pause_rollout),
        post("/v1/rollouts/{id}/resume", rollouts_resume::resume_rollout),
        post("/v1/rollouts/{id}/cancel", rollouts_cancel::cancel_rollout),
        put(
            "/v1/tenants/{id}/databases/{db}/template",
            database_template_put::put_database_template,
        ),
        get(
            "/v1/tenants/{id}/databases/{db}/template",
            database_template_get::get_database_template,
        ),
        post(
            "/v1/tenants/{id}/databases/{db}/template/opt-in",
            database_template_opt_in::opt_in,
        ),
        get("/v1/jobs/{id}", jobs_get::get_job),
        get("/v1/drift", drift_list::list_drift),
        get("/v1/audit", audit_list::list_audit),
    ]
}

/// (method, path template) of every route in [`table`].
pub fn endpoints() -> Vec<(Method, &'static str)> {
    table().into_iter().map(|r| (r.method, r.path)).collect()
}
