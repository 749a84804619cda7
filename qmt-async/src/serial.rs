//! A serial port (or a pseudo-terminal) under tokio, as the runner's two halves (feature `tokio`).
//!
//! The port is opened as every qmt driver opens it (`qmt_transport::reactor::open_serial`: raw
//! mode, the baud rate, an exclusive advisory lock so that two processes never share a port
//! silently), registered with tokio's IO driver, split, and adapted to `embedded-io-async` with
//! `embedded-io-adapters`.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use qmt_async::serial;
//! use qmt_transport::reactor::PortConfig;
//!
//! let (reader, writer) = serial::open("/dev/ttyUSB2", &PortConfig::default())?;
//! # let _ = (reader, writer);
//! # Ok(())
//! # }
//! ```

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use embedded_io_adapters::tokio_1::FromTokio;
use mio_serial::SerialStream;
use qmt_transport::reactor::{OpenError, PortConfig, open_serial};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};

/// The read half of an opened port, for [`new`](crate::new)'s `reader`.
pub type Reader = FromTokio<ReadHalf<Port>>;

/// The write half of an opened port, for [`new`](crate::new)'s `writer`.
pub type Writer = FromTokio<WriteHalf<Port>>;

/// Opens the serial port (or pty) at `path` with `config` (baud rate, exclusivity) and returns
/// its two halves. Call it inside a tokio runtime with IO enabled.
///
/// # Errors
/// [`OpenError::Busy`] when another process holds the port, [`OpenError::Device`] when it
/// cannot be opened or registered with tokio.
pub fn open(path: &str, config: &PortConfig) -> Result<(Reader, Writer), OpenError> {
    let (r, w) = tokio::io::split(Port::open(path, config)?);
    Ok((FromTokio::new(r), FromTokio::new(w)))
}

/// A serial port as a tokio byte stream (see [`open`]).
#[derive(Debug)]
pub struct Port(AsyncFd<SerialStream>);

impl Port {
    /// Opens the port at `path` and registers it with the current tokio runtime.
    ///
    /// # Errors
    /// As [`open`].
    pub fn open(path: &str, config: &PortConfig) -> Result<Port, OpenError> {
        let stream = open_serial(path, config)?;
        // `AsyncFd::new` is deprecated because it cannot know that `T` owns its fd; here it
        // does (the SerialStream closes its fd after the AsyncFd has deregistered it), and the
        // workspace denies the `unsafe` that `AsyncFd::register` needs.
        #[allow(deprecated)]
        let fd = AsyncFd::new(stream).map_err(|source| OpenError::Device {
            path: path.into(),
            source,
        })?;
        Ok(Port(fd))
    }
}

impl AsyncRead for Port {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|s| {
                let mut s: &SerialStream = s.get_ref();
                s.read(unfilled)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
    }
}

impl AsyncWrite for Port {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            match guard.try_io(|s| {
                let mut s: &SerialStream = s.get_ref();
                s.write(bytes)
            }) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => {}
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the fd: nothing is buffered here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
