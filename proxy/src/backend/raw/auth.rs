//! Connection phase: the server greeting (HandshakeV10), our HandshakeResponse41, and the
//! authentication exchange (mysql_native_password, auth switch, and the fast path of
//! caching_sha2_password; full caching_sha2 authentication needs TLS or RSA, which we do not do).

use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncWrite};

use super::frame::Framed;
use super::packets::{parse_err, parse_ok, OkInfo};
use super::{BackendError, ConnectOpts};
use crate::protocol::wire::{put_lenenc_bytes, Cursor};

pub const CLIENT_LONG_PASSWORD: u32 = 0x0000_0001;
pub const CLIENT_FOUND_ROWS: u32 = 0x0000_0002;
pub const CLIENT_LONG_FLAG: u32 = 0x0000_0004;
pub const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
pub const CLIENT_TRANSACTIONS: u32 = 0x0000_2000;
pub const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
pub const CLIENT_MULTI_RESULTS: u32 = 0x0002_0000;
pub const CLIENT_PS_MULTI_RESULTS: u32 = 0x0004_0000;
pub const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
pub const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x0020_0000;

/// Capabilities the server must offer.
const REQUIRED: u32 = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;

/// utf8mb4_general_ci: the same id on MariaDB and MySQL.
pub const CHARSET_UTF8MB4_GENERAL_CI: u8 = 45;

const NATIVE: &[u8] = b"mysql_native_password";
const CACHING_SHA2: &[u8] = b"caching_sha2_password";

/// What the greeting told us.
#[derive(Debug, Clone)]
pub struct Greeting {
    pub version: (u16, u16, u16),
    pub connection_id: u32,
    pub capabilities: u32,
    pub nonce: Vec<u8>,
    pub plugin: Vec<u8>,
}

/// Parses the server's first packet (an ERR when the server refuses us outright).
pub fn parse_greeting(payload: &[u8]) -> Result<Greeting, BackendError> {
    if payload.first() == Some(&0xFF) {
        return Err(parse_err(payload));
    }
    let mut c = Cursor::new(payload);
    let protocol = c.u8("greeting protocol")?;
    if protocol != 10 {
        return Err(BackendError::Protocol(format!(
            "unsupported handshake protocol {protocol}"
        )));
    }
    let version = parse_version(c.null_str());
    let connection_id = c.u32("greeting connection id")?;
    let mut nonce = c.bytes(8, "greeting scramble")?.to_vec();
    c.u8("greeting filler")?;
    let caps_low = c.u16("greeting capabilities")?;
    c.u8("greeting charset")?;
    c.u16("greeting status")?;
    let caps_high = c.u16("greeting capabilities")?;
    let capabilities = u32::from(caps_low) | u32::from(caps_high) << 16;
    let auth_len = usize::from(c.u8("greeting auth data length")?);
    c.bytes(10, "greeting reserved")?;
    if capabilities & REQUIRED != REQUIRED {
        return Err(BackendError::Protocol(format!(
            "server lacks protocol 4.1 / secure connection / plugin auth (capabilities {capabilities:#x})"
        )));
    }
    let part2 = auth_len.saturating_sub(8).max(13);
    let tail = c.bytes(part2, "greeting scramble part 2")?;
    nonce.extend_from_slice(tail.strip_suffix(&[0]).unwrap_or(tail));
    let plugin = c.null_str().to_vec();
    Ok(Greeting {
        version,
        connection_id,
        capabilities,
        nonce,
        plugin,
    })
}

/// "5.5.5-10.11.6-MariaDB-log" -> (10, 11, 6); missing parts are 0.
pub fn parse_version(raw: &[u8]) -> (u16, u16, u16) {
    let raw = raw.strip_prefix(b"5.5.5-").unwrap_or(raw);
    let mut parts = [0u16; 3];
    let mut it = raw.split(|&b| b == b'.');
    for p in &mut parts {
        let Some(piece) = it.next() else { break };
        let digits = piece.iter().take_while(|b| b.is_ascii_digit());
        *p = digits.fold(0u16, |n, d| {
            n.saturating_mul(10).saturating_add(u16::from(d - b'0'))
        });
    }
    (parts[0], parts[1], parts[2])
}

