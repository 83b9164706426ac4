//! A minimal raw MySQL client for tests that must send bytes no well-behaved client sends:
//! reads the greeting, authenticates with mysql_native_password, and exchanges packets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use anyhow::{bail, Result};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RawClient {
    pub stream: TcpStream,
    pub scramble: Vec<u8>,
    pub connection_id: u32,
    pub server_version: String,
}

/// mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
pub fn native_answer(scramble: &[u8], password: &str) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha1::digest(password.as_bytes());
    let h2 = Sha1::digest(h1);
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(h2);
    let h3 = h.finalize();
    h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect()
}

impl RawClient {
    /// Connects and reads the greeting (does not authenticate).
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        let mut c = RawClient {
            stream,
            scramble: Vec::new(),
            connection_id: 0,
            server_version: String::new(),
        };
        let (_, g) = c.read_packet().await?;
        if g.first() != Some(&10) {
            bail!("not a v10 greeting: {g:?}");
        }
        let nul = g[1..].iter().position(|&b| b == 0).unwrap() + 1;
        c.server_version = String::from_utf8_lossy(&g[1..nul]).into_owned();
        let mut p = nul + 1;
        c.connection_id = u32::from_le_bytes(g[p..p + 4].try_into().unwrap());
        p += 4;
        let mut scramble = g[p..p + 8].to_vec();
        p += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
        scramble.extend_from_slice(&g[p..p + 12]);
        c.scramble = scramble;
        Ok(c)
    }

    /// Connects and authenticates; returns the server's answer packet (OK or ERR).
    pub async fn login(
        addr: SocketAddr,
        user: &str,
        password: &str,
        db: Option<&str>,
    ) -> Result<(Self, Vec<u8>)> {
        let mut c = Self::connect(addr).await?;
        let p = c.handshake_response(user, password, db);
        c.write_packet(1, &p).await?;
        let (_, reply) = c.read_packet().await?;
        Ok((c, reply))
    }

    /// The payload of a well-formed handshake response to this connection's greeting.
    pub fn handshake_response(&self, user: &str, password: &str, db: Option<&str>) -> Vec<u8> {
        Self::handshake_payload(&self.scramble, user, password, db)
    }

    /// A well-formed handshake response to a greeting carrying `scramble`
    /// (mysql_native_password, no CLIENT_DEPRECATE_EOF).
    pub fn handshake_payload(
        scramble: &[u8],
        user: &str,
        password: &str,
        db: Option<&str>,
    ) -> Vec<u8> {
        // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD | CONNECT_WITH_DB
        let mut caps: u32 = 0x200 | 0x8000 | 0x80000 | 0x1;
        if db.is_some() {
            caps |= 0x8;
        }
        let mut p = Vec::new();
        p.extend_from_slice(&caps.to_le_bytes());
        p.extend_from_slice(&(16u32 << 20).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        let answer = native_answer(scramble, password);
        p.push(answer.len() as u8);
        p.extend_from_slice(&answer);
        if let Some(db) = db {
            p.extend_from_slice(db.as_bytes());
            p.push(0);
        }
        p.extend_from_slice(b"mysql_native_password\0");
        p
    }

    /// A well-formed COM_CHANGE_USER (command byte included) answering this connection's
    /// greeting, with the client collation `collation`.
    pub fn change_user_command(
        &self,
        user: &str,
        password: &str,
        db: &str,
        collation: u16,
    ) -> Vec<u8> {
        let answer = native_answer(&self.scramble, password);
        let mut p = vec![0x11];
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        p.push(answer.len() as u8);
        p.extend_from_slice(&answer);
        p.extend_from_slice(db.as_bytes());
        p.push(0);
        p.extend_from_slice(&collation.to_le_bytes());
        p.extend_from_slice(b"mysql_native_password\0");
        p
    }

    pub async fn write_packet(&mut self, seq: u8, payload: &[u8]) -> Result<()> {
        let len = payload.len() as u32;
        let mut buf = len.to_le_bytes()[..3].to_vec();
        buf.push(seq);
        buf.extend_from_slice(payload);
        self.stream.write_all(&buf).await?;
        Ok(())
    }

    /// Reads one wire packet (no reassembly).
    pub async fn read_packet(&mut self) -> Result<(u8, Vec<u8>)> {
        let mut h = [0u8; 4];
        self.stream.read_exact(&mut h).await?;
        let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
        let mut p = vec![0; len];
        self.stream.read_exact(&mut p).await?;
        Ok((h[3], p))
    }

    /// Sends a command (sequence 0) and returns the first answer packet.
    pub async fn command(&mut self, payload: &[u8]) -> Result<Vec<u8>> {
        self.write_packet(0, payload).await?;
        Ok(self.read_packet().await?.1)
    }

    /// Whether the server closed the connection (reads until EOF or a short timeout).
    pub async fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1024];
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(2), self.stream.read(&mut b))
                .await
            {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// The error code of an ERR packet, if it is one.
pub fn err_code(p: &[u8]) -> Option<u16> {
    (p.first() == Some(&0xFF) && p.len() >= 3).then(|| u16::from_le_bytes([p[1], p[2]]))
}
