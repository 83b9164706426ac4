//! A client session: handshake and authentication, then the command loop. Each command is
//! one function; statements go through the policy, then to the session's backend connection.

mod auth;
mod cached;
mod follow;
mod lease;
mod local;
mod prepared;
mod query;
pub mod results;
pub mod state;
mod stats;
pub mod tx;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use mysql_async::consts::CapabilityFlags;
use octodb_catalog::Login;
use octodb_policy::{Mapping, Refusal, SessionContext};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::backend::{Lease, Pins};
use crate::error::{codes, ClientError, SessionError};
use crate::follow::Subscription;
use crate::metrics;
use crate::protocol::command;
use crate::protocol::packet::{PacketReader, PacketWriter};
use crate::protocol::wire;
use crate::server::Shared;

use prepared::ClientStmt;
use results::NameMap;
use state::SessionState;
use tx::TxState;

/// Largest command buffer a session keeps between commands.
const KEEP_PACKET: usize = 64 * 1024;

/// Collation of the connections the backend pools open (utf8mb4_general_ci).
pub const BACKEND_COLLATION: u16 = 45;

/// Who the session is and what it may use, from the catalog.
pub struct Identity {
    pub login: Login,
    pub mapping: Mapping,
    /// physical -> logical
    pub names: NameMap,
}

impl Identity {
    pub fn new(login: Login) -> Self {
        let mut mapping = Mapping {
            version: login.mapping_version,
            ..Mapping::default()
        };
        let mut names = NameMap::default();
        for (logical, physical) in &login.databases {
            mapping
                .databases
                .insert(logical.as_str().to_string(), physical.as_str().to_string());
            names.insert(
                physical.as_str().as_bytes().to_vec(),
                logical.as_str().as_bytes().to_vec(),
            );
        }
        Identity {
            login,
            mapping,
            names,
        }
    }
}

/// What the command loop does after a command.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

pub struct Session<R, W> {
    reader: PacketReader<R>,
    writer: PacketWriter<W>,
    shared: Arc<Shared>,
    scramble: [u8; 20],
    client_caps: CapabilityFlags,
    collation: u16,
    /// Shared with the login cache (`crate::logins`); replaced whole, never changed in place.
    id: Arc<Identity>,
    /// Catalog changes for the session's tenant.
    follow: Subscription,
    current_db: Option<String>,
    tx: TxState,
    /// The backend connection this session holds: for a statement or a transaction, longer
    /// while something pins the session to it (see `lease`).
    backend: Option<Lease>,
    /// Session state replayed on whichever connection serves the next statement, and the
    /// session's own statement outcomes.
    state: SessionState,
    /// Why the session holds its connection now (counted in the pinned-sessions gauge).
    pins: Pins,
    stmts: HashMap<u32, ClientStmt>,
    /// Bytes of COM_STMT_SEND_LONG_DATA held across all statements.
    long_data_total: usize,
    next_stmt_id: u32,
    /// The session's place under its tenant's limits (one client connection; statement
    /// tokens and timeout).
    limit: crate::limits::Admission,
    /// The statement being timed, for the metrics and digests (see `stats`).
    clock: stats::StatementClock,
    /// Tables written in the open transaction: marked again in the result cache when it
    /// ends (see `cached`).
    tx_writes: Vec<octodb_policy::TableRef>,
    /// The templates of the shapes this session sent (see `crate::cache`).
    memo: crate::cache::ShapeMemo,
    /// The last command's buffer, reused for the next one.
    packet: Vec<u8>,
    /// The tenant's pool, as this session last used it.
    pool: crate::backend::PoolHandle,
    /// Column definitions as rewritten for this session (see `results`).
    defs: results::DefMemo,
    /// The connection id and the client's address, for the session's log span.
    connection_id: u32,
    peer: Option<SocketAddr>,
}

/// The span of a session's log events (`session_id`, `peer`, and `tenant` and `user` once
/// known). It is made only when an event is logged: a span entered around the whole session
/// would cost every connection its formatted fields and every poll an enter and an exit.
pub(crate) fn session_span(
    connection_id: u32,
    peer: Option<SocketAddr>,
    id: Option<&Identity>,
) -> tracing::Span {
    let peer = peer.map(tracing::field::display);
    match id {
        Some(id) => tracing::info_span!(
            "session",
            session_id = connection_id,
            peer,
            tenant = id.login.tenant_name.as_str(),
            user = id.login.username.as_str()
        ),
        None => tracing::info_span!("session", session_id = connection_id, peer),
    }
}

/// Logs an event inside the session's span: `session_event!(self, info, field = .., "..")`.
macro_rules! session_event {
    ($session:expr, $level:ident, $($event:tt)+) => {{
        // Field by field, so that it can be used while another field is borrowed.
        let _span =
            $crate::session::session_span($session.connection_id, $session.peer, Some(&$session.id))
                .entered();
        tracing::$level!($($event)+);
    }};
}
use session_event;

