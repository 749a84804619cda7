//! Recovery with the reconnect policy on: after the broker closes the connection, after it stalls
//! (keep-alive fails), and after a module power cycle — reconnected, re-subscribed, and with a
//! persistent session no QoS 1 message published during the outage is lost.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use qmt_client::{BackoffConfig, LossCause, RecoveryEvent, RecoveryPolicy};
use qmt_client::{Event, Modem, ModemConfig, Qos};
use qmt_proto::codes::StatCode;
use qmt_proto::params::ClientIdx;
use qmt_sim::Fault;
use rumqttc::QoS;
use support::{Peer, expect_event, expect_message, modem_with_recovery, opts, sim};

fn restored(e: &Event) -> bool {
    matches!(
        e,
        Event::Recovery {
            event: RecoveryEvent::Restored { .. },
            ..
        }
    )
}

#[test]
fn broker_close_is_recovered_and_resubscribed() {
    let sim = sim();
    let modem = modem_with_recovery(&sim);
    let (client, conn) = modem
        .client(1, opts("qmt-rec-close").build().unwrap())
        .unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/rec/close", Qos::AtLeastOnce)])
        .unwrap();

    sim.inject(Fault::BrokerClose(Some(ClientIdx::new(1).unwrap())))
        .unwrap();
    let lost = expect_event(&conn, "link lost", |e| matches!(e, Event::LinkLost { .. }));
    assert!(
        matches!(
            lost,
            Event::LinkLost {
                code: StatCode::ClosedByPeer,
                ..
            }
        ),
        "{lost:?}"
    );
    let ev = expect_event(&conn, "restored", restored);
    assert!(
        matches!(
            ev,
            Event::Recovery {
                event: RecoveryEvent::Restored {
                    resubscribed: 1,
                    ..
                },
                ..
            }
        ),
        "{ev:?}"
    );
    // Re-subscribed: a message from another client arrives.
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-rec-close-peer");
    peer.publish("qmt/rec/close", QoS::AtLeastOnce, b"after recovery");
    assert_eq!(
        expect_message(&conn, "message after recovery").payload(),
        b"after recovery"
    );
}

#[test]
fn broker_stall_fails_keep_alive_and_is_recovered() {
    let sim = sim();
    let modem = modem_with_recovery(&sim);
    let options = opts("qmt-rec-stall")
        .keep_alive(1)
        .timeout(1, 1, false)
        .build()
        .unwrap();
    let (client, conn) = modem.client(0, options).unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/rec/stall", Qos::AtLeastOnce)])
        .unwrap();

    sim.inject(Fault::BrokerStall(None)).unwrap();
    // +QMTPING, then +QMTSTAT 2 (spec §9): both typed, with the loss reported to recovery.
    expect_event(&conn, "keep-alive failure", |e| {
        matches!(e, Event::PingTimeout { .. })
            || matches!(
                e,
                Event::LinkLost {
                    code: StatCode::PingFailed,
                    ..
                }
            )
    });
    sim.inject(Fault::BrokerResume(None)).unwrap();
    expect_event(&conn, "restored", restored);
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-rec-stall-peer");
    peer.publish("qmt/rec/stall", QoS::AtLeastOnce, b"alive");
    assert_eq!(
        expect_message(&conn, "message after recovery").payload(),
        b"alive"
    );
}

#[test]
fn power_cycle_with_a_persistent_session_loses_no_qos1_message() {
    let sim = sim();
    // A longer first delay, so that the peer's messages are published during the outage.
    let modem = Modem::open(
        sim.pty_path(),
        ModemConfig {
            recovery: RecoveryPolicy {
                backoff: BackoffConfig {
                    initial: Duration::from_secs(2),
                    jitter: 0.0,
                    ..BackoffConfig::default()
                },
                ..support::fast_recovery()
            },
            ..ModemConfig::default()
        },
    )
    .unwrap();
    let options = opts("qmt-rec-power").clean_session(false).build().unwrap();
    let (client, conn) = modem.client(2, options).unwrap();
    client.connect().unwrap();
    client
        .subscribe(&[("qmt/rec/power", Qos::AtLeastOnce)])
        .unwrap();
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-rec-power-peer");
    peer.publish("qmt/rec/power", QoS::AtLeastOnce, b"before");
    assert_eq!(expect_message(&conn, "before").payload(), b"before");

    sim.inject(Fault::PowerCycle).unwrap();
    expect_event(&conn, "module restarted", |e| {
        matches!(e, Event::ModuleRestarted)
    });
    let lost = expect_event(&conn, "recovery reports the loss", |e| {
        matches!(
            e,
            Event::Recovery {
                event: RecoveryEvent::Lost { .. },
                ..
            }
        )
    });
    assert!(
        matches!(
            lost,
            Event::Recovery {
                event: RecoveryEvent::Lost {
                    cause: LossCause::ModuleRestarted,
                    ..
                },
                ..
            }
        ),
        "{lost:?}"
    );
    // During the outage (recovery waits 2 s before its first attempt).
    let sent: BTreeSet<String> = (0..10).map(|i| format!("outage {i}")).collect();
    for p in &sent {
        peer.publish("qmt/rec/power", QoS::AtLeastOnce, p.as_bytes());
    }
    // Messages the broker kept come right after the CONNACK, before recovery is done.
    let mut got = BTreeSet::new();
    let mut is_restored = false;
    while !is_restored || got != sent {
        match expect_event(&conn, "restored and every message", |e| {
            restored(e) || matches!(e, Event::Message(_))
        }) {
            Event::Message(m) => {
                let text = m.payload_str().unwrap().to_owned();
                assert!(sent.contains(&text), "unexpected {text:?}");
                got.insert(text);
            }
            _ => is_restored = true,
        }
    }
    while got != sent {
        let m = expect_message(&conn, "a message published during the outage");
        let text = m.payload_str().unwrap().to_owned();
        assert!(sent.contains(&text), "unexpected {text:?}");
        got.insert(text);
    }
    // And the client works as before.
    client
        .publish("qmt/rec/power", "mine", Qos::ExactlyOnce, false)
        .unwrap();
    assert_eq!(expect_message(&conn, "own message").payload(), b"mine");
}
