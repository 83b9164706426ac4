//! MySQL packet framing: a 3-byte length, a 1-byte sequence id, then the payload.
//!
//! Payloads of 0xFFFFFF bytes or more are split into chunks of 0xFFFFFF bytes followed by a
//! shorter (possibly empty) chunk; the reader reassembles them. The reader enforces the
//! configured maximum packet size so that a client cannot make the proxy buffer without bound.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest payload of a single wire chunk.
pub const MAX_CHUNK: usize = 0xFF_FFFF;

/// Errors of the framing layer. All of them end the connection.
#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    #[error("connection closed by peer")]
    Closed,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("packet of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("packets out of order: expected sequence id {expected}, got {got}")]
    OutOfOrder { expected: u8, got: u8 },
}

/// Read buffer of a new session: most commands fit.
const FIRST_READ: usize = 4 * 1024;

/// Read buffer size kept between commands; a larger one (after a big packet) is given back.
const KEEP_READ: usize = 64 * 1024;

/// Reads whole (reassembled) packets from the client.
pub struct PacketReader<R> {
    inner: R,
    /// Initialised once, so that a read never clears memory first; unread bytes are
    /// `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_payload: usize,
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    pub fn new(inner: R, max_payload: usize) -> Self {
        PacketReader {
            inner,
            buf: vec![0; FIRST_READ],
            start: 0,
            end: 0,
            max_payload,
        }
    }

    /// Ensures at least `n` unread bytes are buffered.
    async fn fill(&mut self, n: usize) -> Result<(), PacketError> {
        if self.end - self.start >= n {
            return Ok(());
        }
        if self.start + n > self.buf.len() {
            // No room for `n` bytes after the unread ones: move them to the front, and grow
            // when even that is not enough.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if n > self.buf.len() {
                self.buf.resize(n, 0);
            }
        }
        while self.end - self.start < n {
            let read = self.inner.read(&mut self.buf[self.end..]).await?;
            if read == 0 {
                return Err(PacketError::Closed);
            }
            self.end += read;
        }
        Ok(())
    }

    /// Marks `n` buffered bytes read; with none left, the next read starts at the front
    /// (and a buffer grown for a big packet is given back).
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > KEEP_READ {
                self.buf = vec![0; FIRST_READ];
            }
        }
    }

    /// Reads one logical packet. Returns its first sequence id and the payload. `expected_seq`
    /// is checked when given.
    pub async fn read(&mut self, expected_seq: Option<u8>) -> Result<(u8, Vec<u8>), PacketError> {
        let mut payload = Vec::new();
        let seq = self.read_into(expected_seq, &mut payload).await?;
        Ok((seq, payload))
    }

    /// [`Self::read`] into `payload` (cleared first), so that a caller can reuse one buffer
    /// for every command. Returns the packet's first sequence id.
    pub async fn read_into(
        &mut self,
        expected_seq: Option<u8>,
        payload: &mut Vec<u8>,
    ) -> Result<u8, PacketError> {
        payload.clear();
        let mut first_seq = None;
        let mut next = expected_seq;
        loop {
            self.fill(4).await?;
            let h = &self.buf[self.start..self.start + 4];
            let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
            let seq = h[3];
            if let Some(exp) = next {
                if exp != seq {
                    return Err(PacketError::OutOfOrder {
                        expected: exp,
                        got: seq,
                    });
                }
            }
            let total = payload.len() + len;
            if total > self.max_payload {
                return Err(PacketError::TooLarge {
                    size: total,
                    max: self.max_payload,
                });
            }
            self.fill(4 + len).await?;
            let body = self.start + 4;
            payload.extend_from_slice(&self.buf[body..body + len]);
            self.consume(4 + len);
            first_seq.get_or_insert(seq);
            next = Some(seq.wrapping_add(1));
            if len < MAX_CHUNK {
                return Ok(first_seq.unwrap_or(seq));
            }
        }
    }

    /// The sequence id the next packet of the current exchange carries.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Buffers outgoing packets and tracks the sequence id of the current exchange.
pub struct PacketWriter<W> {
    inner: W,
    buf: Vec<u8>,
    seq: u8,
    /// Where the packet begun and not yet ended starts, if one is.
    open: Option<usize>,
}

/// Flush the buffer to the socket once it holds this much.
const FLUSH_AT: usize = 64 * 1024;

impl<W: AsyncWrite + Unpin> PacketWriter<W> {
    pub fn new(inner: W) -> Self {
        PacketWriter {
            inner,
            buf: Vec::with_capacity(16 * 1024),
            seq: 0,
            open: None,
        }
    }

