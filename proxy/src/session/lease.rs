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
use super::Session;
use crate::backend::raw::BackendError;
use crate::backend::{CheckoutError, Pins};
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

    /// Makes sure the session holds a backend connection carrying its session state. A pooled
    /// connection found dead while replaying the state (killed while idle) is replaced once.
    pub(super) async fn acquire(&mut self) -> Result<(), ClientError> {
        match self.acquire_once().await {
            Ok(()) => Ok(()),
            Err(Acquire::Retry(_)) => self.acquire_once().await.map_err(Acquire::into_client),
            Err(Acquire::Fail(ce)) => Err(ce),
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
        for stmt in &plan {
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
    /// lived on it.
    pub(super) fn may_retry(&self, e: &BackendError) -> bool {
        connection_lost(e)
            && self
                .backend
                .as_ref()
                .is_some_and(|l| l.from_idle && !l.served)
            && !self.tx.in_transaction
            && !self.pins.dirty()
    }

    /// Drops a connection that failed, before a retry.
    pub(super) fn drop_broken(&mut self) {
        if let Some(mut lease) = self.backend.take() {
            lease.discard();
        }
    }

    /// After a statement: records what it left, then gives the connection back unless
    /// something pins the session to it.
    pub(super) fn settle(&mut self, kind: &StatementKind, sql: &str, outcome: Result<&Done, ()>) {
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

fn lost() -> ClientError {
    ClientError::new(
        2013,
        "HY000",
        "Lost connection to the tenant's backend during query",
    )
}
