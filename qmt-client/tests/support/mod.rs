//! Helpers for the end-to-end tests of the client: a simulated module (qmt-sim) on a real pty
//! with a real broker, a `Modem` on it, and waits for events that say what they waited for. The
//! sim's own test support (rumqttc peer, mosquitto launcher, test PKI) is reused as it is.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use qmt_client::{BackoffConfig, RecoveryPolicy};
use qmt_client::{ClientOptions, ClientOptionsBuilder, Event, Message, Modem, ModemConfig};
use qmt_sim::{Sim, SimConfig, SimHandle};

#[path = "../../../qmt-sim/tests/support/mod.rs"]
pub mod sim_support;

#[allow(unused_imports)]
pub use sim_support::peer::Peer;

/// The wait for one expected event. Generous: two cores shared with other builds.
pub const T: Duration = Duration::from_secs(30);

pub fn sim() -> SimHandle {
    Sim::start(SimConfig::default()).unwrap()
}

pub fn modem(sim: &SimHandle) -> Modem {
    Modem::open(sim.pty_path(), ModemConfig::default()).unwrap()
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

pub fn modem_with_recovery(sim: &SimHandle) -> Modem {
    Modem::open(
        sim.pty_path(),
        ModemConfig {
            recovery: fast_recovery(),
            ..ModemConfig::default()
        },
    )
    .unwrap()
}

/// Options for the sim's broker (every host name resolves to it).
pub fn opts(client_id: &str) -> ClientOptionsBuilder {
    ClientOptions::builder()
        .host("broker.example.com")
        .client_id(client_id)
}

/// The first event for which `pred` holds; others are collected and shown on failure.
pub fn expect_event(
    conn: &qmt_client::Connection,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = Instant::now() + T;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match conn.recv_timeout(left) {
            Ok(ev) if pred(&ev) => return ev,
            Ok(ev) => seen.push(ev),
            Err(e) => panic!("{what}: {e:?} within {T:?}; events so far: {seen:#?}"),
        }
    }
}

/// The next message (other events are skipped).
pub fn expect_message(conn: &qmt_client::Connection, what: &str) -> Message {
    match expect_event(conn, what, |e| matches!(e, Event::Message(_))) {
        Event::Message(m) => m,
        _ => unreachable!(),
    }
}
