//! Packet framing for the backend connection: a 3-byte length, a 1-byte sequence id, then the
//! payload; payloads of 0xFFFFFF bytes or more travel as 0xFFFFFF-byte chunks followed by a
//! shorter (possibly empty) one.
//!
//! One read buffer is reused for every packet: a packet that fits one chunk is handed out as a
//! slice of it (no copy, no allocation in the steady state); only a packet split over several
//! chunks is reassembled into a second, reused buffer. Sequence ids are checked on every chunk.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::BackendError;

/// Largest payload of one wire chunk.
pub const MAX_CHUNK: usize = 0xFF_FFFF;

/// Read buffer size kept between packets; a larger one (after a big packet) is given back.
const KEEP_READ: usize = 64 * 1024;

/// Where the payload of the last packet read lives.
#[derive(Debug, Clone, Copy)]
enum Current {
    None,
    /// `rbuf[start..end]`.
    Inline {
        start: usize,
        end: usize,
    },
    /// The whole of `big`.
    Joined,
}

/// Buffered packet reader and writer over one stream.
pub struct Framed<S> {
    stream: S,
    rbuf: Vec<u8>,
    /// Unconsumed bytes are `rbuf[rpos..rend]`.
    rpos: usize,
    rend: usize,
    big: Vec<u8>,
    current: Current,
    wbuf: Vec<u8>,
    seq: u8,
    max_packet: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Framed<S> {
    pub fn new(stream: S, max_packet: usize) -> Self {
        Framed {
            stream,
            rbuf: vec![0; 16 * 1024],
            rpos: 0,
            rend: 0,
            big: Vec::new(),
            current: Current::None,
            wbuf: Vec::with_capacity(16 * 1024),
            seq: 0,
            max_packet,
        }
    }

    /// The same framing over another stream made from this one (buffered bytes kept).
    pub fn map_stream<T>(
        self,
        f: impl FnOnce(S) -> std::io::Result<T>,
    ) -> std::io::Result<Framed<T>> {
        let Framed {
            stream,
            rbuf,
            rpos,
            rend,
            big,
            current,
            wbuf,
            seq,
            max_packet,
        } = self;
        Ok(Framed {
            stream: f(stream)?,
            rbuf,
            rpos,
            rend,
            big,
            current,
            wbuf,
            seq,
            max_packet,
        })
    }

    /// The sequence id of the next packet written or read.
    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// The next packet read is an answer that starts at sequence id `seq` (after queued
    /// commands, whose answers come first).
    pub fn answer_at(&mut self, seq: u8) {
        self.seq = seq;
    }

    /// Starts a new command: the next packet written carries sequence id 0.
    pub fn reset_seq(&mut self) {
        self.seq = 0;
        self.consume();
        if self.rbuf.len() > KEEP_READ && self.rend - self.rpos <= KEEP_READ {
            self.compact();
            self.rbuf.truncate(KEEP_READ);
            self.rbuf.shrink_to_fit();
        }
        if self.big.capacity() > KEEP_READ {
            self.big = Vec::new();
        }
    }

    /// Bytes received but not yet read as packets (after the last packet read is consumed).
    pub fn unread(&self) -> usize {
        let from = match self.current {
            Current::Inline { end, .. } => end,
            _ => self.rpos,
        };
        self.rend - from
    }

    /// Forgets the last packet read (its bytes may then be overwritten).
    fn consume(&mut self) {
        if let Current::Inline { end, .. } = self.current {
            self.rpos = end;
        }
        self.current = Current::None;
    }

    /// Moves the unconsumed bytes to the front of the read buffer.
    fn compact(&mut self) {
        if self.rpos > 0 {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
    }

    /// Ensures `n` unconsumed bytes are buffered.
    async fn fill(&mut self, n: usize) -> Result<(), BackendError> {
        if self.rend - self.rpos >= n {
            return Ok(());
        }
        if self.rpos + n > self.rbuf.len() {
            self.compact();
            if n > self.rbuf.len() {
                self.rbuf.resize(n, 0);
            }
        }
        while self.rend - self.rpos < n {
            let got = self.stream.read(&mut self.rbuf[self.rend..]).await?;
            if got == 0 {
                return Err(BackendError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "backend closed the connection",
                )));
            }
            self.rend += got;
        }
        Ok(())
    }

