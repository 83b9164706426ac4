//! The TCP sockets of client sessions and backend connections, read and written with direct
//! system calls.
//!
//! glibc's `recv` and `send` are thread cancellation points: in a process with more than one
//! thread (the proxy always has its workers and its main thread) each call switches the
//! thread's cancellation state on and off around the system call, about 50 instructions a
//! call, four calls per statement. The proxy never cancels a thread, so its sockets make the
//! same system calls through rustix, which issues them without libc.
//!
//! The socket stays a tokio `TcpStream`, registered with the worker's event loop, which
//! reports its readiness. A transfer shorter than asked clears it, as tokio's own reads and
//! writes do, so that the next one waits for an event instead of first failing with EAGAIN.

use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use rustix::net::{RecvFlags, SendFlags};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// A connected TCP socket registered with the current worker's event loop.
pub struct Socket {
    stream: TcpStream,
}

impl Socket {
    /// An accepted or connected stream, as it is.
    pub fn from_tokio(stream: TcpStream) -> Socket {
        Socket { stream }
    }

    /// Registers a non-blocking stream with the current runtime's event loop.
    pub fn new(stream: std::net::TcpStream) -> io::Result<Socket> {
        Ok(Socket {
            stream: TcpStream::from_std(stream)?,
        })
    }

    /// Connects to `host:port` (a name is resolved first), with TCP_NODELAY.
    pub async fn connect(host: &str, port: u16) -> io::Result<Socket> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(Socket { stream })
    }

    /// The stream, no longer registered with any event loop (to move it to another one).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.stream.into_std()
    }

    /// Reads what is there. The socket is tried first: `try_io` skips the system call when
    /// the event loop has reported nothing since the last short read; only then is the task's
    /// waker registered (`poll_read_ready`), which may find the socket ready meanwhile. Each
    /// read spends the task's cooperative budget, as tokio's own do: a client that keeps
    /// commands coming cannot hold its worker from the other sessions.
    fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        // Free when the caller's buffer is initialised already (both framings' are).
        let room = buf.initialize_unfilled();
        let wanted = room.len();
        let got = loop {
            let mut got = 0;
            let read = self.stream.try_io(Interest::READABLE, || {
                got = rustix::net::recv(&self.stream, &mut *room, RecvFlags::empty())?.0;
                short(got, wanted)
            });
            match read {
                Ok(()) => break got,
                // A short read: readiness is cleared (see `short`), the bytes are kept.
                Err(_) if got > 0 => break got,
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => ready!(self.stream.poll_read_ready(cx))?,
                    io::ErrorKind::Interrupted => {}
                    _ => return Poll::Ready(Err(e)),
                },
            }
        };
        coop.made_progress();
        buf.advance(got);
        Poll::Ready(Ok(()))
    }

    /// Writes what the socket takes; tried first, as [`Socket::poll_recv`] reads.
    fn poll_send(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut sent = 0;
            // NOSIGNAL: a peer that went away is an EPIPE error, not a SIGPIPE.
            let write = self.stream.try_io(Interest::WRITABLE, || {
                sent = rustix::net::send(&self.stream, data, SendFlags::NOSIGNAL)?;
                short(sent, data.len())
            });
            match write {
                Ok(()) => return Poll::Ready(Ok(sent)),
                Err(_) if sent > 0 => return Poll::Ready(Ok(sent)),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => ready!(self.stream.poll_write_ready(cx))?,
                    io::ErrorKind::Interrupted => {}
                    _ => return Poll::Ready(Err(e)),
                },
            }
        }
    }

    fn shutdown_write(&self) -> Poll<io::Result<()>> {
        let socket = socket2::SockRef::from(&self.stream);
        Poll::Ready(match socket.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        })
    }
}

/// After a transfer of `done` bytes out of `wanted`: a short one (the socket's buffer is
/// drained or full) reports WouldBlock, so that `try_io` clears the readiness; the caller keeps
/// the bytes.
fn short(done: usize, wanted: usize) -> io::Result<()> {
    if done > 0 && done < wanted {
        Err(io::ErrorKind::WouldBlock.into())
    } else {
        Ok(())
    }
}

/// `AsyncRead` and `AsyncWrite` for the socket, owned (backend connections) and shared (a
/// session reads and writes through two references to it).
macro_rules! socket_io {
    ($ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                self.poll_recv(cx, buf)
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_send(cx, data)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.shutdown_write()
            }
        }
    };
}

socket_io!(Socket);
socket_io!(&Socket);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A connected pair: (client, accepted).
    async fn pair() -> (Socket, Socket) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (client, accepted) =
            tokio::join!(Socket::connect("127.0.0.1", port), listener.accept());
        (client.unwrap(), Socket::from_tokio(accepted.unwrap().0))
    }

    #[tokio::test]
    async fn sockets_carry_bytes_both_ways_through_short_reads_and_writes() {
        let (mut client, server) = pair().await;
        // Larger than the socket buffers: short writes and reads, readiness cleared and regained.
        let big: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        let sent = big.clone();
        let writer = async move {
            client.write_all(&sent).await.unwrap();
            client.shutdown().await.unwrap();
            client
        };
        let reader = async {
            let mut got = Vec::new();
            let mut r = &server;
            // Small reads too: a read buffer smaller than what is waiting.
            let mut first = [0u8; 7];
            r.read_exact(&mut first).await.unwrap();
            got.extend_from_slice(&first);
            r.read_to_end(&mut got).await.unwrap();
            got
        };
        let (mut client, got) = tokio::join!(writer, reader);
        assert_eq!(got.len(), big.len());
        assert!(got == big, "the bytes arrive in order");
        // And back, on the same sockets.
        let mut w = &server;
        w.write_all(b"pong").await.unwrap();
        let mut four = [0u8; 4];
        client.read_exact(&mut four).await.unwrap();
        assert_eq!(&four, b"pong");
    }

    #[tokio::test]
    async fn a_closed_peer_reads_as_end_of_stream_and_writes_fail_without_a_signal() {
        let (client, server) = pair().await;
        drop(client);
        let mut buf = [0u8; 16];
        let mut r = &server;
        assert_eq!(r.read(&mut buf).await.unwrap(), 0);
        // The first writes may still be taken by the kernel; a later one sees the reset.
        let mut w = &server;
        let mut failed = false;
        for _ in 0..50 {
            if w.write_all(&[0u8; 1024]).await.is_err() {
                failed = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(
            failed,
            "writing to a closed peer fails (EPIPE or ECONNRESET)"
        );
    }

    #[tokio::test]
    async fn a_socket_moves_to_another_event_loop_with_its_unread_bytes() {
        let (mut client, server) = pair().await;
        client.write_all(b"hello").await.unwrap();
        let std = server.into_std().unwrap();
        let moved = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = Socket::new(std).unwrap();
                let mut five = [0u8; 5];
                let mut r = &server;
                r.read_exact(&mut five).await.unwrap();
                five
            })
        })
        .join()
        .unwrap();
        assert_eq!(&moved, b"hello");
    }
}
