//! Dry run of a template version: for every database that would follow it (channel `auto` on
//! the template or any descendant template), the plan statements, the lint refusals and
//! warnings, and the merge conflicts, without applying anything.
//!
//! Databases with the same desired schema and defaults share one workspace
//! (`octodb_schema::WorkspaceSet`), and those that also start from the same live schema share
//! one plan and one lint: a fleet of identical tenants costs one workspace and one diff.

use std::collections::HashMap;

use mysql_async::Conn;
use octodb_catalog::{BackendAdmin, Catalog, Channel, DatabaseTemplate};
use octodb_schema::{
    database_defaults, introspect, lint, Allow, Conflict, Finding, LintReport, Plan, SchemaName,
    Warning, WorkspaceSet,
};
use serde::Serialize;

use super::{backend, desired_for, TemplateError};

/// One database's dry run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DatabasePlan {
    pub tenant_id: u64,
    pub tenant: String,
    pub database: String,
    pub database_id: u64,
    pub template_id: u64,
    pub from_version: Option<u32>,
    pub to_version: Option<u32>,
    /// `ready` (statements to run), `up_to_date`, `conflict`, `refused` (lint), `no_version`
    /// (its template has no version on top of this one yet), `error`.
    pub status: &'static str,
    pub statements: Vec<String>,
    pub refused: Vec<Finding>,
    pub warnings: Vec<Warning>,
    pub conflicts: Vec<Conflict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A dry run of a whole version.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DryRun {
    pub databases: Vec<DatabasePlan>,
    /// Workspaces built and plans computed (sharing makes these smaller than the fleet).
    pub workspaces: usize,
    pub plans: usize,
}

/// Plans every database following `template_id` at `version`, lint judged under `allow`.
pub(crate) async fn plan_databases(
    catalog: &Catalog,
    admin: &BackendAdmin,
    template_id: u64,
    version: u32,
    allow: &Allow,
) -> Result<DryRun, TemplateError> {
    let templates = catalog.template_descendants(template_id).await?;
    let bindings = catalog
        .databases_following(&templates, Channel::Auto)
        .await?;
    let mut targets: HashMap<u64, Option<u32>> = HashMap::new();
    for t in &templates {
        let v = catalog.version_following(*t, template_id, version).await?;
        targets.insert(*t, v);
    }
    let mut conn = backend::connect(admin).await?;
    let mut planner = Planner::default();
    let mut databases = Vec::with_capacity(bindings.len());
    let mut failure = None;
    for b in &bindings {
        let target = targets.get(&b.template_id).copied().flatten();
        match planner
            .plan_one(catalog, admin, &mut conn, b, target, allow)
            .await
        {
            Ok(p) => databases.push(p),
            Err(e) if e.is_retryable() => {
                failure = Some(e);
                break;
            }
            Err(e) => databases.push(DatabasePlan {
                status: "error",
                error: Some(e.to_string()),
                ..entry(b, target)
            }),
        }
    }
    let workspaces = planner.workspaces.len();
    let plans = planner.plans.len();
    let dropped = planner.workspaces.drop_all(&mut conn).await;
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(error = %e, "closing a backend connection");
    }
    if let Some(e) = failure {
        return Err(e);
    }
    dropped?;
    Ok(DryRun {
        databases,
        workspaces,
        plans,
    })
}

fn entry(b: &DatabaseTemplate, target: Option<u32>) -> DatabasePlan {
    DatabasePlan {
        tenant_id: b.tenant_id,
        tenant: b.tenant_name.clone(),
        database: b.database.to_string(),
        database_id: b.database_id,
        template_id: b.template_id,
        from_version: b.version,
        to_version: target,
        status: "ready",
        statements: Vec::new(),
        refused: Vec::new(),
        warnings: Vec::new(),
        conflicts: Vec::new(),
        error: None,
    }
}

/// Workspaces and plans shared across the databases of one dry run.
#[derive(Default)]
struct Planner {
    workspaces: WorkspaceSet,
    /// (workspace key, live fingerprint) -> plan and its lint.
    plans: HashMap<(String, String), (Plan, LintReport)>,
}

impl Planner {
    async fn plan_one(
        &mut self,
        catalog: &Catalog,
        admin: &BackendAdmin,
        conn: &mut Conn,
        b: &DatabaseTemplate,
        target: Option<u32>,
        allow: &Allow,
    ) -> Result<DatabasePlan, TemplateError> {
        let mut out = entry(b, target);
        let Some(target) = target else {
            out.status = "no_version";
            return Ok(out);
        };
        if b.backend_host != admin.host || b.backend_port != admin.port {
            out.status = "error";
            out.error = Some("the database lives on another backend server".into());
            return Ok(out);
        }
        let desired = desired_for(catalog, b, target).await?;
        if !desired.conflicts.is_empty() {
            out.status = "conflict";
            out.conflicts = desired.conflicts;
            return Ok(out);
        }
        let name = SchemaName::new(b.physical.as_str())
            .map_err(|e| octodb_catalog::CatalogError::Corrupt(format!("physical name: {e}")))?;
        let Some(defaults) = database_defaults(conn, &name).await? else {
            out.status = "error";
            out.error = Some("the database does not exist on the backend".into());
            return Ok(out);
        };
        let ws = self
            .workspaces
            .get_or_create(conn, &desired.schema, &defaults)
            .await?;
        let live = introspect(conn, &name).await?;
        let key = (ws.key().to_string(), live.fingerprint());
        if !self.plans.contains_key(&key) {
            let plan = Plan::new(&live, ws.model())?;
            let report = lint(&plan);
            self.plans.insert(key.clone(), (plan, report));
        }
        if let Some((plan, report)) = self.plans.get(&key) {
            out.statements = plan.statements(&name);
            out.refused = report.refused(allow).into_iter().cloned().collect();
            out.warnings = report.warnings.clone();
            out.status = if !out.refused.is_empty() {
                "refused"
            } else if plan.is_empty() {
                "up_to_date"
            } else {
                "ready"
            };
        }
        Ok(out)
    }
}
