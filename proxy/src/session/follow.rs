//! How an open session applies catalog changes (see `crate::follow`): it ends when its tenant
//! or user goes away or the tenant stops being ready, and reloads its name mapping before the
//! next command when the mapping version moved, so dropped databases are refused and added
//! ones can be used.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{session_event, Identity, Session};
use crate::error::{codes, ClientError};
use crate::follow::Eviction;

/// What the client is told when the catalog ends its session.
pub fn eviction_error(e: &Eviction, tenant: &str) -> ClientError {
    let why = match e {
        Eviction::TenantGone => format!("tenant '{tenant}' was deleted"),
        Eviction::TenantNotReady(status) => format!("tenant '{tenant}' is {status}"),
        Eviction::UserGone => "the user was deleted".to_string(),
    };
    ClientError::new(
        codes::ER_CONNECTION_KILLED,
        "70100",
        format!("Connection closed by OctoDB: {why}"),
    )
}

impl<R, W> Session<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    /// Ends the session for a catalog change: an error packet, then the socket closes.
    pub(super) async fn evict(&mut self, e: &Eviction) {
        session_event!(self, info, reason = ?e, "session closed after a catalog change");
        let ce = eviction_error(e, &self.id.login.tenant_name);
        let _ = self.error(ce).await;
        let _ = self.writer.flush().await;
        self.writer.shutdown().await;
    }

    /// Applies what the catalog published since the last command. Returns why the session
    /// must end instead, if it must.
    pub(super) async fn follow_catalog(&mut self) -> Option<Eviction> {
        if let Some(e) = self.follow.eviction(&self.id.login.username) {
            return Some(e);
        }
        match self.follow.mapping_version() {
            Some(v) if v > self.id.mapping.version => self.reload_mapping().await,
            _ => None,
        }
    }

    /// Reads the login again and takes its databases. On a catalog failure the session keeps
    /// its mapping and tries again before the next command.
    async fn reload_mapping(&mut self) -> Option<Eviction> {
        let login =
            match super::auth::catalog_login(&self.shared.catalog, &self.id.login.username).await {
                Ok(Some(login)) if login.tenant_id == self.id.login.tenant_id => login,
                Ok(_) => return Some(Eviction::UserGone),
                Err(e) => {
                    session_event!(self, warn, error = %e, "reloading the name mapping failed");
                    return None;
                }
            };
        if login.tenant_status != octodb_catalog::TenantStatus::Ready {
            return Some(Eviction::TenantNotReady(login.tenant_status));
        }
        let id = Identity::new(login);
        if let Some(db) = &self.current_db {
            if id.mapping.physical(db).is_none() {
                session_event!(self, info, database = %db, "the current database was dropped");
                self.current_db = None;
            }
        }
        self.id = std::sync::Arc::new(id);
        session_event!(
            self,
            info,
            mapping_version = self.id.mapping.version,
            "name mapping reloaded"
        );
        None
    }
}
