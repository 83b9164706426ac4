//! Checking one database for drift: its recorded state (the desired schema of its template
//! chain at its recorded version, merged with the overlay that was applied with it; the same
//! computation as a migration's, `templates::desired_for`) built in a workspace, its live
//! schema read through information_schema, and the plan between them. A non-empty plan is
//! drift; its statements are what would repair it.
//!
//! A [`Checker`] is shared by every database of one run: databases with the same recorded
//! state and defaults share one workspace (`WorkspaceSet`), and those that also have the same
//! live schema share one plan, so a fleet of identical tenants costs one workspace.

use std::collections::HashMap;

use mysql_async::Conn;
use octodb_catalog::{BackendAdmin, Catalog, CatalogError, DatabaseTemplate};
use octodb_schema::{
    database_defaults, diff, introspect, Plan, SchemaModel, SchemaName, WorkspaceSet,
};
use serde::Serialize;
use tokio::sync::Mutex;

use super::report::{items, DriftItem};
use crate::templates::{desired_for, TemplateError};

/// One database's drift check.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DriftReport {
    pub tenant_id: u64,
    pub tenant: String,
    pub database: String,
    pub database_id: u64,
    pub template_id: u64,
    /// The recorded version the live schema was compared with.
    pub version: Option<u32>,
    /// `in_sync`, `drifted`, or `error` (could not be checked: `error` says why).
    pub status: &'static str,
    pub drifted: bool,
    pub items: Vec<DriftItem>,
    /// The plan that would bring the live schema back to the recorded state.
    pub statements: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DriftReport {
    fn new(b: &DatabaseTemplate) -> DriftReport {
        DriftReport {
            tenant_id: b.tenant_id,
            tenant: b.tenant_name.clone(),
            database: b.database.to_string(),
            database_id: b.database_id,
            template_id: b.template_id,
            version: b.version,
            status: "in_sync",
            drifted: false,
            items: Vec::new(),
            statements: Vec::new(),
            error: None,
        }
    }

    /// A report of a database that could not be checked, for a reason that will not go away by
    /// itself (the database is missing, its recorded state does not build...).
    pub(crate) fn failed(b: &DatabaseTemplate, why: impl Into<String>) -> DriftReport {
        DriftReport {
            status: "error",
            error: Some(why.into()),
            ..DriftReport::new(b)
        }
    }
}

/// What checking a database gave.
#[derive(Debug)]
pub(crate) enum Outcome {
    Checked(DriftReport),
    /// It has no recorded version yet: nothing was promised, nothing can drift.
    NotMigrated,
    /// A migration is running on it (or ran while it was being read): its schema is moving on
    /// purpose, check again later.
    Busy,
}

/// Workspaces and plans shared by the checks of one run.
pub(crate) struct Checker {
    admin: BackendAdmin,
    workspaces: Mutex<WorkspaceSet>,
    /// (workspace key, live fingerprint) -> plan.
    plans: Mutex<HashMap<(String, String), Plan>>,
}

impl Checker {
    pub(crate) fn new(admin: BackendAdmin) -> Checker {
        Checker {
            admin,
            workspaces: Mutex::new(WorkspaceSet::new()),
            plans: Mutex::new(HashMap::new()),
        }
    }

    /// How many workspaces were built.
    pub(crate) async fn workspaces(&self) -> usize {
        self.workspaces.lock().await.len()
    }

    /// Drops every workspace (on `conn`).
    pub(crate) async fn finish(self, conn: &mut Conn) -> Result<(), TemplateError> {
        self.workspaces.into_inner().drop_all(conn).await?;
        Ok(())
    }

    /// Checks `b`'s database on `conn` (a connection to the admin's backend server). Errors are
    /// the infrastructure's (catalog, server); a database that cannot be checked for a reason
    /// of its own gets an `error` report.
    pub(crate) async fn check(
        &self,
        catalog: &Catalog,
        conn: &mut Conn,
        b: &DatabaseTemplate,
    ) -> Result<Outcome, TemplateError> {
        let Some(version) = b.version else {
            return Ok(Outcome::NotMigrated);
        };
        if b.status == "migrating" {
            return Ok(Outcome::Busy);
        }
        if b.backend_host != self.admin.host || b.backend_port != self.admin.port {
            return Ok(Outcome::Checked(DriftReport::failed(
                b,
                "the database lives on another backend server",
            )));
        }
        let name = SchemaName::new(b.physical.as_str())
            .map_err(|e| CatalogError::Corrupt(format!("physical name: {e}")))?;
        let Some(defaults) = database_defaults(conn, &name).await? else {
            return Ok(Outcome::Checked(DriftReport::failed(
                b,
                "the database does not exist on the backend",
            )));
        };
        // The recorded state: the overlay as it was applied, not one changed since.
        let mut recorded = b.clone();
        if let Some(applied) = &b.applied_overlay {
            recorded.overlay = applied.clone();
        }
        let desired = match desired_for(catalog, &recorded, version).await {
            Ok(d) => d,
            Err(e) if e.is_retryable() || matches!(e, TemplateError::Catalog(_)) => return Err(e),
            Err(e) => return Ok(Outcome::Checked(DriftReport::failed(b, e.to_string()))),
        };
        let (key, model) = {
            let mut set = self.workspaces.lock().await;
            match set.get_or_create(conn, &desired.schema, &defaults).await {
                Ok(ws) => (ws.key().to_string(), ws.model().clone()),
                Err(e) if e.is_retryable() => return Err(e.into()),
                Err(e) => {
                    let why = format!("the recorded schema does not build: {e}");
                    return Ok(Outcome::Checked(DriftReport::failed(b, why)));
                }
            }
        };
        let live = introspect(conn, &name).await?;
        let plan = self.plan(key, &live, &model).await?;
        // A migration that started (or ended) meanwhile moved the schema on purpose.
        let now = catalog.database_template_by_id(b.database_id).await?;
        let unchanged = now.as_ref().is_some_and(|n| {
            n.updated_at == b.updated_at && n.version == b.version && n.status == b.status
        });
        if !unchanged {
            return Ok(Outcome::Busy);
        }
        let mut report = DriftReport::new(b);
        if !plan.is_empty() {
            report.status = "drifted";
            report.drifted = true;
            report.items = items(&diff(&live, &model, false));
            report.statements = plan.statements(&name);
        }
        Ok(Outcome::Checked(report))
    }

    async fn plan(
        &self,
        key: String,
        live: &SchemaModel,
        desired: &SchemaModel,
    ) -> Result<Plan, TemplateError> {
        let key = (key, live.fingerprint());
        let mut plans = self.plans.lock().await;
        if let Some(p) = plans.get(&key) {
            return Ok(p.clone());
        }
        let plan = Plan::new(live, desired)?;
        plans.insert(key, plan.clone());
        Ok(plan)
    }
}
