//! A lean backend connection speaking the MySQL client protocol itself (no mysql_async on the
//! statement path), so that result packets can be relayed to the client as they arrive
//! instead of being decoded into values and encoded again.
//!
//! One owner drives a [`RawConn`]: send a command, then read its answer to the end
//! ([`RawConn::read_response`], then [`RawConn::next_packet`] until the result set's final
//! EOF, again while `SERVER_MORE_RESULTS_EXISTS` is set). The connection tracks where it is in
//! a result ([`Phase`]) so that it knows when the server's status flags change and refuses a
//! new command while an answer is still unread. After a [`BackendError::Protocol`] or
//! [`BackendError::Io`] it is broken and every later call fails: discard it.
//!
//! Capabilities: protocol 4.1 without CLIENT_DEPRECATE_EOF (result sets end with EOF packets),
//! multi-results, no multi-statements, no LOCAL INFILE, no TLS, no session tracking, no
//! default database; character set utf8mb4_general_ci.

mod auth;
mod frame;
mod packets;
mod stmt;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::net::Socket;
use mysql_async::Value;

pub use auth::{native_scramble, parse_version, CHARSET_UTF8MB4_GENERAL_CI};
pub use frame::MAX_CHUNK;
pub use packets::{
    classify_row_or_end, is_eof, parse_eof, parse_err, parse_ok, write_column_def, ColumnDef,
    EofInfo, OkInfo, RowOrEnd,
};
pub use stmt::{encode_execute, Prepared, StmtCache};

use frame::Framed;
use stmt::parse_prepare_ok;

/// `SERVER_STATUS_IN_TRANS`.
pub const STATUS_IN_TRANS: u16 = 0x0001;
/// `SERVER_MORE_RESULTS_EXISTS`: another result follows this one.
pub const STATUS_MORE_RESULTS: u16 = 0x0008;

const COM_QUIT: u8 = 0x01;
const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0E;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_RESET_CONNECTION: u8 = 0x1F;

/// Where and how to log in.
#[derive(Debug, Clone)]
pub struct ConnectOpts {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// CLIENT_FOUND_ROWS: UPDATE reports matched rather than changed rows.
    pub found_rows: bool,
    /// Largest packet we accept from the server (and announce to it).
    pub max_packet: usize,
    /// Limit for TCP connect plus login.
    pub connect_timeout: Duration,
}

/// What went wrong on a backend connection.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The server answered with an ERR packet; the connection is still usable.
    #[error("backend error {code} ({state}): {message}")]
    Server {
        code: u16,
        state: String,
        message: String,
    },
    /// A malformed or unexpected packet: the connection is unusable.
    #[error("backend protocol error: {0}")]
    Protocol(String),
    #[error("backend i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl BackendError {
    /// Whether the connection is gone (anything but a server ERR).
    pub fn connection_lost(&self) -> bool {
        !matches!(self, BackendError::Server { .. })
    }

    /// The error as one that ends the connection: a server ERR (`what` failed) becomes a
    /// protocol error, for a failure after which the connection cannot be trusted.
    pub fn as_lost(self, what: &str) -> BackendError {
        match self {
            BackendError::Server { code, message, .. } => {
                BackendError::Protocol(format!("{what} failed ({code}: {message})"))
            }
            other => other,
        }
    }

    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            BackendError::Server { .. } => "server",
            BackendError::Protocol(_) => "protocol",
            BackendError::Io(_) => "io",
        }
    }
}

/// The first packet of the answer to a query or an execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// No result set (check `status & STATUS_MORE_RESULTS` for another answer).
    Ok(OkInfo),
    /// A result set with this many columns follows: the column definitions, an EOF, the rows,
    /// an EOF; read them with [`RawConn::next_packet`].
    Columns(u64),
    /// The server asked for a LOCAL INFILE: refused (an empty file was sent) and its final
    /// OK is in [`RawConn::last_ok`].
    LocalInfile,
}

/// Where a connection is in the answer to the last command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing is pending: a command may be sent.
    Idle,
    /// A (further) answer follows: call [`RawConn::read_response`].
    Response { binary: bool },
    /// Column definitions follow (`left` of them, then an EOF).
    Columns { left: u64, binary: bool },
    /// Rows follow, then an EOF.
    Rows { binary: bool },
}

/// A backend connection (see the module documentation).
pub struct RawConn {
    io: Framed<Socket>,
    version: (u16, u16, u16),
    connection_id: u32,
    last_ok: Option<OkInfo>,
    status: u16,
    phase: Phase,
    broken: bool,
    /// Queries sent ahead of the next command, whose OKs come before its answer.
    queued: u8,
}

