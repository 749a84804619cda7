//! A whole session through `Modem` and `Client` against qmt-sim on a real pty and a real broker.

mod support;

use qmt_client::ReceivedQos;
use qmt_client::{ClientError, Event, Qos};
use qmt_proto::codes::GrantedQos;
use rumqttc::QoS;
use support::{Peer, T, expect_message, modem, opts, sim};

#[test]
fn connect_subscribe_publish_receive_unsubscribe_disconnect_close() {
    let sim = sim();
    let modem = modem(&sim);
    assert!(modem.startup().closed_stale.is_empty());
    let (client, conn) = modem
        .client(0, opts("qmt-client-session").build().unwrap())
        .unwrap();
    client.connect().unwrap();
    assert!(client.is_open());

    let granted = client
        .subscribe(&[
            ("qmt/session/a", Qos::ExactlyOnce),
            ("qmt/session/b", Qos::AtLeastOnce),
        ])
        .unwrap();
    assert_eq!(granted, [GrantedQos::ExactlyOnce, GrantedQos::AtLeastOnce]);

    for (n, qos) in [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let payload = format!("hello {n}");
        client
            .publish("qmt/session/a", &payload, qos, false)
            .unwrap();
        let m = expect_message(&conn, "own message back");
        assert_eq!(m.topic(), "qmt/session/a");
        assert_eq!(m.payload_str(), Some(payload.as_str()));
        // rumqttd delivers at the subscription's QoS (it does not downgrade to the publish's),
        // so only QoS 1/2 publishes have a known delivery QoS here.
        if qos != Qos::AtMostOnce {
            assert_eq!(m.qos, ReceivedQos::AtLeastOnce);
            assert_ne!(m.msgid.get(), 0);
        }
    }

    // After unsubscribing from a, a message on a is not delivered: the next one is b's.
    client.unsubscribe(&["qmt/session/a"]).unwrap();
    client
        .publish("qmt/session/a", "gone", Qos::AtLeastOnce, false)
        .unwrap();
    client
        .publish("qmt/session/b", "kept", Qos::AtLeastOnce, false)
        .unwrap();
    let m = expect_message(&conn, "b's message");
    assert_eq!(
        (m.topic(), m.payload_str()),
        ("qmt/session/b", Some("kept"))
    );

    client.disconnect().unwrap();
    assert!(!client.is_open());
    assert_eq!(
        client.publish("qmt/session/b", "x", Qos::AtLeastOnce, false),
        Err(ClientError::NotConnected)
    );
    client.close().unwrap();

    // Connect again on the same index.
    client.connect().unwrap();
    client.close().unwrap();
    assert!(!client.is_open());
}

#[test]
fn oversized_payload_is_refused_before_anything_is_written() {
    let sim = sim();
    let modem = modem(&sim);
    let (client, _conn) = modem
        .client(1, opts("qmt-client-big").build().unwrap())
        .unwrap();
    client.connect().unwrap();
    let big = vec![b'x'; 1501];
    let e = client
        .publish("qmt/big", &big, Qos::AtLeastOnce, false)
        .unwrap_err();
    assert_eq!(
        e,
        ClientError::PayloadTooLarge {
            len: 1501,
            max: 1500
        }
    );
    // The client still works.
    client
        .publish("qmt/big", &big[..1500], Qos::AtLeastOnce, false)
        .unwrap();
    // A second Client on the same index is refused while the first lives.
    let again = modem.client(1, opts("other").build().unwrap());
    // Secrets stay out of Debug output and errors.
    let (secret, _c) = modem
        .client(
            5,
            opts("qmt-secret")
                .credentials("user", "hunter2")
                .build()
                .unwrap(),
        )
        .unwrap();
    let shown = format!("{secret:?} {:?}", secret.options());
    assert!(!shown.contains("hunter2"), "{shown}");
    let e = secret.subscribe(&[("t", Qos::AtLeastOnce)]).unwrap_err();
    assert_eq!(e, ClientError::NotConnected);
    assert!(matches!(
        again,
        Err(ClientError::ClientInUse { client_idx }) if client_idx.get() == 1
    ));
}

#[test]
fn non_blocking_publish_handles_resolve_by_msgid() {
    let sim = sim();
    let modem = modem(&sim);
    let (client, conn) = modem
        .client(2, opts("qmt-client-handles").build().unwrap())
        .unwrap();
    client.connect_request().unwrap().wait().unwrap();
    let sub = client
        .subscribe_request(&[("qmt/handles", Qos::AtLeastOnce)])
        .unwrap();
    assert!(sub.waits_for().contains("AT+QMTSUB"), "{}", sub.waits_for());
    assert_eq!(sub.wait().unwrap(), [GrantedQos::AtLeastOnce]);

    let handles: Vec<_> = (0..8)
        .map(|i| {
            client
                .publish_request("qmt/handles", format!("m{i}"), Qos::AtLeastOnce, false)
                .unwrap()
        })
        .collect();
    // Each handle names its own msgid.
    let mut names: Vec<_> = handles.iter().map(|h| h.waits_for().to_owned()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 8);
    for mut h in handles {
        match h.wait_timeout(T) {
            Some(r) => r.unwrap(),
            None => panic!("{} not resolved within {T:?}", h.waits_for()),
        }
    }
    let mut got: Vec<String> = (0..8)
        .map(|_| {
            expect_message(&conn, "published message")
                .payload_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(got, want);

    // An independent client sees what we publish.
    let mut peer = Peer::connect(sim.broker_addr(), "qmt-client-handles-peer");
    peer.subscribe("qmt/handles/peer", QoS::AtLeastOnce);
    let h = client
        .publish_request("qmt/handles/peer", "to peer", Qos::ExactlyOnce, false)
        .unwrap();
    h.wait().unwrap();
    let p = peer.expect_publish(T);
    assert_eq!(&p.payload[..], b"to peer");
    drop(conn);
    // Events keep flowing to nobody without harm.
    client
        .publish("qmt/handles", "unheard", Qos::AtLeastOnce, false)
        .unwrap();
    let _ = Event::ModuleRestarted;
}
