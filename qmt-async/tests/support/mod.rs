//! Helpers for the async driver's end-to-end tests: qmt-sim on a real pty with its embedded
//! broker, the pty opened the way the std driver opens it (raw mode, exclusive) and served to
//! tokio through `qmt_async::serial` (`AsyncFd`, split into halves, embedded-io-adapters).
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use qmt_async::timer::TokioTimer;
use qmt_async::{Client, Config, Event, Message, Modem};
use qmt_client::{BackoffConfig, ClientOptions, ClientOptionsBuilder, RecoveryPolicy};
use qmt_sim::SimHandle;
use qmt_transport::reactor::PortConfig;

/// The wait for one expected event. Generous: two cores shared with other builds.
pub const T: Duration = Duration::from_secs(30);

pub type Mx = CriticalSectionRawMutex;
pub type TModem = Modem<Mx, TokioTimer>;
pub type TClient = Client<Mx, TokioTimer>;

pub use qmt_async::serial::{Reader, Writer};

/// The sim's pty, opened as users open a port (`qmt_async::serial::open`), in two halves.
pub fn halves(sim: &SimHandle) -> (Reader, Writer) {
    qmt_async::serial::open(sim.pty_path().to_str().unwrap(), &PortConfig::default()).unwrap()
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
