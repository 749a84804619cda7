//! Helpers for the async driver's end-to-end tests: qmt-sim on a real pty with its embedded
//! broker, the pty opened the way the std driver opens it (raw mode, exclusive) and served to
//! tokio through `AsyncFd`, split into halves and adapted with embedded-io-adapters.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embedded_io_adapters::tokio_1::FromTokio;
use mio_serial::SerialStream;
use qmt_async::timer::TokioTimer;
use qmt_async::{Client, Config, Event, Message, Modem};
use qmt_client::{BackoffConfig, ClientOptions, ClientOptionsBuilder, RecoveryPolicy};
use qmt_sim::SimHandle;
use qmt_transport::reactor::{PortConfig, open_serial};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};

/// The wait for one expected event. Generous: two cores shared with other builds.
pub const T: Duration = Duration::from_secs(30);

pub type Mx = CriticalSectionRawMutex;
pub type TModem = Modem<Mx, TokioTimer>;
pub type TClient = Client<Mx, TokioTimer>;

/// A serial port (here the sim's pty) as a tokio byte stream.
pub struct Port(AsyncFd<SerialStream>);

impl Port {
    pub fn open(path: &std::path::Path) -> Port {
        let stream = open_serial(path.to_str().unwrap(), &PortConfig::default()).unwrap();
        // `new` is deprecated for fds the AsyncFd does not own; here it owns the SerialStream,
        // which owns its fd until the AsyncFd drops it (after deregistering): sound, and
        // `register` would need `unsafe`, which the workspace denies.
        #[allow(deprecated)]
        let fd = AsyncFd::new(stream).unwrap();
        Port(fd)
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
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

pub type Reader = FromTokio<ReadHalf<Port>>;
pub type Writer = FromTokio<WriteHalf<Port>>;

/// The sim's pty, split into embedded-io-async halves.
pub fn halves(sim: &SimHandle) -> (Reader, Writer) {
    let (r, w) = tokio::io::split(Port::open(sim.pty_path()));
    (FromTokio::new(r), FromTokio::new(w))
}

/// A modem on the sim, its runner spawned on tokio, start-up awaited.
pub async fn modem(
    sim: &SimHandle,
    config: Config,
) -> (TModem, tokio::task::JoinHandle<qmt_async::RunError>) {
    let (reader, writer) = halves(sim);
    let (modem, runner) =
        qmt_async::new::<Mx, _, _, _, 512, 512>(reader, writer, TokioTimer::new(), config);
    let task = tokio::spawn(runner.run());
    tokio::time::timeout(T, modem.ready())
        .await
        .unwrap()
        .unwrap();
    (modem, task)
}

/// Recovery on, with short delays.
pub fn fast_recovery() -> RecoveryPolicy {
    RecoveryPolicy {
        enabled: true,
        backoff: BackoffConfig {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(2),
            multiplier: 2,
            jitter: 0.5,
        },
        max_attempts: None,
        seed: 7,
    }
}

/// Options for the sim's broker (every host name resolves to it).
pub fn opts(client_id: &str) -> ClientOptionsBuilder {
    ClientOptions::builder()
        .host("broker.example.com")
        .client_id(client_id)
}

/// The first event for which `pred` holds; others are collected and shown on failure.
pub async fn expect_event(client: &TClient, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(T, async {
        loop {
            match client.recv().await {
                Some(ev) if pred(&ev) => return Some(ev),
                Some(ev) => seen.push(ev),
                None => return None,
            }
        }
    })
    .await;
    match found {
        Ok(Some(ev)) => ev,
        other => panic!("{what}: {other:?} within {T:?}; events so far: {seen:#?}"),
    }
}

/// The next message (other events are skipped).
pub async fn expect_message(client: &TClient, what: &str) -> Message {
    match expect_event(client, what, |e| matches!(e, Event::Message(_))).await {
        Event::Message(m) => m,
        _ => unreachable!(),
    }
}