impl RawConn {
    /// Connects and logs in (no default database).
    pub async fn connect(opts: &ConnectOpts) -> Result<RawConn, BackendError> {
        let login = async {
            let stream = Socket::connect(&opts.host, opts.port).await?;
            let mut io = Framed::new(stream, opts.max_packet);
            let (greeting, ok) = auth::handshake(&mut io, opts).await?;
            Ok::<_, BackendError>(RawConn {
                io,
                version: greeting.version,
                connection_id: greeting.connection_id,
                status: ok.status,
                last_ok: Some(ok),
                phase: Phase::Idle,
                broken: false,
                queued: 0,
            })
        };
        match crate::timers::timeout(opts.connect_timeout, login).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "connecting to {}:{} took longer than {:?}",
                    opts.host, opts.port, opts.connect_timeout
                ),
            ))),
        }
    }

    /// The server version from the greeting (MariaDB's "5.5.5-" prefix stripped).
    pub fn server_version(&self) -> (u16, u16, u16) {
        self.version
    }

    pub fn connection_id(&self) -> u32 {
        self.connection_id
    }

    /// The last OK seen, or the last EOF's status and warnings.
    pub fn last_ok(&self) -> Option<&OkInfo> {
        self.last_ok.as_ref()
    }

    /// The server status flags last reported by an OK or EOF.
    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn in_transaction(&self) -> bool {
        self.status & STATUS_IN_TRANS != 0
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// While rows are being read: the whole row packets already received, headers included,
    /// and how many (see `Framed::take_buffered_rows`); what ends the rows is left to
    /// [`Self::next_packet`]. Lets a relay copy a run of rows at once.
    pub fn buffered_rows(&mut self) -> Result<(&[u8], usize), BackendError> {
        let Phase::Rows { binary } = self.phase else {
            return Ok((&[], 0));
        };
        let taken = self.io.take_buffered_rows(binary);
        let (range, count) = self.check(taken)?;
        Ok((self.io.taken(range), count))
    }

    /// Whether an error left the connection unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Marks the connection broken on an error that ends it.
    fn check<T>(&mut self, r: Result<T, BackendError>) -> Result<T, BackendError> {
        if let Err(e) = &r {
            if e.connection_lost() {
                self.broken = true;
            }
        }
        r
    }

    fn protocol<T>(&mut self, msg: impl Into<String>) -> Result<T, BackendError> {
        self.broken = true;
        Err(BackendError::Protocol(msg.into()))
    }

    /// Starts a command: the connection must be idle.
    fn begin_command(&mut self) -> Result<(), BackendError> {
        if self.broken {
            return Err(BackendError::Protocol("connection is broken".into()));
        }
        if self.phase != Phase::Idle {
            let phase = self.phase;
            return self.protocol(format!(
                "command sent while the previous answer is unread ({phase:?})"
            ));
        }
        self.io.reset_seq();
        // A server sends nothing between answers: bytes here mean that the last answer was
        // not what it seemed, and whatever follows would be read as the next one's.
        if self.io.unread() > 0 {
            return self.protocol("the server sent bytes after its answer");
        }
        Ok(())
    }

    /// Sends a command byte followed by `arg`, with any queued query ahead of it, whose OK
    /// it then reads.
    async fn command(&mut self, cmd: u8, arg: &[u8]) -> Result<(), BackendError> {
        self.begin_command()?;
        let at = self.io.begin_packet();
        self.io.wbuf().push(cmd);
        self.io.wbuf().extend_from_slice(arg);
        self.io.end_packet(at);
        let r = self.io.flush().await;
        self.check(r)?;
        if self.queued > 0 {
            self.settle_queued().await?;
        }
        Ok(())
    }

    /// Queues a text query that answers with a plain OK (a BEGIN): it goes out in one write
    /// with the next command, which reads its OK before handing over that command's answer.
    /// A queued query that fails ends the connection (the next command ran without it).
    pub fn queue_query(&mut self, sql: &[u8]) -> Result<(), BackendError> {
        self.begin_command()?;
        // One packet each, so that each answer starts at sequence id 1.
        if self.queued == u8::MAX || sql.len() + 1 >= 0xFF_FFFF {
            return self.protocol("query not queued: too many or too long");
        }
        let at = self.io.begin_packet();
        self.io.wbuf().push(COM_QUERY);
        self.io.wbuf().extend_from_slice(sql);
        self.io.end_packet(at);
        self.queued += 1;
        Ok(())
    }

    /// Whether queries wait in the write buffer for the next command.
    pub fn has_queued(&self) -> bool {
        self.queued > 0
    }

    /// Reads the OKs of the queries sent ahead of the command just sent.
    async fn settle_queued(&mut self) -> Result<(), BackendError> {
        let answer = self.io.seq();
        while self.queued > 0 {
            self.queued -= 1;
            self.io.answer_at(1);
            if let Err(e) = self.read_ok().await {
                self.broken = true;
                return Err(e.as_lost("a query sent ahead"));
            }
        }
        self.io.answer_at(answer);
        Ok(())
    }

    async fn read(&mut self) -> Result<(), BackendError> {
        let r = self.io.read_packet().await;
        self.check(r)
    }

    fn note_ok(&mut self, ok: &OkInfo) {
        self.status = ok.status;
        self.last_ok = Some(ok.clone());
    }

    /// Reads the OK that answers a simple command.
    async fn read_ok(&mut self) -> Result<OkInfo, BackendError> {
        self.read().await?;
        let p = self.io.payload();
        match p.first() {
            Some(0x00) => {
                let ok = parse_ok(p);
                let ok = self.check(ok)?;
                self.note_ok(&ok);
                Ok(ok)
            }
            Some(0xFF) => {
                let e = parse_err(p);
                self.check(Err(e))
            }
            _ => self.protocol("expected OK or ERR"),
        }
    }

    /// Sends a text query (COM_QUERY); read the answer with [`Self::read_response`].
    pub async fn send_query(&mut self, sql: &[u8]) -> Result<(), BackendError> {
        self.command(COM_QUERY, sql).await?;
        self.phase = Phase::Response { binary: false };
        Ok(())
    }

    /// Reads the first packet of an answer (after a query, an execute, or an EOF or OK with
    /// `STATUS_MORE_RESULTS`).
    pub async fn read_response(&mut self) -> Result<Response, BackendError> {
        let Phase::Response { binary } = self.phase else {
            return Err(BackendError::Protocol(format!(
                "no answer expected ({:?})",
                self.phase
            )));
        };
        self.read().await?;
        let p = self.io.payload();
        match p.first() {
            Some(0x00) => {
                let ok = parse_ok(p);
                let ok = self.check(ok)?;
                self.note_ok(&ok);
                self.phase = self.after_end(ok.status, binary);
                Ok(Response::Ok(ok))
            }
            Some(0xFF) => {
                let e = parse_err(p);
                self.phase = Phase::Idle;
                self.check(Err(e))
            }
            Some(0xFB) => self.refuse_local_infile(binary).await,
            Some(_) if is_eof(p) => self.protocol("EOF where a result was expected"),
            Some(_) => {
                let n = crate::protocol::wire::Cursor::new(p).lenenc_int("column count");
                match n {
                    Ok(n) if n > 0 => {
                        self.phase = Phase::Columns { left: n, binary };
                        Ok(Response::Columns(n))
                    }
                    _ => self.protocol("bad column count"),
                }
            }
            None => self.protocol("empty packet where a result was expected"),
        }
    }

    fn after_end(&self, status: u16, binary: bool) -> Phase {
        if status & STATUS_MORE_RESULTS != 0 {
            Phase::Response { binary }
        } else {
            Phase::Idle
        }
    }

    /// Answers a LOCAL INFILE request with an empty file, then reads the server's verdict.
    async fn refuse_local_infile(&mut self, binary: bool) -> Result<Response, BackendError> {
        self.io.push_packet(&[]);
        let r = self.io.flush().await;
        self.check(r)?;
        self.phase = Phase::Idle;
        let ok = self.read_ok().await?;
        self.phase = self.after_end(ok.status, binary);
        Ok(Response::LocalInfile)
    }

    /// The next packet of a result set, as sent: a column definition, the EOF after them, a
    /// row, or the final EOF (tell rows from the end with [`classify_row_or_end`]). An ERR
    /// among the rows is returned as [`BackendError::Server`] and ends the answer.
    pub async fn next_packet(&mut self) -> Result<&[u8], BackendError> {
        let (binary, columns_left) = match self.phase {
            Phase::Columns { left, binary } => (binary, Some(left)),
            Phase::Rows { binary } => (binary, None),
            other => {
                return Err(BackendError::Protocol(format!(
                    "no result set is being read ({other:?})"
                )))
            }
        };
        self.read().await?;
        let p = self.io.payload();
        if p.first() == Some(&0xFF) {
            let e = parse_err(p);
            self.phase = Phase::Idle;
            return self.check(Err(e));
        }
        match columns_left {
            Some(0) => {
                let eof = parse_eof(p);
                let eof = self.check(eof)?;
                self.status = eof.status;
                self.phase = Phase::Rows { binary };
            }
            Some(left) => {
                if p.first() == Some(&0xFE) {
                    return self.protocol("EOF among the column definitions");
                }
                self.phase = Phase::Columns {
                    left: left - 1,
                    binary,
                };
            }
            None => {
                if is_eof(p) {
                    let eof = parse_eof(p);
                    let eof = self.check(eof)?;
                    self.status = eof.status;
                    self.last_ok = Some(OkInfo {
                        status: eof.status,
                        warnings: eof.warnings,
                        ..OkInfo::default()
                    });
                    self.phase = self.after_end(eof.status, binary);
                } else if binary && p.first() != Some(&0x00) {
                    return self.protocol("binary row without its 0x00 header");
                }
            }
        }
        Ok(self.io.payload())
    }

    /// Reads and discards whatever remains of the current answer (all result sets).
    pub async fn drain(&mut self) -> Result<(), BackendError> {
        loop {
            match self.phase {
                Phase::Idle => return Ok(()),
                Phase::Response { .. } => {
                    self.read_response().await?;
                }
                Phase::Columns { .. } | Phase::Rows { .. } => {
                    self.next_packet().await?;
                }
            }
        }
    }

    /// Runs a text query and discards its results; returns the last OK (or the status of the
    /// last result set's EOF).
    pub async fn query_drop(&mut self, sql: &str) -> Result<OkInfo, BackendError> {
        self.send_query(sql.as_bytes()).await?;
        self.drain().await?;
        Ok(self.last_ok.clone().unwrap_or_default())
    }

    /// Prepares `sql` (COM_STMT_PREPARE), keeping the parameter and column definitions.
    pub async fn prepare(&mut self, sql: &str) -> Result<Prepared, BackendError> {
        self.command(COM_STMT_PREPARE, sql.as_bytes()).await?;
        self.read().await?;
        let p = self.io.payload();
        if p.first() == Some(&0xFF) {
            let e = parse_err(p);
            return self.check(Err(e));
        }
        let head = parse_prepare_ok(p);
        let (id, columns, params, warnings) = self.check(head)?;
        let mut stmt = Prepared {
            id,
            warnings,
            params: Vec::with_capacity(usize::from(params)),
            columns: Vec::with_capacity(usize::from(columns)),
        };
        for (count, into_params) in [(params, true), (columns, false)] {
            if count == 0 {
                continue;
            }
            for _ in 0..count {
                self.read().await?;
                let def = self.io.payload();
                if let Err(e) = ColumnDef::parse(def) {
                    return self.check(Err(e));
                }
                let def: Box<[u8]> = def.into();
                if into_params {
                    stmt.params.push(def);
                } else {
                    stmt.columns.push(def);
                }
            }
            self.read().await?;
            let eof = parse_eof(self.io.payload());
            let eof = self.check(eof)?;
            self.status = eof.status;
        }
        Ok(stmt)
    }

    /// Sends COM_STMT_EXECUTE (no cursor, parameters bound, strings with the client's
    /// `declared` types, the rest typed by their values: see [`encode_execute`]); read the
    /// answer as for a query, with binary rows.
    pub async fn send_execute(
        &mut self,
        stmt_id: u32,
        params: &[Value],
        declared: &[crate::protocol::stmt::ParamType],
    ) -> Result<(), BackendError> {
        self.begin_command()?;
        let at = self.io.begin_packet();
        encode_execute(self.io.wbuf(), stmt_id, params, declared);
        self.io.end_packet(at);
        let r = self.io.flush().await;
        self.check(r)?;
        if self.queued > 0 {
            self.settle_queued().await?;
        }
        self.phase = Phase::Response { binary: true };
        Ok(())
    }

    /// Closes a prepared statement (COM_STMT_CLOSE: the server does not answer).
    pub async fn close_statement(&mut self, stmt_id: u32) -> Result<(), BackendError> {
        self.command(COM_STMT_CLOSE, &stmt_id.to_le_bytes()).await
    }

    /// COM_RESET_CONNECTION: ends any transaction, drops user variables, temporary tables and
    /// every prepared statement (clear the statement cache too).
    pub async fn reset(&mut self) -> Result<(), BackendError> {
        self.command(COM_RESET_CONNECTION, &[]).await?;
        self.read_ok().await.map(drop)
    }

    pub async fn ping(&mut self) -> Result<(), BackendError> {
        self.command(COM_PING, &[]).await?;
        self.read_ok().await.map(drop)
    }

    /// Sends COM_QUIT and closes the socket.
    /// Moves the socket to the event loop of the runtime this is called on (see
    /// `crate::workers`): its readiness is then reported there, without waking another thread.
    /// Call only between commands (nothing unread); on an error the connection is gone.
    pub fn move_here(self) -> std::io::Result<RawConn> {
        let io = self.io.map_stream(|s| Socket::new(s.into_std()?))?;
        Ok(RawConn { io, ..self })
    }

    pub async fn disconnect(mut self) {
        if !self.broken {
            self.io.reset_seq();
            self.io.push_packet(&[COM_QUIT]);
            let _ = self.io.flush().await;
        }
        self.io.shutdown().await;
    }
}