    /// Reads one chunk header, checking its sequence id; returns the chunk length.
    async fn header(&mut self) -> Result<usize, BackendError> {
        self.fill(4).await?;
        let h = &self.rbuf[self.rpos..self.rpos + 4];
        let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
        let seq = h[3];
        if seq != self.seq {
            return Err(BackendError::Protocol(format!(
                "packet out of order: expected sequence id {}, got {seq}",
                self.seq
            )));
        }
        self.seq = self.seq.wrapping_add(1);
        Ok(len)
    }

    fn too_large(&self, size: usize) -> Result<(), BackendError> {
        if size > self.max_packet {
            return Err(BackendError::Protocol(format!(
                "packet of {size} bytes exceeds the maximum of {} bytes",
                self.max_packet
            )));
        }
        Ok(())
    }

    /// Reads one whole (reassembled) packet; its payload is then [`Self::payload`].
    pub async fn read_packet(&mut self) -> Result<(), BackendError> {
        self.consume();
        if self.take_buffered()? {
            return Ok(());
        }
        let len = self.header().await?;
        self.too_large(len)?;
        self.fill(4 + len).await?;
        let start = self.rpos + 4;
        if len < MAX_CHUNK {
            self.current = Current::Inline {
                start,
                end: start + len,
            };
            return Ok(());
        }
        self.big.clear();
        self.big.extend_from_slice(&self.rbuf[start..start + len]);
        self.rpos = start + len;
        loop {
            let len = self.header().await?;
            self.too_large(self.big.len() + len)?;
            self.fill(4 + len).await?;
            let start = self.rpos + 4;
            self.big.extend_from_slice(&self.rbuf[start..start + len]);
            self.rpos = start + len;
            if len < MAX_CHUNK {
                self.current = Current::Joined;
                return Ok(());
            }
        }
    }

    /// Takes the next packet without awaiting when it is a single chunk already buffered
    /// (the common case: a whole small result arrives in one read).
    fn take_buffered(&mut self) -> Result<bool, BackendError> {
        let Some(avail) = self.rbuf.get(self.rpos..self.rend) else {
            return Ok(false);
        };
        let Some(&[a, b, c, seq]) = avail.get(..4) else {
            return Ok(false);
        };
        let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
        if len >= MAX_CHUNK || avail.len() < 4 + len {
            return Ok(false);
        }
        self.accept(len, seq)?;
        let start = self.rpos + 4;
        self.current = Current::Inline {
            start,
            end: start + len,
        };
        Ok(true)
    }

    /// Checks a whole buffered packet's sequence id and size, and counts it as read.
    fn accept(&mut self, len: usize, seq: u8) -> Result<(), BackendError> {
        if seq != self.seq {
            return Err(BackendError::Protocol(format!(
                "packet out of order: expected sequence id {}, got {seq}",
                self.seq
            )));
        }
        self.too_large(len)?;
        self.seq = self.seq.wrapping_add(1);
        Ok(())
    }

    /// The whole row packets already buffered, headers included, up to the first packet that
    /// is not a row (EOF, ERR, empty), is split into chunks, or has not fully arrived; and how
    /// many there are. They count as read: their sequence ids are checked like any packet's.
    /// `binary`: rows of the binary protocol, which start with 0x00.
    pub fn take_buffered_rows(
        &mut self,
        binary: bool,
    ) -> Result<(std::ops::Range<usize>, usize), BackendError> {
        self.consume();
        let start = self.rpos;
        let mut at = start;
        let mut count = 0;
        while let Some(&[a, b, c, seq]) = self.rbuf.get(at..self.rend).and_then(|r| r.get(..4)) {
            let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
            if len >= MAX_CHUNK || self.rend - at - 4 < len {
                break;
            }
            let row = match self.rbuf.get(at + 4) {
                // An empty packet, an ERR, or an EOF: the reader decides.
                None | Some(0xFF) => false,
                Some(0xFE) if len < 9 => false,
                Some(&first) if len > 0 => !binary || first == 0x00,
                Some(_) => false,
            };
            if !row {
                break;
            }
            self.accept(len, seq)?;
            at += 4 + len;
            count += 1;
        }
        self.rpos = at;
        Ok((start..at, count))
    }

