//! The binary protocol: COM_STMT_PREPARE, EXECUTE, SEND_LONG_DATA, RESET and CLOSE.
//!
//! A statement is checked by the policy once, at prepare; the session keeps the rendered text
//! and executes it through the backend connection's statement cache, so it is re-prepared
//! transparently on another connection. Statement ids are the session's own: an id the
//! session did not hand out is unknown, whatever another session uses.

use std::sync::Arc;

use mysql_async::Value;
use octodb_policy::{Decision, Refusal, StatementKind};
use tokio::io::{AsyncRead, AsyncWrite};

use super::results::{self, Done, StreamError};
use super::state::StatementFacts;
use super::Session;
use crate::backend::raw::{BackendError, ColumnDef, Response};
use crate::backend::BackendConn;
use crate::error::{codes, ClientError, SessionError};
use crate::protocol::stmt::{self, ParamType};
use crate::protocol::wire;

/// A statement prepared by this session.
pub struct ClientStmt {
    sql: std::sync::Arc<str>,
    kind: StatementKind,
    remap_names: bool,
    facts: StatementFacts,
    /// The digest of the prepared text, for each execution's statistics.
    digest: std::sync::Arc<octodb_policy::Digest>,
    /// Tables it may write, marked in the result cache after each execution.
    writes: std::sync::Arc<[octodb_policy::TableRef]>,
    num_params: usize,
    /// As the client last bound them; shared with the execution in flight.
    types: Option<Arc<[ParamType]>>,
    long_data: Vec<Option<Vec<u8>>>,
    /// Bytes of long data held for the next execution.
    pending: usize,
}

/// Most statements one session may hold (as max_prepared_stmt_count guards the server).
const MAX_STATEMENTS: usize = 16_382;

fn unknown_statement(id: u32, what: &str) -> ClientError {
    ClientError::new(
        codes::ER_UNKNOWN_STMT_HANDLER,
        "HY000",
        format!("Unknown prepared statement handler ({id}) given to {what}"),
    )
}