/// mysql_native_password: SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))); empty for no password.
pub fn native_scramble(nonce: &[u8], password: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha1::digest(password);
    let h2 = Sha1::digest(h1);
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(h2);
    let h3 = h.finalize();
    h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect()
}

/// caching_sha2_password fast path: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce).
fn sha256_scramble(nonce: &[u8], password: &[u8]) -> Vec<u8> {
    mysql_common::scramble::scramble_sha256(nonce, password)
        .map(|s| s.to_vec())
        .unwrap_or_default()
}

/// The auth response for `plugin`, or an error for a plugin we do not speak.
fn auth_data(plugin: &[u8], nonce: &[u8], password: &str) -> Result<Vec<u8>, BackendError> {
    if plugin == NATIVE {
        Ok(native_scramble(nonce, password.as_bytes()))
    } else if plugin == CACHING_SHA2 {
        Ok(sha256_scramble(nonce, password.as_bytes()))
    } else {
        Err(BackendError::Protocol(format!(
            "backend asks for authentication plugin {:?}, which is not supported \
             (only mysql_native_password and caching_sha2_password)",
            String::from_utf8_lossy(plugin)
        )))
    }
}

/// The capabilities we ask for (intersected with what the server offers).
pub fn client_capabilities(opts: &ConnectOpts, server: u32) -> u32 {
    let mut caps = CLIENT_LONG_PASSWORD
        | CLIENT_LONG_FLAG
        | CLIENT_PROTOCOL_41
        | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION
        | CLIENT_MULTI_RESULTS
        | CLIENT_PS_MULTI_RESULTS
        | CLIENT_PLUGIN_AUTH
        | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
    if opts.found_rows {
        caps |= CLIENT_FOUND_ROWS;
    }
    caps & (server | REQUIRED)
}

/// Reads the greeting, logs in, and returns the greeting and the final OK.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Framed<S>,
    opts: &ConnectOpts,
) -> Result<(Greeting, OkInfo), BackendError> {
    io.read_packet().await?;
    let greeting = parse_greeting(io.payload())?;
    let caps = client_capabilities(opts, greeting.capabilities);
    // A server without a plugin name in the greeting means mysql_native_password.
    let plugin: &[u8] = if greeting.plugin.is_empty() {
        NATIVE
    } else {
        &greeting.plugin
    };
    // An unknown first plugin still gets an answer: the server may switch us to one we know.
    let data = auth_data(plugin, &greeting.nonce, &opts.password).unwrap_or_default();
    let at = io.begin_packet();
    let b = io.wbuf();
    b.extend_from_slice(&caps.to_le_bytes());
    let max = u32::try_from(opts.max_packet).unwrap_or(u32::MAX);
    b.extend_from_slice(&max.to_le_bytes());
    b.push(CHARSET_UTF8MB4_GENERAL_CI);
    b.extend_from_slice(&[0; 23]);
    b.extend_from_slice(opts.user.as_bytes());
    b.push(0);
    if caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        put_lenenc_bytes(b, &data);
    } else {
        b.push(data.len() as u8);
        b.extend_from_slice(&data);
    }
    b.extend_from_slice(plugin);
    b.push(0);
    io.end_packet(at);
    io.flush().await?;
    let plugin = plugin.to_vec();
    let ok = authenticate(io, plugin, opts).await?;
    Ok((greeting, ok))
}

