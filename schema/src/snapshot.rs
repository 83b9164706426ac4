//! Snapshots and restores: the schema of a database before a migration, and putting it back
//! after a migration that failed for good.
//!
//! A snapshot is every table's SHOW CREATE TABLE text plus the model read with it, serializable
//! so it can be kept in the catalog while the migration runs (a restarted admin can still
//! restore). Restoring builds a workspace from the snapshot's texts, plans from the live state to
//! that workspace in exact mode (index and check order included), applies it, and then demands
//! that SHOW CREATE TABLE of every table is the snapshot's text again (the `AUTO_INCREMENT=n`
//! counter aside, which moves with the data). Data in columns or tables the failed migration
//! added is dropped with them; data in the snapshot's own columns is kept by every step a plan
//! can contain except the narrowing ones the failed migration itself ran.

use std::time::{SystemTime, UNIX_EPOCH};

use mysql_async::Conn;
use serde::{Deserialize, Serialize};

use crate::apply::{AppliedStep, Applier, ApplyError, ApplyOptions};
use crate::ident::SchemaName;
use crate::introspect::{database_defaults, introspect, DatabaseDefaults, IntrospectError};
use crate::lint::Allow;
use crate::model::{without_auto_increment, SchemaModel};
use crate::plan::{Plan, PlanError};
use crate::transient::is_transient;
use crate::workspace::{Workspace, WorkspaceError};

/// Why a snapshot could not be taken or restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The server or the connection failed.
    #[error("mysql: {0}")]
    Mysql(mysql_async::Error),

    /// The database does not exist.
    #[error("database {0} does not exist")]
    NoSuchDatabase(String),

    #[error(transparent)]
    Introspect(#[from] IntrospectError),

    #[error("restore workspace: {0}")]
    Workspace(#[from] WorkspaceError),

    #[error("restore plan: {0}")]
    Plan(#[from] PlanError),

    #[error("restore: {0}")]
    Apply(#[from] ApplyError),

    /// The restore ran but a table's SHOW CREATE TABLE is not the snapshot's.
    #[error("after restore, table {table} differs from the snapshot")]
    Mismatch {
        table: String,
        expected: Option<String>,
        actual: Option<String>,
    },
}

impl SnapshotError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SnapshotError::Mysql(_) => "mysql",
            SnapshotError::NoSuchDatabase(_) => "no_such_database",
            SnapshotError::Introspect(_) => "introspect",
            SnapshotError::Workspace(_) => "workspace",
            SnapshotError::Plan(_) => "plan",
            SnapshotError::Apply(_) => "apply",
            SnapshotError::Mismatch { .. } => "mismatch",
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SnapshotError::Mysql(e) => is_transient(e),
            SnapshotError::Introspect(e) => e.is_retryable(),
            SnapshotError::Workspace(e) => e.is_retryable(),
            SnapshotError::Apply(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<mysql_async::Error> for SnapshotError {
    fn from(e: mysql_async::Error) -> Self {
        SnapshotError::Mysql(e)
    }
}

/// A database's schema at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The database it was taken from (informational: restore takes a target).
    pub database: String,
    pub defaults: DatabaseDefaults,
    /// Unix seconds.
    pub taken_at: u64,
    /// The model; every table's SHOW CREATE TABLE text is its `create_sql`.
    pub model: SchemaModel,
}

impl Snapshot {
    /// Reads `target`.
    pub async fn take(conn: &mut Conn, target: &SchemaName) -> Result<Snapshot, SnapshotError> {
        let defaults = database_defaults(conn, target)
            .await?
            .ok_or_else(|| SnapshotError::NoSuchDatabase(target.to_string()))?;
        let model = introspect(conn, target).await?;
        Ok(Snapshot {
            database: target.to_string(),
            defaults,
            taken_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            model,
        })
    }

    /// (table, SHOW CREATE TABLE) for every table, by name.
    pub fn create_statements(&self) -> Vec<(String, String)> {
        self.model
            .tables
            .values()
            .map(|t| (t.name.clone(), t.create_sql.clone()))
            .collect()
    }

    /// Tables whose SHOW CREATE TABLE in `live` is not this snapshot's (extra and missing
    /// tables included), as (table, expected, actual).
    pub fn differences(&self, live: &SchemaModel) -> Vec<(String, Option<String>, Option<String>)> {
        let names: std::collections::BTreeSet<&String> =
            self.model.tables.keys().chain(live.tables.keys()).collect();
        names
            .into_iter()
            .filter_map(|name| {
                let expected = self
                    .model
                    .tables
                    .get(name)
                    .map(|t| without_auto_increment(&t.create_sql));
                let actual = live
                    .tables
                    .get(name)
                    .map(|t| without_auto_increment(&t.create_sql));
                (expected != actual).then(|| (name.clone(), expected, actual))
            })
            .collect()
    }
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// Statements run (0 when the target already matched).
    pub steps: usize,
}

/// Puts `target` back to `snapshot`'s schema, calling `on_step` after each statement.
pub async fn restore(
    conn: &mut Conn,
    target: &SchemaName,
    snapshot: &Snapshot,
    mut on_step: impl FnMut(&AppliedStep),
) -> Result<RestoreReport, SnapshotError> {
    let ws =
        Workspace::create_from_server_text(conn, &snapshot.create_statements(), &snapshot.defaults)
            .await?;
    let result = restore_to(conn, target, ws.model(), &mut on_step).await;
    let dropped = ws.drop(conn).await;
    let report = result?;
    dropped?;
    let live = introspect(conn, target).await?;
    if let Some((table, expected, actual)) = snapshot.differences(&live).into_iter().next() {
        return Err(SnapshotError::Mismatch {
            table,
            expected,
            actual,
        });
    }
    Ok(report)
}

async fn restore_to(
    conn: &mut Conn,
    target: &SchemaName,
    desired: &SchemaModel,
    on_step: &mut impl FnMut(&AppliedStep),
) -> Result<RestoreReport, SnapshotError> {
    let live = introspect(conn, target).await?;
    let plan = Plan::exact(&live, desired)?;
    let allow = Allow::all();
    let options = ApplyOptions {
        live: Some(&live),
        ..ApplyOptions::new(&allow)
    };
    let mut applier = Applier::start(conn, target, &plan, &options).await?;
    while let Some(done) = applier.step(conn).await? {
        on_step(&done);
    }
    applier.finish(conn).await?;
    Ok(RestoreReport {
        steps: plan.steps.len(),
    })
}
