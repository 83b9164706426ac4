//! The MetaDB connection pool, with every checkout bounded in time.
//!
//! mysql_async has no connect or query timeout. When the MetaDB goes away without a reset (a
//! network partition, a frozen host or VM), a connect waits for the kernel's SYN retries (about
//! two minutes) and a statement on a pooled connection whose peer vanished waits for TCP
//! retransmissions (many minutes): callers would hang instead of failing fast (the admin answers
//! 503 on connection errors). So a checkout is connect-or-reuse *plus a round trip* (`COM_PING`,
//! or the `START TRANSACTION` of a transaction) under [`CHECKOUT_TIMEOUT`]: a connection handed
//! out has just answered, and a dead one is dropped, never returned to the pool. A stall in the
//! middle of a later statement is still bounded only by TCP; it needs the partition to start
//! within that statement.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool, Transaction, TxOpts};

/// Longest a checkout may take. A healthy MetaDB answers in milliseconds; a pool exhausted for
/// this long is as good as down to a caller, who gets a retryable error.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Pool`] whose checkouts are live connections or errors, within [`CHECKOUT_TIMEOUT`].
/// Cheap to clone (a handle).
#[derive(Clone)]
pub(crate) struct CatalogPool {
    inner: Pool,
}

impl CatalogPool {
    pub(crate) fn new(inner: Pool) -> Self {
        CatalogPool { inner }
    }

    /// A connection that has just answered a ping.
    pub(crate) async fn get_conn(&self) -> Result<Conn, mysql_async::Error> {
        bounded(CHECKOUT_TIMEOUT, async {
            let mut conn = self.inner.get_conn().await?;
            conn.ping().await?;
            Ok(conn)
        })
        .await
    }

    /// A transaction (its `START TRANSACTION` is the liveness check).
    pub(crate) async fn start_transaction(
        &self,
        options: TxOpts,
    ) -> Result<Transaction<'static>, mysql_async::Error> {
        bounded(CHECKOUT_TIMEOUT, self.inner.start_transaction(options)).await
    }

    /// Closes the pool (waits for checked-out connections to come back).
    pub(crate) async fn disconnect(self) -> Result<(), mysql_async::Error> {
        self.inner.disconnect().await
    }
}

/// `checkout` within `limit`; past it, a `TimedOut` I/O error (a connection error: retryable,
/// and "unavailable" to API callers). Dropping the future drops the half-made connection with it.
async fn bounded<T>(
    limit: Duration,
    checkout: impl std::future::Future<Output = Result<T, mysql_async::Error>>,
) -> Result<T, mysql_async::Error> {
    match tokio::time::timeout(limit, checkout).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no live MetaDB connection within {limit:?}"),
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stalled_checkout_times_out_as_a_retryable_connection_error() {
        let stalled = std::future::pending::<Result<(), mysql_async::Error>>();
        let e = bounded(Duration::from_millis(10), stalled)
            .await
            .unwrap_err();
        let e = crate::CatalogError::from(e);
        assert!(e.is_retryable(), "{e}");
        assert_eq!(e.kind(), "mysql");
        assert!(e.to_string().contains("no live MetaDB connection"), "{e}");
    }
}