impl<R, W> Session<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    pub(super) async fn com_stmt_prepare(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let Ok(sql) = std::str::from_utf8(body) else {
            return self
                .refusal(Refusal::syntax("the statement is not valid UTF-8"))
                .await;
        };
        let decision = self.decide(sql, true);
        let f = match &*decision {
            Ok(Decision::Forward(f)) => f,
            Ok(Decision::Local(_)) => {
                return self
                    .error(ClientError::new(
                        codes::ER_UNSUPPORTED_PS,
                        "HY000",
                        "This command is not supported in the prepared statement protocol",
                    ))
                    .await;
            }
            Err(r) => return self.policy_refusal(sql, r.clone()).await,
        };
        if self.stmts.len() >= MAX_STATEMENTS {
            return self
                .error(ClientError::new(
                    1461,
                    "42000",
                    "Can't create more than max_prepared_stmt_count statements",
                ))
                .await;
        }
        let mut retried = false;
        let prepared = loop {
            if let Err(ce) = self.acquire().await {
                return self.error(ce).await;
            }
            let Some(conn) = self.backend.as_mut().and_then(|l| l.conn()) else {
                return Ok(());
            };
            let defs = conn
                .prepared(f.sql.as_str())
                .await
                .map(|s| (s.params.clone(), s.columns.clone()));
            match defs {
                Ok(defs) => break defs,
                Err(e) if !retried && self.may_retry(&e) => {
                    self.drop_broken();
                    retried = true;
                }
                Err(e) => {
                    let ce = self.backend_failure(e);
                    self.repin();
                    return self.error(ce).await;
                }
            }
        };
        // The statement stays in that connection's cache; any connection prepares it again
        // when it first runs it.
        self.repin();
        let id = self.next_stmt_id;
        self.next_stmt_id = self.next_stmt_id.wrapping_add(1).max(1);
        let (params, columns) = prepared;
        let status = self.tx.flags();
        let at = self.writer.begin_packet();
        stmt::prepare_ok(
            self.writer.payload(),
            id,
            columns.len() as u16,
            params.len() as u16,
            0,
        );
        self.writer.end_packet(at).await?;
        for defs in [&params, &columns] {
            if defs.is_empty() {
                continue;
            }
            for def in defs.iter() {
                // Parsed when the backend sent it: cannot fail here.
                let Ok(def) = ColumnDef::parse(def) else {
                    continue;
                };
                let at = self.writer.begin_packet();
                results::write_def(self.writer.payload(), &def, &self.id.names);
                self.writer.end_packet(at).await?;
            }
            let at = self.writer.begin_packet();
            wire::eof_packet(self.writer.payload(), status, 0);
            self.writer.end_packet(at).await?;
        }
        self.stmts.insert(
            id,
            ClientStmt {
                sql: f.sql.as_str().into(),
                kind: f.kind.clone(),
                remap_names: f.remap_names,
                facts: f.into(),
                digest: f.digest.clone(),
                writes: f.writes.clone(),
                num_params: params.len(),
                types: None,
                long_data: vec![None; params.len()],
                pending: 0,
            },
        );
        Ok(())
    }

    pub(super) async fn com_stmt_execute(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let id = match stmt::statement_id(body) {
            Ok(id) => id,
            Err(m) => return self.malformed(m).await,
        };
        let Some(st) = self.stmts.get_mut(&id) else {
            return self
                .error(unknown_statement(id, "mysqld_stmt_execute"))
                .await;
        };
        let exec = match stmt::parse_execute(
            body,
            st.num_params,
            st.types.as_deref(),
            &mut st.long_data,
        ) {
            Ok(e) => e,
            // The client and the proxy disagree about the statement: say so, keep going.
            Err(m) => return self.malformed(m).await,
        };
        if let Some(types) = exec.new_types {
            st.types = Some(types.into());
        }
        let declared = st.types.clone();
        st.long_data.iter_mut().for_each(|d| *d = None);
        self.long_data_total -= std::mem::take(&mut st.pending);
        let sql = st.sql.clone();
        let kind = st.kind.clone();
        let remap_names = st.remap_names;
        let digest = st.digest.clone();
        let writes = st.writes.clone();
        self.state.begin(st.facts);
        self.statement_begins(&kind, &digest);
        if let Err(ce) = self.limit.statement().await {
            return self.error(ce).await;
        }
        let params = exec.params;
        // With the session's own values written in, the text differs from the cached one:
        // prepared (and cached, least recently used closed first) like any other.
        let run_sql = self
            .limit
            .with_timeout(&kind, self.with_session_values(&sql));
        if self.answers_transaction_edge(&kind, &run_sql) {
            return self.finish(&kind, &sql, Ok(Done::default())).await;
        }
        let mut retried = false;
        loop {
            if let Err(ce) = self.acquire().await {
                return self.error(ce).await;
            }
            let Some(conn) = self.backend.as_mut().and_then(|l| l.conn()) else {
                return Ok(());
            };
            let types = declared.as_deref().unwrap_or_default();
            let outcome = match run_execute(conn, &run_sql, &params, types).await {
                Ok(first) => {
                    let status = self.tx.after(&kind).flags();
                    let remap = remap_names.then_some(&self.id.names);
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
                        None,
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
            let result = self.finish(&kind, &sql, outcome).await;
            self.cache_writes(&writes);
            return result;
        }
    }

    /// COM_STMT_SEND_LONG_DATA has no answer, even for an unknown statement. All long data a
    /// session holds counts against the maximum packet size, so a client cannot make the proxy
    /// buffer without bound across parameters and statements.
    pub(super) fn com_stmt_send_long_data(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let mut c = wire::Cursor::new(body);
        let id = c.u32("statement id")?;
        let param = usize::from(c.u16("parameter")?);
        let data = c.rest();
        let max = self.shared.config.max_packet_size;
        let Some(st) = self.stmts.get_mut(&id) else {
            return Ok(());
        };
        let Some(slot) = st.long_data.get_mut(param) else {
            return Ok(());
        };
        let total = self.long_data_total + data.len();
        if total > max {
            return Err(SessionError::Packet(
                crate::protocol::packet::PacketError::TooLarge { size: total, max },
            ));
        }
        slot.get_or_insert_with(Vec::new).extend_from_slice(data);
        st.pending += data.len();
        self.long_data_total = total;
        Ok(())
    }

    /// COM_STMT_CLOSE has no answer.
    pub(super) fn com_stmt_close(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let id = stmt::statement_id(body)?;
        if let Some(st) = self.stmts.remove(&id) {
            self.long_data_total -= st.pending;
        }
        Ok(())
    }

    pub(super) async fn com_stmt_reset(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let id = match stmt::statement_id(body) {
            Ok(id) => id,
            Err(m) => return self.malformed(m).await,
        };
        match self.stmts.get_mut(&id) {
            Some(st) => {
                st.long_data.iter_mut().for_each(|d| *d = None);
                self.long_data_total -= std::mem::take(&mut st.pending);
                self.ok().await
            }
            None => self.error(unknown_statement(id, "mysqld_stmt_reset")).await,
        }
    }
}

/// Executes `sql` on `conn` (prepared there first if it is not yet) and reads the first packet
/// of the answer: a failure up to here has sent the client nothing yet.
async fn run_execute(
    conn: &mut BackendConn,
    sql: &str,
    params: &[Value],
    declared: &[ParamType],
) -> Result<Response, BackendError> {
    let (id, num_params) = conn.statement(sql).await?;
    if num_params != params.len() {
        return Err(BackendError::Server {
            code: 1210,
            state: "HY000".into(),
            message: "Incorrect arguments to mysqld_stmt_execute".into(),
        });
    }
    conn.raw.send_execute(id, params, declared).await?;
    conn.raw.read_response().await
}
