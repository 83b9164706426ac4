//! Borrowing backend connections: a session takes one from its tenant's pool for a statement
//! (autocommit) or a transaction, replays the session state that differs on it, and gives it
//! back as soon as nothing pins the session to it.

use std::borrow::Cow;

use super::session_event;
use mysql_async::consts::CapabilityFlags;
use octodb_policy::session_values;
use octodb_policy::StatementKind;
use tokio::io::{AsyncRead, AsyncWrite};

use super::results::Done;
use super::state::Begin;
use super::Session;
use crate::backend::raw::BackendError;
use crate::backend::{CheckoutError, PinReason, Pins};
use crate::error::{codes, ClientError};
use crate::metrics;

/// Whether a backend failure lost the connection (rather than failing the statement).
pub fn connection_lost(e: &BackendError) -> bool {
    e.connection_lost()
}

fn checkout_error(e: &CheckoutError) -> ClientError {
    match e {
        CheckoutError::Timeout { max, waited } => ClientError::new(
            codes::ER_UNKNOWN,
            "HY000",
            format!(
                "All {max} backend connections of the tenant stayed busy for {} s: try again later",
                waited.as_secs()
            ),
        ),
        CheckoutError::Backend(_) => ClientError::new(
            codes::ER_UNKNOWN,
            "HY000",
            "The tenant's backend is unavailable, try again later",
        ),
    }
}

