//! Applying a plan to one database, step by step, then verifying it.
//!
//! Before the first statement: lint under the caller's [`Allow`] (refused findings stop
//! everything), the row checks lint left for apply time, and a check that the target's live
//! schema is still the one the plan was computed from (a plan serves many databases only if they
//! all start from the same state). After the last: the target is read again and must not differ
//! from the plan's desired state.
//!
//! DDL is not transactional: a failure leaves the steps before it applied. Retrying means
//! planning again from the live state (the declarative way: what is left to do) while keeping the
//! snapshot taken before the first attempt; restoring means [`crate::snapshot::restore`].

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::diff::diff;
use crate::ident::{qualified, quote_ident, SchemaName};
use crate::introspect::{introspect, IntrospectError};
use crate::lint::{lint, Allow, Finding, RowCheck};
use crate::model::SchemaModel;
use crate::plan::{Action, Plan};
use crate::session::{self, Saved};
use crate::transient::{is_transient, server_code};

/// Why applying stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The server or the connection failed outside a step.
    #[error("mysql: {0}")]
    Mysql(mysql_async::Error),

    /// A step's statement failed; the steps before it are applied.
    #[error("step {step} ({description}) failed: {source}")]
    Step {
        step: usize,
        description: String,
        sql: String,
        #[source]
        source: mysql_async::Error,
    },

    /// Lint refused the plan (nothing was applied).
    #[error("refused: {}", keys(.findings))]
    Refused { findings: Vec<Finding> },

    /// The target is not in the state the plan starts from (nothing was applied).
    #[error("the live schema differs from the plan's starting point: {}", .differences.join("; "))]
    StaleLiveState { differences: Vec<String> },

    /// Every step ran but the target does not match the desired state.
    #[error("verification found differences: {}", .differences.join("; "))]
    VerifyFailed { differences: Vec<String> },

    /// Reading the target failed.
    #[error(transparent)]
    Introspect(#[from] IntrospectError),
}

fn keys(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("{} ({})", f.key(), f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApplyError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ApplyError::Mysql(_) => "mysql",
            ApplyError::Step { .. } => "step",
            ApplyError::Refused { .. } => "refused",
            ApplyError::StaleLiveState { .. } => "stale_live_state",
            ApplyError::VerifyFailed { .. } => "verify_failed",
            ApplyError::Introspect(_) => "introspect",
        }
    }

    /// Whether trying again later may succeed: lock wait timeouts, deadlocks, lost
    /// connections. A retry must plan again from the live state.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApplyError::Mysql(e) | ApplyError::Step { source: e, .. } => is_transient(e),
            ApplyError::Introspect(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The server error code, when a statement failed on the server.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            ApplyError::Mysql(e) | ApplyError::Step { source: e, .. } => server_code(e),
            _ => None,
        }
    }
}

impl From<mysql_async::Error> for ApplyError {
    fn from(e: mysql_async::Error) -> Self {
        ApplyError::Mysql(e)
    }
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions<'a> {
    /// Risky changes the caller accepts.
    pub allow: &'a Allow,
    /// Longest wait for a metadata lock per statement (a tenant's open transaction) before the
    /// step fails with 1205 (transient).
    pub lock_wait_timeout: Duration,
    /// The target's live state if the caller just read it (e.g. in its snapshot); read again
    /// otherwise.
    pub live: Option<&'a SchemaModel>,
}

impl<'a> ApplyOptions<'a> {
    /// Defaults: 10 s lock wait, live state read again.
    pub fn new(allow: &'a Allow) -> ApplyOptions<'a> {
        ApplyOptions {
            allow,
            lock_wait_timeout: Duration::from_secs(10),
            live: None,
        }
    }
}

/// One step done, for the caller's record.
#[derive(Debug, Clone)]
pub struct AppliedStep {
    /// 0-based index in the plan.
    pub index: usize,
    pub total: usize,
    pub table: String,
    pub description: String,
    pub sql: String,
    pub elapsed: Duration,
}

/// The outcome of a verified apply.
#[derive(Debug, Clone)]
pub struct ApplyReport {
    pub steps: usize,
    /// The target as read by the verification (SHOW CREATE TABLE included).
    pub verified: SchemaModel,
}

/// A plan being applied, one [`step`](Applier::step) at a time, so that the caller can record
/// each step (or stop) between statements. [`apply`] runs it to the end.
pub struct Applier<'p> {
    plan: &'p Plan,
    target: SchemaName,
    next: usize,
    saved: Option<Saved>,
    foreign_key_checks: bool,
}

