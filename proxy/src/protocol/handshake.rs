//! The connection phase: the server greeting, the client's handshake response, the auth
//! switch request, and COM_CHANGE_USER.

use mysql_common::constants::{CapabilityFlags, StatusFlags};

use super::wire::{Cursor, Malformed};

/// The only authentication method OctoDB verifies: the client proves it knows the password
/// whose SHA1(SHA1()) the catalog stores.
pub const NATIVE_PASSWORD: &str = "mysql_native_password";

/// What OctoDB offers. Multi-statements, LOCAL INFILE and compression are never offered;
/// CLIENT_DEPRECATE_EOF is not offered either (MariaDB does not offer it), so result sets end
/// with EOF packets.
pub fn server_capabilities() -> CapabilityFlags {
    CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_FOUND_ROWS
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_INTERACTIVE
        | CapabilityFlags::CLIENT_IGNORE_SIGPIPE
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_RESERVED
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_CONNECT_ATTRS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
}

/// A fresh random 20-byte scramble. Bytes are printable and never NUL, as clients expect.
pub fn new_scramble() -> [u8; 20] {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut s = [0u8; 20];
    for b in &mut s {
        *b = rng.gen_range(0x21u8..0x7F);
    }
    s
}

/// The initial handshake packet (protocol version 10).
pub fn greeting(
    buf: &mut Vec<u8>,
    server_version: &str,
    connection_id: u32,
    scramble: &[u8; 20],
    collation: u8,
) {
    let caps = server_capabilities().bits();
    buf.push(10);
    buf.extend_from_slice(server_version.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&connection_id.to_le_bytes());
    buf.extend_from_slice(&scramble[..8]);
    buf.push(0);
    buf.extend_from_slice(&(caps as u16).to_le_bytes());
    buf.push(collation);
    buf.extend_from_slice(&StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits().to_le_bytes());
    buf.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    buf.push(21);
    buf.extend_from_slice(&[0u8; 10]);
    buf.extend_from_slice(&scramble[8..]);
    buf.push(0);
    buf.extend_from_slice(NATIVE_PASSWORD.as_bytes());
    buf.push(0);
}

/// An auth switch request asking the client to answer `scramble` with mysql_native_password.
pub fn auth_switch(buf: &mut Vec<u8>, scramble: &[u8; 20]) {
    buf.push(0xFE);
    buf.extend_from_slice(NATIVE_PASSWORD.as_bytes());
    buf.push(0);
    buf.extend_from_slice(scramble);
    buf.push(0);
}

/// The client's handshake response (HandshakeResponse41).
#[derive(Debug, Clone)]
pub struct HandshakeResponse {
    pub capabilities: CapabilityFlags,
    pub max_packet: u32,
    pub collation: u8,
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub auth_plugin: Option<String>,
}

/// Why a handshake response is unacceptable.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(transparent)]
    Malformed(#[from] Malformed),
    #[error("clients older than protocol 4.1 are not supported")]
    OldProtocol,
    #[error("TLS was requested but this OctoDB proxy does not offer it")]
    TlsRequested,
    #[error("user and database names must be UTF-8")]
    NotUtf8,
}

fn utf8(b: &[u8]) -> Result<String, HandshakeError> {
    String::from_utf8(b.to_vec()).map_err(|_| HandshakeError::NotUtf8)
}

impl HandshakeResponse {
    pub fn parse(payload: &[u8]) -> Result<Self, HandshakeError> {
        let mut c = Cursor::new(payload);
        let caps = CapabilityFlags::from_bits_truncate(c.u32("capabilities")?);
        if !caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
            return Err(HandshakeError::OldProtocol);
        }
        let max_packet = c.u32("max packet size")?;
        let collation = c.u8("collation")?;
        c.bytes(23, "filler")?;
        if caps.contains(CapabilityFlags::CLIENT_SSL) && c.remaining() == 0 {
            return Err(HandshakeError::TlsRequested);
        }
        let user = utf8(c.null_str())?;
        let auth_response = if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
        {
            c.lenenc_bytes("auth response")?.to_vec()
        } else if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
            let n = c.u8("auth response length")?;
            c.bytes(usize::from(n), "auth response")?.to_vec()
        } else {
            c.null_str().to_vec()
        };
        let mut database = None;
        if caps.contains(CapabilityFlags::CLIENT_CONNECT_WITH_DB) && c.remaining() > 0 {
            let db = c.null_str();
            if !db.is_empty() {
                database = Some(utf8(db)?);
            }
        }
        let mut auth_plugin = None;
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) && c.remaining() > 0 {
            auth_plugin = Some(String::from_utf8_lossy(c.null_str()).into_owned());
        }
        Ok(HandshakeResponse {
            capabilities: caps,
            max_packet,
            collation,
            user,
            auth_response,
            database,
            auth_plugin,
        })
    }
}

/// COM_CHANGE_USER (after the command byte).
#[derive(Debug, Clone)]
pub struct ChangeUser {
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub collation: Option<u16>,
    pub auth_plugin: Option<String>,
}

impl ChangeUser {
    pub fn parse(payload: &[u8], client_caps: CapabilityFlags) -> Result<Self, HandshakeError> {
        let mut c = Cursor::new(payload);
        let user = utf8(c.null_str())?;
        let auth_response = if client_caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
            let n = c.u8("auth response length")?;
            c.bytes(usize::from(n), "auth response")?.to_vec()
        } else {
            c.null_str().to_vec()
        };
        let db = c.null_str();
        let database = if db.is_empty() { None } else { Some(utf8(db)?) };
        let collation = if c.remaining() >= 2 {
            Some(c.u16("collation")?)
        } else {
            None
        };
        let auth_plugin =
            if client_caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) && c.remaining() > 0 {
                Some(String::from_utf8_lossy(c.null_str()).into_owned())
            } else {
                None
            };
        Ok(ChangeUser {
            user,
            auth_response,
            database,
            collation,
            auth_plugin,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn scrambles_differ_and_have_no_nul() {
        let a = new_scramble();
        let b = new_scramble();
        assert_ne!(a, b);
        assert!(a.iter().all(|&x| x != 0));
    }

    #[test]
    fn truncated_handshake_responses_are_errors() {
        let full = {
            let mut b = Vec::new();
            let caps = (CapabilityFlags::CLIENT_PROTOCOL_41
                | CapabilityFlags::CLIENT_SECURE_CONNECTION
                | CapabilityFlags::CLIENT_CONNECT_WITH_DB)
                .bits();
            b.extend_from_slice(&caps.to_le_bytes());
            b.extend_from_slice(&(1u32 << 24).to_le_bytes());
            b.push(45);
            b.extend_from_slice(&[0; 23]);
            b.extend_from_slice(b"alice\0");
            b.push(20);
            b.extend_from_slice(&[7; 20]);
            b.extend_from_slice(b"app\0");
            b
        };
        let ok = HandshakeResponse::parse(&full).unwrap();
        assert_eq!(ok.user, "alice");
        assert_eq!(ok.database.as_deref(), Some("app"));
        assert_eq!(ok.auth_response.len(), 20);
        for cut in 0..full.len() - 4 {
            // Never panics; short forms are either errors or parse with fewer fields.
            let _ = HandshakeResponse::parse(&full[..cut]);
        }
        assert!(HandshakeResponse::parse(&full[..40]).is_err());
    }
}
