//! Connection phase and COM_CHANGE_USER: greet with a fresh scramble, read the client's
//! response, switch it to mysql_native_password if it chose another method, and check the
//! answer against the verifier the catalog stores (never a password).

use std::sync::Arc;

use mysql_async::consts::CapabilityFlags;
use mysql_common::collations::{Collation, CollationId};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Identity, Session, BACKEND_COLLATION};
use crate::audit::ProxyEvent;
use crate::error::{codes, ClientError, SessionError};
use crate::metrics;
use crate::protocol::handshake::{self, ChangeUser, HandshakeResponse, NATIVE_PASSWORD};
use crate::protocol::packet::{PacketReader, PacketWriter};
use crate::protocol::wire;
use crate::server::Shared;

/// An authenticated client.
pub struct Hello {
    pub id: Arc<Identity>,
    pub scramble: [u8; 20],
    pub capabilities: CapabilityFlags,
    pub collation: u16,
    pub database: Option<String>,
    /// Counts against the tenant's client connection limit while the session lives.
    pub admission: crate::limits::Admission,
}

/// Character sets in which a multi-byte character can end in 0x5C (backslash): with them,
/// escaping done by a client can be undone by the server. Refused outright.
const UNSAFE_CHARSETS: &[&str] = &["big5", "gbk", "sjis", "cp932", "gb18030"];
/// Character sets no client may use (see [`check_collation`]).
const NOT_CLIENT_CHARSETS: &[&str] = &["ucs2", "utf16", "utf16le", "utf32"];

/// Checks the collation a client asked for.
fn check_collation(id: u16) -> Result<(), ClientError> {
    let charset = Collation::from(CollationId::from(id)).charset().to_string();
    // Not ASCII-compatible: the server refuses them as a client character set, at login as
    // in SET NAMES; taken here, every statement would fail when the session's character set
    // is applied to a backend connection.
    if NOT_CLIENT_CHARSETS.contains(&charset.as_str()) {
        return Err(ClientError::new(
            codes::ER_WRONG_VALUE_FOR_VAR,
            "42000",
            format!("Variable 'character_set_client' can't be set to the value of '{charset}'"),
        ));
    }
    if UNSAFE_CHARSETS.contains(&charset.as_str()) {
        return Err(ClientError::new(
            codes::ER_UNKNOWN_CHARSET,
            "42000",
            format!("Character set '{charset}' is not allowed through OctoDB"),
        ));
    }
    Ok(())
}

/// The statement that gives a backend connection the client's collation, when it differs from
/// the pools' default. Names come from the fixed collation table, never from the client.
pub fn set_names_for(collation: u16) -> Option<String> {
    // 0: unknown; 255: utf8mb4_0900_ai_ci, which MariaDB serves as its utf8mb4 default.
    if collation == BACKEND_COLLATION || collation == 0 || collation == 255 {
        return None;
    }
    let c = Collation::from(CollationId::from(collation));
    if c.id() == CollationId::UNKNOWN_COLLATION_ID {
        return None;
    }
    Some(format!(
        "SET NAMES {} COLLATE {}",
        c.charset(),
        c.collation()
    ))
}

/// Reads the client's auth response again after an auth switch when it chose another method.
async fn native_response<R, W>(
    reader: &mut PacketReader<R>,
    writer: &mut PacketWriter<W>,
    plugin: Option<&str>,
    response: Vec<u8>,
    scramble: &[u8; 20],
) -> Result<Vec<u8>, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let native = plugin.is_none_or(|p| p == NATIVE_PASSWORD);
    if native && (response.len() == 20 || response.is_empty()) {
        return Ok(response);
    }
    let at = writer.begin_packet();
    handshake::auth_switch(writer.payload(), scramble);
    writer.end_packet(at).await?;
    writer.flush().await?;
    let (_, answer) = reader.read(Some(writer.seq())).await?;
    writer.set_seq(writer.seq().wrapping_add(1));
    Ok(answer)
}

