//! COM_QUERY and COM_FIELD_LIST: policy first, then the statement the policy rendered runs on
//! the session's backend connection and its result streams back.

use mysql_async::prelude::Queryable;
use octodb_policy::{Decision, Forward, Local, Refusal, StatementKind};
use tokio::io::{AsyncRead, AsyncWrite};

use super::cached::CacheStep;
use super::results::{self, Done, StreamError};
use super::Session;
use crate::audit::ProxyEvent;
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
                let _ = conn.query_drop("DO 0").await;
            }
            let outcome = match conn.query_iter(sql.as_ref()).await {
                Ok(mut qr) => {
                    let status = self.tx.after(&f.kind).flags();
                    let remap = (f.remap_names || f.kind == StatementKind::ShowWarnings)
                        .then_some(&self.id.names);
                    match capture.as_mut() {
                        Some(c) => {
                            results::stream_captured(
                                &mut self.writer,
                                &mut qr,
                                &self.id.names,
                                status,
                                c,
                            )
                            .await
                        }
                        None => {
                            results::stream(
                                &mut self.writer,
                                &mut qr,
                                false,
                                &self.id.names,
                                remap,
                                status,
                            )
                            .await
                        }
                    }
                }
                Err(e) => {
                    if !retried && self.may_retry(&e) {
                        self.drop_broken();
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
                    .and_then(|c| c.last_ok_packet())
                    .map(|ok| ok.status_flags())
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
        let cols = match conn.query_iter(f.sql.as_str()).await {
            Ok(mut qr) => {
                let cols = qr.columns();
                match qr.next().await {
                    Ok(_) => Ok(cols),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match cols {
            Ok(cols) => {
                self.repin();
                let cols = cols.unwrap_or_default();
                results::write_columns(&mut self.writer, &cols, &self.id.names, status).await?;
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