    /// Bytes of the read buffer that [`Self::take_buffered_rows`] took (valid until the next
    /// read).
    pub fn taken(&self, range: std::ops::Range<usize>) -> &[u8] {
        self.rbuf.get(range).unwrap_or(&[])
    }

    /// The payload of the last packet read (empty before the first).
    pub fn payload(&self) -> &[u8] {
        match self.current {
            Current::None => &[],
            Current::Inline { start, end } => self.rbuf.get(start..end).unwrap_or(&[]),
            Current::Joined => &self.big,
        }
    }

    /// Starts a packet in the write buffer; append the payload to [`Self::wbuf`] and close it
    /// with [`Self::end_packet`] giving the returned offset.
    pub fn begin_packet(&mut self) -> usize {
        let at = self.wbuf.len();
        self.wbuf.extend_from_slice(&[0; 4]);
        at
    }

    pub fn wbuf(&mut self) -> &mut Vec<u8> {
        &mut self.wbuf
    }

    /// Writes the header of the packet started at `at`, splitting a payload of 16 MiB - 1
    /// bytes or more into chunks.
    pub fn end_packet(&mut self, at: usize) {
        let len = self.wbuf.len().saturating_sub(at + 4);
        if len < MAX_CHUNK {
            self.put_header(at, len);
            return;
        }
        let payload = self.wbuf.split_off(at + 4);
        self.wbuf.truncate(at);
        let mut rest = payload.as_slice();
        loop {
            let n = rest.len().min(MAX_CHUNK);
            let (chunk, tail) = rest.split_at(n);
            let at = self.begin_packet();
            self.wbuf.extend_from_slice(chunk);
            self.put_header(at, n);
            rest = tail;
            if n < MAX_CHUNK {
                break;
            }
        }
    }

    fn put_header(&mut self, at: usize, len: usize) {
        let [a, b, c, _] = (len as u32).to_le_bytes();
        if let Some(h) = self.wbuf.get_mut(at..at + 4) {
            h.copy_from_slice(&[a, b, c, self.seq]);
        }
        self.seq = self.seq.wrapping_add(1);
    }

    /// Appends a whole packet.
    pub fn push_packet(&mut self, payload: &[u8]) {
        let at = self.begin_packet();
        self.wbuf.extend_from_slice(payload);
        self.end_packet(at);
    }