/// Counts a failed login and samples it into the audit log (`reason` is a fixed tag; the
/// client's answer is never recorded).
/// `user`'s login from the catalog, read on the main runtime when called from a worker
/// (`crate::timers::catalog`).
pub(super) async fn catalog_login(
    catalog: &octodb_catalog::Catalog,
    user: &str,
) -> Result<Option<octodb_catalog::Login>, octodb_catalog::CatalogError> {
    let (catalog, user) = (catalog.clone(), user.to_owned());
    crate::timers::catalog(async move { catalog.login(&user).await }).await
}

fn failed_login(
    shared: &Shared,
    tenant_id: Option<u64>,
    user: &str,
    code: u16,
    reason: &'static str,
) {
    metrics::auth_failure(reason);
    shared
        .audit
        .record(ProxyEvent::auth_failed(tenant_id, user, code, reason));
}

/// Looks the user up and checks the answer. Unknown users and wrong passwords get the same
/// error, so the reply does not tell which names exist.
///
/// A login the catalog confirmed since it last changed (`crate::logins`) accepts a matching
/// answer without a catalog round trip; anything else is decided by the catalog.
async fn authenticate(
    shared: &Shared,
    user: &str,
    peer: Option<std::net::IpAddr>,
    scramble: &[u8; 20],
    response: &[u8],
) -> Result<Arc<Identity>, SessionError> {
    let logins = &shared.followers.logins;
    if let Some(id) = logins.get(user) {
        if octodb_catalog::verify_native_password(scramble, response, &id.login.verifier) {
            return Ok(id);
        }
        logins.forget(user);
    }
    let generation = logins.generation();
    let login = catalog_login(&shared.catalog, user).await?;
    let Some(login) = login else {
        failed_login(shared, None, user, codes::ER_ACCESS_DENIED, "unknown_user");
        shared.limits.login_failed(user, peer, None);
        return Err(SessionError::AuthFailed(user.to_string()));
    };
    let tenant = Some(login.tenant_id);
    if !octodb_catalog::verify_native_password(scramble, response, &login.verifier) {
        shared.limits.login_failed(user, peer, tenant);
        failed_login(
            shared,
            tenant,
            user,
            codes::ER_ACCESS_DENIED,
            "bad_password",
        );
        return Err(SessionError::AuthFailed(user.to_string()));
    }
    if login.tenant_status != octodb_catalog::TenantStatus::Ready {
        // Only after the password checked out, so this tells nothing to a stranger.
        failed_login(
            shared,
            tenant,
            user,
            codes::ER_ACCESS_DENIED,
            "tenant_not_ready",
        );
        return Err(SessionError::Refused(ClientError::new(
            codes::ER_ACCESS_DENIED,
            "28000",
            format!(
                "Access denied for user '{user}': tenant '{}' is {}",
                login.tenant_name, login.tenant_status
            ),
        )));
    }
    let id = Arc::new(Identity::new(login));
    logins.insert(generation, &id);
    Ok(id)
}

/// [`authenticate`] under the failed-login limits (`crate::limits`): while `user` or `peer`
/// has failed too often, refused at once, without looking at the answer (failures are counted
/// by `authenticate`).
async fn gated_authenticate(
    shared: &Shared,
    user: &str,
    peer: Option<std::net::IpAddr>,
    scramble: &[u8; 20],
    response: &[u8],
) -> Result<Arc<Identity>, SessionError> {
    if let Err((ce, tenant)) = shared.limits.check_login(user, peer) {
        failed_login(shared, tenant, user, ce.code, "throttled");
        return Err(SessionError::Refused(ce));
    }
    let id = authenticate(shared, user, peer, scramble, response).await?;
    shared.limits.login_succeeded(user, peer);
    Ok(id)
}

/// Refuses a login that asks for a database that is not the tenant's (a failed login).
fn check_database(shared: &Shared, id: &Identity, db: Option<&str>) -> Result<(), ClientError> {
    match db {
        Some(db) if id.mapping.physical(db).is_none() => {
            let r = octodb_policy::Refusal::database(&id.login.username, db);
            let (tenant, user) = (Some(id.login.tenant_id), &id.login.username);
            failed_login(shared, tenant, user, r.code, "foreign_database");
            Err(ClientError::new(r.code, r.sqlstate, r.message))
        }
        _ => Ok(()),
    }
}

