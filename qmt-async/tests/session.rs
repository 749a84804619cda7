//! A whole session through the async driver under tokio, against qmt-sim on a real pty with its
//! embedded broker: start-up, connect, subscribe, publish at QoS 0/1/2 and receive each back,
//! unsubscribe, disconnect, close; and what is refused before anything is written.

mod support;

use qmt_async::{ClientError, Config, Qos};
use qmt_client::ReceivedQos;
use qmt_proto::codes::GrantedQos;
use qmt_sim::{Sim, SimConfig};
use support::{T, expect_message, modem, opts};
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_subscribe_publish_each_qos_receive_disconnect() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let (modem, runner) = modem(&sim, Config::default()).await;
    let client = modem
        .client(0, opts("qmt-async-session").build().unwrap())
        .unwrap();
    assert!(!client.is_open());
    timeout(T, client.connect()).await.unwrap().unwrap();
    assert!(client.is_open());

    let granted = timeout(
        T,
        client.subscribe(&[
            ("qmt/async/a", Qos::ExactlyOnce),
            ("qmt/async/b", Qos::AtLeastOnce),
        ]),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(granted, [GrantedQos::ExactlyOnce, GrantedQos::AtLeastOnce]);

    for (n, qos) in [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let payload = format!("hello {n}");
        timeout(T, client.publish("qmt/async/a", &payload, qos, false))
            .await
            .unwrap()
            .unwrap();
        let m = expect_message(&client, "own message back").await;
        assert_eq!(m.topic(), "qmt/async/a");
        assert_eq!(m.payload_str(), Some(payload.as_str()));
        if qos != Qos::AtMostOnce {
            assert_eq!(m.qos, ReceivedQos::AtLeastOnce);
            assert_ne!(m.msgid.get(), 0);
        }
    }

    // After unsubscribing from a, only b's message arrives.
    timeout(T, client.unsubscribe(&["qmt/async/a"]))
        .await
        .unwrap()
        .unwrap();
    client
        .publish("qmt/async/a", "gone", Qos::AtLeastOnce, false)
        .await
        .unwrap();
    client
        .publish("qmt/async/b", "kept", Qos::AtLeastOnce, false)
        .await
        .unwrap();
    let m = expect_message(&client, "b's message").await;
    assert_eq!((m.topic(), m.payload_str()), ("qmt/async/b", Some("kept")));

    timeout(T, client.disconnect()).await.unwrap().unwrap();
    assert!(!client.is_open());
    assert_eq!(
        client
            .publish("qmt/async/b", "x", Qos::AtLeastOnce, false)
            .await,
        Err(ClientError::NotConnected)
    );
    timeout(T, client.close()).await.unwrap().unwrap();
    assert_eq!(modem.pending(), 0);
    assert!(!runner.is_finished());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_back_at_once_and_secrets_stay_out_of_debug() {
    let sim = Sim::start(SimConfig::default()).unwrap();
    let (modem, _runner) = modem(&sim, Config::default()).await;
    let client = modem
        .client(
            1,
            opts("qmt-async-secret")
                .credentials("user", "hunter2")
                .build()
                .unwrap(),
        )
        .unwrap();
    let shown = format!("{client:?} {modem:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    // Not connected: refused by the core before anything is written.
    assert_eq!(
        client.subscribe(&[("t", Qos::AtLeastOnce)]).await,
        Err(ClientError::NotConnected)
    );
    timeout(T, client.connect()).await.unwrap().unwrap();
    let big = vec![b'x'; 1501];
    assert_eq!(
        client
            .publish("qmt/big", &big, Qos::AtLeastOnce, false)
            .await,
        Err(ClientError::PayloadTooLarge {
            len: 1501,
            max: 1500
        })
    );
    // Six filters: the module takes at most five per AT+QMTSUB.
    let six = [("qmt/f", Qos::AtLeastOnce); 6];
    let e = client.subscribe(&six).await.unwrap_err();
    assert!(matches!(e, ClientError::Invalid(_)), "{e:?}");
    // A second client on the same index is refused while the first lives.
    assert!(matches!(
        modem.client(1, opts("other").build().unwrap()),
        Err(ClientError::ClientInUse { client_idx }) if client_idx.get() == 1
    ));
    // The client still works.
    timeout(
        T,
        client.publish("qmt/big", &big[..1500], Qos::AtLeastOnce, false),
    )
    .await
    .unwrap()
    .unwrap();
    // Its last handle dropped, the index is free again (the module-side client is left as it
    // is, as with the std driver's `remove_client`).
    drop(client);
    let again = modem
        .client(1, opts("qmt-async-again").build().unwrap())
        .unwrap();
    // The module still has client 1 open: the connect closes it first (`+QMTOPEN: 1,2`, then
    // `AT+QMTCLOSE`) and goes on.
    timeout(T, again.connect()).await.unwrap().unwrap();
    assert!(again.is_open());
    let status = timeout(T, modem.status()).await.unwrap().unwrap();
    assert!(format!("{status:?}").len() > 10);
}