/// Follows the server's answers to our auth response until OK or ERR.
async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Framed<S>,
    mut plugin: Vec<u8>,
    opts: &ConnectOpts,
) -> Result<OkInfo, BackendError> {
    for _ in 0..4 {
        io.read_packet().await?;
        let p = io.payload();
        match p.first() {
            Some(0x00) => return parse_ok(p),
            Some(0xFF) => return Err(parse_err(p)),
            Some(0xFE) => {
                // Auth switch request: plugin name, then the new nonce.
                let mut c = Cursor::new(&p[1..]);
                let name = c.null_str().to_vec();
                let rest = c.rest();
                if name.is_empty() {
                    return Err(BackendError::Protocol(
                        "backend asks for the old (pre-4.1) password hash, not supported".into(),
                    ));
                }
                let nonce = rest.strip_suffix(&[0]).unwrap_or(rest).to_vec();
                let data = auth_data(&name, &nonce, &opts.password)?;
                plugin = name;
                io.push_packet(&data);
                io.flush().await?;
            }
            Some(0x01) if plugin == CACHING_SHA2 => match p.get(1) {
                Some(0x03) => {} // fast auth succeeded: the OK follows
                Some(0x04) => return Err(BackendError::Protocol(
                    "caching_sha2_password full authentication requires TLS or RSA, not supported"
                        .into(),
                )),
                _ => {
                    return Err(BackendError::Protocol(
                        "unexpected caching_sha2_password message".into(),
                    ))
                }
            },
            _ => {
                return Err(BackendError::Protocol(format!(
                    "unexpected packet during authentication (plugin {:?})",
                    String::from_utf8_lossy(&plugin)
                )))
            }
        }
    }
    Err(BackendError::Protocol(
        "authentication did not finish".into(),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;
    use tokio::io::duplex;

    fn opts(password: &str) -> ConnectOpts {
        ConnectOpts {
            host: "test".into(),
            port: 0,
            user: "u".into(),
            password: password.into(),
            found_rows: false,
            max_packet: 1 << 20,
            connect_timeout: Duration::from_secs(1),
        }
    }

    const NONCE: &[u8; 20] = b"abcdefghij0123456789";

    fn greeting(version: &[u8], plugin: &[u8]) -> Vec<u8> {
        let mut g = vec![10];
        g.extend_from_slice(version);
        g.push(0);
        g.extend_from_slice(&77u32.to_le_bytes());
        g.extend_from_slice(&NONCE[..8]);
        g.push(0);
        let caps: u32 = 0xF7FF_FFFF;
        g.extend_from_slice(&(caps as u16).to_le_bytes());
        g.push(45);
        g.extend_from_slice(&2u16.to_le_bytes());
        g.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        g.push(21);
        g.extend_from_slice(&[0; 10]);
        g.extend_from_slice(&NONCE[8..]);
        g.push(0);
        g.extend_from_slice(plugin);
        g.push(0);
        g
    }

    #[test]
    fn greeting_parses_and_strips_the_mariadb_prefix() {
        let g = parse_greeting(&greeting(b"5.5.5-10.11.19-MariaDB-0+deb12u1", NATIVE)).unwrap();
        assert_eq!(g.version, (10, 11, 19));
        assert_eq!(g.connection_id, 77);
        assert_eq!(g.nonce, NONCE);
        assert_eq!(g.plugin, NATIVE);
        assert_eq!(parse_version(b"8.0.36"), (8, 0, 36));
        assert_eq!(parse_version(b"11.4"), (11, 4, 0));
        assert_eq!(parse_version(b""), (0, 0, 0));
    }

    #[test]
    fn truncated_greetings_are_errors() {
        let g = greeting(b"8.0.36", CACHING_SHA2);
        for n in 0..g.len() - 30 {
            assert!(parse_greeting(&g[..n]).is_err(), "prefix {n}");
        }
        let mut err = Vec::new();
        crate::protocol::wire::err_packet(&mut err, 1040, "08004", "Too many connections");
        assert!(matches!(
            parse_greeting(&err),
            Err(BackendError::Server { code: 1040, .. })
        ));
    }

    #[test]
    fn native_scramble_matches_the_reference() {
        let ours = native_scramble(NONCE, b"s3cret");
        let reference = mysql_common::scramble::scramble_native(NONCE, b"s3cret").unwrap();
        assert_eq!(ours, reference.to_vec());
        assert!(native_scramble(NONCE, b"").is_empty());
    }

    /// One step of a fake server: the payload it expects from the client (None: any) and the
    /// packets it answers with.
    type Step = (Option<Vec<u8>>, Vec<Vec<u8>>);

    /// Serves one login on `server` with `script`: for each step the packet it expects the
    /// client's payload to equal (None: any) and the packets it answers with.
    async fn fake_login(
        plugin: &'static [u8],
        password: &str,
        script: Vec<Step>,
    ) -> Result<(Greeting, OkInfo), BackendError> {
        let (client, server) = duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut io = Framed::new(server, 1 << 20);
            io.push_packet(&greeting(b"8.0.36", plugin));
            io.flush().await.unwrap();
            for (expect, answers) in script {
                if io.read_packet().await.is_err() {
                    return;
                }
                if let Some(e) = expect {
                    assert_eq!(io.payload(), e.as_slice());
                }
                for a in answers {
                    io.push_packet(&a);
                }
                io.flush().await.unwrap();
            }
        });
        let mut io = Framed::new(client, 1 << 20);
        let out = handshake(&mut io, &opts(password)).await;
        drop(io);
        server.await.unwrap();
        out
    }

    const OK: [u8; 7] = [0, 0, 0, 2, 0, 0, 0];

    #[tokio::test]
    async fn auth_switch_to_native() {
        let mut switch = vec![0xFE];
        switch.extend_from_slice(NATIVE);
        switch.push(0);
        switch.extend_from_slice(b"ZYXWVUTSRQ9876543210");
        switch.push(0);
        let expected = native_scramble(b"ZYXWVUTSRQ9876543210", b"pw");
        let (g, ok) = fake_login(
            CACHING_SHA2,
            "pw",
            vec![(None, vec![switch]), (Some(expected), vec![OK.to_vec()])],
        )
        .await
        .unwrap();
        assert_eq!(g.connection_id, 77);
        assert_eq!(ok.status, 2);
    }

    #[tokio::test]
    async fn caching_sha2_fast_path_and_full_auth() {
        let (_, ok) = fake_login(
            CACHING_SHA2,
            "pw",
            vec![(None, vec![vec![0x01, 0x03], OK.to_vec()])],
        )
        .await
        .unwrap();
        assert_eq!(ok.warnings, 0);
        let e = fake_login(CACHING_SHA2, "pw", vec![(None, vec![vec![0x01, 0x04]])])
            .await
            .unwrap_err();
        assert!(matches!(e, BackendError::Protocol(ref m) if m.contains("requires TLS or RSA")));
    }

    #[tokio::test]
    async fn unknown_plugin_and_access_denied() {
        let mut switch = vec![0xFE];
        switch.extend_from_slice(b"auth_gssapi_client");
        switch.push(0);
        let e = fake_login(NATIVE, "", vec![(None, vec![switch])])
            .await
            .unwrap_err();
        assert!(matches!(e, BackendError::Protocol(ref m) if m.contains("auth_gssapi_client")));
        let mut denied = Vec::new();
        crate::protocol::wire::err_packet(&mut denied, 1045, "28000", "Access denied");
        let e = fake_login(NATIVE, "x", vec![(None, vec![denied])])
            .await
            .unwrap_err();
        assert!(matches!(e, BackendError::Server { code: 1045, .. }));
    }

    #[tokio::test]
    async fn handshake_response_layout() {
        let (client, server) = duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut io = Framed::new(server, 1 << 20);
            io.push_packet(&greeting(b"10.6.1-MariaDB", NATIVE));
            io.flush().await.unwrap();
            io.read_packet().await.unwrap();
            let p = io.payload().to_vec();
            io.push_packet(&OK);
            io.flush().await.unwrap();
            p
        });
        let mut io = Framed::new(client, 1 << 20);
        let mut o = opts("");
        o.found_rows = true;
        handshake(&mut io, &o).await.unwrap();
        let p = server.await.unwrap();
        let caps = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
        assert_ne!(caps & CLIENT_FOUND_ROWS, 0);
        assert_ne!(caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, 0);
        // No DEPRECATE_EOF, CONNECT_WITH_DB, LOCAL_FILES, SSL, SESSION_TRACK, MULTI_STATEMENTS.
        assert_eq!(
            caps & (0x0100_0000 | 0x8 | 0x80 | 0x800 | 0x0080_0000 | 0x0001_0000),
            0
        );
        assert_eq!(p[8], 45);
        assert_eq!(&p[32..34], b"u\0");
        assert_eq!(p[34], 0, "empty password: empty auth data");
        assert_eq!(&p[35..], b"mysql_native_password\0");
    }
}
