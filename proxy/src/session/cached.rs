//! The session's side of the result cache ([`crate::result_cache`]): when a SELECT may be
//! answered from it or fill it, the answer from a cached result, and the tables the session's
//! writes mark as written.

use std::sync::Arc;

use octodb_policy::{Forward, StatementKind, TableRef};
use tokio::io::{AsyncRead, AsyncWrite};

use super::results::{self, Capture, Done, StreamError};
use super::Session;
use crate::error::SessionError;
use crate::result_cache::{Entry, Lookup, SessionView};

/// What the result cache does for one statement.
pub(super) enum CacheStep {
    /// Not a candidate: run it as usual.
    Skip,
    /// A good cached result: answer with it.
    Hit(Arc<Entry>),
    /// A miss: run it, and keep a copy of its result for the cache.
    Fill(Lookup),
}

impl<R, W> Session<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    /// Whether `f` may be answered from, or fill, the cache. Never inside a transaction (nor
    /// with autocommit off, where a SELECT opens one): the transaction's own writes and
    /// snapshot decide its answers. Never after a SET the session could not record (the key
    /// would not hold the state that shapes the answer), nor while the previous statement's
    /// warnings are still the session's (a hit leaves none, and must not show those).
    pub(super) fn cache_step(&self, f: &Forward) -> CacheStep {
        let candidate = f.cacheable
            && f.kind == StatementKind::Select
            && self.tx.autocommit
            && !self.tx.in_transaction
            && !self.state.untracked
            && !self.state.warnings;
        if !candidate {
            return CacheStep::Skip;
        }
        let limits = self.limit.current();
        let view = SessionView {
            tenant_id: self.id.login.tenant_id,
            current_db: self.current_db.as_deref(),
            state: &self.state.conn,
            ttl_ms: limits.result_cache_ttl_ms,
            max_bytes: limits.result_cache_max_bytes,
        };
        let cache = &self.shared.results;
        let Some(lookup) = cache.prepare(&view, &f.sql, &f.reads) else {
            return CacheStep::Skip;
        };
        match cache.get(&lookup) {
            Some(entry) => CacheStep::Hit(entry),
            None => CacheStep::Fill(lookup),
        }
    }

    /// A capture sized for the statement, when it is to fill the cache.
    pub(super) fn capture_for(&self, step: &CacheStep) -> Option<Capture> {
        match step {
            CacheStep::Fill(l) => Some(Capture::new(
                l.capture_limit(self.shared.results.config().max_entry_bytes),
            )),
            _ => None,
        }
    }

    /// Answers `f` with a cached result: the same packets, with this session's status.
    pub(super) async fn answer_cached(
        &mut self,
        f: &Forward,
        entry: &Entry,
    ) -> Result<(), SessionError> {
        let status = self.tx.after(&f.kind).flags();
        let outcome =
            results::write_captured(&mut self.writer, &entry.columns, &entry.rows, status)
                .await
                .map_err(StreamError::Client);
        self.finish(&f.kind, &f.sql, outcome).await
    }

    /// Stores what `capture` kept of a complete result without warnings.
    pub(super) fn cache_fill(
        &self,
        step: CacheStep,
        capture: Option<Capture>,
        outcome: &Result<Done, StreamError>,
    ) {
        let (CacheStep::Fill(lookup), Some(c), Ok(done)) = (step, capture, outcome) else {
            return;
        };
        if done.result_set && done.warnings == 0 && !c.overflow {
            self.shared.results.put(lookup, c.columns, c.rows);
        }
    }

    /// After a statement ran (or failed): the tables it may have written are marked at once,
    /// and again when the transaction they were written in ends, when other sessions can see
    /// the change (COMMIT, `SET autocommit = 1`, a rollback: marking too often is harmless).
    pub(super) fn cache_writes(&mut self, writes: &[TableRef]) {
        let commits_writes = !self.tx.in_transaction && !self.tx_writes.is_empty();
        if writes.is_empty() && !commits_writes {
            // Most statements: nothing to mark, so no look at the tenant's limits (a lock).
            return;
        }
        let tenant = self.id.login.tenant_id;
        let opted_in = self.limit.current().result_cache_ttl_ms.is_some();
        if !writes.is_empty() {
            self.shared.results.invalidate(tenant, writes, opted_in);
            if self.tx.in_transaction {
                for t in writes {
                    if !self.tx_writes.contains(t) {
                        self.tx_writes.push(t.clone());
                    }
                }
            }
        }
        if !self.tx.in_transaction && !self.tx_writes.is_empty() {
            let written = std::mem::take(&mut self.tx_writes);
            self.shared.results.invalidate(tenant, &written, opted_in);
        }
    }
}