    pub fn set_seq(&mut self, seq: u8) {
        self.seq = seq;
    }

    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// Starts a packet in the buffer and returns the offset of its header; the payload is
    /// appended with [`Self::payload`] and closed with [`Self::end_packet`].
    pub fn begin_packet(&mut self) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.open = Some(at);
        at
    }

    /// Drops a packet begun and never ended (its content could not be made: the error that
    /// stopped it is answered instead), header and payload, as if it had never begun.
    pub fn abandon_open(&mut self) {
        if let Some(at) = self.open.take() {
            self.buf.truncate(at);
        }
    }

    /// The buffer to append the current packet's payload to.
    pub fn payload(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Finishes the packet started at `at`: writes its header, splitting it into chunks when
    /// the payload is 16 MiB or more.
    pub async fn end_packet(&mut self, at: usize) -> Result<(), PacketError> {
        let len = self.buf.len() - at - 4;
        if len < MAX_CHUNK {
            self.write_header(at, len);
        } else {
            let payload = self.buf.split_off(at + 4);
            self.buf.truncate(at);
            self.split_into_chunks(&payload);
        }
        self.open = None;
        if self.buf.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    fn write_header(&mut self, at: usize, len: usize) {
        let [a, b, c, _] = (len as u32).to_le_bytes();
        self.buf[at..at + 4].copy_from_slice(&[a, b, c, self.seq]);
        self.seq = self.seq.wrapping_add(1);
    }

    fn split_into_chunks(&mut self, payload: &[u8]) {
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_CHUNK);
            let at = self.begin_packet();
            self.buf.extend_from_slice(&rest[..n]);
            self.write_header(at, n);
            rest = &rest[n..];
            if n < MAX_CHUNK {
                break;
            }
        }
    }

    /// Appends whole packets as another peer framed them (each shorter than a chunk, as
    /// `RawConn::buffered_rows` hands them out), numbered in this writer's sequence.
    pub async fn write_framed(&mut self, packets: &[u8]) -> Result<(), PacketError> {
        let mut at = self.buf.len();
        self.buf.extend_from_slice(packets);
        while let Some(&[a, b, c, _]) = self.buf.get(at..).and_then(|h| h.get(..4)) {
            let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
            if let Some(seq) = self.buf.get_mut(at + 3) {
                *seq = self.seq;
            }
            self.seq = self.seq.wrapping_add(1);
            at += 4 + len;
        }
        if self.buf.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes a whole packet.
    pub async fn write_packet(&mut self, payload: &[u8]) -> Result<(), PacketError> {
        let at = self.begin_packet();
        self.buf.extend_from_slice(payload);
        self.end_packet(at).await
    }

    pub async fn flush(&mut self) -> Result<(), PacketError> {
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf).await?;
            self.buf.clear();
        }
        self.inner.flush().await?;
        Ok(())
    }

    pub async fn shutdown(&mut self) {
        let _ = self.inner.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn roundtrip(size: usize) -> (u8, Vec<u8>, usize) {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut w = PacketWriter::new(Vec::new());
        w.set_seq(3);
        w.write_packet(&payload).await.unwrap();
        w.flush().await.unwrap();
        let wire = w.inner.clone();
        let mut r = PacketReader::new(&wire[..], 64 << 20);
        let (seq, got) = r.read(Some(3)).await.unwrap();
        assert_eq!(got, payload);
        (seq, got, wire.len())
    }

    #[tokio::test]
    async fn small_and_boundary_payloads_roundtrip() {
        assert_eq!(roundtrip(0).await.2, 4);
        assert_eq!(roundtrip(10).await.2, 14);
        // Exactly one full chunk needs an empty trailing packet.
        assert_eq!(roundtrip(MAX_CHUNK).await.2, MAX_CHUNK + 8);
        assert_eq!(roundtrip(MAX_CHUNK + 1).await.2, MAX_CHUNK + 1 + 8);
        assert_eq!(roundtrip(2 * MAX_CHUNK).await.2, 2 * MAX_CHUNK + 12);
    }

    /// Packets framed elsewhere are renumbered in the writer's sequence, bytes unchanged.
    #[tokio::test]
    async fn framed_packets_take_the_writers_sequence() {
        let mut w = PacketWriter::new(Vec::new());
        w.set_seq(7);
        w.write_framed(&[1, 0, 0, 40, b'a', 0, 0, 0, 41, 2, 0, 0, 42, b'b', b'c'])
            .await
            .unwrap();
        w.write_packet(b"d").await.unwrap();
        w.flush().await.unwrap();
        assert_eq!(
            w.inner,
            [1, 0, 0, 7, b'a', 0, 0, 0, 8, 2, 0, 0, 9, b'b', b'c', 1, 0, 0, 10, b'd']
        );
    }

    #[tokio::test]
    async fn oversized_packets_are_refused() {
        let mut w = PacketWriter::new(Vec::new());
        w.write_packet(&[7u8; 2000]).await.unwrap();
        w.flush().await.unwrap();
        let wire = w.inner.clone();
        let mut r = PacketReader::new(&wire[..], 1000);
        assert!(matches!(
            r.read(None).await,
            Err(PacketError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn truncated_input_is_an_error_not_a_panic() {
        let wire = [5u8, 0, 0, 0, 1, 2];
        let mut r = PacketReader::new(&wire[..], 1000);
        assert!(matches!(r.read(None).await, Err(PacketError::Closed)));
    }

    /// Packets of every size in a row, delivered a few bytes at a time: each is whole, the
    /// buffer grows for the big one and is given back after it.
    #[tokio::test]
    async fn packets_in_a_row_through_a_trickle_grow_and_shrink_the_buffer() {
        let sizes = [3usize, 5000, 200_000, 10, MAX_CHUNK + 7, 0, 4090];
        let mut w = PacketWriter::new(Vec::new());
        for (i, &size) in sizes.iter().enumerate() {
            w.set_seq(0);
            w.write_packet(&vec![i as u8; size]).await.unwrap();
        }
        w.flush().await.unwrap();
        let (mut tx, rx) = tokio::io::duplex(1000);
        let wire = w.inner.clone();
        let feeder = tokio::spawn(async move {
            for piece in wire.chunks(997) {
                tx.write_all(piece).await.unwrap();
            }
        });
        let mut r = PacketReader::new(rx, 64 << 20);
        let mut payload = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let seq = r.read_into(Some(0), &mut payload).await.unwrap();
            assert_eq!(seq, 0);
            assert_eq!(payload.len(), size, "packet {i}");
            assert!(payload.iter().all(|&b| b == i as u8), "packet {i}");
            assert!(
                r.buf.len() <= KEEP_READ || r.start < r.end,
                "given back after packet {i}"
            );
        }
        feeder.await.unwrap();
        assert!(matches!(r.read(None).await, Err(PacketError::Closed)));
    }
}
