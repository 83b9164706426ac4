//! OctoDB's schema engine: hierarchical declarative migrations for one database at a time.
//!
//! The pipeline, one module per stage:
//! 1. [`desired`]: a desired schema is a set of CREATE TABLE statements, parsed and checked.
//! 2. [`merge`]: a template chain (root first, then child templates, then the database's own
//!    overlay) merged into one desired schema, with conflicts against a parent's change.
//! 3. [`workspace`]: the desired schema created in a scratch database on the same server (the
//!    server's own error when the DDL is invalid).
//! 4. [`introspect`]: a database read through information_schema and SHOW CREATE TABLE into a
//!    [`model`] that does not depend on the schema's name.
//! 5. [`diff`] and [`plan`]: live model vs workspace model, as an ordered list of statements
//!    rendered for any target database.
//! 6. [`lint`]: destructive and narrowing steps refused unless allowed, advisory warnings.
//! 7. [`apply`] and [`snapshot`]: the plan applied step by step and verified; a snapshot of the
//!    schema before, and a restore to it.
//!
//! Everything that talks to a server takes a `mysql_async::Conn` from the caller (the admin's
//! root connection to the backend); nothing here owns a pool.
//!
//! One database, end to end:
//! ```no_run
//! # async fn migrate(conn: &mut mysql_async::Conn) -> Result<(), Box<dyn std::error::Error>> {
//! use octodb_schema::*;
//!
//! let base = DesiredSchema::parse("CREATE TABLE items (id INT PRIMARY KEY, name TEXT)")?;
//! let overlay = DesiredSchema::parse("CREATE TABLE items (color VARCHAR(20), KEY ix_color (color))")?;
//! let desired = merge(&[base, overlay]); // or merge_update(previous, next) to get conflicts
//!
//! let target = SchemaName::new("t_acme__shop")?;
//! let defaults = database_defaults(conn, &target).await?.ok_or("no such database")?;
//! let workspace = Workspace::create(conn, &desired, &defaults).await?; // 422 on InvalidDdl
//! let snapshot = Snapshot::take(conn, &target).await?;
//! let plan = Plan::new(&snapshot.model, workspace.model())?;
//! workspace.drop(conn).await?;
//!
//! let report = lint(&plan); // report.refused(&allow), report.warnings for a dry run
//! let allow = Allow::none().with_kind(RiskKind::DropColumn);
//! let options = ApplyOptions { live: Some(&snapshot.model), ..ApplyOptions::new(&allow) };
//! match apply(conn, &target, &plan, &options, |step| println!("{}", step.sql)).await {
//!     Ok(_) => {}
//!     Err(e) if e.is_retryable() => { /* retry later: plan again from the live state */ }
//!     Err(_) => {
//!         restore(conn, &target, &snapshot, |_| {}).await?;
//!     }
//! }
//! # let _ = report;
//! # Ok(())
//! # }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod apply;
pub mod desired;
pub mod diff;
pub mod ident;
pub mod introspect;
pub mod lint;
pub mod merge;
pub mod model;
mod order;
pub mod plan;
mod render;
mod session;
pub mod snapshot;
#[cfg(test)]
mod testkit;
pub mod transient;
mod types;
pub mod workspace;

pub use apply::{apply, AppliedStep, Applier, ApplyError, ApplyOptions, ApplyReport};
pub use desired::{DesiredError, DesiredSchema, DesiredTable, Element};
pub use diff::{diff, Change, SchemaDiff};
pub use ident::{quote_ident, quote_string, SchemaName};
pub use introspect::{database_defaults, introspect, DatabaseDefaults, IntrospectError};
pub use lint::{lint, Allow, Finding, LintReport, RiskKind, RowCheck, Warning};
pub use merge::{merge, merge_update, Conflict, ConflictKind, MergeError, MergeOutcome};
pub use model::SchemaModel;
pub use plan::{Plan, PlanError, Step};
pub use snapshot::{restore, RestoreReport, Snapshot, SnapshotError};
pub use transient::is_transient;
pub use workspace::{cleanup_leftovers, Workspace, WorkspaceError, WorkspaceSet, WORKSPACE_PREFIX};
