//! The PROXY protocol header (versions 1 and 2) from load balancers the operator trusts.
//!
//! Behind a load balancer every client connection comes from the balancer's address, so the
//! per-address limits on failed logins (`crate::limits`) would count every client together:
//! a few wrong passwords from anyone would lock out everyone. A balancer speaking the PROXY
//! protocol (HAProxy's `send-proxy`/`send-proxy-v2`, cloud network load balancers) writes the
//! client's address ahead of the connection's bytes; the proxy reads it from the addresses
//! listed in `proxy_protocol_from`, and only from them (anyone else could claim any address),
//! before it greets the client. From a listed address the header is required: a connection
//! without a valid one within [`HEADER_WAIT`] is closed. A `LOCAL` header (a balancer's health
//! check) or an address family other than TCP over IPv4 or IPv6 keeps the balancer's address.
//!
//! The MySQL client speaks only after the server's greeting, so nothing follows the header
//! before the proxy writes; the header is still read exactly, byte for byte where its length
//! is not known in advance, and never beyond it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// How long a trusted peer has to send its header.
pub const HEADER_WAIT: Duration = Duration::from_secs(5);

/// Version 1's longest line, CRLF included.
const V1_MAX: usize = 107;
/// Version 2's signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Version 2 address blocks longer than this are refused (TLVs included; HAProxy's own limit
/// is far below).
const V2_MAX_LEN: usize = 4096;

/// Why a header was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
    #[error("no PROXY protocol header from a peer that must send one")]
    Missing,
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
}

/// A network the operator trusts to send headers: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `addr` or `addr/prefix`, IPv4 or IPv6.
    pub fn parse(s: &str) -> Result<Network, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Network { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            // An IPv4 client seen on an IPv6 socket.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => masked(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                self.prefix,
                32,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(net: u128, ip: u128, prefix: u8, bits: u32) -> bool {
    let host_bits = bits - u32::from(prefix);
    if host_bits >= 128 {
        return true;
    }
    (net >> host_bits) == (ip >> host_bits)
}

/// Reads the header a trusted peer sends and returns the client's address (`peer` itself for
/// `LOCAL` and unknown families).
pub async fn read<R: AsyncRead + Unpin>(
    reader: &mut R,
    peer: SocketAddr,
) -> Result<SocketAddr, HeaderError> {
    let mut start = [0u8; 6];
    read_all(reader, &mut start).await?;
    if &start == b"PROXY " {
        let mut line = start.to_vec();
        loop {
            if line.len() >= V1_MAX {
                return Err(HeaderError::Malformed("version 1 line too long"));
            }
            let mut byte = [0u8; 1];
            read_all(reader, &mut byte).await?;
            line.push(byte[0]);
            if line.ends_with(b"\r\n") {
                break;
            }
        }
        return parse_v1(&line, peer);
    }
    if start != V2_SIGNATURE[..6] {
        return Err(HeaderError::Missing);
    }
    let mut rest = [0u8; 10];
    read_all(reader, &mut rest).await?;
    if rest[..6] != V2_SIGNATURE[6..] {
        return Err(HeaderError::Missing);
    }
    let len = usize::from(u16::from_be_bytes([rest[8], rest[9]]));
    if len > V2_MAX_LEN {
        return Err(HeaderError::Malformed("version 2 address block too long"));
    }
    let mut block = vec![0u8; len];
    read_all(reader, &mut block).await?;
    parse_v2(rest[6], rest[7], &block, peer)
}

async fn read_all<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> Result<(), HeaderError> {
    match r.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(HeaderError::Missing),
        Err(e) => Err(e.into()),
    }
}

/// `PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n`.
fn parse_v1(line: &[u8], peer: SocketAddr) -> Result<SocketAddr, HeaderError> {
    let bad = HeaderError::Malformed;
    let text = std::str::from_utf8(line).map_err(|_| bad("version 1 line is not text"))?;
    let text = text
        .strip_suffix("\r\n")
        .ok_or(bad("version 1 line without CRLF"))?;
    let words: Vec<&str> = text.split(' ').collect();
    match words.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(peer),
        ["PROXY", family @ ("TCP4" | "TCP6"), src, _dst, sport, _dport] => {
            let ip: IpAddr = src.parse().map_err(|_| bad("bad source address"))?;
            if ip.is_ipv4() != (*family == "TCP4") {
                return Err(bad("source address of the wrong family"));
            }
            let port = parse_port(sport).ok_or(bad("bad source port"))?;
            Ok(SocketAddr::new(ip, port))
        }
        _ => Err(bad("version 1 line of an unknown form")),
    }
}