impl<R, W> Session<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    /// The statement text to run: the policy's, with the session's own LAST_INSERT_ID(),
    /// ROW_COUNT() and FOUND_ROWS() written in. Only a statement the policy found calling them
    /// (see `SessionState::begin`) is looked at: the others run as they are, unread.
    pub(super) fn with_session_values<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        if !self.state.current.uses_session_values {
            return Cow::Borrowed(sql);
        }
        match session_values::substitute(sql, &self.state.values_for_next()) {
            Some(s) => Cow::Owned(s),
            None => Cow::Borrowed(sql),
        }
    }

    /// Makes sure the session holds a backend connection carrying its session state and its
    /// transaction. A pooled connection found dead while replaying the state (killed while
    /// idle) is replaced once.
    pub(super) async fn acquire(&mut self) -> Result<(), ClientError> {
        let mut retried = false;
        loop {
            let ready = match self.acquire_once().await {
                Ok(()) => self.send_begin().await,
                Err(a) => Err(a),
            };
            match ready {
                Ok(()) => return Ok(()),
                Err(Acquire::Retry(_)) if !retried => retried = true,
                Err(a) => return Err(a.into_client()),
            }
        }
    }

    /// Answers a plain BEGIN, or the COMMIT or ROLLBACK of a transaction that ran nothing yet,
    /// without the backend (`Begin`); true when it did (write the OK with `finish`). Only with
    /// no connection held and multiplexing on; WITH CONSISTENT SNAPSHOT, savepoints and
    /// chains always go to the backend.
    pub(super) fn answers_transaction_edge(&mut self, kind: &StatementKind, sql: &str) -> bool {
        if self.backend.is_some() || !self.shared.config.multiplexing {
            return false;
        }
        match kind {
            StatementKind::Begin
                if !self.tx.in_transaction
                    && self.state.deferred == Begin::None
                    && is_one_of(sql, PLAIN_BEGIN) =>
            {
                self.state.deferred = Begin::Deferred(sql.to_owned());
                true
            }
            StatementKind::Commit | StatementKind::Rollback
                if matches!(self.state.deferred, Begin::Deferred(_)) && is_plain_end(sql) =>
            {
                self.state.deferred = Begin::None;
                true
            }
            _ => false,
        }
    }

    /// Sends the BEGIN the session answered itself to the connection just acquired. Ahead of
    /// a SELECT it is queued, to go out in the same write: should it fail, the SELECT changed
    /// nothing, and the connection is dropped as lost. Ahead of anything else it runs on its
    /// own first, so that a statement changing data never runs outside the transaction its
    /// client opened.
    async fn send_begin(&mut self) -> Result<(), Acquire> {
        let Begin::Deferred(begin) = std::mem::take(&mut self.state.deferred) else {
            return Ok(());
        };
        let select = self.state.current.select;
        let Some(lease) = self.backend.as_mut() else {
            return Err(Acquire::Fail(lost()));
        };
        let retry = lease.from_idle && !lease.served;
        let Some(conn) = lease.conn() else {
            return Err(Acquire::Fail(lost()));
        };
        let sent = if select {
            conn.raw.queue_query(begin.as_bytes())
        } else {
            conn.raw.query_drop(&begin).await.map(drop)
        };
        match sent {
            Ok(()) if select => {
                self.state.deferred = Begin::Queued(begin);
                Ok(())
            }
            Ok(()) => Ok(()),
            Err(e) if e.connection_lost() && retry => {
                // A pooled connection that died while idle: BEGIN again on another.
                self.state.deferred = Begin::Deferred(begin);
                self.drop_broken();
                Err(Acquire::Retry(lost()))
            }
            Err(e) => {
                session_event!(self, info, error = %e, "BEGIN failed on the backend");
                // The transaction the client was told about never started: as a lost
                // connection, which ends it.
                Err(Acquire::Fail(self.backend_failure(e.as_lost("BEGIN"))))
            }
        }
    }

    async fn acquire_once(&mut self) -> Result<(), Acquire> {
        if self.backend.is_none() {
            let found_rows = self
                .client_caps
                .contains(CapabilityFlags::CLIENT_FOUND_ROWS);
            let max =
                usize::try_from(self.limit.current().max_backend_connections).unwrap_or(usize::MAX);
            let lease = self
                .shared
                .backends
                .checkout(&self.id.login, found_rows, max, &mut self.pool)
                .await
                .map_err(|e| {
                    metrics::backend_error();
                    session_event!(self, info, error = %e, "backend checkout failed");
                    Acquire::Fail(checkout_error(&e))
                })?;
            self.backend = Some(lease);
        }
        let Some(lease) = self.backend.as_mut() else {
            return Err(Acquire::Fail(lost()));
        };
        if lease.state == self.state.conn {
            return Ok(());
        }
        let plan = lease.state.plan(&self.state.conn);
        metrics::state_replays(plan.len());
        let retry = lease.from_idle && !lease.served;
        let Some(conn) = lease.conn() else {
            return Err(Acquire::Fail(lost()));
        };
        for stmt in &crate::backend::batched(plan) {
            if let Err(e) = conn.raw.query_drop(stmt.as_str()).await {
                session_event!(self, info, error = %e, "replaying the session state failed");
                let dead = connection_lost(&e);
                lease.discard();
                self.backend = None;
                let ce = ClientError::new(
                    codes::ER_UNKNOWN,
                    "HY000",
                    "The session's settings could not be applied on the tenant's backend",
                );
                return Err(if dead && retry {
                    Acquire::Retry(ce)
                } else {
                    Acquire::Fail(ce)
                });
            }
        }
        lease.state = self.state.conn.clone();
        Ok(())
    }

    /// Whether a failed statement may run again on another connection: the connection died
    /// while idle in the pool (first statement of this lease), and nothing of the session's
    /// lived on it (a transaction only if its BEGIN went out with this statement).
    pub(super) fn may_retry(&self, e: &BackendError) -> bool {
        let begin_only = matches!(self.state.deferred, Begin::Queued(_));
        connection_lost(e)
            && self
                .backend
                .as_ref()
                .is_some_and(|l| l.from_idle && !l.served)
            && (!self.tx.in_transaction || begin_only)
            && !self
                .pins
                .with(
                    PinReason::Transaction,
                    self.tx.in_transaction && !begin_only,
                )
                .dirty()
    }

    /// Drops a connection that failed, before a retry.
    pub(super) fn drop_broken(&mut self) {
        if let Some(mut lease) = self.backend.take() {
            lease.discard();
        }
    }

    /// Drops a connection that failed, to run the statement again on another (`may_retry`),
    /// with the BEGIN that went out with it.
    pub(super) fn retry_elsewhere(&mut self) {
        self.drop_broken();
        if let Begin::Queued(begin) = std::mem::take(&mut self.state.deferred) {
            self.state.deferred = Begin::Deferred(begin);
        }
    }

    /// After a statement: records what it left, then gives the connection back unless
    /// something pins the session to it.
    pub(super) fn settle(&mut self, kind: &StatementKind, sql: &str, outcome: Result<&Done, ()>) {
        if let Begin::Queued(_) = self.state.deferred {
            // Answered: the BEGIN ran before it.
            self.state.deferred = Begin::None;
        }
        match outcome {
            Ok(done) => self.state.after_success(kind, sql, done),
            Err(()) => self.state.after_error(),
        }
        if let Some(lease) = self.backend.as_mut() {
            lease.served = true;
            let set = matches!(
                kind,
                StatementKind::SetSession
                    | StatementKind::SetNames { .. }
                    | StatementKind::SetAutocommit(_)
            );
            if set && outcome.is_ok() {
                // The SET ran on this connection: it now has the session's state.
                lease.state = self.state.conn.clone();
            }
        }
        self.repin();
    }

    /// Recomputes the pins; returns the connection to the pool when there are none.
    pub(super) fn repin(&mut self) {
        let pins = self.state.pins(self.tx, self.shared.config.multiplexing);
        self.set_pins(pins);
        if pins.is_empty() {
            // Back to the pool as it is: nothing on it belongs to this session alone.
            if let Some(mut lease) = self.backend.take() {
                lease.set_dirty(false);
            }
        } else if let Some(lease) = self.backend.as_mut() {
            lease.set_dirty(pins.dirty() || self.tx.in_transaction);
        }
    }

    fn set_pins(&mut self, pins: Pins) {
        self.shared.backends.pins.change(self.pins, pins);
        self.pins = pins;
    }

    /// Gives the backend connection back at the end of the session (or before a reset or a
    /// change of user): reset first when the session left state on it.
    pub(super) async fn release_backend(&mut self) {
        self.set_pins(Pins::default());
        if let Some(mut lease) = self.backend.take() {
            let dirty = self.state.user_variables
                || self.state.untracked
                || self.tx.in_transaction
                || !self.shared.config.multiplexing;
            lease.set_dirty(dirty);
            lease.release().await;
        }
    }

    /// Maps a backend failure to what the client is told, updating the session state.
    pub(super) fn backend_failure(&mut self, e: BackendError) -> ClientError {
        match e {
            BackendError::Server {
                code,
                state,
                message,
            } => {
                self.tx = self.tx.after_error(code);
                ClientError::new(
                    code,
                    &state,
                    super::results::logical_message(&message, &self.id.names),
                )
            }
            other => {
                // The connection is gone, and with it any open transaction.
                metrics::backend_error();
                session_event!(self, info, error = %other, "backend connection lost");
                self.drop_broken();
                self.tx.in_transaction = false;
                self.state.connection_lost();
                lost()
            }
        }
    }
}