/// The connection phase, up to and including the OK packet.
pub async fn handshake<R, W>(
    reader: &mut PacketReader<R>,
    writer: &mut PacketWriter<W>,
    shared: &Shared,
    connection_id: u32,
    peer: Option<std::net::IpAddr>,
) -> Result<Hello, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let scramble = handshake::new_scramble();
    writer.set_seq(0);
    let at = writer.begin_packet();
    handshake::greeting(
        writer.payload(),
        &shared.server_version,
        connection_id,
        &scramble,
        BACKEND_COLLATION as u8,
    );
    writer.end_packet(at).await?;
    writer.flush().await?;

    let (seq, payload) = reader.read(Some(1)).await?;
    writer.set_seq(seq.wrapping_add(1));
    let resp = HandshakeResponse::parse(&payload)?;
    let answer = native_response(
        reader,
        writer,
        resp.auth_plugin.as_deref(),
        resp.auth_response.clone(),
        &scramble,
    )
    .await?;
    let id = gated_authenticate(shared, &resp.user, peer, &scramble, &answer).await?;
    let collation = u16::from(resp.collation);
    let checks = check_collation(collation)
        .and_then(|_| check_database(shared, &id, resp.database.as_deref()));
    if let Err(ce) = checks {
        metrics::refusal(ce.code);
        return Err(SessionError::Refused(ce));
    }
    let admission = shared
        .limits
        .admit(&shared.catalog, &id.login, peer)
        .await
        .map_err(SessionError::Refused)?;
    let at = writer.begin_packet();
    wire::ok_packet(
        writer.payload(),
        0,
        0,
        mysql_async::consts::StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        0,
        b"",
    );
    writer.end_packet(at).await?;
    writer.flush().await?;
    Ok(Hello {
        id,
        scramble,
        // Multi-statements are never on, whatever the client asked for.
        capabilities: resp.capabilities & handshake::server_capabilities(),
        collation,
        database: resp.database,
        admission,
    })
}

/// Sends the error that ends a failed connection phase.
pub async fn refuse<W: AsyncWrite + Unpin>(writer: &mut PacketWriter<W>, e: &SessionError) {
    if let Some(ce) = e.to_client() {
        let at = writer.begin_packet();
        wire::err_packet(writer.payload(), ce.code, &ce.sqlstate, &ce.message);
        if writer.end_packet(at).await.is_ok() {
            let _ = writer.flush().await;
        }
    }
    writer.shutdown().await;
}

impl<R, W> Session<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    /// COM_CHANGE_USER: full re-authentication. On failure the connection ends, as MySQL
    /// does; on success the session starts afresh as the new user.
    pub(super) async fn com_change_user(&mut self, body: &[u8]) -> Result<(), SessionError> {
        let req = ChangeUser::parse(body, self.client_caps)?;
        let answer = native_response(
            &mut self.reader,
            &mut self.writer,
            req.auth_plugin.as_deref(),
            req.auth_response.clone(),
            &self.scramble,
        )
        .await?;
        let peer = self.limit.peer();
        let id = gated_authenticate(&self.shared, &req.user, peer, &self.scramble, &answer).await?;
        let collation = req.collation.unwrap_or(self.collation);
        if let Err(ce) = check_collation(collation)
            .and_then(|_| check_database(&self.shared, &id, req.database.as_deref()))
        {
            return Err(SessionError::Refused(ce));
        }
        if id.login.tenant_id != self.limit.tenant_id() {
            let shared = self.shared.clone();
            self.limit = shared
                .limits
                .admit(&shared.catalog, &id.login, peer)
                .await
                .map_err(SessionError::Refused)?;
        }
        self.release_backend().await;
        self.stmts.clear();
        self.long_data_total = 0;
        self.tx = super::tx::TxState::default();
        self.follow = self.shared.followers.subscribe(&id.login);
        self.id = id;
        self.current_db = req.database;
        self.collation = collation;
        self.state = super::state::SessionState::new(set_names_for(collation));
        super::session_event!(self, info, "changed user");
        self.ok().await
    }
}