fn parse_port(s: &str) -> Option<u16> {
    // Decimal without sign or leading zeros, as the specification writes it.
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// The version-2 header after its signature: version and command, family and protocol, and
/// the address block.
fn parse_v2(
    ver_cmd: u8,
    family: u8,
    block: &[u8],
    peer: SocketAddr,
) -> Result<SocketAddr, HeaderError> {
    let bad = HeaderError::Malformed;
    if ver_cmd >> 4 != 2 {
        return Err(bad("version 2 signature with another version"));
    }
    match ver_cmd & 0x0f {
        // LOCAL: the balancer's own connection (a health check).
        0 => return Ok(peer),
        1 => {}
        _ => return Err(bad("unknown version 2 command")),
    }
    match family {
        // TCP over IPv4: source, destination, source port, destination port.
        0x11 => {
            let a = block.get(..12).ok_or(bad("short IPv4 address block"))?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Ok(SocketAddr::new(ip.into(), u16::from_be_bytes([a[8], a[9]])))
        }
        // TCP over IPv6.
        0x21 => {
            let a = block.get(..36).ok_or(bad("short IPv6 address block"))?;
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&a[..16]);
            let ip = Ipv6Addr::from(octets);
            Ok(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([a[32], a[33]]),
            ))
        }
        // UNSPEC, UDP, unix sockets: nothing to take.
        _ => Ok(peer),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn peer() -> SocketAddr {
        "10.0.0.5:40000".parse().unwrap()
    }

    async fn from(bytes: &[u8]) -> Result<SocketAddr, HeaderError> {
        let mut r = bytes;
        read(&mut r, peer()).await
    }

    fn v2(cmd: u8, family: u8, block: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | cmd);
        h.push(family);
        h.extend_from_slice(&u16::try_from(block.len()).unwrap().to_be_bytes());
        h.extend_from_slice(block);
        h
    }

    #[tokio::test]
    async fn version_1_lines() {
        let a = from(b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 3306\r\n").await;
        assert_eq!(a.unwrap(), "203.0.113.7:51234".parse().unwrap());
        let a = from(b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 3306\r\n").await;
        assert_eq!(a.unwrap(), "[2001:db8::1]:4000".parse().unwrap());
        let a = from(b"PROXY UNKNOWN\r\n").await;
        assert_eq!(a.unwrap(), peer());
        for bad in [
            &b"PROXY TCP4 203.0.113.7 10.0.0.1 51234\r\n"[..],
            b"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.1 065536 3306\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.1 65536 3306\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.1 -1 3306\r\n",
            b"PROXY UDP4 203.0.113.7 10.0.0.1 1 3306\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.1 1 3306\n",
        ] {
            assert!(
                matches!(
                    from(bad).await,
                    Err(HeaderError::Malformed(_) | HeaderError::Missing)
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        assert!(matches!(
            from(long.as_bytes()).await,
            Err(HeaderError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn version_2_blocks() {
        let mut v4 = vec![203, 0, 113, 7, 10, 0, 0, 1];
        v4.extend_from_slice(&51234u16.to_be_bytes());
        v4.extend_from_slice(&3306u16.to_be_bytes());
        // TLVs after the addresses are skipped.
        v4.extend_from_slice(&[0x04, 0x00, 0x01, 0xff]);
        let a = from(&v2(1, 0x11, &v4)).await.unwrap();
        assert_eq!(a, "203.0.113.7:51234".parse().unwrap());
        let mut v6 = Vec::new();
        v6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&4000u16.to_be_bytes());
        v6.extend_from_slice(&3306u16.to_be_bytes());
        let a = from(&v2(1, 0x21, &v6)).await.unwrap();
        assert_eq!(a, "[2001:db8::1]:4000".parse().unwrap());
        assert_eq!(from(&v2(0, 0x00, &[])).await.unwrap(), peer(), "LOCAL");
        assert_eq!(from(&v2(1, 0x31, &[0; 216])).await.unwrap(), peer(), "unix");
        assert!(from(&v2(1, 0x11, &v4[..8])).await.is_err(), "short block");
        assert!(from(&v2(2, 0x11, &v4)).await.is_err(), "unknown command");
        let mut wrong_version = v2(1, 0x11, &v4);
        wrong_version[12] = 0x11;
        assert!(from(&wrong_version).await.is_err());
        let mut huge = v2(1, 0x11, &[]);
        huge[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(matches!(from(&huge).await, Err(HeaderError::Malformed(_))));
    }

    #[tokio::test]
    async fn no_header_and_short_reads() {
        // A MySQL client waiting for the greeting sends nothing: the stream ends here.
        assert!(matches!(from(b"").await, Err(HeaderError::Missing)));
        assert!(matches!(
            from(b"GET / HTTP/1.0\r\n").await,
            Err(HeaderError::Missing)
        ));
        assert!(matches!(
            from(b"PROXY TCP4 1.2").await,
            Err(HeaderError::Missing)
        ));
        assert!(matches!(
            from(&V2_SIGNATURE[..9]).await,
            Err(HeaderError::Missing)
        ));
    }

    #[tokio::test]
    async fn only_the_header_is_read() {
        let bytes = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 3306\r\nnext";
        let mut r = &bytes[..];
        read(&mut r, peer()).await.unwrap();
        assert_eq!(r, b"next");
    }

    #[test]
    fn networks() {
        let n = Network::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.200.1.2".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(
            n.contains("::ffff:10.1.2.3".parse().unwrap()),
            "IPv4-mapped"
        );
        assert!(!n.contains("2001:db8::1".parse().unwrap()));
        let one = Network::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all = Network::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("198.51.100.1".parse().unwrap()));
        let v6 = Network::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(Network::parse("::/0")
            .unwrap()
            .contains("::1".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0",
            "x/8",
            "10.0.0.0/",
            "10.0.0.0/-1",
        ] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
    }
}