/// Why `acquire_once` gave no connection.
enum Acquire {
    /// A pooled connection died during the replay: worth one more try.
    Retry(ClientError),
    Fail(ClientError),
}

impl Acquire {
    fn into_client(self) -> ClientError {
        match self {
            Acquire::Retry(ce) | Acquire::Fail(ce) => ce,
        }
    }
}

/// BEGIN as the session answers it itself (ASCII case and runs of whitespace aside).
const PLAIN_BEGIN: &[&str] = &[
    "BEGIN",
    "BEGIN WORK",
    "START TRANSACTION",
    "START TRANSACTION READ ONLY",
    "START TRANSACTION READ WRITE",
];

/// Whether `sql` is one of `forms`, word for word (ASCII case, runs of whitespace and a
/// final semicolon aside).
fn is_one_of(sql: &str, forms: &[&str]) -> bool {
    let sql = sql.trim_end().strip_suffix(';').unwrap_or(sql);
    forms.iter().any(|form| {
        let mut words = sql.split_ascii_whitespace();
        form.split(' ')
            .all(|f| words.next().is_some_and(|w| w.eq_ignore_ascii_case(f)))
            && words.next().is_none()
    })
}

/// Whether `sql` is a COMMIT or ROLLBACK that neither chains nor ends the session (`[WORK]
/// [AND NO CHAIN] [NO RELEASE]`, the server's default completion): the session answers it
/// itself after a deferred BEGIN.
fn is_plain_end(sql: &str) -> bool {
    let sql = sql.trim_end();
    let sql = sql.strip_suffix(';').unwrap_or(sql);
    let mut words = sql.split_ascii_whitespace();
    let first = words.next().unwrap_or_default();
    if !(first.eq_ignore_ascii_case("COMMIT") || first.eq_ignore_ascii_case("ROLLBACK")) {
        return false;
    }
    let rest: Vec<&str> = words.collect();
    let mut rest = rest.as_slice();
    for optional in [&["WORK"][..], &["AND", "NO", "CHAIN"], &["NO", "RELEASE"]] {
        let here = rest.len() >= optional.len()
            && rest
                .iter()
                .zip(optional)
                .all(|(w, o)| w.eq_ignore_ascii_case(o));
        if here {
            rest = &rest[optional.len()..];
        }
    }
    rest.is_empty()
}

fn lost() -> ClientError {
    ClientError::new(
        2013,
        "HY000",
        "Lost connection to the tenant's backend during query",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_transaction_statements_are_answered_in_the_proxy() {
        for sql in [
            "BEGIN",
            "begin",
            "BEGIN;",
            "  begin   work ",
            "START TRANSACTION",
            "start\ttransaction  read only;",
            "START TRANSACTION READ WRITE",
        ] {
            assert!(is_one_of(sql, PLAIN_BEGIN), "{sql}");
        }
        for sql in [
            "START TRANSACTION WITH CONSISTENT SNAPSHOT",
            "START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT",
            "BEGIN NOT ATOMIC SELECT 1; END",
            "BEGIN WORK WORK",
            "BEGINX",
            "",
            ";",
        ] {
            assert!(!is_one_of(sql, PLAIN_BEGIN), "{sql}");
        }
        for sql in [
            "COMMIT",
            "commit work;",
            "ROLLBACK",
            " Rollback  Work ",
            "COMMIT AND NO CHAIN",
            "ROLLBACK WORK AND NO CHAIN",
            "commit no release;",
            "COMMIT WORK AND NO CHAIN NO RELEASE",
        ] {
            assert!(is_plain_end(sql), "{sql}");
        }
        for sql in [
            "ROLLBACK TO SAVEPOINT a",
            "ROLLBACK TO a",
            "COMMIT AND CHAIN",
            "COMMIT RELEASE",
            "COMMIT AND NO CHAIN RELEASE",
            "COMMIT NO RELEASE AND NO CHAIN",
            "COMMIT WORK WORK",
            "COMMIT AND NO",
            "RELEASE SAVEPOINT a",
            "COMMITX",
            "",
            ";",
        ] {
            assert!(!is_plain_end(sql), "{sql}");
        }
    }
}