impl<'p> Applier<'p> {
    /// Checks lint, row checks and the starting state; nothing is changed when it fails.
    pub async fn start(
        conn: &mut Conn,
        target: &SchemaName,
        plan: &'p Plan,
        options: &ApplyOptions<'_>,
    ) -> Result<Applier<'p>, ApplyError> {
        let report = lint(plan);
        let refused: Vec<Finding> = report.refused(options.allow).into_iter().cloned().collect();
        if !refused.is_empty() {
            return Err(ApplyError::Refused { findings: refused });
        }
        let live = match options.live {
            Some(l) => l.clone(),
            None => introspect(conn, target).await?,
        };
        let stale = diff(&live, &plan.from, plan.exact);
        if !stale.is_empty() {
            return Err(ApplyError::StaleLiveState {
                differences: stale.summary(),
            });
        }
        let mut failed = Vec::new();
        for f in report.row_checks(options.allow) {
            if !row_check_passes(conn, target, f).await? {
                failed.push(f.clone());
            }
        }
        if !failed.is_empty() {
            return Err(ApplyError::Refused { findings: failed });
        }
        let foreign_key_checks: Option<u8> = conn
            .query_first("SELECT @@SESSION.foreign_key_checks")
            .await?;
        let timeout = options.lock_wait_timeout.as_secs().max(1);
        let saved = session::prepare(conn, Some(timeout)).await?;
        Ok(Applier {
            plan,
            target: target.clone(),
            next: 0,
            saved: Some(saved),
            foreign_key_checks: foreign_key_checks != Some(0),
        })
    }

    /// Whether every step ran.
    pub fn is_done(&self) -> bool {
        self.next >= self.plan.steps.len()
    }

    /// Runs the next step; `None` when there is none left. On error the caller's session
    /// settings are put back before returning.
    pub async fn step(&mut self, conn: &mut Conn) -> Result<Option<AppliedStep>, ApplyError> {
        let Some(step) = self.plan.steps.get(self.next) else {
            return Ok(None);
        };
        let index = self.next;
        let sql = step.sql(&self.target);
        let checks_off = matches!(
            step.action,
            Action::Create {
                foreign_key_checks_off: true,
                ..
            }
        );
        let started = Instant::now();
        let mut result = Ok(());
        if checks_off {
            result = conn.query_drop("SET SESSION foreign_key_checks = 0").await;
        }
        if result.is_ok() {
            result = conn.query_drop(sql.as_str()).await;
        }
        if checks_off && self.foreign_key_checks {
            let back = conn.query_drop("SET SESSION foreign_key_checks = 1").await;
            result = result.and(back);
        }
        if let Err(source) = result {
            self.release(conn).await;
            return Err(ApplyError::Step {
                step: index,
                description: step.describe(),
                sql,
                source,
            });
        }
        self.next += 1;
        Ok(Some(AppliedStep {
            index,
            total: self.plan.steps.len(),
            table: step.table.clone(),
            description: step.describe(),
            sql,
            elapsed: started.elapsed(),
        }))
    }

    /// Runs what is left, puts the session back and verifies the target.
    pub async fn finish(mut self, conn: &mut Conn) -> Result<ApplyReport, ApplyError> {
        while self.step(conn).await?.is_some() {}
        if let Some(saved) = self.saved.take() {
            session::restore(conn, saved).await?;
        }
        let verified = introspect(conn, &self.target).await?;
        let remaining = diff(&verified, &self.plan.to, self.plan.exact);
        if !remaining.is_empty() {
            return Err(ApplyError::VerifyFailed {
                differences: remaining.summary(),
            });
        }
        Ok(ApplyReport {
            steps: self.plan.steps.len(),
            verified,
        })
    }

    /// Stops here: puts the caller's session settings back. Applied steps stay applied.
    pub async fn abort(mut self, conn: &mut Conn) -> Result<(), ApplyError> {
        if let Some(saved) = self.saved.take() {
            session::restore(conn, saved).await?;
        }
        Ok(())
    }

    async fn release(&mut self, conn: &mut Conn) {
        if let Some(saved) = self.saved.take() {
            // Best effort: a broken connection is discarded by the caller's pool anyway.
            let _ = session::restore(conn, saved).await;
        }
    }
}

/// Whether the data makes a conditional finding harmless.
async fn row_check_passes(
    conn: &mut Conn,
    target: &SchemaName,
    f: &Finding,
) -> Result<bool, ApplyError> {
    let table = qualified(target, &f.table);
    let sql = match &f.row_check {
        Some(RowCheck::TableEmpty) => format!("SELECT 1 FROM {table} LIMIT 1"),
        Some(RowCheck::NoNulls(c)) => {
            format!(
                "SELECT 1 FROM {table} WHERE {} IS NULL LIMIT 1",
                quote_ident(c)
            )
        }
        None => return Ok(true),
    };
    let row: Option<u8> = conn.query_first(sql).await?;
    Ok(row.is_none())
}

/// Applies `plan` to `target`, calling `on_step` after each step, then verifies.
pub async fn apply(
    conn: &mut Conn,
    target: &SchemaName,
    plan: &Plan,
    options: &ApplyOptions<'_>,
    mut on_step: impl FnMut(&AppliedStep),
) -> Result<ApplyReport, ApplyError> {
    let mut applier = Applier::start(conn, target, plan, options).await?;
    while let Some(done) = applier.step(conn).await? {
        on_step(&done);
    }
    applier.finish(conn).await
}
