//! COM_QUERY and COM_FIELD_LIST: policy first, then the statement the policy rendered runs on
//! the session's backend connection and its result streams back.

use mysql_async::consts::StatusFlags;
use octodb_policy::{Decision, Forward, Local, Refusal, StatementKind};
use tokio::io::{AsyncRead, AsyncWrite};

use super::cached::CacheStep;
use super::results::{self, Done, StreamError};
use super::Session;
use crate::audit::ProxyEvent;
use crate::backend::raw::{BackendError, RawConn, Response};
use crate::error::{ClientError, SessionError};
use crate::metrics;
use crate::protocol::wire;

impl<R, W> Session<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    pub(super) async fn com_query(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let Ok(sql) = std::str::from_utf8(body) else {
            return self
                .refusal(Refusal::syntax("the statement is not valid UTF-8"))
                .await;
        };
        let decision = self.decide(sql, false);
        match &*decision {
            Err(r) => self.policy_refusal(sql, r.clone()).await,
            Ok(Decision::Local(Local::Use(db))) => {
                self.current_db = Some(db.clone());
                self.ok().await
            }
            Ok(Decision::Local(Local::ShowDatabases { like })) => {
                self.show_databases(like.as_deref()).await
            }
            Ok(Decision::Forward(f)) => self.forward_text(f).await,
        }
    }

    /// Answers a statement the policy refused: counted (by `refusal`), sampled into the audit
    /// log with its first keyword (never its text), then the error.
    pub(super) async fn policy_refusal(
        &mut self,
        sql: &str,
        r: Refusal,
    ) -> Result<(), SessionError> {
        let login = &self.id.login;
        self.shared.audit.record(ProxyEvent::refused(
            login.tenant_id,
            &login.username,
            r.code,
            sql,
        ));
        self.statement_refused(sql, &r);
        self.error(ClientError::new(r.code, r.sqlstate, r.message))
            .await
    }

    /// Runs a statement with the text protocol and streams its result. A connection found
    /// dead when the statement is sent (killed while idle in the pool) is replaced once.
    async fn forward_text(&mut self, f: &Forward) -> Result<(), SessionError> {
        self.state.begin(f.into());
        self.statement_begins(&f.kind, &f.digest);
        if let Err(ce) = self.limit.statement().await {
            return self.error(ce).await;
        }
        let sql = self
            .limit
            .with_timeout(&f.kind, self.with_session_values(&f.sql));
        if self.answers_transaction_edge(&f.kind, &sql) {
            return self.finish(&f.kind, &f.sql, Ok(Done::default())).await;
        }
        // With no connection held, the previous statement left no warnings: a connection
        // whose last statement (another session's) did must not show them.
        let clear_warnings = f.kind == StatementKind::ShowWarnings && self.backend.is_none();
        let step = match self.cache_step(f) {
            CacheStep::Hit(entry) => return self.answer_cached(f, &entry).await,
            step => step,
        };
        let mut capture = self.capture_for(&step);
        let mut retried = false;
        loop {
            if let Err(ce) = self.acquire().await {
                return self.error(ce).await;
            }
            let Some(conn) = self.backend.as_mut().and_then(|l| l.conn()) else {
                return Ok(());
            };
            if clear_warnings {
                let _ = conn.raw.query_drop("DO 0").await;
            }
            let outcome = match run_query(&mut conn.raw, sql.as_bytes()).await {
                Ok(first) => {
                    let status = self.tx.after(&f.kind).flags();
                    let remap = (f.remap_names || f.kind == StatementKind::ShowWarnings)
                        .then_some(&self.id.names);
                    results::relay(
                        &mut self.writer,
                        &mut conn.raw,
                        first,
                        results::Names {
                            id: &self.id,
                            memo: &mut self.defs,
                        },
                        remap,
                        status,
                        capture.as_mut(),
                    )
                    .await
                }
                Err(e) => {
                    if !retried && self.may_retry(&e) {
                        self.retry_elsewhere();
                        retried = true;
                        continue;
                    }
                    Err(StreamError::Backend(e))
                }
            };
            self.cache_fill(step, capture, &outcome);
            let result = self.finish(&f.kind, &f.sql, outcome).await;
            self.cache_writes(&f.writes);
            return result;
        }
    }

    /// Writes the terminator of a result (EOF or OK) with the session's new status, or the
    /// backend's error in its place; then records what the statement left and gives the
    /// connection back if nothing pins the session to it.
    pub(super) async fn finish(
        &mut self,
        kind: &StatementKind,
        sql: &str,
        outcome: Result<Done, StreamError>,
    ) -> Result<(), SessionError> {
        match outcome {
            Ok(done) => {
                self.tx = self.tx.after(kind);
                if let Some(flags) = self
                    .backend
                    .as_ref()
                    .and_then(|l| l.conn_ref())
                    .map(|c| StatusFlags::from_bits_truncate(c.raw.status()))
                {
                    self.tx.sync(flags);
                }
                let status = self.tx.flags();
                let at = self.writer.begin_packet();
                if done.result_set {
                    wire::eof_packet(self.writer.payload(), status, done.warnings);
                } else {
                    wire::ok_packet(
                        self.writer.payload(),
                        done.affected_rows,
                        done.last_insert_id,
                        status,
                        done.warnings,
                        &done.info,
                    );
                }
                self.settle(kind, sql, Ok(&done));
                let rows = if done.result_set {
                    done.rows
                } else {
                    done.affected_rows
                };
                self.statement_ends(metrics::OUTCOME_OK, rows);
                self.writer.end_packet(at).await?;
                Ok(())
            }
            Err(StreamError::Client(e)) => {
                // The result was cut short: the connection is in no state to serve anyone.
                self.drop_broken();
                Err(e.into())
            }
            Err(StreamError::Backend(e)) => {
                let ce = self.backend_failure(e);
                crate::limits::backend_error(ce.code);
                self.statement_ends(metrics::error_outcome(ce.code), 0);
                self.settle(kind, sql, Err(()));
                self.error(ce).await
            }
        }
    }

    /// COM_FIELD_LIST (deprecated, still sent by some clients): the columns of one table.
    pub(super) async fn com_field_list(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let mut c = wire::Cursor::new(body);
        let table = String::from_utf8_lossy(c.null_str()).into_owned();
        let sql = format!("SELECT * FROM `{}` LIMIT 0", table.replace('`', "``"));
        let decision = self.decide(&sql, false);
        let f = match &*decision {
            Ok(Decision::Forward(f)) => f,
            Ok(Decision::Local(_)) => {
                return self.refusal(Refusal::not_allowed("COM_FIELD_LIST")).await;
            }
            Err(r) => return self.policy_refusal(&sql, r.clone()).await,
        };
        if let Err(ce) = self.acquire().await {
            return self.error(ce).await;
        }
        let Some(conn) = self.backend.as_mut().and_then(|l| l.conn()) else {
            return Ok(());
        };
        let status = self.tx.flags();
        let cols = field_list(&mut conn.raw, f.sql.as_bytes(), &self.id.names).await;
        match cols {
            Ok(cols) => {
                self.repin();
                for col in &cols {
                    self.writer.write_packet(col).await?;
                }
                let at = self.writer.begin_packet();
                wire::eof_packet(self.writer.payload(), status, 0);
                self.writer.end_packet(at).await?;
                Ok(())
            }
            Err(e) => {
                let ce: ClientError = self.backend_failure(e);
                self.repin();
                self.error(ce).await
            }
        }
    }
}

/// Sends a text query and reads the first packet of its answer: a failure up to here (a
/// connection that died while idle) has sent the client nothing yet.
async fn run_query(conn: &mut RawConn, sql: &[u8]) -> Result<Response, BackendError> {
    conn.send_query(sql).await?;
    conn.read_response().await
}

/// The column definitions of a `LIMIT 0` query, written for the client (logical names), the
/// rest of the answer read and dropped.
async fn field_list(
    conn: &mut RawConn,
    sql: &[u8],
    names: &results::NameMap,
) -> Result<Vec<Vec<u8>>, BackendError> {
    let mut cols = Vec::new();
    if let Response::Columns(n) = run_query(conn, sql).await? {
        for _ in 0..n {
            let def = crate::backend::raw::ColumnDef::parse(conn.next_packet().await?)?;
            let mut buf = Vec::new();
            results::write_def(&mut buf, &def, names);
            cols.push(buf);
        }
    }
    conn.drain().await?;
    Ok(cols)
}
