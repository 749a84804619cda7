//! The [`Runner`]: the future that owns the port and drives the core (run it as a task).
//!
//! It is two loops polled by one future, so that the port's `read` is never cancelled (an
//! embedded-io read is not promised to be cancel-safe) while the other loop sleeps and wakes:
//!
//! - the read half: waits while the core does not want input (back-pressure: a consumer is
//!   full), reads, feeds the core in pieces and signals the drive half;
//! - the drive half: runs the core's deadlines, routes its events to the handles, writes what
//!   `poll_transmit` gives, then sleeps until the next deadline or a signal (a handle's request,
//!   bytes read, credit given back).

use alloc::sync::Arc;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

use embassy_sync::blocking_mutex::raw::RawMutex;
use embedded_io_async::{Error as _, ErrorKind, Read, Write};

use crate::shared::Shared;
use crate::timer::Timer;

/// Bytes fed to the core at a time, so that a full consumer stops the feeding within one piece
/// (its queue then holds at most its capacity plus the messages of one piece; as the std driver).
const FEED_PIECE: usize = 512;

/// Why [`Runner::run`] ended. The core is closed then: every request ended with
/// [`ClientError::Closed`](qmt_client::ClientError::Closed) and receivers drain and end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Reading the port failed.
    #[error("reading the serial port failed: {0:?}")]
    Read(ErrorKind),
    /// Writing the port failed.
    #[error("writing the serial port failed: {0:?}")]
    Write(ErrorKind),
    /// The port reached its end (a read returned 0 bytes, a write took none): the device is
    /// gone.
    #[error("the serial port is gone (end of stream)")]
    Closed,
}

/// Owns the port's two halves and drives the client core; `RX` and `TX` are its read and write
/// buffers in bytes. Made by [`new`](crate::new); run [`run`](Self::run) as a task on any
/// executor.
pub struct Runner<M: RawMutex, T: Timer, R, W, const RX: usize = 512, const TX: usize = 512> {
    shared: Arc<Shared<M, T>>,
    reader: R,
    writer: W,
}

impl<M: RawMutex, T: Timer, R, W, const RX: usize, const TX: usize> core::fmt::Debug
    for Runner<M, T, R, W, RX, TX>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Runner")
            .field("rx", &RX)
            .field("tx", &TX)
            .finish_non_exhaustive()
    }
}

impl<M, T, R, W, const RX: usize, const TX: usize> Runner<M, T, R, W, RX, TX>
where
    M: RawMutex,
    T: Timer,
    R: Read,
    W: Write,
{
    pub(crate) fn new(shared: Arc<Shared<M, T>>, reader: R, writer: W) -> Self {
        Runner {
            shared,
            reader,
            writer,
        }
    }

    /// Drives the core until the port fails; then closes it (every pending request ends with
    /// [`ClientError::Closed`](qmt_client::ClientError::Closed)) and returns why.
    pub async fn run(self) -> RunError {
        let Runner {
            shared,
            mut reader,
            mut writer,
        } = self;
        crate::log::debug!("qmt-async: runner started");
        let reason = {
            let mut read = pin!(read_half::<M, T, R, RX>(&shared, &mut reader));
            let mut drive = pin!(drive_half::<M, T, W, TX>(&shared, &mut writer));
            poll_fn(|cx| {
                if let Poll::Ready(e) = read.as_mut().poll(cx) {
                    return Poll::Ready(e);
                }
                drive.as_mut().poll(cx)
            })
            .await
        };
        let now = shared.timer.now();
        shared.with(|st| st.close(now));
        crate::log::debug!("qmt-async: runner ended");
        reason
    }
}

/// Reads while the core wants input and feeds it.
async fn read_half<M: RawMutex, T: Timer, R: Read, const RX: usize>(
    shared: &Shared<M, T>,
    reader: &mut R,
) -> RunError {
    let mut buf = [0u8; RX];
    loop {
        wait_wants_input(shared).await;
        let n = match reader.read(&mut buf).await {
            Ok(0) => return RunError::Closed,
            Ok(n) => n,
            Err(e) => return RunError::Read(e.kind()),
        };
        for piece in buf[..n].chunks(FEED_PIECE) {
            // Bytes already read are fed once the consumer has room again (never dropped).
            wait_wants_input(shared).await;
            let now = shared.timer.now();
            shared.with(|st| {
                st.core.handle_input(piece, now);
                st.kick();
            });
        }
    }
}

async fn wait_wants_input<M: RawMutex, T: Timer>(shared: &Shared<M, T>) {
    poll_fn(|cx| {
        if shared.with(|st| st.wants_input(cx.waker())) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Runs deadlines, routes events, writes; sleeps until the next deadline or a kick.
async fn drive_half<M: RawMutex, T: Timer, W: Write, const TX: usize>(
    shared: &Shared<M, T>,
    writer: &mut W,
) -> RunError {
    let mut buf = [0u8; TX];
    loop {
        let now = shared.timer.now();
        let (n, deadline) = shared.with(|st| {
            // Deadlines wait while the consumer is full: their answers may be unread in the
            // port (as the std driver).
            let paused = !st.core.wants_input();
            if !paused && st.core.poll_timeout().is_some_and(|d| d <= now) {
                st.core.handle_timeout(now);
            }
            // Events first: a port change holds the transmit until it is taken.
            st.route_events(now);
            let n = st.core.poll_transmit(&mut buf);
            let deadline = if paused { None } else { st.core.poll_timeout() };
            (n, deadline)
        });
        if n > 0 {
            if let Err(e) = write_all(writer, &buf[..n]).await {
                return e;
            }
            continue;
        }
        if let Err(e) = writer.flush().await {
            return RunError::Write(e.kind());
        }
        let mut kicked = pin!(poll_fn(|cx| {
            if shared.with(|st| st.take_kick(cx.waker())) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        match deadline {
            Some(at) => {
                let mut sleep = pin!(shared.timer.sleep_until(at));
                poll_fn(|cx| {
                    if kicked.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(());
                    }
                    sleep.as_mut().poll(cx)
                })
                .await;
            }
            None => kicked.await,
        }
    }
}

async fn write_all<W: Write>(writer: &mut W, mut bytes: &[u8]) -> Result<(), RunError> {
    while !bytes.is_empty() {
        match writer.write(bytes).await {
            Ok(0) => return Err(RunError::Closed),
            Ok(n) => bytes = &bytes[n..],
            Err(e) => return Err(RunError::Write(e.kind())),
        }
    }
    Ok(())
}