    /// Sends what the write buffer holds.
    pub async fn flush(&mut self) -> Result<(), BackendError> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
            if self.wbuf.capacity() > KEEP_READ {
                self.wbuf.shrink_to(KEEP_READ);
            }
        }
        self.stream.flush().await?;
        Ok(())
    }

    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tokio::io::duplex;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    /// Writes `payloads` as one exchange on one end and reads them back on the other.
    async fn roundtrip(payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let (a, b) = duplex(64 * 1024);
        let mut w = Framed::new(a, 64 << 20);
        let mut r = Framed::new(b, 64 << 20);
        let sizes: Vec<usize> = payloads.iter().map(Vec::len).collect();
        let owned = payloads.to_vec();
        let writer = tokio::spawn(async move {
            for p in &owned {
                w.push_packet(p);
                w.flush().await.unwrap();
            }
            w
        });
        let mut out = Vec::new();
        for _ in &sizes {
            r.read_packet().await.unwrap();
            out.push(r.payload().to_vec());
        }
        writer.await.unwrap();
        out
    }

    #[tokio::test]
    async fn split_and_reassembly_at_the_16_mib_boundary() {
        let cases = vec![
            Vec::new(),
            pattern(10),
            pattern(MAX_CHUNK - 1),
            pattern(MAX_CHUNK),
            pattern(MAX_CHUNK + 1),
            pattern(2 * MAX_CHUNK),
            pattern(3),
        ];
        let got = roundtrip(&cases).await;
        assert_eq!(got.len(), cases.len());
        for (g, c) in got.iter().zip(&cases) {
            assert_eq!(g.len(), c.len());
            assert!(g == c, "payload of {} bytes differs", c.len());
        }
    }

    #[tokio::test]
    async fn exact_chunk_is_followed_by_an_empty_chunk_on_the_wire() {
        let (a, mut b) = duplex(64 << 20);
        let mut w = Framed::new(a, 64 << 20);
        w.push_packet(&pattern(MAX_CHUNK));
        w.flush().await.unwrap();
        drop(w);
        let mut wire = Vec::new();
        b.read_to_end(&mut wire).await.unwrap();
        assert_eq!(wire.len(), 4 + MAX_CHUNK + 4);
        assert_eq!(&wire[..4], &[0xFF, 0xFF, 0xFF, 0]);
        assert_eq!(&wire[4 + MAX_CHUNK..], &[0, 0, 0, 1]);
    }

    #[tokio::test]
    async fn buffer_shrinks_after_a_big_packet_and_stays_in_step() {
        let (a, b) = duplex(1 << 20);
        let mut w = Framed::new(a, 4 << 20);
        let mut r = Framed::new(b, 4 << 20);
        let writer = tokio::spawn(async move {
            w.push_packet(&pattern(1 << 20));
            w.push_packet(&pattern(5));
            w.flush().await.unwrap();
            w.reset_seq();
            w.push_packet(&pattern(7));
            w.flush().await.unwrap();
            w
        });
        r.read_packet().await.unwrap();
        assert_eq!(r.payload().len(), 1 << 20);
        r.read_packet().await.unwrap();
        assert_eq!(r.payload(), pattern(5).as_slice());
        r.reset_seq();
        assert!(r.rbuf.len() <= KEEP_READ);
        r.read_packet().await.unwrap();
        assert_eq!(r.payload(), pattern(7).as_slice());
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn wrong_sequence_id_is_a_protocol_error() {
        let (mut a, b) = duplex(1024);
        a.write_all(&[1, 0, 0, 5, 0x00]).await.unwrap();
        let mut r = Framed::new(b, 1024);
        let e = r.read_packet().await.unwrap_err();
        assert!(matches!(e, BackendError::Protocol(ref m) if m.contains("out of order")));
    }

    #[tokio::test]
    async fn truncated_packet_and_oversize_packet_are_errors() {
        let (mut a, b) = duplex(1024);
        a.write_all(&[10, 0, 0, 0, 1, 2]).await.unwrap();
        drop(a);
        let mut r = Framed::new(b, 1024);
        assert!(matches!(
            r.read_packet().await.unwrap_err(),
            BackendError::Io(_)
        ));
        let (mut a, b) = duplex(1024);
        a.write_all(&[0, 4, 0, 0]).await.unwrap();
        let mut r = Framed::new(b, 100);
        assert!(matches!(
            r.read_packet().await.unwrap_err(),
            BackendError::Protocol(_)
        ));
    }

    #[tokio::test]
    async fn small_packets_reuse_the_read_buffer() {
        let payloads: Vec<Vec<u8>> = (0..200).map(|i| pattern(i * 7)).collect();
        let (a, b) = duplex(4096);
        let mut w = Framed::new(a, 1 << 20);
        let mut r = Framed::new(b, 1 << 20);
        let expected = payloads.clone();
        let writer = tokio::spawn(async move {
            for p in &payloads {
                w.push_packet(p);
            }
            w.flush().await.unwrap();
            w
        });
        let cap = r.rbuf.capacity();
        for p in &expected {
            r.read_packet().await.unwrap();
            assert_eq!(r.payload(), p.as_slice());
        }
        assert_eq!(r.rbuf.capacity(), cap);
        assert!(r.big.capacity() == 0);
        writer.await.unwrap();
    }
}