/// Serves one client connection from the greeting to the end.
pub async fn serve<R, W>(
    reader: R,
    writer: W,
    shared: Arc<Shared>,
    connection_id: u32,
    peer: Option<SocketAddr>,
    shutdown: CancellationToken,
) -> Result<(), SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = PacketReader::new(reader, shared.config.max_packet_size);
    let mut writer = PacketWriter::new(writer);
    let peer_ip = peer.map(|p| p.ip());
    let hello =
        match auth::handshake(&mut reader, &mut writer, &shared, connection_id, peer_ip).await {
            Ok(hello) => hello,
            Err(e) => {
                auth::refuse(&mut writer, &e).await;
                session_ended(connection_id, peer, None, &e);
                return Err(e);
            }
        };
    let follow = shared.followers.subscribe(&hello.id.login);
    let clock = stats::StatementClock::new(shared.tenant_labels.slot(
        hello.id.login.tenant_id,
        hello.id.login.tenant_name.as_str(),
    ));
    let mut session = Session {
        reader,
        writer,
        shared,
        scramble: hello.scramble,
        client_caps: hello.capabilities,
        collation: hello.collation,
        id: hello.id,
        follow,
        current_db: hello.database,
        tx: TxState::default(),
        backend: None,
        state: SessionState::new(auth::set_names_for(hello.collation)),
        pins: Pins::default(),
        stmts: HashMap::new(),
        long_data_total: 0,
        next_stmt_id: 1,
        limit: hello.admission,
        clock,
        tx_writes: Vec::new(),
        memo: crate::cache::ShapeMemo::default(),
        packet: Vec::new(),
        pool: crate::backend::PoolHandle::default(),
        defs: results::DefMemo::default(),
        connection_id,
        peer,
    };
    let result = session.command_loop(shutdown).await;
    session.release_backend().await;
    if let Err(e) = &result {
        session_ended(connection_id, peer, Some(&session.id), e);
    }
    result
}

fn session_ended(
    connection_id: u32,
    peer: Option<SocketAddr>,
    id: Option<&Identity>,
    e: &SessionError,
) {
    let _span = session_span(connection_id, peer, id).entered();
    tracing::info!(kind = e.kind(), error = %e, "session ended with an error");
}

