//! Errors of a client session, each knowing what the client is told and whether the
//! connection survives it.

use crate::protocol::handshake::HandshakeError;
use crate::protocol::packet::PacketError;
use crate::protocol::wire::Malformed;

/// A MySQL error to send to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub code: u16,
    pub sqlstate: String,
    pub message: String,
}

impl ClientError {
    pub fn new(code: u16, sqlstate: &str, message: impl Into<String>) -> Self {
        ClientError {
            code,
            sqlstate: sqlstate.to_string(),
            message: message.into(),
        }
    }
}

/// The MySQL error codes OctoDB itself sends (a test pins them).
pub mod codes {
    pub const ER_ACCESS_DENIED: u16 = 1045;
    pub const ER_DBACCESS_DENIED: u16 = 1044;
    pub const ER_UNKNOWN_COM: u16 = 1047;
    pub const ER_HANDSHAKE: u16 = 1043;
    pub const ER_NET_PACKET_TOO_LARGE: u16 = 1153;
    pub const ER_UNKNOWN_STMT_HANDLER: u16 = 1243;
    pub const ER_MALFORMED_PACKET: u16 = 1835;
    pub const ER_UNKNOWN_CHARSET: u16 = 1115;
    pub const ER_WRONG_VALUE_FOR_VAR: u16 = 1231;
    pub const ER_SPECIFIC_ACCESS_DENIED: u16 = 1227;
    pub const ER_UNSUPPORTED_PS: u16 = 1295;
    pub const ER_NO_DB: u16 = 1046;
    pub const ER_UNKNOWN: u16 = 1105;
    pub const ER_CON_COUNT: u16 = 1040;
    pub const ER_CONNECTION_KILLED: u16 = 1927;
}

/// Why a session ended or a command failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Packet(#[from] PacketError),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error(transparent)]
    Malformed(#[from] Malformed),
    #[error("authentication failed for user '{0}'")]
    AuthFailed(String),
    #[error("catalog unavailable: {0}")]
    Catalog(#[from] octodb_catalog::CatalogError),
    #[error("backend error: {0}")]
    Backend(crate::backend::raw::BackendError),
    /// The connection phase ends with this error (unsafe charset, foreign database...).
    #[error("refused: {}", .0.message)]
    Refused(ClientError),
}

impl SessionError {
    /// Bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SessionError::Packet(PacketError::Closed) => "closed",
            SessionError::Packet(PacketError::TooLarge { .. }) => "packet_too_large",
            SessionError::Packet(_) => "io",
            SessionError::Handshake(_) => "handshake",
            SessionError::Malformed(_) => "malformed",
            SessionError::AuthFailed(_) => "auth",
            SessionError::Catalog(_) => "catalog",
            SessionError::Backend(_) => "backend",
            SessionError::Refused(_) => "refused",
        }
    }

    /// What the client is told before the connection closes, if anything can be sent.
    pub fn to_client(&self) -> Option<ClientError> {
        use codes::*;
        match self {
            SessionError::Packet(PacketError::TooLarge { .. }) => Some(ClientError::new(
                ER_NET_PACKET_TOO_LARGE,
                "08S01",
                "Got a packet bigger than 'max_allowed_packet' bytes",
            )),
            SessionError::Packet(_) => None,
            SessionError::Handshake(e) => Some(ClientError::new(
                ER_HANDSHAKE,
                "08S01",
                format!("Bad handshake: {e}"),
            )),
            SessionError::Malformed(e) => Some(ClientError::new(
                ER_MALFORMED_PACKET,
                "HY000",
                e.to_string(),
            )),
            SessionError::AuthFailed(user) => Some(ClientError::new(
                ER_ACCESS_DENIED,
                "28000",
                format!("Access denied for user '{user}' (using password: YES)"),
            )),
            SessionError::Catalog(_) => Some(ClientError::new(
                ER_UNKNOWN,
                "HY000",
                "OctoDB catalog is unavailable, try again later",
            )),
            SessionError::Refused(ce) => Some(ce.clone()),
            SessionError::Backend(_) => Some(ClientError::new(
                ER_UNKNOWN,
                "HY000",
                "Lost the tenant's backend connection",
            )),
        }
    }
}
