//! Bring-up on (`NetworkConfig::default()`, the sim's default network: SIM ready, registered,
//! context 1 active) under tokio: the network takes context 1 away mid-session (`+QIURC:
//! "pdpdeact",1`); the client hears the ladder's rung, the loss, the context back up and its
//! restoration, and no QoS 1 message acknowledged before, during or after the outage is lost.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "../../qmt-sim/tests/support/peer.rs"]
#[allow(dead_code, clippy::unwrap_used)]
mod peer;

use std::collections::BTreeSet;
use std::time::Duration;

use peer::Peer;
use qmt_async::{Config, Event, Qos};
use qmt_client::sansio::{CoreConfig, NetworkConfig, Rung, Stage};
use qmt_client::{BackoffConfig, RecoveryEvent, RecoveryPolicy};
use qmt_sim::{Fault, Sim, SimConfig};
use rumqttc::QoS;
use support::{T, TClient, expect_event, expect_message, fast_recovery, modem, opts};
use tokio::task::block_in_place;
use tokio::time::timeout;

fn restored(e: &Event) -> bool {
    matches!(
        e,
        Event::Recovery {
            event: RecoveryEvent::Restored { .. },
            ..
        }
    )
}

/// The payloads of messages until `want` are all in; a duplicate or a stranger fails.
async fn collect(client: &TClient, want: &BTreeSet<String>, got: &mut BTreeSet<String>) {
    while got != want {
        let m = expect_message(client, "a message published during the outage").await;
        let text = m.payload_str().unwrap().to_owned();
        assert!(want.contains(&text), "unexpected {text:?}");
        assert!(got.insert(text.clone()), "{text:?} twice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdpdeact_mid_session_is_repaired_and_no_qos1_message_is_lost() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let config = Config {
        core: CoreConfig {
            network: Some(NetworkConfig::default()),
            ..CoreConfig::default()
        },
        // A first delay long enough for the peer to publish during the outage.
        recovery: RecoveryPolicy {
            backoff: BackoffConfig {
                initial: Duration::from_secs(2),
                jitter: 0.0,
                ..BackoffConfig::default()
            },
            ..fast_recovery()
        },
        ..Config::default()
    };
    let (modem, _runner) = modem(&sim, config).await;
    // A persistent session: the broker keeps what arrives while the client is away.
    let client = modem
        .client(
            2,
            opts("qmt-async-pdp").clean_session(false).build().unwrap(),
        )
        .unwrap();
    timeout(T, client.connect()).await.unwrap().unwrap();
    timeout(T, client.subscribe(&[("qmt/async/pdp", Qos::AtLeastOnce)]))
        .await
        .unwrap()
        .unwrap();
    // The rumqttc peer blocks its caller: off the runtime's scheduling (the runner goes on).
    let mut peer = block_in_place(|| {
        let mut peer = Peer::connect(sim.broker_addr(), "qmt-async-pdp-peer");
        peer.subscribe("qmt/async/pdp/up", QoS::AtLeastOnce);
        peer.publish("qmt/async/pdp", QoS::AtLeastOnce, b"before");
        peer
    });
    let m = expect_message(&client, "before").await;
    assert_eq!(m.payload_str(), Some("before"));
    timeout(
        T,
        client.publish("qmt/async/pdp/up", "mine before", Qos::AtLeastOnce, false),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        &block_in_place(|| peer.expect_publish(T)).payload[..],
        b"mine before"
    );

    sim.inject(Fault::PdpDeact { cid: 1 }).unwrap();
    // The ladder's first rung and the client's loss, then the peer publishes while it is down.
    let mut order: Vec<Event> = Vec::new();
    let (mut rung, mut lost) = (false, false);
    while !(rung && lost) {
        let e = expect_event(&client, "the rung and the loss", |e| {
            matches!(e, Event::Network(_) | Event::LinkLost { .. })
        })
        .await;
        match &e {
            Event::Network(Stage::Repair(Rung::PdpReset)) => rung = true,
            Event::LinkLost { .. } => lost = true,
            _ => {}
        }
        order.push(e);
    }
    assert!(!client.is_open());
    let sent: BTreeSet<String> = (0..10).map(|i| format!("outage {i}")).collect();
    block_in_place(|| {
        for p in &sent {
            peer.publish("qmt/async/pdp", QoS::AtLeastOnce, p.as_bytes());
        }
    });
    let mut got = BTreeSet::new();
    loop {
        let e = expect_event(&client, "up, restored, the messages", |e| {
            matches!(e, Event::Network(_) | Event::Message(_)) || restored(e)
        })
        .await;
        if let Event::Message(m) = &e {
            let text = m.payload_str().unwrap().to_owned();
            assert!(sent.contains(&text), "unexpected {text:?}");
            assert!(got.insert(text.clone()), "{text:?} twice");
            continue;
        }
        let done = restored(&e);
        order.push(e);
        if done {
            break;
        }
    }
    collect(&client, &sent, &mut got).await;
    let ladder: Vec<&Event> = order
        .iter()
        .filter(|e| matches!(e, Event::Network(_)) || restored(e))
        .collect();
    assert!(
        matches!(
            ladder.as_slice(),
            [
                Event::Network(Stage::Repair(Rung::PdpReset)),
                Event::Network(Stage::Up { ip: Some(_) }),
                Event::Recovery { .. },
            ]
        ),
        "{order:#?}"
    );
    assert!(client.is_open());

    // Both ways work as before.
    timeout(
        T,
        client.publish("qmt/async/pdp/up", "mine after", Qos::AtLeastOnce, false),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        &block_in_place(|| peer.expect_publish(T)).payload[..],
        b"mine after"
    );
    block_in_place(|| peer.publish("qmt/async/pdp", QoS::AtLeastOnce, b"after"));
    let m = expect_message(&client, "after").await;
    assert_eq!(m.payload_str(), Some("after"));
}