impl<R, W> Session<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    async fn command_loop(&mut self, shutdown: CancellationToken) -> Result<(), SessionError> {
        // The waits for shutdown and for an eviction are made once, not once per command
        // (the eviction wait again when the session's identity changes), and polled only
        // while the client has sent nothing: a command already there is read first. The
        // eviction is also checked after every command (`follow_catalog`), and shutdown
        // before reading the next one.
        let stop = shutdown.cancelled();
        tokio::pin!(stop);
        let mut watched = self.id.clone();
        let mut evicted = Box::pin(self.follow.watch(&self.id.login.username));
        loop {
            if !Arc::ptr_eq(&watched, &self.id) {
                watched = self.id.clone();
                evicted = Box::pin(self.follow.watch(&self.id.login.username));
            }
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let mut payload = std::mem::take(&mut self.packet);
            let read = tokio::select! {
                biased;
                r = self.reader.read_into(None, &mut payload) => r,
                e = &mut evicted => {
                    // Not an answer to any command: numbered as the answer to the next one,
                    // so a client reads it (and its reason) when it next sends something.
                    self.writer.set_seq(1);
                    self.evict(&e).await;
                    return Ok(());
                }
                _ = &mut stop => return Ok(()),
            };
            let seq = match read {
                Ok(seq) => seq,
                Err(crate::protocol::packet::PacketError::Closed) => return Ok(()),
                Err(e) => {
                    let e = SessionError::from(e);
                    self.fatal(&e).await;
                    return Err(e);
                }
            };
            self.writer.set_seq(seq.wrapping_add(1));
            if let Some(e) = self.follow_catalog().await {
                // The answer to the command just read.
                self.evict(&e).await;
                return Ok(());
            }
            let flow = match self.dispatch(&payload).await {
                Ok(flow) => flow,
                Err(e) => {
                    self.fatal(&e).await;
                    return Err(e);
                }
            };
            // Kept for the next command, unless a large one made it large.
            if payload.capacity() <= KEEP_PACKET {
                self.packet = payload;
            }
            self.writer.flush().await?;
            if flow == Flow::Quit {
                return Ok(());
            }
        }
    }

    async fn dispatch(&mut self, payload: &[u8]) -> Result<Flow, SessionError> {
        let Some((&cmd, body)) = payload.split_first() else {
            self.error(ClientError::new(
                codes::ER_MALFORMED_PACKET,
                "HY000",
                "empty command packet",
            ))
            .await?;
            return Ok(Flow::Continue);
        };
        metrics::command(cmd);
        match cmd {
            command::QUIT => return Ok(Flow::Quit),
            command::QUERY => self.com_query(body).await?,
            command::INIT_DB => self.com_init_db(body).await?,
            command::PING => self.ok().await?,
            command::FIELD_LIST => self.com_field_list(body).await?,
            command::STMT_PREPARE => self.com_stmt_prepare(body).await?,
            command::STMT_EXECUTE => self.com_stmt_execute(body).await?,
            command::STMT_SEND_LONG_DATA => self.com_stmt_send_long_data(body)?,
            command::STMT_CLOSE => self.com_stmt_close(body)?,
            command::STMT_RESET => self.com_stmt_reset(body).await?,
            command::SET_OPTION => self.com_set_option(body).await?,
            command::RESET_CONNECTION => self.com_reset_connection().await?,
            command::CHANGE_USER => self.com_change_user(body).await?,
            other => {
                session_event!(self, debug, command = other, "unknown command refused");
                self.error(ClientError::new(
                    codes::ER_UNKNOWN_COM,
                    "08S01",
                    format!("Unknown command 0x{other:02x}: not supported by OctoDB"),
                ))
                .await?;
            }
        }
        Ok(Flow::Continue)
    }

    /// The policy's decision for a statement, through the session's templates and the shared
    /// decision cache.
    fn decide(&mut self, sql: &str, prepared: bool) -> crate::cache::Outcome {
        let ctx = SessionContext {
            mapping: &self.id.mapping,
            current_db: self.current_db.as_deref(),
            user: &self.id.login.username,
        };
        self.shared
            .decisions
            .check(self.id.login.tenant_id, sql, &ctx, prepared, &mut self.memo)
    }

    /// Sends an OK packet with the session's status.
    async fn ok(&mut self) -> Result<(), SessionError> {
        let at = self.writer.begin_packet();
        wire::ok_packet(self.writer.payload(), 0, 0, self.tx.flags(), 0, b"");
        self.writer.end_packet(at).await?;
        Ok(())
    }

    /// Sends an ERR packet; the session goes on. A packet the failure left half made (a
    /// column definition or row that could not be read) is dropped: the error takes its place.
    async fn error(&mut self, e: ClientError) -> Result<(), SessionError> {
        self.statement_failed(e.code);
        self.writer.abandon_open();
        let at = self.writer.begin_packet();
        wire::err_packet(self.writer.payload(), e.code, &e.sqlstate, &e.message);
        self.writer.end_packet(at).await?;
        Ok(())
    }

    /// Answers a command whose fixed part is cut short (a statement id, an option) with the
    /// server's error for it; nothing was sent or changed, so the session goes on.
    async fn malformed(&mut self, m: wire::Malformed) -> Result<(), SessionError> {
        self.error(ClientError::new(
            codes::ER_MALFORMED_PACKET,
            "HY000",
            m.to_string(),
        ))
        .await
    }

    async fn refusal(&mut self, r: Refusal) -> Result<(), SessionError> {
        metrics::refusal_for(r.code, "command");
        self.error(ClientError::new(r.code, r.sqlstate, r.message))
            .await
    }

    /// Tells the client why the session ends, if it can still be told.
    async fn fatal(&mut self, e: &SessionError) {
        if let Some(ce) = e.to_client() {
            let _ = self.error(ce).await;
        }
        let _ = self.writer.flush().await;
        self.writer.shutdown().await;
    }

    async fn com_init_db(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let db = String::from_utf8_lossy(body).into_owned();
        if self.id.mapping.physical(&db).is_some() {
            self.current_db = Some(db);
            self.ok().await
        } else {
            self.refusal(Refusal::database(&self.id.login.username, &db))
                .await
        }
    }

    async fn com_set_option(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let option = match wire::Cursor::new(body).u16("option") {
            Ok(option) => option,
            Err(m) => return self.malformed(m).await,
        };
        match option {
            // MYSQL_OPTION_MULTI_STATEMENTS_OFF: already off.
            1 => {
                let at = self.writer.begin_packet();
                wire::eof_packet(self.writer.payload(), self.tx.flags(), 0);
                self.writer.end_packet(at).await?;
                Ok(())
            }
            0 => {
                self.refusal(Refusal::not_allowed("Enabling multi-statements"))
                    .await
            }
            _ => {
                self.error(ClientError::new(
                    codes::ER_UNKNOWN_COM,
                    "08S01",
                    "Unknown COM_SET_OPTION value",
                ))
                .await
            }
        }
    }

    /// COM_RESET_CONNECTION: a clean session for the same user and database.
    async fn com_reset_connection(&mut self) -> Result<(), SessionError> {
        self.release_backend().await;
        self.stmts.clear();
        self.long_data_total = 0;
        self.tx = TxState::default();
        self.state = SessionState::new(auth::set_names_for(self.collation));
        self.ok().await
    }
}
