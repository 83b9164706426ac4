//! What each statement leaves in the metrics and the digest statistics: its kind, outcome and
//! latency (`octodb_proxy_statements_total`, `octodb_proxy_statement_seconds`, with the tenant
//! label as configured) and its digest's count, time, rows and errors.
//!
//! A statement is opened when it is about to run ([`Session::statement_begins`]) and closed
//! once, by whichever comes first: its result ([`Session::statement_ends`], from `finish`) or
//! an error answer on its way (a limit, no backend connection: [`Session::statement_failed`],
//! from `error`). Statements the policy refused are counted by [`Session::statement_refused`]
//! and have no digest.

use std::sync::Arc;
use std::time::Instant;

use ::metrics::SharedString;
use octodb_policy::{Digest, Refusal, StatementKind};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use crate::metrics;
use crate::tenant_labels::TenantSlot;

/// The session's statement being timed, and its tenant's label slot.
#[derive(Debug, Default)]
pub(super) struct StatementClock {
    /// `None` when tenant labels are off.
    slot: Option<Arc<TenantSlot>>,
    open: Option<Open>,
}

#[derive(Debug)]
struct Open {
    kind: &'static str,
    digest: Arc<Digest>,
    started: Instant,
}

impl StatementClock {
    pub(super) fn new(slot: Option<Arc<TenantSlot>>) -> Self {
        StatementClock { slot, open: None }
    }

    fn tenant(&self) -> Option<SharedString> {
        self.slot.as_ref().map(|s| s.label())
    }
}

impl<R, W> Session<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    /// A statement of `kind` with `digest` starts (its latency counts from here).
    pub(super) fn statement_begins(&mut self, kind: &StatementKind, digest: &Arc<Digest>) {
        self.clock.open = Some(Open {
            kind: metrics::statement_kind(kind),
            digest: digest.clone(),
            started: Instant::now(),
        });
    }

    /// The open statement ended with `outcome` after sending or changing `rows` rows.
    pub(super) fn statement_ends(&mut self, outcome: &'static str, rows: u64) {
        let Some(open) = self.clock.open.take() else {
            return;
        };
        let elapsed = open.started.elapsed();
        match &self.clock.slot {
            None => metrics::statement_done(open.kind, outcome, elapsed),
            Some(slot) => slot.record_statement(open.kind, outcome, elapsed),
        }
        // With digests off nothing drains the map: nothing goes in.
        if self.shared.config.digest_flush_secs > 0 {
            self.shared.digests.record(
                self.id.login.tenant_id,
                &open.digest,
                elapsed,
                rows,
                outcome != metrics::OUTCOME_OK,
            );
        }
    }

    /// An error answer with MySQL `code`: ends the open statement, if any, with the matching
    /// outcome.
    pub(super) fn statement_failed(&mut self, code: u16) {
        if self.clock.open.is_some() {
            self.statement_ends(metrics::error_outcome(code), 0);
        }
    }

    /// The policy refused `sql` with `r`.
    pub(super) fn statement_refused(&mut self, sql: &str, r: &Refusal) {
        self.clock.open = None;
        metrics::statement_refused(
            metrics::refused_kind(sql),
            r.code,
            metrics::policy_refusal_reason(r.code, sql),
            self.clock.tenant(),
        );
    }
}
