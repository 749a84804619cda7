//! A persistent session across a broker that holds the CONNACK past `pkt_timeout`, against
//! mosquitto (skipped loudly without it; a failure with `QMT_REQUIRE_MOSQUITTO=1`).
//!
//! Found by the soak (issue 8, seed 18161055066406485480): recovery reconnected while the broker
//! stalled; the module, configured with `retry_times` > 0, sent CONNECT a second time on the same
//! connection; mosquitto closed it as a protocol violation **and discarded the session**, so the
//! messages queued for the client while it was away (acknowledged to their publisher) were never
//! delivered. qmt's default for a persistent session is now `retry_times` 0 (see
//! `qmt_client::options`): the module fails the CONNECT and closes the connection instead, and
//! the broker keeps the session for the next one.
//!
//! The first test is the regression test (the fix's setting, with a 1 s `pkt_timeout` to keep it
//! short); the second shows the hazard the default avoids, with the module retransmitting once.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use qmt_client::RecoveryEvent;
use qmt_client::{Event, Modem, ModemConfig, Qos};
use qmt_sim::{BrokerChoice, Fault, Sim, SimConfig};
use rumqttc::QoS;
use support::sim_support::{Mosquitto, MosquittoOpts};
use support::{Peer, T, fast_recovery, opts};

const TOPIC: &str = "qmt/held/connack";
const QUEUED: usize = 5;

/// The payloads among `QUEUED` queued messages that reached the client, once it has reconnected
/// through a held CONNACK with this `retry_times`, and whether the module retransmitted CONNECT
/// (`+QMTCONN: <idx>,1` with `timeout_notice` on).
fn queued_messages_after_a_held_connack(retry_times: i64) -> Option<(BTreeSet<String>, bool)> {
    let mosquitto = Mosquitto::start(MosquittoOpts::default())?;
    let sim = Sim::start(SimConfig {
        broker: BrokerChoice::External(mosquitto.plain),
        ..SimConfig::default()
    })
    .unwrap();
    let modem = Modem::open(
        sim.pty_path(),
        ModemConfig {
            recovery: fast_recovery(),
            ..ModemConfig::default()
        },
    )
    .unwrap();
    let options = opts("qmt-held-connack")
        .clean_session(false)
        .timeout(1, retry_times, true)
        .build()
        .unwrap();
    let (client, conn) = modem.client(0, options).unwrap();
    client.connect().unwrap();
    client.subscribe(&[(TOPIC, Qos::AtLeastOnce)]).unwrap();
    let mut peer = Peer::connect(mosquitto.plain, "qmt-held-connack-peer");

    // The broker stops answering; the peer's messages are acknowledged to it and queued in the
    // session (sent on a connection whose bytes are held). Then the connection is closed, and
    // recovery's CONNECT meets the same stall: no CONNACK within pkt_timeout.
    sim.inject(Fault::BrokerStall(None)).unwrap();
    for i in 0..QUEUED {
        peer.publish(TOPIC, QoS::AtLeastOnce, format!("queued {i}").as_bytes());
    }
    sim.inject(Fault::BrokerClose(None)).unwrap();
    thread::sleep(Duration::from_millis(2500));
    sim.inject(Fault::BrokerResume(None)).unwrap();

    // Wait for recovery, then mark the end: mosquitto delivers in order, so once the marker is
    // in, a queued message not seen is lost for good.
    let mut received = BTreeSet::new();
    let mut retransmitted = false;
    let mut restored = false;
    let deadline = Instant::now() + T;
    let mut marked = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = conn
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("{e:?}; received {received:?}\n{}", mosquitto.log()));
        match ev {
            Event::Recovery {
                event: RecoveryEvent::Restored { .. },
                ..
            } => restored = true,
            Event::Retransmitting {
                op: qmt_client::OpKind::Conn,
                ..
            } => retransmitted = true,
            Event::Message(m) => {
                let text = m.payload_str().unwrap().to_owned();
                if text == "end" {
                    break;
                }
                received.insert(text);
            }
            _ => {}
        }
        if restored && !marked {
            peer.publish(TOPIC, QoS::AtLeastOnce, b"end");
            marked = true;
        }
    }
    Some((received, retransmitted))
}

#[test]
fn persistent_session_keeps_queued_messages_when_the_connack_is_held() {
    let Some((received, retransmitted)) = queued_messages_after_a_held_connack(0) else {
        return;
    };
    let want: BTreeSet<String> = (0..QUEUED).map(|i| format!("queued {i}")).collect();
    assert!(!retransmitted, "retry_times 0 never retransmits CONNECT");
    assert_eq!(received, want, "every queued QoS 1 message arrives");
}

/// Why the default is `retry_times` 0: with one retransmission, the second CONNECT makes
/// mosquitto close the connection and discard the session, and every queued message is lost.
/// If this starts failing, the broker has stopped discarding sessions on a second CONNECT.
#[test]
fn a_retransmitted_connect_loses_the_queued_messages_on_mosquitto() {
    let Some((received, retransmitted)) = queued_messages_after_a_held_connack(1) else {
        return;
    };
    assert!(retransmitted, "the module retransmitted CONNECT");
    assert!(
        received.is_empty(),
        "mosquitto kept the session this time: {received:?}"
    );
}
