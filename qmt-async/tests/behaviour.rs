//! Under tokio against qmt-sim on a real pty with its embedded broker: a dropped publish future
//! leaves the core consistent and its outcome consumed; six clients at once; recovery after the
//! broker drops the connection; a new client on the index of a dropped one the module still has
//! open (and receiving messages for) connects.

mod support;

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use qmt_async::{Config, Event, Qos};
use qmt_client::RecoveryEvent;
use qmt_proto::params::ClientIdx;
use qmt_sim::{Fault, Sim, SimConfig};
use support::{T, expect_event, expect_message, fast_recovery, modem, opts};
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_pending_publish_leaves_the_core_consistent_and_its_result_consumed() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let (modem, _runner) = modem(&sim, Config::default()).await;
    let client = modem
        .client(2, opts("qmt-async-cancel").build().unwrap())
        .unwrap();
    timeout(T, client.connect()).await.unwrap().unwrap();
    timeout(
        T,
        client.subscribe(&[("qmt/async/cancel", Qos::AtLeastOnce)]),
    )
    .await
    .unwrap()
    .unwrap();

    // Polled once (submitted: the module has not answered yet), then dropped.
    let mut fut = Box::pin(client.publish("qmt/async/cancel", "dropped", Qos::AtLeastOnce, false));
    let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
    assert!(first.is_pending());
    assert_eq!(modem.pending(), 1);
    drop(fut);

    // The request went on: its message is published and comes back.
    let m = expect_message(&client, "the dropped publish's message").await;
    assert_eq!(m.payload_str(), Some("dropped"));
    // Its outcome was consumed by the runner, not left behind.
    timeout(T, async {
        while modem.discarded() != 1 || modem.pending() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    // The core is consistent: the next publish (its packet id free again) works.
    timeout(
        T,
        client.publish("qmt/async/cancel", "after", Qos::AtLeastOnce, false),
    )
    .await
    .unwrap()
    .unwrap();
    let m = expect_message(&client, "the next publish's message").await;
    assert_eq!(m.payload_str(), Some("after"));
    assert_eq!(modem.discarded(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_clients_at_once() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let (modem, _runner) = modem(&sim, Config::default()).await;
    let mut tasks = Vec::new();
    for i in 0..6u8 {
        let client = modem
            .client(i, opts(&format!("qmt-async-six-{i}")).build().unwrap())
            .unwrap();
        tasks.push(tokio::spawn(async move {
            let topic = format!("qmt/async/six/{i}");
            timeout(T, client.connect()).await.unwrap().unwrap();
            timeout(T, client.subscribe(&[(topic.as_str(), Qos::AtLeastOnce)]))
                .await
                .unwrap()
                .unwrap();
            for n in 0..3 {
                let payload = format!("{i}:{n}");
                timeout(T, client.publish(&topic, &payload, Qos::AtLeastOnce, false))
                    .await
                    .unwrap()
                    .unwrap();
                let m = expect_message(&client, "own message").await;
                assert_eq!(
                    (m.topic(), m.payload_str()),
                    (topic.as_str(), Some(payload.as_str()))
                );
            }
            i
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap());
    }
    assert_eq!(done, [0, 1, 2, 3, 4, 5]);
    assert_eq!(modem.pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_close_is_recovered_and_resubscribed() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let config = Config {
        recovery: fast_recovery(),
        ..Config::default()
    };
    let (modem, _runner) = modem(&sim, config).await;
    let client = modem
        .client(1, opts("qmt-async-rec").build().unwrap())
        .unwrap();
    timeout(T, client.connect()).await.unwrap().unwrap();
    timeout(T, client.subscribe(&[("qmt/async/rec", Qos::AtLeastOnce)]))
        .await
        .unwrap()
        .unwrap();

    sim.inject(Fault::BrokerClose(Some(ClientIdx::new(1).unwrap())))
        .unwrap();
    expect_event(&client, "link lost", |e| {
        matches!(e, Event::LinkLost { .. })
    })
    .await;
    let ev = expect_event(&client, "restored", |e| {
        matches!(
            e,
            Event::Recovery {
                event: RecoveryEvent::Restored { .. },
                ..
            }
        )
    })
    .await;
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
    // Re-subscribed: its own message comes back over the new connection.
    timeout(
        T,
        client.publish("qmt/async/rec", "after recovery", Qos::AtLeastOnce, false),
    )
    .await
    .unwrap()
    .unwrap();
    let m = expect_message(&client, "message after recovery").await;
    assert_eq!(m.payload_str(), Some("after recovery"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_connects_on_an_index_whose_dropped_client_the_module_still_has_open() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let (modem, _runner) = modem(&sim, Config::default()).await;
    let first = modem
        .client(4, opts("qmt-async-first").build().unwrap())
        .unwrap();
    timeout(T, first.connect()).await.unwrap().unwrap();
    timeout(
        T,
        first.subscribe(&[("qmt/async/orphan", Qos::AtLeastOnce)]),
    )
    .await
    .unwrap()
    .unwrap();
    // The last handle dropped while connected: the module-side client stays open, connected and
    // subscribed.
    drop(first);
    // Messages for the dropped client arrive from the module (another client publishes them).
    let other = modem
        .client(5, opts("qmt-async-other").build().unwrap())
        .unwrap();
    timeout(T, other.connect()).await.unwrap().unwrap();
    for i in 0..3 {
        timeout(
            T,
            other.publish(
                "qmt/async/orphan",
                &format!("orphan {i}"),
                Qos::AtLeastOnce,
                false,
            ),
        )
        .await
        .unwrap()
        .unwrap();
    }
    let second = modem
        .client(4, opts("qmt-async-second").build().unwrap())
        .unwrap();
    timeout(T, second.connect()).await.unwrap().unwrap();
    assert!(second.is_open());
    timeout(
        T,
        second.subscribe(&[("qmt/async/again", Qos::AtLeastOnce)]),
    )
    .await
    .unwrap()
    .unwrap();
    timeout(
        T,
        second.publish("qmt/async/again", "second", Qos::AtLeastOnce, false),
    )
    .await
    .unwrap()
    .unwrap();
    let m = expect_message(&second, "the second client's message").await;
    assert_eq!(m.payload_str(), Some("second"));
}
